//! Catalog 2.0 endpoints: QueryPurchaseOptions, DoOrder pre-validation, upgrade previews.
//! The rules live in `crate::catalog`; this module only finds what the customer owns.

use axum::{
    Json,
    extract::{FromRequestParts, Query, State},
    http::{header, request::Parts},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    AppState,
    error::{ApiError, store_unavailable},
    extract::DeviceSession,
    extract::JsonBody,
};
use crate::{
    catalog::{self, Date, OrderItem, OwnedPurchase},
    domain::{subscription::Subscription, time::EpochMs},
    store::now_ms,
};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueryRequest {
    #[serde(default)]
    queries: Vec<catalog::Query>,
}

/// `POST /roku/catalog/query`: QueryPurchaseOptions over the configured catalog, with the
/// customer's purchases when a session comes along (`state`, `purchased`).
pub async fn query(
    State(state): State<AppState>,
    OptionalSession(session): OptionalSession,
    JsonBody(req): JsonBody<QueryRequest>,
) -> Result<Json<Value>, ApiError> {
    let owned = match &session {
        Some(s) => owned_purchases(&state, &s.0.sub).await?,
        None => Vec::new(),
    };
    let today = Date::from_unix_ms(now_ms().max(0) as u64);
    let options = catalog::query(&state.live.load().catalog, &req.queries, &owned, today)
        .map_err(|e| ApiError::unprocessable("invalid_query", format!("{e}.")))?;
    Ok(Json(json!({ "purchaseOptionsMap": options })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderCheckRequest {
    order_items: Vec<OrderItem>,
}

/// `POST /roku/orders/check`: the DoOrder v2 `orderItems` checked against the catalog and what
/// the customer owns, before the channel shows Roku's confirmation screen.
pub async fn check_order(
    State(state): State<AppState>,
    DeviceSession(session): DeviceSession,
    JsonBody(req): JsonBody<OrderCheckRequest>,
) -> Result<Json<Value>, ApiError> {
    if req.order_items.is_empty() || req.order_items.len() > 20 {
        return Err(ApiError::bad_request(
            "invalid_request",
            "`orderItems` holds 1 to 20 items.",
        ));
    }
    let owned = owned_purchases(&state, &session.sub).await?;
    let violations = catalog::check_order(&state.live.load().catalog, &req.order_items, &owned);
    Ok(Json(if violations.is_empty() {
        json!({"ok": true})
    } else {
        json!({"ok": false, "violations": violations})
    }))
}

#[derive(Deserialize)]
pub struct PreviewQuery {
    from: String,
    to: String,
}

/// `GET /roku/catalog/upgrade-preview?from=SKU&to=SKU`: an estimate of a plan change, over the
/// customer's current period when the bridge knows it, else a full period starting now.
pub async fn upgrade_preview(
    State(state): State<AppState>,
    DeviceSession(session): DeviceSession,
    Query(q): Query<PreviewQuery>,
) -> Result<Json<Value>, ApiError> {
    let live = state.live.load();
    let Some(from) = live.catalog.option(&q.from) else {
        return Err(ApiError::unprocessable(
            "unknown_sku",
            "`from` is not a SKU of the catalog.",
        ));
    };
    let now = now_ms().max(0) as u64;
    let period_ms = u64::from(from.billing_period.months()) * 30 * 86_400_000;
    let mut end = None;
    for sub in subscriptions(&state, &session.sub).await? {
        if sub.product_code == q.from
            && let Some(expires) = sub.expires_at.filter(|e| e.0 > now_ms())
        {
            end = Some(expires.0 as u64);
        }
    }
    let end = end.unwrap_or(now + period_ms);
    let start = end.saturating_sub(period_ms).min(now);
    let preview = catalog::upgrade_preview(&live.catalog, &q.from, &q.to, start, end, now)
        .map_err(|e| ApiError::unprocessable("unknown_sku", format!("{e}.")))?;
    Ok(Json(json!({
        "from": q.from,
        "to": q.to,
        "kind": preview.kind,
        "creditCents": preview.credit_cents,
        "chargeNowCents": preview.charge_now_cents,
        "chargeNow": catalog::format_usd(preview.charge_now_cents),
        "newCycleStartsAt": EpochMs(preview.new_cycle_starts_ms as i64).to_rfc3339(),
        "estimate": true,
        "note": preview.note,
    })))
}

/// The subscriptions of every Roku customer linked to a provider customer.
async fn subscriptions(state: &AppState, customer_id: &str) -> Result<Vec<Subscription>, ApiError> {
    state
        .holdings
        .subscriptions(customer_id)
        .await
        .map_err(|e| store_unavailable(&e))
}

/// What the customer holds now, as the pushes left it: catalog SKUs with a current state.
async fn owned_purchases(
    state: &AppState,
    customer_id: &str,
) -> Result<Vec<OwnedPurchase>, ApiError> {
    let now = EpochMs::now();
    let live = state.live.load();
    Ok(subscriptions(state, customer_id)
        .await?
        .into_iter()
        .filter(|sub| live.catalog.option(&sub.product_code).is_some() && sub.is_current(now))
        .map(|sub| OwnedPurchase::active(&sub.product_code))
        .collect())
}

/// A session when the request carries one; a bad token is still refused, not ignored.
pub struct OptionalSession(pub Option<DeviceSession>);

impl FromRequestParts<AppState> for OptionalSession {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if !parts.headers.contains_key(header::AUTHORIZATION) {
            return Ok(Self(None));
        }
        DeviceSession::from_request_parts(parts, state)
            .await
            .map(|s| Self(Some(s)))
    }
}
