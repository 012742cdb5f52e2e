//! The outbox worker: delivers each stored push to every relay target, and each receipt that
//! could not reach the provider when it was posted, until it is delivered or its window ends.
//!
//! Claims are leases in the store (see `store::outbox`), so a worker that dies mid-delivery
//! loses nothing: its items come back when the lease runs out, and several workers (replicas on
//! one PostgreSQL) never hold one item at once. A target that answered may still see an item
//! twice if the worker died between its answer and our bookkeeping; targets dedupe on the
//! message key, as Roku's own replays already require.

use std::{sync::Arc, time::Duration};

use backon::{BackoffBuilder, ExponentialBuilder};
use futures_util::future::join_all;
use reqwest::{StatusCode, header};
use tokio::sync::Notify;

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

pub use crate::config::{ACCOUNTS_TARGET, EVENTS_TARGET};
use crate::{
    config::{Config, PROVIDER_TARGET, ProviderKind, RelayConfig},
    effects::SignupAccount,
    provider::{
        Customer, NewCustomer, Provider, ProviderError, ReceiptForward, generated_password,
    },
    roku::isu::email_hash,
    store::{NewDelivery, OutboxItem, Store, StoreError, now_ms},
};

pub const KIND_PUSH: &str = "push";
pub const KIND_RECEIPT: &str = "receipt";
/// An Instant Signup account to create at the provider and link.
pub const KIND_SIGNUP_ACCOUNT: &str = "signup_account";
/// One of the bridge's own events for the publisher's webhook.
pub const KIND_EVENT: &str = "event";

