//! Instant Signup: the account a sale through Roku's signup asks for, and who is eligible for
//! the offers at all.

use std::{collections::BTreeSet, sync::Arc};

use crate::{
    domain::{signup::SignupAccount, time::EpochMs},
    outbox::{Attempt, Outbox},
    provider::{Customer, NewCustomer, Provider, ProviderError, generated_password},
    roku::isu::email_hash,
    store::{Store, StoreError},
};

pub struct Signup {
    store: Store,
    provider: Arc<dyn Provider>,
    outbox: Arc<Outbox>,
}

impl Signup {
    pub fn new(store: Store, provider: Arc<dyn Provider>, outbox: Arc<Outbox>) -> Self {
        Self {
            store,
            provider,
            outbox,
        }
    }

    /// A current subscriber by what the bridge knows of this email hash: the subscriptions of
    /// every Roku customer linked to it as the pushes left them, else the operator's imported
    /// list.
    pub async fn is_current_subscriber(&self, hash: &str) -> Result<bool, StoreError> {
        let Some(known) = self.store.email_hash(hash).await? else {
            return Ok(false);
        };
        let mut rcids: BTreeSet<String> = known.roku_customer_id.into_iter().collect();
        if let Some(customer) = &known.customer_id {
            rcids.extend(self.store.roku_customers_of(customer).await?);
        }
        let now = EpochMs::now();
        let mut seen_any = false;
        for rcid in &rcids {
            for sub in self.store.subscriptions_of(rcid).await? {
                seen_any = true;
                if sub.is_current(now) {
                    return Ok(true);
                }
            }
        }
        // Pushes are newer than any import: the imported flag decides only when they are silent.
        Ok(!seen_any && known.imported_subscriber)
    }

    /// The outbox's attempt at an Instant Signup account: created (or found) at the provider
    /// and linked, once per Roku customer — a replayed push, or a customer who opened the app
    /// first, finds the link made.
    pub async fn create_account(&self, account: &SignupAccount) -> Attempt {
        let rcid = &account.roku_customer_id;
        match self.store.account(rcid).await {
            Ok(Some(_)) => return Attempt::Delivered,
            Ok(None) => {}
            Err(e) => return Attempt::store_retry(e),
        }
        let known = match self.store.account_by_email(&account.email).await {
            Ok(known) => known,
            Err(e) => return Attempt::store_retry(e),
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
                                return Attempt::store_retry(e);
                            }
                            return self.emit("customer.exists", account, None).await;
                        }
                        Err(e) => return provider_retry(e),
                    }
                }
                Err(e) => return provider_retry(e),
            }
        };
        let linked = async {
            if !self
                .store
                .link_account(rcid, &customer.id, Some(&account.email))
                .await?
            {
                tracing::warn!(
                    "Instant Signup: Roku customer already linked to another account; kept"
                );
            }
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
            return Attempt::store_retry(e);
        }
        tracing::info!(customer_id = %customer.id, event, "Instant Signup account ready");
        self.emit(event, account, Some(&customer.id)).await
    }

    /// Queues an event for the publisher's webhook, keyed so a retried signup sends it once.
    async fn emit(
        &self,
        event: &str,
        account: &SignupAccount,
        customer_id: Option<&str>,
    ) -> Attempt {
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
            .outbox
            .emit_event(&id, event, data, &account.roku_customer_id)
            .await
        {
            Ok(()) => Attempt::Delivered,
            Err(e) => Attempt::store_retry(e),
        }
    }
}

fn provider_retry(e: ProviderError) -> Attempt {
    match e {
        ProviderError::Unavailable {
            reason,
            retry_after,
        } => Attempt::Retry {
            after: retry_after,
            error: reason,
        },
        other => Attempt::Dead {
            error: other.to_string(),
        },
    }
}
