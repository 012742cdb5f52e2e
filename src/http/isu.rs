//! Instant Signup: the two endpoints Roku calls to build the offer card.
//!
//! Roku documents 200, 400 and 500 only. A token that fails verification answers 401 with the
//! error body and `WWW-Authenticate`: it is neither a malformed request nor our failure, and 401 is
//! what an operator reading Roku's error report (or our logs) recognises at once. Eligibility
//! fails open: a missing or malformed hash header, or a store that cannot answer, gets the
//! offers and a warning, because Roku requires offers for every non-subscriber and showing one
//! to a subscriber costs nothing (Roku will not sell a product twice).

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use secrecy::ExposeSecret;
use serde_json::json;

use super::{AppState, error::ApiError};
use crate::roku::isu::{self, Endpoint, IsuAuthError};

pub const EMAIL_HASH_HEADER: &str = "roku-reserved-email-hash";

/// `GET /api/offers/rsb/images`: the card's artwork and description for Roku's `locale`.
pub async fn images(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(e) = authorize(&state, &headers, Endpoint::Images) {
        return e.into_response();
    }
    let live = state.live.load();
    let isu = &live.isu;
    let locale = headers
        .get("locale")
        .and_then(|v| v.to_str().ok())
        .map(|l| l.trim().to_ascii_lowercase())
        .unwrap_or_default();
    // Validation guarantees the fallback locale exists.
    let card = isu
        .images
        .get(&locale)
        .or_else(|| isu.images.get(&isu.fallback_locale));
    match card {
        Some(card) => no_store(Json(card).into_response()),
        None => ApiError::internal().into_response(),
    }
}

/// `GET /api/offers/rsb/products`: the offers, or none for a current subscriber.
pub async fn products(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(e) = authorize(&state, &headers, Endpoint::Products) {
        return e.into_response();
    }
    let header = headers.get(EMAIL_HASH_HEADER).and_then(|v| v.to_str().ok());
    let current = match header.map(isu::normalize_hash) {
        None => {
            metrics::counter!("roku_bridge_isu_hash_unusable_total", "reason" => "missing")
                .increment(1);
            tracing::warn!("Instant Signup eligibility without an email hash: offers sent");
            false
        }
        Some(None) => {
            metrics::counter!("roku_bridge_isu_hash_unusable_total", "reason" => "malformed")
                .increment(1);
            // The value itself is personal data: only its length is worth logging.
            tracing::warn!(
                length = header.map_or(0, str::len),
                "Instant Signup email hash is not SHA-512 hex: offers sent"
            );
            false
        }
        Some(Some(hash)) => match state.signup.is_current_subscriber(&hash).await {
            Ok(current) => current,
            Err(e) => {
                tracing::warn!(error = %e, "Instant Signup eligibility unknown (store): offers sent");
                false
            }
        },
    };
    let products = if current {
        Vec::new()
    } else {
        state.live.load().isu.products.clone()
    };
    no_store(Json(json!({ "products": products })).into_response())
}

fn authorize(state: &AppState, headers: &HeaderMap, endpoint: Endpoint) -> Result<(), ApiError> {
    let config = &state.config;
    let live = state.live.load();
    let mut keys: Vec<&[u8]> = Vec::with_capacity(2);
    if let Some(key) = &config.roku.api_key {
        keys.push(key.expose_secret().as_bytes());
    }
    if let Some(key) = &live.isu.previous_api_key {
        keys.push(key.expose_secret().as_bytes());
    }
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    isu::verify(
        authorization,
        &keys,
        &live.isu.app_name,
        endpoint,
        live.isu.leeway.as_secs(),
    )
    .map_err(|e| {
        tracing::warn!(endpoint = endpoint.subject(), error = %e, "Instant Signup call refused");
        let message = match e {
            IsuAuthError::Missing => "A Bearer token signed by Roku is required.",
            IsuAuthError::Invalid(_) => "The token is not a valid Roku Instant Signup token.",
        };
        ApiError::unauthorized("invalid_token", message)
    })
}

/// Eligibility is per customer and changes with every push: no cache may keep it.
fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    debug_assert_eq!(response.status(), StatusCode::OK);
    response
}
