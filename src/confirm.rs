//! Receipts and their asynchronous confirmation (DESIGN.md §2.2–2.3).
//!
//! Cleeng answers a receipt with 200 long before it has validated it, so "granted" can only be
//! learnt by asking for access until it turns true. Each purchaseId has one [`Receipt`]: one
//! claim (by one customer), one forward to the provider, and at most one confirmation worker at
//! a time. Requests never do the work themselves; they start the worker if none runs and wait
//! on its state, so 100 concurrent posts of a purchaseId cause one forward and one poll loop,
//! and a client that hangs up does not cancel the confirmation others wait for.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use backon::{BackoffBuilder, ExponentialBuilder, Retryable};
use tokio::{
    sync::{Notify, watch},
    time::Instant,
};

use serde_json::json;

use crate::{
    config::{PROVIDER_TARGET, PaymentConfig},
    entitlements::Entitlements,
    provider::{Provider, ProviderError, ReceiptForward},
    relay::{KIND_RECEIPT, Relay},
    store::{NewDelivery, Store, StoreError, StoredReceipt},
};

/// Quick retries of a forward that met a 5xx or a timeout, before answering 503.
const FORWARD_RETRIES: usize = 2;
const FORWARD_RETRY_DELAY: Duration = Duration::from_millis(200);

#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    /// A worker is forwarding or polling right now.
    Confirming,
    /// The provider was down when the receipt came: it waits in the outbox, durably.
    Queued,
    /// Forwarded, not granted yet, nobody polling: the next request starts a new round.
    Pending,
    Granted {
        expires_at: Option<i64>,
    },
    /// The provider refused the receipt. Final.
    Rejected {
        code: String,
        message: String,
    },
    /// The provider could not be reached; the next request tries again.
    Unavailable {
        retry_after: Duration,
    },
}

impl Phase {
    fn is_final(&self) -> bool {
        matches!(self, Phase::Granted { .. } | Phase::Rejected { .. })
    }
}

/// The claim of one purchaseId by one customer, with its confirmation state. A bundle's
/// purchase is several claims, one per provider offer, keyed `purchaseId#offerId`.
pub struct Receipt {
    /// The claim's key in the store: the purchaseId, or `purchaseId#offerId` in a bundle.
    pub key: String,
    pub customer_id: String,
    pub forward: ReceiptForward,
    /// Guards the start and end of a worker, so "no worker running" and the phase agree.
    running: Mutex<bool>,
    phase: watch::Sender<Phase>,
    wake: Notify,
}

impl Receipt {
    pub fn offer_id(&self) -> &str {
        &self.forward.offer_id
    }

    pub fn code(&self) -> &str {
        &self.forward.order.code
    }

