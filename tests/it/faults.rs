//! Faults and hostile clients: each test names the promise it checks.

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::Duration,
};

use reqwest::StatusCode;
use roku_bridge::store::{OutboxStatus, Store, now_ms};
use sqlx::Executor;
use wiremock::ResponseTemplate;

use crate::{
    backend::{Backend, fresh_url, postgres_runs},
    fake_roku::{self, FakeRoku},
    helpers::{TestApp, order, wait_for},
};

async fn push(app: &TestApp, jws: String) -> StatusCode {
    app.push(&jws).await.status
}

#[tokio::test]
async fn a_provider_429_with_retry_after_postpones_the_relay_and_the_push_still_arrives() {
    let roku = FakeRoku::start().await;
    // Retry-After is honoured up to relay.max_backoff (an hour by default).
    let app = TestApp::cleeng(&format!(
        "{}\n[relay]\nmax_backoff = \"5s\"\n",
        roku.config()
    ))
    .await;
    app.mock()
        .push_relay_answers(ResponseTemplate::new(429).insert_header("retry-after", "2"))
        .once()
        .push_relay()
        .mount()
        .await;
    let sent_at = now_ms();
    let jws = fake_roku::push(&fake_roku::sale("tx-429", "rc-429", "S1-US"), "k-429");
    assert_eq!(push(&app, jws).await, StatusCode::OK);
    let store = app.store().await;
    wait_for("the 429 recorded", || async {
        store
            .list_outbox(None, 10)
            .await
            .unwrap()
            .iter()
            .any(|r| r.attempts == 1 && r.last_error.as_deref() == Some("HTTP 429"))
    })
    .await;
    // The push's relay to the provider (its follow-up row sits beside it, on its own target).
    let row = store
        .list_outbox(None, 10)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.target == "provider")
        .expect("the provider's relay row");
    // The configured backoff is 100 ms; the provider asked for 2 s and gets at least that.
    assert!(
        row.next_attempt_at >= sent_at + 2000,
        "next attempt {} ms after the push",
        row.next_attempt_at - sent_at
    );
    // Then it is delivered.
    for _ in 0..100 {
        if store
            .list_outbox(Some(OutboxStatus::Delivered), 10)
            .await
            .unwrap()
            .iter()
            .any(|r| r.id == row.id)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the push was never delivered after the Retry-After");
}

/// A server that accepts connections and resets them at once (SO_LINGER 0).
fn resetting_server() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let socket = socket2::SockRef::from(&stream);
            let _ = socket.set_linger(Some(Duration::ZERO));
            drop(stream);
        }
    });
    addr
}

#[tokio::test]
async fn a_provider_that_resets_connections_gets_the_receipt_queued_not_lost() {
    let reset = resetting_server();
    let app = TestApp::cleeng(&format!("[provider]\nreceipt_url = \"http://{reset}\"\n")).await;
    let token = app.signed_in("reset@example.com", "C-RST").await;
    let answer = app.post_receipt(&token, order("tx-reset", "S1-US")).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    assert_eq!(answer.state(), "queued");
    let store = app.store().await;
    let pending = store
        .list_outbox(Some(OutboxStatus::Pending), 10)
        .await
        .unwrap();
    assert!(
        pending
            .iter()
            .any(|r| r.kind.as_str() == "receipt" && r.dedupe_key == "tx-reset")
    );
}

#[tokio::test]
async fn a_provider_whose_name_does_not_resolve_gets_the_receipt_queued_not_lost() {
    let app = TestApp::cleeng("[provider]\nreceipt_url = \"http://provider.invalid\"\n").await;
    let token = app.signed_in("dns@example.com", "C-DNS").await;
    let answer = app.post_receipt(&token, order("tx-dns", "S1-US")).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    assert_eq!(answer.state(), "queued");
}

#[tokio::test]
async fn a_store_outage_mid_run_refuses_pushes_with_503_so_roku_resends_and_recovery_needs_no_restart()
 {
    if !postgres_runs().await {
        return;
    }
    let roku = FakeRoku::start().await;
    let guard = fresh_url(Backend::Postgres).await;
    let db = guard.url.rsplit('/').next().unwrap().to_string();
    // A later layer's store wins over the fresh one every test app gets.
    let store_layer = format!("[store]\nurl = \"{}\"\n", guard.url);
    let app = TestApp::cleeng_layers(Backend::Sqlite, &[&roku.config(), &store_layer]).await;
    app.mock().push_relay().mount().await;
    let first = fake_roku::push(&fake_roku::sale("tx-s1", "rc-s", "S1-US"), "s-1");
    assert_eq!(push(&app, first).await, StatusCode::OK);

    // PostgreSQL stops serving this database: no new connections, the open ones cut.
    let admin_url = guard.url.replace(&db, "postgres");
    let admin = sqlx::PgPool::connect(&admin_url).await.unwrap();
    admin
        .execute(format!("ALTER DATABASE {db} ALLOW_CONNECTIONS false").as_str())
        .await
        .unwrap();
    admin
        .execute(
            format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'"
            )
            .as_str(),
        )
        .await
        .unwrap();
    let during = fake_roku::push(&fake_roku::sale("tx-s2", "rc-s", "S1-US"), "s-2");
    let status = push(&app, during.clone()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let ready = app.http.get(app.admin_url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);

    // The database comes back; Roku resends; nothing was lost and no restart was needed.
    admin
        .execute(format!("ALTER DATABASE {db} ALLOW_CONNECTIONS true").as_str())
        .await
        .unwrap();
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..50 {
        status = push(&app, during.clone()).await;
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(status, StatusCode::OK);
    let store = Store::connect(&guard.url).await.unwrap();
    assert_eq!(store.push_count().await.unwrap(), 2);
    store.close().await;
    admin.close().await;
}

fn raw(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn smuggling_attempts_and_oversize_headers_are_refused_and_the_server_stays_healthy() {
    let app = TestApp::simulator("").await;
    let addr = app.addr;
    let smuggled = tokio::task::spawn_blocking(move || {
        raw(
            addr,
            b"POST /roku/sessions HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /roku/entitlements HTTP/1.1\r\nHost: x\r\n\r\n",
        )
    })
    .await
    .unwrap();
    assert!(smuggled.starts_with("HTTP/1.1 400"), "{smuggled}");
    assert!(
        !smuggled.contains("missing_token"),
        "the smuggled second request was not served: {smuggled}"
    );

    let huge = format!(
        "GET /roku/entitlements HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(200 * 1024)
    );
    let oversize = tokio::task::spawn_blocking(move || raw(addr, huge.as_bytes()))
        .await
        .unwrap();
    assert!(oversize.starts_with("HTTP/1.1 431"), "{oversize}");
    assert!(oversize.contains("headers_too_large"), "{oversize}");
    let health = app
        .http
        .get(app.admin_url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let reply = app.sessions(serde_json::json!({})).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "still serving");
}

#[tokio::test]
async fn slow_clients_holding_connections_do_not_stop_others_being_served() {
    let app = TestApp::simulator("").await;
    let addr = app.addr;
    // Two hundred slow-loris connections, each with half a request line.
    let mut held = Vec::new();
    for _ in 0..200 {
        use tokio::io::AsyncWriteExt;
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /roku/entitlements HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .unwrap();
        held.push(s);
    }
    for _ in 0..20 {
        let reply = app.sessions(serde_json::json!({})).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    }
    drop(held);
}
