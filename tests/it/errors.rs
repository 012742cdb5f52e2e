//! The error contract: one JSON shape with a code, a message and the request id, on every
//! status the API answers with, framework rejections and limits included.

use std::time::Duration;

use reqwest::{StatusCode, header::HeaderMap};
use serde_json::{Value, json};
use wiremock::ResponseTemplate;

use crate::helpers::{TestApp, order};

fn assert_error_body(body: &Value, headers: &HeaderMap, code: &str) {
    let error = &body["error"];
    assert_eq!(error["code"], code, "{body}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    let request_id = headers["x-request-id"].to_str().unwrap();
    assert!(!request_id.is_empty());
    assert_eq!(
        error["requestId"], request_id,
        "the body names the id the header carries"
    );
    assert_eq!(headers["content-type"], "application/json");
}

async fn raw_post(
    app: &TestApp,
    path: &str,
    token: &str,
    body: impl Into<reqwest::Body>,
) -> (StatusCode, HeaderMap, Value) {
    let resp = app
        .http
        .post(app.url(path))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    (status, headers, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn malformed_json_missing_fields_and_wrong_types_are_400() {
    let app = TestApp::simulator("").await;
    let token = app.register("err@example.com", None).await.access_token;
    let cases: [(&str, &str); 7] = [
        ("{\"order\": ", "malformed_json"),
        ("not json at all", "malformed_json"),
        ("{}", "invalid_request"),
        (
            r#"{"order": {"code": "S1-US", "amount": 1, "total": 1}}"#,
            "invalid_request",
        ),
        (
            // Localized strings ("$4.99") are prices; text that is no price is still refused.
            r#"{"order": {"purchaseId": "p", "code": "S1-US", "amount": "four dollars", "total": 1}}"#,
            "invalid_request",
        ),
        (
            r#"{"order": {"purchaseId": "p", "code": "S1-US", "amount": 1, "total": 1, "qty": -1}}"#,
            "invalid_request",
        ),
        (
            r#"{"order": {"purchaseId": "a/b", "code": "S1-US", "amount": 1, "total": 1}}"#,
            "invalid_request",
        ),
    ];
    for (body, code) in cases {
        let (status, headers, resp) = raw_post(&app, "/roku/payment", &token, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {resp}");
        assert_error_body(&resp, &headers, code);
    }
    let (_, _, resp) = raw_post(
        &app,
        "/roku/payment",
        &token,
        r#"{"order": {"code": "S1-US", "amount": 1, "total": 1}}"#,
    )
    .await;
    assert_eq!(
        resp["error"]["message"],
        "Missing field `purchaseId` in `order`."
    );
}

#[tokio::test]
async fn oversize_body_is_413() {
    let app = TestApp::simulator("[server]\nbody_limit = 2048\n").await;
    let token = app.register("big@example.com", None).await.access_token;
    let mut body = order("p-big", "S1-US");
    body["padding"] = json!("x".repeat(4096));
    let (status, headers, resp) = raw_post(&app, "/roku/payment", &token, body.to_string()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_error_body(&resp, &headers, "payload_too_large");
    // Just under the limit is fine (reaches validation and is accepted).
    let (status, _, resp) = raw_post(
        &app,
        "/roku/payment?wait=0",
        &token,
        order("p-small", "S1-US").to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{resp}");
}

#[tokio::test]
async fn unknown_route_and_wrong_method_use_the_error_body() {
    let app = TestApp::simulator("").await;
    let (status, headers, body) = app.call(reqwest::Method::GET, "/nope", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_body(&body, &headers, "not_found");
    let (status, headers, body) = app
        .call(reqwest::Method::GET, "/roku/sessions", None, None)
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_error_body(&body, &headers, "method_not_allowed");
    assert!(headers.contains_key("allow"));
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_a_given_one_is_kept() {
    let app = TestApp::simulator("").await;
    let token = app.register("rid@example.com", None).await.access_token;
    let resp = app
        .http
        .get(app.url("/roku/entitlements"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(!resp.headers()["x-request-id"].is_empty());
    let resp = app
        .http
        .get(app.url("/roku/entitlements"))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(resp.headers()["x-request-id"], "trace-me-123");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["requestId"], "trace-me-123");
}

/// An entitlement lookup on a bridge started with `extra` while Cleeng takes `delay` to answer.
async fn slow_lookup(extra: &str, delay: Duration) -> (StatusCode, HeaderMap, Value) {
    let app = TestApp::cleeng(extra).await;
    let token = app.signed_in("slow@example.com", "C1").await;
    let answer = ResponseTemplate::new(200)
        .set_body_json(json!({"accessGranted": true}))
        .set_delay(delay);
    app.mock().access_answers(answer).mount().await;
    app.call(
        reqwest::Method::GET,
        "/roku/entitlements/S1-US",
        Some(&token),
        None,
    )
    .await
}

#[tokio::test]
async fn a_request_over_its_time_budget_is_503_not_a_hang() {
    let (status, headers, body) = slow_lookup(
        "[server]\nrequest_timeout = \"300ms\"\n",
        Duration::from_secs(1),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_error_body(&body, &headers, "timeout");
    assert!(headers.contains_key("retry-after"));
}

#[tokio::test]
async fn provider_timeout_is_503() {
    let (status, headers, body) =
        slow_lookup("[provider]\ntimeout = \"200ms\"\n", Duration::from_secs(2)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_error_body(&body, &headers, "provider_unavailable");
}

#[tokio::test]
async fn framework_rejections_get_the_error_body_too() {
    // Found by the API fuzzer: a missing query field was axum's plain-text 400.
    let app = TestApp::simulator("").await;
    let token = app.register("q@example.com", None).await.access_token;
    let (status, headers, body) = app
        .call(
            reqwest::Method::GET,
            "/roku/catalog/upgrade-preview?from=x",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(body["error"]["code"], "invalid_request");
    assert!(body["error"]["message"].as_str().unwrap().contains("to"));
    assert!(body["error"]["requestId"].is_string());
}
