//! What an Instant Signup sale asks of the bridge: Roku collected the customer's details on the
//! device, and the customer expects to open the app signed in.

use serde::{Deserialize, Serialize};

use crate::roku::events::{PushEvent, TransactionType};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignupAccount {
    pub roku_customer_id: String,
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
}

impl SignupAccount {
    /// `Some` for a `Sale` made through Instant Signup that carries the customer's email.
    pub fn from_push(event: &PushEvent) -> Option<Self> {
        if event.transaction_type != TransactionType::Sale || !event.is_instant_signup() {
            return None;
        }
        let email = event
            .email
            .as_deref()
            .map(str::trim)
            .filter(|e| e.contains('@'))?;
        Some(Self {
            roku_customer_id: event.customer_id.clone()?,
            email: email.to_string(),
            first_name: event.first_name.clone().filter(|n| !n.trim().is_empty()),
            last_name: event.last_name.clone().filter(|n| !n.trim().is_empty()),
            transaction_id: event.transaction_id.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roku::events::parse_event;

    #[test]
    fn only_an_instant_signup_sale_with_an_email_asks_for_an_account() {
        let event = |v: serde_json::Value| parse_event(&v).unwrap();
        let isu = event(serde_json::json!({
            "transactionType": "Sale", "customerId": "rc1", "transactionId": "t1",
            "purchaseContext": "ISU", "email": " ann@example.com ", "firstName": "Ann", "lastName": ""
        }));
        let account = SignupAccount::from_push(&isu).unwrap();
        assert_eq!(account.roku_customer_id, "rc1");
        assert_eq!(account.email, "ann@example.com");
        assert_eq!(account.first_name.as_deref(), Some("Ann"));
        assert_eq!(
            account.last_name, None,
            "blank names are not sent to the provider"
        );

        for not_asking in [
            serde_json::json!({"transactionType": "Sale", "customerId": "rc1", "email": "a@b.c"}),
            serde_json::json!({"transactionType": "Renewal", "customerId": "rc1", "purchaseContext": "isu", "email": "a@b.c"}),
            serde_json::json!({"transactionType": "Sale", "customerId": "rc1", "purchaseContext": "isu"}),
            serde_json::json!({"transactionType": "Sale", "customerId": "rc1", "purchaseContext": "isu", "email": "not-an-email"}),
            serde_json::json!({"transactionType": "Sale", "purchaseChannel": "isu", "email": "a@b.c"}),
        ] {
            assert_eq!(
                SignupAccount::from_push(&event(not_asking.clone())),
                None,
                "{not_asking}"
            );
        }
    }
}
