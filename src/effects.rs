//! What a push changes (DESIGN.md §3.1).
//!
//! The durable effect, the subscription state per Roku customer and product, is computed here
//! from the event alone ([`subscription_change`]) and written in the same transaction that
//! stores the push, so an acknowledged push has its state recorded even if the process dies a
//! moment later, and ingest costs one commit. What happens after the ack lives in memory —
//! dropping the linked customer's cached entitlements, waking a confirmation waiting on this
//! transaction — plus learning the account link from a receipt of the same transaction. All of
//! it is idempotent, and none of it outlives a restart anyway (the cache starts empty).

use std::sync::Arc;

use crate::{
    catalog::orphaned_addons,
    confirm::Receipts,
    entitlements::Entitlements,
    relay::Relay,
    reload::LiveConfig,
    replicas::invalidate_everywhere,
    roku::{
        events::{PushEvent, TransactionType},
        isu::{email_hash, is_current},
    },
    store::{Store, StoreError, Subscription, now_ms},
};

/// The subscription state a push moves to, or `None` when it does not change the state.
pub fn state_after(kind: &TransactionType) -> Option<&'static str> {
    use TransactionType::*;
    Some(match kind {
        Sale
        | Resubscribe
        | GraceRecovered
        | OnHoldRecovered
        | UpgradeSale
        | DowngradeSale
        | ChargebackReversed
        | CancellationOfferInitiated => "active",
        GraceInitiated => "grace",
        OnHoldInitiated => "on_hold",
        Cancellation | UpgradeCancellation | DowngradeCancellation | CancellationOfferEnded => {
            "cancelled"
        }
        Refund | Chargeback | SecondChargeback => "refunded",
        Credit | Unknown(_) => return None,
    })
}

/// The row a push writes into `subscriptions`, if any. Pure.
pub fn subscription_change(event: &PushEvent) -> Option<Subscription> {
    let rcid = event.customer_id.as_deref()?;
    let product = event.product_code.as_deref()?;
    let state = state_after(&event.transaction_type)?;
    // Replays arrive out of order: events are ordered by when they happened.
    let at = event.event_date.unwrap_or_else(now_ms);
    Some(Subscription {
        roku_customer_id: rcid.to_string(),
        product_code: product.to_string(),
        state: state.to_string(),
        expires_at: event.expiration_date,
        cancelled_at: (state == "cancelled").then_some(at),
        last_transaction_id: event.transaction_id.clone(),
        last_event_at: at,
    })
}

/// The account an Instant Signup sale asks for: Roku collected the customer's details on the
/// device and the customer expects to open the app signed in.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignupAccount {
    pub roku_customer_id: String,
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
}

/// `Some` for a `Sale` made through Instant Signup that carries the customer's email. Pure.
pub fn signup_account(event: &PushEvent) -> Option<SignupAccount> {
    if event.transaction_type != TransactionType::Sale || !event.is_instant_signup() {
        return None;
    }
    let email = event
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| e.contains('@'))?;
    Some(SignupAccount {
        roku_customer_id: event.customer_id.clone()?,
        email: email.to_string(),
        first_name: event.first_name.clone().filter(|n| !n.trim().is_empty()),
        last_name: event.last_name.clone().filter(|n| !n.trim().is_empty()),
        transaction_id: event.transaction_id.clone(),
    })
}

/// Types whose arrival can settle a receipt the bridge is confirming.
fn is_purchase(kind: &TransactionType) -> bool {
    matches!(
        kind,
        TransactionType::Sale
            | TransactionType::UpgradeSale
            | TransactionType::DowngradeSale
            | TransactionType::Resubscribe
    )
}

pub struct Effects {
    store: Store,
    entitlements: Arc<Entitlements>,
    receipts: Arc<Receipts>,
    live: LiveConfig,
    relay: Arc<Relay>,
}

/// Types that can leave an add-on without its base. Plan changes are not among them: the
/// change's other half (the new plan's sale) re-bases the add-on, and Roku sends the two in
/// either order.
fn ends_a_plan(kind: &TransactionType) -> bool {
    use TransactionType::*;
    matches!(
        kind,
        Cancellation | Refund | Chargeback | SecondChargeback | CancellationOfferEnded
    )
}

