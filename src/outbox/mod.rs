//! The outbox: every delivery the bridge owes someone, written durably before it is promised
//! and attempted until it is delivered or its window ends.
//!
//! A delivery is one variant of [`Delivery`], stored as its tagged JSON. Pushes to relay and
//! events for the publisher's webhook are plain HTTP and are delivered here ([`targets`]); the
//! rest (a receipt to forward, an Instant Signup account to create, a push's follow-ups) is the
//! business of the services, which the worker reaches through the [`Handler`] they implement —
//! so this module knows nothing of them, and they can enqueue without a cycle.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::{
    config::EVENTS_TARGET,
    domain::signup::SignupAccount,
    provider::ReceiptForward,
    store::{DeliveryKind, NewDelivery, Store, StoreError, now_ms},
};

pub mod targets;
pub mod worker;

pub use worker::Worker;

/// What one outbox row asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Delivery {
    /// Roku's exact JWS, relayed unchanged to a push target.
    Push { jws: String },
    /// A receipt the provider could not take when it was posted. `key` is the receipt's
    /// stored key (`purchaseId`, or `purchaseId#offerId` for a bundle's part).
    Receipt {
        key: String,
        forward: ReceiptForward,
    },
    /// An Instant Signup account to create (or find) at the provider and link.
    SignupAccount { account: SignupAccount },
    /// One of the bridge's own events, as the exact body that is signed and sent.
    Event { body: String },
    /// What an acknowledged push still has to write, applied idempotently by the pushes
    /// service: the event as Roku sent it (decoded).
    PushFollowUp { event: serde_json::Value },
}

impl Delivery {
    pub fn kind(&self) -> DeliveryKind {
        match self {
            Self::Push { .. } => DeliveryKind::Push,
            Self::Receipt { .. } => DeliveryKind::Receipt,
            Self::SignupAccount { .. } => DeliveryKind::SignupAccount,
            Self::Event { .. } => DeliveryKind::Event,
            Self::PushFollowUp { .. } => DeliveryKind::PushFollowUp,
        }
    }

    /// The row to enqueue for `target`; `dedupe_key` makes a second enqueue of the same thing a
    /// no-op, and items of one `ordering_key` are attempted in order.
    pub fn to(
        &self,
        target: &str,
        dedupe_key: impl Into<String>,
        ordering_key: Option<String>,
    ) -> NewDelivery {
        NewDelivery {
            target: target.to_string(),
            kind: self.kind(),
            payload: serde_json::to_string(self).expect("deliveries serialize"),
            dedupe_key: dedupe_key.into(),
            ordering_key,
        }
    }
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    Delivered,
    Retry {
        after: Option<Duration>,
        error: String,
    },
    /// Retrying cannot help (the target refused the content, or is no longer configured).
    Dead {
        error: String,
    },
}

impl Attempt {
    pub fn store_retry(e: StoreError) -> Self {
        Attempt::Retry {
            after: None,
            error: format!("store: {e}"),
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            Attempt::Delivered => "delivered",
            Attempt::Retry { .. } => "retry",
            Attempt::Dead { .. } => "dead",
        }
    }
}

/// The deliveries that are the services' business (receipts, signups, push follow-ups).
#[async_trait]
pub trait Handler: Send + Sync {
    async fn handle(&self, delivery: &Delivery) -> Attempt;
}

/// Enqueueing: what a use case calls to owe something durably.
pub struct Outbox {
    store: Store,
    wake: Arc<Notify>,
    events_enabled: bool,
}

impl Outbox {
    pub fn new(store: Store, events_enabled: bool) -> Self {
        Self {
            store,
            wake: Arc::new(Notify::new()),
            events_enabled,
        }
    }

    /// Shared with the worker, which sleeps on it between polls.
    pub fn wake_handle(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Something was enqueued: look now rather than at the next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Enqueues one delivery; `false` when the same (target, dedupe key) is already there.
    pub async fn enqueue(&self, delivery: &NewDelivery) -> Result<bool, StoreError> {
        let added = self.store.enqueue(delivery).await?;
        self.wake();
        Ok(added)
    }

    /// Queues `{"id", "type", "createdAt", "data"}` for `relay.events_url`, once per `id`, in
    /// order per Roku customer. Nothing when no events URL is configured.
    pub async fn emit_event(
        &self,
        id: &str,
        event: &str,
        data: serde_json::Value,
        roku_customer_id: &str,
    ) -> Result<(), StoreError> {
        if !self.events_enabled {
            return Ok(());
        }
        let body = serde_json::json!({
            "id": id,
            "type": event,
            "createdAt": now_ms(),
            "data": data,
        });
        let delivery = Delivery::Event {
            body: body.to_string(),
        };
        self.enqueue(&delivery.to(EVENTS_TARGET, id, Some(roku_customer_id.to_string())))
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_carry_their_kind_as_the_tag() {
        let d = Delivery::Push {
            jws: "a.b.c".into(),
        };
        let row = d.to("provider", "k", None);
        assert_eq!(row.kind, DeliveryKind::Push);
        assert_eq!(row.payload, r#"{"type":"push","jws":"a.b.c"}"#);
        assert_eq!(serde_json::from_str::<Delivery>(&row.payload).unwrap(), d);
        let kind: DeliveryKind = "push_follow_up".parse().unwrap();
        assert_eq!(
            Delivery::PushFollowUp {
                event: serde_json::json!({})
            }
            .kind(),
            kind
        );
    }
}
