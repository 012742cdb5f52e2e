//! Rate limits: per client IP before tokens are checked, per customer after, Roku apart.

use reqwest::StatusCode;

use crate::{
    fake_roku::{self, FakeRoku},
    helpers::TestApp,
};

async fn entitlements(
    app: &TestApp,
    token: &str,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let mut req = app
        .http
        .get(app.url("/roku/entitlements"))
        .bearer_auth(token);
    if let Some(xff) = forwarded_for {
        req = req.header("x-forwarded-for", xff);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn a_flooding_client_gets_429_with_retry_after_and_roku_still_gets_through() {
    let roku = FakeRoku::start().await;
    let limits = "[limits]\nper_ip_per_second = 1\nper_ip_burst = 3\n";
    let app = TestApp::simulator(&format!("{}\n{limits}", roku.config())).await;
    let token = app.register("flood@example.com", None).await.access_token; // spends 1 of the burst
    for _ in 0..2 {
        assert_eq!(
            entitlements(&app, &token, None).await.status(),
            StatusCode::OK
        );
    }
    let refused = entitlements(&app, &token, None).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&after), "{after}");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    // A forged X-Forwarded-For from an untrusted peer changes nothing.
    let forged = entitlements(&app, &token, Some("198.51.100.1")).await;
    assert_eq!(forged.status(), StatusCode::TOO_MANY_REQUESTS);
    // Roku's pushes have their own budget.
    let jws = fake_roku::push(&fake_roku::sale("tx-l", "rc-l", "S1-US"), "limits-key");
    assert_eq!(app.push(&jws).await.status, StatusCode::OK);
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    let limits =
        "[limits]\nper_ip_per_second = 1\nper_ip_burst = 2\ntrusted_proxies = [\"127.0.0.0/8\"]\n";
    let app = TestApp::simulator(limits).await;
    let session = app.register("px@example.com", None).await;
    let token = session.access_token.as_str();
    for client in ["203.0.113.1", "203.0.113.2"] {
        for _ in 0..2 {
            let resp = entitlements(&app, token, Some(client)).await;
            assert_eq!(resp.status(), StatusCode::OK, "{client}");
        }
        let resp = entitlements(&app, token, Some(client)).await;
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS, "{client}");
    }
}

#[tokio::test]
async fn one_customer_cannot_spend_everyone_elses_budget() {
    let limits = "[limits]\nper_customer_per_second = 1\nper_customer_burst = 2\n";
    let app = TestApp::simulator(limits).await;
    let greedy = app.register("greedy@example.com", None).await.access_token;
    let polite = app.register("polite@example.com", None).await.access_token;
    for _ in 0..2 {
        assert_eq!(
            entitlements(&app, &greedy, None).await.status(),
            StatusCode::OK
        );
    }
    assert_eq!(
        entitlements(&app, &greedy, None).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        entitlements(&app, &polite, None).await.status(),
        StatusCode::OK
    );
}
