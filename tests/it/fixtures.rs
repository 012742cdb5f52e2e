//! Roku's and Cleeng's published payloads (tests/fixtures/, origins in SOURCES.md) replayed
//! through the real server: every push signed by the fake Roku and acknowledged with its
//! `responseKey`, every validate-transaction answer served by the fake Roku and turned into a
//! receipt outcome, ChannelStore results and Cleeng's body posted as receipts.

use std::{path::PathBuf, time::Duration};

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::ResponseTemplate;

use crate::{
    backend::Backend,
    fake_roku::{self, FakeRoku, KID, ROKU_KEY, TEST_SET_KEY, TEST_SET_KID},
    helpers::{PUSH_PATH, TestApp, cleeng::bodies_at, wait_for},
    on_both_backends,
};

fn fixture_dir(sub: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(sub)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(fixture_dir(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn json_fixture(rel: &str) -> Value {
    serde_json::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Every push event Roku publishes, as the files hold them: the originals (valid JSON or not)
/// and the corrected twins. The JWT page's header, claims and JWKS are not events.
fn push_fixtures() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = Vec::new();
    for entry in std::fs::read_dir(fixture_dir("roku-pushes")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let not_an_event = ["jwt-page-jose-header", "jwt-page-claims", "jwt-page-jwks"];
        if name.ends_with(".json") && !not_an_event.iter().any(|p| name.starts_with(p)) {
            files.push((
                format!("roku-pushes/{name}"),
                read(&format!("roku-pushes/{name}")),
            ));
        }
    }
    files.push((
        "isu/sale-with-account-info.json".into(),
        read("isu/sale-with-account-info.json"),
    ));
    files.sort();
    assert!(files.len() >= 30, "the push fixtures are all there");
    files
}

/// The `responseKey` Roku expects back. For an original that is not valid JSON, its corrected
/// twin says what Roku meant.
fn expected_response_key(name: &str, text: &str) -> String {
    let parsed = serde_json::from_str::<Value>(text).ok().or_else(|| {
        let twin = name.replace(".json", ".fixed.json");
        Some(json_fixture(&twin))
    });
    parsed.unwrap()["responseKey"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Roku's claims around the event text exactly as the file holds it.
fn signed(text: &str, message_key: &str, key: &[u8], kid: &str) -> String {
    let claims = json!({
        "iss": fake_roku::ISSUER,
        "nbf": fake_roku::now() - 3600,
        "exp": fake_roku::now() + 24 * 3600,
        "x-Roku-message": base64::engine::general_purpose::STANDARD.encode(text),
        "x-Roku-message-encoding": "base64-utf8",
        "x-Roku-message-key": message_key,
        "x-Roku-message-type": "roku.rpay.push",
    });
    fake_roku::sign_with(&claims, key, kid)
}

async fn app_with_roku(backend: Backend, extra: &str) -> (TestApp, FakeRoku) {
    let roku = FakeRoku::start().await;
    let app = TestApp::cleeng_layers(backend, &[&roku.config(), extra]).await;
    app.mock().push_relay().mount().await;
    (app, roku)
}

const PRODUCTION: &str = "[provider]\nenvironment = \"production\"\n";

async fn every_push_fixture_is_acknowledged_with_its_response_key(backend: Backend) {
    let (app, _roku) = app_with_roku(backend, PRODUCTION).await;
    let store = app.store().await;
    let fixtures = push_fixtures();

    // Test pushes first (Roku's dashboard button): acknowledged, stored as test, nothing else.
    for (name, text) in &fixtures {
        let key = format!("test:{name}");
        let ack = app
            .push(&signed(text, &key, TEST_SET_KEY, TEST_SET_KID))
            .await;
        assert_eq!(ack.status, StatusCode::OK, "{name}: {}", ack.body);
        assert_eq!(ack.body, expected_response_key(name, text), "{name}");
        assert_eq!(
            store.push_is_test(&key).await.unwrap(),
            Some(true),
            "{name}"
        );
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    for (name, text) in &fixtures {
        if let Ok(event) = serde_json::from_str::<Value>(text)
            && let Some(rcid) = event["customerId"].as_str()
        {
            assert!(
                store.subscriptions_of(rcid).await.unwrap().is_empty(),
                "{name}: a test push moved a subscription"
            );
            assert!(store.account(rcid).await.unwrap().is_none(), "{name}");
        }
    }
    assert!(
        store.list_outbox(None, 100).await.unwrap().is_empty(),
        "a test push owes nothing"
    );
    assert!(
        bodies_at(&app.cleeng, PUSH_PATH).await.is_empty(),
        "no test push reaches a production provider"
    );

    // The same events from the production key set: acknowledged, stored, relayed.
    for (name, text) in &fixtures {
        let key = format!("prod:{name}");
        let ack = app.push(&signed(text, &key, ROKU_KEY, KID)).await;
        assert_eq!(ack.status, StatusCode::OK, "{name}: {}", ack.body);
        assert_eq!(ack.body, expected_response_key(name, text), "{name}");
        assert_eq!(
            store.push_is_test(&key).await.unwrap(),
            Some(false),
            "{name}"
        );
    }
    let n = fixtures.len();
    wait_for("every production push relayed", || async {
        bodies_at(&app.cleeng, PUSH_PATH).await.len() >= n
    })
    .await;
    // A valid Sale moved its customer's subscription.
    let sale = json_fixture("roku-pushes/sale-purchase.json");
    let rcid = sale["customerId"].as_str().unwrap();
    assert!(!store.subscriptions_of(rcid).await.unwrap().is_empty());

    let metrics = app.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("roku_bridge_pushes_total") && l.contains("key_set=\"test\"")),
        "test pushes are counted apart"
    );
    store.close().await;
}
on_both_backends!(
    push_fixtures_are_acknowledged_on,
    every_push_fixture_is_acknowledged_with_its_response_key
);

#[tokio::test]
async fn a_test_push_is_relayed_to_a_sandbox_provider() {
    let (app, _roku) = app_with_roku(Backend::Sqlite, "").await;
    let text = read("roku-pushes/sale-purchase.json");
    let jws = signed(&text, "sandbox-test", TEST_SET_KEY, TEST_SET_KID);
    let ack = app.push(&jws).await;
    assert_eq!(ack.status, StatusCode::OK);
    wait_for("the test push relayed", || async {
        bodies_at(&app.cleeng, PUSH_PATH).await == vec![jws.clone()]
    })
    .await;
    let store = app.store().await;
    let rcid = json_fixture("roku-pushes/sale-purchase.json")["customerId"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(store.subscriptions_of(&rcid).await.unwrap().is_empty());
    store.close().await;
}

#[tokio::test]
async fn roku_s_example_tokens_are_refused() {
    let (app, _roku) = app_with_roku(Backend::Sqlite, "").await;
    // The JWT page's "encoded body" is the RFC's HS256 example, not a Roku-signed message.
    let token: String = read("roku-pushes/jwt-page-encoded-body.txt")
        .split_whitespace()
        .collect();
    assert_eq!(app.push(&token).await.status, StatusCode::UNAUTHORIZED);
}

/// A bridge that checks receipts with the fake Roku and whose Cleeng takes and grants all.
async fn validating_app(backend: Backend) -> (TestApp, FakeRoku) {
    let roku = FakeRoku::start().await;
    let app = TestApp::cleeng_layers(backend, &[&roku.config_with_api_key()]).await;
    app.accept_receipts_and_grant().await;
    (app, roku)
}

async fn forwarded_orders(app: &TestApp) -> Vec<Value> {
    app.cleeng_requests("/roku/payment")
        .await
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap())
        .collect()
}

/// Every validate-transaction answer Roku publishes, and the receipt outcome it must give.
/// The ones printed with `"channelId":000000` are served as printed elsewhere.
const VALIDATE_ANSWERS: [(&str, StatusCode); 7] = [
    // Active subscription bought through Instant Signup.
    (
        "roku-transactions/validate-subscription-isu.json",
        StatusCode::OK,
    ),
    (
        "roku-transactions/validate-upgrade.fixed.json",
        StatusCode::OK,
    ),
    // A downgrade waiting for the current plan's end is a real purchase.
    (
        "roku-transactions/validate-downgrade-pending-active.fixed.json",
        StatusCode::OK,
    ),
    (
        "roku-transactions/downgrade-plan-pending-active.fixed.json",
        StatusCode::OK,
    ),
    // Cancelled (replaced) but entitled to the end of the period.
    (
        "roku-transactions/upgrade-original-pending-inactive.fixed.json",
        StatusCode::OK,
    ),
    (
        "roku-transactions/downgrade-original-cancelled.fixed.json",
        StatusCode::OK,
    ),
    (
        "roku-transactions/upgrade-plan-active.fixed.json",
        StatusCode::OK,
    ),
];

async fn every_validate_transaction_answer_gives_its_outcome(backend: Backend) {
    let (app, roku) = validating_app(backend).await;
    let token = app.signed_in("ann@example.com", "C100").await;
    for (name, expected) in VALIDATE_ANSWERS {
        let answer = json_fixture(name);
        let tx = answer["transactionId"].as_str().unwrap();
        let code = answer["productId"].as_str().unwrap();
        roku.answers(tx, ResponseTemplate::new(200).set_body_string(read(name)))
            .await;
        // The device reports its own localized figures; Roku's are what is forwarded.
        let body = json!({"order": {"purchaseId": tx, "code": code, "amount": "$9.99",
                                    "total": "$9.99", "qty": 1}});
        let reply = app.post_receipt(&token, body).await;
        assert_eq!(reply.status, expected, "{name}: {}", reply.body);
        let forwarded = forwarded_orders(&app).await;
        let order = forwarded
            .iter()
            .map(|b| &b["order"])
            .find(|o| o["purchaseId"] == tx)
            .unwrap_or_else(|| panic!("{name}: not forwarded"));
        assert_eq!(
            order["amount"].as_f64(),
            answer["amount"].as_f64(),
            "{name}"
        );
        assert_eq!(order["total"].as_f64(), answer["total"].as_f64(), "{name}");
    }
    // The disagreement is logged, without the API key that travels in Roku's URL.
    let logs = crate::helpers::captured_logs();
    assert!(logs.contains("device and Roku disagree"));
    assert!(!logs.contains(fake_roku::API_KEY));
    // The account link Roku names is learnt.
    let isu = json_fixture("roku-transactions/validate-subscription-isu.json");
    let store = app.store().await;
    let rcid = isu["rokuCustomerId"].as_str().unwrap();
    assert_eq!(
        store.account(rcid).await.unwrap().unwrap().customer_id,
        "C100"
    );
    store.close().await;
}
on_both_backends!(
    validate_transaction_answers_on,
    every_validate_transaction_answer_gives_its_outcome
);

#[tokio::test]
async fn a_refund_answer_refuses_the_receipt_and_unreadable_answers_are_503() {
    let (app, roku) = validating_app(Backend::Sqlite).await;
    let token = app.signed_in("ann@example.com", "C100").await;
    // validate-refund's answer: negative amounts, isEntitled false.
    let refund = json_fixture("roku-transactions/validate-refund.json");
    let tx = refund["transactionId"].as_str().unwrap();
    let code = refund["productId"].as_str().unwrap();
    roku.answers(tx, ResponseTemplate::new(200).set_body_json(&refund))
        .await;
    for kind in [None, Some("Consumable")] {
        let mut order = json!({"purchaseId": tx, "code": code, "amount": 1.99, "total": 1.99});
        if let Some(kind) = kind {
            order["productType"] = json!(kind);
        }
        let (status, body) = app
            .post("/roku/payment", Some(&token), json!({"order": order}))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{kind:?}: {body}");
        assert_eq!(body["error"]["code"], "invalid_receipt");
    }
    // Roku's examples as printed (`"channelId":000000`) and its XML answers are not JSON the
    // bridge can read: that says nothing about the purchase, so 503, never "invalid".
    for (i, name) in [
        "roku-transactions/validate-upgrade.json",
        "roku-transactions/downgrade-plan-pending-active.json",
        "roku-transactions/validate-subscription-isu.xml",
    ]
    .iter()
    .enumerate()
    {
        let tx = format!("unreadable-{i}");
        roku.answers(&tx, ResponseTemplate::new(200).set_body_string(read(name)))
            .await;
        let (status, body) = app
            .post(
                "/roku/payment",
                Some(&token),
                json!({"order": {"purchaseId": tx, "code": "S1-US", "amount": 1, "total": 1}}),
            )
            .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{name}: {body}");
    }
    assert!(forwarded_orders(&app).await.is_empty());
}

/// Roku prints no validate answer for a one-time purchase; its web-services page says one
/// comes with `isEntitled` false. Built from the published subscription answer.
fn tvod_answer(transaction_id: &str, product: &str) -> Value {
    let mut answer = json_fixture("roku-transactions/validate-subscription-isu.json");
    answer["transactionId"] = json!(transaction_id);
    answer["OriginalTransactionId"] = json!(transaction_id);
    answer["productId"] = json!(product);
    answer["isEntitled"] = json!(false);
    answer["expirationDate"] = Value::Null;
    answer["purchaseContext"] = json!("iap");
    answer["purchaseChannel"] = json!("device");
    answer["amount"] = json!(2.99);
    answer["total"] = json!(2.99);
    answer
}

async fn doorder_v2_results_are_receipts(backend: Backend) {
    let (app, roku) = validating_app(backend).await;
    let token = app.signed_in("ann@example.com", "C100").await;
    let v2 = json_fixture("doorder/doorder-v2-tvod-requeststatus.fixed.json");
    let purchases = v2["requestStatus"]["result"]["purchases"].clone();
    let item = &purchases[0];
    let tx = item["purchaseId"].as_str().unwrap();
    let sku = item["sku"].as_str().unwrap();
    roku.answers(
        tx,
        ResponseTemplate::new(200).set_body_json(tvod_answer(tx, sku)),
    )
    .await;
    let reply = app
        .post_receipt(&token, json!({"purchases": purchases}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let forwarded = forwarded_orders(&app).await;
    assert_eq!(forwarded.len(), 1);
    assert_eq!(forwarded[0]["order"]["amount"], json!(2.99));
    assert_eq!(forwarded[0]["order"]["code"], sku);
    assert!(
        forwarded[0].get("reported").is_none(),
        "only the contract's fields"
    );
    let store = app.store().await;
    let receipts = store.receipts_of_purchase(tx).await.unwrap();
    let kept: Value = serde_json::from_str(&receipts[0].forward_json).unwrap();
    assert_eq!(
        kept["reported"]["amount"], item["amount"],
        "the original text is kept"
    );
    assert_eq!(kept["reported"]["productType"], "one-time");
    // Roku's answer names the account; the bridge links it.
    let rcid = tvod_answer(tx, sku)["rokuCustomerId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        store.account(&rcid).await.unwrap().unwrap().customer_id,
        "C100"
    );
    store.close().await;
}
on_both_backends!(doorder_v2_results_on, doorder_v2_results_are_receipts);

async fn channelstore_results_without_roku_credentials(backend: Backend) {
    let app = TestApp::cleeng_on(backend, "").await;
    app.accept_receipts_and_grant().await;
    let token = app.signed_in("ann@example.com", "C100").await;

    // RevenueCat's captured DoOrder results, as purchases[] and one by one as `order`.
    let items = json_fixture("doorder/revenuecat-doorder-purchases.fixed.json");
    let reply = app
        .post_receipt(&token, json!({"purchases": items.clone()}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    for item in items.as_array().unwrap() {
        let reply = app.post_receipt(&token, json!({"order": item})).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    // Without Roku's word, the device's rokuCustomerId is linked where no one holds it.
    let store = app.store().await;
    let rcid = items[0]["rokuCustomerId"].as_str().unwrap();
    assert_eq!(
        store.account(rcid).await.unwrap().unwrap().customer_id,
        "C100"
    );

    // The ChannelStore fake server's PlaceOrder, as a channel turns its XML into JSON.
    let xml = read("doorder/csfake-PlaceOrder.xml");
    let field = |name: &str| {
        let open = format!("<{name}>");
        let start = xml.find(&open).unwrap() + open.len();
        xml[start..start + xml[start..].find('<').unwrap()].to_string()
    };
    let order = json!({"purchaseId": field("purchaseId"), "code": field("code"),
                       "amount": field("amount"), "total": field("total"),
                       "qty": field("qty").parse::<u32>().unwrap()});
    assert_eq!(order["amount"], "$1.99");
    let reply = app.post_receipt(&token, json!({"order": order})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);

    let forwarded = forwarded_orders(&app).await;
    let place_order = forwarded
        .iter()
        .find(|b| b["order"]["purchaseId"] == "12345")
        .unwrap();
    assert_eq!(place_order["order"]["amount"], json!(1.99));
    assert_eq!(place_order["order"]["total"], json!(1.99));
    for b in &forwarded {
        assert!(b["order"]["amount"].is_number() && b["order"]["total"].is_number());
    }
    store.close().await;
}
on_both_backends!(
    channelstore_results_on,
    channelstore_results_without_roku_credentials
);

#[tokio::test]
async fn cleeng_s_documented_body_is_taken_as_is() {
    let app = TestApp::cleeng("").await;
    app.accept_receipts_and_grant().await;
    let body = json_fixture("cleeng/roku-payment-request.docs-roku.fixed.json");
    let email = body["customerEmail"].as_str().unwrap();
    let token = app.signed_in(email, "C200").await;
    let reply = app.post_receipt(&token, body.clone()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let forwarded = forwarded_orders(&app).await;
    assert_eq!(forwarded[0]["order"], body["order"]);
    assert_eq!(forwarded[0]["ipAddress"], body["ipAddress"]);
}

#[tokio::test]
async fn a_one_time_purchase_is_valid_only_as_one() {
    let (app, roku) = validating_app(Backend::Sqlite).await;
    let token = app.signed_in("ann@example.com", "C100").await;
    for (tx, kind, expected) in [
        ("tvod-typed", Some("NonConsumable"), StatusCode::OK),
        // Not said to be one-time: read as a subscription, and isEntitled false refuses it.
        ("tvod-untyped", None, StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        roku.answers(
            tx,
            ResponseTemplate::new(200).set_body_json(tvod_answer(tx, "TVOD-Buy")),
        )
        .await;
        let mut item = json!({"purchaseId": tx, "sku": "TVOD-Buy", "amount": "2,99 €",
                              "total": "2,99 €", "qty": 1});
        if let Some(kind) = kind {
            item["type"] = json!(kind);
        }
        let reply = app.post_receipt(&token, json!({"purchases": [item]})).await;
        assert_eq!(reply.status, expected, "{tx}: {}", reply.body);
    }
}

#[tokio::test]
async fn a_pending_downgrade_signs_in_from_its_purchase() {
    let roku = FakeRoku::start().await;
    let app = TestApp::cleeng_layers(Backend::Sqlite, &[&roku.config_with_api_key()]).await;
    app.mock().registers_anyone("C300").mount().await;
    for name in [
        "roku-transactions/validate-downgrade-pending-active.fixed.json",
        "roku-transactions/downgrade-plan-pending-active.fixed.json",
    ] {
        let mut answer = json_fixture(name);
        let tx = answer["transactionId"].as_str().unwrap().to_string();
        roku.answers(&tx, ResponseTemplate::new(200).set_body_json(&answer))
            .await;
        let reply = app.purchase_session(&tx, Some("dan@example.com")).await;
        assert!(reply.status.is_success(), "{name}: {}", reply.body);
        // The web-services table's Pending_Active with isEntitled false: accepted too.
        let other = format!("{tx}-table");
        answer["transactionId"] = json!(other);
        answer["purchaseStatus"] = json!("Pending_Active");
        answer["isEntitled"] = json!(false);
        answer["rokuCustomerId"] =
            json!(format!("{}-b", answer["rokuCustomerId"].as_str().unwrap()));
        roku.answers(&other, ResponseTemplate::new(200).set_body_json(&answer))
            .await;
        let reply = app.purchase_session(&other, Some("eve@example.com")).await;
        assert!(
            reply.status.is_success(),
            "{name} as the table says: {}",
            reply.body
        );
    }
}

#[tokio::test]
async fn a_repeated_test_push_is_acknowledged_and_stored_once() {
    let (app, _roku) = app_with_roku(Backend::Sqlite, PRODUCTION).await;
    let jws = fake_roku::test_push(&fake_roku::sale("tx-t", "rc-t", "S1-US"), "dup-test");
    for _ in 0..2 {
        let ack = app.push(&jws).await;
        assert_eq!((ack.status, ack.body.as_str()), (StatusCode::OK, "rk-tx-t"));
    }
    let store = app.store().await;
    assert_eq!(store.push_count().await.unwrap(), 1);
    assert_eq!(store.push_is_test("dup-test").await.unwrap(), Some(true));
    assert!(store.subscriptions_of("rc-t").await.unwrap().is_empty());
    store.close().await;
}
