//! Several replicas, one truth: what one replica learns that makes another's cache wrong is
//! announced through PostgreSQL's LISTEN/NOTIFY, the store they already share — no new
//! infrastructure. (Claims, links and the outbox need nothing more: they live in the store,
//! and the outbox hands each item to one worker with `FOR UPDATE SKIP LOCKED`.)
//!
//! A notification is best effort: a replica whose listening connection drops may miss some,
//! so on reconnecting it empties its cache rather than serve what it cannot vouch for.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::entitlements::Entitlements;
use crate::store::{Dialect, Store, notify};

const CHANNEL: &str = "roku_bridge_entitlements";

#[derive(Serialize, Deserialize)]
struct Stale {
    #[serde(rename = "c")]
    customer: String,
    #[serde(rename = "o")]
    offers: Vec<String>,
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
    if store.dialect() != Dialect::Postgres || offers.is_empty() {
        return;
    }
    let payload = serde_json::to_string(&Stale {
        customer: customer.to_string(),
        offers: offers.to_vec(),
    })
    .expect("plain struct serializes");
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
                Ok(stale) => {
                    for offer in &stale.offers {
                        entitlements.invalidate(&stale.customer, offer).await;
                    }
                }
                Err(_) => entitlements.invalidate_all(),
            },
            None => entitlements.invalidate_all(),
        }
    }
}
