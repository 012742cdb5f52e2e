//! Rate-limit middleware: applies the live [`Limits`](crate::limits::Limits) to requests and
//! turns a refusal into the API's 429 with `Retry-After`. The per-IP budget runs before any
//! token is verified; the per-customer one runs in the session extractor (through the
//! `From<Limited>` conversion here); Roku's routes have their own budget.

use std::{net::SocketAddr, time::Duration};

use axum::{
    extract::{ConnectInfo, Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::error::ApiError;
use crate::{limits::Limited, reload::LiveConfig};

impl From<Limited> for ApiError {
    fn from(limited: Limited) -> Self {
        metrics::counter!("roku_bridge_rate_limited_total", "scope" => limited.scope).increment(1);
        let wait = limited.wait;
        // Whole seconds, rounded up: Retry-After has no finer unit.
        let after = Duration::from_secs(wait.as_secs() + u64::from(wait.subsec_nanos() > 0));
        ApiError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "Too many requests; slow down and retry after the delay given.",
        )
        .with_retry_after(after.max(Duration::from_secs(1)))
    }
}

/// Middleware for the device API: the per-IP budget, before any token is verified.
pub async fn per_ip(State(live): State<LiveConfig>, request: Request, next: Next) -> Response {
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
        let forwarded = request
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok());
        if let Err(limited) = live.load().limits.check_ip(peer.ip(), forwarded) {
            return ApiError::from(limited).into_response();
        }
    }
    next.run(request).await
}

/// Middleware for Roku's Instant Signup routes (the push URL does the same in its handler,
/// around the signature check): a source past its budget of refused requests is turned away
/// first; a refused request is charged to its source, and only what verified is charged to the
/// budget shared by everything Roku calls, so forgeries cannot spend it.
pub async fn roku(State(live): State<LiveConfig>, request: Request, next: Next) -> Response {
    let source = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| {
            let forwarded = request
                .headers()
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok());
            live.load().limits.client_ip(peer.ip(), forwarded)
        });
    if let Some(source) = source
        && let Err(limited) = live.load().limits.check_roku_source(source)
    {
        return ApiError::from(limited).into_response();
    }
    let response = next.run(request).await;
    let limits = &live.load().limits;
    if response.status().is_client_error() {
        if let Some(source) = source {
            limits.charge_roku_refusal(source);
        }
    } else if response.status().is_success() {
        let _ = limits.check_roku();
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{config::LimitsConfig, limits::Limits};

    #[test]
    fn the_customer_budget_refuses_with_a_retry_after() {
        let l = Limits::new(&LimitsConfig {
            per_customer_per_second: 1,
            per_customer_burst: 2,
            ..LimitsConfig::default()
        });
        assert!(l.check_customer("c1").is_ok());
        assert!(l.check_customer("c1").is_ok());
        let refused = ApiError::from(l.check_customer("c1").unwrap_err());
        assert_eq!(refused.status, axum::http::StatusCode::TOO_MANY_REQUESTS);
        assert!(refused.retry_after.is_some());
        assert!(l.check_customer("c2").is_ok(), "budgets are per customer");
    }
}
