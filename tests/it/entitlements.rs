use std::{sync::Arc, time::Duration};

use reqwest::StatusCode;
use serde_json::json;
use wiremock::ResponseTemplate;

use crate::helpers::TestApp;

async fn access(app: &TestApp, granted: bool, delay: Duration) {
    let answer = ResponseTemplate::new(200)
        .set_body_json(json!({"accessGranted": granted, "expiresAt": 1893456000}))
        .set_delay(delay);
    app.mock().access_answers(answer).mount().await;
}

#[tokio::test]
async fn thousand_concurrent_cold_lookups_make_one_provider_call() {
    // The provider's 1.5 s answer stays well inside its timeout even on a loaded machine: the
    // test is about coalescing, not about how fast a thousand requests arrive.
    let (app, token) = TestApp::with_ann("[provider]\ntimeout = \"10s\"\n").await;
    let app = Arc::new(app);
    // Slow enough that every request arrives while the first fetch is on the wire.
    access(&app, true, Duration::from_millis(1500)).await;
    let client = reqwest::Client::builder().build().unwrap();
    let lookups = (0..1000).map(|_| {
        let client = client.clone();
        let url = app.url("/roku/entitlements/S598742062-US");
        let token = token.clone();
        tokio::spawn(async move {
            let resp = client.get(url).bearer_auth(token).send().await.unwrap();
            (
                resp.status(),
                resp.json::<serde_json::Value>().await.unwrap(),
            )
        })
    });
    for lookup in futures_util::future::join_all(lookups).await {
        let (status, body) = lookup.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["accessGranted"], true);
    }
    assert_eq!(app.cleeng_requests("/3.1/entitlements").await.len(), 1);
}

#[tokio::test]
async fn answers_are_cached_per_customer_and_offer() {
    let (app, token) = TestApp::with_ann("").await;
    access(&app, true, Duration::ZERO).await;
    for _ in 0..5 {
        let answer = app.entitlement(&token, "S598742062-US").await;
        assert_eq!(answer.code, "S598742062-US");
        assert_eq!(answer.offer_id.as_deref(), Some("S598742062_US"));
        assert_eq!(answer.expires_at.as_deref(), Some("2030-01-01T00:00:00Z"));
        assert!(answer.raw["checkedAt"].as_str().unwrap().ends_with('Z'));
        assert!(answer.raw.get("stale").is_none());
    }
    // The offer id names the same product and hits the same entry.
    let (_, body) = app.get("/roku/entitlements/S598742062_US", &token).await;
    assert_eq!(body["code"], "S598742062-US");
    assert_eq!(app.cleeng_requests("/3.1/entitlements").await.len(), 1);
    // Another offer is another entry.
    app.get("/roku/entitlements/S2-US", &token).await;
    assert_eq!(app.cleeng_requests("/3.1/entitlements").await.len(), 2);
}

#[tokio::test]
async fn not_granted_expires_sooner_than_granted() {
    let (app, token) =
        TestApp::with_ann("[entitlements]\ngranted_ttl = \"10m\"\nnot_granted_ttl = \"200ms\"\n")
            .await;
    access(&app, false, Duration::ZERO).await;
    app.get("/roku/entitlements/S1-US", &token).await;
    app.get("/roku/entitlements/S1-US", &token).await;
    assert_eq!(app.cleeng_requests("/3.1/entitlements").await.len(), 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.cleeng.reset().await;
    access(&app, true, Duration::ZERO).await;
    let (_, body) = app.get("/roku/entitlements/S1-US", &token).await;
    assert_eq!(body["accessGranted"], true, "refetched after the short TTL");
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.get("/roku/entitlements/S1-US", &token).await;
    assert_eq!(
        app.cleeng_requests("/3.1/entitlements").await.len(),
        1,
        "granted is kept longer"
    );
}

#[tokio::test]
async fn stale_answer_is_served_while_the_provider_is_down() {
    let (app, token) =
        TestApp::with_ann("[entitlements]\ngranted_ttl = \"100ms\"\nstale_if_error = \"10m\"\n")
            .await;
    access(&app, true, Duration::ZERO).await;
    let (_, body) = app.get("/roku/entitlements/S1-US", &token).await;
    assert_eq!(body["accessGranted"], true);

    app.cleeng.reset().await;
    app.mock()
        .access_answers(ResponseTemplate::new(500))
        .mount()
        .await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let stale = app.entitlement(&token, "S1-US").await;
    assert!(stale.access_granted);
    assert_eq!(stale.stale, Some(true), "{}", stale.raw);

    // With nothing cached there is nothing to serve: 503 with Retry-After.
    let (status, headers, body) = app
        .call(
            reqwest::Method::GET,
            "/roku/entitlements/S2-US",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "provider_unavailable");
    assert!(headers.contains_key("retry-after"));
}

#[tokio::test]
async fn list_reports_every_mapped_product() {
    let (app, token) =
        TestApp::with_ann("[mapping.products]\n\"gold\" = \"S1_US\"\n\"silver\" = \"S2_US\"\n")
            .await;
    app.mock()
        .access_for(
            "C100",
            "S1_US",
            json!({"responseData": {"accessGranted": true, "expiresAt": null}}),
        )
        .access_for(
            "C100",
            "S2_US",
            json!({"responseData": {"accessGranted": false, "expiresAt": 1600000000}}),
        )
        .mount()
        .await;
    let list = app.entitlements(&token).await.entitlements;
    assert_eq!(list.len(), 2);
    assert_eq!(
        (list[0].code.as_str(), list[0].access_granted),
        ("gold", true)
    );
    assert_eq!(list[0].expires_at, None);
    assert_eq!(
        (list[1].code.as_str(), list[1].access_granted),
        ("silver", false)
    );
}

#[tokio::test]
async fn unknown_product_is_404() {
    let (app, token) = TestApp::with_ann("[mapping]\nrule = \"none\"\n").await;
    let (status, body) = app.get("/roku/entitlements/nothing-here", &token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "unknown_product");
}
