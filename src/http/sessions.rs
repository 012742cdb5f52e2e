//! `POST /roku/sessions` (DESIGN.md §2.1): log in, register, or rotate a refresh token.

use axum::{Json, extract::State, http::StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    AppState,
    error::ApiError,
    extract::{DeviceSession, JsonBody},
    payment::{roku_error, store_unavailable},
    provider_error,
};
use crate::{
    provider::{Customer, NewCustomer, ProviderError, generated_password},
    roku::{isu::email_hash, transaction::Verdict},
    session::{TokenError, refresh_hash},
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
        let (customer, rcid) = state
            .sessions
            .verify_refresh(refresh)
            .map_err(|e| match e {
                TokenError::Expired => ApiError::unauthorized(
                    "token_expired",
                    "The refresh token has expired; sign in again.",
                ),
                _ => ApiError::unauthorized("invalid_token", "The refresh token is not valid."),
            })?;
        // Exactly one rotation of a token wins, here or on another replica.
        let live = state
            .store
            .take_refresh(&refresh_hash(refresh))
            .await
            .map_err(|e| store_unavailable(&e))?;
        if !live {
            return Err(ApiError::unauthorized(
                "invalid_token",
                "The refresh token was already used or revoked; sign in again.",
            ));
        }
        return session_body(&state, &customer, rcid).await.map(Json);
    }
    if let Some(purchase_id) = req
        .purchase_id
        .as_deref()
        .filter(|_| req.password.is_none())
    {
        return from_purchase(&state, purchase_id, req.email.as_deref())
            .await
            .map(Json);
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
    // Signing in with a purchase links it: the Instant Signup customer who already had an
    // account proves it is theirs with the password.
    let rcid = match &req.purchase_id {
        Some(purchase_id) => Some(link_purchase(&state, purchase_id, &customer).await?),
        None => None,
    };
    // The email is known now: Instant Signup eligibility and later pushes can find this customer.
    if let Err(e) = state
        .store
        .record_email_hash(
            &email_hash(&customer.email),
            rcid.as_deref(),
            Some(&customer.id),
            "session",
        )
        .await
    {
        tracing::warn!(error = %e, "email hash not recorded");
    }
    session_body(&state, &customer, rcid).await.map(Json)
}

/// The Roku customer behind an entitled purchase, linked to `customer` unless another account
/// already holds it.
async fn link_purchase(
    state: &AppState,
    purchase_id: &str,
    customer: &Customer,
) -> Result<String, ApiError> {
    let rcid = entitled_roku_customer(state, purchase_id).await?;
    let store_down = |e: crate::store::StoreError| store_unavailable(&e);
    match state.store.account(&rcid).await.map_err(store_down)? {
        Some(account) if account.customer_id != customer.id => Err(ApiError::conflict(
            "purchase_linked_elsewhere",
            "This Roku customer is linked to another account.",
        )),
        Some(_) => Ok(rcid),
        None => {
            state
                .store
                .link_account(&rcid, &customer.id, Some(&customer.email))
                .await
                .map_err(store_down)?;
            Ok(rcid)
        }
    }
}

/// Asks Roku about the purchase: it must exist, be entitled and name its customer.
async fn entitled_roku_customer(state: &AppState, purchase_id: &str) -> Result<String, ApiError> {
    let Some(roku) = &state.roku else {
        return Err(ApiError::unprocessable(
            "roku_not_configured",
            "Sessions from a purchase need Roku Pay web services (roku.api_key).",
        ));
    };
    let tx = roku
        .validate_transaction(purchase_id)
        .await
        .map_err(roku_error)?;
    if let Verdict::NotEntitled(reason) = tx.verdict() {
        return Err(ApiError::unprocessable(
            "invalid_receipt",
            format!("Roku says this purchase is {reason}."),
        ));
    }
    tx.roku_customer_id.clone().ok_or_else(|| {
        ApiError::unprocessable(
            "invalid_receipt",
            "Roku did not say which customer made this purchase.",
        )
    })
}

/// Account creation on app launch (DESIGN.md §2.1): Roku vouches for the purchase, the link
/// names the account; without a link, `email` creates one.
async fn from_purchase(
    state: &AppState,
    purchase_id: &str,
    email: Option<&str>,
) -> Result<Value, ApiError> {
    let rcid = entitled_roku_customer(state, purchase_id).await?;
    let store_down = |e: crate::store::StoreError| store_unavailable(&e);
    let mut linked = state.store.account(&rcid).await.map_err(store_down)?;
    if linked.is_none() {
        // An Instant Signup may be waiting in the outbox for this customer: do it now.
        let pending = state
            .relay
            .complete_signup(&rcid)
            .await
            .map_err(store_down)?;
        linked = state.store.account(&rcid).await.map_err(store_down)?;
        if linked.is_none() && pending {
            return Err(ApiError::unavailable(
                "account_pending",
                "The account from this signup is still being created; try again shortly.",
                std::time::Duration::from_secs(5),
            ));
        }
    }
    if let Some(account) = linked {
        let customer = Customer {
            id: account.customer_id,
            email: account.email.unwrap_or_default(),
        };
        return session_body(state, &customer, Some(rcid)).await;
    }
    let Some(email) = email.map(str::trim) else {
        return Err(ApiError::not_found(
            "account_not_found",
            "No account is linked to this Roku customer yet; send an email to create one.",
        ));
    };
    check_email(email)?;
    // The customer never types this password: they sign in through the bridge's tokens, and
    // the provider's reset flow gives them one of their own if they want it.
    let new = NewCustomer {
        email: email.to_string(),
        password: generated_password(),
        first_name: None,
        last_name: None,
    };
    let customer = state.provider.register(&new).await.map_err(|e| match e {
        ProviderError::CustomerExists => ApiError::conflict(
            "customer_exists",
            "An account with this email exists; sign in with its password and this purchaseId to link it.",
        ),
        other => provider_error(other),
    })?;
    state
        .store
        .link_account(&rcid, &customer.id, Some(&customer.email))
        .await
        .map_err(store_down)?;
    let hash = email_hash(&customer.email);
    if let Err(e) = state
        .store
        .record_email_hash(&hash, Some(&rcid), Some(&customer.id), "purchase")
        .await
    {
        tracing::warn!(error = %e, "email hash not recorded");
    }
    session_body(state, &customer, Some(rcid)).await
}

/// Mints the pair and records the refresh token, so it can be rotated once and revoked.
async fn session_body(
    state: &AppState,
    customer: &Customer,
    rcid: Option<String>,
) -> Result<Value, ApiError> {
    let tokens = state.sessions.issue(customer, rcid);
    state
        .store
        .save_refresh(
            &refresh_hash(&tokens.refresh_token),
            &customer.id,
            tokens.refresh_expires_at,
        )
        .await
        .map_err(|e| store_unavailable(&e))?;
    Ok(json!({
        "accessToken": tokens.access_token,
        "refreshToken": tokens.refresh_token,
        "expiresIn": tokens.expires_in,
        "customer": {"id": customer.id, "email": customer.email},
    }))
}

/// `POST /roku/sessions/revoke`: the signed-in customer signs out every device.
pub async fn revoke(
    State(state): State<AppState>,
    DeviceSession(session): DeviceSession,
) -> Result<Json<Value>, ApiError> {
    let revoked = state
        .store
        .revoke_refresh(&session.sub)
        .await
        .map_err(|e| store_unavailable(&e))?;
    Ok(Json(json!({"revoked": revoked})))
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
