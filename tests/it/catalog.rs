//! Catalog 2.0 through the HTTP API: bundles, QueryPurchaseOptions, order checks, add-on
//! revocation, upgrade previews. The catalog is the shipped `config/catalog.example.toml`.

use reqwest::StatusCode;
use roku_bridge::store::Store;
use serde_json::{Value, json};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path},
};

use crate::{
    backend::Backend,
    fake_roku::{self, FakeRoku},
    helpers::{TestApp, order, wait_for},
    on_both_backends,
};

const CATALOG: &str = include_str!("../../config/catalog.example.toml");

async fn app(backend: Backend, extra: &str) -> (TestApp, FakeRoku) {
    let roku = FakeRoku::start().await;
    let app = TestApp::cleeng_layers(backend, &[&roku.config(), CATALOG, extra]).await;
    app.accept_receipts_and_grant().await;
    Mock::given(method("POST"))
        .and(path("/roku/push-notification/123456789"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&app.cleeng)
        .await;
    (app, roku)
}

async fn a_bundle_reaches_the_provider_as_one_receipt_per_offer(backend: Backend) {
    let (app, _roku) = app(backend, "").await;
    let token = app.signed_in("bundle@example.com", "C-B").await;
    let (status, body) = app
        .post(
            "/roku/payment",
            Some(&token),
            order("tx-bundle", "premium-sports-monthly"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "granted");
    let parts: Vec<&str> = body["offers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["offerId"].as_str().unwrap())
        .collect();
    assert_eq!(parts, ["S200_US", "S300_US"]);

    let forwarded = app.cleeng_requests("/roku/payment").await;
    let mut offers: Vec<String> = forwarded
        .iter()
        .map(|r| {
            let v: Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(
                v["order"]["purchaseId"], "tx-bundle",
                "Roku's id, unchanged"
            );
            assert_eq!(v["order"]["code"], "premium-sports-monthly");
            v["offerId"].as_str().unwrap().to_string()
        })
        .collect();
    offers.sort();
    assert_eq!(offers, ["S200_US", "S300_US"]);

    // Posting again forwards nothing new; the status endpoint knows the bundle.
    let (status, _) = app
        .post(
            "/roku/payment",
            Some(&token),
            order("tx-bundle", "premium-sports-monthly"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.cleeng_requests("/roku/payment").await.len(), 2);
    let (status, body) = app.get("/roku/payment/tx-bundle", &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "granted");
    // DoOrder v2's result names the SKU; it takes the same path.
    let (status, body) = app
        .post(
            "/roku/payment",
            Some(&token),
            json!({"purchases": [{"purchaseId": "tx-v2", "sku": "premium-sports-monthly",
                                  "amount": 11.99, "total": 11.99, "qty": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["offers"].as_array().unwrap().len(), 2);
    assert_eq!(app.cleeng_requests("/roku/payment").await.len(), 4);
    // A plain (non-catalog) code still goes through the mapping.
    let (status, body) = app
        .post("/roku/payment", Some(&token), order("tx-plain", "S9-US"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["offerId"], "S9_US");
}
on_both_backends!(
    bundle_receipts,
    a_bundle_reaches_the_provider_as_one_receipt_per_offer
);

#[tokio::test]
async fn query_purchase_options_filters_and_marks_what_the_customer_owns() {
    let (app, _roku) = app(Backend::Sqlite, "").await;
    let (status, body) = app
        .post(
            "/roku/catalog/query",
            None,
            json!({"queries": [{"type": ["addon"]}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let map = body["purchaseOptionsMap"].as_object().unwrap();
    let mut skus: Vec<&String> = map.keys().collect();
    skus.sort();
    assert_eq!(skus, ["sports-monthly", "sportsplus-monthly"]);
    assert_eq!(map["sports-monthly"]["cost"], "$2.99");

    // Options dearer than the customer's plan, with the customer's purchases known.
    let token = app.signed_in("q@example.com", "C-Q").await;
    let store = Store::connect(&app.store_url).await.unwrap();
    store
        .link_account("rc-q", "C-Q", Some("q@example.com"))
        .await
        .unwrap();
    let jws = fake_roku::push(&fake_roku::sale("tx-q", "rc-q", "basic-monthly"), "q-key");
    let resp = app
        .http
        .post(app.url("/roku/notifications"))
        .body(jws)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (status, body) = app
        .post(
            "/roku/catalog/query",
            Some(&token),
            json!({"queries": [
                {"referenceSku": "basic-monthly", "compareCost": "more", "sameProductGroup": true, "type": ["base"]},
                {"state": ["purchased"]}
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let map = body["purchaseOptionsMap"].as_object().unwrap();
    assert!(map.contains_key("premium-monthly"), "{body}");
    assert!(map.contains_key("basic-annual"), "{body}");
    assert_eq!(
        map["basic-monthly"]["purchased"], true,
        "OR'ed second query"
    );
    // A query that cannot be evaluated is a 422, not an empty answer.
    let (status, body) = app
        .post(
            "/roku/catalog/query",
            None,
            json!({"queries": [{"referenceSku": "no-such-sku"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "invalid_query");
}

#[tokio::test]
async fn orders_are_checked_before_roku_shows_its_confirmation() {
    let (app, _roku) = app(Backend::Sqlite, "").await;
    let token = app.signed_in("o@example.com", "C-O").await;
    let check = |items: Value| {
        let app = &app;
        let token = token.clone();
        async move {
            let (status, body) = app
                .post(
                    "/roku/orders/check",
                    Some(&token),
                    json!({ "orderItems": items }),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body
        }
    };
    let alone = check(json!([{"sku": "sports-monthly", "qty": 1}])).await;
    assert_eq!(alone["ok"], false);
    assert_eq!(alone["violations"][0]["code"], "addon_without_base");
    let with_base = check(json!([
        {"sku": "basic-monthly", "qty": 1},
        {"sku": "sports-monthly", "qty": 1}
    ]))
    .await;
    assert_eq!(with_base, json!({"ok": true}));
    let conflict = check(json!([
        {"sku": "basic-monthly", "qty": 1},
        {"sku": "premium-monthly", "qty": 1}
    ]))
    .await;
    assert_eq!(conflict["violations"][0]["code"], "exclusivity_conflict");
    // Without a session there is nothing to check against.
    let (status, _) = app
        .post("/roku/orders/check", None, json!({"orderItems": []}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_addon_is_revoked_when_its_base_is_refunded_and_the_publisher_is_told() {
    let publisher = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/events"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&publisher)
        .await;
    let events = format!("[relay]\nevents_url = \"{}/events\"\n", publisher.uri());
    let (app, _roku) = app(Backend::Sqlite, &events).await;
    let push = |kind: &str, tx: &str, sku: &str, key: &str| {
        fake_roku::push(&fake_roku::event(kind, tx, "rc-r", sku), key)
    };
    for jws in [
        push("Sale", "tx-base", "basic-monthly", "r1"),
        push("Sale", "tx-addon", "sports-monthly", "r2"),
        push("Refund", "tx-base", "basic-monthly", "r3"),
    ] {
        let resp = app
            .http
            .post(app.url("/roku/notifications"))
            .body(jws)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
    let store = Store::connect(&app.store_url).await.unwrap();
    wait_for("the add-on revoked", || async {
        store
            .subscription("rc-r", "sports-monthly")
            .await
            .unwrap()
            .is_some_and(|s| s.state.as_str() == "revoked")
    })
    .await;
    wait_for("the webhook told", || async {
        !publisher.received_requests().await.unwrap().is_empty()
    })
    .await;
    let event: Value =
        serde_json::from_slice(&publisher.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(event["type"], "entitlement.revoked");
    assert_eq!(event["data"]["sku"], "sports-monthly");
    assert_eq!(event["data"]["productId"], "sports");
}

#[tokio::test]
async fn an_upgrade_preview_credits_the_unused_period() {
    let (app, _roku) = app(Backend::Sqlite, "").await;
    let token = app.signed_in("u@example.com", "C-U").await;
    let (status, body) = app
        .get(
            "/roku/catalog/upgrade-preview?from=basic-monthly&to=premium-monthly",
            &token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["kind"], "upgrade");
    assert_eq!(body["estimate"], true);
    // A full unused month of $4.99 against $9.99.
    let charge = body["chargeNowCents"].as_u64().unwrap();
    assert!((490..=510).contains(&charge), "{body}");
    let (_, body) = app
        .get(
            "/roku/catalog/upgrade-preview?from=premium-monthly&to=basic-monthly",
            &token,
        )
        .await;
    assert_eq!(body["kind"], "downgrade");
    assert_eq!(body["chargeNowCents"], 0);
}

#[test]
fn a_bad_catalog_is_refused_at_load_naming_the_sku() {
    let bad = CATALOG.replace(
        "display_name = \"Basic Monthly\"",
        "display_name = \"Basic Monthly With A Name Far Too Long\"",
    );
    let problems = roku_bridge::config::Config::from_toml(&bad)
        .unwrap()
        .validate()
        .unwrap_err();
    assert!(
        problems
            .iter()
            .any(|(key, why)| key.starts_with("catalog") && why.contains("basic-monthly")),
        "{problems:?}"
    );
}
