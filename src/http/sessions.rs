//! `POST /roku/sessions` (DESIGN.md §2.1): log in, register, or rotate a refresh token.

use axum::{Json, extract::State, http::StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppState, error::ApiError, extract::JsonBody, provider_error};
use crate::{
    provider::{Customer, NewCustomer, ProviderError},
    session::TokenError,
};

const MAX_EMAIL: usize = 254;
const MAX_PASSWORD: usize = 1024;
const MAX_NAME: usize = 100;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionRequest {
    email: Option<String>,
    password: Option<SecretString>,
    #[serde(default)]
    register: bool,
    first_name: Option<String>,
    last_name: Option<String>,
    refresh_token: Option<String>,
    purchase_id: Option<String>,
}

pub async fn create(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<SessionRequest>,
) -> Result<Json<Value>, ApiError> {
    if let Some(refresh) = &req.refresh_token {
        let (customer, rcid) = state.sessions.rotate(refresh).map_err(|e| match e {
            TokenError::Expired => ApiError::unauthorized(
                "token_expired",
                "The refresh token has expired; sign in again.",
            ),
            TokenError::Retired => ApiError::unauthorized(
                "invalid_token",
                "The refresh token was already used; sign in again.",
            ),
            TokenError::Invalid => {
                ApiError::unauthorized("invalid_token", "The refresh token is not valid.")
            }
        })?;
        return Ok(Json(session_body(&state, &customer, rcid)));
    }
    if req.purchase_id.is_some() {
        return Err(ApiError::unprocessable(
            "roku_not_configured",
            "Sessions from a purchase need Roku Pay web services, which this bridge does not have configured.",
        ));
    }
    let (Some(email), Some(password)) = (req.email, req.password) else {
        return Err(ApiError::bad_request(
            "invalid_request",
            "Send email and password, a refreshToken, or a purchaseId.",
        ));
    };
    let email = email.trim().to_string();
    check_email(&email)?;
    let pw_len = password.expose_secret().len();
    if pw_len == 0 || pw_len > MAX_PASSWORD {
        return Err(ApiError::bad_request(
            "invalid_request",
            "The password must be 1 to 1024 bytes.",
        ));
    }
    for name in [&req.first_name, &req.last_name].into_iter().flatten() {
        if name.chars().count() > MAX_NAME {
            return Err(ApiError::bad_request(
                "invalid_request",
                "Names are at most 100 characters.",
            ));
        }
    }

    let customer = if req.register {
        let new = NewCustomer {
            email,
            password,
            first_name: req.first_name,
            last_name: req.last_name,
        };
        state.provider.register(&new).await.map_err(|e| match e {
            ProviderError::CustomerExists => ApiError::conflict(
                "customer_exists",
                "A customer with this email already exists; sign in instead.",
            ),
            other => provider_error(other),
        })?
    } else {
        state
            .provider
            .login(&email, &password)
            .await
            .map_err(|e| match e {
                ProviderError::WrongCredentials => {
                    ApiError::unauthorized("invalid_credentials", "The email or password is wrong.")
                }
                other => provider_error(other),
            })?
    };
    Ok(Json(session_body(&state, &customer, None)))
}

fn session_body(state: &AppState, customer: &Customer, rcid: Option<String>) -> Value {
    let tokens = state.sessions.issue(customer, rcid);
    json!({
        "accessToken": tokens.access_token,
        "refreshToken": tokens.refresh_token,
        "expiresIn": tokens.expires_in,
        "customer": {"id": customer.id, "email": customer.email},
    })
}

fn check_email(email: &str) -> Result<(), ApiError> {
    let ok = email.len() <= MAX_EMAIL
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(email.split_once('@'), Some((local, domain)) if !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_email",
            "The email address is not valid.",
        ))
    }
}
