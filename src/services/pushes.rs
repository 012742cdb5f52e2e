//! Roku Pay push notifications: verify, store with everything the acknowledgement promises,
//! then apply the push's follow-ups.
//!
//! Roku resends anything not answered 200 and never resends what was, so the 200 goes out only
//! once the push is durable together with all it still owes: a relay delivery per target, the
//! subscription state it moves to, an Instant Signup account to create, and a follow-up item
//! for the rest (the account link learnt from a receipt of the same transaction, the email hash
//! for Instant Signup eligibility, add-on revocations and their `entitlement.revoked` events).
//! The outbox applies that follow-up idempotently, so a crash right after the ack loses
//! nothing. Only memory is touched after the ack: waking a confirmation waiting on this
//! transaction (the follow-up drops the stale cached answers once it has written).
//!
//! A push verified with Roku's test key set (the dashboard's test URL and "send test
//! notification") is acknowledged with its `responseKey` and stored marked as test, and that
//! is all: it moves no subscription, links, grants or revokes nothing, creates no account, and
//! is relayed only when the provider is a sandbox (a production provider would act on it).

use std::sync::Arc;

use serde_json::Value;

use super::{
    entitlements::Entitlements,
    error::{ServiceError, ServiceResult},
    payments::Payments,
    replicas::invalidate_everywhere,
};
use crate::{
    config::{ACCOUNTS_TARGET, FOLLOW_UPS_TARGET},
    domain::catalog::orphaned_addons,
    domain::{
        signup::SignupAccount,
        subscription::{Subscription, SubscriptionState, ends_a_plan, is_purchase},
        time::EpochMs,
    },
    outbox::{Attempt, Delivery, Outbox},
    reload::LiveConfig,
    roku::{
        events::{
            INVALIDATE_KEYS_MESSAGE_TYPE, PUSH_MESSAGE_TYPE, PushEvent, decode_message,
            parse_event, response_key_in,
        },
        isu::email_hash,
        jws::{KeySet, PushAuthError, PushVerifier},
    },
    store::{NewDelivery, NewPush, Store, StoreError, batch::PushWriter, pushes::PushRecord},
};

/// What the push URL answers: 200 with this body (the event's `responseKey`, or empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub response_key: String,
}

/// A push whose signature checked out, not yet stored.
pub struct Verified {
    token: String,
    claims: Value,
    /// Production or Roku's test key set: a test push is stored, acknowledged and nothing more.
    key_set: KeySet,
}

/// Built once at startup from its collaborators (hence the public fields: no constructor to
/// restate them).
pub struct Pushes {
    pub verifier: Arc<PushVerifier>,
    pub writer: PushWriter,
    pub store: Store,
    pub outbox: Arc<Outbox>,
    pub payments: Arc<Payments>,
    pub entitlements: Arc<Entitlements>,
    pub live: LiveConfig,
    /// The relay targets every push is owed to.
    pub push_targets: Vec<String>,
    /// Relay test pushes to the push targets too: for a sandbox provider only (a test push
    /// reaching a production provider could grant or revoke real access).
    pub relay_test_pushes: bool,
}

impl Pushes {
    /// Verifies and stores one push; `Ok` means Roku may be told 200.
    pub async fn receive(&self, body: &[u8]) -> ServiceResult<Ack> {
        let verified = self.verify(body).await?;
        self.accept(verified).await
    }

    /// The signature check alone: what may be done before the push is given a slot.
    pub async fn verify(&self, body: &[u8]) -> ServiceResult<Verified> {
        let token = std::str::from_utf8(body)
            .map(str::trim)
            .map_err(|_| ServiceError::PushRefused("not UTF-8"))?;
        let verified = self.verifier.verify_push(token).await.map_err(|e| {
            let reason = e.reason();
            metrics::counter!("roku_bridge_pushes_total", "outcome" => "rejected", "reason" => reason, "key_set" => "")
                .increment(1);
            match e {
                PushAuthError::KeysUnavailable(detail) => {
                    tracing::warn!(reason = detail, "push not verifiable: Roku's keys unavailable");
                    ServiceError::KeysUnavailable
                }
                other => {
                    tracing::warn!(error = %other, "push refused");
                    ServiceError::PushRefused(reason)
                }
            }
        })?;
        Ok(Verified {
            token: token.to_string(),
            claims: verified.claims,
            key_set: verified.key_set,
        })
    }

