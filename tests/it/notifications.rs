//! Roku Pay pushes: verified, stored before the ack, relayed unchanged, applied once.

use std::time::Duration;

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::ResponseTemplate;

use crate::{
    backend::Backend,
    fake_roku::{self, FakeRoku, KID, ROKU_KEY, WRONG_KEY},
    helpers::{
        PUBLISHER_ID, PUSH_PATH, TestApp,
        cleeng::{Accepted, bodies_at},
        order, publisher_hook, wait_for,
    },
    on_both_backends,
};

async fn app_with_roku(backend: Backend, extra: &str) -> (TestApp, FakeRoku) {
    let roku = FakeRoku::start().await;
    let app = TestApp::cleeng_on(backend, &format!("{}\n{extra}", roku.config())).await;
    (app, roku)
}

/// The same, with Cleeng's push relay endpoint taking every push.
async fn relaying_app(backend: Backend) -> (TestApp, FakeRoku) {
    let (app, roku) = app_with_roku(backend, "").await;
    accept_pushes(&app).await;
    (app, roku)
}

async fn stored(app: &TestApp) -> i64 {
    let store = app.store().await;
    let n = store.push_count().await.unwrap();
    store.close().await;
    n
}

async fn relayed(app: &TestApp) -> Vec<String> {
    bodies_at(&app.cleeng, PUSH_PATH).await
}

async fn accept_pushes(app: &TestApp) {
    app.mock().push_relay().mount().await;
}

/// Mounts `answer` on the push relay endpoint.
async fn pushes_answered(app: &TestApp, answer: ResponseTemplate) {
    app.mock().push_relay_answers(answer).mount().await;
}

async fn every_transaction_type_is_stored_acknowledged_and_relayed(backend: Backend) {
    let (app, _roku) = relaying_app(backend).await;
    let kinds = [
        "Sale",
        "Resubscribe",
        "Cancellation",
        "Refund",
        "Credit",
        "GraceInitiated",
        "GraceRecovered",
        "OnHoldInitiated",
        "OnHoldRecovered",
        "UpgradeSale",
        "UpgradeCancellation",
        "DowngradeSale",
        "DowngradeCancellation",
        "CancellationOfferInitiated",
        "CancellationOfferEnded",
        "Chargeback",
        "ChargebackReversed",
        "SecondChargeback",
        "SomethingRokuAddsLater",
    ];
    let mut sent = Vec::new();
    for (i, kind) in kinds.iter().enumerate() {
        let event = fake_roku::event(kind, &format!("tx{i}"), &format!("rc{i}"), "S1-US");
        let jws = fake_roku::push(&event, &format!("key-{i}"));
        let ack = app.push(&jws).await;
        assert_eq!(ack.status, StatusCode::OK, "{kind}: {}", ack.body);
        assert_eq!(ack.content_type, "text/plain", "{kind}");
        assert_eq!(
            ack.body,
            format!("rk-tx{i}"),
            "{kind}: the ack is the responseKey"
        );
        sent.push(jws);
    }
    assert_eq!(stored(&app).await, kinds.len() as i64);
    wait_for("every push relayed", || async {
        relayed(&app).await.len() == kinds.len()
    })
    .await;
    let mut got = relayed(&app).await;
    got.sort();
    sent.sort();
    assert_eq!(got, sent, "the provider receives the exact signed bytes");
    let req = &app.cleeng_requests(PUSH_PATH).await[0];
    assert_eq!(req.headers["content-type"], "text/plain");
    assert!(PUSH_PATH.ends_with(PUBLISHER_ID));
}
on_both_backends!(
    every_transaction_type_on,
    every_transaction_type_is_stored_acknowledged_and_relayed
);

