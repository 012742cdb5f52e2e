//! Cleeng's publisher API, as its documentation describes it: receipts, access checks,
//! registration, login and the push relay.
//!
//! Publisher calls (receipt, access) carry `X-Publisher-Token`; MediaStore calls (register,
//! login) need no token and get none, so the secret travels only where Cleeng requires it.
//! Cleeng reports errors as `{"errors": [...]}`, as `{"code", "message"}`, or both; we surface
//! its code either way.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Method, RequestBuilder, StatusCode, header};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::{Access, Customer, NewCustomer, Provider, ProviderError, ReceiptForward};
use crate::{
    config::{CleengUrls, ProviderConfig},
    outbound::url_with_segments,
};

/// Longest provider message we pass on; Cleeng's are one sentence, anything longer is noise.
const MAX_MESSAGE: usize = 200;

pub struct Cleeng {
    http: reqwest::Client,
    urls: CleengUrls,
    publisher_id: String,
    publisher_token: SecretString,
    locale: String,
    country: String,
    currency: String,
}

impl Cleeng {
    pub fn new(config: &ProviderConfig) -> anyhow::Result<Self> {
        let publisher_token = config
            .publisher_token
            .clone()
            .ok_or_else(|| anyhow::anyhow!("provider.publisher_token is required for cleeng"))?;
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("roku-bridge/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            urls: config.cleeng_urls(),
            publisher_id: config.publisher_id.clone().unwrap_or_default(),
            publisher_token,
            locale: config.locale.clone(),
            country: config.country.clone(),
            currency: config.currency.clone(),
        })
    }

    fn request(&self, method: Method, url: String) -> RequestBuilder {
        self.http
            .request(method, url)
            .header(header::ACCEPT, "application/json")
    }

    fn publisher_request(&self, method: Method, url: String) -> RequestBuilder {
        let mut token = header::HeaderValue::from_str(self.publisher_token.expose_secret())
            .unwrap_or_else(|_| header::HeaderValue::from_static(""));
        // Marked sensitive so that hyper's and reqwest's debug output never print it.
        token.set_sensitive(true);
        self.request(method, url).header("X-Publisher-Token", token)
    }

    async fn send(
        &self,
        builder: RequestBuilder,
        op: &'static str,
    ) -> Result<(StatusCode, Value), ProviderError> {
        let response = builder.send().await.map_err(|e| {
            // reqwest's Display can include the URL; ours hold no secret, but we keep the
            // message to the kind of failure anyway.
            let kind = crate::outbound::failure_kind(&e);
            tracing::warn!(op, error.kind = kind, "cleeng call failed");
            ProviderError::unavailable(format!("cleeng {op}: {kind}"))
        })?;
        let status = response.status();
        let retry_after = crate::outbound::retry_after(response.headers());
        let body = response.bytes().await.map_err(|_| {
            ProviderError::unavailable(format!("cleeng {op}: response body cut short"))
        })?;
        let value: Value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body).unwrap_or(Value::Null)
        };
        tracing::debug!(op, status = status.as_u16(), "cleeng answered");
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            return Err(ProviderError::Unavailable {
                reason: format!("cleeng {op}: HTTP {}", status.as_u16()),
                retry_after,
            });
        }
        Ok((status, value))
    }
}

#[async_trait]
impl Provider for Cleeng {
    fn name(&self) -> &'static str {
        "cleeng"
    }

    async fn login(&self, email: &str, password: &SecretString) -> Result<Customer, ProviderError> {
        let body = json!({
            "email": email,
            "password": password.expose_secret(),
            "publisherId": self.publisher_id,
        });
        let url = format!("{}/auths", self.urls.mediastore);
        let (status, value) = self
            .send(self.request(Method::POST, url).json(&body), "login")
            .await?;
        if status.is_success() {
            return customer_from(&value, email, "login");
        }
        let (code, message) = self.error_of(&value, status);
        match code.as_str() {
            "USER0001" | "USER0003" => Err(ProviderError::WrongCredentials),
            _ if status == StatusCode::UNAUTHORIZED => Err(ProviderError::WrongCredentials),
            _ => Err(rejected(status, code, message)),
        }
    }

    async fn register(&self, customer: &NewCustomer) -> Result<Customer, ProviderError> {
        let mut body = json!({
            "email": customer.email,
            "password": customer.password.expose_secret(),
            "publisherId": self.publisher_id,
            "locale": self.locale,
            "country": self.country,
            "currency": self.currency,
        });
        if let Some(first) = &customer.first_name {
            body["firstName"] = json!(first);
        }
        if let Some(last) = &customer.last_name {
            body["lastName"] = json!(last);
        }
        let url = format!("{}/customers", self.urls.mediastore);
        let (status, value) = self
            .send(self.request(Method::POST, url).json(&body), "register")
            .await?;
        if status.is_success() {
            return customer_from(&value, &customer.email, "register");
        }
        let (code, message) = self.error_of(&value, status);
        if code == "USER0002" {
            return Err(ProviderError::CustomerExists);
        }
        Err(rejected(status, code, message))
    }

    async fn submit_receipt(&self, receipt: &ReceiptForward) -> Result<(), ProviderError> {
        let url = format!("{}/roku/payment", self.urls.receipt);
        let (status, value) = self
            .send(
                self.publisher_request(Method::POST, url)
                    .json(&receipt.contract_body()),
                "receipt",
            )
            .await?;
        if status.is_success() {
            return Ok(());
        }
        let (code, message) = self.error_of(&value, status);
        Err(rejected(status, code, message))
    }

    async fn access(&self, customer_id: &str, offer_id: &str) -> Result<Access, ProviderError> {
        let url = url_with_segments(
            &self.urls.core,
            &[
                "3.1",
                "entitlements",
                "customer_id",
                customer_id,
                "offer_id",
                offer_id,
            ],
        )
        .map_err(|_| ProviderError::Rejected {
            status: 400,
            code: "invalid_id".into(),
            message: "an id that cannot go in a URL path".into(),
        })?;
        let (status, value) = self
            .send(self.publisher_request(Method::GET, url), "access")
            .await?;
        if !status.is_success() {
            let (code, message) = self.error_of(&value, status);
            return Err(rejected(status, code, message));
        }
        // Both shapes are seen: the fields at the top level or under `responseData`.
        let data = match value.get("responseData") {
            Some(inner) if inner.is_object() => inner,
            _ => &value,
        };
        let granted = data
            .get("accessGranted")
            .and_then(Value::as_bool)
            .ok_or_else(|| {
                ProviderError::unavailable("cleeng access: no accessGranted in answer")
            })?;
        let expires_at = data.get("expiresAt").and_then(|v| match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        });
        Ok(Access {
            granted,
            expires_at,
        })
    }
}

