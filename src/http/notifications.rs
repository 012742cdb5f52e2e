//! `POST /roku/notifications`: Roku Pay's push URL.
//!
//! A bad signature is 401, a store outage 503 (Roku resends); a push that is signed but
//! unreadable is stored and acknowledged, because refusing it would only count toward Roku's
//! deny list. The 200 goes out only once the push is durable (see `services::pushes`).

//!
//! Against floods: a source whose refused pushes exceed their per-source budget is turned away
//! before any signature work; only a push that verified is charged to the budget shared by
//! everything Roku calls and given a slot (from the reserved share when the pool is full), so
//! forgeries can neither spend Roku's budget nor its slots.

use std::net::SocketAddr;

use axum::{
    body::Bytes,
    extract::{ConnectInfo, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};

use super::{AppState, error::ApiError};
use crate::services::error::ServiceError;

pub async fn receive(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let live = state.live.load();
    let forwarded = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    let source = live.limits.client_ip(peer.ip(), forwarded);
    live.limits.check_roku_source(source)?;
    let verified = match state.pushes.verify(&body).await {
        Ok(verified) => verified,
        Err(e @ ServiceError::PushRefused(_)) => {
            live.limits.charge_roku_refusal(source);
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    };
    let Some(_permit) = state.admission.admit_verified_roku() else {
        return Err(super::overloaded());
    };
    live.limits.check_roku()?;
    let ack = state.pushes.accept(verified).await?;
    // 200, text/plain, the event's responseKey as the body: what both of Roku's documented
    // acknowledgement rules accept. The API key is deliberately not echoed.
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain")],
        ack.response_key,
    )
        .into_response())
}
