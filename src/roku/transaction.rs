//! validate-transaction's answer (`reference/roku-pay.md` §1.3, §1.9–1.10), read defensively:
//! it comes from a WCF service (mixed casing, `/Date(…)/` dates, `channelId` as a number or a
//! string, `status` 0 or `"Success"`), and the open-source validators that read it naively are
//! the bugs listed in `entitlement-providers.md` §4.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::wcf::{self, EpochMillis};
use crate::wire::string_or_number;

/// Longest transaction id Roku documents.
pub const MAX_TRANSACTION_ID: usize = 1024;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TransactionError {
    #[error("Roku's answer is not JSON it documents")]
    Malformed,
    /// `status` not success, or a non-empty `errorMessage`.
    #[error("Roku says the transaction is not valid: {0}")]
    Failed(String),
}

/// The fields the bridge relies on; the rest of the answer is kept in `extra`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidatedTransaction {
    #[serde(default, deserialize_with = "lenient_status")]
    pub status: Option<i64>,
    #[serde(default)]
    pub error_message: Option<String>,
    #[serde(default, deserialize_with = "string_or_number")]
    pub error_code: Option<String>,
    #[serde(default)]
    pub transaction_id: Option<String>,
    #[serde(
        default,
        rename = "OriginalTransactionId",
        alias = "originalTransactionId"
    )]
    pub original_transaction_id: Option<String>,
    #[serde(default)]
    pub roku_customer_id: Option<String>,
    /// The product code (the device's `code`, the push's `productCode`).
    #[serde(default)]
    pub product_id: Option<String>,
    #[serde(default, deserialize_with = "string_or_number")]
    pub channel_id: Option<String>,
    #[serde(default)]
    pub is_entitled: Option<bool>,
    #[serde(default)]
    pub cancelled: Option<bool>,
    #[serde(default, deserialize_with = "wcf::deserialize_opt")]
    pub expiration_date: Option<EpochMillis>,
    #[serde(default, deserialize_with = "wcf::deserialize_opt")]
    pub purchase_date: Option<EpochMillis>,
    #[serde(default, deserialize_with = "wcf::deserialize_opt")]
    pub original_purchase_date: Option<EpochMillis>,
    #[serde(default)]
    pub purchase_status: Option<String>,
    #[serde(default)]
    pub purchase_type: Option<String>,
    #[serde(default)]
    pub purchase_context: Option<String>,
    #[serde(default)]
    pub purchase_channel: Option<String>,
    #[serde(default, deserialize_with = "lenient_number")]
    pub amount: Option<f64>,
    #[serde(default, deserialize_with = "lenient_number")]
    pub total: Option<f64>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

/// What the bridge may do with a validated transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Entitled,
    NotEntitled(&'static str),
}

impl ValidatedTransaction {
    /// Roku's `isEntitled` is the answer; `cancelled` alone is not a no (a cancelled
    /// subscription stays entitled to the end of its period), and dates are never the
    /// deciding field, for the same grace-period reason as the provider's `expiresAt`.
    pub fn verdict(&self) -> Verdict {
        match self.is_entitled {
            Some(true) => Verdict::Entitled,
            Some(false) if self.cancelled == Some(true) => {
                Verdict::NotEntitled("cancelled and no longer entitled")
            }
            Some(false) => Verdict::NotEntitled("not entitled"),
            // An answer without isEntitled is from an older API; a successful one means valid.
            None if self.cancelled == Some(true) => Verdict::NotEntitled("cancelled"),
            None => Verdict::Entitled,
        }
    }

    pub fn is_isu(&self) -> bool {
        [&self.purchase_context, &self.purchase_channel]
            .iter()
            .any(|f| f.as_deref().is_some_and(|v| v.eq_ignore_ascii_case("isu")))
    }
}

pub fn parse_validate_response(body: &[u8]) -> Result<ValidatedTransaction, TransactionError> {
    let tx: ValidatedTransaction =
        serde_json::from_slice(body).map_err(|_| TransactionError::Malformed)?;
    let message = tx.error_message.as_deref().unwrap_or("").trim();
    match tx.status {
        Some(0) | None if message.is_empty() => Ok(tx),
        _ => Err(TransactionError::Failed(if message.is_empty() {
            format!("status {}", tx.status.unwrap_or(-1))
        } else {
            message.chars().take(200).collect()
        })),
    }
}

/// Roku transaction ids are opaque (hex, dashed GUIDs, 32 alphanumerics, short numbers): only
/// what keeps the URL path intact is checked.
pub fn is_valid_transaction_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_TRANSACTION_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'/' | b'?' | b'#' | b'%' | b'\\'))
}

fn lenient_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

