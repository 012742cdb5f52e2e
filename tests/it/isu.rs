//! Instant Signup: Roku's HS512 tokens, eligibility by email hash, accounts from the signup.
//!
//! Tokens are built here with the `hmac` crate and hand-assembled JWS, not with the
//! server's JWT library, plus two fixed vectors computed once with Python's `hmac`/`hashlib`.

use base64::Engine;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use roku_bridge::{
    domain::{subscription::Subscription, time::EpochMs},
    roku::isu::email_hash,
};
use serde_json::{Value, json};
use sha2::{Sha256, Sha512};
use wiremock::ResponseTemplate;

use crate::{
    backend::Backend,
    fake_roku::{self, API_KEY, FakeRoku, now},
    helpers::{TestApp, captured_logs, process::run_on_store, publisher_hook, wait_for},
    on_both_backends,
};

const APP_NAME: &str = "roku_test_app";
const PREVIOUS_KEY: &str = "OLD-ROKU-API-KEY-00000000000000000000";
/// Python: HS512 over `{"iss":"roku_instant_signup","sub":"instant_signup_elegibility",
/// "exp":4102444800,"aud":"roku_test_app","iat":1764000000}` with [`API_KEY`].
const PY_PRODUCTS_TOKEN: &str = "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJyb2t1X2luc3RhbnRfc2lnbnVwIiwic3ViIjoiaW5zdGFudF9zaWdudXBfZWxlZ2liaWxpdHkiLCJleHAiOjQxMDI0NDQ4MDAsImF1ZCI6InJva3VfdGVzdF9hcHAiLCJpYXQiOjE3NjQwMDAwMDB9.3rq8ognOHjFUYLtblftx-hOsr7CXXtuPnPp6dWMzhter4TknhFtINSiRfe5Xa55kkdeP6Ofw8AxZCEvp5MORbA";
/// The same with `"sub":"instant_signup_metadata"`.
const PY_IMAGES_TOKEN: &str = "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJyb2t1X2luc3RhbnRfc2lnbnVwIiwic3ViIjoiaW5zdGFudF9zaWdudXBfbWV0YWRhdGEiLCJleHAiOjQxMDI0NDQ4MDAsImF1ZCI6InJva3VfdGVzdF9hcHAiLCJpYXQiOjE3NjQwMDAwMDB9._EPFO_2Bk-sxZEXpnB0rO8K1_jBVz4ToIx6eNvVeVgiPpg9UT012SIIIw1g-3SYhTWrnH6tp2r_4ljN6QDsLxA";
const METADATA: &str = "instant_signup_metadata";
const ELIGIBILITY: &str = "instant_signup_elegibility";

fn isu_config(roku: &FakeRoku) -> String {
    let images: Vec<String> = (0..6)
        .map(|i| format!("\"https://cdn.example.com/isu/{i}.jpg\""))
        .collect();
    format!(
        r#"{roku}
[isu]
app_name = "{APP_NAME}"
previous_api_key = "{PREVIOUS_KEY}"
fallback_locale = "en-us"
[isu.images."en-us"]
images = [{images}]
description = "Every classic film, no ads"
[isu.images."es-mx"]
images = [{images}]
description = "Todas las películas clásicas"
[[isu.products]]
id = "S1-US"
desc = "Unlimited classics"
name = "Monthly"
[[isu.products]]
id = "S2-US"
desc = "Unlimited classics, a whole year"
"#,
        roku = roku.config_with_api_key(),
        images = images.join(", ")
    )
}

