//! The worker: leases due items, attempts each, and records what became of it.
//!
//! Claims are leases in the store, so a worker that dies mid-delivery loses nothing: its items
//! come back when the lease runs out, and several workers (replicas on one PostgreSQL) never
//! hold one item at once. A target that answered may still see an item twice if the worker died
//! between its answer and our bookkeeping; targets dedupe on the message key, as Roku's own
//! replays already require, and the services' handlers are idempotent.

use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};

use backon::{BackoffBuilder, ExponentialBuilder};
use futures_util::future::join_all;
use tokio::sync::Notify;

use super::{Attempt, Delivery, Handler, targets::HttpTargets};
use crate::{
    config::RelayConfig,
    store::{OutboxItem, Store, StoreError, now_ms},
};

pub struct Worker {
    store: Store,
    targets: HttpTargets,
    handler: OnceLock<Arc<dyn Handler>>,
    config: RelayConfig,
    worker_id: String,
    wake: Arc<Notify>,
    /// Test hook: how long the worker waits before its first look at the outbox, so a test can
    /// kill the process between a push's acknowledgement and its follow-ups.
    start_delay: Duration,
}

impl Worker {
    pub fn new(
        store: Store,
        targets: HttpTargets,
        config: RelayConfig,
        wake: Arc<Notify>,
        start_delay: Duration,
    ) -> Self {
        Self {
            store,
            targets,
            handler: OnceLock::new(),
            config,
            worker_id: format!("relay-{}", uuid::Uuid::new_v4().simple()),
            wake,
            start_delay,
        }
    }

    /// The services' side of the deliveries; set once at startup, before `run`.
    pub fn set_handler(&self, handler: Arc<dyn Handler>) {
        let _ = self.handler.set(handler);
    }

    /// What wakes this worker: an operator's redrive rings it so the item goes at once.
    pub fn wake_handle(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    pub fn push_target_names(&self) -> Vec<String> {
        self.targets.push_target_names()
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
        if !self.start_delay.is_zero() {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(self.start_delay) => {}
            }
        }
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

    /// Attempts the pending item (target, key) now, due or not: a request that needs it done
    /// (a customer opening the app before their signup ran) does not wait for its backoff.
    /// `true` when it is still pending afterwards.
    pub async fn attempt_now(&self, target: &str, key: &str) -> Result<bool, StoreError> {
        let lease = self.config.lease.as_millis() as i64;
        match self
            .store
            .claim_by_key(target, key, &self.worker_id, lease)
            .await?
        {
            Some(item) => Ok(self.attempt(item).await),
            // Nothing to claim: done already, never queued, or being attempted right now by a
            // worker (ours or a replica's) — in that last case it is still pending.
            None => self.store.is_pending(target, key).await,
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

    async fn deliver(&self, item: &OutboxItem) -> Attempt {
        let delivery: Delivery = match serde_json::from_str(&item.payload) {
            Ok(d) => d,
            Err(e) => {
                return Attempt::Dead {
                    error: format!("unreadable {} delivery: {e}", item.kind),
                };
            }
        };
        match &delivery {
            Delivery::Push { jws } => self.targets.push(&item.target, jws).await,
            Delivery::Event { body } => self.targets.event(&item.dedupe_key, body).await,
            Delivery::Receipt { .. }
            | Delivery::SignupAccount { .. }
            | Delivery::PushFollowUp { .. } => match self.handler.get() {
                Some(handler) => handler.handle(&delivery).await,
                None => Attempt::Retry {
                    after: None,
                    error: "not ready".into(),
                },
            },
        }
    }

    /// Returns whether the item waits for another attempt.
    async fn attempt(&self, item: OutboxItem) -> bool {
        let outcome = self.deliver(&item).await;
        let retrying = matches!(outcome, Attempt::Retry { .. });
        metrics::counter!("roku_bridge_deliveries_total", "target" => item.target.clone(), "kind" => item.kind.as_str(), "outcome" => outcome.label())
            .increment(1);
        let settled = match outcome {
            Attempt::Delivered => {
                tracing::info!(
                    id = item.id,
                    target = item.target,
                    kind = %item.kind,
                    "delivered"
                );
                self.store.mark_delivered(item.id, &self.worker_id).await
            }
            Attempt::Retry { after, error } => {
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
            Attempt::Dead { error } => {
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
