//! What a customer holds: the subscriptions of every Roku customer linked to them, as the
//! pushes left them, and the receipts their channels posted.

use crate::{
    domain::catalog::{self, GetPurchases},
    domain::{receipt::ReceiptState, subscription::Subscription, time::EpochMs},
    reload::LiveConfig,
    store::{Store, StoreError},
};

pub struct Holdings {
    store: Store,
    live: LiveConfig,
}

impl Holdings {
    pub fn new(store: Store, live: LiveConfig) -> Self {
        Self { store, live }
    }

    pub async fn subscriptions(&self, customer_id: &str) -> Result<Vec<Subscription>, StoreError> {
        let mut all = Vec::new();
        for rcid in self.store.roku_customers_of(customer_id).await? {
            all.extend(self.store.subscriptions_of(&rcid).await?);
        }
        Ok(all)
    }

    /// GetPurchases over the live catalog: the subscription rows (every linked Roku account)
    /// and the receipts, rendered.
    pub async fn purchases(
        &self,
        customer_id: &str,
        include_expired: bool,
    ) -> Result<GetPurchases, StoreError> {
        let subscriptions: Vec<catalog::SubscriptionFact> = self
            .subscriptions(customer_id)
            .await?
            .into_iter()
            .map(|s| catalog::SubscriptionFact {
                roku_customer_id: s.roku_customer_id,
                sku: s.product_code,
                state: s.state,
                expires_at_ms: s.expires_at.map(|t| t.0),
                last_transaction_id: s.last_transaction_id,
                last_event_at_ms: s.last_event_at.0,
            })
            .collect();
        let mut receipts: Vec<catalog::ReceiptFact> = Vec::new();
        for (r, claimed_at) in self.store.receipts_of_customer(customer_id).await? {
            // The forwarded order names the SKU; a bundle's parts share it and Roku's purchase
            // id, so they fold into one purchase.
            let Ok(forward) = serde_json::from_str::<serde_json::Value>(&r.forward_json) else {
                continue;
            };
            let Some(sku) = forward["order"]["code"].as_str() else {
                continue;
            };
            let purchase_id = r.key.purchase.to_string();
            if receipts
                .iter()
                .any(|x| x.purchase_id == purchase_id && x.sku == sku)
            {
                continue;
            }
            receipts.push(catalog::ReceiptFact {
                purchase_id,
                sku: sku.to_owned(),
                roku_customer_id: r.roku_customer_id,
                rejected: r.state == ReceiptState::Rejected,
                received_at_ms: claimed_at.0,
            });
        }
        Ok(catalog::get_purchases(
            &self.live.load().catalog,
            &subscriptions,
            &receipts,
            include_expired,
            EpochMs::now().0,
        ))
    }
}
