//! Roku Pay web services: receipts and purchase sessions are checked with Roku first.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use wiremock::{
    Mock, ResponseTemplate,
    matchers::{method, path},
};

use crate::{
    backend::Backend,
    fake_roku::{API_KEY, FakeRoku},
    helpers::{TestApp, captured_logs, order},
    on_both_backends,
};

async fn app(backend: Backend, extra: &str) -> (TestApp, FakeRoku) {
    let roku = FakeRoku::start().await;
    let app = TestApp::cleeng_layers(backend, &[&roku.config_with_api_key(), extra]).await;
    app.accept_receipts_and_grant().await;
    (app, roku)
}

async fn a_valid_receipt_is_forwarded_and_links_the_roku_customer(backend: Backend) {
    let (app, roku) = app(backend, "").await;
    let token = app.signed_in("ann@example.com", "C100").await;
    roku.vouches("tx-valid", "rc-ann", "S1-US", true).await;
    let answer = app
        .post_receipt_at("/roku/payment", &token, order("tx-valid", "S1-US"))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let store = app.store().await;
    assert_eq!(
        store.account("rc-ann").await.unwrap().unwrap().customer_id,
        "C100"
    );
    // A repeat post does not ask Roku again.
    let answer = app
        .post_receipt_at("/roku/payment", &token, order("tx-valid", "S1-US"))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(roku.validate_calls().await, 1);
}
on_both_backends!(
    a_valid_receipt_is_forwarded_on,
    a_valid_receipt_is_forwarded_and_links_the_roku_customer
);

#[tokio::test]
async fn receipts_roku_does_not_vouch_for_are_422_and_never_forwarded() {
    let (app, roku) = app(Backend::Sqlite, "").await;
    let token = app.signed_in("ann@example.com", "C100").await;
    roku.vouches("tx-cancelled", "rc", "S1-US", false).await;
    roku.vouches("tx-other", "rc", "S9-US", true).await;
    roku.answers(
        "tx-unknown",
        ResponseTemplate::new(200)
            .set_body_json(json!({"status": 1, "errorMessage": "Invalid transaction id"})),
    )
    .await;
    for tx in ["tx-cancelled", "tx-other", "tx-unknown"] {
        let (status, body) = app
            .post("/roku/payment", Some(&token), order(tx, "S1-US"))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{tx}: {body}");
        assert_eq!(body["error"]["code"], "invalid_receipt");
    }
    assert!(app.cleeng_requests("/roku/payment").await.is_empty());
}

#[tokio::test]
async fn roku_429_is_retried_after_a_backoff() {
    let (app, roku) = app(Backend::Sqlite, "").await;
    let token = app.signed_in("ann@example.com", "C100").await;
    Mock::given(method("GET"))
        .and(path(FakeRoku::validate_path("tx-busy")))
        .respond_with(ResponseTemplate::new(429))
        .up_to_n_times(1)
        .mount(&roku.server)
        .await;
    roku.vouches("tx-busy", "rc", "S1-US", true).await;
    let started = Instant::now();
    let answer = app
        .post_receipt_at("/roku/payment?wait=0", &token, order("tx-busy", "S1-US"))
        .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    assert_eq!(roku.validate_calls().await, 2);
    // Roku asks for at least 1 s before the retry: a lower bound, which a slow machine only
    // lengthens.
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn roku_down_is_503_so_the_channel_retries() {
    let (app, roku) = app(Backend::Sqlite, "[roku]\ntimeout = \"1s\"\n").await;
    let token = app.signed_in("ann@example.com", "C100").await;
    roku.answers("tx-down", ResponseTemplate::new(503)).await;
    let answer = app
        .post_receipt_at("/roku/payment", &token, order("tx-down", "S1-US"))
        .await;
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        answer.body
    );
    assert_eq!(answer.code(), "roku_unavailable");
}

async fn a_purchase_opens_a_session_for_the_linked_account_or_creates_one(backend: Backend) {
    let (app, roku) = app(backend, "").await;
    let token = app.signed_in("ann@example.com", "C100").await;
    roku.vouches("tx-ann", "rc-ann", "S1-US", true).await;
    app.post_receipt(&token, order("tx-ann", "S1-US")).await;

    // A second device: the purchase alone signs Ann in.
    let session = app.purchase_session("tx-ann", None).await.session();
    assert_eq!(session.customer.id, "C100");

    // Nobody linked yet: without an email there is no account to open.
    roku.vouches("tx-new", "rc-new", "S1-US", true).await;
    let unknown = app.purchase_session("tx-new", None).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.body);
    assert_eq!(unknown.code(), "account_not_found");
    // With an email the account is created at the provider and linked.
    app.mock()
        .registers("new@example.com", "C900")
        .expect(1)
        .mount()
        .await;
    let created = app
        .purchase_session("tx-new", Some("new@example.com"))
        .await
        .session();
    assert_eq!(created.customer.id, "C900");
    let linked = app.purchase_session("tx-new", None).await;
    assert_eq!(
        (linked.status, linked.body["customer"]["id"].as_str()),
        (StatusCode::OK, Some("C900")),
        "found by the link now"
    );
    let registered = app.cleeng_requests("/customers").await;
    let password = serde_json::from_slice::<serde_json::Value>(&registered.last().unwrap().body)
        .unwrap()["password"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(password.len() >= 20);
    assert!(
        !captured_logs().contains(&password),
        "the generated password is never logged"
    );

    roku.vouches("tx-dead", "rc-x", "S1-US", false).await;
    let dead = app.purchase_session("tx-dead", Some("x@example.com")).await;
    assert_eq!(dead.status, StatusCode::UNPROCESSABLE_ENTITY);
}
on_both_backends!(
    a_purchase_opens_a_session_on,
    a_purchase_opens_a_session_for_the_linked_account_or_creates_one
);

#[tokio::test]
async fn the_roku_api_key_never_reaches_logs_or_bodies() {
    let (app, roku) = app(Backend::Sqlite, "[roku]\ntimeout = \"1s\"\n").await;
    let token = app.signed_in("key@example.com", "C1").await;
    roku.answers(
        "tx-k1",
        ResponseTemplate::new(200)
            .set_body_json(json!({"status": 1, "errorMessage": format!("bad key {API_KEY}")})),
    )
    .await;
    roku.answers("tx-k2", ResponseTemplate::new(500)).await;
    let mut bodies = Vec::new();
    for tx in ["tx-k1", "tx-k2"] {
        bodies.push(
            app.post_receipt(&token, order(tx, "S1-US"))
                .await
                .body
                .to_string(),
        );
    }
    bodies.push(app.purchase_session("tx-k2", None).await.body.to_string());
    assert!(
        roku.validate_calls().await >= 3,
        "the key did travel to Roku"
    );
    for body in &bodies {
        assert!(!body.contains(API_KEY), "{body}");
    }
    assert!(!captured_logs().contains(API_KEY), "the API key was logged");
}
