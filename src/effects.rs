//! What a stored push changes here (DESIGN.md §3.1, after the ack): cached entitlements of the
//! linked customer, a pending receipt confirmation waiting for this very transaction, the
//! account link, and the subscription state later features read.
//!
//! Effects run after the push is stored and acknowledged; `pushes.effects_applied_at` records
//! that they ran, and a sweep at start applies whatever a crash left between the two. Every
//! effect is idempotent, so running one twice is harmless.

use std::sync::Arc;

use crate::{
    confirm::Receipts,
    entitlements::Entitlements,
    mapping::ProductMap,
    roku::events::{PushEvent, TransactionType, parse_event},
    store::{Store, StoreError, Subscription, now_ms},
};

/// How many stored pushes one sweep looks at.
const SWEEP_BATCH: i64 = 500;

pub struct Effects {
    store: Store,
    entitlements: Arc<Entitlements>,
    receipts: Arc<Receipts>,
    mapping: Arc<ProductMap>,
}

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

impl Effects {
    pub fn new(
        store: Store,
        entitlements: Arc<Entitlements>,
        receipts: Arc<Receipts>,
        mapping: Arc<ProductMap>,
    ) -> Self {
        Self {
            store,
            entitlements,
            receipts,
            mapping,
        }
    }

    /// Applies one stored push and records that it did.
    pub async fn apply(&self, push_id: i64, event: Option<&PushEvent>) -> Result<(), StoreError> {
        if let Some(event) = event {
            self.apply_event(event).await?;
        }
        self.store.mark_effects_applied(push_id).await
    }

    async fn apply_event(&self, event: &PushEvent) -> Result<(), StoreError> {
        let Some(rcid) = event.customer_id.as_deref() else {
            return Ok(());
        };
        // The customer this Roku account is linked to, or learn the link from a receipt the
        // bridge already holds for this transaction.
        let mut customer = self.store.account(rcid).await?.map(|a| a.customer_id);
        if let Some(tid) = event.transaction_id.as_deref() {
            if customer.is_none()
                && let Some(receipt) = self.store.receipt(tid).await?
            {
                self.store
                    .link_account(rcid, &receipt.customer_id, None)
                    .await?;
                customer = Some(receipt.customer_id);
            }
            if is_purchase(&event.transaction_type) {
                self.receipts.wake(tid);
            }
        }
        if let Some(customer) = &customer {
            // The event's own product, and every listed product: a bundle or a plan change
            // may touch offers other than the one named.
            let mut offers: Vec<String> = self.mapping.products().map(|p| p.offer_id).collect();
            if let Some(offer) = event
                .product_code
                .as_deref()
                .and_then(|c| self.mapping.offer_for(c).ok())
            {
                offers.push(offer);
            }
            for offer in offers {
                self.entitlements.invalidate(customer, &offer).await;
            }
        }
        if let (Some(state), Some(product)) = (
            state_after(&event.transaction_type),
            event.product_code.as_deref(),
        ) {
            let cancelled = state == "cancelled";
            self.store
                .record_subscription(&Subscription {
                    roku_customer_id: rcid.to_string(),
                    product_code: product.to_string(),
                    state: state.to_string(),
                    expires_at: event.expiration_date,
                    cancelled_at: cancelled.then(|| event.event_date.unwrap_or_else(now_ms)),
                    last_transaction_id: event.transaction_id.clone(),
                    // Replays arrive out of order: events are ordered by when they happened.
                    last_event_at: event.event_date.unwrap_or_else(now_ms),
                })
                .await?;
        }
        Ok(())
    }

    /// Applies the effects of pushes stored but not yet applied (a crash after the ack).
    pub async fn sweep(&self) -> Result<usize, StoreError> {
        let pending = self.store.pushes_without_effects(SWEEP_BATCH).await?;
        let n = pending.len();
        for push in pending {
            let event = push
                .event_json
                .as_deref()
                .and_then(|j| serde_json::from_str(j).ok())
                .and_then(|v| parse_event(&v).ok());
            self.apply(push.id, event.as_ref()).await?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_type_has_a_deliberate_state() {
        let states: Vec<_> = TransactionType::ALL.iter().map(state_after).collect();
        assert_eq!(
            states.iter().filter(|s| s.is_none()).count(),
            1,
            "only Credit leaves the state alone"
        );
        assert_eq!(state_after(&TransactionType::GraceInitiated), Some("grace"));
        assert_eq!(state_after(&TransactionType::Refund), Some("refunded"));
        assert_eq!(
            state_after(&TransactionType::Unknown("Reversal".into())),
            None
        );
    }
}
