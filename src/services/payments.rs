//! Receipts: claim, check with Roku, forward, confirm. The only writer of receipt state.
//!
//! Cleeng answers a receipt with 200 long before it has validated it, so "granted" can only be
//! learnt by asking for access until it turns true. Each receipt key has one [`Receipt`]: one
//! claim (by one customer), one forward to the provider, and at most one confirmation worker at
//! a time in this process. Requests never do the work themselves; they start the worker if none
//! runs and wait on its state, so 100 concurrent posts of a purchase cause one forward and one
//! poll loop, and a client that hangs up does not cancel the confirmation others wait for.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use backon::{BackoffBuilder, ExponentialBuilder, Retryable};
use futures_util::future::join_all;
use tokio::{
    sync::{Notify, watch},
    time::Instant,
};

use super::{
    entitlements::Entitlements,
    error::{ServiceError, ServiceResult},
};
use crate::{
    config::{PROVIDER_TARGET, PaymentConfig, RokuConfig},
    domain::{
        ids::{OfferId, PurchaseId, ReceiptKey, canonical_id},
        receipt::{Outcome, Phase, ReceiptState, Step},
    },
    outbox::{Attempt, Delivery, Outbox},
    provider::{Customer, Order, Provider, ProviderError, ReceiptForward},
    reload::LiveConfig,
    roku::{client::RokuClient, transaction::Verdict},
    store::{Store, StoreError, StoredReceipt},
};

/// Quick retries of a forward that met a 5xx or a timeout, before answering 503.
const FORWARD_RETRIES: usize = 2;
const FORWARD_RETRY_DELAY: Duration = Duration::from_millis(200);

/// The claim of one receipt key by one customer, with its confirmation state.
pub struct Receipt {
    pub key: ReceiptKey,
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

    pub fn phase(&self) -> Phase {
        self.phase.borrow().clone()
    }
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

/// One purchase as the device reported it, parsed at the edge.
#[derive(Debug, Clone)]
pub struct PurchaseLine {
    pub purchase_id: PurchaseId,
    /// A Roku product code or a Catalog 2.0 SKU.
    pub code: String,
    pub amount: f64,
    pub total: f64,
    pub qty: u32,
}

/// What a device is told about a purchase (its one receipt, or a bundle's parts).
#[derive(Debug, Clone, PartialEq)]
pub struct PurchaseAnswer {
    pub purchase_id: String,
    pub offer_id: String,
    pub code: String,
    /// Each part's offer and phase, for a bundle.
    pub parts: Vec<(String, Phase)>,
    pub status: PurchaseStatus,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PurchaseStatus {
    /// Every part is granted; the earliest end among them (epoch seconds).
    Granted {
        expires_at: Option<i64>,
    },
    /// Waiting in the outbox for the provider to come back.
    Queued,
    Pending,
}

pub struct Payments {
    /// The receipts this process is confirming, for single flight. The store holds the claim
    /// and the outcome; this map is rebuilt from it on demand.
    live: Mutex<HashMap<String, Arc<Receipt>>>,
    store: Store,
    provider: Arc<dyn Provider>,
    entitlements: Arc<Entitlements>,
    outbox: Arc<Outbox>,
    catalog: LiveConfig,
    roku: Option<Arc<RokuClient>>,
    validate_receipts: bool,
    policy: PollPolicy,
}

impl Payments {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        provider: Arc<dyn Provider>,
        entitlements: Arc<Entitlements>,
        outbox: Arc<Outbox>,
        catalog: LiveConfig,
        roku: Option<Arc<RokuClient>>,
        roku_config: &RokuConfig,
        policy: PollPolicy,
    ) -> Self {
        Self {
            live: Mutex::new(HashMap::new()),
            store,
            provider,
            entitlements,
            outbox,
            catalog,
            roku,
            validate_receipts: roku_config.validate_receipts,
            policy,
        }
    }