impl Effects {
    pub fn new(
        store: Store,
        entitlements: Arc<Entitlements>,
        receipts: Arc<Receipts>,
        live: LiveConfig,
        relay: Arc<Relay>,
    ) -> Self {
        Self {
            store,
            entitlements,
            receipts,
            live,
            relay,
        }
    }

    /// Catalog 2.0: add-ons whose every prerequisite base is gone are revoked, recorded as such,
    /// dropped from the cache and reported to the publisher's webhook.
    async fn revoke_orphaned_addons(
        &self,
        event: &PushEvent,
        rcid: &str,
        customer: Option<&str>,
    ) -> Result<(), StoreError> {
        let live = self.live.load_full();
        let catalog = &live.catalog;
        if catalog.is_empty() || !ends_a_plan(&event.transaction_type) {
            return Ok(());
        }
        let now = now_ms();
        let subs = self.store.subscriptions_of(rcid).await?;
        let held: Vec<&str> = subs
            .iter()
            .filter(|s| is_current(&s.state, s.expires_at, now))
            .map(|s| s.product_code.as_str())
            .collect();
        for revoked in orphaned_addons(catalog, &held) {
            tracing::info!(sku = %revoked.sku, product = %revoked.product_id, "add-on revoked: no base left");
            self.store
                .record_subscription(&Subscription {
                    roku_customer_id: rcid.to_string(),
                    product_code: revoked.sku.clone(),
                    state: "revoked".into(),
                    expires_at: None,
                    cancelled_at: Some(now),
                    last_transaction_id: event.transaction_id.clone(),
                    last_event_at: event.event_date.unwrap_or(now),
                })
                .await?;
            if let (Some(customer), Some(product)) =
                (customer, catalog.product(&revoked.product_id))
            {
                invalidate_everywhere(&self.store, &self.entitlements, customer, &product.offers)
                    .await;
            }
            let id = format!(
                "entitlement.revoked:{rcid}:{}:{}",
                revoked.sku,
                event.transaction_id.as_deref().unwrap_or("-")
            );
            let data = serde_json::json!({
                "rokuCustomerId": rcid,
                "customerId": customer,
                "sku": revoked.sku,
                "productId": revoked.product_id,
                "reason": revoked.reason,
                "transactionId": event.transaction_id,
            });
            self.relay
                .emit_event(&id, "entitlement.revoked", data, rcid)
                .await?;
        }
        Ok(())
    }

