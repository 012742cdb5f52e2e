//! `POST /roku/payment` and `GET /roku/payment/{purchaseId}`: a device's receipts after DoOrder
//! and their status. The body is Cleeng's receipt body (`order`), or DoOrder v2's result
//! (`purchases[]`, Catalog 2.0), so channels written for Cleeng move over by changing a URL.
//! Prices are taken as numbers or as the ChannelStore's localized strings (`"$4.99"`,
//! `"4,99 €"`), exactly as a channel forwards them.

use std::{net::IpAddr, time::Duration};

use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderValue, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::json;

use super::{
    AppState,
    error::ApiError,
    extract::{DeviceSession, JsonBody},
};
use crate::{
    domain::{ids::PurchaseId, time::secs_to_rfc3339},
    provider::Customer,
    roku::doorder::PurchasedItem,
    services::payments::{PurchaseAnswer, PurchaseLine, PurchaseStatus},
};

/// What a pending answer suggests as the pause before asking again.
const PENDING_RETRY_AFTER: u64 = 5;
/// Longest long-poll a status request may ask for.
const MAX_STATUS_WAIT: u64 = 30;
/// At most this many purchases in one DoOrder v2 result.
const MAX_PURCHASES: usize = 10;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequest {
    /// Cleeng's receipt body, or a DoOrder v1 item forwarded as it came.
    order: Option<PurchasedItem>,
    /// DoOrder v2's result (Catalog 2.0): one item per purchase, named by SKU.
    purchases: Option<Vec<PurchasedItem>>,
    ip_address: Option<String>,
    customer_email: Option<String>,
}

/// Parse, don't validate: what passes is a [`PurchaseLine`] the services can trust. `field`
/// names the item in messages (`order`, `purchases[0]`). Cleeng's `order` body always carries
/// `amount` and `total`; a DoOrder v2 item may leave them out (Roku's own answer supplies them
/// when receipts are validated).
fn parse_item(
    item: PurchasedItem,
    field: &str,
    prices_required: bool,
) -> Result<PurchaseLine, ApiError> {
    let purchase_id = PurchaseId::parse(&item.purchase_id).map_err(|_| {
        ApiError::bad_request(
            "invalid_request",
            format!("Field `{field}.purchaseId` must be 1 to 1024 visible ASCII characters without / ? # % or \\."),
        )
    })?;
    let kind = item.kind();
    let replaced_code = item.replaced_code().map(str::to_string);
    for (name, price) in [("amount", &item.amount), ("total", &item.total)] {
        match price {
            None if prices_required => {
                return Err(ApiError::bad_request(
                    "invalid_request",
                    format!("Missing field `{name}` in `{field}`."),
                ));
            }
            Some(p) if p.amount().is_negative() => {
                return Err(ApiError::bad_request(
                    "invalid_request",
                    format!("Field `{field}.{name}` must be a price of zero or more."),
                ));
            }
            _ => {}
        }
    }
    let qty = item.qty.unwrap_or(1);
    if qty == 0 {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("Field `{field}.qty` must be at least 1."),
        ));
    }
    let roku_customer_id = item
        .roku_customer_id
        .map(|id| id.trim().to_string())
        .filter(|id| !id.is_empty());
    Ok(PurchaseLine {
        purchase_id,
        code: item.code,
        amount: item.amount,
        total: item.total,
        qty,
        kind,
        roku_customer_id,
        name: item.name,
        replaced_code,
    })
}

