//! Receipts: claim, check with Roku, forward, confirm. The only writer of receipt state.
//!
//! Cleeng answers a receipt with 200 long before it has validated it, so "granted" can only be
//! learnt by asking for access until it turns true. Each receipt key has one [`Receipt`]: one
//! claim (by one customer), one forward to the provider, and at most one confirmation worker at
//! a time in this process. Requests never do the work themselves; they start the worker if none
//! runs and wait on its state, so 100 concurrent posts of a purchase cause one forward and one
//! poll loop, and a client that hangs up does not cancel the confirmation others wait for.
//!
//! Across replicas the store decides: a round forwards and polls only while this process holds
//! the receipt's lease (a conditional UPDATE on its row), renewed while it works and handed
//! back when it ends. A replica that finds the lease held follows the store until the owner's
//! outcome is there, and answers from it; one that finds it run out (its owner was killed)
//! takes it over. So one forward per receipt, whichever replicas the device's posts reach.

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
    replicas::grant_everywhere,
};
use crate::{
    config::{PROVIDER_TARGET, PaymentConfig},
    domain::{
        ids::{OfferId, PurchaseId, ReceiptKey, canonical_id},
        receipt::{Outcome, Phase, ReceiptState, Step},
        time::EpochMs,
    },
    outbox::{Attempt, Delivery, Outbox},
    provider::{Customer, Order, Provider, ProviderError, ReceiptForward, Reported},
    reload::LiveConfig,
    roku::{
        client::RokuClient,
        price::Price,
        transaction::{ProductKind, ValidatedTransaction, Validity},
    },
    store::{Store, StoreError, StoredReceipt},
};

/// Quick retries of a forward that met a 5xx or a timeout, before answering 503.
const FORWARD_RETRIES: usize = 2;
const FORWARD_RETRY_DELAY: Duration = Duration::from_millis(200);
/// How often a replica waiting on another's round looks at the store for its outcome.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(100);

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
    /// How long a replica holds a receipt without renewing; past it, another takes over.
    pub lease: Duration,
}

