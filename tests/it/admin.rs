//! The admin listener: Prometheus metrics, liveness, readiness, and the drain on shutdown.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{PUBLISHER_TOKEN, SIGNING_KEY, TestApp, order, routes::metric_sum as sample};

async fn admin_get(app: &TestApp, path: &str) -> (StatusCode, String) {
    let resp = app.http.get(app.admin_url(path)).send().await.unwrap();
    (resp.status(), resp.text().await.unwrap())
}

#[tokio::test]
async fn health_and_readiness_answer_on_the_admin_listener_only() {
    let app = TestApp::simulator("").await;
    let (status, body) = admin_get(&app, "/healthz").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = admin_get(&app, "/readyz").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ready: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["store"], "ok");
    assert_eq!(ready["provider"], "simulator");
    // Not on the public API.
    let resp = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn metrics_count_requests_by_route_provider_calls_and_cache_results_without_secrets() {
    let app = TestApp::cleeng("").await;
    app.accept_receipts_and_grant().await;
    let token = app.signed_in("met@example.com", "C-MET").await;
    let purchase = "tx-metrics-9f3e";
    let (status, _) = app
        .post("/roku/payment", Some(&token), order(purchase, "S1-US"))
        .await;
    assert_eq!(status, StatusCode::OK);
    for _ in 0..3 {
        let (status, _) = app.get("/roku/entitlements/S1-US", &token).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (_, metrics) = admin_get(&app, "/metrics").await;
    let requests = sample(
        &metrics,
        "roku_bridge_http_requests_total",
        &[
            "route=\"/roku/entitlements/{code}\"",
            "status=\"200\"",
            "method=\"GET\"",
        ],
    )
    .unwrap_or(0.0);
    assert!(requests >= 3.0, "{requests}\n{metrics}");
    assert!(metrics.contains("roku_bridge_http_request_duration_seconds_bucket"));
    assert!(
        sample(
            &metrics,
            "roku_bridge_provider_calls_total",
            &[
                "operation=\"receipt\"",
                "outcome=\"ok\"",
                "provider=\"cleeng\""
            ]
        )
        .is_some()
    );
    assert!(
        sample(
            &metrics,
            "roku_bridge_entitlement_cache_total",
            &["result=\"hit\""]
        )
        .is_some()
    );
    assert!(
        sample(
            &metrics,
            "roku_bridge_confirmations_total",
            &["outcome=\"granted\""]
        )
        .is_some()
    );
    assert!(metrics.contains("roku_bridge_outbox_items{status=\"pending\"}"));
    // Routes are patterns: no purchase id, token or key becomes a label.
    for secret in [purchase, token.as_str(), PUBLISHER_TOKEN, SIGNING_KEY] {
        assert!(!metrics.contains(secret), "metrics leak {secret}");
    }
}

#[tokio::test]
async fn shutdown_turns_readiness_false_first_and_finishes_requests_in_flight() {
    let app = TestApp::simulator(
        "[server]\ndrain_delay = \"600ms\"\nshutdown_grace = \"5s\"\n[provider.simulator]\ngrant_delay = \"900ms\"\n",
    )
    .await;
    let token = app.register("drain@example.com", None).await.access_token;
    // A confirmation in flight when the stop comes.
    let url = app.url("/roku/payment");
    let body = order("tx-drain", "S598742062-US");
    let http = app.http.clone();
    let in_flight = tokio::spawn(async move {
        http.post(url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .map(|r| r.status())
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    app.stop();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, body) = admin_get(&app, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.contains("\"draining\":true"));
    // Still serving during the drain delay…
    let (status, _) = admin_get(&app, "/healthz").await;
    assert_eq!(status, StatusCode::OK);
    // …and the request in flight gets its answer.
    let status = in_flight.await.unwrap().expect("answered, not cut off");
    assert_eq!(status, StatusCode::OK);
    // Then the API stops accepting.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        app.http
            .get(app.url("/roku/entitlements"))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_fresh_scrape_lists_every_family_with_process_metrics_and_build_info() {
    let app = TestApp::simulator("").await;
    let (status, metrics) = admin_get(&app, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    for family in roku_bridge::metric_families::FAMILIES {
        assert!(
            metrics
                .lines()
                .any(|l| !l.starts_with('#') && l.starts_with(family)),
            "{family} missing from a fresh scrape:\n{metrics}"
        );
    }
    for family in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        assert!(metrics.contains(family), "{family} missing:\n{metrics}");
    }
    let build = sample(
        &metrics,
        "roku_bridge_build_info",
        &[&format!("version=\"{}\"", env!("CARGO_PKG_VERSION"))],
    );
    assert_eq!(build, Some(1.0), "{metrics}");
    // Known label sets at zero, so rate() has a series from the first scrape.
    assert!(
        sample(
            &metrics,
            "roku_bridge_pushes_total",
            &["outcome=\"rejected\"", "reason=\"bad signature\""]
        )
        .is_some(),
        "{metrics}"
    );
    assert!(
        sample(
            &metrics,
            "roku_bridge_deliveries_total",
            &["target=\"provider\"", "outcome=\"dead\""]
        )
        .is_some(),
        "{metrics}"
    );
}
