//! The one error type of the device- and Roku-facing API, and the one place it becomes the body
//! every client reads. Handlers return [`ApiError`] (services' failures convert into it here);
//! `render_errors` (in the layer stack, where the request id is known) writes
//! `{"error": {"code", "message", "requestId"}}`.

use std::time::Duration;

use axum::{
    Json,
    extract::Request,
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::{provider::ProviderError, roku::client::RokuError, services::ServiceError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    /// One human sentence. Never a secret, never a raw upstream body.
    pub message: String,
    pub retry_after: Option<Duration>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    pub fn unavailable(code: &'static str, message: impl Into<String>, after: Duration) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message).with_retry_after(after)
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "The bridge failed to handle this request; it has been logged.",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // The body is written by `render_errors`, which knows the request id.
        let mut response = self.status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// Middleware: turns every [`ApiError`] left in a response's extensions into the error body with
/// the request id, and gives framework-made errors (404/405 without a body) the same shape.
pub async fn render_errors(request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut response = next.run(request).await;
    let error = match response.extensions_mut().remove::<ApiError>() {
        Some(e) => e,
        None if response.status() == StatusCode::METHOD_NOT_ALLOWED => ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "This endpoint does not accept that method.",
        ),
        // A framework rejection (an extractor's plain-text 4xx): same body as ours. Its text
        // names what was wrong with the request, never a value from it.
        None if response.status().is_client_error() && !is_json(&response) => {
            let status = response.status();
            let body = std::mem::take(response.body_mut());
            let text = axum::body::to_bytes(body, 1024).await.unwrap_or_default();
            let message: String = String::from_utf8_lossy(&text).chars().take(200).collect();
            ApiError::new(status, "invalid_request", message)
        }
        None => return response,
    };
    let body =
        json!({"error": {"code": error.code, "message": error.message, "requestId": request_id}});
    let mut rendered = (error.status, Json(body)).into_response();
    let headers = rendered.headers_mut();
    // Keep what the inner layers set (Allow on 405, for instance) apart from the old body's.
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            headers.insert(name.clone(), value.clone());
        }
    }
    if error.status == StatusCode::UNAUTHORIZED {
        // RFC 6750: every protected endpoint here takes a Bearer token.
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"roku-bridge\""),
        );
    }
    if let Some(after) = error.retry_after {
        let secs = after.as_secs().max(1);
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    rendered
}

/// The store could not answer: 503, and the reason only in the log.
pub fn store_unavailable(e: &crate::store::StoreError) -> ApiError {
    tracing::error!(error = %e, "store unavailable");
    ApiError::unavailable(
        "store_unavailable",
        "The bridge cannot reach its store; try again shortly.",
        Duration::from_secs(5),
    )
}

/// One mapping from provider failures to statuses, shared by every handler.
pub fn provider_error(err: ProviderError) -> ApiError {
    match err {
        ProviderError::Unavailable { retry_after, .. } => ApiError::unavailable(
            "provider_unavailable",
            "The subscription provider cannot be reached; try again later.",
            retry_after.unwrap_or(Duration::from_secs(5)),
        ),
        ProviderError::Rejected { code, message, .. } => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "provider_rejected",
            format!("The provider refused the request: {code} ({message})."),
        ),
        ProviderError::WrongCredentials => {
            ApiError::unauthorized("invalid_credentials", "The email or password is wrong.")
        }
        ProviderError::CustomerExists => ApiError::conflict(
            "customer_exists",
            "A customer with this email already exists.",
        ),
    }
}

fn roku_error(e: RokuError) -> ApiError {
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

/// Every use-case failure's status, code and sentence, in one place.
impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        use ServiceError as E;
        match e {
            E::Store(e) => store_unavailable(&e),
            E::Provider(e) => provider_error(e),
            E::Roku(e) => roku_error(e),
            E::UnknownProduct(message) => ApiError::unprocessable("unknown_product", message),
            E::InvalidReceipt(message) => ApiError::unprocessable("invalid_receipt", message),
            E::PurchaseClaimedElsewhere => ApiError::conflict(
                "purchase_already_claimed",
                "This purchase was already claimed by another customer.",
            ),
            E::PurchaseConflict => ApiError::conflict(
                "purchase_conflict",
                "This purchase was already posted with another product code.",
            ),
            E::ReceiptRejected { code, message } => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "provider_rejected",
                format!("The provider refused the receipt: {code} ({message})."),
            ),
            E::ReceiptUnavailable { retry_after } => ApiError::unavailable(
                "provider_unavailable",
                "The provider cannot be reached; post the receipt again later.",
                retry_after,
            ),
            E::UnknownPurchase => ApiError::not_found(
                "unknown_purchase",
                "This customer posted no receipt with this purchaseId.",
            ),
            E::RefreshExpired => ApiError::unauthorized(
                "token_expired",
                "The refresh token has expired; sign in again.",
            ),
            E::RefreshInvalid => {
                ApiError::unauthorized("invalid_token", "The refresh token is not valid.")
            }
            E::RefreshUsed => ApiError::unauthorized(
                "invalid_token",
                "The refresh token was already used or revoked; sign in again.",
            ),
            E::CustomerExists => ApiError::conflict(
                "customer_exists",
                "A customer with this email already exists; sign in instead.",
            ),
            E::CustomerExistsForPurchase => ApiError::conflict(
                "customer_exists",
                "An account with this email exists; sign in with its password and this purchaseId to link it.",
            ),
            E::InvalidCredentials => {
                ApiError::unauthorized("invalid_credentials", "The email or password is wrong.")
            }
            E::PurchaseLinkedElsewhere => ApiError::conflict(
                "purchase_linked_elsewhere",
                "This Roku customer is linked to another account.",
            ),
            E::RokuNotConfigured => ApiError::unprocessable(
                "roku_not_configured",
                "Sessions from a purchase need Roku Pay web services (roku.api_key).",
            ),
            E::NoRokuCustomer => ApiError::unprocessable(
                "invalid_receipt",
                "Roku did not say which customer made this purchase.",
            ),
            E::AccountPending => ApiError::unavailable(
                "account_pending",
                "The account from this signup is still being created; try again shortly.",
                Duration::from_secs(5),
            ),
            E::AccountNotFound => ApiError::not_found(
                "account_not_found",
                "No account is linked to this Roku customer yet; send an email to create one.",
            ),
            E::PushRefused("not UTF-8") => ApiError::unauthorized(
                "invalid_signature",
                "The body is not a signed Roku message.",
            ),
            E::PushRefused(_) => {
                ApiError::unauthorized("invalid_signature", "The message is not signed by Roku.")
            }
            E::KeysUnavailable => ApiError::unavailable(
                "keys_unavailable",
                "Roku's signing keys cannot be fetched right now.",
                Duration::from_secs(30),
            ),
        }
    }
}