impl PollPolicy {
    pub fn from_config(c: &PaymentConfig) -> Self {
        Self {
            timeout: c.confirm_timeout,
            initial: c.poll_initial_interval,
            max: c.poll_max_interval,
            lease: c.lease,
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
    /// A number or the ChannelStore's localized text, as sent; absent on some v2 items.
    pub amount: Option<Price>,
    pub total: Option<Price>,
    pub qty: u32,
    /// What the channel says was bought (`type` / `productType`), for Roku's validity rule.
    pub kind: ProductKind,
    /// The paying Roku account, as the device reported it (DoOrder v2).
    pub roku_customer_id: Option<String>,
    pub name: Option<String>,
    /// On a plan change, the SKU it replaced.
    pub replaced_code: Option<String>,
}

impl PurchaseLine {
    fn product_type(&self) -> Option<&'static str> {
        match self.kind {
            ProductKind::Subscription => Some("subscription"),
            ProductKind::OneTime => Some("one-time"),
            ProductKind::Unknown => None,
        }
    }
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

/// Built once at startup from its collaborators (hence the public fields: no constructor to
/// restate them); `live` starts empty.
pub struct Payments {
    /// The receipts this process is confirming, for single flight. The store holds the claim
    /// and the outcome; this map is rebuilt from it on demand.
    pub live: Mutex<HashMap<String, Arc<Receipt>>>,
    pub store: Store,
    pub provider: Arc<dyn Provider>,
    pub entitlements: Arc<Entitlements>,
    pub outbox: Arc<Outbox>,
    /// The mapping and the catalog, as the last reload left them.
    pub catalog: LiveConfig,
    pub roku: Option<Arc<RokuClient>>,
    /// `roku.validate_receipts`: check each new purchase with Roku (when `roku` is set).
    pub validate_receipts: bool,
    pub policy: PollPolicy,
    /// This process's name on the receipt leases it holds (unique per process).
    pub owner: String,
}

impl Payments {
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
        let checked = if known {
            None
        } else {
            self.validate_with_roku(&line).await?
        };
        let (order, reported) = priced_order(&line, checked.as_ref());
        // Roku's word on who paid beats the device's; the device's alone may only fill a gap.
        let roku_rcid = checked.as_ref().and_then(|tx| tx.roku_customer_id.clone());
        if let (Some(roku), Some(device)) = (&roku_rcid, &line.roku_customer_id)
            && canonical_id(roku) != canonical_id(device)
        {
            tracing::warn!(
                purchase_id = %line.purchase_id,
                "rokuCustomerId from the device is not the one Roku names; Roku's is used"
            );
        }
        // One link rule on every path: a Roku customer linked to one account is never
        // silently moved to another (its purchases sign that account in).
        if let Some(rcid) = &roku_rcid
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
                order: order.clone(),
                ip_address: ip_address.map(str::to_string),
                reported: Some(Box::new(reported.clone())),
            };
            receipts.push(self.claim(&customer.id, key_of(offer), forward).await?);
        }
        let link = match (roku_rcid, line.roku_customer_id.clone()) {
            (Some(rcid), _) => Some((rcid, true)),
            (None, Some(rcid)) if !known => Some((rcid, false)),
            _ => None,
        };
        if let Some((rcid, verified)) = link {
            // The Roku account that paid is this customer's: later pushes for it find them.
            let linked = async {
                let taken = if verified {
                    // Checked above; another account may have taken it meanwhile, and keeps it.
                    !self
                        .store
                        .link_account(&rcid, &customer.id, Some(&customer.email))
                        .await?
                } else {
                    // Unverified, it never moves a link another customer holds.
                    !self
                        .store
                        .link_account_if_absent(&rcid, &customer.id, Some(&customer.email))
                        .await?
                };
                if !taken {
                    for receipt in &receipts {
                        self.store
                            .set_receipt_roku_customer(&receipt.key, &rcid)
                            .await?;
                    }
                }
                Ok::<_, StoreError>(())
            };
            if let Err(e) = linked.await {
                tracing::warn!(error = %e, "account link not recorded");
            }
        }
        Ok(receipts)
    }

    /// Checks the transaction with Roku when Roku credentials are configured, and returns
    /// Roku's answer. The device is never trusted on its own word. Validity follows the
    /// product's kind: the channel's `type`, else the catalog's option type for this SKU.
    async fn validate_with_roku(
        &self,
        line: &PurchaseLine,
    ) -> ServiceResult<Option<ValidatedTransaction>> {
        let Some(roku) = self.roku.as_ref().filter(|_| self.validate_receipts) else {
            return Ok(None);
        };
        let tx = roku.validate_transaction(line.purchase_id.as_str()).await?;
        let kind = match line.kind {
            ProductKind::Unknown => self
                .catalog
                .load()
                .catalog
                .option(&line.code)
                .map_or(ProductKind::Unknown, |o| {
                    ProductKind::from_roku_type(o.kind.as_str())
                }),
            known => known,
        };
        // A negative amount is a refund's answer, whatever the kind's rule says.
        if tx.amount.is_some_and(|a| a < 0.0) || tx.total.is_some_and(|t| t < 0.0) {
            return Err(ServiceError::InvalidReceipt(
                "Roku says this purchase was refunded.".into(),
            ));
        }
        match tx.validity(kind) {
            Validity::Valid => {}
            Validity::Pending => {
                tracing::info!(purchase_id = %line.purchase_id, "pending downgrade accepted");
            }
            Validity::Invalid(reason) => {
                return Err(ServiceError::InvalidReceipt(format!(
                    "Roku says this purchase is {reason}."
                )));
            }
        }
        if let Some(product) = &tx.product_id
            && product != &line.code
        {
            return Err(ServiceError::InvalidReceipt(
                "Roku says this purchase is for another product.".into(),
            ));
        }
        Ok(Some(tx))
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
        let deadline = Instant::now() + wait;
        let joined: Vec<bool> = receipts
            .iter()
            .map(|r| !self.ensure_confirming(r))
            .collect();
        let mut phases = join_all(receipts.iter().map(|r| self.wait(r, wait))).await;
        // A round already running when the request came (the POST's, say) may end unsettled
        // long before this request's `wait` does: the rest of the wait gets a round of its
        // own. Once only, and never after a round this request started, so a request costs
        // the provider at most one round beyond the one it found.
        let rejoin = phases
            .iter()
            .zip(&joined)
            .any(|(phase, joined)| *joined && *phase == Phase::Pending);
        if rejoin && Instant::now() < deadline {
            for receipt in receipts {
                self.ensure_confirming(receipt);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            phases = join_all(receipts.iter().map(|r| self.wait(r, left))).await;
        }
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

    /// Starts a confirmation round unless one is running or the outcome is final; says
    /// whether it started one.
    fn ensure_confirming(self: &Arc<Self>, receipt: &Arc<Receipt>) -> bool {
        {
            let mut running = receipt.running.lock().unwrap_or_else(|p| p.into_inner());
            if *running || receipt.phase.borrow().is_final() {
                return false;
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
            let outcome = this.round(&receipt).await;
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
        true
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

    fn lease_end(&self) -> EpochMs {
        EpochMs(EpochMs::now().0 + self.policy.lease.as_millis() as i64)
    }

    /// One confirmation round: the work itself while this replica holds the receipt's lease,
    /// or, while another replica holds it, following the store until its outcome is there
    /// (or this round's time is up).
    async fn round(&self, receipt: &Receipt) -> Phase {
        let deadline = Instant::now() + self.policy.timeout;
        loop {
            match self
                .store
                .lease_receipt(&receipt.key, &self.owner, self.lease_end())
                .await
            {
                Ok(true) => {
                    if let Some(phase) = self.owned(receipt).await {
                        return phase;
                    }
                    // Taken over meanwhile: the new owner's outcome is what counts.
                }
                Ok(false) => {}
                Err(e) => return store_down(&receipt.key, &e),
            }
            // Not leased to us: settled, queued for the relay, or another replica's round.
            let stored = match self.store.receipt(&receipt.key).await {
                Ok(Some(stored)) => stored,
                Ok(None) => {
                    return store_down(
                        &receipt.key,
                        &StoreError::Unavailable("claimed receipt vanished".into()),
                    );
                }
                Err(e) => return store_down(&receipt.key, &e),
            };
            match stored.state {
                ReceiptState::Granted | ReceiptState::Rejected | ReceiptState::Queued => {
                    return Phase::of(stored.state, stored.outcome.as_ref());
                }
                ReceiptState::Claimed | ReceiptState::Forwarded => {}
            }
            if Instant::now() >= deadline {
                return Phase::Pending;
            }
            tokio::select! {
                _ = tokio::time::sleep(FOLLOW_INTERVAL) => {}
                _ = receipt.wake.notified() => {}
            }
        }
    }

    /// The round's work under the lease, renewed every third of its length; `None` when the
    /// lease was lost (renewals failed past its expiry and another replica took it), in which
    /// case the work is dropped where it stands: a forward cut off here is one the provider
    /// dedupes on purchaseId.
    async fn owned(&self, receipt: &Receipt) -> Option<Phase> {
        let phase = tokio::select! {
            phase = self.confirm(receipt) => Some(phase),
            () = self.keep_lease(&receipt.key) => {
                tracing::warn!(purchase = %receipt.key, "receipt lease lost to another replica");
                None
            }
        };
        if phase.is_some()
            && let Err(e) = self.store.release_receipt(&receipt.key, &self.owner).await
        {
            // Not handed back: it runs out by itself, and the next round waits that long.
            tracing::warn!(purchase = %receipt.key, error = %e, "receipt lease not released");
        }
        phase
    }

    /// Renews the lease until it is lost; never returns while it is held.
    async fn keep_lease(&self, key: &ReceiptKey) {
        let mut held_until = Instant::now() + self.policy.lease;
        loop {
            tokio::time::sleep(self.policy.lease / 3).await;
            match self
                .store
                .renew_receipt_lease(key, &self.owner, self.lease_end())
                .await
            {
                Ok(true) => held_until = Instant::now() + self.policy.lease,
                Ok(false) => return,
                // The store may be back before the lease runs out; past that, another replica
                // may have taken it, so the work stops as if it had.
                Err(e) => {
                    tracing::warn!(purchase = %key, error = %e, "receipt lease not renewed");
                    if Instant::now() >= held_until {
                        return;
                    }
                }
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
                    // Every replica's cache first: a device told "granted" by this answer
                    // must not be told "no" by the replica its next check reaches.
                    grant_everywhere(
                        &self.store,
                        &self.entitlements,
                        &receipt.customer_id,
                        receipt.offer_id(),
                        access,
                    )
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

/// The order the provider is sent: Roku's amount, total and quantity when its answer is at hand
/// (the device's are only what the device says), else the device's as numbers. A disagreement
/// is logged, prices only.
fn priced_order(line: &PurchaseLine, roku: Option<&ValidatedTransaction>) -> (Order, Reported) {
    let device_amount = line.amount.as_ref().map_or(0.0, Price::as_f64);
    let device_total = line.total.as_ref().map_or(0.0, Price::as_f64);
    let roku_qty = roku
        .and_then(|tx| tx.extra.get("quantity"))
        .and_then(serde_json::Value::as_u64)
        .and_then(|q| u32::try_from(q).ok())
        .filter(|q| *q > 0);
    let amount = roku.and_then(|tx| tx.amount).unwrap_or(device_amount);
    let total = roku.and_then(|tx| tx.total).unwrap_or(device_total);
    let qty = roku_qty.unwrap_or(line.qty);
    let differs = |device: Option<&Price>, roku: Option<f64>| match (device, roku) {
        (Some(d), Some(r)) => (d.as_f64() - r).abs() > 0.000_001,
        _ => false,
    };
    if differs(line.amount.as_ref(), roku.and_then(|tx| tx.amount))
        || differs(line.total.as_ref(), roku.and_then(|tx| tx.total))
        || roku_qty.is_some_and(|q| q != line.qty)
    {
        tracing::warn!(
            purchase_id = %line.purchase_id,
            code = %line.code,
            device_amount = line.amount.as_ref().map(Price::original),
            device_total = line.total.as_ref().map(Price::original),
            device_qty = line.qty,
            roku_amount = amount,
            roku_total = total,
            roku_qty = qty,
            "device and Roku disagree on the purchase; Roku's figures are forwarded"
        );
    }
    let currency = line
        .amount
        .as_ref()
        .or(line.total.as_ref())
        .and_then(Price::currency)
        .map(str::to_string)
        .or_else(|| {
            roku.and_then(|tx| tx.extra.get("currency"))
                .and_then(serde_json::Value::as_str)
                .map(str::to_ascii_uppercase)
        });
    let order = Order {
        amount,
        code: line.code.clone(),
        purchase_id: line.purchase_id.to_string(),
        qty,
        total,
    };
    let reported = Reported {
        amount: line.amount.as_ref().map(|p| p.original().to_string()),
        total: line.total.as_ref().map(|p| p.original().to_string()),
        currency,
        product_type: line.product_type().map(str::to_string),
        name: line.name.clone(),
        replaced_sku: line.replaced_code.clone(),
        roku_customer_id: line.roku_customer_id.clone(),
        priced_by: roku
            .filter(|tx| tx.amount.is_some() || tx.total.is_some())
            .map(|_| "roku".to_string()),
    };
    (order, reported)
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

    fn line(amount: &str, total: &str, qty: u32) -> PurchaseLine {
        PurchaseLine {
            purchase_id: PurchaseId::parse("34210b52-c666-11f0-95ed-7e5be645437d").unwrap(),
            code: "TVOD-Buy".into(),
            amount: Some(Price::parse(amount).unwrap()),
            total: Some(Price::parse(total).unwrap()),
            qty,
            kind: ProductKind::OneTime,
            roku_customer_id: None,
            name: None,
            replaced_code: None,
        }
    }

    #[test]
    fn the_device_s_localized_prices_are_forwarded_as_numbers_and_kept_as_text() {
        let (order, reported) = priced_order(&line("4,99 €", "5,39 €", 1), None);
        assert_eq!((order.amount, order.total, order.qty), (4.99, 5.39, 1));
        assert_eq!(reported.amount.as_deref(), Some("4,99 €"));
        assert_eq!(reported.currency.as_deref(), Some("EUR"));
        assert_eq!(reported.product_type.as_deref(), Some("one-time"));
        assert_eq!(reported.priced_by, None);
    }

    #[test]
    fn roku_s_figures_win_over_the_device_s() {
        let tx = crate::roku::transaction::parse_validate_response(
            br#"{"status": 0, "errorMessage": "", "amount": 2.99, "total": 3.24,
                 "quantity": 2, "currency": "usd", "isEntitled": false}"#,
        )
        .unwrap();
        let (order, reported) = priced_order(&line("$0.99", "$0.99", 1), Some(&tx));
        assert_eq!((order.amount, order.total, order.qty), (2.99, 3.24, 2));
        // `$` names several currencies; Roku's answer says which.
        assert_eq!(reported.currency.as_deref(), Some("USD"));
        assert_eq!(reported.total.as_deref(), Some("$0.99"));
        assert_eq!(reported.priced_by.as_deref(), Some("roku"));
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
            lease: Duration::from_secs(10),
        };
        // At once, 0.25, 0.75 (+0.5), then the final check at 1 s.
        assert_eq!(p.max_polls(), 4);
    }
}
