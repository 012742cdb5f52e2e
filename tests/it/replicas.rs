//! Two bridge processes on one PostgreSQL: a push to one invalidates the other's cache, each
//! stored push is relayed once, and a purchase claimed on one is claimed for both.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path, path_regex},
};

use crate::{
    backend::{Backend, fresh_url},
    fake_roku::{self, FakeRoku},
    helpers::{order, wait_for},
    restart::{Bridge, process_config},
};

const PUSH_PATH: &str = "/roku/push-notification/123456789";

async fn access_is(cleeng: &MockServer, granted: bool) {
    cleeng.reset().await;
    Mock::given(method("GET"))
        .and(path_regex("^/3.1/entitlements/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"accessGranted": granted})))
        .mount(cleeng)
        .await;
    Mock::given(method("POST"))
        .and(path(PUSH_PATH))
        .respond_with(ResponseTemplate::new(200))
        .mount(cleeng)
        .await;
    Mock::given(method("POST"))
        .and(path("/roku/payment"))
        .respond_with(ResponseTemplate::new(200))
        .mount(cleeng)
        .await;
    for (email, id) in [("one@example.com", "C-ONE"), ("two@example.com", "C-TWO")] {
        Mock::given(method("POST"))
            .and(path("/customers"))
            .and(wiremock::matchers::body_partial_json(
                json!({"email": email}),
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                json!({"responseData": {"customerId": id, "jwt": "j", "refreshToken": "r"}}),
            ))
            .mount(cleeng)
            .await;
    }
}

async fn session(http: &reqwest::Client, bridge: &Bridge, email: &str) -> String {
    let body: Value = http
        .post(format!("http://{}/roku/sessions", bridge.addr))
        .json(&json!({"email": email, "password": "pw-replicas", "register": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["accessToken"].as_str().expect("a session").to_string()
}

async fn granted(http: &reqwest::Client, bridge: &Bridge, token: &str) -> bool {
    let body: Value = http
        .get(format!("http://{}/roku/entitlements/S1-US", bridge.addr))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["accessGranted"].as_bool().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_postgres_share_invalidations_deliveries_and_claims() {
    let roku = FakeRoku::start().await;
    let cleeng = MockServer::start().await;
    access_is(&cleeng, false).await;
    let store = fresh_url(Backend::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    let extra = "[entitlements]\nnot_granted_ttl = \"10m\"\n[limits]\nper_ip_per_second = 0\n";
    let config = process_config(dir.path(), &store.url, &cleeng.uri(), &roku.config(), extra);
    let a = Bridge::start(&config);
    let b = Bridge::start(&config);
    let http = reqwest::Client::new();

    // B caches "not granted" for ten minutes.
    let token = session(&http, &a, "one@example.com").await;
    let roku_store = roku_bridge::store::Store::connect(&store.url)
        .await
        .unwrap();
    roku_store
        .link_account("rc-one", "C-ONE", Some("one@example.com"))
        .await
        .unwrap();
    assert!(!granted(&http, &b, &token).await);
    access_is(&cleeng, true).await;
    assert!(!granted(&http, &b, &token).await, "served from B's cache");

    // The sale reaches A; B hears of it through PostgreSQL and asks the provider again.
    let sale = fake_roku::push(&fake_roku::sale("tx-one", "rc-one", "S1-US"), "one-key");
    let resp = http
        .post(format!("http://{}/roku/notifications", a.addr))
        .body(sale)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    wait_for("B's cache invalidated", || async {
        granted(&http, &b, &token).await
    })
    .await;

    // Pushes arriving at either replica are relayed once each, whichever worker takes them.
    for i in 0..20 {
        let bridge = if i % 2 == 0 { &a } else { &b };
        let jws = fake_roku::push(
            &fake_roku::sale(&format!("tx-r{i}"), &format!("rc-r{i}"), "S1-US"),
            &format!("r-key-{i}"),
        );
        let resp = http
            .post(format!("http://{}/roku/notifications", bridge.addr))
            .body(jws)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
    let relayed = || async {
        cleeng
            .received_requests()
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.url.path() == PUSH_PATH)
            .map(|r| String::from_utf8(r.body).unwrap())
            .collect::<Vec<_>>()
    };
    wait_for("21 relayed pushes", || async {
        relayed().await.len() >= 21
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all = relayed().await;
    let mut unique = all.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(all.len(), 21, "each push relayed once");
    assert_eq!(unique.len(), 21);

    // A purchase claimed through A belongs to its customer on B too.
    let (status, _) = {
        let resp = http
            .post(format!("http://{}/roku/payment", a.addr))
            .bearer_auth(&token)
            .json(&order("tx-shared", "S1-US"))
            .send()
            .await
            .unwrap();
        (resp.status(), ())
    };
    assert!(status.is_success(), "{status}");
    let other = session(&http, &b, "two@example.com").await;
    let resp = http
        .post(format!("http://{}/roku/payment", b.addr))
        .bearer_auth(&other)
        .json(&order("tx-shared", "S1-US"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    roku_store.close().await;
}
