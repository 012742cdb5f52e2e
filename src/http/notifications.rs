//! `POST /roku/notifications` (DESIGN.md §3.1): Roku Pay's push URL.
//!
//! Verify, store, then acknowledge: Roku resends anything not answered 200, so the 200 goes
//! out only once the push (and what is owed to each relay target) is durable. A bad signature
//! is 401, a store outage 503 (Roku resends); a push that is signed but unreadable is stored
//! and acknowledged, because refusing it would only count toward Roku's deny list. The push,
//! its relay deliveries and its subscription change are one transaction: one commit per push.

use axum::{
    body::Bytes,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::Value;

use super::{AppState, error::ApiError, payment::store_unavailable};
use crate::{
    effects::{signup_account, subscription_change},
    relay::{ACCOUNTS_TARGET, KIND_PUSH, KIND_SIGNUP_ACCOUNT},
    roku::{
        events::{INVALIDATE_KEYS_MESSAGE_TYPE, PUSH_MESSAGE_TYPE, decode_message, parse_event},
        jws::PushAuthError,
    },
    store::{NewDelivery, NewPush},
};

pub async fn receive(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let token = std::str::from_utf8(&body).map(str::trim).map_err(|_| {
        ApiError::unauthorized(
            "invalid_signature",
            "The body is not a signed Roku message.",
        )
    })?;
    let claims = state
        .push_verifier
        .verify(token)
        .await
        .map_err(|e| match e {
            PushAuthError::KeysUnavailable(reason) => {
                tracing::warn!(reason, "push not verifiable: Roku's keys unavailable");
                metrics::counter!("roku_bridge_pushes_total", "outcome" => "rejected", "reason" => "keys unavailable")
                    .increment(1);
                ApiError::unavailable(
                    "keys_unavailable",
                    "Roku's signing keys cannot be fetched right now.",
                    std::time::Duration::from_secs(30),
                )
            }
            other => {
                tracing::warn!(error = %other, "push refused");
                metrics::counter!("roku_bridge_pushes_total", "outcome" => "rejected", "reason" => other.reason())
                    .increment(1);
                ApiError::unauthorized("invalid_signature", "The message is not signed by Roku.")
            }
        })?;

    let message_type = claims["x-Roku-message-type"].as_str().unwrap_or_default();
    if message_type == INVALIDATE_KEYS_MESSAGE_TYPE {
        state.push_verifier.invalidate().await;
        tracing::info!("Roku asked to drop its public keys; they will be refetched");
        return Ok(ack(""));
    }
    let decoded = claims["x-Roku-message"].as_str().map(decode_message);
    let event_json = match &decoded {
        Some(Ok(v)) => Some(v.clone()),
        _ => None,
    };
    let event = event_json.as_ref().and_then(|v| parse_event(v).ok());
    let response_key = event_json
        .as_ref()
        .and_then(|v| v["responseKey"].as_str())
        .unwrap_or_default()
        .to_string();
    if message_type != PUSH_MESSAGE_TYPE {
        // Dashboard test messages carry any type the publisher typed: acknowledged, not kept.
        tracing::info!(message_type, "non-billing message acknowledged and ignored");
        return Ok(ack(&response_key));
    }

    // The signature is unique per signed message: the dedupe key of last resort.
    let message_key = claims["x-Roku-message-key"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| token.rsplit('.').next().unwrap_or(token).to_string());
    let rcid = event.as_ref().and_then(|e| e.customer_id.clone());
    let push = NewPush {
        message_key: message_key.clone(),
        message_type: message_type.to_string(),
        transaction_type: event.as_ref().map(|e| e.transaction_type.to_string()),
        transaction_id: event.as_ref().and_then(|e| e.transaction_id.clone()),
        roku_customer_id: rcid.clone(),
        product_code: event.as_ref().and_then(|e| e.product_code.clone()),
        raw_jws: token.to_string(),
        event_json: event_json.as_ref().map(Value::to_string),
    };
    let deliveries: Vec<NewDelivery> = state
        .relay
        .push_target_names()
        .into_iter()
        .map(|target| NewDelivery {
            target,
            kind: KIND_PUSH,
            payload: token.to_string(),
            dedupe_key: message_key.clone(),
            ordering_key: rcid.clone(),
        })
        .collect();
    let mut deliveries = deliveries;
    // An Instant Signup sale owes the customer an account: created by the relay, in the same
    // commit as the push, so it survives a crash and is retried while the provider is down.
    if let Some(account) = event.as_ref().and_then(signup_account) {
        deliveries.push(NewDelivery {
            target: ACCOUNTS_TARGET.to_string(),
            kind: KIND_SIGNUP_ACCOUNT,
            payload: serde_json::to_string(&account).expect("plain struct serializes"),
            dedupe_key: account.roku_customer_id.clone(),
            ordering_key: rcid.clone(),
        });
    }
    let subscription = event.as_ref().and_then(subscription_change);
    let transaction_type = push.transaction_type.clone();
    let stored = state
        .pushes
        .record(push, deliveries, subscription)
        .await
        .map_err(|e| store_unavailable(&e))?;
    match stored {
        Some(push_id) => {
            tracing::info!(
                push_id,
                transaction_type = transaction_type.as_deref().unwrap_or("unreadable"),
                "push stored"
            );
            metrics::counter!("roku_bridge_pushes_total", "outcome" => "stored", "reason" => "")
                .increment(1);
            state.relay.wake();
            if let Some(event) = event {
                let effects = state.effects.clone();
                tokio::spawn(async move {
                    if let Err(e) = effects.after_ack(&event).await {
                        tracing::warn!(push_id, error = %e, "push effects after the ack failed");
                    }
                });
            }
        }
        None => {
            metrics::counter!("roku_bridge_pushes_total", "outcome" => "duplicate", "reason" => "")
                .increment(1);
            tracing::info!("duplicate push acknowledged")
        }
    }
    Ok(ack(&response_key))
}

/// 200, text/plain, the event's responseKey as the body: what both of Roku's documented
/// acknowledgement rules accept. The API key is deliberately not echoed.
fn ack(response_key: &str) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain")],
        response_key.to_string(),
    )
        .into_response()
}