    /// Stores (or acts on) a push that verified; `Ok` means Roku may be told 200.
    pub async fn accept(&self, verified: Verified) -> ServiceResult<Ack> {
        let Verified {
            token,
            claims,
            key_set,
        } = verified;
        let token = token.as_str();
        let message_type = claims["x-Roku-message-type"].as_str().unwrap_or_default();
        if message_type == INVALIDATE_KEYS_MESSAGE_TYPE {
            self.verifier.invalidate().await;
            tracing::info!("Roku asked to drop its public keys; they will be refetched");
            return Ok(Ack {
                response_key: String::new(),
            });
        }
        let event_json = claims["x-Roku-message"]
            .as_str()
            .and_then(|m| decode_message(m).ok());
        let event = event_json.as_ref().and_then(|v| parse_event(v).ok());
        let response_key = match &event_json {
            Some(v) => v["responseKey"].as_str().map(str::to_string),
            None => claims["x-Roku-message"].as_str().and_then(response_key_in),
        }
        .unwrap_or_default();
        if message_type != PUSH_MESSAGE_TYPE {
            // Dashboard test messages carry any type the publisher typed: acknowledged, not kept.
            tracing::info!(
                message_type,
                key_set = key_set.label(),
                "non-billing message acknowledged and ignored"
            );
            return Ok(Ack { response_key });
        }
        // The signature is unique per signed message: the dedupe key of last resort.
        let message_key = claims["x-Roku-message-key"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| token.rsplit('.').next().unwrap_or(token).to_string());
        let record = if key_set.is_test() {
            self.plan_test(
                token,
                message_type,
                message_key,
                event_json.as_ref(),
                event.as_ref(),
            )
        } else {
            self.plan(
                token,
                message_type,
                message_key,
                event_json.as_ref(),
                event.as_ref(),
            )
        };
        let transaction_type = record.push.transaction_type.clone();
        let stored = self.writer.record(record).await?;
        match stored {
            Some(push_id) => {
                tracing::info!(
                    push_id,
                    transaction_type = transaction_type.as_deref().unwrap_or("unreadable"),
                    key_set = key_set.label(),
                    "push stored"
                );
                metrics::counter!("roku_bridge_pushes_total", "outcome" => "stored", "reason" => "", "key_set" => key_set.label())
                    .increment(1);
                self.outbox.wake();
                if key_set == KeySet::Production
                    && let Some(event) = &event
                    && let Some(tid) = event.transaction_id.as_deref()
                    && is_purchase(&event.transaction_type)
                {
                    self.payments.wake(tid);
                }
            }
            None => {
                metrics::counter!("roku_bridge_pushes_total", "outcome" => "duplicate", "reason" => "", "key_set" => key_set.label())
                    .increment(1);
                tracing::info!("duplicate push acknowledged")
            }
        }
        Ok(Ack { response_key })
    }

    /// The exact JWS, owed to every push target, in order per Roku customer.
    fn relays(&self, token: &str, message_key: &str, rcid: &Option<String>) -> Vec<NewDelivery> {
        let relay = Delivery::Push {
            jws: token.to_string(),
        };
        self.push_targets
            .iter()
            .map(|target| relay.to(target, message_key, rcid.clone()))
            .collect()
    }

    /// Everything one push writes, in the one transaction that stores it.
    fn plan(
        &self,
        token: &str,
        message_type: &str,
        message_key: String,
        event_json: Option<&Value>,
        event: Option<&PushEvent>,
    ) -> PushRecord {
        let rcid = event.and_then(|e| e.customer_id.clone());
        let mut deliveries = self.relays(token, &message_key, &rcid);
        // An Instant Signup sale owes the customer an account: created by the outbox, so it
        // survives a crash and is retried while the provider is down.
        if let Some(account) = event.and_then(SignupAccount::from_push) {
            let key = account.roku_customer_id.clone();
            deliveries.push(Delivery::SignupAccount { account }.to(
                ACCOUNTS_TARGET,
                key,
                rcid.clone(),
            ));
        }
        if let (Some(json), Some(_)) = (event_json, &rcid) {
            deliveries.push(
                Delivery::PushFollowUp {
                    event: json.clone(),
                }
                .to(FOLLOW_UPS_TARGET, message_key.clone(), rcid.clone()),
            );
        }
        PushRecord {
            push: stored_push(token, message_type, message_key, event_json, event, false),
            deliveries,
            subscription: event.and_then(|e| Subscription::from_push(e, EpochMs::now())),
        }
    }

    /// A test push writes itself and nothing else: no subscription change, no follow-up (no
    /// link, revocation or email hash), no signup; relays only towards a sandbox provider.
    fn plan_test(
        &self,
        token: &str,
        message_type: &str,
        message_key: String,
        event_json: Option<&Value>,
        event: Option<&PushEvent>,
    ) -> PushRecord {
        let rcid = event.and_then(|e| e.customer_id.clone());
        let deliveries = if self.relay_test_pushes {
            self.relays(token, &message_key, &rcid)
        } else {
            Vec::new()
        };
        PushRecord {
            push: stored_push(token, message_type, message_key, event_json, event, true),
            deliveries,
            subscription: None,
        }
    }

    /// The outbox's attempt at a push's follow-ups. Every write is idempotent, so an attempt
    /// repeated after a crash or a lost lease changes nothing the first one made.
    pub async fn follow_up(&self, event: &Value) -> Attempt {
        let event = match parse_event(event) {
            Ok(e) => e,
            Err(e) => {
                return Attempt::Dead {
                    error: format!("unreadable event: {e}"),
                };
            }
        };
        match self.apply(&event).await {
            Ok(()) => Attempt::Delivered,
            Err(e) => Attempt::store_retry(e),
        }
    }

