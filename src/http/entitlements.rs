//! `GET /roku/entitlements[/{code}]`, answered from the cache.

use axum::{
    Json,
    extract::{Path, State},
};
use futures_util::future::join_all;
use serde_json::{Value, json};

use super::{
    AppState,
    error::{ApiError, provider_error},
    extract::DeviceSession,
};
use crate::{
    domain::{
        mapping::Product,
        time::{EpochMs, secs_to_rfc3339},
    },
    services::entitlements::Lookup,
};

pub async fn one(
    State(state): State<AppState>,
    DeviceSession(session): DeviceSession,
    Path(code): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let product = state.live.load().mapping.resolve(&code).map_err(|_| {
        ApiError::not_found(
            "unknown_product",
            "No provider offer is known for this product code.",
        )
    })?;
    let lookup = state
        .entitlements
        .lookup(&session.sub, &product.offer_id)
        .await
        .map_err(provider_error)?;
    Ok(Json(body(&product, &lookup)))
}

pub async fn all(
    State(state): State<AppState>,
    DeviceSession(session): DeviceSession,
) -> Result<Json<Value>, ApiError> {
    let products: Vec<Product> = state.live.load().mapping.products().collect();
    let lookups = join_all(
        products
            .iter()
            .map(|p| state.entitlements.lookup(&session.sub, &p.offer_id)),
    )
    .await;
    let mut entitlements = Vec::with_capacity(products.len());
    for (product, lookup) in products.iter().zip(lookups) {
        entitlements.push(body(product, &lookup.map_err(provider_error)?));
    }
    Ok(Json(json!({ "entitlements": entitlements })))
}

fn body(product: &Product, lookup: &Lookup) -> Value {
    let checked = EpochMs::from_system(lookup.checked_at).to_rfc3339();
    let mut body = json!({
        "code": product.code,
        "offerId": product.offer_id,
        "accessGranted": lookup.access.granted,
        "expiresAt": lookup.access.expires_at.and_then(secs_to_rfc3339),
        "checkedAt": checked,
    });
    if lookup.stale {
        body["stale"] = json!(true);
    }
    body
}