/// What one attempt came to.
#[derive(Debug, PartialEq)]
enum Outcome {
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

pub struct Relay {
    store: Store,
    provider: Arc<dyn Provider>,
    http: reqwest::Client,
    /// Push targets by name: the provider's push URL first, then the configured ones.
    push_targets: Vec<(String, String)>,
    config: RelayConfig,
    events_url: Option<String>,
    events_secret: Option<SecretString>,
    worker_id: String,
    wake: Notify,
}

impl Relay {
    pub fn new(config: &Config, store: Store, provider: Arc<dyn Provider>) -> anyhow::Result<Self> {
        let mut push_targets = Vec::new();
        if config.relay.provider && config.provider.kind == ProviderKind::Cleeng {
            let urls = config.provider.cleeng_urls();
            let publisher = config.provider.publisher_id.clone().unwrap_or_default();
            push_targets.push((
                PROVIDER_TARGET.to_string(),
                format!("{}/roku/push-notification/{publisher}", urls.push),
            ));
        }
        for t in &config.relay.targets {
            push_targets.push((t.name.clone(), t.url.clone()));
        }
        let http = reqwest::Client::builder()
            .timeout(config.relay.timeout)
            // Roku does not follow redirects to us; we do not follow them for it either.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("roku-bridge/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            store,
            provider,
            http,
            push_targets,
            config: config.relay.clone(),
            events_url: config.relay.events_url.clone(),
            events_secret: config.relay.events_secret.clone(),
            worker_id: format!("relay-{}", uuid::Uuid::new_v4().simple()),
            wake: Notify::new(),
        })
    }

    /// Names of the targets every push is relayed to.
    pub fn push_target_names(&self) -> Vec<String> {
        self.push_targets.iter().map(|(n, _)| n.clone()).collect()
    }

    /// Something was enqueued: look now rather than at the next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Runs until `shutdown` resolves, then hands its leases back.
    pub async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        let (max, window) = self.worst_case();
        tracing::info!(
            worker = %self.worker_id,
            targets = ?self.push_target_names(),
            max_attempts = max,
            give_up_after = ?window,
            "relay started"
        );
        tokio::pin!(shutdown);
        loop {
            let worked = tokio::select! {
                _ = &mut shutdown => break,
                n = self.drain_once() => n,
            };
            match worked {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "relay could not read the outbox"),
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.config.poll_interval) => {}
            }
        }
        match self.store.release_leases(&self.worker_id).await {
            Ok(n) => tracing::info!(released = n, "relay stopped"),
            Err(e) => tracing::warn!(error = %e, "relay stopped without releasing its leases"),
        }
    }

    /// Runs the pending Instant Signup of `rcid` now, if there is one: the customer opened the
    /// app before the worker got to it (or while its backoff waits out a provider outage).
    /// `true` when the signup is still pending afterwards (the provider is down).
    pub async fn complete_signup(&self, rcid: &str) -> Result<bool, StoreError> {
        let lease = self.config.lease.as_millis() as i64;
        match self
            .store
            .claim_by_key(ACCOUNTS_TARGET, rcid, &self.worker_id, lease)
            .await?
        {
            Some(item) => Ok(self.attempt(item).await),
            None => Ok(false),
        }
    }

    /// Claims one batch of due items and attempts each; returns how many were claimed.
    pub async fn drain_once(&self) -> Result<usize, StoreError> {
        let lease = self.config.lease.as_millis() as i64;
        let items = self
            .store
            .claim_due(&self.worker_id, lease, self.config.concurrency as i64)
            .await?;
        let n = items.len();
        // A batch never holds two items of one (target, customer): claim_due hands out only
        // the oldest of each, so running them side by side keeps per-customer order.
        join_all(items.into_iter().map(|item| self.attempt(item))).await;
        Ok(n)
    }

    /// Returns whether the item waits for another attempt.
    async fn attempt(&self, item: OutboxItem) -> bool {
        let outcome = match item.kind.as_str() {
            KIND_PUSH => self.deliver_push(&item).await,
            KIND_RECEIPT => self.deliver_receipt(&item).await,
            KIND_SIGNUP_ACCOUNT => self.deliver_signup_account(&item).await,
            KIND_EVENT => self.deliver_event(&item).await,
            other => Outcome::Dead {
                error: format!("unknown delivery kind {other}"),
            },
        };
        let retrying = matches!(outcome, Outcome::Retry { .. });
        let label = match &outcome {
            Outcome::Delivered => "delivered",
            Outcome::Retry { .. } => "retry",
            Outcome::Dead { .. } => "dead",
        };
        metrics::counter!("roku_bridge_deliveries_total", "target" => item.target.clone(), "kind" => item.kind.clone(), "outcome" => label)
            .increment(1);
        let settled = match outcome {
            Outcome::Delivered => {
                tracing::info!(
                    id = item.id,
                    target = item.target,
                    kind = item.kind,
                    "delivered"
                );
                self.store.mark_delivered(item.id, &self.worker_id).await
            }
            Outcome::Retry { after, error } => {
                let delay = self.delay(item.attempts, after);
                let next = now_ms() + delay.as_millis() as i64;
                let dead =
                    next - item.window_started_at > self.config.give_up_after.as_millis() as i64;
                if dead {
                    tracing::error!(
                        id = item.id,
                        target = item.target,
                        error,
                        "delivery window over: dead letter"
                    );
                } else {
                    tracing::warn!(id = item.id, target = item.target, error, retry_in = ?delay, "delivery failed");
                }
                self.store
                    .mark_failed(item.id, &self.worker_id, next, &error, dead)
                    .await
            }
            Outcome::Dead { error } => {
                tracing::error!(
                    id = item.id,
                    target = item.target,
                    error,
                    "delivery refused: dead letter"
                );
                self.store
                    .mark_failed(item.id, &self.worker_id, now_ms(), &error, true)
                    .await
            }
        };
        match settled {
            Ok(true) => {}
            Ok(false) => tracing::warn!(id = item.id, "lease lost before the outcome was recorded"),
            Err(e) => {
                tracing::warn!(id = item.id, error = %e, "outcome not recorded; the lease will expire")
            }
        }
        retrying
    }

    async fn deliver_push(&self, item: &OutboxItem) -> Outcome {
        let Some((_, url)) = self.push_targets.iter().find(|(n, _)| *n == item.target) else {
            return Outcome::Dead {
                error: format!("target {} is no longer configured", item.target),
            };
        };
        let sent = self
            .http
            .post(url)
            .header(header::CONTENT_TYPE, "text/plain")
            .body(item.payload.clone())
            .send()
            .await;
        match sent {
            Ok(resp) => classify(resp.status(), retry_after(resp.headers())),
            Err(e) => Outcome::Retry {
                after: None,
                error: request_error(&e),
            },
        }
    }

    async fn deliver_receipt(&self, item: &OutboxItem) -> Outcome {
        let forward: ReceiptForward = match serde_json::from_str(&item.payload) {
            Ok(f) => f,
            Err(e) => {
                return Outcome::Dead {
                    error: format!("unreadable receipt: {e}"),
                };
            }
        };
        // The claim's key: the purchaseId, or `purchaseId#offerId` for a bundle's part.
        let purchase_id = &item.dedupe_key;
        match self.provider.submit_receipt(&forward).await {
            Ok(()) => match self
                .store
                .set_receipt_state(purchase_id, "forwarded", None)
                .await
            {
                Ok(()) => Outcome::Delivered,
                Err(e) => Outcome::Retry {
                    after: None,
                    error: format!("forwarded, but not recorded: {e}"),
                },
            },
            Err(ProviderError::Unavailable {
                reason,
                retry_after,
            }) => Outcome::Retry {
                after: retry_after,
                error: reason,
            },
            Err(ProviderError::Rejected { code, message, .. }) => {
                let outcome = serde_json::json!({"code": code, "message": message}).to_string();
                let _ = self
                    .store
                    .set_receipt_state(purchase_id, "rejected", Some(&outcome))
                    .await;
                Outcome::Dead {
                    error: format!("provider rejected the receipt: {code}"),
                }
            }
            Err(other) => Outcome::Dead {
                error: other.to_string(),
            },
        }
    }

    /// Creates (or finds) the provider account of an Instant Signup and links it, once per Roku
    /// customer: a replayed push, or a customer who opened the app first, finds the link made.
    async fn deliver_signup_account(&self, item: &OutboxItem) -> Outcome {
        let account: SignupAccount = match serde_json::from_str(&item.payload) {
            Ok(a) => a,
            Err(e) => {
                return Outcome::Dead {
                    error: format!("unreadable signup: {e}"),
                };
            }
        };
        let rcid = &account.roku_customer_id;
        match self.store.account(rcid).await {
            Ok(Some(_)) => return Outcome::Delivered,
            Ok(None) => {}
            Err(e) => return store_retry(e),
        }
        let known = match self.store.account_by_email(&account.email).await {
            Ok(known) => known,
            Err(e) => return store_retry(e),
        };
        let (customer, event) = if let Some(known) = known {
            let customer = Customer {
                id: known.customer_id,
                email: account.email.clone(),
            };
            (customer, "customer.linked")
        } else {
            let new = NewCustomer {
                email: account.email.clone(),
                password: generated_password(),
                first_name: account.first_name.clone(),
                last_name: account.last_name.clone(),
            };
            match self.provider.register(&new).await {
                Ok(customer) => (customer, "customer.created"),
                Err(ProviderError::CustomerExists) => {
                    match self.provider.customer_by_email(&account.email).await {
                        Ok(Some(customer)) => (customer, "customer.linked"),
                        Ok(None) => {
                            // The provider will not say who it is: the customer signs in with
                            // their own password on the device, and that links the purchase.
                            if let Err(e) = self
                                .store
                                .record_email_hash(
                                    &email_hash(&account.email),
                                    Some(rcid),
                                    None,
                                    "instant_signup",
                                )
                                .await
                            {
                                return store_retry(e);
                            }
                            return self.emit("customer.exists", &account, None).await;
                        }
                        Err(e) => return provider_retry(e),
                    }
                }
                Err(e) => return provider_retry(e),
            }
        };
        let linked = async {
            self.store
                .link_account(rcid, &customer.id, Some(&account.email))
                .await?;
            self.store
                .record_email_hash(
                    &email_hash(&account.email),
                    Some(rcid),
                    Some(&customer.id),
                    "instant_signup",
                )
                .await
        };
        if let Err(e) = linked.await {
            return store_retry(e);
        }
        tracing::info!(customer_id = %customer.id, event, "Instant Signup account ready");
        self.emit(event, &account, Some(&customer.id)).await
    }

    /// Queues an event for the publisher's webhook, keyed so a retried signup sends it once.
    async fn emit(
        &self,
        event: &str,
        account: &SignupAccount,
        customer_id: Option<&str>,
    ) -> Outcome {
        let data = serde_json::json!({
            "customerId": customer_id,
            "email": account.email,
            "firstName": account.first_name,
            "lastName": account.last_name,
            "rokuCustomerId": account.roku_customer_id,
            "transactionId": account.transaction_id,
            "source": "instant_signup",
            // The password was generated and never shown: the welcome email should carry
            // the provider's password-reset link.
            "passwordSet": false,
        });
        let id = format!("{event}:{}", account.roku_customer_id);
        match self
            .emit_event(&id, event, data, &account.roku_customer_id)
            .await
        {
            Ok(()) => Outcome::Delivered,
            Err(e) => store_retry(e),
        }
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
        if self.events_url.is_none() {
            return Ok(());
        }
        let body = serde_json::json!({
            "id": id,
            "type": event,
            "createdAt": now_ms(),
            "data": data,
        });
        let delivery = NewDelivery {
            target: EVENTS_TARGET.to_string(),
            kind: KIND_EVENT,
            payload: body.to_string(),
            dedupe_key: id.to_string(),
            ordering_key: Some(roku_customer_id.to_string()),
        };
        self.store.enqueue(&delivery).await?;
        self.wake();
        Ok(())
    }

    async fn deliver_event(&self, item: &OutboxItem) -> Outcome {
        let Some(url) = &self.events_url else {
            return Outcome::Dead {
                error: "relay.events_url is no longer configured".into(),
            };
        };
        let mut request = self
            .http
            .post(url)
            .header(header::CONTENT_TYPE, "application/json")
            .header("x-roku-bridge-event-id", &item.dedupe_key);
        if let Some(secret) = &self.events_secret {
            request = request.header(
                "x-roku-bridge-signature",
                sign_event(secret.expose_secret().as_bytes(), item.payload.as_bytes()),
            );
        }
        match request.body(item.payload.clone()).send().await {
            Ok(resp) => classify(resp.status(), retry_after(resp.headers())),
            Err(e) => Outcome::Retry {
                after: None,
                error: request_error(&e),
            },
        }
    }

    /// Exponential with jitter from the attempt count; a `Retry-After` can only postpone.
    fn delay(&self, attempts: i64, retry_after: Option<Duration>) -> Duration {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.config.initial_backoff)
            .with_max_delay(self.config.max_backoff)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times()
            .build()
            .nth(attempts.clamp(0, 64) as usize)
            .unwrap_or(self.config.max_backoff);
        match retry_after {
            Some(hint) => backoff.max(hint.min(self.config.max_backoff)),
            None => backoff,
        }
    }

    /// Attempts and time before an item that always fails is dead-lettered (without jitter).
    pub fn worst_case(&self) -> (u32, Duration) {
        let (mut attempts, mut elapsed, mut delay) =
            (1, Duration::ZERO, self.config.initial_backoff);
        while elapsed + delay <= self.config.give_up_after {
            elapsed += delay;
            attempts += 1;
            delay = (delay * 2).min(self.config.max_backoff);
        }
        (attempts, self.config.give_up_after)
    }
}