    async fn apply(&self, event: &PushEvent) -> Result<(), StoreError> {
        let Some(rcid) = event.customer_id.as_deref() else {
            return Ok(());
        };
        // Any push that names the customer's email feeds Instant Signup eligibility.
        if let Some(email) = event.email.as_deref().filter(|e| e.contains('@')) {
            self.store
                .record_email_hash(&email_hash(email), Some(rcid), None, "push")
                .await?;
        }
        // The customer this Roku account is linked to, or the link learnt from a receipt the
        // bridge already holds for this transaction.
        let mut customer = self.store.account(rcid).await?.map(|a| a.customer_id);
        if customer.is_none()
            && let Some(tid) = event.transaction_id.as_deref()
            && let Some(receipt) = self
                .store
                .receipts_of_purchase(tid)
                .await?
                .into_iter()
                .next()
        {
            customer = if self
                .store
                .link_account(rcid, &receipt.customer_id, None)
                .await?
            {
                Some(receipt.customer_id)
            } else {
                self.store.account(rcid).await?.map(|a| a.customer_id)
            };
        }
        self.revoke_orphaned_addons(event, rcid, customer.as_deref())
            .await?;
        if let Some(customer) = &customer {
            let offers = self.offers_touched(event);
            invalidate_everywhere(&self.store, &self.entitlements, customer, &offers).await;
        }
        Ok(())
    }

    /// The offers whose cached answers a push may have made wrong: the event's own product,
    /// every listed product (a bundle or a plan change may touch offers other than the one
    /// named), a catalog SKU's offers, and on any state change every catalog offer (the other
    /// half of a plan change names another SKU).
    fn offers_touched(&self, event: &PushEvent) -> Vec<String> {
        let live = self.live.load_full();
        let mut offers: Vec<String> = live.mapping.products().map(|p| p.offer_id).collect();
        if let Some(code) = event.product_code.as_deref() {
            if let Ok(offer) = live.mapping.offer_for(code) {
                offers.push(offer);
            }
            if let Some(pairs) = live.catalog.offers_for_sku(code) {
                offers.extend(pairs.into_iter().map(|(_, offer)| offer));
            }
        }
        if !live.catalog.is_empty() && SubscriptionState::after(&event.transaction_type).is_some() {
            offers.extend(
                live.catalog
                    .products()
                    .iter()
                    .flat_map(|p| p.offers.iter().cloned()),
            );
        }
        offers.sort();
        offers.dedup();
        offers
    }

    /// Catalog 2.0: add-ons whose every prerequisite base is gone are revoked, recorded as such,
    /// dropped from the cache and reported to the publisher's webhook.
    async fn revoke_orphaned_addons(
        &self,
        event: &PushEvent,
        rcid: &str,
        customer: Option<&str>,
    ) -> Result<(), StoreError> {
        let live = self.live.load_full();
        let catalog = &live.catalog;
        if catalog.is_empty() || !ends_a_plan(&event.transaction_type) {
            return Ok(());
        }
        let now = EpochMs::now();
        let subs = self.store.subscriptions_of(rcid).await?;
        let held: Vec<&str> = subs
            .iter()
            .filter(|s| s.is_current(now))
            .map(|s| s.product_code.as_str())
            .collect();
        for revoked in orphaned_addons(catalog, &held) {
            tracing::info!(sku = %revoked.sku, product = %revoked.product_id, "add-on revoked: no base left");
            self.store
                .record_subscription(&Subscription {
                    roku_customer_id: rcid.to_string(),
                    product_code: revoked.sku.clone(),
                    state: SubscriptionState::Revoked,
                    expires_at: None,
                    cancelled_at: Some(now),
                    last_transaction_id: event.transaction_id.clone(),
                    last_event_at: event.event_date.map(EpochMs).unwrap_or(now),
                })
                .await?;
            if let (Some(customer), Some(product)) =
                (customer, catalog.product(&revoked.product_id))
            {
                invalidate_everywhere(&self.store, &self.entitlements, customer, &product.offers)
                    .await;
            }
            let id = format!(
                "entitlement.revoked:{rcid}:{}:{}",
                revoked.sku,
                event.transaction_id.as_deref().unwrap_or("-")
            );
            let data = serde_json::json!({
                "rokuCustomerId": rcid,
                "customerId": customer,
                "sku": revoked.sku,
                "productId": revoked.product_id,
                "reason": revoked.reason,
                "transactionId": event.transaction_id,
            });
            self.outbox
                .emit_event(&id, "entitlement.revoked", data, rcid)
                .await?;
        }
        Ok(())
    }
}

/// The push row itself, as Roku sent it and as it was read.
fn stored_push(
    token: &str,
    message_type: &str,
    message_key: String,
    event_json: Option<&Value>,
    event: Option<&PushEvent>,
    test: bool,
) -> NewPush {
    NewPush {
        message_key,
        message_type: message_type.to_string(),
        transaction_type: event.map(|e| e.transaction_type.to_string()),
        transaction_id: event.and_then(|e| e.transaction_id.clone()),
        roku_customer_id: event.and_then(|e| e.customer_id.clone()),
        product_code: event.and_then(|e| e.product_code.clone()),
        raw_jws: token.to_string(),
        event_json: event_json.map(Value::to_string),
        test,
    }
}