async fn app(backend: Backend, extra: &str) -> (TestApp, FakeRoku) {
    let roku = FakeRoku::start().await;
    let app = TestApp::cleeng_layers(backend, &[&isu_config(&roku), extra]).await;
    app.mock().push_relay().mount().await;
    (app, roku)
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A compact JWS signed with HMAC-SHA512 (or SHA-256 for `HS256`) by hand.
fn token_with(alg: &str, key: &[u8], claims: &Value) -> String {
    let header = b64(json!({"alg": alg, "typ": "JWT"}).to_string().as_bytes());
    let payload = b64(claims.to_string().as_bytes());
    let input = format!("{header}.{payload}");
    let sig = match alg {
        "HS512" => {
            let mut mac = Hmac::<Sha512>::new_from_slice(key).unwrap();
            mac.update(input.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        "HS256" => {
            let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
            mac.update(input.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        "none" => Vec::new(),
        other => panic!("no {other}"),
    };
    format!("{input}.{}", b64(&sig))
}

fn claims(sub: &str) -> Value {
    json!({"iss": "roku_instant_signup", "sub": sub, "aud": APP_NAME, "iat": now(), "exp": now() + 3600})
}

fn roku_token(sub: &str) -> String {
    token_with("HS512", API_KEY.as_bytes(), &claims(sub))
}

async fn call(
    app: &TestApp,
    endpoint: &str,
    authorization: Option<&str>,
    headers: &[(&str, &str)],
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = app.http.get(app.url(endpoint));
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    (status, headers, resp.json().await.unwrap_or(Value::Null))
}

async fn products_for(app: &TestApp, email: &str) -> Value {
    let bearer = format!("Bearer {}", roku_token(ELIGIBILITY));
    let hash = email_hash(email);
    let (status, _, body) = call(
        app,
        "/api/offers/rsb/products",
        Some(&bearer),
        &[("roku-reserved-email-hash", &hash), ("locale", "en-us")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn offered(body: &Value) -> Vec<String> {
    body["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn roku_tokens_open_their_own_endpoint_only() {
    let (app, _roku) = app(Backend::Sqlite, "").await;
    // Fixed vectors from another implementation.
    let (status, headers, body) = call(
        &app,
        "/api/offers/rsb/images",
        Some(&format!("Bearer {PY_IMAGES_TOKEN}")),
        &[("locale", "es-MX")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["description"], "Todas las películas clásicas");
    assert_eq!(body["images"].as_array().unwrap().len(), 6);
    assert_eq!(headers["cache-control"], "no-store");
    let (status, _, body) = call(
        &app,
        "/api/offers/rsb/products",
        Some(&format!("Bearer {PY_PRODUCTS_TOKEN}")),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(offered(&body), ["S1-US", "S2-US"]);
    assert_eq!(body["products"][0]["name"], "Monthly");
    assert!(body["products"][1].get("name").is_none());

    // An unknown locale gets the fallback card.
    let bearer = format!("Bearer {}", roku_token(METADATA));
    let (_, _, body) = call(
        &app,
        "/api/offers/rsb/images",
        Some(&bearer),
        &[("locale", "fr-ca")],
    )
    .await;
    assert_eq!(body["description"], "Every classic film, no ads");

    // Each token opens only the endpoint its subject names.
    for (endpoint, sub) in [
        ("/api/offers/rsb/products", METADATA),
        ("/api/offers/rsb/images", ELIGIBILITY),
    ] {
        let bearer = format!("Bearer {}", roku_token(sub));
        let (status, _, body) = call(&app, endpoint, Some(&bearer), &[]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{endpoint} {sub}");
        assert_eq!(body["error"]["code"], "invalid_token");
    }

    // The key being rotated out still works.
    let old = token_with("HS512", PREVIOUS_KEY.as_bytes(), &claims(ELIGIBILITY));
    let (status, _, _) = call(
        &app,
        "/api/offers/rsb/products",
        Some(&format!("Bearer {old}")),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn forged_stale_and_misdirected_tokens_are_refused() {
    let (app, _roku) = app(Backend::Sqlite, "").await;
    let key = API_KEY.as_bytes();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = claims(ELIGIBILITY);
        f(&mut c);
        c
    };
    let rs256 = fake_roku::sign_with(&claims(ELIGIBILITY), fake_roku::ROKU_KEY, "k");
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no Authorization", None),
        (
            "not Bearer",
            Some(format!("Basic {}", roku_token(ELIGIBILITY))),
        ),
        ("empty Bearer", Some("Bearer ".into())),
        ("garbage", Some("Bearer not.a.jwt".into())),
        (
            "wrong key",
            Some(format!(
                "Bearer {}",
                token_with("HS512", b"another-key", &claims(ELIGIBILITY))
            )),
        ),
        (
            "HS256 with the right key",
            Some(format!(
                "Bearer {}",
                token_with("HS256", key, &claims(ELIGIBILITY))
            )),
        ),
        ("RS256", Some(format!("Bearer {rs256}"))),
        (
            "alg none",
            Some(format!(
                "Bearer {}",
                token_with("none", key, &claims(ELIGIBILITY))
            )),
        ),
        (
            "expired",
            Some(format!(
                "Bearer {}",
                token_with("HS512", key, &with(&|c| c["exp"] = json!(now() - 3600)))
            )),
        ),
        (
            "issued in the future",
            Some(format!(
                "Bearer {}",
                token_with("HS512", key, &with(&|c| c["iat"] = json!(now() + 3600)))
            )),
        ),
        (
            "wrong issuer",
            Some(format!(
                "Bearer {}",
                token_with("HS512", key, &with(&|c| c["iss"] = json!("roku")))
            )),
        ),
        (
            "wrong audience",
            Some(format!(
                "Bearer {}",
                token_with("HS512", key, &with(&|c| c["aud"] = json!("other_app")))
            )),
        ),
        (
            "no exp",
            Some(format!(
                "Bearer {}",
                token_with(
                    "HS512",
                    key,
                    &with(&|c| {
                        c.as_object_mut().unwrap().remove("exp");
                    })
                )
            )),
        ),
    ];
    for (case, authorization) in cases {
        let (status, headers, body) = call(
            &app,
            "/api/offers/rsb/products",
            authorization.as_deref(),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{case}: {body}");
        assert_eq!(body["error"]["code"], "invalid_token", "{case}");
        assert!(body["error"]["requestId"].is_string(), "{case}");
        assert!(headers.contains_key("www-authenticate"), "{case}");
    }
    assert!(
        !captured_logs().contains(API_KEY),
        "the API key never reaches a log line"
    );
}

fn sub(rcid: &str, product: &str, state: &str, expires_in_secs: i64) -> Subscription {
    Subscription {
        roku_customer_id: rcid.into(),
        product_code: product.into(),
        state: state.parse().unwrap(),
        expires_at: Some(EpochMs((now() + expires_in_secs) * 1000)),
        cancelled_at: (state == "cancelled").then_some(EpochMs(now() * 1000)),
        last_transaction_id: None,
        last_event_at: EpochMs(now() * 1000),
    }
}

async fn current_subscribers_get_no_offers_and_everyone_else_does(backend: Backend) {
    let (app, _roku) = app(backend, "").await;
    let store = app.store().await;
    let people = [
        ("active@example.com", "active", 86400, true),
        ("grace@example.com", "grace", -60, true),
        ("cancelled-early@example.com", "cancelled", 86400, true),
        ("cancelled-expired@example.com", "cancelled", -86400, false),
        ("refunded@example.com", "refunded", 86400, false),
        ("lapsed@example.com", "on_hold", -86400, false),
    ];
    for (i, (email, state, expires, _)) in people.iter().enumerate() {
        let rcid = format!("rc-{i}");
        store
            .record_subscription(&sub(&rcid, "S1-US", state, *expires))
            .await
            .unwrap();
        store
            .record_email_hash(&email_hash(email), Some(&rcid), None, "test")
            .await
            .unwrap();
    }
    for (email, state, _, current) in people {
        let body = products_for(&app, email).await;
        let expected: &[&str] = if current { &[] } else { &["S1-US", "S2-US"] };
        assert_eq!(offered(&body), expected, "{email} ({state})");
    }
    // Never seen: offers.
    assert_eq!(
        offered(&products_for(&app, "new@example.com").await).len(),
        2
    );
    // The hash is compared case-insensitively.
    let bearer = format!("Bearer {}", roku_token(ELIGIBILITY));
    let upper = email_hash("active@example.com").to_uppercase();
    let (_, _, body) = call(
        &app,
        "/api/offers/rsb/products",
        Some(&bearer),
        &[("roku-reserved-email-hash", &upper)],
    )
    .await;
    assert_eq!(offered(&body), Vec::<String>::new());
    store.close().await;
}
on_both_backends!(
    current_subscribers,
    current_subscribers_get_no_offers_and_everyone_else_does
);

#[tokio::test]
async fn a_missing_or_malformed_hash_gets_the_offers_and_a_warning_without_the_hash() {
    let (app, _roku) = app(Backend::Sqlite, "").await;
    let bearer = format!("Bearer {}", roku_token(ELIGIBILITY));
    let malformed = "deadbeef-not-a-sha512-9f8e7d6c";
    for headers in [vec![], vec![("roku-reserved-email-hash", malformed)]] {
        let (status, _, body) =
            call(&app, "/api/offers/rsb/products", Some(&bearer), &headers).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(offered(&body).len(), 2);
    }
    let logs = captured_logs();
    assert!(logs.contains("is not SHA-512 hex: offers sent"));
    assert!(
        !logs.contains(malformed),
        "the header's value is not logged"
    );
}

#[tokio::test]
async fn imported_subscribers_are_known_until_a_push_says_otherwise() {
    let (app, roku) = app(Backend::Sqlite, "").await;
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("subscribers.txt");
    std::fs::write(
        &list,
        format!(
            "# export\nKnown@Example.com\n{}\n\n",
            email_hash("other@example.com").to_uppercase()
        ),
    )
    .unwrap();
    let import = || {
        run_on_store(
            dir.path(),
            &app.store_url,
            &["isu".as_ref(), "import-hashes".as_ref(), list.as_os_str()],
        )
    };
    let out = import();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 subscribers imported"));
    assert!(offered(&products_for(&app, "known@example.com").await).is_empty());
    assert!(offered(&products_for(&app, "other@example.com").await).is_empty());

    // A bad line imports nothing, and says which line without echoing it.
    std::fs::write(&list, "good@example.com\nnot-an-email-or-hash\n").unwrap();
    let out = import();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("lines [2]") && !stderr.contains("not-an-email"),
        "{stderr}"
    );
    assert_eq!(
        offered(&products_for(&app, "good@example.com").await).len(),
        2
    );

    // Later the known customer signs in; their Roku account is refunded: offers again.
    let store = app.store().await;
    store
        .link_account("rc-known", "C-KNOWN", Some("known@example.com"))
        .await
        .unwrap();
    store
        .record_email_hash(
            &email_hash("known@example.com"),
            None,
            Some("C-KNOWN"),
            "session",
        )
        .await
        .unwrap();
    let refund = fake_roku::event("Refund", "tx-k", "rc-known", "S1-US");
    send_push(&app, &fake_roku::push(&refund, "refund-known")).await;
    assert_eq!(
        offered(&products_for(&app, "known@example.com").await).len(),
        2
    );
    drop(roku);
}

fn isu_sale(tx: &str, rcid: &str, email: &str) -> Value {
    let mut sale = fake_roku::sale(tx, rcid, "S1-US");
    sale["purchaseContext"] = json!("ISU");
    sale["email"] = json!(email);
    sale["firstName"] = json!("Isla");
    sale["lastName"] = json!("Signup");
    sale
}

async fn send_push(app: &TestApp, jws: &str) {
    let ack = app.push(jws).await;
    assert_eq!(ack.status, StatusCode::OK, "{}", ack.body);
}

async fn signup_creates_one_account_through_failures_and_replays(backend: Backend) {
    let publisher = publisher_hook("/events").await;
    let events = format!(
        "[relay]\nevents_url = \"{}/events\"\nevents_secret = \"whsec-test-1\"\n",
        publisher.uri()
    );
    let (app, roku) = app(backend, &events).await;
    // The provider is down for the first attempt.
    app.mock()
        .registrations(ResponseTemplate::new(503))
        .once()
        .registers_anyone("C-ISU")
        .mount()
        .await;

    let sale = isu_sale("tx-isu", "rc-isu", "Isla@Example.com");
    let jws = fake_roku::push(&sale, "isu-key-1");
    send_push(&app, &jws).await;
    send_push(&app, &jws).await; // Roku resends when it misses an ack
    send_push(&app, &fake_roku::push(&sale, "isu-key-2")).await; // or replays with a new key

    let store = app.store().await;
    wait_for("the account", || async {
        store.account("rc-isu").await.unwrap().is_some()
            && !publisher.received_requests().await.unwrap().is_empty()
    })
    .await;
    // Let any stray retry happen before counting.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let registrations = app.cleeng_requests("/customers").await;
    assert_eq!(
        registrations.len(),
        2,
        "one failure, then exactly one creation"
    );
    let sent: Value = serde_json::from_slice(&registrations[1].body).unwrap();
    assert_eq!(sent["email"], "Isla@Example.com");
    assert_eq!(sent["firstName"], "Isla");
    let password = sent["password"].as_str().unwrap();
    assert!(password.len() >= 24, "a strong generated password");
    assert!(
        !captured_logs().contains(password),
        "the password is never logged"
    );

    let account = store.account("rc-isu").await.unwrap().unwrap();
    assert_eq!(account.customer_id, "C-ISU");
    let known = store
        .email_hash(&email_hash("isla@example.com"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(known.customer_id.as_deref(), Some("C-ISU"));

    // One signed customer.created event for the welcome email.
    let received = publisher.received_requests().await.unwrap();
    assert_eq!(received.len(), 1);
    let event: Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(event["type"], "customer.created");
    assert_eq!(event["data"]["customerId"], "C-ISU");
    assert_eq!(event["data"]["rokuCustomerId"], "rc-isu");
    assert!(!String::from_utf8_lossy(&received[0].body).contains(password));
    let mut mac = Hmac::<Sha256>::new_from_slice(b"whsec-test-1").unwrap();
    mac.update(&received[0].body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(
        received[0].headers["x-roku-bridge-signature"],
        expected.as_str()
    );

    // Opening the app: the purchase finds the account, no email needed.
    roku.vouches("tx-isu", "rc-isu", "S1-US", true).await;
    let session = app.purchase_session("tx-isu", None).await.session();
    assert_eq!(session.customer.id, "C-ISU");
    // And the new subscriber is no longer offered anything.
    assert!(offered(&products_for(&app, "isla@example.com").await).is_empty());
    assert_eq!(app.cleeng_requests("/customers").await.len(), 2);
    store.close().await;
}
on_both_backends!(
    signup_account,
    signup_creates_one_account_through_failures_and_replays
);

#[tokio::test]
async fn opening_the_app_completes_a_signup_still_waiting_for_the_provider() {
    // The worker's backoff is long: only the session request can finish the signup in time.
    let slow = "[relay]\ninitial_backoff = \"1h\"\nmax_backoff = \"1h\"\n";
    let (app, roku) = app(Backend::Sqlite, slow).await;
    app.mock()
        .registrations(ResponseTemplate::new(503))
        .mount()
        .await;
    send_push(
        &app,
        &fake_roku::push(&isu_sale("tx-w", "rc-w", "wait@example.com"), "w1"),
    )
    .await;
    wait_for("the first attempt", || async {
        !app.cleeng_requests("/customers").await.is_empty()
    })
    .await;
    roku.vouches("tx-w", "rc-w", "S1-US", true).await;
    // Still down: the channel is told to try again, not that there is no account.
    let pending = app.purchase_session("tx-w", None).await;
    assert_eq!(
        pending.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        pending.body
    );
    assert_eq!(pending.code(), "account_pending");

    app.cleeng.reset().await;
    app.mock().registers_anyone("C-W").mount().await;
    let session = app.purchase_session("tx-w", None).await.session();
    assert_eq!(session.customer.id, "C-W");
}

#[tokio::test]
async fn an_existing_customer_is_linked_when_they_sign_in_with_the_purchase() {
    let (app, roku) = app(Backend::Sqlite, "").await;
    app.mock()
        .customer_exists()
        .logs_in_anyone("C-OLD")
        .mount()
        .await;
    send_push(
        &app,
        &fake_roku::push(&isu_sale("tx-e", "rc-e", "old@example.com"), "e1"),
    )
    .await;
    let store = app.store().await;
    wait_for("the signup attempt", || async {
        !app.cleeng_requests("/customers").await.is_empty()
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        app.cleeng_requests("/customers").await.len(),
        1,
        "not duplicated"
    );
    assert!(store.account("rc-e").await.unwrap().is_none());

    roku.vouches("tx-e", "rc-e", "S1-US", true).await;
    app.sessions(
        json!({"email": "old@example.com", "password": "their own", "purchaseId": "tx-e"}),
    )
    .await
    .session();
    assert_eq!(
        store.account("rc-e").await.unwrap().unwrap().customer_id,
        "C-OLD"
    );
    // From now on the purchase alone signs them in.
    let session = app.purchase_session("tx-e", None).await.session();
    assert_eq!(session.customer.id, "C-OLD");
}

#[tokio::test]
async fn offer_card_rules_are_enforced_when_the_config_loads() {
    let roku = FakeRoku::start().await;
    let base = isu_config(&roku);
    let bad = [
        (
            "[isu.images.\"fr-ca\"]\nimages = [\"https://x/1.jpg\"]\ndescription = \"Films\"\n",
            "5 to 15 image URLs",
        ),
        (
            "[isu.images.\"de-de\"]\nimages = [\"https://x/1.jpg\",\"https://x/2.jpg\",\"https://x/3.jpg\",\"https://x/4.jpg\",\"https://x/5.jpg\"]\ndescription = \"Only $4.99\"\n",
            "must not mention a price",
        ),
        (
            "[[isu.products]]\nid = \"S3-US\"\ndesc = \"c\"\n[[isu.products]]\nid = \"S4-US\"\ndesc = \"d\"\n",
            "at most 3 products",
        ),
    ];
    let config = roku_bridge::config::Config::from_toml_layers(&[&base]).unwrap();
    assert!(config.validate().is_ok(), "the test card itself is valid");
    for (extra, reason) in bad {
        let text = format!("{base}\n{extra}");
        let problems = roku_bridge::config::Config::from_toml_layers(&[&text])
            .unwrap()
            .validate()
            .err()
            .unwrap_or_else(|| panic!("accepted: {extra}"));
        assert!(
            problems.iter().any(|(_, why)| why.contains(reason)),
            "{problems:?}"
        );
    }
}
