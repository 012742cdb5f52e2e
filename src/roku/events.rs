//! Roku Pay push events: the decoded `x-Roku-message`.
//!
//! Every documented `transactionType` is a variant; anything else is kept as `Unknown` rather
//! than refused, because a push Roku signed must be stored and acknowledged whatever it says
//! (a refused push counts toward Roku's deny list).

use std::fmt;

use base64::{
    Engine,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::wcf::{self, EpochMillis};
use crate::wire::string_or_number;

pub const PUSH_MESSAGE_TYPE: &str = "roku.rpay.push";
pub const INVALIDATE_KEYS_MESSAGE_TYPE: &str = "roku.invalidate_public_keys";

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TransactionType {
    Sale,
    Resubscribe,
    Cancellation,
    Refund,
    Credit,
    GraceInitiated,
    GraceRecovered,
    OnHoldInitiated,
    OnHoldRecovered,
    UpgradeSale,
    UpgradeCancellation,
    DowngradeSale,
    DowngradeCancellation,
    CancellationOfferInitiated,
    CancellationOfferEnded,
    Chargeback,
    ChargebackReversed,
    SecondChargeback,
    Unknown(String),
}

impl TransactionType {
    pub const ALL: [TransactionType; 18] = [
        Self::Sale,
        Self::Resubscribe,
        Self::Cancellation,
        Self::Refund,
        Self::Credit,
        Self::GraceInitiated,
        Self::GraceRecovered,
        Self::OnHoldInitiated,
        Self::OnHoldRecovered,
        Self::UpgradeSale,
        Self::UpgradeCancellation,
        Self::DowngradeSale,
        Self::DowngradeCancellation,
        Self::CancellationOfferInitiated,
        Self::CancellationOfferEnded,
        Self::Chargeback,
        Self::ChargebackReversed,
        Self::SecondChargeback,
    ];

    pub fn as_str(&self) -> &str {
        match self {
            Self::Sale => "Sale",
            Self::Resubscribe => "Resubscribe",
            Self::Cancellation => "Cancellation",
            Self::Refund => "Refund",
            Self::Credit => "Credit",
            Self::GraceInitiated => "GraceInitiated",
            Self::GraceRecovered => "GraceRecovered",
            Self::OnHoldInitiated => "OnHoldInitiated",
            Self::OnHoldRecovered => "OnHoldRecovered",
            Self::UpgradeSale => "UpgradeSale",
            Self::UpgradeCancellation => "UpgradeCancellation",
            Self::DowngradeSale => "DowngradeSale",
            Self::DowngradeCancellation => "DowngradeCancellation",
            Self::CancellationOfferInitiated => "CancellationOfferInitiated",
            Self::CancellationOfferEnded => "CancellationOfferEnded",
            Self::Chargeback => "Chargeback",
            Self::ChargebackReversed => "ChargebackReversed",
            Self::SecondChargeback => "SecondChargeback",
            Self::Unknown(raw) => raw,
        }
    }

    pub fn parse(raw: &str) -> Self {
        match raw {
            // Roku's table spells it "Intiated" and a heading "Initated"; the JSON example
            // uses the right spelling. All three mean the same event.
            "CancellationOfferIntiated" | "CancellationOfferInitated" => {
                Self::CancellationOfferInitiated
            }
            _ => Self::ALL
                .iter()
                .find(|t| t.as_str() == raw)
                .cloned()
                .unwrap_or_else(|| Self::Unknown(raw.to_string())),
        }
    }
}

impl fmt::Display for TransactionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl Serialize for TransactionType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TransactionType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::parse(&String::deserialize(d)?))
    }
}

/// The decoded event. Field names are Roku's, case for case; unknown fields stay in `extra`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushEvent {
    pub transaction_type: TransactionType,
    #[serde(default)]
    pub transaction_id: Option<String>,
    /// The Roku customer id (validate-transaction calls it `rokuCustomerId`).
    #[serde(default, alias = "rokuCustomerId")]
    pub customer_id: Option<String>,
    #[serde(default, deserialize_with = "string_or_number")]
    pub channel_id: Option<String>,
    #[serde(default, alias = "productId")]
    pub product_code: Option<String>,
    #[serde(default, alias = "OriginalTransactionId")]
    pub original_transaction_id: Option<String>,
    #[serde(default, deserialize_with = "wcf::deserialize_opt")]
    pub event_date: Option<EpochMillis>,
    #[serde(default, deserialize_with = "wcf::deserialize_opt")]
    pub expiration_date: Option<EpochMillis>,
    #[serde(default)]
    pub response_key: Option<String>,
    #[serde(default)]
    pub purchase_context: Option<String>,
    #[serde(default)]
    pub purchase_channel: Option<String>,
    #[serde(default)]
    pub is_free_trial: Option<bool>,
    /// Instant Signup Sale pushes, with the customer's consent.
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