    /// Runs after the ack of a newly stored push.
    pub async fn after_ack(&self, event: &PushEvent) -> Result<(), StoreError> {
        if let Some(tid) = event.transaction_id.as_deref()
            && is_purchase(&event.transaction_type)
        {
            self.receipts.wake(tid);
        }
        let Some(rcid) = event.customer_id.as_deref() else {
            return Ok(());
        };
        // Any push that names the customer's email feeds Instant Signup eligibility.
        if let Some(email) = event.email.as_deref().filter(|e| e.contains('@')) {
            self.store
                .record_email_hash(&email_hash(email), Some(rcid), None, "push")
                .await?;
        }
        // The customer this Roku account is linked to, or the link learnt from a receipt the
        // bridge already holds for this transaction.
        let mut customer = self.store.account(rcid).await?.map(|a| a.customer_id);
        if customer.is_none()
            && let Some(tid) = event.transaction_id.as_deref()
            && let Some(receipt) = self.store.receipt(tid).await?
        {
            self.store
                .link_account(rcid, &receipt.customer_id, None)
                .await?;
            customer = Some(receipt.customer_id);
        }
        self.revoke_orphaned_addons(event, rcid, customer.as_deref())
            .await?;
        if let Some(customer) = &customer {
            // The event's own product, and every listed product: a bundle or a plan change
            // may touch offers other than the one named.
            let live = self.live.load_full();
            let mut offers: Vec<String> = live.mapping.products().map(|p| p.offer_id).collect();
            if let Some(offer) = event
                .product_code
                .as_deref()
                .and_then(|c| live.mapping.offer_for(c).ok())
            {
                offers.push(offer);
            }
            // A catalog SKU's offers, and on a plan change every catalog offer: the other half
            // of the change names another SKU.
            if let Some(code) = event.product_code.as_deref() {
                if let Some(pairs) = live.catalog.offers_for_sku(code) {
                    offers.extend(pairs.into_iter().map(|(_, offer)| offer));
                }
            }
            if !live.catalog.is_empty() && state_after(&event.transaction_type).is_some() {
                offers.extend(
                    live.catalog
                        .products()
                        .iter()
                        .flat_map(|p| p.offers.iter().cloned()),
                );
            }
            offers.sort();
            offers.dedup();
            invalidate_everywhere(&self.store, &self.entitlements, customer, &offers).await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roku::events::parse_event;

    #[test]
    fn every_documented_type_has_a_deliberate_state() {
        let states: Vec<_> = TransactionType::ALL.iter().map(state_after).collect();
        assert_eq!(
            states.iter().filter(|s| s.is_none()).count(),
            1,
            "only Credit leaves the state alone"
        );
        assert_eq!(state_after(&TransactionType::GraceInitiated), Some("grace"));
        assert_eq!(
            state_after(&TransactionType::OnHoldInitiated),
            Some("on_hold")
        );
        assert_eq!(state_after(&TransactionType::Refund), Some("refunded"));
        assert_eq!(
            state_after(&TransactionType::Unknown("Reversal".into())),
            None
        );
    }

    #[test]
    fn a_cancellation_records_when_it_happened() {
        let event = parse_event(&serde_json::json!({
            "transactionType": "Cancellation", "customerId": "rc1", "productCode": "S1-US",
            "transactionId": "t9", "eventDate": "2022-07-11T19:50:18Z", "expirationDate": "2022-08-11T19:50:16Z"
        }))
        .unwrap();
        let s = subscription_change(&event).unwrap();
        assert_eq!(s.state, "cancelled");
        assert_eq!(s.cancelled_at, Some(1_657_569_018_000));
        assert_eq!(s.last_event_at, 1_657_569_018_000);
        assert_eq!(s.expires_at, Some(1_660_247_416_000));
        let credit = parse_event(&serde_json::json!({"transactionType": "Credit", "customerId": "rc1", "productCode": "S1-US"})).unwrap();
        assert_eq!(subscription_change(&credit), None);
    }

    #[test]
    fn only_an_instant_signup_sale_with_an_email_asks_for_an_account() {
        let event = |v: serde_json::Value| parse_event(&v).unwrap();
        let isu = event(serde_json::json!({
            "transactionType": "Sale", "customerId": "rc1", "transactionId": "t1",
            "purchaseContext": "ISU", "email": " ann@example.com ", "firstName": "Ann", "lastName": ""
        }));
        let account = signup_account(&isu).unwrap();
        assert_eq!(account.roku_customer_id, "rc1");
        assert_eq!(account.email, "ann@example.com");
        assert_eq!(account.first_name.as_deref(), Some("Ann"));
        assert_eq!(
            account.last_name, None,
            "blank names are not sent to the provider"
        );

        for not_asking in [
            serde_json::json!({"transactionType": "Sale", "customerId": "rc1", "email": "a@b.c"}),
            serde_json::json!({"transactionType": "Renewal", "customerId": "rc1", "purchaseContext": "isu", "email": "a@b.c"}),
            serde_json::json!({"transactionType": "Sale", "customerId": "rc1", "purchaseContext": "isu"}),
            serde_json::json!({"transactionType": "Sale", "customerId": "rc1", "purchaseContext": "isu", "email": "not-an-email"}),
            serde_json::json!({"transactionType": "Sale", "purchaseChannel": "isu", "email": "a@b.c"}),
        ] {
            assert_eq!(
                signup_account(&event(not_asking.clone())),
                None,
                "{not_asking}"
            );
        }
    }
}
