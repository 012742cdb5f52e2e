//! The subscription provider behind the bridge: where customers, receipts and entitlements live.
//!
//! One trait, one adapter per provider. Adapters translate the provider's wire format and error
//! conventions into [`ProviderError`], so that the HTTP layer decides statuses in one place.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use secrecy::SecretString;

use crate::config::{ProviderConfig, ProviderKind};

pub mod cleeng;
pub mod simulator;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub id: String,
    pub email: String,
}

pub struct NewCustomer {
    pub email: String,
    pub password: SecretString,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

/// The receipt as forwarded: Cleeng's `/roku/payment` body, plus what the device reported
/// (kept with the stored receipt, never sent: the provider's contract takes numbers).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptForward {
    pub customer_email: String,
    pub offer_id: String,
    pub order: Order,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported: Option<Box<Reported>>,
}

/// A purchase as the channel reported it, texts exactly as sent (`"$4.99"`, `"4,99 €"`), and
/// whose numbers the forward carries.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reported {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<String>,
    /// ISO 4217, when the price's symbol or Roku's answer names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced_sku: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roku_customer_id: Option<String>,
    /// `roku` when the forward carries validate-transaction's amount, total and quantity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priced_by: Option<String>,
}

impl ReceiptForward {
    /// Exactly the fields of the provider's `/roku/payment` contract.
    pub fn contract_body(&self) -> serde_json::Value {
        let mut body = serde_json::json!({
            "customerEmail": self.customer_email,
            "offerId": self.offer_id,
            "order": self.order,
        });
        if let Some(ip) = &self.ip_address {
            body["ipAddress"] = serde_json::json!(ip);
        }
        body
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub amount: f64,
    pub code: String,
    pub purchase_id: String,
    pub qty: u32,
    pub total: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    pub granted: bool,
    /// Epoch seconds. Informational only: grace periods grant access past it.
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The provider answered and said no (4xx). `code` is its own error code.
    #[error("provider refused the request ({status} {code}): {message}")]
    Rejected {
        status: u16,
        code: String,
        message: String,
    },
    #[error("wrong email or password")]
    WrongCredentials,
    #[error("a customer with this email already exists")]
    CustomerExists,
    /// 5xx, 429, timeout, connection failure, or an answer we could not read: try again later.
    #[error("provider unavailable: {reason}")]
    Unavailable {
        reason: String,
        retry_after: Option<Duration>,
    },
}

impl ProviderError {
    pub fn unavailable(reason: impl Into<String>) -> Self {
        Self::Unavailable {
            reason: reason.into(),
            retry_after: None,
        }
    }

    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}

#[async_trait]
pub trait Provider: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    async fn login(&self, email: &str, password: &SecretString) -> Result<Customer, ProviderError>;
    async fn register(&self, customer: &NewCustomer) -> Result<Customer, ProviderError>;
    /// Accepted means queued at the provider for asynchronous validation, not granted.
    async fn submit_receipt(&self, receipt: &ReceiptForward) -> Result<(), ProviderError>;
    async fn access(&self, customer_id: &str, offer_id: &str) -> Result<Access, ProviderError>;
    /// The customer with this email, for linking an account the provider says already exists.
    /// `None` when the provider has no publisher-side lookup (Cleeng documents none).
    async fn customer_by_email(&self, _email: &str) -> Result<Option<Customer>, ProviderError> {
        Ok(None)
    }
}

/// 32 characters from letters, digits and symbols: more than any provider's password rules ask.
/// For accounts the bridge creates: the customer never types it (they sign in through the
/// bridge's tokens) and the provider's reset flow gives them one of their own.
pub fn generated_password() -> SecretString {
    use rand::Rng;
    const CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789!#$%&*+-=?@_";
    let mut rng = rand::rng();
    let mut password: String = (0..29)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect();
    // One of each class, whatever the draw, for providers that insist.
    password.push_str("a7!");
    SecretString::from(password)
}

pub fn from_config(config: &ProviderConfig) -> anyhow::Result<Arc<dyn Provider>> {
    Ok(match config.kind {
        ProviderKind::Simulator => Arc::new(Metered(simulator::Simulator::new(&config.simulator))),
        ProviderKind::Cleeng => Arc::new(Metered(cleeng::Cleeng::new(config)?)),
    })
}

/// Counts and times every provider call by operation and outcome, whichever the adapter.
pub struct Metered<P>(pub P);

impl<P: Provider> Metered<P> {
    async fn observe<T>(
        &self,
        operation: &'static str,
        call: impl std::future::Future<Output = Result<T, ProviderError>>,
    ) -> Result<T, ProviderError> {
        let started = std::time::Instant::now();
        let result = call.await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(ProviderError::Unavailable { .. }) => "unavailable",
            Err(_) => "refused",
        };
        let labels = [
            ("provider", self.0.name()),
            ("operation", operation),
            ("outcome", outcome),
        ];
        metrics::counter!("roku_bridge_provider_calls_total", &labels).increment(1);
        metrics::histogram!("roku_bridge_provider_call_duration_seconds", &labels)
            .record(started.elapsed().as_secs_f64());
        result
    }
}

#[async_trait]
impl<P: Provider> Provider for Metered<P> {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    async fn login(&self, email: &str, password: &SecretString) -> Result<Customer, ProviderError> {
        self.observe("login", self.0.login(email, password)).await
    }
    async fn register(&self, customer: &NewCustomer) -> Result<Customer, ProviderError> {
        self.observe("register", self.0.register(customer)).await
    }
    async fn submit_receipt(&self, receipt: &ReceiptForward) -> Result<(), ProviderError> {
        self.observe("receipt", self.0.submit_receipt(receipt))
            .await
    }
    async fn access(&self, customer_id: &str, offer_id: &str) -> Result<Access, ProviderError> {
        self.observe("access", self.0.access(customer_id, offer_id))
            .await
    }
    async fn customer_by_email(&self, email: &str) -> Result<Option<Customer>, ProviderError> {
        self.observe("customer_by_email", self.0.customer_by_email(email))
            .await
    }
}
