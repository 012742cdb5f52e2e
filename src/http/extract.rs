//! Extractors whose failures are already API errors: a JSON body and a device session.

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request},
    http::{StatusCode, header, request::Parts},
};
use serde::de::DeserializeOwned;

use super::{AppState, error::ApiError};
use crate::{
    session::{AccessClaims, TokenError},
    wire::bearer_token,
};

/// The client's address: the peer, or the forwarded client behind a trusted proxy (see
/// `Limits::client_ip`). `None` only when the server gave no peer address.
pub struct ClientSource(pub Option<std::net::IpAddr>);

impl FromRequestParts<AppState> for ClientSource {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip());
        let forwarded = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok());
        Ok(Self(peer.map(|peer| {
            state.live.load().limits.client_ip(peer, forwarded)
        })))
    }
}

/// A JSON body. Any content type is accepted: Roku's `roUrlTransfer` sends none unless told to.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "The request body is larger than this endpoint accepts.",
                )
            } else {
                ApiError::bad_request("unreadable_body", "The request body could not be read.")
            }
        })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Parses JSON with messages that name the field but never echo a value (a password given as a
/// number would otherwise come back in serde's "invalid type: integer `…`").
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                ApiError::bad_request(
                    "malformed_json",
                    format!(
                        "The body is not valid JSON (line {}, column {}).",
                        inner.line(),
                        inner.column()
                    ),
                )
            }
            _ => {
                let text = inner.to_string();
                let message = if let Some(field) = text.strip_prefix("missing field ") {
                    let field = field.split(" at line").next().unwrap_or(field);
                    if path == "." {
                        format!("Missing field {field}.")
                    } else {
                        format!("Missing field {field} in `{path}`.")
                    }
                } else {
                    let expected = text
                        .split(", expected ")
                        .nth(1)
                        .and_then(|t| t.split(" at line").next())
                        .map(|t| format!(": expected {t}"))
                        .unwrap_or_default();
                    format!("Field `{path}` has the wrong type or value{expected}.")
                };
                ApiError::bad_request("invalid_request", message)
            }
        }
    })
}

/// The caller's verified access token.
pub struct DeviceSession(pub std::sync::Arc<AccessClaims>);

impl FromRequestParts<AppState> for DeviceSession {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "missing_token",
                    "Send the access token as `Authorization: Bearer <token>`.",
                )
            })?;
        let token = match bearer_token(header) {
            Some(token) => token,
            None => {
                return Err(ApiError::unauthorized(
                    "missing_token",
                    "Send the access token as `Authorization: Bearer <token>`.",
                ));
            }
        };
        let claims = state.sessions.verify_access(token).map_err(|e| match e {
            TokenError::Expired => ApiError::unauthorized(
                "token_expired",
                "The access token has expired; refresh the session.",
            ),
            _ => ApiError::unauthorized("invalid_token", "The access token is not valid."),
        })?;
        tracing::Span::current().record("customer_id", claims.sub.as_str());
        state.live.load().limits.check_customer(&claims.sub)?;
        Ok(DeviceSession(claims))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Login {
        email: String,
        password: String,
        inner: Option<Inner>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Inner {
        qty: u32,
    }

    #[test]
    fn wrong_type_names_the_field_but_not_the_value() {
        let e = parse_json::<Login>(br#"{"email":"a@b.c","password":987654321}"#).unwrap_err();
        assert_eq!(e.code, "invalid_request");
        assert!(e.message.contains("`password`"), "{}", e.message);
        assert!(!e.message.contains("987654321"), "{}", e.message);
    }

    #[test]
    fn nested_paths_and_missing_fields() {
        let e = parse_json::<Login>(br#"{"email":"a","password":"p","inner":{"qty":"x"}}"#)
            .unwrap_err();
        assert!(e.message.contains("`inner.qty`"), "{}", e.message);
        let e = parse_json::<Login>(br#"{"email":"a"}"#).unwrap_err();
        assert_eq!(e.message, "Missing field `password`.");
    }

    #[test]
    fn syntax_errors_are_malformed_json() {
        let e = parse_json::<Login>(b"{\"email\": ").unwrap_err();
        assert_eq!(e.code, "malformed_json");
        let e = parse_json::<Login>(b"\xff\xfe").unwrap_err();
        assert_eq!(e.code, "malformed_json");
    }
}
