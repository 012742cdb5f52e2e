//! The bridge killed with SIGKILL loses nothing it acknowledged: a real process, a real file.

use std::time::Duration;

use reqwest::StatusCode;
use wiremock::MockServer;

use crate::{
    fake_roku::{self, FakeRoku},
    helpers::{
        CleengMock, PUSH_PATH, SIGNING_KEY,
        cleeng::bodies_at,
        order,
        process::{Spawn, process_config},
    },
};

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