async fn forged_pushes_are_refused_and_nothing_is_stored(backend: Backend) {
    let (app, roku) = app_with_roku(backend, "").await;
    let event = fake_roku::sale("tx-forged", "rc1", "S1-US");
    let claims = fake_roku::claims(&event, "forged-key");
    let good = fake_roku::push(&event, "good-key");
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());

    // Payload swapped after signing.
    let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
    let mut tampered_claims = claims.clone();
    tampered_claims["x-Roku-message"] = json!(
        base64::engine::general_purpose::STANDARD
            .encode(fake_roku::sale("tx-forged", "rc-attacker", "S1-US").to_string())
    );
    parts[1] = b64(&tampered_claims);
    let tampered = parts.join(".");
    let wrong_key = fake_roku::sign_with(&claims, WRONG_KEY, KID);
    let unknown_kid = fake_roku::sign_with(&claims, ROKU_KEY, "not-a-roku-kid");
    let alg_none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT", "kid": KID})),
        b64(&claims)
    );
    let mut hs_header = Header::new(Algorithm::HS256);
    hs_header.kid = Some(KID.into());
    let hs256_with_public_key = jsonwebtoken::encode(
        &hs_header,
        &claims,
        &EncodingKey::from_secret(include_bytes!("../fixtures/roku-test-pub.pem")),
    )
    .unwrap();
    let mut expired = claims.clone();
    expired["exp"] = json!(fake_roku::now() - 3600);
    expired["nbf"] = json!(fake_roku::now() - 7200);
    let mut not_yet = claims.clone();
    not_yet["nbf"] = json!(fake_roku::now() + 3600);
    let mut wrong_iss = claims.clone();
    wrong_iss["iss"] = json!("Roku, Inc. urn:roku:apps:someone-else");
    let mut no_exp = claims.clone();
    no_exp.as_object_mut().unwrap().remove("exp");

    let cases = [
        ("tampered payload", tampered),
        ("wrong key", wrong_key),
        ("unknown kid", unknown_kid),
        ("alg none", alg_none),
        ("HS256 with the public key", hs256_with_public_key),
        ("expired", fake_roku::sign_with(&expired, ROKU_KEY, KID)),
        (
            "not yet valid",
            fake_roku::sign_with(&not_yet, ROKU_KEY, KID),
        ),
        (
            "wrong issuer",
            fake_roku::sign_with(&wrong_iss, ROKU_KEY, KID),
        ),
        ("no exp", fake_roku::sign_with(&no_exp, ROKU_KEY, KID)),
        ("not a JWS", "hello roku".to_string()),
        ("empty", String::new()),
    ];
    for (name, body) in &cases {
        let ack = app.push(body).await;
        assert_eq!(ack.status, StatusCode::UNAUTHORIZED, "{name}: {}", ack.body);
        let error: Value = serde_json::from_str(&ack.body).unwrap();
        assert_eq!(error["error"]["code"], "invalid_signature", "{name}");
    }
    assert_eq!(stored(&app).await, 0);
    // The unknown kid caused at most one refetch beyond the first load.
    assert!(
        roku.jwks_fetches().await <= 2,
        "{} fetches",
        roku.jwks_fetches().await
    );
    // And a genuine push still passes.
    assert_eq!(app.push(&good).await.status, StatusCode::OK);
    assert_eq!(stored(&app).await, 1);
}
on_both_backends!(
    forged_pushes_are_refused_on,
    forged_pushes_are_refused_and_nothing_is_stored
);

async fn the_same_push_twice_is_stored_and_relayed_once(backend: Backend) {
    let (app, _roku) = relaying_app(backend).await;
    let jws = fake_roku::push(&fake_roku::sale("tx-dup", "rc1", "S1-US"), "dup-key");
    for _ in 0..3 {
        let ack = app.push(&jws).await;
        assert_eq!(
            (ack.status, ack.body.as_str()),
            (StatusCode::OK, "rk-tx-dup")
        );
    }
    // Roku's dashboard replay re-signs the same message under the same key.
    let mut claims = fake_roku::claims(&fake_roku::sale("tx-dup", "rc1", "S1-US"), "dup-key");
    claims["exp"] = json!(claims["exp"].as_i64().unwrap() + 1);
    let replay = fake_roku::sign_with(&claims, ROKU_KEY, KID);
    assert_ne!(replay, jws);
    assert_eq!(app.push(&replay).await.status, StatusCode::OK);
    assert_eq!(stored(&app).await, 1);
    wait_for("the relay", || async { relayed(&app).await.len() == 1 }).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(relayed(&app).await.len(), 1);
}
on_both_backends!(
    the_same_push_twice_on,
    the_same_push_twice_is_stored_and_relayed_once
);

