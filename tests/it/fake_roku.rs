//! A fake Roku: its own RSA key and JWKS server, signing pushes exactly as Roku does (an RS256
//! JWS whose `x-Roku-message` claim carries the base64 event), and Roku Pay web services
//! answering validate-transaction.

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path},
};

pub const KID: &str = "roku-test-1";
pub const ISSUER: &str = "Roku, Inc. urn:roku:apps:partner-service.roku.com";
pub const ROKU_KEY: &[u8] = include_bytes!("../fixtures/roku-test-key.pem");
pub const WRONG_KEY: &[u8] = include_bytes!("../fixtures/wrong-key.pem");
const JWKS: &str = include_str!("../fixtures/roku-jwks.json");
/// Roku's test key set (`partner-jwks-test.json`): what dashboard test pushes are signed with.
pub const TEST_SET_KID: &str = "roku-testset-1";
pub const TEST_SET_KEY: &[u8] = include_bytes!("../fixtures/roku-testset-key.pem");
const TEST_JWKS: &str = include_str!("../fixtures/roku-jwks-test.json");

pub struct FakeRoku {
    pub server: MockServer,
}

impl FakeRoku {
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/keys/partner-jwks.json"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(JWKS, "application/json"))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/keys/partner-jwks-test.json"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(TEST_JWKS, "application/json"))
            .mount(&server)
            .await;
        Self { server }
    }

    pub fn test_jwks_url(&self) -> String {
        format!("{}/keys/partner-jwks-test.json", self.server.uri())
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/keys/partner-jwks.json", self.server.uri())
    }

    /// TOML pointing the bridge at this fake.
    pub fn config(&self) -> String {
        format!(
            "[roku]\njwks_url = \"{}\"\ntest_jwks_url = \"{}\"\napi_url = \"{}\"\njwks_refetch_interval = \"200ms\"\ntimeout = \"3s\"\n",
            self.jwks_url(),
            self.test_jwks_url(),
            self.server.uri()
        )
    }

    pub async fn jwks_fetches(&self) -> usize {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.url.path() == "/keys/partner-jwks.json")
            .count()
    }
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Claims as Roku builds them: generation time −1 h as `nbf`, +24 h as `exp`.
pub fn claims(event: &Value, message_key: &str) -> Value {
    let message = base64::engine::general_purpose::STANDARD.encode(event.to_string());
    json!({
        "iss": ISSUER,
        "nbf": now() - 3600,
        "exp": now() + 24 * 3600,
        "x-Roku-message": message,
        "x-Roku-message-encoding": "base64-utf8",
        "x-Roku-message-key": message_key,
        "x-Roku-message-type": "roku.rpay.push",
    })
}

pub fn sign_with(claims: &Value, key_pem: &[u8], kid: &str) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_rsa_pem(key_pem).unwrap(),
    )
    .unwrap()
}

/// A push exactly as Roku sends it.
pub fn push(event: &Value, message_key: &str) -> String {
    sign_with(&claims(event, message_key), ROKU_KEY, KID)
}

/// A dashboard test push: the same message, signed with Roku's test key set.
pub fn test_push(event: &Value, message_key: &str) -> String {
    sign_with(&claims(event, message_key), TEST_SET_KEY, TEST_SET_KID)
}

/// A `Sale` event in the shape Roku documents for push notifications.
pub fn sale(transaction_id: &str, rcid: &str, product: &str) -> Value {
    event("Sale", transaction_id, rcid, product)
}

pub fn event(kind: &str, transaction_id: &str, rcid: &str, product: &str) -> Value {
    json!({
        "customerId": rcid,
        "transactionType": kind,
        "transactionId": transaction_id,
        "channelId": "1143791",
        "channelName": "Test Channel",
        "productCode": product,
        "productName": "Premium",
        "price": 4.99,
        "total": 5.39,
        "tax": 0.4,
        "currency": "usd",
        "originalTransactionId": transaction_id,
        "eventDate": iso(now()),
        "expirationDate": iso(now() + 30 * 86400),
        "comments": "New order processed.",
        "responseKey": format!("rk-{transaction_id}"),
        "purchaseChannel": "DEVICE",
        "purchaseContext": "IAP",
        "isFreeTrial": false
    })
}

pub fn iso(secs: i64) -> String {
    humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs as u64),
    )
    .to_string()
}

pub const API_KEY: &str = "ROKU-API-KEY-a1b2c3d4e5f6a7b8c9d0e1f2";

impl FakeRoku {
    /// TOML with Roku Pay web services configured (API key included).
    pub fn config_with_api_key(&self) -> String {
        format!("{}api_key = \"{API_KEY}\"\n", self.config())
    }

    pub fn validate_path(transaction_id: &str) -> String {
        format!("/listen/transaction-service.svc/validate-transaction/{API_KEY}/{transaction_id}")
    }

    /// validate-transaction answers with `body` for this transaction.
    pub async fn answers(&self, transaction_id: &str, template: ResponseTemplate) {
        Mock::given(method("GET"))
            .and(path(Self::validate_path(transaction_id)))
            .and(wiremock::matchers::header("accept", "application/json"))
            .respond_with(template)
            .mount(&self.server)
            .await;
    }

    /// validate-transaction answers 200 with [`validated`] for this transaction.
    pub async fn vouches(&self, transaction_id: &str, rcid: &str, product: &str, entitled: bool) {
        let body = validated(transaction_id, rcid, product, entitled);
        self.answers(
            transaction_id,
            ResponseTemplate::new(200).set_body_json(body),
        )
        .await;
    }

    pub async fn validate_calls(&self) -> usize {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.url.path().contains("validate-transaction"))
            .count()
    }
}

/// Roku's documented validate-transaction answer, for our ids.
pub fn validated(transaction_id: &str, rcid: &str, product: &str, entitled: bool) -> Value {
    json!({
        "errorCode": null, "errorDetails": null, "errorMessage": "", "status": 0,
        "OriginalTransactionId": transaction_id, "amount": 4.99, "cancelled": !entitled,
        "channelId": 251682, "channelName": "Test Channel", "couponCode": null, "currency": "usd",
        "expirationDate": format!("/Date({}000+0000)/", now() + 30 * 86400), "isEntitled": entitled,
        "originalPurchaseDate": format!("/Date({}000+0000)/", now()), "partnerReferenceId": null,
        "purchaseChannel": "device", "purchaseContext": "iap", "productId": product, "productName": "Premium",
        "purchaseDate": format!("/Date({}000+0000)/", now()), "purchaseStatus": "Active", "quantity": 1,
        "rokuCustomerId": rcid, "tax": 0, "total": 5.39, "transactionId": transaction_id
    })
}
