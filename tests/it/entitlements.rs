use std::{sync::Arc, time::Duration};

use reqwest::StatusCode;
use serde_json::json;
use wiremock::{
    Mock, ResponseTemplate,
    matchers::{method, path, path_regex},
};

use crate::helpers::TestApp;

async fn access(app: &TestApp, granted: bool, delay: Duration) {
    Mock::given(method("GET"))
        .and(path_regex(r"^/3\.1/entitlements/"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"accessGranted": granted, "expiresAt": 1893456000}))
                .set_delay(delay),
        )
        .mount(&app.cleeng)
        .await;
}

#[tokio::test]
async fn thousand_concurrent_cold_lookups_make_one_provider_call() {
    let app = Arc::new(TestApp::cleeng("").await);
    let token = app.signed_in("ann@example.com", "C100").await;
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
    let app = TestApp::cleeng("").await;
    let token = app.signed_in("ann@example.com", "C100").await;
    access(&app, true, Duration::ZERO).await;
    for _ in 0..5 {
        let (status, body) = app.get("/roku/entitlements/S598742062-US", &token).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["code"], "S598742062-US");
        assert_eq!(body["offerId"], "S598742062_US");
        assert_eq!(body["expiresAt"], "2030-01-01T00:00:00Z");
        assert!(body["checkedAt"].as_str().unwrap().ends_with('Z'));
        assert!(body.get("stale").is_none());
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
    let app =
        TestApp::cleeng("[entitlements]\ngranted_ttl = \"10m\"\nnot_granted_ttl = \"200ms\"\n")
            .await;
    let token = app.signed_in("ann@example.com", "C100").await;
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
    let app =
        TestApp::cleeng("[entitlements]\ngranted_ttl = \"100ms\"\nstale_if_error = \"10m\"\n")
            .await;
    let token = app.signed_in("ann@example.com", "C100").await;
    access(&app, true, Duration::ZERO).await;
    let (_, body) = app.get("/roku/entitlements/S1-US", &token).await;
    assert_eq!(body["accessGranted"], true);

    app.cleeng.reset().await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/3\.1/entitlements/"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&app.cleeng)
        .await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (status, body) = app.get("/roku/entitlements/S1-US", &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["accessGranted"], true);
    assert_eq!(body["stale"], true);

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
    let app =
        TestApp::cleeng("[mapping.products]\n\"gold\" = \"S1_US\"\n\"silver\" = \"S2_US\"\n").await;
    let token = app.signed_in("ann@example.com", "C100").await;
    Mock::given(method("GET"))
        .and(path("/3.1/entitlements/customer_id/C100/offer_id/S1_US"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"responseData": {"accessGranted": true, "expiresAt": null}})),
        )
        .mount(&app.cleeng)
        .await;
    Mock::given(method("GET"))
        .and(path("/3.1/entitlements/customer_id/C100/offer_id/S2_US"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"responseData": {"accessGranted": false, "expiresAt": 1600000000}}),
        ))
        .mount(&app.cleeng)
        .await;
    let (status, body) = app.get("/roku/entitlements", &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let list = body["entitlements"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(
        (list[0]["code"].as_str(), list[0]["accessGranted"].as_bool()),
        (Some("gold"), Some(true))
    );
    assert_eq!(list[0]["expiresAt"], serde_json::Value::Null);
    assert_eq!(
        (list[1]["code"].as_str(), list[1]["accessGranted"].as_bool()),
        (Some("silver"), Some(false))
    );
}

#[tokio::test]
async fn unknown_product_is_404() {
    let app = TestApp::cleeng("[mapping]\nrule = \"none\"\n").await;
    let token = app.signed_in("ann@example.com", "C100").await;
    let (status, body) = app.get("/roku/entitlements/nothing-here", &token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "unknown_product");
}