async fn pushes_wait_out_a_provider_outage_and_arrive_in_order_per_customer(backend: Backend) {
    let (app, _roku) = app_with_roku(backend, "").await;
    app.mock()
        .push_relay_answers(ResponseTemplate::new(503))
        .until_replaced()
        .mount()
        .await;
    let mut sent = Vec::new();
    for (i, (kind, rcid)) in [
        ("Sale", "A"),
        ("Sale", "B"),
        ("GraceInitiated", "A"),
        ("GraceRecovered", "A"),
        ("Cancellation", "B"),
    ]
    .iter()
    .enumerate()
    {
        let jws = fake_roku::push(
            &fake_roku::event(kind, &format!("t{i}"), rcid, "S1-US"),
            &format!("k{i}"),
        );
        assert_eq!(
            app.push(&jws).await.status,
            StatusCode::OK,
            "acknowledged while the provider is down"
        );
        sent.push((rcid.to_string(), jws));
    }
    wait_for("a few failed attempts", || async {
        app.cleeng_requests(PUSH_PATH).await.len() >= 4
    })
    .await;
    // The outage mock stays beneath the accepting one: no retry meets an empty server.
    let accepted = Accepted::default();
    app.mock().push_relay_into(&accepted).mount().await;
    wait_for("everything delivered after recovery", || async {
        accepted.bodies().len() == 5
    })
    .await;
    let got = accepted.bodies();
    for customer in ["A", "B"] {
        let expected: Vec<_> = sent
            .iter()
            .filter(|(c, _)| c == customer)
            .map(|(_, j)| j.clone())
            .collect();
        let delivered: Vec<_> = got
            .iter()
            .filter(|j| expected.contains(j))
            .cloned()
            .collect();
        assert_eq!(
            delivered, expected,
            "customer {customer}'s pushes in order of arrival"
        );
    }
}
on_both_backends!(
    pushes_wait_out_a_provider_outage_on,
    pushes_wait_out_a_provider_outage_and_arrive_in_order_per_customer
);

async fn a_push_refused_by_a_target_goes_to_the_dead_letters(backend: Backend) {
    let (app, _roku) = app_with_roku(backend, "").await;
    pushes_answered(&app, ResponseTemplate::new(404)).await;
    let jws = fake_roku::push(&fake_roku::sale("tx-dead", "rc1", "S1-US"), "dead-key");
    assert_eq!(app.push(&jws).await.status, StatusCode::OK);
    let store = app.store().await;
    wait_for("the dead letter", || async {
        store.outbox_depth().await.unwrap() == (0, 1)
    })
    .await;
    let dead = store
        .list_outbox(Some(roku_bridge::store::OutboxStatus::Dead), 10)
        .await
        .unwrap();
    assert_eq!(dead[0].last_error.as_deref(), Some("HTTP 404"));
    // Fixed target, redriven: delivered.
    app.cleeng.reset().await;
    accept_pushes(&app).await;
    assert_eq!(store.redrive(None).await.unwrap(), 1);
    wait_for("redriven delivery", || async {
        relayed(&app).await.len() == 1
    })
    .await;
}
on_both_backends!(
    a_push_refused_by_a_target_on,
    a_push_refused_by_a_target_goes_to_the_dead_letters
);

#[tokio::test]
async fn relay_targets_beyond_the_provider_get_their_own_copy() {
    let roku = FakeRoku::start().await;
    let publisher = publisher_hook("/hooks/roku").await;
    let extra = format!(
        "{}\n[[relay.targets]]\nname = \"publisher\"\nurl = \"{}/hooks/roku\"\n",
        roku.config(),
        publisher.uri()
    );
    let app = TestApp::cleeng(&extra).await;
    accept_pushes(&app).await;
    let jws = fake_roku::push(&fake_roku::sale("tx-both", "rc1", "S1-US"), "both-key");
    assert_eq!(app.push(&jws).await.status, StatusCode::OK);
    wait_for("both targets", || async {
        relayed(&app).await.len() == 1 && publisher.received_requests().await.unwrap().len() == 1
    })
    .await;
    assert_eq!(
        publisher.received_requests().await.unwrap()[0].body,
        jws.as_bytes()
    );
}

