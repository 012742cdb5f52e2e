//! Attacks an anonymous client can mount from the open internet, each bounded in count and
//! time and on loopback, and what the bridge must still do for real customers meanwhile.
//! Sources are told apart by X-Forwarded-For from a trusted proxy (127.0.0.0/8), the way a
//! bridge behind a load balancer sees them. Each attack prints its numbers.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::{
    backend::Backend,
    fake_roku::{self, FakeRoku},
    helpers::{TestApp, order},
};

const BEHIND_PROXY: &str = "[limits]\ntrusted_proxies = [\"127.0.0.0/8\"]\n";
const ROKU_SOURCE: &str = "203.0.113.5";

async fn push_from(app: &TestApp, client: &reqwest::Client, source: &str, body: String) -> u16 {
    client
        .post(app.url("/roku/notifications"))
        .header("content-type", "text/plain")
        .header("x-forwarded-for", source)
        .body(body)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

#[tokio::test]
async fn genuine_pushes_are_all_answered_during_an_unsigned_flood() {
    let roku = FakeRoku::start().await;
    // A shared budget small enough that a few seconds of flood on loopback would drain it.
    let limits = "[limits]\nroku_per_second = 20\nroku_burst = 40\n";
    let app =
        TestApp::cleeng_layers(Backend::Sqlite, &[&roku.config(), BEHIND_PROXY, limits]).await;
    app.mock().push_relay().mount().await;
    let app = Arc::new(app);
    let deadline = Instant::now() + Duration::from_secs(3);
    let flooded = Arc::new(AtomicUsize::new(0));
    let mut flood = Vec::new();
    for task in 0..8 {
        let (app, flooded) = (app.clone(), flooded.clone());
        flood.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let source = format!("198.51.100.{task}");
            while Instant::now() < deadline {
                push_from(&app, &client, &source, "x".into()).await;
                flooded.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let client = reqwest::Client::new();
    let genuine = 30;
    let mut answered = 0;
    let mut statuses = Vec::new();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..genuine {
        let jws = fake_roku::push(
            &fake_roku::sale(&format!("tx-f{i}"), "rc-f", "S1-US"),
            &format!("flood-{i}"),
        );
        let status = push_from(&app, &client, ROKU_SOURCE, jws).await;
        answered += usize::from(status == 200);
        statuses.push(status);
        tokio::time::sleep(Duration::from_millis(80)).await;
    }
    for task in flood {
        task.await.unwrap();
    }
    println!(
        "unsigned flood: {} forged posts; genuine pushes answered 200: {answered}/{genuine}",
        flooded.load(Ordering::Relaxed)
    );
    assert_eq!(answered, genuine, "{statuses:?}");
}

/// Opens `n` connections that announce a large body and send one byte of it.
async fn slow_uploads(app: &TestApp, n: usize, path: &str) -> Vec<TcpStream> {
    let mut held = Vec::new();
    for _ in 0..n {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: bridge\r\ncontent-type: text/plain\r\ncontent-length: 60000\r\n\r\nx"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        held.push(stream);
    }
    held
}

#[tokio::test]
async fn genuine_pushes_are_all_answered_during_a_slow_upload_attack() {
    let roku = FakeRoku::start().await;
    let server = "[server]\nmax_concurrency = 64\nbody_read_timeout = \"1s\"\n";
    let app = TestApp::cleeng_layers(Backend::Sqlite, &[&roku.config(), server]).await;
    app.mock().push_relay().mount().await;
    let mut held = slow_uploads(&app, 70, "/roku/notifications").await;
    held.extend(slow_uploads(&app, 70, "/roku/sessions").await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let genuine = 20;
    let mut answered = 0;
    let mut statuses = Vec::new();
    for i in 0..genuine {
        let jws = fake_roku::push(
            &fake_roku::sale(&format!("tx-s{i}"), "rc-s", "S1-US"),
            &format!("slow-{i}"),
        );
        let ack = app.push(&jws).await;
        answered += usize::from(ack.status == StatusCode::OK);
        statuses.push(ack.status.as_u16());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "slow uploads: {} held connections; genuine pushes answered 200: {answered}/{genuine}",
        held.len()
    );
    assert_eq!(answered, genuine, "{statuses:?}");
    // The slow senders themselves are answered and cut off once their time is up.
    let mut cut = 0;
    for stream in &mut held {
        let mut buf = vec![0u8; 4096];
        let read = tokio::time::timeout(Duration::from_secs(3), async {
            let mut all = Vec::new();
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return all,
                    Ok(n) => all.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await;
        if let Ok(answer) = read
            && String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 408")
        {
            cut += 1;
        }
    }
    println!("slow uploads: {cut}/{} cut off with 408", held.len());
    assert_eq!(cut, held.len());
}

/// Whether the server closed `stream` within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn idle_and_trickling_connections_are_closed_and_capped_per_source() {
    let server = "[server]\nheader_read_timeout = \"1s\"\nmax_connections_per_source = 60\n";
    let app = TestApp::simulator(server).await;
    // Silent, trickling (a header line, never the end), and idle after one request.
    let mut silent = Vec::new();
    for _ in 0..20 {
        silent.push(TcpStream::connect(app.addr).await.unwrap());
    }
    for _ in 0..20 {
        let mut s = TcpStream::connect(app.addr).await.unwrap();
        s.write_all(b"GET /openapi.json HTTP/1.1\r\nhost: b")
            .await
            .unwrap();
        silent.push(s);
    }
    for _ in 0..10 {
        let mut s = TcpStream::connect(app.addr).await.unwrap();
        s.write_all(b"GET /roku/catalog HTTP/1.1\r\nhost: bridge\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 512];
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0 && buf.starts_with(b"HTTP/1.1"));
        silent.push(s);
    }
    let started = Instant::now();
    let mut closed = 0;
    for s in &mut silent {
        let left = Duration::from_secs(4).saturating_sub(started.elapsed());
        closed += usize::from(closed_within(s, left).await);
    }
    println!(
        "idle connections: {closed}/{} closed within {:?}",
        silent.len(),
        started.elapsed()
    );
    assert_eq!(closed, silent.len());
    // One source holding connections: past the cap, new ones are closed at once.
    let mut held = Vec::new();
    for _ in 0..80 {
        held.push(TcpStream::connect(app.addr).await.unwrap());
    }
    let mut refused = 0;
    for s in held.iter_mut().skip(60) {
        refused += usize::from(closed_within(s, Duration::from_millis(300)).await);
    }
    println!("per-source cap: {refused}/20 connections past 60 closed at once");
    assert_eq!(refused, 20);
    drop(held);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let resp = app.http.get(app.url("/openapi.json")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn genuine_sign_in_and_receipts_are_served_during_a_purchase_id_flood() {
    let roku = FakeRoku::start().await;
    let app = TestApp::cleeng_layers(
        Backend::Sqlite,
        &[&roku.config_with_api_key(), BEHIND_PROXY],
    )
    .await;
    app.accept_receipts_and_grant().await;
    let token = app.signed_in("ann@example.com", "C100").await;
    roku.vouches("tx-bob", "rc-bob", "S1-US", true).await;
    roku.vouches("tx-ann", "rc-ann", "S1-US", true).await;
    let store = app.store().await;
    store
        .link_account("rc-bob", "C200", Some("bob@example.com"))
        .await
        .unwrap();
    let app = Arc::new(app);
    // 200 anonymous sign-ins with made-up ids from one source, all at once.
    let mut flood = Vec::new();
    for i in 0..200 {
        let app = app.clone();
        flood.push(tokio::spawn(async move {
            let resp = app
                .http
                .post(app.url("/roku/sessions"))
                .header("x-forwarded-for", "198.51.100.9")
                .json(&json!({"purchaseId": format!("guess-{i}")}))
                .send()
                .await;
            resp.map(|r| r.status().as_u16()).unwrap_or(0)
        }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let bob = app
        .http
        .post(app.url("/roku/sessions"))
        .header("x-forwarded-for", "192.0.2.44")
        .json(&json!({"purchaseId": "tx-bob"}))
        .send()
        .await
        .unwrap();
    let bob_status = bob.status();
    let bob_took = started.elapsed();
    let started = Instant::now();
    let receipt = app.post_receipt(&token, order("tx-ann", "S1-US")).await;
    let receipt_took = started.elapsed();
    let mut refused = 0;
    for task in flood {
        refused += usize::from(task.await.unwrap() == 429);
    }
    let calls = roku.validate_calls().await;
    println!(
        "purchase-id flood: 200 anonymous guesses, {refused} refused with 429, {calls} Roku calls; \
         genuine sign-in {bob_status} in {bob_took:?}, receipt {} in {receipt_took:?}",
        receipt.status
    );
    assert_eq!(bob_status, StatusCode::OK);
    assert_eq!(receipt.status, StatusCode::OK, "{}", receipt.body);
    assert!(bob_took < Duration::from_secs(2), "{bob_took:?}");
    assert!(receipt_took < Duration::from_secs(2), "{receipt_took:?}");
    assert!(calls <= 20, "{calls} validate-transaction calls");
}

#[tokio::test]
async fn a_roku_customer_linked_to_one_account_is_not_taken_over_by_another() {
    let roku = FakeRoku::start().await;
    let app = TestApp::cleeng_layers(Backend::Sqlite, &[&roku.config_with_api_key()]).await;
    app.accept_receipts_and_grant().await;
    let alice = app.signed_in("alice@example.com", "C-ALICE").await;
    let bob = app.signed_in("bob@example.com", "C-BOB").await;
    roku.vouches("tx-alice-7f3a9c1e5b2d", "rc-shared", "S1-US", true)
        .await;
    roku.vouches("tx-bob-2", "rc-shared", "S1-US", true).await;
    let first = app
        .post_receipt(&alice, order("tx-alice-7f3a9c1e5b2d", "S1-US"))
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let second = app.post_receipt(&bob, order("tx-bob-2", "S1-US")).await;
    assert_eq!(second.status, StatusCode::CONFLICT, "{}", second.body);
    assert_eq!(second.code(), "purchase_linked_elsewhere");
    let session = app.purchase_session("tx-alice-7f3a9c1e5b2d", None).await;
    assert_eq!(session.status, StatusCode::OK, "{}", session.body);
    assert_eq!(session.body["customer"]["id"], "C-ALICE");
    // The purchase id works as a login: no INFO-or-above line carries it whole.
    let logs = crate::helpers::captured_logs();
    for line in logs.lines().filter(|l| l.contains("tx-alice-7f3a9c1e5b2d")) {
        assert!(
            !["\"INFO\"", "\"WARN\"", "\"ERROR\""]
                .iter()
                .any(|l| line.contains(l)),
            "{line}"
        );
    }
}

#[tokio::test]
async fn dot_segment_ids_are_refused_with_no_outbound_call() {
    let roku = FakeRoku::start().await;
    let app = TestApp::cleeng_layers(Backend::Sqlite, &[&roku.config_with_api_key()]).await;
    let token = app.signed_in("ann@example.com", "C100").await;
    for code in ["%2E%2E", "%2e", "."] {
        let (status, body) = app.get(&format!("/roku/entitlements/{code}"), &token).await;
        assert!(status.is_client_error(), "{code}: {status} {body}");
    }
    for id in [".", ".."] {
        let reply = app.purchase_session(id, None).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{id}");
        let receipt = app.post_receipt(&token, order(id, "S1-US")).await;
        assert!(receipt.status.is_client_error(), "{id}: {}", receipt.body);
    }
    assert_eq!(roku.validate_calls().await, 0);
    assert!(app.cleeng_requests("/3.1/entitlements").await.is_empty());
    assert!(app.cleeng_requests("/roku/payment").await.is_empty());
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_revokes_its_whole_family() {
    let app = TestApp::simulator("").await;
    let first = app.register("fam@example.com", None).await;
    let second = app.refresh(&first.refresh_token).await.session();
    // The thief replays the rotated token: refused, and the successor stops working too.
    assert_eq!(
        app.refresh(&first.refresh_token).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.refresh(&second.refresh_token).await.status,
        StatusCode::UNAUTHORIZED
    );
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("roku_bridge_refresh_reuse_total"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_failing_key_set_is_fetched_a_bounded_number_of_times() {
    let roku = FakeRoku::start().await;
    let keys = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .respond_with(wiremock::ResponseTemplate::new(500))
        .mount(&keys)
        .await;
    let config = format!("[roku]\njwks_url = \"{}/jwks.json\"\n", keys.uri());
    let app = TestApp::cleeng_layers(Backend::Sqlite, &[&roku.config(), &config]).await;
    let jws: Vec<_> = (0..200)
        .map(|i| {
            let claims = fake_roku::claims(&fake_roku::sale("tx-k", "rc-k", "S1-US"), "k");
            fake_roku::sign_with(&claims, fake_roku::ROKU_KEY, &format!("rotated-{i}"))
        })
        .collect();
    for token in &jws {
        assert_eq!(
            app.push(token).await.status,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
    let fetches = keys.received_requests().await.unwrap().len();
    println!("key-set outage: 200 pushes, {fetches} fetches");
    assert!(fetches <= 4, "{fetches} fetches");
}

#[tokio::test]
async fn provider_text_reaches_devices_redacted_and_capped() {
    let app = TestApp::cleeng("").await;
    let token = app.signed_in("ann@example.com", "C100").await;
    let quoted = format!(
        "Token {} is not allowed for this offer. {}",
        crate::helpers::PUBLISHER_TOKEN,
        "x".repeat(500)
    );
    app.mock()
        .receipts(
            wiremock::ResponseTemplate::new(422)
                .set_body_json(json!({"code": "OFFER01", "message": quoted})),
        )
        .mount()
        .await;
    let answer = app.post_receipt(&token, order("tx-redact", "S1-US")).await;
    let text = answer.body.to_string();
    assert!(!text.contains(crate::helpers::PUBLISHER_TOKEN), "{text}");
    assert!(text.len() < 600, "{} bytes", text.len());
}

#[tokio::test]
async fn one_account_meets_a_budget_whatever_address_the_guesses_come_from() {
    let app = TestApp::cleeng(BEHIND_PROXY).await;
    app.mock().refuses_logins().mount().await;
    let mut refused = Vec::new();
    for i in 0..8 {
        let resp = app
            .http
            .post(app.url("/roku/sessions"))
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .json(&json!({"email": "Ann@Example.com", "password": format!("guess-{i}")}))
            .send()
            .await
            .unwrap();
        refused.push(resp.status().as_u16());
    }
    // Five free failures, then the account is locked whatever the case of the address.
    assert_eq!(&refused[..5], &[401; 5], "{refused:?}");
    assert!(refused[6..].iter().all(|s| *s == 429), "{refused:?}");
    let reply = app
        .sessions(json!({"email": "an\u{200B}n@example.com", "password": "x", "register": true}))
        .await;
    assert_eq!(reply.code(), "invalid_email");
}