    /// Roku's transaction id, as forwarded to the provider.
    pub fn purchase_id(&self) -> &str {
        &self.forward.order.purchase_id
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn phase(&self) -> Phase {
        self.phase.borrow().clone()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error("this purchase was already claimed by another customer")]
    OtherCustomer,
    #[error("this purchase was already posted with another product")]
    Mismatch,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Access polling schedule: exponential from `initial` to `max`, within `timeout`.
#[derive(Debug, Clone, Copy)]
pub struct PollPolicy {
    pub timeout: Duration,
    pub initial: Duration,
    pub max: Duration,
}

impl PollPolicy {
    pub fn from_config(c: &PaymentConfig) -> Self {
        Self {
            timeout: c.confirm_timeout,
            initial: c.poll_initial_interval,
            max: c.poll_max_interval,
        }
    }

    fn delays(&self) -> impl Iterator<Item = Duration> {
        ExponentialBuilder::default()
            .with_min_delay(self.initial)
            .with_max_delay(self.max)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times()
            .build()
    }

    /// The most provider access calls one confirmation round can make: jitter only lengthens
    /// pauses, so the immediate first check, the un-jittered schedule and the final check at
    /// the deadline bound it. With the defaults (250 ms doubling to 5 s, 30 s) it is 11.
    pub fn max_polls(&self) -> u32 {
        let mut elapsed = Duration::ZERO;
        let mut delay = self.initial;
        let mut polls = 0;
        while elapsed + delay < self.timeout {
            elapsed += delay;
            polls += 1;
            delay = (delay * 2).min(self.max);
        }
        polls + 2
    }
}

pub struct Receipts {
    /// The receipts this process is confirming: one `Receipt` per purchase, for single flight.
    /// The store holds the claim and the outcome; this map is rebuilt from it on demand.
    live: Mutex<HashMap<String, Arc<Receipt>>>,
    store: Store,
    provider: Arc<dyn Provider>,
    entitlements: Arc<Entitlements>,
    relay: Arc<Relay>,
    policy: PollPolicy,
}

impl Receipts {
    pub fn new(
        store: Store,
        provider: Arc<dyn Provider>,
        entitlements: Arc<Entitlements>,
        relay: Arc<Relay>,
        policy: PollPolicy,
    ) -> Self {
        Self {
            live: Mutex::new(HashMap::new()),
            store,
            provider,
            entitlements,
            relay,
            policy,
        }
    }

    pub fn policy(&self) -> PollPolicy {
        self.policy
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Receipt>>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Claims the purchase for this customer, or returns the claim it already made. The store
    /// decides who was first, so the rule holds across restarts and replicas.
    pub async fn claim(
        &self,
        customer_id: &str,
        key: &str,
        forward: ReceiptForward,
    ) -> Result<Arc<Receipt>, ClaimError> {
        let existing = self.live().get(key).cloned();
        let receipt = match existing {
            Some(r) => r,
            None => {
                let json = serde_json::to_string(&forward).expect("receipt serializes");
                let stored = self.store.claim_receipt(key, customer_id, &json).await?;
                self.adopt(stored)?
            }
        };
        if receipt.customer_id != customer_id {
            return Err(ClaimError::OtherCustomer);
        }
        if receipt.forward.offer_id != forward.offer_id
            || receipt.forward.order.code != forward.order.code
        {
            return Err(ClaimError::Mismatch);
        }
        Ok(receipt)
    }

    /// The receipt, if this customer posted it. Another customer's is as good as unknown.
    pub async fn get(
        &self,
        customer_id: &str,
        purchase_id: &str,
    ) -> Result<Option<Arc<Receipt>>, StoreError> {
        let existing = self.live().get(purchase_id).cloned();
        let receipt = match existing {
            Some(r) => r,
            None => match self.store.receipt(purchase_id).await? {
                Some(stored) => self.adopt(stored)?,
                None => return Ok(None),
            },
        };
        Ok(Some(receipt).filter(|r| r.customer_id == customer_id))
    }

    /// Every claim of this purchase by this customer: the one receipt, or a bundle's parts.
    pub async fn get_all(
        &self,
        customer_id: &str,
        purchase_id: &str,
    ) -> Result<Vec<Arc<Receipt>>, StoreError> {
        if let Some(r) = self.get(customer_id, purchase_id).await? {
            return Ok(vec![r]);
        }
        let mut parts = Vec::new();
        for key in self.store.receipt_parts(purchase_id).await? {
            if let Some(r) = self.get(customer_id, &key).await? {
                parts.push(r);
            }
        }
        Ok(parts)
    }

    /// A stored receipt as a live one, unless another request made it live meanwhile.
    fn adopt(&self, stored: StoredReceipt) -> Result<Arc<Receipt>, StoreError> {
        let forward: ReceiptForward = serde_json::from_str(&stored.forward_json)
            .map_err(|e| StoreError::Unavailable(format!("stored receipt unreadable: {e}")))?;
        let phase = phase_of(&stored.state, stored.outcome_json.as_deref());
        let mut live = self.live();
        let receipt = live.entry(stored.purchase_id.clone()).or_insert_with(|| {
            Arc::new(Receipt {
                key: stored.purchase_id,
                customer_id: stored.customer_id,
                forward,
                running: Mutex::new(false),
                phase: watch::Sender::new(phase),
                wake: Notify::new(),
            })
        });
        Ok(receipt.clone())
    }

    /// Starts a confirmation round unless one is running or the outcome is final.
    pub fn ensure_confirming(self: &Arc<Self>, receipt: &Arc<Receipt>) {
        {
            let mut running = receipt.running.lock().unwrap_or_else(|p| p.into_inner());
            if *running || receipt.phase.borrow().is_final() {
                return;
            }
            *running = true;
            // A queued receipt stays "queued" until the round finds the relay has forwarded
            // it: only then is there something to wait for.
            receipt.phase.send_if_modified(|phase| {
                let confirming = *phase != Phase::Queued;
                if confirming {
                    *phase = Phase::Confirming;
                }
                confirming
            });
        }
        let this = self.clone();
        let receipt = receipt.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let outcome = this.confirm(&receipt).await;
            let settled = outcome.is_final();
            let label = match &outcome {
                Phase::Granted { .. } => "granted",
                Phase::Rejected { .. } => "rejected",
                Phase::Queued => "queued",
                Phase::Unavailable { .. } => "unavailable",
                _ => "pending",
            };
            metrics::counter!("roku_bridge_confirmations_total", "outcome" => label).increment(1);
            metrics::histogram!("roku_bridge_confirmation_duration_seconds", "outcome" => label)
                .record(started.elapsed().as_secs_f64());
            {
                let mut running = receipt.running.lock().unwrap_or_else(|p| p.into_inner());
                *running = false;
                receipt.phase.send_replace(outcome);
            }
            // A settled receipt is answered from the store from now on; the waiters hold
            // their own reference, so the map need not keep it.
            if settled {
                this.live().remove(receipt.key());
            }
        });
    }

    /// Waits up to `wait` for the current round to settle, and returns the phase then.
    pub async fn wait(&self, receipt: &Receipt, wait: Duration) -> Phase {
        let mut rx = receipt.phase.subscribe();
        let deadline = Instant::now() + wait;
        loop {
            let phase = rx.borrow_and_update().clone();
            if phase != Phase::Confirming {
                return phase;
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => continue,
                _ => return phase,
            }
        }
    }

    /// A push for this purchase arrived: check access now instead of at the next poll.
    pub fn wake(&self, purchase_id: &str) {
        for r in self.live().values() {
            if r.purchase_id() == purchase_id {
                r.wake.notify_one();
            }
        }
    }

    async fn confirm(&self, receipt: &Receipt) -> Phase {
        let purchase_id = receipt.key();
        // The store knows what other processes (the relay, another replica) did meanwhile.
        let state = match self.store.receipt(purchase_id).await {
            Ok(Some(stored)) => stored.state,
            Ok(None) => "claimed".to_string(),
            Err(e) => return store_down(purchase_id, &e),
        };
        match state.as_str() {
            "forwarded" => {
                receipt.phase.send_replace(Phase::Confirming);
                return self.poll_access(receipt).await;
            }
            "queued" => return Phase::Queued,
            "granted" | "rejected" => {
                return match self.store.receipt(purchase_id).await {
                    Ok(Some(s)) => phase_of(&s.state, s.outcome_json.as_deref()),
                    Ok(None) => Phase::Pending,
                    Err(e) => store_down(purchase_id, &e),
                };
            }
            _ => {}
        }
        let sent = (|| self.provider.submit_receipt(&receipt.forward))
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(FORWARD_RETRY_DELAY)
                    .with_max_times(FORWARD_RETRIES),
            )
            .when(ProviderError::is_unavailable)
            .await;
        match sent {
            Ok(()) => {
                if let Err(e) = self
                    .store
                    .set_receipt_state(purchase_id, "forwarded", None)
                    .await
                {
                    // Forwarded but not recorded: polling still settles it, and a repeat
                    // forward is one the provider dedupes on purchaseId.
                    tracing::warn!(purchase_id, error = %e, "forward not recorded");
                }
                self.poll_access(receipt).await
            }
            Err(ProviderError::Rejected { code, message, .. }) => {
                tracing::info!(purchase_id, code, "receipt rejected by provider");
                let outcome = json!({"code": code, "message": message}).to_string();
                if let Err(e) = self
                    .store
                    .set_receipt_state(purchase_id, "rejected", Some(&outcome))
                    .await
                {
                    tracing::warn!(purchase_id, error = %e, "rejection not recorded");
                }
                Phase::Rejected { code, message }
            }
            Err(ProviderError::Unavailable { reason, .. }) => {
                tracing::warn!(
                    purchase_id,
                    reason,
                    "provider down: receipt queued for the relay"
                );
                self.queue(receipt).await
            }
            Err(other) => Phase::Rejected {
                code: "provider_error".into(),
                message: other.to_string(),
            },
        }
    }

