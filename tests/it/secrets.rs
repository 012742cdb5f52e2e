//! Secrets never reach logs or error bodies. The log buffer holds everything every test in this
//! binary logged at trace level, so this checks the whole suite's output, not one flow's.

use serde_json::json;
use wiremock::ResponseTemplate;

use crate::helpers::{PUBLISHER_TOKEN, SIGNING_KEY, TestApp, captured_logs, order};

const PASSWORD: &str = "pw-Zq8wX3vR9tLm2";

#[tokio::test]
async fn publisher_token_signing_key_passwords_and_session_tokens_never_reach_logs_or_bodies() {
    let app = TestApp::cleeng("").await;
    app.mock()
        .registers_anyone("C-SECRET-TEST")
        .refuses_logins()
        .rejects_receipts("REQ0001")
        .access_answers(ResponseTemplate::new(500))
        .mount()
        .await;

    let register = json!({"email": "sec@example.com", "password": PASSWORD, "register": true});
    let session = app.sessions(register).await.session();
    let access = session.access_token.clone();
    let refresh = session.refresh_token.clone();
    let mut bodies = vec![session.raw.to_string()];
    let login = app
        .sessions(json!({"email": "sec@example.com", "password": PASSWORD}))
        .await;
    bodies.push(login.body.to_string());
    let receipt = app.post_receipt(&access, order("p-secret", "S1-US")).await;
    bodies.push(receipt.body.to_string());
    let (_, b) = app.get("/roku/entitlements/S1-US", &access).await;
    bodies.push(b.to_string());
    bodies.push(app.refresh(&refresh).await.body.to_string());

    // Every publisher call carried the token: the secret did travel, just not into logs.
    let publisher_calls: Vec<_> = app
        .cleeng
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path().starts_with("/roku/") || r.url.path().starts_with("/3.1/"))
        .collect();
    assert!(publisher_calls.len() >= 2);
    for call in &publisher_calls {
        assert_eq!(
            call.headers["x-publisher-token"], PUBLISHER_TOKEN,
            "{}",
            call.url
        );
    }
    // MediaStore calls need no publisher token and get none.
    for call in app
        .cleeng_requests("/customers")
        .await
        .iter()
        .chain(app.cleeng_requests("/auths").await.iter())
    {
        assert!(!call.headers.contains_key("x-publisher-token"));
    }

    let logs = captured_logs();
    assert!(
        logs.contains("C-SECRET-TEST"),
        "the flow above was logged (customer id in spans)"
    );
    assert!(
        logs.contains("/roku/payment"),
        "request spans were captured"
    );
    for (name, secret) in [
        ("publisher token", PUBLISHER_TOKEN),
        ("signing key", SIGNING_KEY),
        ("password", PASSWORD),
        ("access token", access.as_str()),
        ("refresh token", refresh.as_str()),
    ] {
        assert!(!logs.contains(secret), "{name} found in logs");
        // A JWT's signature alone is enough to be a leak.
        if let Some(sig) = secret.rsplit('.').next().filter(|s| s.len() > 20) {
            assert!(!logs.contains(sig), "{name} signature found in logs");
        }
    }
    for body in &bodies {
        assert!(
            !body.contains(PUBLISHER_TOKEN)
                && !body.contains(SIGNING_KEY)
                && !body.contains(PASSWORD),
            "{body}"
        );
    }
}
