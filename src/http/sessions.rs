//! `POST /roku/sessions`: log in, register, rotate a refresh token, or sign in with a purchase;
//! `POST /roku/sessions/revoke`: sign out every device.

use axum::{Json, extract::State, http::StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    AppState,
    error::ApiError,
    extract::{ClientSource, DeviceSession, JsonBody},
};
use crate::{
    domain::{
        email::{account_key, normalize_email},
        ids::PurchaseId,
    },
    provider::NewCustomer,
    services::{error::ServiceError, sessions::SignedIn},
};

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
    ClientSource(source): ClientSource,
    JsonBody(req): JsonBody<SessionRequest>,
) -> Result<Json<Value>, ApiError> {
    if let Some(refresh) = &req.refresh_token {
        return Ok(render(state.sign_in.refresh(refresh).await?));
    }
    if let Some(purchase_id) = req
        .purchase_id
        .as_deref()
        .filter(|_| req.password.is_none())
    {
        let purchase_id = parse_purchase_id(purchase_id)?;
        // Anyone may try a purchase id, and each try may cost a Roku call: a small budget per
        // source, far below the share of Roku's limit these sign-ins get.
        if let Some(source) = source {
            state.live.load().limits.check_anonymous_source(source)?;
        }
        let email = match req.email.as_deref().map(str::trim) {
            Some(email) => Some(check_email(email)?),
            None => None,
        };
        let signed_in = state
            .sign_in
            .from_purchase(&purchase_id, email.as_deref())
            .await?;
        return Ok(render(signed_in));
    }
    let (Some(email), Some(password)) = (req.email, req.password) else {
        return Err(ApiError::bad_request(
            "invalid_request",
            "Send email and password, a refreshToken, or a purchaseId.",
        ));
    };
    let email = check_email(email.trim())?;
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
    let purchase_id = match &req.purchase_id {
        Some(id) => Some(parse_purchase_id(id)?),
        None => None,
    };
    let new = NewCustomer {
        email,
        password,
        first_name: req.first_name,
        last_name: req.last_name,
    };
    // Guessing one account's password from many addresses meets a budget per account: past a
    // few wrong passwords each further one doubles the wait, whoever sends it.
    let account = account_key(&new.email);
    let live = state.live.load();
    if !req.register {
        live.limits.check_sign_in(&account)?;
    }
    let signed_in = state
        .sign_in
        .with_password(new, req.register, purchase_id.as_ref())
        .await;
    match &signed_in {
        Err(ServiceError::InvalidCredentials) => live.limits.record_sign_in_failure(&account),
        Ok(_) if !req.register => live.limits.record_sign_in_success(&account),
        _ => {}
    }
    Ok(render(signed_in?))
}

/// `POST /roku/sessions/revoke`: the signed-in customer signs out every device.
pub async fn revoke(
    State(state): State<AppState>,
    DeviceSession(session): DeviceSession,
) -> Result<Json<Value>, ApiError> {
    let revoked = state.sign_in.revoke(&session.sub).await?;
    Ok(Json(json!({"revoked": revoked})))
}

fn render(s: SignedIn) -> Json<Value> {
    Json(json!({
        "accessToken": s.access_token,
        "refreshToken": s.refresh_token,
        "expiresIn": s.expires_in,
        "customer": {"id": s.customer.id, "email": s.customer.email},
    }))
}

/// A purchase id goes to Roku as a URL path segment: anything that could reshape the URL is
/// refused here, before any call, as Roku itself would refuse it.
fn parse_purchase_id(raw: &str) -> Result<PurchaseId, ApiError> {
    PurchaseId::parse(raw).map_err(|_| {
        ApiError::unprocessable("invalid_receipt", "Roku does not know this purchase.")
    })
}

fn check_email(email: &str) -> Result<String, ApiError> {
    normalize_email(email).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_email",
            "The email address is not valid.",
        )
    })
}