impl PushEvent {
    /// `isu` in either field: Roku's own documents swap the two.
    pub fn is_instant_signup(&self) -> bool {
        [&self.purchase_context, &self.purchase_channel]
            .iter()
            .any(|f| f.as_deref().is_some_and(|v| v.eq_ignore_ascii_case("isu")))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("x-Roku-message is not base64")]
    Base64,
    #[error("x-Roku-message is not UTF-8 JSON")]
    Json,
    #[error("the event is not one Roku documents: {0}")]
    Shape(String),
}

const INDIFFERENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);
const STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, INDIFFERENT);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, INDIFFERENT);

/// `x-Roku-message` → JSON. Roku's doc says base64url, its Java sample decodes the standard
/// alphabet: both are accepted, padded or not.
pub fn decode_message(encoded: &str) -> Result<Value, DecodeError> {
    let encoded = encoded.trim();
    let bytes = STANDARD
        .decode(encoded)
        .or_else(|_| URL_SAFE.decode(encoded))
        .map_err(|_| DecodeError::Base64)?;
    serde_json::from_slice(&bytes).map_err(|_| DecodeError::Json)
}

/// The `responseKey` of a message that is not valid JSON (Roku's own examples print curly
/// quotes and stray commas): the acknowledgement still owes Roku its key. `None` when the
/// text names none.
pub fn response_key_in(encoded: &str) -> Option<String> {
    let encoded = encoded.trim();
    let bytes = STANDARD
        .decode(encoded)
        .or_else(|_| URL_SAFE.decode(encoded))
        .ok()?;
    let text = String::from_utf8_lossy(&bytes);
    let after = &text[text.find("responseKey")? + "responseKey".len()..];
    // Past the closing quote (straight or curly), the colon and the opening quote.
    let value = after.trim_start_matches(|c: char| !c.is_ascii_alphanumeric() && c != '\n');
    let key: String = value
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(128)
        .collect();
    (!key.is_empty()).then_some(key)
}

