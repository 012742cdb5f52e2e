use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::ResponseTemplate;

use crate::{
    backend::Backend,
    helpers::{PUBLISHER_TOKEN, TestApp, order, routes::metric_sum},
    on_both_backends,
};

/// Cleeng takes receipts; its access check says yes from the `n`th call on. Returns the count.
async fn accept_and_grant_after(app: &TestApp, n: usize) -> Arc<AtomicUsize> {
    let calls = Arc::new(AtomicUsize::new(0));
    app.mock()
        .accepts_receipts()
        .grants_after(n, &calls)
        .mount()
        .await;
    calls
}

#[tokio::test]
async fn receipt_is_forwarded_mapped_and_confirmed_after_a_few_polls() {
    let (app, token) = TestApp::with_ann("").await;
    let polls = accept_and_grant_after(&app, 3).await;

    let answer = app
        .post_receipt(
            &token,
            order("380e9932ed9a48e8bd66a6ec00b5efd1", "S598742062-US"),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.state(), "granted");
    assert_eq!(answer.body["offerId"], "S598742062_US");
    assert_eq!(answer.body["code"], "S598742062-US");
    assert_eq!(answer.body["expiresAt"], "2030-01-01T00:00:00Z");
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
    let (app, token) =
        TestApp::with_ann("[mapping.products]\n\"gold-monthly\" = \"S111_US\"\n").await;
    accept_and_grant_after(&app, 1).await;
    let answer = app
        .post_receipt(&token, order("p-table-1", "gold-monthly"))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let sent: Value =
        serde_json::from_slice(&app.cleeng_requests("/roku/payment").await[0].body).unwrap();
    assert_eq!(sent["offerId"], "S111_US");
    assert_eq!(sent["order"]["code"], "gold-monthly");
}

#[tokio::test]
async fn access_that_never_turns_true_gives_202_and_the_status_url_finishes_it() {
    let (app, token) = TestApp::with_ann("").await;
    let polls = Arc::new(AtomicUsize::new(0));
    app.mock()
        .accepts_receipts()
        .grants_after(usize::MAX, &polls)
        .until_replaced()
        .mount()
        .await;

    let answer = app.post_receipt(&token, order("p-slow-1", "S1-US")).await;
    let body = &answer.body;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(answer.state(), "pending");
    assert_eq!(body["statusUrl"], "/roku/payment/p-slow-1");
    assert_eq!(body["retryAfter"], 5);
    assert_eq!(answer.headers["retry-after"], "5");
    let first_round = polls.load(Ordering::SeqCst);
    // 1.5 s budget, 50 ms doubling to 200 ms: the bound the policy documents.
    assert!((2..=12).contains(&first_round), "{first_round} polls");

    // The provider grants later (mounted over the refusing check, so no poll ever meets an
    // empty mock server); a status request starts a new round and sees it.
    app.mock().grants_after(1, &Arc::default()).mount().await;
    let status = app.receipt_status(&token, "p-slow-1", Some(5)).await;
    assert_eq!(status.status, StatusCode::OK, "{}", status.body);
    assert_eq!(status.state(), "granted");
    assert_eq!(
        app.cleeng_requests("/roku/payment").await.len(),
        1,
        "forwarded once, no second forward"
    );
}

/// `wait` is the caller's: a status request that finds the POST's round still polling, and
/// sees it end unsettled, waits out the rest in a round of its own.
#[tokio::test]
async fn a_status_wait_outlasts_the_round_it_found_running() {
    let (app, token) = TestApp::with_ann("").await;
    app.mock()
        .accepts_receipts()
        .grants_after(usize::MAX, &Arc::default())
        .until_replaced()
        .mount()
        .await;
    let answer = app
        .post_receipt_at("/roku/payment?wait=0", &token, order("p-rejoin", "S1-US"))
        .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);

    // The grant appears only once the POST's round has ended unsettled (its metric says so),
    // so only a later round can see it.
    let grant_after_the_round = async {
        let ended_pending = |m: &str| {
            metric_sum(
                m,
                "roku_bridge_confirmations_total",
                &["outcome=\"pending\""],
            )
            .is_some_and(|n| n >= 1.0)
        };
        while !ended_pending(&app.metrics().await) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        app.mock().grants_after(0, &Arc::default()).mount().await;
    };
    let (status, ()) = tokio::join!(
        app.receipt_status(&token, "p-rejoin", Some(10)),
        grant_after_the_round
    );
    assert_eq!(status.status, StatusCode::OK, "{}", status.body);
    assert_eq!(status.state(), "granted");
}

