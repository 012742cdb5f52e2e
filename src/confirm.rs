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
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use backon::{BackoffBuilder, ExponentialBuilder, Retryable};
use tokio::{
    sync::{Notify, watch},
    time::Instant,
};

use crate::{
    config::PaymentConfig,
    entitlements::Entitlements,
    provider::{Provider, ProviderError, ReceiptForward},
};

/// Quick retries of a forward that met a 5xx or a timeout, before answering 503.
const FORWARD_RETRIES: usize = 2;
const FORWARD_RETRY_DELAY: Duration = Duration::from_millis(200);

#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    /// A worker is forwarding or polling right now.
    Confirming,
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

/// The claim of one purchaseId by one customer, with its confirmation state.
pub struct Receipt {
    pub customer_id: String,
    pub forward: ReceiptForward,
    forwarded: AtomicBool,
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

    pub fn purchase_id(&self) -> &str {
        &self.forward.order.purchase_id
    }

    pub fn phase(&self) -> Phase {
        self.phase.borrow().clone()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    #[error("this purchase was already claimed by another customer")]
    OtherCustomer,
    #[error("this purchase was already posted with another product")]
    Mismatch,
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
    /// pauses, so the un-jittered schedule plus the final check at the deadline bounds it.
    /// With the defaults (250 ms doubling to 5 s, 30 s) it is 10.
    pub fn max_polls(&self) -> u32 {
        let mut elapsed = Duration::ZERO;
        let mut delay = self.initial;
        let mut polls = 0;
        while elapsed + delay < self.timeout {
            elapsed += delay;
            polls += 1;
            delay = (delay * 2).min(self.max);
        }
        polls + 1
    }
}

pub struct Receipts {
    by_purchase: Mutex<HashMap<String, Arc<Receipt>>>,
    provider: Arc<dyn Provider>,
    entitlements: Arc<Entitlements>,
    policy: PollPolicy,
}

impl Receipts {
    pub fn new(
        provider: Arc<dyn Provider>,
        entitlements: Arc<Entitlements>,
        policy: PollPolicy,
    ) -> Self {
        Self {
            by_purchase: Mutex::new(HashMap::new()),
            provider,
            entitlements,
            policy,
        }
    }

    pub fn policy(&self) -> PollPolicy {
        self.policy
    }

    /// Claims the purchase for this customer, or returns the claim it already made.
    pub fn claim(
        &self,
        customer_id: &str,
        forward: ReceiptForward,
    ) -> Result<Arc<Receipt>, ClaimError> {
        let mut map = self.by_purchase.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = map.get(&forward.order.purchase_id) {
            if existing.customer_id != customer_id {
                return Err(ClaimError::OtherCustomer);
            }
            if existing.forward.offer_id != forward.offer_id
                || existing.forward.order.code != forward.order.code
            {
                return Err(ClaimError::Mismatch);
            }
            return Ok(existing.clone());
        }
        let receipt = Arc::new(Receipt {
            customer_id: customer_id.to_string(),
            forward,
            forwarded: AtomicBool::new(false),
            running: Mutex::new(false),
            phase: watch::Sender::new(Phase::Pending),
            wake: Notify::new(),
        });
        map.insert(receipt.purchase_id().to_string(), receipt.clone());
        Ok(receipt)
    }

    /// The receipt, if this customer posted it. Another customer's is as good as unknown.
    pub fn get(&self, customer_id: &str, purchase_id: &str) -> Option<Arc<Receipt>> {
        let map = self.by_purchase.lock().unwrap_or_else(|p| p.into_inner());
        map.get(purchase_id)
            .filter(|r| r.customer_id == customer_id)
            .cloned()
    }

    /// Starts a confirmation round unless one is running or the outcome is final.
    pub fn ensure_confirming(self: &Arc<Self>, receipt: &Arc<Receipt>) {
        {
            let mut running = receipt.running.lock().unwrap_or_else(|p| p.into_inner());
            if *running || receipt.phase.borrow().is_final() {
                return;
            }
            *running = true;
            receipt.phase.send_replace(Phase::Confirming);
        }
        let this = self.clone();
        let receipt = receipt.clone();
        tokio::spawn(async move {
            let outcome = this.confirm(&receipt).await;
            let mut running = receipt.running.lock().unwrap_or_else(|p| p.into_inner());
            *running = false;
            receipt.phase.send_replace(outcome);
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
        let map = self.by_purchase.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = map.get(purchase_id) {
            r.wake.notify_one();
        }
    }

    async fn confirm(&self, receipt: &Receipt) -> Phase {
        if !receipt.forwarded.load(Ordering::Acquire) {
            let sent = (|| self.provider.submit_receipt(&receipt.forward))
                .retry(
                    ExponentialBuilder::default()
                        .with_min_delay(FORWARD_RETRY_DELAY)
                        .with_max_times(FORWARD_RETRIES),
                )
                .when(ProviderError::is_unavailable)
                .await;
            match sent {
                Ok(()) => receipt.forwarded.store(true, Ordering::Release),
                Err(ProviderError::Rejected { code, message, .. }) => {
                    tracing::info!(
                        purchase_id = receipt.purchase_id(),
                        code,
                        "receipt rejected by provider"
                    );
                    return Phase::Rejected { code, message };
                }
                Err(ProviderError::Unavailable {
                    retry_after,
                    reason,
                }) => {
                    tracing::warn!(
                        purchase_id = receipt.purchase_id(),
                        reason,
                        "receipt not forwarded"
                    );
                    return Phase::Unavailable {
                        retry_after: retry_after.unwrap_or(Duration::from_secs(5)),
                    };
                }
                Err(other) => {
                    return Phase::Rejected {
                        code: "provider_error".into(),
                        message: other.to_string(),
                    };
                }
            }
        }
        self.poll_access(receipt).await
    }

    async fn poll_access(&self, receipt: &Receipt) -> Phase {
        let deadline = Instant::now() + self.policy.timeout;
        let mut delays = self.policy.delays();
        loop {
            let pause = delays.next().unwrap_or(self.policy.max);
            let wake_at = (Instant::now() + pause).min(deadline);
            tokio::select! {
                _ = tokio::time::sleep_until(wake_at) => {}
                _ = receipt.wake.notified() => {}
            }
            match self
                .provider
                .access(&receipt.customer_id, receipt.offer_id())
                .await
            {
                Ok(access) if access.granted => {
                    self.entitlements
                        .record(&receipt.customer_id, receipt.offer_id(), access)
                        .await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schedule_polls_at_most_ten_times_in_thirty_seconds() {
        let p = PollPolicy::from_config(&PaymentConfig::default());
        assert_eq!(p.max_polls(), 10);
    }

    #[test]
    fn a_short_timeout_polls_few_times() {
        let p = PollPolicy {
            timeout: Duration::from_secs(1),
            initial: Duration::from_millis(250),
            max: Duration::from_secs(5),
        };
        // 0.25, 0.75 (+0.5), then the final check at 1 s.
        assert_eq!(p.max_polls(), 3);
    }
}