pub fn parse_event(value: &Value) -> Result<PushEvent, DecodeError> {
    PushEvent::deserialize(value).map_err(|e| DecodeError::Shape(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_response_key_of_roku_s_curly_quoted_example_is_still_found() {
        let raw = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/roku-pushes/jwt-page-sale.json"
        ))
        .unwrap();
        let encoded = STANDARD.encode(&raw);
        assert!(decode_message(&encoded).is_err());
        assert_eq!(
            response_key_in(&encoded).as_deref(),
            Some("d4dd12df0c8445afa8860895061e72f9")
        );
        assert_eq!(response_key_in(&STANDARD.encode("{\"a\": 1}")), None);
    }

    /// Roku's push-notification page, "Sale (new purchase)", verbatim.
    const SALE: &str = r#"{
        "customerId": "2df58f54b4f7540ca3aa31ce8bec1fe7", "transactionType": "Sale",
        "transactionId": "abcb0b53015211edb4490a58a9feac0c", "channelId": "1143791",
        "channelName": "1p6d9g0o7k7w9a1m", "productCode": "UQcEYh2fVuKqS6cTuR3X_MonthlySub",
        "productName": "UQcEYh2fVuKqS6cTuR3X_MonthlySub_name", "price": 0.99, "total": 0.99,
        "tax": 0.0, "currency": "usd", "originalTransactionId": "abcb0b53015211edb4490a58a9feac0c",
        "eventDate": "2022-07-11T19:50:18Z", "expirationDate": "2022-08-11T19:50:16Z",
        "comments": "New order processed.", "responseKey": "abcb0b53015211edb4490a58a9feac0c",
        "purchaseChannel": "DEVICE", "purchaseContext": "IAP", "isFreeTrial": false
    }"#;

    #[test]
    fn the_documented_sale_parses() {
        let e = parse_event(&serde_json::from_str(SALE).unwrap()).unwrap();
        assert_eq!(e.transaction_type, TransactionType::Sale);
        assert_eq!(
            e.customer_id.as_deref(),
            Some("2df58f54b4f7540ca3aa31ce8bec1fe7")
        );
        assert_eq!(
            e.product_code.as_deref(),
            Some("UQcEYh2fVuKqS6cTuR3X_MonthlySub")
        );
        assert_eq!(e.event_date, Some(1_657_569_018_000));
        assert_eq!(
            e.response_key.as_deref(),
            Some("abcb0b53015211edb4490a58a9feac0c")
        );
        assert!(!e.is_instant_signup());
        assert_eq!(e.extra["comments"], "New order processed.");
    }

    #[test]
    fn every_documented_type_round_trips_and_misspellings_are_understood() {
        for t in TransactionType::ALL {
            let json = serde_json::to_value(&t).unwrap();
            assert_eq!(serde_json::from_value::<TransactionType>(json).unwrap(), t);
        }
        assert_eq!(
            TransactionType::parse("CancellationOfferIntiated"),
            TransactionType::CancellationOfferInitiated
        );
        let odd = TransactionType::parse("Reversal");
        assert_eq!(odd, TransactionType::Unknown("Reversal".into()));
        assert_eq!(serde_json::to_value(&odd).unwrap(), json!("Reversal"));
    }

    #[test]
    fn the_message_decodes_in_both_alphabets_padded_or_not() {
        // Bytes chosen so the standard and URL-safe encodings differ ('+'/'/' vs '-'/'_').
        let event = json!({"transactionType": "Sale", "note": "\u{fbff}\u{fbff}?>>"});
        let bytes = event.to_string();
        for engine in [
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::STANDARD_NO_PAD,
            base64::engine::general_purpose::URL_SAFE,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ] {
            let encoded = engine.encode(&bytes);
            assert_eq!(decode_message(&encoded).unwrap(), event, "{encoded}");
        }
        assert!(
            base64::engine::general_purpose::STANDARD
                .encode(&bytes)
                .contains(['+', '/'])
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert_eq!(decode_message("%%%"), Err(DecodeError::Base64));
        assert_eq!(decode_message("bm90IGpzb24"), Err(DecodeError::Json));
        assert!(matches!(
            parse_event(&json!({"transactionId": "x"})),
            Err(DecodeError::Shape(_))
        ));
        assert!(matches!(
            parse_event(&json!("text")),
            Err(DecodeError::Shape(_))
        ));
        assert!(matches!(
            parse_event(&json!({"transactionType": 5})),
            Err(DecodeError::Shape(_))
        ));
    }

    #[test]
    fn instant_signup_is_recognised_in_either_field_and_case() {
        let e = parse_event(
            &json!({"transactionType": "Sale", "purchaseChannel": "isu", "email": "a@b.c"}),
        )
        .unwrap();
        assert!(e.is_instant_signup());
        assert_eq!(e.email.as_deref(), Some("a@b.c"));
    }

    /// Every decoded push Roku publishes (the valid originals and the corrected twins), read
    /// as the bridge reads a verified push.
    #[test]
    fn every_published_push_event_parses_with_its_documented_type() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/roku-pushes");
        let mut seen = std::collections::HashSet::new();
        let mut files = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            // The JWT page's header, claims and key-set sketches are not events.
            let sketch = name.starts_with("jwt-page-") && !name.starts_with("jwt-page-sale");
            if !name.ends_with(".json") || sketch {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let Ok(value) = serde_json::from_str::<Value>(&text) else {
                // Roku's broken originals each have a corrected twin beside them.
                let twin = path.with_extension("fixed.json");
                assert!(twin.exists(), "{name} is not JSON and has no twin");
                continue;
            };
            let event = parse_event(&value).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                !matches!(event.transaction_type, TransactionType::Unknown(_)),
                "{name}: {}",
                event.transaction_type
            );
            assert!(event.product_code.is_some(), "{name}");
            assert!(event.event_date.is_some(), "{name}: eventDate unread");
            seen.insert(event.transaction_type);
            files += 1;
        }
        assert!(files >= 25, "{files}");
        for t in TransactionType::ALL {
            assert!(seen.contains(&t), "no published example of {t}");
        }
        let isu: Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/isu/sale-with-account-info.json"
        ))
        .unwrap();
        let isu = parse_event(&isu).unwrap();
        assert!(isu.is_instant_signup());
        assert_eq!(
            isu.email.as_deref(),
            Some("aavella551+1657569447@gmail.com")
        );
    }
}
