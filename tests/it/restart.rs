//! The bridge killed with SIGKILL loses nothing it acknowledged: a real process, a real file.

use std::time::Duration;

use reqwest::StatusCode;
use roku_bridge::{roku::isu::email_hash, store::Store};
use serde_json::Value;
use wiremock::MockServer;

use crate::{
    backend::{Backend, fresh_url},
    fake_roku::{self, FakeRoku},
    helpers::{
        CleengMock, PUSH_PATH, SIGNING_KEY,
        cleeng::bodies_at,
        order,
        process::{Spawn, process_config},
        publisher_webhook, wait_for,
    },
    on_both_backends,
};

const CATALOG: &str = include_str!("../../config/catalog.example.toml");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_pushes_and_accepted_receipts_survive_sigkill() {
    let roku = FakeRoku::start().await;
    let cleeng = MockServer::start().await;
    // Everything downstream but registration is down while the first bridge runs.
    CleengMock::on(&cleeng)
        .registers_anyone("C1")
        .every_post(503)
        .mount()
        .await;

    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}/bridge.db", dir.path().display());
    let config = process_config(dir.path(), &store, &cleeng.uri(), &roku.config(), "");

    let first = Spawn::config(&config).start();
    let token = first.register("k@example.com").await;
    let status = first
        .post_receipt(&token, order("tx-killed", "S1-US"))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let mut pushes = Vec::new();
    for i in 0..5 {
        let jws = fake_roku::push(
            &fake_roku::sale(&format!("t{i}"), "rc-k", "S1-US"),
            &format!("kill-{i}"),
        );
        assert_eq!(first.push(&jws).await, StatusCode::OK);
        pushes.push(jws);
    }
    let again = first.kill9();

    // Downstream recovers; a new process on the same file delivers everything, once.
    cleeng.reset().await;
    CleengMock::on(&cleeng)
        .every_post(200)
        .grants()
        .mount()
        .await;
    let second = again.start();
    let mut delivered = Vec::new();
    let mut receipts = 0;
    for _ in 0..100 {
        delivered = bodies_at(&cleeng, PUSH_PATH).await;
        receipts = bodies_at(&cleeng, "/roku/payment").await.len();
        if delivered.len() >= pushes.len() && receipts >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(delivered, pushes, "every acknowledged push, once, in order");
    assert_eq!(receipts, 1, "the accepted receipt, once");
    let status = second.get("/roku/payment/tx-killed?wait=5", &token).await;
    assert_eq!(status["status"], "granted", "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_cleanly_and_restarts_keep_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let spawn = Spawn::default_in(dir.path())
        // A fixed key: the channel's token has to outlive the process that issued it.
        .env("ROKU_BRIDGE__SESSION__SIGNING_KEY", SIGNING_KEY);
    let first = spawn.start();
    let token = first.register("term@example.com").await;
    let status = first.post_receipt(&token, order("tx-term", "S1-US")).await;
    assert!(status.is_success(), "{status}");
    let (exit, again) = first.terminate();
    assert!(exit.success(), "SIGTERM is a clean stop: {exit}");

    // A new process on the same file knows the receipt; so does one after a SIGKILL.
    let second = again.start();
    let health = reqwest::get(second.admin_url("/healthz")).await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let receipt = second.get("/roku/payment/tx-term?wait=5", &token).await;
    assert_eq!(receipt["status"], "granted", "{receipt}");
    let third = second.restart();
    let receipt = third.get("/roku/payment/tx-term", &token).await;
    assert_eq!(receipt["status"], "granted", "{receipt}");
}

/// What an acknowledged push still owes is written with the push: killed before the outbox
/// worker got to it, the bridge applies it after restart — the add-on revoked once its base is
/// refunded, `entitlement.revoked` sent once, the account link learnt from the receipt, and
/// the email hash for Instant Signup eligibility.
async fn push_follow_ups_survive_sigkill(backend: Backend) {
    let roku = FakeRoku::start().await;
    let cleeng = MockServer::start().await;
    CleengMock::on(&cleeng)
        .registers_anyone("C-F")
        .accepts_receipts()
        .grants()
        .push_relay()
        .mount()
        .await;
    let publisher = publisher_webhook().await;
    let guard = fresh_url(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let config = process_config(
        dir.path(),
        &guard.url,
        &cleeng.uri(),
        &roku.config(),
        CATALOG,
    );
    let spawn = Spawn::config(&config).env(
        "ROKU_BRIDGE__RELAY__EVENTS_URL",
        format!("{}/events", publisher.uri()),
    );

    // The outbox worker of the first process waits a minute before its first look: the kill
    // lands between every push's acknowledgement and its follow-ups.
    let held = spawn
        .clone()
        .env("ROKU_BRIDGE_TEST_RELAY_START_DELAY_MS", "60000")
        .start();
    let token = held.register("follow@example.com").await;
    assert_eq!(
        held.post_receipt(&token, order("tx-base", "basic-monthly"))
            .await,
        StatusCode::OK
    );
    let mut sale = fake_roku::event("Sale", "tx-base", "rc-f", "basic-monthly");
    sale["email"] = "Follow@Example.com".into();
    for (event, key) in [
        (sale, "f1"),
        (
            fake_roku::event("Sale", "tx-addon", "rc-f", "sports-monthly"),
            "f2",
        ),
        (
            fake_roku::event("Refund", "tx-base", "rc-f", "basic-monthly"),
            "f3",
        ),
    ] {
        assert_eq!(
            held.push(&fake_roku::push(&event, key)).await,
            StatusCode::OK
        );
    }
    let store = Store::connect(&guard.url).await.unwrap();
    let addon_state = || async {
        store
            .subscription("rc-f", "sports-monthly")
            .await
            .unwrap()
            .map(|s| s.state.as_str())
    };
    // Acknowledged and durable, not applied yet.
    assert_eq!(addon_state().await, Some("active"));
    assert!(store.account("rc-f").await.unwrap().is_none());
    let _ = held.kill9();

    let _second = spawn.start();
    wait_for("the add-on revoked after restart", || async {
        addon_state().await == Some("revoked")
    })
    .await;
    wait_for("the publisher told", || async {
        !publisher.received_requests().await.unwrap().is_empty()
    })
    .await;
    let account = store
        .account("rc-f")
        .await
        .unwrap()
        .expect("the link learnt");
    assert_eq!(account.customer_id, "C-F");
    let hash = store
        .email_hash(&email_hash("follow@example.com"))
        .await
        .unwrap()
        .expect("the email hash recorded");
    assert_eq!(hash.roku_customer_id.as_deref(), Some("rc-f"));
    // Give a duplicate every chance to show up before counting.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let revoked: Vec<Value> = publisher
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .filter(|e: &Value| e["type"] == "entitlement.revoked")
        .collect();
    assert_eq!(revoked.len(), 1, "entitlement.revoked once: {revoked:?}");
    assert_eq!(revoked[0]["data"]["sku"], "sports-monthly");
}
on_both_backends!(
    push_follow_ups_survive_sigkill_on,
    push_follow_ups_survive_sigkill
);