/// `sha256=<hex>`: HMAC-SHA256 of the exact body, as GitHub and Stripe sign their webhooks.
pub fn sign_event(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// What went wrong, without the URL (a target's URL may carry a token).
fn request_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        "request failed".into()
    }
}

fn store_retry(e: StoreError) -> Outcome {
    Outcome::Retry {
        after: None,
        error: format!("store: {e}"),
    }
}

fn provider_retry(e: ProviderError) -> Outcome {
    match e {
        ProviderError::Unavailable {
            reason,
            retry_after,
        } => Outcome::Retry {
            after: retry_after,
            error: reason,
        },
        other => Outcome::Dead {
            error: other.to_string(),
        },
    }
}

fn classify(status: StatusCode, retry_after: Option<Duration>) -> Outcome {
    if status.is_success() {
        Outcome::Delivered
    } else if status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
    {
        Outcome::Retry {
            after: retry_after,
            error: format!("HTTP {}", status.as_u16()),
        }
    } else {
        // A 4xx says the content or the URL is wrong; the same bytes will fail the same way.
        // It waits in the dead letters for the operator to fix the target and redrive.
        Outcome::Dead {
            error: format!("HTTP {}", status.as_u16()),
        }
    }
}

fn retry_after(headers: &header::HeaderMap) -> Option<Duration> {
    headers
        .get(header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_sort_into_retry_and_dead() {
        assert_eq!(classify(StatusCode::OK, None), Outcome::Delivered);
        assert_eq!(classify(StatusCode::NO_CONTENT, None), Outcome::Delivered);
        assert!(matches!(
            classify(StatusCode::BAD_GATEWAY, None),
            Outcome::Retry { .. }
        ));
        assert!(matches!(
            classify(StatusCode::TOO_MANY_REQUESTS, Some(Duration::from_secs(9))),
            Outcome::Retry { after: Some(d), .. } if d == Duration::from_secs(9)
        ));
        assert!(matches!(
            classify(StatusCode::NOT_FOUND, None),
            Outcome::Dead { .. }
        ));
        assert!(matches!(
            classify(StatusCode::MOVED_PERMANENTLY, None),
            Outcome::Dead { .. }
        ));
    }
}