pub async fn post(
    State(state): State<AppState>,
    DeviceSession(session): DeviceSession,
    uri: Uri,
    JsonBody(req): JsonBody<PaymentRequest>,
) -> Result<Response, ApiError> {
    let timeout = state.payments.policy().timeout;
    let wait = wait_param(&uri, timeout, timeout)?;
    let items: Vec<(String, PurchasedItem, bool)> = match (req.order, req.purchases) {
        (Some(order), None) => vec![("order".to_string(), order, true)],
        (None, Some(purchases)) if (1..=MAX_PURCHASES).contains(&purchases.len()) => purchases
            .into_iter()
            .enumerate()
            .map(|(i, p)| (format!("purchases[{i}]"), p, false))
            .collect(),
        (None, Some(_)) => {
            return Err(ApiError::bad_request(
                "invalid_request",
                format!("`purchases` holds 1 to {MAX_PURCHASES} items."),
            ));
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "invalid_request",
                "Send `order` or `purchases`, not both.",
            ));
        }
        (None, None) => {
            return Err(ApiError::bad_request(
                "invalid_request",
                "Missing field `order` (or DoOrder v2 `purchases`).",
            ));
        }
    };
    if let Some(ip) = &req.ip_address
        && ip.parse::<IpAddr>().is_err()
    {
        return Err(ApiError::bad_request(
            "invalid_request",
            "Field `ipAddress` is not an IP address.",
        ));
    }
    if let Some(email) = &req.customer_email
        && !email.trim().eq_ignore_ascii_case(&session.email)
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "customer_mismatch",
            "customerEmail is not the email of the signed-in customer.",
        ));
    }
    let lines = items
        .into_iter()
        .map(|(field, item, required)| parse_item(item, &field, required))
        .collect::<Result<Vec<_>, _>>()?;
    let customer = Customer {
        id: session.sub.clone(),
        email: session.email.clone(),
    };
    let answer = state
        .payments
        .submit(&customer, lines, req.ip_address, wait)
        .await?;
    Ok(render(answer))
}

pub async fn status(
    State(state): State<AppState>,
    DeviceSession(session): DeviceSession,
    Path(purchase_id): Path<String>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let wait = wait_param(&uri, Duration::ZERO, Duration::from_secs(MAX_STATUS_WAIT))?;
    // An id that could never have been posted names no receipt of this customer's.
    let purchase_id = PurchaseId::parse(&purchase_id).map_err(|_| {
        ApiError::not_found(
            "unknown_purchase",
            "This customer posted no receipt with this purchaseId.",
        )
    })?;
    let answer = state
        .payments
        .status(&session.sub, &purchase_id, wait)
        .await?;
    Ok(render(answer))
}

/// 200 when granted, 202 with `Retry-After` while pending or queued.
fn render(answer: PurchaseAnswer) -> Response {
    let mut body = json!({
        "purchaseId": answer.purchase_id,
        "offerId": answer.offer_id,
        "code": answer.code,
    });
    if !answer.parts.is_empty() {
        body["offers"] = answer
            .parts
            .iter()
            .map(|(offer, phase)| json!({"offerId": offer, "status": phase.label()}))
            .collect();
    }
    match answer.status {
        PurchaseStatus::Granted { expires_at } => {
            body["status"] = json!("granted");
            body["expiresAt"] = json!(expires_at.and_then(secs_to_rfc3339));
            (StatusCode::OK, Json(body)).into_response()
        }
        waiting => {
            body["status"] = json!(match waiting {
                PurchaseStatus::Queued => "queued",
                _ => "pending",
            });
            body["retryAfter"] = json!(PENDING_RETRY_AFTER);
            body["statusUrl"] = json!(format!("/roku/payment/{}", answer.purchase_id));
            let mut response = (StatusCode::ACCEPTED, Json(body)).into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(PENDING_RETRY_AFTER));
            response
        }
    }
}

/// `?wait=<seconds>`, capped; `default` when absent.
fn wait_param(uri: &Uri, default: Duration, max: Duration) -> Result<Duration, ApiError> {
    let Some(query) = uri.query() else {
        return Ok(default);
    };
    for pair in query.split('&') {
        if let Some(value) = pair.strip_prefix("wait=") {
            let secs: u64 = value.parse().map_err(|_| {
                ApiError::bad_request(
                    "invalid_request",
                    "`wait` must be a whole number of seconds.",
                )
            })?;
            return Ok(Duration::from_secs(secs).min(max));
        }
    }
    Ok(default)
}
