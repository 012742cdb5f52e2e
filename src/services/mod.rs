//! The use cases. Handlers parse a request, call one of these, and render what it returns;
//! the outbox worker calls them for the deliveries that are their business. Each service owns
//! its writes: payments is the only writer of receipt state, pushes of what a push changes,
//! signup of Instant Signup accounts, sessions of refresh tokens and password sign-ins.

use std::sync::Arc;

use async_trait::async_trait;

pub mod entitlements;
pub mod error;
pub mod holdings;
pub mod payments;
pub mod pushes;
pub mod replicas;
pub mod sessions;
pub mod signup;

pub use error::{ServiceError, ServiceResult};

use crate::outbox::{Attempt, Delivery, Handler};

/// The deliveries the outbox hands back to the services.
pub struct Deliveries {
    pub payments: Arc<payments::Payments>,
    pub pushes: Arc<pushes::Pushes>,
    pub signup: Arc<signup::Signup>,
}

#[async_trait]
impl Handler for Deliveries {
    async fn handle(&self, delivery: &Delivery) -> Attempt {
        match delivery {
            Delivery::Receipt { key, forward } => self.payments.redeliver(key, forward).await,
            Delivery::SignupAccount { account } => self.signup.create_account(account).await,
            Delivery::PushFollowUp { event } => self.pushes.follow_up(event).await,
            // The worker delivers these itself; one reaching a service is a wiring mistake.
            Delivery::Push { .. } | Delivery::Event { .. } => Attempt::Dead {
                error: "an HTTP delivery was handed to the services".into(),
            },
        }
    }
}
