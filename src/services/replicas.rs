//! Several replicas, one truth: what one replica learns that makes another's cache wrong is
//! announced through PostgreSQL's LISTEN/NOTIFY, the store they already share — no new
//! infrastructure. (Claims, links and the outbox need nothing more: they live in the store,
//! and the outbox hands each item to one worker with `FOR UPDATE SKIP LOCKED`.)
//!
//! Every change of an answer is announced: a push or a revocation drops the offers it touched,
//! a confirmed payment carries its grant (so the device that just paid is told "granted" by
//! whichever replica it asks next, without another provider call), and signing a customer out
//! everywhere drops all of that customer's answers.
//!
//! A notification is best effort: a replica whose listening connection drops may miss some,
//! so on reconnecting it empties its cache rather than serve what it cannot vouch for.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::entitlements::Entitlements;
use crate::{
    provider::Access,
    store::{Dialect, Store, notify},
};

const CHANNEL: &str = "roku_bridge_entitlements";

#[derive(Serialize, Deserialize)]
struct Stale {
    #[serde(rename = "c")]
    customer: String,
    #[serde(rename = "o")]
    offers: Vec<String>,
    /// The new answer for `offers`, when it is known (a confirmed grant); otherwise they are
    /// dropped and asked again.
    #[serde(rename = "g", default, skip_serializing_if = "Option::is_none")]
    granted: Option<Granted>,
    /// Every answer of `customer`, whatever the offer.
    #[serde(rename = "all", default, skip_serializing_if = "std::ops::Not::not")]
    whole_customer: bool,
}

#[derive(Serialize, Deserialize)]
struct Granted {
    #[serde(rename = "e")]
    expires_at: Option<i64>,
}

/// Drops `offers` of `customer` here and, on PostgreSQL, on every other replica.
pub async fn invalidate_everywhere(
    store: &Store,
    entitlements: &Entitlements,
    customer: &str,
    offers: &[String],
) {
    for offer in offers {
        entitlements.invalidate(customer, offer).await;
    }
    if offers.is_empty() {
        return;
    }
    announce(
        store,
        Stale {
            customer: customer.to_string(),
            offers: offers.to_vec(),
            granted: None,
            whole_customer: false,
        },
    )
    .await;
}

/// A confirmed grant of `offer` to `customer`: cached here and, on PostgreSQL, on every other
/// replica, so none keeps answering the "not granted" it cached before the payment.
pub async fn grant_everywhere(
    store: &Store,
    entitlements: &Entitlements,
    customer: &str,
    offer: &str,
    access: Access,
) {
    entitlements.record(customer, offer, access).await;
    announce(
        store,
        Stale {
            customer: customer.to_string(),
            offers: vec![offer.to_string()],
            granted: Some(Granted {
                expires_at: access.expires_at,
            }),
            whole_customer: false,
        },
    )
    .await;
}

/// Drops every answer of `customer` here (when this process has a cache) and on every other
/// replica: after signing a customer out everywhere, what was cached for them is not trusted.
pub async fn forget_customer_everywhere(
    store: &Store,
    entitlements: Option<&Entitlements>,
    customer: &str,
) {
    if let Some(entitlements) = entitlements {
        entitlements.invalidate_customer(customer);
    }
    announce(
        store,
        Stale {
            customer: customer.to_string(),
            offers: Vec::new(),
            granted: None,
            whole_customer: true,
        },
    )
    .await;
}

async fn announce(store: &Store, stale: Stale) {
    if store.dialect() != Dialect::Postgres {
        return;
    }
    let payload = serde_json::to_string(&stale).expect("plain struct serializes");
    // NOTIFY payloads stop at 8000 bytes; past that, every replica drops the whole customer…
    // which it cannot name without the payload, so it drops everything.
    let payload = if payload.len() < 7900 {
        payload
    } else {
        "*".to_string()
    };
    if let Err(e) = store.notify(CHANNEL, &payload).await {
        tracing::warn!(error = %e, "other replicas not told of a stale entitlement");
    }
}

/// Listens for other replicas' announcements until `shutdown` resolves (PostgreSQL only).
pub async fn listen_until(
    url: String,
    entitlements: Arc<Entitlements>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut backoff = std::time::Duration::from_millis(500);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            result = listen(&url, &entitlements) => {
                if let Err(e) = result {
                    tracing::warn!(error = %e, "replica invalidation listener failed");
                }
            }
        }
        // Whatever was announced while we were away is lost: start clean.
        entitlements.invalidate_all();
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(std::time::Duration::from_secs(30));
    }
}

async fn listen(url: &str, entitlements: &Entitlements) -> Result<(), sqlx::Error> {
    let mut listener = notify::listen(url, CHANNEL).await?;
    tracing::info!("listening for other replicas' cache invalidations");
    loop {
        // `None`: the connection dropped and was re-established; notifications may be lost.
        match listener.try_recv().await? {
            Some(notification) => match serde_json::from_str::<Stale>(notification.payload()) {
                Ok(stale) => apply(entitlements, stale).await,
                Err(_) => entitlements.invalidate_all(),
            },
            None => entitlements.invalidate_all(),
        }
    }
}

/// What another replica announced, applied to this one's cache. (A replica hears its own
/// announcements too; applying them again changes nothing.)
async fn apply(entitlements: &Entitlements, stale: Stale) {
    if stale.whole_customer {
        entitlements.invalidate_customer(&stale.customer);
    }
    for offer in &stale.offers {
        match &stale.granted {
            Some(granted) => {
                let access = Access {
                    granted: true,
                    expires_at: granted.expires_at,
                };
                entitlements.record(&stale.customer, offer, access).await;
            }
            None => entitlements.invalidate(&stale.customer, offer).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_stay_readable_by_replicas_that_know_only_offers() {
        let grant = Stale {
            customer: "C1".into(),
            offers: vec!["S1".into()],
            granted: Some(Granted {
                expires_at: Some(1893456000),
            }),
            whole_customer: false,
        };
        let text = serde_json::to_string(&grant).unwrap();
        assert_eq!(text, r#"{"c":"C1","o":["S1"],"g":{"e":1893456000}}"#);
        // An older replica reads the grant as "drop S1": still correct, one provider call more.
        let old: Stale = serde_json::from_str(r#"{"c":"C1","o":["S1"]}"#).unwrap();
        assert!(old.granted.is_none() && !old.whole_customer);
    }
}
