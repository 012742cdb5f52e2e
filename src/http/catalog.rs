//! Catalog 2.0 endpoints in Roku's ChannelStore shapes: GetCatalog, QueryPurchaseOptions,
//! GetPurchases, DoOrder pre-validation, upgrade previews. The rules live in `crate::domain::catalog`;
//! this module parses, finds what the customer holds, and renders.

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
    domain::catalog::{self, Date, GetPurchases, OrderItem, OwnedPurchase, QueryParams},
    domain::{subscription::Subscription, time::EpochMs},
};

/// Every request of Roku's add-on workflow sets `version` to 2; other versions have other
/// shapes, so they are refused rather than answered in the wrong one.
fn check_version(version: Option<u32>) -> Result<(), ApiError> {
    match version {
        None | Some(2) => Ok(()),
        Some(_) => Err(ApiError::bad_request(
            "invalid_request",
            "`version` must be 2 (Catalog 2.0).",
        )),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogParams {
    version: Option<u32>,
}

/// `GET /roku/catalog`: the configured catalog as GetCatalog's result.
pub async fn get_catalog(
    State(state): State<AppState>,
    Query(q): Query<CatalogParams>,
) -> Result<Json<Value>, ApiError> {
    check_version(q.version)?;
    let view = catalog::get_catalog(&state.live.load().catalog);
    Ok(Json(json!(view)))
}

/// `POST /roku/catalog/query`: QueryPurchaseOptions' `params`. Queries the maps sent, else
/// the configured catalog; with `state` conditions, the `purchasesMap` sent or, with a
/// session, the customer's purchases as `GET /roku/purchases` lists them.
pub async fn query(
    State(state): State<AppState>,
    OptionalSession(session): OptionalSession,
    JsonBody(params): JsonBody<QueryParams>,
) -> Result<Json<Value>, ApiError> {
    check_version(params.version)?;
    let live = state.live.load();
    let configured = catalog::get_catalog(&live.catalog);
    // Offer windows are the bridge's to enforce on its own catalog; a channel's map is
    // queried as sent.
    let today = params
        .purchase_options_map
        .is_none()
        .then(|| Date::from_unix_ms(EpochMs::now().0.max(0) as u64));
    let options = params
        .purchase_options_map
        .unwrap_or(configured.purchase_options_map);
    let products = params.products_map.unwrap_or(configured.products_map);
    let wants_state = params.query.iter().any(|q| q.state.is_some());
    let purchases = match (params.purchases_map, &session) {
        (Some(map), _) => Some(map),
        (None, Some(s)) if wants_state => Some(
            customer_purchases(&state, &s.0.sub, true)
                .await?
                .purchases_map,
        ),
        (None, _) => None,
    };
    let invalid = |e: catalog::QueryError| {
        if e.is_malformed() {
            ApiError::bad_request("invalid_query", format!("{e}."))
        } else {
            ApiError::unprocessable("invalid_query", format!("{e}."))
        }
    };
    match purchases {
        Some(purchases) => {
            let matched = catalog::query_purchases(&purchases, &options, &products, &params.query)
                .map_err(invalid)?;
            let their_options: serde_json::Map<String, Value> = matched
                .keys()
                .filter_map(|sku| Some((sku.clone(), json!(options.get(sku)?))))
                .collect();
            Ok(Json(
                json!({ "purchasesMap": matched, "purchaseOptionsMap": their_options }),
            ))
        }
        None => {
            let matched = catalog::query_options(&options, &products, &params.query, today)
                .map_err(invalid)?;
            Ok(Json(json!({ "purchaseOptionsMap": matched })))
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PurchasesParams {
    version: Option<u32>,
    #[serde(default)]
    include_expired: bool,
}

/// `GET /roku/purchases`: what the bridge knows of the customer's purchases, in GetPurchases'
/// shape (`?includeExpired=true` adds the inactive ones).
pub async fn purchases(
    State(state): State<AppState>,
    DeviceSession(session): DeviceSession,
    Query(q): Query<PurchasesParams>,
) -> Result<Json<Value>, ApiError> {
    check_version(q.version)?;
    let got = customer_purchases(&state, &session.sub, q.include_expired).await?;
    Ok(Json(json!(got)))
}

/// The customer's purchases as `GET /roku/purchases` lists them.
async fn customer_purchases(
    state: &AppState,
    customer_id: &str,
    include_expired: bool,
) -> Result<GetPurchases, ApiError> {
    state
        .holdings
        .purchases(customer_id, include_expired)
        .await
        .map_err(|e| store_unavailable(&e))
}

/// DoOrder's `params`: `orderItems` exactly as Roku takes them.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderCheckRequest {
    order_items: Vec<OrderItem>,
    version: Option<u32>,
}

/// `POST /roku/orders/check`: the DoOrder v2 `orderItems` checked against the catalog and what
/// the customer owns, before the channel shows Roku's confirmation screen.
pub async fn check_order(
    State(state): State<AppState>,
    DeviceSession(session): DeviceSession,
    JsonBody(req): JsonBody<OrderCheckRequest>,
) -> Result<Json<Value>, ApiError> {
    check_version(req.version)?;
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
    let now = EpochMs::now().0.max(0) as u64;
    let period_ms = u64::from(from.kind.months().unwrap_or(1)) * 30 * 86_400_000;
    let mut end = None;
    for sub in subscriptions(&state, &session.sub).await? {
        if sub.product_code == q.from
            && let Some(expires) = sub.expires_at.filter(|e| e.0 > EpochMs::now().0)
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