/// `0` in JSON, `"Success"` in XML-minded clients; anything else is a failure code.
fn lenient_status<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => Some(n.as_i64().unwrap_or(1)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("success") => Some(0),
        Some(Value::String(s)) => Some(s.trim().parse().unwrap_or(1)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// reference §1.3, the newest JSON example, verbatim.
    const DOC_EXAMPLE: &str = r#"{
        "errorCode": null, "errorDetails": null, "errorMessage": "", "status": 0,
        "OriginalTransactionId": "6ccb40bfbd7a49dc9846aafd01890ba5",
        "amount": 1.99, "cancelled": false, "channelId": 251682, "channelName": "Pizzazzy Channel",
        "couponCode": null, "currency": "usd", "expirationDate": "/Date(1581033062000+0000)/",
        "isEntitled": true, "originalPurchaseDate": "/Date(1573084262000+0000)/",
        "partnerReferenceId": null, "purchaseChannel": "web", "purchaseContext": "isu",
        "productId": "CAkJPWMldSfISZbs2sE3_MonthlySub", "productName": "Pizzazzy",
        "purchaseDate": "/Date(1573084394000+0000)/", "purchaseStatus": "Active", "quantity": 1,
        "rokuCustomerId": "1f529e15cb15426be4ddb23a4933be2d", "tax": 0, "total": 0.13,
        "transactionId": "09898ffd7d2a49bc94b1aafd0189a6fa"
    }"#;

    #[test]
    fn the_documented_example_parses() {
        let tx = parse_validate_response(DOC_EXAMPLE.as_bytes()).unwrap();
        assert_eq!(tx.verdict(), Verdict::Entitled);
        assert_eq!(
            tx.roku_customer_id.as_deref(),
            Some("1f529e15cb15426be4ddb23a4933be2d")
        );
        assert_eq!(
            tx.product_id.as_deref(),
            Some("CAkJPWMldSfISZbs2sE3_MonthlySub")
        );
        assert_eq!(
            tx.original_transaction_id.as_deref(),
            Some("6ccb40bfbd7a49dc9846aafd01890ba5")
        );
        assert_eq!(tx.channel_id.as_deref(), Some("251682"));
        assert_eq!(tx.expiration_date, Some(1_581_033_062_000));
        assert_eq!(tx.total, Some(0.13));
        assert!(tx.is_isu());
        assert_eq!(tx.extra["channelName"], "Pizzazzy Channel");
    }

    #[test]
    fn older_shapes_channel_id_as_string_and_dashed_ids() {
        let body = r#"{"status": 0, "errorMessage": null, "channelId": "251682", "transactionId": "09898ffd-7d2a-49bc-94b1-aafd0189a6fa",
                       "isEntitled": true, "expirationDate": null, "creditsApplied": null, "amount": "1.99"}"#;
        let tx = parse_validate_response(body.as_bytes()).unwrap();
        assert_eq!(tx.channel_id.as_deref(), Some("251682"));
        assert_eq!(tx.expiration_date, None);
        assert_eq!(tx.amount, Some(1.99));
        assert!(!tx.is_isu());
    }

    #[test]
    fn failures_are_errors_with_roku_s_message() {
        let unauthorized = r#"{"status": 1, "errorMessage": "UNAUTHORIZED", "errorCode": 401}"#;
        assert_eq!(
            parse_validate_response(unauthorized.as_bytes()).unwrap_err(),
            TransactionError::Failed("UNAUTHORIZED".into())
        );
        let invalid = r#"{"status": "Failure", "errorMessage": "Invalid transaction ID"}"#;
        assert!(
            matches!(parse_validate_response(invalid.as_bytes()), Err(TransactionError::Failed(m)) if m == "Invalid transaction ID")
        );
        assert_eq!(
            parse_validate_response(br#"{"status": 1, "errorMessage": ""}"#).unwrap_err(),
            TransactionError::Failed("status 1".into())
        );
        assert_eq!(
            parse_validate_response(b"<result/>").unwrap_err(),
            TransactionError::Malformed
        );
        assert_eq!(
            parse_validate_response(b"").unwrap_err(),
            TransactionError::Malformed
        );
    }

    #[test]
    fn entitlement_follows_is_entitled_not_cancelled() {
        let v = |body: &str| parse_validate_response(body.as_bytes()).unwrap().verdict();
        assert_eq!(
            v(r#"{"status":0,"isEntitled":true,"cancelled":true}"#),
            Verdict::Entitled
        );
        assert!(matches!(
            v(r#"{"status":0,"isEntitled":false,"cancelled":true}"#),
            Verdict::NotEntitled(_)
        ));
        assert!(matches!(
            v(r#"{"status":0,"isEntitled":false}"#),
            Verdict::NotEntitled(_)
        ));
        assert_eq!(v(r#"{"status":"Success"}"#), Verdict::Entitled);
    }

    #[test]
    fn transaction_ids_are_opaque_but_path_safe() {
        for ok in [
            "09898ffd7d2a49bc94b1aafd0189a6fa",
            "09898ffd-7d2a-49bc-94b1-aafd0189a6fa",
            "579743",
            "wci8ef2snsq0z6micdcye2an6m6k5wq2",
        ] {
            assert!(is_valid_transaction_id(ok), "{ok}");
        }
        assert!(is_valid_transaction_id(&"a".repeat(1024)));
        for bad in ["", "a/b", "a?b", "a#b", "a%2F", "a b", "a\nb", "é"] {
            assert!(!is_valid_transaction_id(bad), "{bad:?}");
        }
        assert!(!is_valid_transaction_id(&"a".repeat(1025)));
    }
}