    pub fn policy(&self) -> PollPolicy {
        self.policy
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Receipt>>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A device's purchases after DoOrder: each mapped to its offers, checked with Roku once,
    /// claimed once per offer, and confirmed; the answer waits up to `wait`.
    pub async fn submit(
        self: &Arc<Self>,
        customer: &Customer,
        lines: Vec<PurchaseLine>,
        ip_address: Option<String>,
        wait: Duration,
    ) -> ServiceResult<PurchaseAnswer> {
        let mut receipts = Vec::new();
        for line in lines {
            receipts.extend(
                self.claim_line(customer, line, ip_address.as_deref())
                    .await?,
            );
        }
        self.answer(&receipts, wait).await
    }

    /// What this customer's purchase has come to, waiting up to `wait` for a round to settle.
    pub async fn status(
        self: &Arc<Self>,
        customer_id: &str,
        purchase_id: &PurchaseId,
        wait: Duration,
    ) -> ServiceResult<PurchaseAnswer> {
        let receipts = self.receipts_of(customer_id, purchase_id).await?;
        if receipts.is_empty() {
            return Err(ServiceError::UnknownPurchase);
        }
        self.answer(&receipts, wait).await
    }

    /// The offers a product code stands for: a catalog SKU names its products' offers (a
    /// bundle several); otherwise the plain mapping names one.
    fn offers_for(&self, code: &str) -> ServiceResult<Vec<OfferId>> {
        let live = self.catalog.load();
        if let Some(pairs) = live.catalog.offers_for_sku(code) {
            let mut offers: Vec<OfferId> = Vec::new();
            for (_, offer) in pairs {
                let offer = OfferId::new(offer);
                if !offers.contains(&offer) {
                    offers.push(offer);
                }
            }
            return Ok(offers);
        }
        match live.mapping.offer_for(code) {
            Ok(offer) => Ok(vec![OfferId::new(offer)]),
            Err(crate::domain::mapping::Unmapped::Unknown) => Err(ServiceError::UnknownProduct(
                "No provider offer is mapped to this product code.".into(),
            )),
            Err(other) => Err(ServiceError::UnknownProduct(format!("{other}."))),
        }
    }

    async fn claim_line(
        &self,
        customer: &Customer,
        line: PurchaseLine,
        ip_address: Option<&str>,
    ) -> ServiceResult<Vec<Arc<Receipt>>> {
        let offers = self.offers_for(&line.code)?;
        let key_of = |offer: &OfferId| {
            if offers.len() == 1 {
                ReceiptKey::single(line.purchase_id.clone())
            } else {
                ReceiptKey::part(line.purchase_id.clone(), offer.clone())
            }
        };
        // Roku is asked once per purchase: a repeat post of a claim already held needs no second
        // look (and must not spend the 20 req/s Roku allows).
        let known = self.get(&customer.id, &key_of(&offers[0])).await?.is_some();
        let roku_customer_id = if known {
            None
        } else {
            self.validate_with_roku(&line.purchase_id, &line.code)
                .await?
        };
        // One link rule on every path: a Roku customer linked to one account is never
        // silently moved to another (its purchases sign that account in).
        if let Some(rcid) = &roku_customer_id
            && let Some(account) = self.store.account(rcid).await?
            && account.customer_id != customer.id
        {
            return Err(ServiceError::PurchaseLinkedElsewhere);
        }
        // One provider receipt per offer, each claimed and confirmed on its own (idempotent per
        // purchaseId and offer); the answer is granted when all are.
        let mut receipts = Vec::with_capacity(offers.len());
        for offer in &offers {
            let forward = ReceiptForward {
                customer_email: customer.email.clone(),
                offer_id: offer.to_string(),
                order: Order {
                    amount: line.amount,
                    code: line.code.clone(),
                    purchase_id: line.purchase_id.to_string(),
                    qty: line.qty,
                    total: line.total,
                },
                ip_address: ip_address.map(str::to_string),
            };
            receipts.push(self.claim(&customer.id, key_of(offer), forward).await?);
        }
        if let Some(rcid) = roku_customer_id {
            // The Roku account that paid is this customer's: later pushes for it find them.
            let linked = async {
                if !self
                    .store
                    .link_account(&rcid, &customer.id, Some(&customer.email))
                    .await?
                {
                    tracing::warn!("Roku customer linked to another account meanwhile; kept");
                }
                for receipt in &receipts {
                    self.store
                        .set_receipt_roku_customer(&receipt.key, &rcid)
                        .await?;
                }
                Ok::<_, StoreError>(())
            };
            if let Err(e) = linked.await {
                tracing::warn!(error = %e, "account link not recorded");
            }
        }
        Ok(receipts)
    }

    /// Checks the transaction with Roku when Roku credentials are configured; returns the Roku
    /// customer id it belongs to. The device is never trusted on its own word.
    async fn validate_with_roku(
        &self,
        purchase_id: &PurchaseId,
        code: &str,
    ) -> ServiceResult<Option<String>> {
        let Some(roku) = self.roku.as_ref().filter(|_| self.validate_receipts) else {
            return Ok(None);
        };
        let tx = roku.validate_transaction(purchase_id.as_str()).await?;
        if let Verdict::NotEntitled(reason) = tx.verdict() {
            return Err(ServiceError::InvalidReceipt(format!(
                "Roku says this purchase is {reason}."
            )));
        }
        if let Some(product) = &tx.product_id
            && product != code
        {
            return Err(ServiceError::InvalidReceipt(
                "Roku says this purchase is for another product.".into(),
            ));
        }
        Ok(tx.roku_customer_id)
    }

    /// Claims the key for this customer, or returns the claim it already made. The store
    /// decides who was first, so the rule holds across restarts and replicas.
    async fn claim(
        &self,
        customer_id: &str,
        key: ReceiptKey,
        forward: ReceiptForward,
    ) -> ServiceResult<Arc<Receipt>> {
        let existing = self.live().get(&key.stored()).cloned();
        let receipt = match existing {
            Some(r) => r,
            None => {
                let json = serde_json::to_string(&forward).expect("receipt serializes");
                let stored = self.store.claim_receipt(&key, customer_id, &json).await?;
                self.adopt(stored)?
            }
        };
        if receipt.customer_id != customer_id {
            return Err(ServiceError::PurchaseClaimedElsewhere);
        }
        if receipt.forward.offer_id != forward.offer_id
            || receipt.forward.order.code != forward.order.code
        {
            return Err(ServiceError::PurchaseConflict);
        }
        Ok(receipt)
    }

    /// The receipt, if this customer posted it. Another customer's is as good as unknown.
    async fn get(
        &self,
        customer_id: &str,
        key: &ReceiptKey,
    ) -> ServiceResult<Option<Arc<Receipt>>> {
        let existing = self.live().get(&key.stored()).cloned();
        let receipt = match existing {
            Some(r) => r,
            None => match self.store.receipt(key).await? {
                Some(stored) => self.adopt(stored)?,
                None => return Ok(None),
            },
        };
        Ok(Some(receipt).filter(|r| r.customer_id == customer_id))
    }

    /// Every claim of this purchase by this customer: the one receipt, or a bundle's parts.
    async fn receipts_of(
        &self,
        customer_id: &str,
        purchase_id: &PurchaseId,
    ) -> ServiceResult<Vec<Arc<Receipt>>> {
        if let Some(r) = self
            .get(customer_id, &ReceiptKey::single(purchase_id.clone()))
            .await?
        {
            return Ok(vec![r]);
        }
        let mut parts = Vec::new();
        for stored in self
            .store
            .receipts_of_purchase(purchase_id.as_str())
            .await?
        {
            if stored.key.offer.is_some()
                && let Some(r) = self.get(customer_id, &stored.key).await?
            {
                parts.push(r);
            }
        }
        Ok(parts)
    }

    /// A stored receipt as a live one, unless another request made it live meanwhile.
    fn adopt(&self, stored: StoredReceipt) -> Result<Arc<Receipt>, StoreError> {
        let forward: ReceiptForward = serde_json::from_str(&stored.forward_json)
            .map_err(|e| StoreError::Unavailable(format!("stored receipt unreadable: {e}")))?;
        let phase = Phase::of(stored.state, stored.outcome.as_ref());
        let mut live = self.live();
        let receipt = live.entry(stored.key.stored()).or_insert_with(|| {
            Arc::new(Receipt {
                key: stored.key,
                customer_id: stored.customer_id,
                forward,
                running: Mutex::new(false),
                phase: watch::Sender::new(phase),
                wake: Notify::new(),
            })
        });
        Ok(receipt.clone())
    }

    /// The answer for a purchase's claims (one, or a bundle's parts): granted when every part
    /// is, refused when any is, pending otherwise.
    async fn answer(
        self: &Arc<Self>,
        receipts: &[Arc<Receipt>],
        wait: Duration,
    ) -> ServiceResult<PurchaseAnswer> {
        for receipt in receipts {
            self.ensure_confirming(receipt);
        }
        let phases = join_all(receipts.iter().map(|r| self.wait(r, wait))).await;
        let first = &receipts[0];
        if let Some((code, message)) = phases.iter().find_map(|p| match p {
            Phase::Rejected { code, message } => Some((code.clone(), message.clone())),
            _ => None,
        }) {
            return Err(ServiceError::ReceiptRejected { code, message });
        }
        if let Some(retry_after) = phases.iter().find_map(|p| match p {
            Phase::Unavailable { retry_after } => Some(*retry_after),
            _ => None,
        }) {
            return Err(ServiceError::ReceiptUnavailable { retry_after });
        }
        let granted: Vec<Option<i64>> = phases
            .iter()
            .filter_map(|p| match p {
                Phase::Granted { expires_at } => Some(*expires_at),
                _ => None,
            })
            .collect();
        let status = if granted.len() == phases.len() {
            // The earliest end among the parts: what the customer surely has until then.
            PurchaseStatus::Granted {
                expires_at: granted.iter().flatten().min().copied(),
            }
        } else if phases.contains(&Phase::Queued) {
            PurchaseStatus::Queued
        } else {
            PurchaseStatus::Pending
        };
        let parts = if receipts.len() > 1 {
            receipts
                .iter()
                .zip(phases)
                .map(|(r, p)| (r.offer_id().to_string(), p))
                .collect()
        } else {
            Vec::new()
        };
        Ok(PurchaseAnswer {
            purchase_id: first.purchase_id().to_string(),
            offer_id: first.offer_id().to_string(),
            code: first.code().to_string(),
            parts,
            status,
        })
    }

    /// Starts a confirmation round unless one is running or the outcome is final.
    fn ensure_confirming(self: &Arc<Self>, receipt: &Arc<Receipt>) {
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
            let label = outcome.label();
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
                this.live().remove(&receipt.key.stored());
            }
        });
    }

    /// Waits up to `wait` for the current round to settle, and returns the phase then.
    async fn wait(&self, receipt: &Receipt, wait: Duration) -> Phase {
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

    /// A push for this transaction arrived: check access now instead of at the next poll.
    /// Matched in canonical form, since Roku spells one UUID two ways.
    pub fn wake(&self, transaction_id: &str) {
        let wanted = canonical_id(transaction_id);
        for r in self.live().values() {
            if r.key.purchase.canonical() == wanted {
                r.wake.notify_one();
            }
        }
    }

    /// Moves the stored state by `step`; a step the stored state refuses (another writer got
    /// there first) is logged, and the stored state stands.
    async fn advance(&self, key: &ReceiptKey, step: Step, outcome: Option<&Outcome>) {
        match self.store.advance_receipt(key, step, outcome).await {
            Ok(Some(state)) if state != step.target() => {
                tracing::info!(purchase = %key.log_form(), ?step, %state, "receipt already settled elsewhere");
            }
            Ok(_) => {}
            // Not recorded: polling still settles it, and a repeat forward is one the provider
            // dedupes on purchaseId.
            Err(e) => {
                tracing::warn!(purchase = %key.log_form(), ?step, error = %e, "receipt state not recorded")
            }
        }
    }

    async fn confirm(&self, receipt: &Receipt) -> Phase {
        // The store knows what other processes (the relay, another replica) did meanwhile.
        let stored = match self.store.receipt(&receipt.key).await {
            Ok(stored) => stored,
            Err(e) => return store_down(&receipt.key, &e),
        };
        let state = stored.as_ref().map_or(ReceiptState::Claimed, |s| s.state);
        match state {
            ReceiptState::Forwarded => {
                receipt.phase.send_replace(Phase::Confirming);
                return self.poll_access(receipt).await;
            }
            ReceiptState::Queued => return Phase::Queued,
            ReceiptState::Granted | ReceiptState::Rejected => {
                let stored = stored.expect("a settled receipt is stored");
                return Phase::of(stored.state, stored.outcome.as_ref());
            }
            ReceiptState::Claimed => {}
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
                self.advance(&receipt.key, Step::Forwarded, None).await;
                self.poll_access(receipt).await
            }
            Err(ProviderError::Rejected { code, message, .. }) => {
                tracing::info!(purchase = %receipt.key.log_form(), code, "receipt rejected by provider");
                let outcome = Outcome::Rejected {
                    code: code.clone(),
                    message: message.clone(),
                };
                self.advance(&receipt.key, Step::Rejected, Some(&outcome))
                    .await;
                Phase::Rejected { code, message }
            }
            Err(ProviderError::Unavailable { reason, .. }) => {
                tracing::warn!(
                    purchase = %receipt.key.log_form(),
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
        let key = receipt.key.stored();
        let delivery = Delivery::Receipt {
            key: key.clone(),
            forward: receipt.forward.clone(),
        }
        .to(PROVIDER_TARGET, key, Some(receipt.customer_id.clone()));
        let queued = async {
            self.outbox.enqueue(&delivery).await?;
            self.store
                .advance_receipt(&receipt.key, Step::Queued, None)
                .await
        };
        match queued.await {
            Ok(_) => Phase::Queued,
            Err(e) => store_down(&receipt.key, &e),
        }
    }

    /// The outbox's attempt at a queued receipt.
    pub async fn redeliver(&self, key: &str, forward: &ReceiptForward) -> Attempt {
        let key = match ReceiptKey::from_stored(key) {
            Ok(key) => key,
            Err(e) => {
                return Attempt::Dead {
                    error: format!("unreadable receipt key: {e}"),
                };
            }
        };
        match self.provider.submit_receipt(forward).await {
            Ok(()) => match self
                .store
                .advance_receipt(&key, Step::Forwarded, None)
                .await
            {
                Ok(_) => Attempt::Delivered,
                Err(e) => Attempt::Retry {
                    after: None,
                    error: format!("forwarded, but not recorded: {e}"),
                },
            },
            Err(ProviderError::Unavailable {
                reason,
                retry_after,
            }) => Attempt::Retry {
                after: retry_after,
                error: reason,
            },
            Err(ProviderError::Rejected { code, message, .. }) => {
                let outcome = Outcome::Rejected {
                    code: code.clone(),
                    message,
                };
                self.advance(&key, Step::Rejected, Some(&outcome)).await;
                Attempt::Dead {
                    error: format!("provider rejected the receipt: {code}"),
                }
            }
            Err(other) => Attempt::Dead {
                error: other.to_string(),
            },
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
                    let outcome = Outcome::Granted {
                        expires_at: access.expires_at,
                    };
                    self.advance(&receipt.key, Step::Granted, Some(&outcome))
                        .await;
                    tracing::info!(purchase = %receipt.key.log_form(), "payment confirmed");
                    return Phase::Granted {
                        expires_at: access.expires_at,
                    };
                }
                Ok(_) => {}
                // A failed check is not an answer; the next one may succeed within the budget.
                Err(e) => {
                    tracing::debug!(purchase = %receipt.key.log_form(), error = %e, "access check failed")
                }
            }
            if Instant::now() >= deadline {
                return Phase::Pending;
            }
        }
    }
}

fn store_down(key: &ReceiptKey, e: &StoreError) -> Phase {
    tracing::error!(purchase = %key.log_form(), error = %e, "store unavailable");
    Phase::Unavailable {
        retry_after: Duration::from_secs(5),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