#[tokio::test]
async fn other_message_types_are_acknowledged_and_ignored_and_key_invalidation_refetches() {
    let (app, roku) = app_with_roku(Backend::Sqlite, "").await;
    let mut claims = fake_roku::claims(&json!({"hello": "test"}), "test-msg");
    claims["x-Roku-message-type"] = json!("dashboard test");
    let ack = app
        .push(&fake_roku::sign_with(&claims, ROKU_KEY, KID))
        .await;
    assert_eq!(ack.status, StatusCode::OK);
    assert_eq!(stored(&app).await, 0);

    let before = roku.jwks_fetches().await;
    let mut invalidate = fake_roku::claims(&json!({}), "inv");
    invalidate["x-Roku-message-type"] = json!("roku.invalidate_public_keys");
    assert_eq!(
        app.push(&fake_roku::sign_with(&invalidate, ROKU_KEY, KID))
            .await
            .status,
        StatusCode::OK
    );
    let jws = fake_roku::push(&fake_roku::sale("tx-after", "rc1", "S1-US"), "after-inv");
    assert_eq!(app.push(&jws).await.status, StatusCode::OK);
    assert_eq!(
        roku.jwks_fetches().await,
        before + 1,
        "the keys were fetched again"
    );
}

#[tokio::test]
async fn a_signed_but_unreadable_push_is_stored_and_acknowledged() {
    let (app, _roku) = app_with_roku(Backend::Sqlite, "").await;
    let mut claims = fake_roku::claims(&json!({}), "garbled");
    claims["x-Roku-message"] = json!("%%% not base64 %%%");
    let ack = app
        .push(&fake_roku::sign_with(&claims, ROKU_KEY, KID))
        .await;
    assert_eq!((ack.status, ack.body.as_str()), (StatusCode::OK, ""));
    assert_eq!(stored(&app).await, 1);
}

#[tokio::test]
async fn keys_unavailable_is_503_so_roku_resends() {
    let app = TestApp::cleeng("").await; // jwks_url points at a closed port
    let jws = fake_roku::push(&fake_roku::sale("tx", "rc", "S1-US"), "k");
    let ack = app.push(&jws).await;
    assert_eq!(ack.status, StatusCode::SERVICE_UNAVAILABLE, "{}", ack.body);
    assert_eq!(stored(&app).await, 0);
}

async fn a_push_invalidates_the_linked_customer_s_cached_entitlement(backend: Backend) {
    let (app, _roku) = relaying_app(backend).await;
    let token = app.signed_in("ann@example.com", "C100").await;
    // Ann bought S1-US through the bridge: the receipt links her Roku customer id on the push.
    app.mock()
        .accepts_receipts()
        .access(json!({"accessGranted": true, "expiresAt": 1893456000}))
        .mount()
        .await;
    let receipt = app.post_receipt(&token, order("tx-ann", "S1-US")).await;
    assert_eq!(receipt.status, StatusCode::OK);
    assert!(app.entitlement(&token, "S1-US").await.access_granted);
    let sale = fake_roku::push(&fake_roku::sale("tx-ann", "rc-ann", "S1-US"), "ann-sale");
    assert_eq!(app.push(&sale).await.status, StatusCode::OK);
    let store = app.store().await;
    wait_for("the link learnt from the receipt", || async {
        store.account("rc-ann").await.unwrap().is_some()
    })
    .await;

    // Roku cancels; the provider now says no.
    app.cleeng.reset().await;
    app.mock()
        .push_relay()
        .access(json!({"accessGranted": false, "expiresAt": null}))
        .mount()
        .await;
    let mut cancel = fake_roku::event("Cancellation", "tx-ann-c", "rc-ann", "S1-US");
    cancel["eventDate"] = json!(fake_roku::iso(fake_roku::now() + 5));
    assert_eq!(
        app.push(&fake_roku::push(&cancel, "ann-cancel"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        store.account("rc-ann").await.unwrap().unwrap().customer_id,
        "C100",
        "link learnt from the receipt"
    );
    let sub = store
        .subscription("rc-ann", "S1-US")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sub.state.as_str(), "cancelled");
    // Dropping the cached grant happens just after the ack.
    wait_for("the cached grant dropped", || async {
        !app.entitlement(&token, "S1-US").await.access_granted
    })
    .await;
}
on_both_backends!(
    a_push_invalidates_the_linked_customer_on,
    a_push_invalidates_the_linked_customer_s_cached_entitlement
);