impl Cleeng {
    /// Cleeng's error, with every secret of ours that it could quote (the publisher token
    /// travels in a header Cleeng may echo) replaced: the text goes on to devices.
    fn error_of(&self, value: &Value, status: StatusCode) -> (String, String) {
        error_of(value, status, self.publisher_token.expose_secret())
    }
}

/// Longest provider error code passed on; Cleeng's are short identifiers.
const MAX_CODE: usize = 40;

fn cap(mut text: String, max: usize) -> String {
    if text.len() > max {
        let cut = (0..=max)
            .rev()
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(0);
        text.truncate(cut);
    }
    text
}

fn rejected(status: StatusCode, code: String, message: String) -> ProviderError {
    ProviderError::Rejected {
        status: status.as_u16(),
        code,
        message,
    }
}

fn customer_from(value: &Value, email: &str, op: &str) -> Result<Customer, ProviderError> {
    let data = value.get("responseData").unwrap_or(value);
    let id = match data.get("customerId") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => {
            return Err(ProviderError::unavailable(format!(
                "cleeng {op}: no customerId in answer"
            )));
        }
    };
    Ok(Customer {
        id,
        email: email.to_string(),
    })
}

/// Cleeng's error code and message from either error format, `secret` replaced wherever it is
/// quoted (before any cut, so no part of it survives), capped in length.
fn error_of(value: &Value, status: StatusCode, secret: &str) -> (String, String) {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let mut code = text(value.get("code"));
    let mut message = text(value.get("message"));
    if let Some(first) = value
        .get("errors")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        match first {
            Value::String(s) => message = message.or_else(|| Some(s.clone())),
            Value::Object(_) => {
                code = code.or_else(|| text(first.get("code")));
                message = message.or_else(|| text(first.get("message")));
            }
            _ => {}
        }
    }
    let code = code.unwrap_or_else(|| format!("HTTP{}", status.as_u16()));
    let mut message = message.unwrap_or_else(|| {
        status
            .canonical_reason()
            .unwrap_or("provider error")
            .to_string()
    });
    // Control characters would let a provider forge lines in whoever displays the text.
    message.retain(|c| !c.is_control());
    let redact = |text: String| {
        if secret.is_empty() {
            text
        } else {
            text.replace(secret, "***")
        }
    };
    (
        cap(redact(code), MAX_CODE),
        cap(redact(message), MAX_MESSAGE),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_error_formats_give_the_code() {
        let s = StatusCode::UNPROCESSABLE_ENTITY;
        let (c, m) = error_of(
            &json!({"code": "USER0002", "message": "Customer already exists"}),
            s,
            "",
        );
        assert_eq!(
            (c.as_str(), m.as_str()),
            ("USER0002", "Customer already exists")
        );
        let (c, m) = error_of(
            &json!({"responseData": null, "errors": ["Invalid offer"]}),
            s,
            "",
        );
        assert_eq!((c.as_str(), m.as_str()), ("HTTP422", "Invalid offer"));
        let (c, _) = error_of(
            &json!({"errors": [{"code": "REQ0001", "message": "bad"}]}),
            s,
            "",
        );
        assert_eq!(c, "REQ0001");
        let (c, m) = error_of(&Value::Null, StatusCode::BAD_REQUEST, "");
        assert_eq!((c.as_str(), m.as_str()), ("HTTP400", "Bad Request"));
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let long = "é".repeat(300);
        let (_, m) = error_of(&json!({"message": long}), StatusCode::BAD_REQUEST, "");
        assert!(m.len() <= MAX_MESSAGE);
    }

    #[test]
    fn our_secret_never_survives_in_a_provider_message() {
        let secret = "pt-secret-0123456789";
        let quoted = format!("{}token {secret} is not valid", "x".repeat(185));
        let (_, m) = error_of(
            &json!({"message": quoted, "code": secret}),
            StatusCode::UNPROCESSABLE_ENTITY,
            secret,
        );
        assert!(!m.contains("pt-secret"), "{m}");
        assert!(m.len() <= MAX_MESSAGE);
        let (c, m) = error_of(
            &json!({"code": secret, "message": "a\nforged line"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            secret,
        );
        assert_eq!((c.as_str(), m.as_str()), ("***", "aforged line"));
    }

    #[test]
    fn customer_id_may_be_a_number() {
        let c = customer_from(
            &json!({"responseData": {"customerId": 123456}}),
            "a@b.c",
            "t",
        )
        .unwrap();
        assert_eq!(c.id, "123456");
    }
}