    /// Hands the forward to the outbox: accepted is never lost, even if the provider is down
    /// for days.
    async fn queue(&self, receipt: &Receipt) -> Phase {
        let purchase_id = receipt.key();
        let delivery = NewDelivery {
            target: PROVIDER_TARGET.to_string(),
            kind: KIND_RECEIPT,
            payload: serde_json::to_string(&receipt.forward).expect("receipt serializes"),
            dedupe_key: purchase_id.to_string(),
            ordering_key: Some(receipt.customer_id.clone()),
        };
        let queued = async {
            self.store.enqueue(&delivery).await?;
            self.store
                .set_receipt_state(purchase_id, "queued", None)
                .await
        };
        match queued.await {
            Ok(()) => {
                self.relay.wake();
                Phase::Queued
            }
            Err(e) => store_down(purchase_id, &e),
        }
    }

    async fn poll_access(&self, receipt: &Receipt) -> Phase {
        let deadline = Instant::now() + self.policy.timeout;
        let mut delays = self.policy.delays();
        // The first check goes out at once: a provider that grants synchronously (or a receipt
        // it already took) answers the customer without waiting out the first pause.
        let mut first = true;
        loop {
            if !first {
                let pause = delays.next().unwrap_or(self.policy.max);
                let wake_at = (Instant::now() + pause).min(deadline);
                tokio::select! {
                    _ = tokio::time::sleep_until(wake_at) => {}
                    _ = receipt.wake.notified() => {}
                }
            }
            first = false;
            match self
                .provider
                .access(&receipt.customer_id, receipt.offer_id())
                .await
            {
                Ok(access) if access.granted => {
                    self.entitlements
                        .record(&receipt.customer_id, receipt.offer_id(), access)
                        .await;
                    let outcome = json!({"expiresAt": access.expires_at}).to_string();
                    if let Err(e) = self
                        .store
                        .set_receipt_state(receipt.key(), "granted", Some(&outcome))
                        .await
                    {
                        tracing::warn!(purchase_id = receipt.purchase_id(), error = %e, "grant not recorded");
                    }
                    tracing::info!(purchase_id = receipt.purchase_id(), "payment confirmed");
                    return Phase::Granted {
                        expires_at: access.expires_at,
                    };
                }
                Ok(_) => {}
                // A failed check is not an answer; the next one may succeed within the budget.
                Err(e) => {
                    tracing::debug!(purchase_id = receipt.purchase_id(), error = %e, "access check failed")
                }
            }
            if Instant::now() >= deadline {
                return Phase::Pending;
            }
        }
    }
}

