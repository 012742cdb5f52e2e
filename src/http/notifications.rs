//! `POST /roku/notifications`: Roku Pay's push URL.
//!
//! A bad signature is 401, a store outage 503 (Roku resends); a push that is signed but
//! unreadable is stored and acknowledged, because refusing it would only count toward Roku's
//! deny list. The 200 goes out only once the push is durable (see `services::pushes`).

use axum::{
    body::Bytes,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};

use super::{AppState, error::ApiError};

pub async fn receive(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let ack = state.pushes.receive(&body).await?;
    // 200, text/plain, the event's responseKey as the body: what both of Roku's documented
    // acknowledgement rules accept. The API key is deliberately not echoed.
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain")],
        ack.response_key,
    )
        .into_response())
}