#[tokio::test]
async fn wait_zero_answers_at_once_while_confirmation_goes_on() {
    let (app, token) = TestApp::with_ann("").await;
    accept_and_grant_after(&app, 2).await;
    let answer = app
        .post_receipt_at("/roku/payment?wait=0", &token, order("p-w0", "S1-US"))
        .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    let status = app.receipt_status(&token, "p-w0", Some(5)).await;
    assert_eq!(status.status, StatusCode::OK, "{}", status.body);
}

#[tokio::test]
async fn provider_4xx_is_502_with_its_code_and_stays_rejected() {
    let (app, token) = TestApp::with_ann("").await;
    app.mock()
        .rejects_receipts("REQ0001")
        .expect(1)
        .mount()
        .await;
    for _ in 0..2 {
        let answer = app.post_receipt(&token, order("p-rej", "S1-US")).await;
        let body = &answer.body;
        assert_eq!(answer.status, StatusCode::BAD_GATEWAY, "{body}");
        assert_eq!(answer.code(), "provider_rejected");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("REQ0001"),
            "{body}"
        );
    }
}

/// A receipt the bridge accepted is never lost. The provider is down: the receipt is queued
/// durably (202 queued), and the relay forwards it once the provider is back.
async fn provider_down_queues_the_receipt_and_the_relay_delivers_it(backend: Backend) {
    let app = TestApp::cleeng_on(backend, "").await;
    let token = app.signed_in("ann@example.com", "C100").await;
    app.mock()
        .receipts(ResponseTemplate::new(503).insert_header("Retry-After", "1"))
        .until_replaced()
        .mount()
        .await;
    let answer = app.post_receipt(&token, order("p-down", "S1-US")).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    assert_eq!(answer.state(), "queued");
    assert_eq!(answer.body["statusUrl"], "/roku/payment/p-down");
    assert!(answer.headers.contains_key("retry-after"));
    let status = app.receipt_status(&token, "p-down", None).await;
    assert_eq!(
        (status.status, status.state()),
        (StatusCode::ACCEPTED, "queued"),
        "{}",
        status.body
    );

    // The provider recovers; the relay's next attempt delivers the very same receipt.
    // The outage mock stays mounted beneath the new one, so no retry meets an empty server;
    // `expect(1)` (checked when the mock server drops) is the "delivered once".
    app.mock()
        .accepts_receipts()
        .expect(1)
        .grants_after(1, &Arc::default())
        .mount()
        .await;
    let mut last = Value::Null;
    for _ in 0..50 {
        let status = app.receipt_status(&token, "p-down", Some(1)).await;
        last = status.body;
        if status.status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(last["status"], "granted", "{last}");
    // Every attempt, refused or taken, carried the very same receipt.
    let forwarded = app.cleeng_requests("/roku/payment").await;
    assert!(forwarded.len() >= 2, "an attempt in the outage, one after");
    for attempt in &forwarded {
        let sent: Value = serde_json::from_slice(&attempt.body).unwrap();
        assert_eq!(sent["order"]["purchaseId"], "p-down");
        assert_eq!(attempt.headers["x-publisher-token"], PUBLISHER_TOKEN);
    }
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
    let (app, token) =
        TestApp::with_ann(&format!("[provider]\nreceipt_url = \"http://{closed}\"\n")).await;
    let answer = app.post_receipt(&token, order("p-refused", "S1-US")).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    assert_eq!(answer.state(), "queued");
    assert!(answer.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn hundred_concurrent_posts_of_one_purchase_forward_once() {
    let (app, token) = TestApp::with_ann("").await;
    let app = Arc::new(app);
    app.mock()
        .receipts(ResponseTemplate::new(200).set_delay(Duration::from_millis(200)))
        .expect(1)
        .grants_after(2, &Arc::default())
        .mount()
        .await;
    let posts = (0..100).map(|_| {
        let app = app.clone();
        let token = token.clone();
        tokio::spawn(async move { app.post_receipt(&token, order("p-many", "S1-US")).await })
    });
    for post in futures_util::future::join_all(posts).await {
        let answer = post.unwrap();
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert_eq!(answer.state(), "granted");
    }
    assert_eq!(app.cleeng_requests("/roku/payment").await.len(), 1);
    // One confirmation round: the polls of one loop, not of a hundred.
    assert_eq!(app.cleeng_requests("/3.1/entitlements").await.len(), 2);
}

#[tokio::test]
async fn a_purchase_belongs_to_the_first_customer_who_posts_it() {
    let (app, ann) = TestApp::with_ann("").await;
    let bob = app.signed_in("bob@example.com", "C200").await;
    accept_and_grant_after(&app, 1).await;
    let first = app.post_receipt(&ann, order("p-owned", "S1-US")).await;
    assert_eq!(first.status, StatusCode::OK);
    let other = app.post_receipt(&bob, order("p-owned", "S1-US")).await;
    assert_eq!(other.status, StatusCode::CONFLICT);
    assert_eq!(other.code(), "purchase_already_claimed");
    assert_eq!(
        app.receipt_status(&bob, "p-owned", None).await.status,
        StatusCode::NOT_FOUND,
        "another customer's receipt is not visible"
    );
    // The owner posting again gets the same outcome, without a second forward.
    let again = app.post_receipt(&ann, order("p-owned", "S1-US")).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(app.cleeng_requests("/roku/payment").await.len(), 1);
    // Same purchase, another product: refused rather than silently re-used.
    let changed = app.post_receipt(&ann, order("p-owned", "S2-US")).await;
    assert_eq!(changed.status, StatusCode::CONFLICT);
    assert_eq!(changed.code(), "purchase_conflict");
}

#[tokio::test]
async fn customer_email_must_match_the_session() {
    let (app, ann) = TestApp::with_ann("").await;
    let mut body = order("p-mismatch", "S1-US");
    body["customerEmail"] = json!("mallory@example.com");
    let refused = app.post_receipt(&ann, body.clone()).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert_eq!(refused.code(), "customer_mismatch");
    body["customerEmail"] = json!("ANN@example.com");
    accept_and_grant_after(&app, 1).await;
    let answer = app.post_receipt(&ann, body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
}

#[tokio::test]
async fn unknown_product_is_422_and_reaches_no_provider() {
    let (app, token) =
        TestApp::with_ann("[mapping]\nrule = \"none\"\n[mapping.products]\n\"gold\" = \"S1_US\"\n")
            .await;
    for code in ["silver", "S1_US", ""] {
        let answer = app.post_receipt(&token, order("p-unknown", code)).await;
        let body = &answer.body;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{code}: {body}"
        );
        assert_eq!(answer.code(), "unknown_product");
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
    let before = app.entitlement(&token, "S598742062-US").await;
    assert!(!before.access_granted);

    let answer = app
        .post_receipt_at(
            "/roku/payment?wait=0",
            &token,
            order("sim-1", "S598742062-US"),
        )
        .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    let status = app.receipt_status(&token, "sim-1", Some(10)).await;
    assert_eq!(status.status, StatusCode::OK, "{}", status.body);
    assert_eq!(status.state(), "granted");

    // The not-granted answer cached above was replaced by the grant, not left to expire.
    let after = app.entitlement(&token, "S598742062-US").await;
    assert!(after.access_granted, "{}", after.raw);
    let all = app.entitlements(&token).await;
    assert_eq!(all.granted(), ["S598742062-US"]);
}

#[tokio::test]
async fn simulator_rejects_configured_offers() {
    let app = TestApp::simulator("[provider.simulator]\nreject_offers = [\"S9_BAD\"]\n").await;
    let token = app.register("rej@example.com", None).await.access_token;
    let answer = app.post_receipt(&token, order("sim-rej", "S9-BAD")).await;
    assert_eq!(answer.status, StatusCode::BAD_GATEWAY, "{}", answer.body);
}
