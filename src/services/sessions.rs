//! Signing in: with a password at the provider, by registering, by rotating a refresh token,
//! or with a purchase Roku vouches for (account creation on app launch). Every path ends in a
//! token pair whose refresh half the store remembers, so it rotates once and can be revoked.

use std::sync::Arc;

use super::{
    entitlements::Entitlements,
    error::{ServiceError, ServiceResult},
    replicas::forget_customer_everywhere,
};
use crate::{
    config::ACCOUNTS_TARGET,
    domain::ids::PurchaseId,
    outbox::Worker,
    provider::{Customer, NewCustomer, Provider, ProviderError, generated_password},
    roku::{client::RokuClient, isu::email_hash, transaction::Verdict},
    session::{Sessions, TokenError, refresh_hash},
    store::{Store, refresh_tokens::Taken},
};

/// A signed-in device's tokens.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
    pub customer: Customer,
}

pub struct SignIn {
    tokens: Arc<Sessions>,
    store: Store,
    provider: Arc<dyn Provider>,
    roku: Option<Arc<RokuClient>>,
    outbox: Arc<Worker>,
    entitlements: Arc<Entitlements>,
}

impl SignIn {
    pub fn new(
        tokens: Arc<Sessions>,
        store: Store,
        provider: Arc<dyn Provider>,
        roku: Option<Arc<RokuClient>>,
        outbox: Arc<Worker>,
        entitlements: Arc<Entitlements>,
    ) -> Self {
        Self {
            tokens,
            store,
            provider,
            roku,
            outbox,
            entitlements,
        }
    }

    /// A new pair for a refresh token; exactly one rotation of a token wins, here or on
    /// another replica.
    pub async fn refresh(&self, refresh_token: &str) -> ServiceResult<SignedIn> {
        let (customer, rcid) = self
            .tokens
            .verify_refresh(refresh_token)
            .map_err(|e| match e {
                TokenError::Expired => ServiceError::RefreshExpired,
                TokenError::Invalid => ServiceError::RefreshInvalid,
            })?;
        match self
            .store
            .take_refresh(&refresh_hash(refresh_token))
            .await?
        {
            Taken::Rotated { family } => self.issue_in(&customer, rcid, family).await,
            Taken::Reused { revoked, .. } => {
                // A rotated token came back: whoever holds it copied it. Both halves of the
                // family stop working; the customer signs in again.
                metrics::counter!("roku_bridge_refresh_reuse_total").increment(1);
                tracing::warn!(
                    customer_id = %customer.id,
                    revoked,
                    "refresh token reused: its family is revoked"
                );
                Err(ServiceError::RefreshUsed)
            }
            Taken::Unknown => Err(ServiceError::RefreshUsed),
        }
    }

    /// Creates the customer at the provider (or logs in with `new` as credentials when
    /// `register` is false); a `purchase_id` alongside links that purchase's Roku customer.
    pub async fn with_password(
        &self,
        new: NewCustomer,
        register: bool,
        purchase_id: Option<&PurchaseId>,
    ) -> ServiceResult<SignedIn> {
        let customer = if register {
            self.provider.register(&new).await.map_err(|e| match e {
                ProviderError::CustomerExists => ServiceError::CustomerExists,
                other => other.into(),
            })?
        } else {
            self.provider
                .login(&new.email, &new.password)
                .await
                .map_err(|e| match e {
                    ProviderError::WrongCredentials => ServiceError::InvalidCredentials,
                    other => other.into(),
                })?
        };
        // Signing in with a purchase links it: the Instant Signup customer who already had an
        // account proves it is theirs with the password.
        let rcid = match purchase_id {
            Some(purchase_id) => Some(self.link_purchase(purchase_id, &customer).await?),
            None => None,
        };
        // The email is known now: Instant Signup eligibility and later pushes can find them.
        if let Err(e) = self
            .store
            .record_email_hash(
                &email_hash(&customer.email),
                rcid.as_deref(),
                Some(&customer.id),
                "session",
            )
            .await
        {
            tracing::warn!(error = %e, "email hash not recorded");
        }
        self.issue(&customer, rcid).await
    }

