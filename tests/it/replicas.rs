//! Two bridge processes on one PostgreSQL: a push to one invalidates the other's cache, each
//! stored push is relayed once, and a purchase claimed on one is claimed for both.

use std::time::Duration;

use reqwest::StatusCode;
use wiremock::{MockServer, ResponseTemplate};

use crate::{
    backend::{Backend, fresh_url, postgres_runs},
    fake_roku::{self, FakeRoku},
    helpers::{
        CleengMock, PUSH_PATH,
        cleeng::bodies_at,
        order,
        process::{Bridge, Spawn, process_config},
        wait_for,
    },
};

async fn access_is(cleeng: &MockServer, granted: bool) {
    cleeng.reset().await;
    let mock = CleengMock::on(cleeng);
    let mock = if granted {
        mock.grants()
    } else {
        mock.denies()
    };
    mock.push_relay()
        .accepts_receipts()
        .registers("one@example.com", "C-ONE")
        .registers("two@example.com", "C-TWO")
        .mount()
        .await;
}

async fn granted(bridge: &Bridge, token: &str) -> bool {
    let body = bridge.get("/roku/entitlements/S1-US", token).await;
    body["accessGranted"].as_bool().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_postgres_share_invalidations_deliveries_and_claims() {
    if !postgres_runs().await {
        return;
    }
    let roku = FakeRoku::start().await;
    let cleeng = MockServer::start().await;
    access_is(&cleeng, false).await;
    let store = fresh_url(Backend::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    let extra = "[entitlements]\nnot_granted_ttl = \"10m\"\n[limits]\nper_ip_per_second = 0\n";
    let config = process_config(dir.path(), &store.url, &cleeng.uri(), &roku.config(), extra);
    let a = Spawn::config(&config).start();
    let b = Spawn::config(&config).start();

    // B caches "not granted" for ten minutes.
    let token = a.register("one@example.com").await;
    let roku_store = roku_bridge::store::Store::connect(&store.url)
        .await
        .unwrap();
    roku_store
        .link_account("rc-one", "C-ONE", Some("one@example.com"))
        .await
        .unwrap();
    assert!(!granted(&b, &token).await);
    access_is(&cleeng, true).await;
    assert!(!granted(&b, &token).await, "served from B's cache");

    // The sale reaches A; B hears of it through PostgreSQL and asks the provider again.
    let sale = fake_roku::push(&fake_roku::sale("tx-one", "rc-one", "S1-US"), "one-key");
    assert_eq!(a.push(&sale).await, StatusCode::OK);
    wait_for("B's cache invalidated", || async {
        granted(&b, &token).await
    })
    .await;

    // Pushes arriving at either replica are relayed once each, whichever worker takes them.
    for i in 0..20 {
        let bridge = if i % 2 == 0 { &a } else { &b };
        let jws = fake_roku::push(
            &fake_roku::sale(&format!("tx-r{i}"), &format!("rc-r{i}"), "S1-US"),
            &format!("r-key-{i}"),
        );
        assert_eq!(bridge.push(&jws).await, StatusCode::OK);
    }
    wait_for("21 relayed pushes", || async {
        bodies_at(&cleeng, PUSH_PATH).await.len() >= 21
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all = bodies_at(&cleeng, PUSH_PATH).await;
    let mut unique = all.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(all.len(), 21, "each push relayed once");
    assert_eq!(unique.len(), 21);

    // A purchase claimed through A belongs to its customer on B too.
    let status = a.post_receipt(&token, order("tx-shared", "S1-US")).await;
    assert!(status.is_success(), "{status}");
    let other = b.register("two@example.com").await;
    let status = b.post_receipt(&other, order("tx-shared", "S1-US")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    roku_store.close().await;
}

/// Two replicas of one config on one fresh PostgreSQL database, Cleeng accepting receipts and
/// granting; `env` is added to both (timings under test).
async fn replica_pair(
    cleeng: &MockServer,
    env: &[(&str, &str)],
) -> (
    Bridge,
    Bridge,
    String,
    crate::backend::StoreGuard,
    tempfile::TempDir,
) {
    let roku = FakeRoku::start().await;
    let store = fresh_url(Backend::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    let extra = "[limits]\nper_ip_per_second = 0\n";
    let config = process_config(dir.path(), &store.url, &cleeng.uri(), &roku.config(), extra);
    let mut spawn = Spawn::config(&config);
    for (k, v) in env {
        spawn = spawn.env(k, *v);
    }
    let a = spawn.start();
    let b = spawn.start();
    let token = a.register("one@example.com").await;
    (a, b, token, store, dir)
}

async fn post_receipt(
    bridge: &Bridge,
    token: &str,
    body: serde_json::Value,
) -> (StatusCode, serde_json::Value) {
    bridge
        .call(
            reqwest::Method::POST,
            "/roku/payment",
            Some(token),
            Some(body),
        )
        .await
}

/// The receipt forwards Cleeng received for `purchase_id`.
async fn forwards_of(cleeng: &MockServer, purchase_id: &str) -> usize {
    bodies_at(cleeng, "/roku/payment")
        .await
        .iter()
        .filter(|b| b.contains(&format!("\"{purchase_id}\"")))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purchase_posted_to_two_replicas_at_once_is_forwarded_once() {
    if !postgres_runs().await {
        return;
    }
    let cleeng = MockServer::start().await;
    CleengMock::on(&cleeng)
        .grants()
        .accepts_receipts()
        .registers("one@example.com", "C-ONE")
        .mount()
        .await;
    let (a, b, token, _store, _dir) = replica_pair(&cleeng, &[]).await;
    const ROUNDS: usize = 20;
    let mut doubled = Vec::new();
    for round in 0..ROUNDS {
        let purchase = format!("tx-both-{round}");
        let body = order(&purchase, "S1-US");
        let ((status_a, answer_a), (status_b, answer_b)) = tokio::join!(
            post_receipt(&a, &token, body.clone()),
            post_receipt(&b, &token, body)
        );
        assert_eq!(status_a, StatusCode::OK, "round {round}: {answer_a}");
        assert_eq!(
            (status_a, &answer_a),
            (status_b, &answer_b),
            "round {round}"
        );
        let forwards = forwards_of(&cleeng, &purchase).await;
        if forwards != 1 {
            doubled.push((round, forwards));
        }
    }
    assert!(
        doubled.is_empty(),
        "rounds with other than one forward, of {ROUNDS}: {doubled:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_forward_hands_the_receipt_on_after_its_lease() {
    if !postgres_runs().await {
        return;
    }
    let cleeng = MockServer::start().await;
    // The first forward hangs (the owner is killed while it waits); the next is accepted.
    CleengMock::on(&cleeng)
        .grants()
        .receipts(ResponseTemplate::new(200).set_delay(Duration::from_secs(60)))
        .once()
        .accepts_receipts()
        .registers("one@example.com", "C-ONE")
        .mount()
        .await;
    let env = [
        ("ROKU_BRIDGE__PAYMENT__LEASE", "1s"),
        ("ROKU_BRIDGE__PAYMENT__CONFIRM_TIMEOUT", "8s"),
        ("ROKU_BRIDGE__PROVIDER__TIMEOUT", "30s"),
    ];
    let (a, b, token, _store, _dir) = replica_pair(&cleeng, &env).await;
    let body = order("tx-killed", "S1-US");
    let to_a = {
        let (url, token, body) = (a.url("/roku/payment"), token.clone(), body.clone());
        tokio::spawn(async move {
            // Cut off by the kill: its answer is never read.
            let _ = reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await;
        })
    };
    wait_for("A's forward under way", || async {
        forwards_of(&cleeng, "tx-killed").await == 1
    })
    .await;
    // B follows A's round instead of forwarding; then A dies holding the lease.
    let to_b = tokio::spawn({
        let (url, token) = (b.url("/roku/payment"), token.clone());
        async move {
            let resp = reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = resp.status();
            (status, resp.json::<serde_json::Value>().await.unwrap())
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(forwards_of(&cleeng, "tx-killed").await, 1, "B waits for A");
    let killed_at = std::time::Instant::now();
    a.kill9();
    let _ = to_a.await;
    let (status, answer) = to_b.await.unwrap();
    let took = killed_at.elapsed();
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], "granted", "{answer}");
    assert!(took < Duration::from_secs(4), "handed on after {took:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    // One hung forward (never answered) and one accepted, by B.
    assert_eq!(forwards_of(&cleeng, "tx-killed").await, 2);
    eprintln!("receipt handed on {took:?} after the owner was killed (lease 1s)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_or_a_sign_out_on_one_replica_reaches_the_other_within_a_second() {
    if !postgres_runs().await {
        return;
    }
    let cleeng = MockServer::start().await;
    access_is(&cleeng, false).await;
    let env = [("ROKU_BRIDGE__ENTITLEMENTS__NOT_GRANTED_TTL", "10m")];
    let (a, b, token, _store, _dir) = replica_pair(&cleeng, &env).await;
    assert!(!granted(&b, &token).await);
    access_is(&cleeng, true).await;
    assert!(!granted(&b, &token).await, "served from B's cache");

    let (status, answer) = post_receipt(&a, &token, order("tx-grant", "S1-US")).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], "granted");
    let confirmed = std::time::Instant::now();
    let mut seen = None;
    while confirmed.elapsed() < Duration::from_secs(1) {
        if granted(&b, &token).await {
            seen = Some(confirmed.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let seen = seen.expect("B answers granted within 1 s of A's confirmation");
    eprintln!("B answered granted {seen:?} after A confirmed");

    // Signing out everywhere through A drops the customer's answers on B too.
    access_is(&cleeng, false).await;
    assert!(granted(&b, &token).await, "B's cached grant");
    let (status, _) = a
        .call(
            reqwest::Method::POST,
            "/roku/sessions/revoke",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let revoked = std::time::Instant::now();
    let mut dropped = None;
    while revoked.elapsed() < Duration::from_secs(1) {
        if !granted(&b, &token).await {
            dropped = Some(revoked.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let dropped = dropped.expect("B asks the provider again within 1 s of the sign-out");
    eprintln!("B dropped its answer {dropped:?} after the sign-out on A");
}
