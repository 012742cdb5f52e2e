use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::{
    Mock, Request, Respond, ResponseTemplate,
    matchers::{header, method, path, path_regex},
};

use crate::{
    backend::Backend,
    helpers::{PUBLISHER_TOKEN, TestApp, order},
    on_both_backends,
};

/// Cleeng's access check: `false` for the first `grant_after - 1` calls, then `true`.
struct GrantAfter {
    calls: Arc<AtomicUsize>,
    grant_after: usize,
}

impl Respond for GrantAfter {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let granted = n >= self.grant_after;
        ResponseTemplate::new(200).set_body_json(json!({
            "responseData": {"accessGranted": granted, "expiresAt": if granted { json!(1893456000) } else { Value::Null }},
            "errors": []
        }))
    }
}

async fn accept_receipts(app: &TestApp) {
    Mock::given(method("POST"))
        .and(path("/roku/payment"))
        .and(header("X-Publisher-Token", PUBLISHER_TOKEN))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"responseData": {}, "errors": []})),
        )
        .mount(&app.cleeng)
        .await;
}

async fn access_granted_after(app: &TestApp, n: usize) -> Arc<AtomicUsize> {
    let calls = Arc::new(AtomicUsize::new(0));
    Mock::given(method("GET"))
        .and(path_regex(
            r"^/3\.1/entitlements/customer_id/[^/]+/offer_id/[^/]+$",
        ))
        .and(header("X-Publisher-Token", PUBLISHER_TOKEN))
        .respond_with(GrantAfter {
            calls: calls.clone(),
            grant_after: n,
        })
        .mount(&app.cleeng)
        .await;
    calls
}

