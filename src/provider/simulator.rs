//! An in-process provider, the default in `config/bridge.toml`, so a fresh
//! checkout serves real traffic with no account anywhere. It behaves like Cleeng where the
//! bridge can tell: receipts are accepted at once and granted only after `grant_delay`, so the
//! asynchronous confirmation is visible; duplicate emails and wrong passwords fail the same way.

use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;

use super::{Access, Customer, NewCustomer, Provider, ProviderError, ReceiptForward};
use crate::config::SimulatorConfig;

/// Simulated subscriptions run for a month, like the common monthly plan.
const PERIOD: Duration = Duration::from_secs(30 * 24 * 3600);

pub struct Simulator {
    grant_delay: Duration,
    reject_offers: Vec<String>,
    next_id: AtomicU64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Lower-cased email → customer.
    customers: HashMap<String, SimCustomer>,
    /// (customer id, offer id) → when access starts and when it ends (epoch seconds).
    grants: HashMap<(String, String), (Instant, i64)>,
}

struct SimCustomer {
    id: String,
    email: String,
    password: SecretString,
}

impl Simulator {
    pub fn new(config: &SimulatorConfig) -> Self {
        Self {
            grant_delay: config.grant_delay,
            reject_offers: config.reject_offers.clone(),
            next_id: AtomicU64::new(900_000_001),
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-written (every update is a
        // single insert), so the data is still good after poisoning.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl Provider for Simulator {
    fn name(&self) -> &'static str {
        "simulator"
    }

    async fn login(&self, email: &str, password: &SecretString) -> Result<Customer, ProviderError> {
        let state = self.lock();
        match state.customers.get(&email.to_lowercase()) {
            Some(c) if c.password.expose_secret() == password.expose_secret() => Ok(Customer {
                id: c.id.clone(),
                email: c.email.clone(),
            }),
            _ => Err(ProviderError::WrongCredentials),
        }
    }

    async fn customer_by_email(&self, email: &str) -> Result<Option<Customer>, ProviderError> {
        Ok(self
            .lock()
            .customers
            .get(&email.to_lowercase())
            .map(|c| Customer {
                id: c.id.clone(),
                email: c.email.clone(),
            }))
    }

    async fn register(&self, customer: &NewCustomer) -> Result<Customer, ProviderError> {
        let mut state = self.lock();
        let key = customer.email.to_lowercase();
        if state.customers.contains_key(&key) {
            return Err(ProviderError::CustomerExists);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed).to_string();
        state.customers.insert(
            key,
            SimCustomer {
                id: id.clone(),
                email: customer.email.clone(),
                password: customer.password.clone(),
            },
        );
        Ok(Customer {
            id,
            email: customer.email.clone(),
        })
    }

    async fn submit_receipt(&self, receipt: &ReceiptForward) -> Result<(), ProviderError> {
        if self.reject_offers.iter().any(|o| o == &receipt.offer_id) {
            return Err(ProviderError::Rejected {
                status: 422,
                code: "SIM0001".into(),
                message: format!("offer {} is configured to be rejected", receipt.offer_id),
            });
        }
        let mut state = self.lock();
        let Some(customer) = state.customers.get(&receipt.customer_email.to_lowercase()) else {
            return Err(ProviderError::Rejected {
                status: 404,
                code: "SIM0002".into(),
                message: "no customer with this email".into(),
            });
        };
        let key = (customer.id.clone(), receipt.offer_id.clone());
        let expires = (SystemTime::now() + PERIOD)
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        // A second receipt for the same purchase keeps the first grant time, as a provider
        // deduplicating on purchaseId would.
        state
            .grants
            .entry(key)
            .or_insert((Instant::now() + self.grant_delay, expires));
        Ok(())
    }

    async fn access(&self, customer_id: &str, offer_id: &str) -> Result<Access, ProviderError> {
        let state = self.lock();
        let grant = state
            .grants
            .get(&(customer_id.to_string(), offer_id.to_string()));
        Ok(match grant {
            Some((from, expires)) if Instant::now() >= *from => Access {
                granted: true,
                expires_at: Some(*expires),
            },
            _ => Access {
                granted: false,
                expires_at: None,
            },
        })
    }
}