    /// Account creation on app launch: Roku vouches for the purchase and the link names the
    /// account; without a link, `email` creates one.
    pub async fn from_purchase(
        &self,
        purchase_id: &PurchaseId,
        email: Option<&str>,
    ) -> ServiceResult<SignedIn> {
        let rcid = self.entitled_roku_customer(purchase_id, true).await?;
        let mut linked = self.store.account(&rcid).await?;
        if linked.is_none() {
            // An Instant Signup may be waiting in the outbox for this customer: do it now.
            let pending = self.outbox.attempt_now(ACCOUNTS_TARGET, &rcid).await?;
            linked = self.store.account(&rcid).await?;
            if linked.is_none() && pending {
                return Err(ServiceError::AccountPending);
            }
        }
        if let Some(account) = linked {
            let customer = Customer {
                id: account.customer_id,
                email: account.email.unwrap_or_default(),
            };
            return self.issue(&customer, Some(rcid)).await;
        }
        let Some(email) = email else {
            return Err(ServiceError::AccountNotFound);
        };
        // The customer never types this password: they sign in through the bridge's tokens, and
        // the provider's reset flow gives them one of their own if they want it.
        let new = NewCustomer {
            email: email.to_string(),
            password: generated_password(),
            first_name: None,
            last_name: None,
        };
        let customer = self.provider.register(&new).await.map_err(|e| match e {
            ProviderError::CustomerExists => ServiceError::CustomerExistsForPurchase,
            other => other.into(),
        })?;
        if !self
            .store
            .link_account(&rcid, &customer.id, Some(&customer.email))
            .await?
        {
            return Err(ServiceError::PurchaseLinkedElsewhere);
        }
        if let Err(e) = self
            .store
            .record_email_hash(
                &email_hash(&customer.email),
                Some(&rcid),
                Some(&customer.id),
                "purchase",
            )
            .await
        {
            tracing::warn!(error = %e, "email hash not recorded");
        }
        self.issue(&customer, Some(rcid)).await
    }

    /// Signs the customer out everywhere; the number of refresh tokens that stopped working.
    /// Their cached entitlement answers go too, on every replica: a customer signed out after
    /// an account change is answered from the provider when they come back.
    pub async fn revoke(&self, customer_id: &str) -> ServiceResult<u64> {
        let revoked = self.store.revoke_refresh(customer_id).await?;
        forget_customer_everywhere(&self.store, Some(&self.entitlements), customer_id).await;
        Ok(revoked)
    }

    /// The Roku customer behind an entitled purchase, linked to `customer` unless another
    /// account already holds it.
    async fn link_purchase(
        &self,
        purchase_id: &PurchaseId,
        customer: &Customer,
    ) -> ServiceResult<String> {
        let rcid = self.entitled_roku_customer(purchase_id, false).await?;
        match self.store.account(&rcid).await? {
            Some(account) if account.customer_id != customer.id => {
                Err(ServiceError::PurchaseLinkedElsewhere)
            }
            Some(_) => Ok(rcid),
            None => {
                // Another sign-in may have linked it since the look: the first link stands.
                if self
                    .store
                    .link_account(&rcid, &customer.id, Some(&customer.email))
                    .await?
                {
                    Ok(rcid)
                } else {
                    Err(ServiceError::PurchaseLinkedElsewhere)
                }
            }
        }
    }

    /// Asks Roku about the purchase: it must exist, be entitled and name its customer. An
    /// `anonymous` caller (no password, no token) spends only the anonymous share of Roku's
    /// limit and may get a recent answer again.
    async fn entitled_roku_customer(
        &self,
        purchase_id: &PurchaseId,
        anonymous: bool,
    ) -> ServiceResult<String> {
        let Some(roku) = &self.roku else {
            return Err(ServiceError::RokuNotConfigured);
        };
        let tx = if anonymous {
            roku.validate_anonymous(purchase_id.as_str()).await?
        } else {
            roku.validate_transaction(purchase_id.as_str()).await?
        };
        if let Verdict::NotEntitled(reason) = tx.verdict() {
            return Err(ServiceError::InvalidReceipt(format!(
                "Roku says this purchase is {reason}."
            )));
        }
        tx.roku_customer_id.ok_or(ServiceError::NoRokuCustomer)
    }

    /// Mints the pair of a new sign-in: its refresh token starts a family.
    async fn issue(&self, customer: &Customer, rcid: Option<String>) -> ServiceResult<SignedIn> {
        self.issue_in(customer, rcid, uuid::Uuid::new_v4().simple().to_string())
            .await
    }

    /// Mints the pair and records the refresh token in `family`, so it can be rotated once,
    /// revoked, and its reuse recognised.
    async fn issue_in(
        &self,
        customer: &Customer,
        rcid: Option<String>,
        family: String,
    ) -> ServiceResult<SignedIn> {
        let tokens = self.tokens.issue(customer, rcid);
        self.store
            .save_refresh(
                &refresh_hash(&tokens.refresh_token),
                &customer.id,
                tokens.refresh_expires_at,
                &family,
            )
            .await?;
        Ok(SignedIn {
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            expires_in: tokens.expires_in,
            customer: customer.clone(),
        })
    }
}