fn store_down(purchase_id: &str, e: &StoreError) -> Phase {
    tracing::error!(purchase_id, error = %e, "store unavailable");
    Phase::Unavailable {
        retry_after: Duration::from_secs(5),
    }
}

/// The phase a stored receipt state stands for.
fn phase_of(state: &str, outcome: Option<&str>) -> Phase {
    let outcome: serde_json::Value = outcome
        .and_then(|o| serde_json::from_str(o).ok())
        .unwrap_or_default();
    let text = |k: &str| outcome[k].as_str().unwrap_or_default().to_string();
    match state {
        "granted" => Phase::Granted {
            expires_at: outcome["expiresAt"].as_i64(),
        },
        "rejected" => Phase::Rejected {
            code: text("code"),
            message: text("message"),
        },
        "queued" => Phase::Queued,
        _ => Phase::Pending,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_states_map_to_phases() {
        assert_eq!(
            phase_of("granted", Some(r#"{"expiresAt": 1893456000}"#)),
            Phase::Granted {
                expires_at: Some(1893456000)
            }
        );
        assert_eq!(
            phase_of("rejected", Some(r#"{"code": "REQ0001", "message": "bad"}"#)),
            Phase::Rejected {
                code: "REQ0001".into(),
                message: "bad".into()
            }
        );
        assert_eq!(phase_of("queued", None), Phase::Queued);
        assert_eq!(phase_of("claimed", None), Phase::Pending);
        assert_eq!(phase_of("forwarded", Some("not json")), Phase::Pending);
    }

    #[test]
    fn default_schedule_polls_at_most_eleven_times_in_thirty_seconds() {
        let p = PollPolicy::from_config(&PaymentConfig::default());
        assert_eq!(p.max_polls(), 11);
    }

    #[test]
    fn a_short_timeout_polls_few_times() {
        let p = PollPolicy {
            timeout: Duration::from_secs(1),
            initial: Duration::from_millis(250),
            max: Duration::from_secs(5),
        };
        // At once, 0.25, 0.75 (+0.5), then the final check at 1 s.
        assert_eq!(p.max_polls(), 4);
    }
}