#[tokio::test]
async fn receipt_is_forwarded_mapped_and_confirmed_after_a_few_polls() {
    let app = TestApp::cleeng("").await;
    let token = app.signed_in("ann@example.com", "C100").await;
    accept_receipts(&app).await;
    let polls = access_granted_after(&app, 3).await;

    let (status, body) = app
        .post(
            "/roku/payment",
            Some(&token),
            order("380e9932ed9a48e8bd66a6ec00b5efd1", "S598742062-US"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "granted");
    assert_eq!(body["offerId"], "S598742062_US");
    assert_eq!(body["code"], "S598742062-US");
    assert_eq!(body["expiresAt"], "2030-01-01T00:00:00Z");
    assert_eq!(polls.load(Ordering::SeqCst), 3);

    let receipts = app.cleeng_requests("/roku/payment").await;
    assert_eq!(receipts.len(), 1);
    let sent: Value = serde_json::from_slice(&receipts[0].body).unwrap();
    assert_eq!(
        sent,
        json!({
            "customerEmail": "ann@example.com",
            "offerId": "S598742062_US",
            "order": {"amount": 4.99, "code": "S598742062-US", "purchaseId": "380e9932ed9a48e8bd66a6ec00b5efd1", "qty": 1, "total": 5.39},
            "ipAddress": "203.0.113.7"
        })
    );
    let access = app.cleeng_requests("/3.1/entitlements").await;
    assert_eq!(
        access[0].url.path(),
        "/3.1/entitlements/customer_id/C100/offer_id/S598742062_US"
    );
}

#[tokio::test]
async fn the_mapping_table_overrides_the_rule() {
    let app = TestApp::cleeng("[mapping.products]\n\"gold-monthly\" = \"S111_US\"\n").await;
    let token = app.signed_in("ann@example.com", "C100").await;
    accept_receipts(&app).await;
    access_granted_after(&app, 1).await;
    let (status, body) = app
        .post(
            "/roku/payment",
            Some(&token),
            order("p-table-1", "gold-monthly"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let sent: Value =
        serde_json::from_slice(&app.cleeng_requests("/roku/payment").await[0].body).unwrap();
    assert_eq!(sent["offerId"], "S111_US");
    assert_eq!(sent["order"]["code"], "gold-monthly");
}

#[tokio::test]
async fn access_that_never_turns_true_gives_202_and_the_status_url_finishes_it() {
    let app = TestApp::cleeng("").await;
    let token = app.signed_in("ann@example.com", "C100").await;
    accept_receipts(&app).await;
    let polls = access_granted_after(&app, usize::MAX).await;

    let (status, headers, body) = app
        .call(
            reqwest::Method::POST,
            "/roku/payment",
            Some(&token),
            Some(order("p-slow-1", "S1-US")),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["status"], "pending");
    assert_eq!(body["statusUrl"], "/roku/payment/p-slow-1");
    assert_eq!(body["retryAfter"], 5);
    assert_eq!(headers["retry-after"], "5");
    let first_round = polls.load(Ordering::SeqCst);
    // 1.5 s budget, 50 ms doubling to 200 ms: the bound the policy documents.
    assert!((2..=12).contains(&first_round), "{first_round} polls");

    // The provider grants later; a status request starts a new round and sees it.
    app.cleeng.reset().await;
    access_granted_after(&app, 1).await;
    let (status, body) = app.get("/roku/payment/p-slow-1?wait=5", &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "granted");
    assert!(
        app.cleeng_requests("/roku/payment").await.is_empty(),
        "no second forward"
    );
}

#[tokio::test]
async fn wait_zero_answers_at_once_while_confirmation_goes_on() {
    let app = TestApp::cleeng("").await;
    let token = app.signed_in("ann@example.com", "C100").await;
    accept_receipts(&app).await;
    access_granted_after(&app, 2).await;
    let (status, body) = app
        .post("/roku/payment?wait=0", Some(&token), order("p-w0", "S1-US"))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (status, body) = app.get("/roku/payment/p-w0?wait=5", &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn provider_4xx_is_502_with_its_code_and_stays_rejected() {
    let app = TestApp::cleeng("").await;
    let token = app.signed_in("ann@example.com", "C100").await;
    Mock::given(method("POST"))
        .and(path("/roku/payment"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({"code": "REQ0001", "message": "Invalid request body"})),
        )
        .expect(1)
        .mount(&app.cleeng)
        .await;
    for _ in 0..2 {
        let (status, body) = app
            .post("/roku/payment", Some(&token), order("p-rej", "S1-US"))
            .await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
        assert_eq!(body["error"]["code"], "provider_rejected");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("REQ0001"),
            "{body}"
        );
    }
}

/// DESIGN.md §2.2: a receipt the bridge accepted is never lost. The provider is down: the
/// receipt is queued durably (202 queued), and the relay forwards it once the provider is back.
async fn provider_down_queues_the_receipt_and_the_relay_delivers_it(backend: Backend) {
    let app = TestApp::cleeng_on(backend, "").await;
    let token = app.signed_in("ann@example.com", "C100").await;
    Mock::given(method("POST"))
        .and(path("/roku/payment"))
        .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", "1"))
        .mount(&app.cleeng)
        .await;
    let (status, headers, body) = app
        .call(
            reqwest::Method::POST,
            "/roku/payment",
            Some(&token),
            Some(order("p-down", "S1-US")),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["status"], "queued");
    assert_eq!(body["statusUrl"], "/roku/payment/p-down");
    assert!(headers.contains_key("retry-after"));
    let (status, body) = app.get("/roku/payment/p-down", &token).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::ACCEPTED, Some("queued"))
    );

    // The provider recovers; the relay's next attempt delivers the very same receipt.
    app.cleeng.reset().await;
    accept_receipts(&app).await;
    access_granted_after(&app, 1).await;
    let mut last = Value::Null;
    for _ in 0..50 {
        let (status, body) = app.get("/roku/payment/p-down?wait=1", &token).await;
        if status == StatusCode::OK {
            last = body;
            break;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(last["status"], "granted", "{last}");
    let forwarded = app.cleeng_requests("/roku/payment").await;
    assert_eq!(forwarded.len(), 1, "delivered once after recovery");
    let sent: Value = serde_json::from_slice(&forwarded[0].body).unwrap();
    assert_eq!(sent["order"]["purchaseId"], "p-down");
    assert_eq!(forwarded[0].headers["x-publisher-token"], PUBLISHER_TOKEN);
}
on_both_backends!(
    provider_down_queues_the_receipt_on,
    provider_down_queues_the_receipt_and_the_relay_delivers_it
);

#[tokio::test]
async fn provider_unreachable_queues_the_receipt() {
    // A port that was just free: nothing listens there.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let app = TestApp::cleeng(&format!("[provider]\nreceipt_url = \"http://{closed}\"\n")).await;
    let token = app.signed_in("ann@example.com", "C100").await;
    let (status, headers, body) = app
        .call(
            reqwest::Method::POST,
            "/roku/payment",
            Some(&token),
            Some(order("p-refused", "S1-US")),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["status"], "queued");
    assert!(headers.contains_key("retry-after"));
}

#[tokio::test]
async fn hundred_concurrent_posts_of_one_purchase_forward_once() {
    let app = Arc::new(TestApp::cleeng("").await);
    let token = app.signed_in("ann@example.com", "C100").await;
    Mock::given(method("POST"))
        .and(path("/roku/payment"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(200)))
        .expect(1)
        .mount(&app.cleeng)
        .await;
    access_granted_after(&app, 2).await;
    let posts = (0..100).map(|_| {
        let app = app.clone();
        let token = token.clone();
        tokio::spawn(async move {
            app.post("/roku/payment", Some(&token), order("p-many", "S1-US"))
                .await
        })
    });
    for post in futures_util::future::join_all(posts).await {
        let (status, body) = post.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "granted");
    }
    assert_eq!(app.cleeng_requests("/roku/payment").await.len(), 1);
    // One confirmation round: the polls of one loop, not of a hundred.
    assert_eq!(app.cleeng_requests("/3.1/entitlements").await.len(), 2);
}

#[tokio::test]
async fn a_purchase_belongs_to_the_first_customer_who_posts_it() {
    let app = TestApp::cleeng("").await;
    let ann = app.signed_in("ann@example.com", "C100").await;
    let bob = app.signed_in("bob@example.com", "C200").await;
    accept_receipts(&app).await;
    access_granted_after(&app, 1).await;
    let (status, _) = app
        .post("/roku/payment", Some(&ann), order("p-owned", "S1-US"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .post("/roku/payment", Some(&bob), order("p-owned", "S1-US"))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "purchase_already_claimed");
    let (status, _) = app.get("/roku/payment/p-owned", &bob).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another customer's receipt is not visible"
    );
    // The owner posting again gets the same outcome, without a second forward.
    let (status, body) = app
        .post("/roku/payment", Some(&ann), order("p-owned", "S1-US"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.cleeng_requests("/roku/payment").await.len(), 1);
    // Same purchase, another product: refused rather than silently re-used.
    let (status, body) = app
        .post("/roku/payment", Some(&ann), order("p-owned", "S2-US"))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "purchase_conflict");
}

#[tokio::test]
async fn customer_email_must_match_the_session() {
    let app = TestApp::cleeng("").await;
    let ann = app.signed_in("ann@example.com", "C100").await;
    let mut body = order("p-mismatch", "S1-US");
    body["customerEmail"] = json!("mallory@example.com");
    let (status, resp) = app.post("/roku/payment", Some(&ann), body.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{resp}");
    assert_eq!(resp["error"]["code"], "customer_mismatch");
    body["customerEmail"] = json!("ANN@example.com");
    accept_receipts(&app).await;
    access_granted_after(&app, 1).await;
    let (status, resp) = app.post("/roku/payment", Some(&ann), body).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
}

#[tokio::test]
async fn unknown_product_is_422_and_reaches_no_provider() {
    let app =
        TestApp::cleeng("[mapping]\nrule = \"none\"\n[mapping.products]\n\"gold\" = \"S1_US\"\n")
            .await;
    let token = app.signed_in("ann@example.com", "C100").await;
    for code in ["silver", "S1_US", ""] {
        let (status, body) = app
            .post("/roku/payment", Some(&token), order("p-unknown", code))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{code}: {body}");
        assert_eq!(body["error"]["code"], "unknown_product");
    }
    assert!(app.cleeng_requests("/roku/payment").await.is_empty());
}

#[tokio::test]
async fn simulator_flow_pending_then_granted_then_entitled() {
    let app = TestApp::simulator(
        "[provider.simulator]\ngrant_delay = \"300ms\"\n[mapping.products]\n\"S598742062-US\" = \"S598742062_US\"\n\"premium\" = \"S705970293_US\"\n",
    )
    .await;
    let token = app.register("sim@example.com", None).await.access_token;
    let (status, body) = app.get("/roku/entitlements/S598742062-US", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["accessGranted"], false);

    let (status, body) = app
        .post(
            "/roku/payment?wait=0",
            Some(&token),
            order("sim-1", "S598742062-US"),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (status, body) = app.get("/roku/payment/sim-1?wait=10", &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "granted");

    // The not-granted answer cached above was replaced by the grant, not left to expire.
    let (status, body) = app.get("/roku/entitlements/S598742062-US", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["accessGranted"], true, "{body}");
    let (_, all) = app.get("/roku/entitlements", &token).await;
    let granted: Vec<_> = all["entitlements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["accessGranted"] == true)
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert_eq!(granted, ["S598742062-US"]);
}

#[tokio::test]
async fn simulator_rejects_configured_offers() {
    let app = TestApp::simulator("[provider.simulator]\nreject_offers = [\"S9_BAD\"]\n").await;
    let token = app.register("rej@example.com", None).await.access_token;
    let (status, body) = app
        .post("/roku/payment", Some(&token), order("sim-rej", "S9-BAD"))
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
}
