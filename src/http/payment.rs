//! `POST /roku/payment` and `GET /roku/payment/{purchaseId}` (DESIGN.md §2.2–2.3).

use std::{net::IpAddr, sync::Arc, time::Duration};

use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderValue, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use futures_util::future::join_all;
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
    /// DoOrder v2's result (Catalog 2.0): one item per purchase, named by SKU.
    purchases: Option<Vec<PurchaseIn>>,
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PurchaseIn {
    purchase_id: String,
    sku: String,
    #[serde(default)]
    amount: f64,
    #[serde(default)]
    total: f64,
    #[serde(default = "one")]
    qty: u32,
}

impl From<PurchaseIn> for OrderIn {
    fn from(p: PurchaseIn) -> Self {
        OrderIn {
            purchase_id: p.purchase_id,
            code: p.sku,
            amount: p.amount,
            total: p.total,
            qty: p.qty,
        }
    }
}

/// At most this many purchases in one DoOrder v2 result.
const MAX_PURCHASES: usize = 10;

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
    let orders: Vec<OrderIn> = match (req.order, req.purchases) {
        (Some(order), None) => vec![order],
        (None, Some(purchases)) if (1..=MAX_PURCHASES).contains(&purchases.len()) => {
            purchases.into_iter().map(OrderIn::from).collect()
        }
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
    let mut receipts = Vec::new();
    for order in orders {
        receipts.extend(claim_order(&state, &session, order, req.ip_address.as_deref()).await?);
    }
    respond(&state, &receipts, wait).await
}

/// One purchase: checked, mapped to its offers, checked with Roku, claimed once per offer.
async fn claim_order(
    state: &AppState,
    session: &crate::session::AccessClaims,
    order: OrderIn,
    ip_address: Option<&str>,
) -> Result<Vec<Arc<Receipt>>, ApiError> {
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
    // A catalog SKU names its products' offers (a bundle several); otherwise the plain
    // mapping names one.
    let live = state.live.load_full();
    let offers: Vec<String> = match live.catalog.offers_for_sku(&order.code) {
        Some(pairs) => {
            let mut offers: Vec<String> = Vec::new();
            for (_, offer) in pairs {
                if !offers.contains(&offer) {
                    offers.push(offer);
                }
            }
            offers
        }
        None => vec![live.mapping.offer_for(&order.code).map_err(|e| match e {
            Unmapped::Unknown => ApiError::unprocessable(
                "unknown_product",
                "No provider offer is mapped to this product code.",
            ),
            other => ApiError::unprocessable("unknown_product", format!("{other}.")),
        })?],
    };
    let key_of = |offer: &str| {
        if offers.len() == 1 {
            order.purchase_id.clone()
        } else {
            format!("{}#{offer}", order.purchase_id)
        }
    };

    // Roku is asked once per purchase: a repeat post of a claim already held needs no second
    // look (and must not spend the 20 req/s Roku allows).
    let known = state
        .receipts
        .get(&session.sub, &key_of(&offers[0]))
        .await
        .map_err(|e| store_unavailable(&e))?
        .is_some();
    let roku_customer_id = if known {
        None
    } else {
        validate_with_roku(state, &order.purchase_id, &order.code).await?
    };

    // One provider receipt per offer, each claimed and confirmed on its own (idempotent per
    // purchaseId and offer); the answer is granted when all are.
    let mut receipts = Vec::with_capacity(offers.len());
    for offer_id in &offers {
        let forward = ReceiptForward {
            customer_email: session.email.clone(),
            offer_id: offer_id.clone(),
            order: Order {
                amount: order.amount,
                code: order.code.clone(),
                purchase_id: order.purchase_id.clone(),
                qty: order.qty,
                total: order.total,
            },
            ip_address: ip_address.map(str::to_string),
        };
        let receipt = state
            .receipts
            .claim(&session.sub, &key_of(offer_id), forward)
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
        receipts.push(receipt);
    }
    if let Some(rcid) = roku_customer_id {
        // The Roku account that paid is this customer's: later pushes for it find them.
        let linked = async {
            state
                .store
                .link_account(&rcid, &session.sub, Some(&session.email))
                .await?;
            for receipt in &receipts {
                state
                    .store
                    .set_receipt_roku_customer(receipt.key(), &rcid)
                    .await?;
            }
            Ok::<_, crate::store::StoreError>(())
        };
        if let Err(e) = linked.await {
            tracing::warn!(error = %e, "account link not recorded");
        }
    }
    Ok(receipts)
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
    let receipts = state
        .receipts
        .get_all(&session.sub, &purchase_id)
        .await
        .map_err(|e| store_unavailable(&e))?;
    if receipts.is_empty() {
        return Err(ApiError::not_found(
            "unknown_purchase",
            "This customer posted no receipt with this purchaseId.",
        ));
    }
    respond(&state, &receipts, wait).await
}

/// The answer for a purchase's claims (one, or a bundle's parts): granted when every part
/// is, refused when any is, pending otherwise.
async fn respond(
    state: &AppState,
    receipts: &[Arc<Receipt>],
    wait: Duration,
) -> Result<Response, ApiError> {
    for receipt in receipts {
        state.receipts.ensure_confirming(receipt);
    }
    let phases = join_all(receipts.iter().map(|r| state.receipts.wait(r, wait))).await;
    let first = &receipts[0];
    let mut body = json!({
        "purchaseId": first.purchase_id(),
        "offerId": first.offer_id(),
        "code": first.code(),
    });
    if receipts.len() > 1 {
        body["offers"] = receipts
            .iter()
            .zip(&phases)
            .map(|(r, p)| json!({"offerId": r.offer_id(), "status": phase_name(p)}))
            .collect();
    }
    if let Some((code, message)) = phases.iter().find_map(|p| match p {
        Phase::Rejected { code, message } => Some((code, message)),
        _ => None,
    }) {
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "provider_rejected",
            format!("The provider refused the receipt: {code} ({message})."),
        ));
    }
    if let Some(retry_after) = phases.iter().find_map(|p| match p {
        Phase::Unavailable { retry_after } => Some(*retry_after),
        _ => None,
    }) {
        return Err(ApiError::unavailable(
            "provider_unavailable",
            "The provider cannot be reached; post the receipt again later.",
            retry_after,
        ));
    }
    let granted: Vec<Option<i64>> = phases
        .iter()
        .filter_map(|p| match p {
            Phase::Granted { expires_at } => Some(*expires_at),
            _ => None,
        })
        .collect();
    if granted.len() == phases.len() {
        body["status"] = json!("granted");
        // The earliest end among the parts: what the customer surely has until then.
        let expires = granted.iter().flatten().min().copied();
        body["expiresAt"] = json!(expires.and_then(epoch_to_rfc3339));
        return Ok((StatusCode::OK, Json(body)).into_response());
    }
    body["status"] = json!(if phases.contains(&Phase::Queued) {
        "queued"
    } else {
        "pending"
    });
    body["retryAfter"] = json!(PENDING_RETRY_AFTER);
    body["statusUrl"] = json!(format!("/roku/payment/{}", first.purchase_id()));
    let mut response = (StatusCode::ACCEPTED, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(PENDING_RETRY_AFTER));
    Ok(response)
}

fn phase_name(phase: &Phase) -> &'static str {
    match phase {
        Phase::Granted { .. } => "granted",
        Phase::Rejected { .. } => "rejected",
        Phase::Queued => "queued",
        Phase::Unavailable { .. } => "unavailable",
        Phase::Confirming | Phase::Pending => "pending",
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
