//! `POST /roku/payment` and `GET /roku/payment/{purchaseId}` (DESIGN.md §2.2–2.3).

use std::{net::IpAddr, sync::Arc, time::Duration};

use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderValue, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::json;

use super::{
    AppState, epoch_to_rfc3339,
    error::ApiError,
    extract::{DeviceSession, JsonBody},
};
use crate::{
    confirm::{ClaimError, Phase, Receipt},
    mapping::Unmapped,
    provider::{Order, ReceiptForward},
    roku::{client::RokuError, transaction::Verdict},
};

/// Longest transaction id Roku documents (opaque, up to 1024 ASCII characters).
const MAX_PURCHASE_ID: usize = 1024;
/// What a pending answer suggests as the pause before asking again.
const PENDING_RETRY_AFTER: u64 = 5;
/// Longest long-poll a status request may ask for.
const MAX_STATUS_WAIT: u64 = 30;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequest {
    order: Option<OrderIn>,
    purchases: Option<serde_json::Value>,
    ip_address: Option<String>,
    customer_email: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderIn {
    purchase_id: String,
    code: String,
    amount: f64,
    total: f64,
    #[serde(default = "one")]
    qty: u32,
}

fn one() -> u32 {
    1
}

pub async fn post(
    State(state): State<AppState>,
    DeviceSession(session): DeviceSession,
    uri: Uri,
    JsonBody(req): JsonBody<PaymentRequest>,
) -> Result<Response, ApiError> {
    let wait = wait_param(
        &uri,
        state.receipts.policy().timeout,
        state.receipts.policy().timeout,
    )?;
    let Some(order) = req.order else {
        let message = if req.purchases.is_some() {
            "DoOrder v2 `purchases` need a configured catalog; send `order` instead."
        } else {
            "Missing field `order`."
        };
        return Err(ApiError::bad_request("invalid_request", message));
    };
    check_purchase_id(&order.purchase_id)?;
    for (name, value) in [("order.amount", order.amount), ("order.total", order.total)] {
        if !value.is_finite() || value < 0.0 {
            return Err(ApiError::bad_request(
                "invalid_request",
                format!("Field `{name}` must be a number of zero or more."),
            ));
        }
    }
    if order.qty == 0 {
        return Err(ApiError::bad_request(
            "invalid_request",
            "Field `order.qty` must be at least 1.",
        ));
    }
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
    let offer_id = state.mapping.offer_for(&order.code).map_err(|e| match e {
        Unmapped::Unknown => ApiError::unprocessable(
            "unknown_product",
            "No provider offer is mapped to this product code.",
        ),
        other => ApiError::unprocessable("unknown_product", format!("{other}.")),
    })?;

    // Roku is asked once per purchase: a repeat post of a claim already held needs no second
    // look (and must not spend the 20 req/s Roku allows).
    let known = state
        .receipts
        .get(&session.sub, &order.purchase_id)
        .await
        .map_err(|e| store_unavailable(&e))?
        .is_some();
    let roku_customer_id = if known {
        None
    } else {
        validate_with_roku(&state, &order.purchase_id, &order.code).await?
    };

    let forward = ReceiptForward {
        customer_email: session.email.clone(),
        offer_id,
        order: Order {
            amount: order.amount,
            code: order.code,
            purchase_id: order.purchase_id,
            qty: order.qty,
            total: order.total,
        },
        ip_address: req.ip_address,
    };
    let receipt = state
        .receipts
        .claim(&session.sub, forward)
        .await
        .map_err(|e| match e {
            ClaimError::OtherCustomer => ApiError::conflict(
                "purchase_already_claimed",
                "This purchase was already claimed by another customer.",
            ),
            ClaimError::Mismatch => ApiError::conflict(
                "purchase_conflict",
                "This purchase was already posted with another product code.",
            ),
            ClaimError::Store(e) => store_unavailable(&e),
        })?;
    if let Some(rcid) = roku_customer_id {
        // The Roku account that paid is this customer's: later pushes for it find them.
        let linked = async {
            state
                .store
                .link_account(&rcid, &session.sub, Some(&session.email))
                .await?;
            state
                .store
                .set_receipt_roku_customer(receipt.purchase_id(), &rcid)
                .await
        };
        if let Err(e) = linked.await {
            tracing::warn!(error = %e, "account link not recorded");
        }
    }
    respond(&state, &receipt, wait).await
}

/// Checks the transaction with Roku when Roku credentials are configured; returns the Roku
/// customer id it belongs to. Never trust the device (`reference/roku-pay.md` §0.10).
pub async fn validate_with_roku(
    state: &AppState,
    transaction_id: &str,
    code: &str,
) -> Result<Option<String>, ApiError> {
    let Some(roku) = state
        .roku
        .as_ref()
        .filter(|_| state.config.roku.validate_receipts)
    else {
        return Ok(None);
    };
    let tx = roku
        .validate_transaction(transaction_id)
        .await
        .map_err(roku_error)?;
    if let Verdict::NotEntitled(reason) = tx.verdict() {
        return Err(ApiError::unprocessable(
            "invalid_receipt",
            format!("Roku says this purchase is {reason}."),
        ));
    }
    if let Some(product) = &tx.product_id
        && product != code
    {
        return Err(ApiError::unprocessable(
            "invalid_receipt",
            "Roku says this purchase is for another product.",
        ));
    }
    Ok(tx.roku_customer_id)
}

pub fn roku_error(e: RokuError) -> ApiError {
    match e {
        RokuError::Unavailable(reason) => {
            tracing::warn!(reason, "Roku web services unavailable");
            ApiError::unavailable(
                "roku_unavailable",
                "Roku cannot confirm the purchase right now; try again shortly.",
                Duration::from_secs(5),
            )
        }
        RokuError::BadTransactionId | RokuError::Refused(_) => {
            ApiError::unprocessable("invalid_receipt", "Roku does not know this purchase.")
        }
    }
}

pub async fn status(
    State(state): State<AppState>,
    DeviceSession(session): DeviceSession,
    Path(purchase_id): Path<String>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let wait = wait_param(&uri, Duration::ZERO, Duration::from_secs(MAX_STATUS_WAIT))?;
    let receipt = state
        .receipts
        .get(&session.sub, &purchase_id)
        .await
        .map_err(|e| store_unavailable(&e))?
        .ok_or_else(|| {
            ApiError::not_found(
                "unknown_purchase",
                "This customer posted no receipt with this purchaseId.",
            )
        })?;
    respond(&state, &receipt, wait).await
}

async fn respond(
    state: &AppState,
    receipt: &Arc<Receipt>,
    wait: Duration,
) -> Result<Response, ApiError> {
    state.receipts.ensure_confirming(receipt);
    let phase = state.receipts.wait(receipt, wait).await;
    let base = || {
        json!({
            "purchaseId": receipt.purchase_id(),
            "offerId": receipt.offer_id(),
            "code": receipt.code(),
        })
    };
    match phase {
        Phase::Granted { expires_at } => {
            let mut body = base();
            body["status"] = json!("granted");
            body["expiresAt"] = json!(expires_at.and_then(epoch_to_rfc3339));
            Ok((StatusCode::OK, Json(body)).into_response())
        }
        Phase::Confirming | Phase::Pending | Phase::Queued => {
            let mut body = base();
            body["status"] = json!(if phase == Phase::Queued {
                "queued"
            } else {
                "pending"
            });
            body["retryAfter"] = json!(PENDING_RETRY_AFTER);
            body["statusUrl"] = json!(format!("/roku/payment/{}", receipt.purchase_id()));
            let mut response = (StatusCode::ACCEPTED, Json(body)).into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(PENDING_RETRY_AFTER));
            Ok(response)
        }
        Phase::Rejected { code, message } => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "provider_rejected",
            format!("The provider refused the receipt: {code} ({message})."),
        )),
        Phase::Unavailable { retry_after } => Err(ApiError::unavailable(
            "provider_unavailable",
            "The provider cannot be reached; post the receipt again later.",
            retry_after,
        )),
    }
}

pub fn store_unavailable(e: &crate::store::StoreError) -> ApiError {
    tracing::error!(error = %e, "store unavailable");
    ApiError::unavailable(
        "store_unavailable",
        "The bridge cannot reach its store; try again shortly.",
        Duration::from_secs(5),
    )
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

fn check_purchase_id(id: &str) -> Result<(), ApiError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_PURCHASE_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'/' | b'?' | b'#' | b'%' | b'\\'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "invalid_request",
            "Field `order.purchaseId` must be 1 to 1024 visible ASCII characters without / ? # % or \\.",
        ))
    }
}
