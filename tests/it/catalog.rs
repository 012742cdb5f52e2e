//! Catalog 2.0 through the HTTP API: bundles, QueryPurchaseOptions, order checks, add-on
//! revocation, upgrade previews. The catalog is the shipped `config/catalog.example.toml`.

use reqwest::StatusCode;
use roku_bridge::store::Store;
use serde_json::{Value, json};
use wiremock::{
    Mock, ResponseTemplate,
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

/// A BrightScript literal from the guide as JSON: the first `[`/`{` after `marker`, newline
/// separators turned into commas, and the named variables bound to JSON values.
fn brs_literal(text: &str, marker: &str, bindings: &[(&str, Value)]) -> Value {
    let at = text
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in fixture"))
        + marker.len();
    let rest = &text[at..];
    let start = rest.find(['[', '{']).unwrap();
    let (mut depth, mut end, mut in_str) = (0i32, 0, false);
    for (i, c) in rest[start..].char_indices() {
        match c {
            '"' => in_str = !in_str,
            '[' | '{' if !in_str => depth += 1,
            ']' | '}' if !in_str => {
                depth -= 1;
                if depth == 0 {
                    end = start + i + 1;
                    break;
                }
            }
            _ => {}
        }
    }
    let lines: Vec<&str> = rest[start..end].lines().map(str::trim).collect();
    let mut joined = String::new();
    for (i, line) in lines.iter().enumerate() {
        joined.push_str(line);
        let next = lines.get(i + 1).copied().unwrap_or("");
        let ends_value = !line.ends_with(['{', '[', ',', ':']);
        if ends_value && (next.starts_with('"') || next.starts_with('{')) {
            joined.push(',');
        }
    }
    // Bind variables outside strings.
    let mut out = String::new();
    let mut token = String::new();
    let mut in_str = false;
    let flush = |token: &mut String, out: &mut String| {
        if !token.is_empty() {
            match bindings.iter().find(|(n, _)| *n == token.as_str()) {
                Some((_, v)) => out.push_str(&v.to_string()),
                None => out.push_str(token),
            }
            token.clear();
        }
    };
    for c in joined.chars() {
        if in_str {
            out.push(c);
            in_str = c != '"';
        } else if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
            token.push(c);
        } else {
            flush(&mut token, &mut out);
            out.push(c);
            in_str = c == '"';
        }
    }
    flush(&mut token, &mut out);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{out}: {e}"))
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/catalog/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn keys(map: &Value) -> Vec<String> {
    let mut k: Vec<String> = map.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[tokio::test]
async fn the_guides_requests_get_the_guides_shapes() {
    let (app, _roku) = app(Backend::Sqlite, "").await;
    // GetCatalog: params {"version": 2}.
    let params = brs_literal(&fixture("get-catalog.brs"), "request.params = ", &[]);
    assert_eq!(params, json!({"version": 2}));
    let resp = app
        .http
        .get(app.url(&format!("/roku/catalog?version={}", params["version"])))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let catalog: Value = resp.json().await.unwrap();
    for field in [
        "products",
        "productsMap",
        "purchaseOptions",
        "purchaseOptionsMap",
    ] {
        assert!(!catalog[field].is_null(), "{field}: {catalog}");
    }
    let basic = &catalog["purchaseOptionsMap"]["basic-monthly"];
    assert_eq!(basic["type"], "MonthlySub");
    assert_eq!(basic["billingPlans"][0]["billingType"], "Subscription");
    assert_eq!(basic["billingPlans"][0]["phases"][0]["type"], "FreeTrial");
    assert_eq!(
        basic["billingPlans"][0]["phases"][1]["billingFrequency"],
        "Monthly"
    );
    assert_eq!(catalog["productsMap"]["basic"]["productId"], "basic");

    // QueryPurchaseOptions, base and bundle options, with the maps GetCatalog returned.
    let request = fixture("query-request.brs");
    let base_query = brs_literal(&fixture("query-base.brs"), "query = ", &[]);
    let maps = [
        ("m.purchaseOptions", catalog["purchaseOptionsMap"].clone()),
        ("m.products", catalog["productsMap"].clone()),
    ];
    let with = |query: &Value| {
        let mut b = maps.to_vec();
        b.push(("query", query.clone()));
        brs_literal(&request, "\"params\": ", &b)
    };
    let bases = [
        "basic-annual",
        "basic-monthly",
        "premium-monthly",
        "premium-sports-monthly",
    ];
    let (status, body) = app
        .post("/roku/catalog/query", None, with(&base_query))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(keys(&body["purchaseOptionsMap"]), bases);
    assert_eq!(
        body["purchaseOptionsMap"]["basic-monthly"], catalog["purchaseOptionsMap"]["basic-monthly"],
        "answered in GetCatalog's shape"
    );
    // The same query over the bridge's own catalog.
    let (_, body) = app
        .post("/roku/catalog/query", None, json!({"query": base_query}))
        .await;
    assert_eq!(keys(&body["purchaseOptionsMap"]), bases);

    // Add-ons for the base the customer picked (m.base).
    let addon_text = fixture("query-addon.brs");
    for (base, want) in [
        (
            "basic-monthly",
            vec!["sports-monthly", "sportsplus-monthly"],
        ),
        (
            "premium-monthly",
            vec!["sports-monthly", "sportsplus-monthly"],
        ),
        // The bundle holds sports already, and sportsplus shares its group.
        ("premium-sports-monthly", vec![]),
    ] {
        let q = brs_literal(&addon_text, "query = ", &[("m.base", json!(base))]);
        let (status, body) = app.post("/roku/catalog/query", None, with(&q)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(keys(&body["purchaseOptionsMap"]), want, "{base}");
    }

    // DoOrder: the guide's orderItems, a base and an add-on.
    let token = app.signed_in("g@example.com", "C-G").await;
    let order_text = fixture("do-order.brs");
    let base_item = brs_literal(
        &order_text,
        "orderItems.push(",
        &[("m.content.base", json!("basic-monthly"))],
    );
    let addon_at = order_text.find("for each addon").unwrap();
    let addon_item = brs_literal(
        &order_text[addon_at..],
        "orderItems.push(",
        &[("addon", json!("sports-monthly"))],
    );
    let params = brs_literal(
        &order_text,
        "request.params = ",
        &[("orderItems", json!([base_item, addon_item]))],
    );
    let (status, body) = app.post("/roku/orders/check", Some(&token), params).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"ok": true}));

    // GetPurchases: params {"version": 2, "includeExpired": true}.
    let params = brs_literal(&fixture("get-purchases.brs"), "request.params = ", &[]);
    let (status, body) = app
        .get(
            &format!(
                "/roku/purchases?version={}&includeExpired={}",
                params["version"], params["includeExpired"]
            ),
            &token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for field in ["purchases", "purchasesMap", "products", "entitlements"] {
        assert!(!body[field].is_null(), "{field}: {body}");
    }
}

#[tokio::test]
async fn queries_refuse_what_the_field_table_does_not_allow() {
    let (app, _roku) = app(Backend::Sqlite, "").await;
    for (query, names) in [
        (json!({"queries": []}), "queries"),
        (
            json!({"query": [{"billingType": "monthly"}]}),
            "billingType",
        ),
        (json!({"query": [{"type": "base"}]}), "type"),
        (json!({"query": [{"phase": "trial"}]}), "phase"),
        (
            json!({"query": [{"referenceSKU": "basic-monthly"}]}),
            "referenceSKU",
        ),
        (
            json!({"query": [{"includeProducts": "all", "referenceSku": "basic-monthly"}]}),
            "includeProducts",
        ),
        (
            json!({"query": [{"includeProducts": "same"}]}),
            "includeProducts",
        ),
        (
            json!({"query": [{"compareCost": "more", "referenceProductIds": ["basic"]}]}),
            "compareCost",
        ),
        (
            json!({"query": [{"sameProductGroup": true, "referenceProductIds": ["basic"]}]}),
            "sameProductGroup",
        ),
        (json!({"query": [{"state": "ActivePaid"}]}), "state"),
        (json!({"query": [{"state": "Active"}]}), "state"),
        (
            json!({"query": [{"referenceCost": 4.99, "compareCost": "less"}]}),
            "referenceCost",
        ),
        (json!({"query": [], "version": 1}), "version"),
    ] {
        let (status, body) = app.post("/roku/catalog/query", None, query.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        let msg = body["error"]["message"].as_str().unwrap();
        assert!(msg.contains(names), "{query}: {msg}");
    }
    // A reference the catalog doesn't hold can't be evaluated: 422, not an empty answer.
    let (status, body) = app
        .post(
            "/roku/catalog/query",
            None,
            json!({"query": [{"referenceSku": "no-such-sku"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "invalid_query");
    // Precedence: referenceCost over referenceSku, referenceProductIds over referenceSku.
    let (_, body) = app
        .post(
            "/roku/catalog/query",
            None,
            json!({"query": [
                {"referenceSku": "premium-monthly", "referenceCost": "$2.99", "compareCost": "same"},
                {"referenceSku": "premium-monthly", "referenceProductIds": ["basic"], "includeProducts": "same"}
            ]}),
        )
        .await;
    assert_eq!(
        keys(&body["purchaseOptionsMap"]),
        ["basic-annual", "basic-monthly", "sports-monthly"]
    );
}

#[tokio::test]
async fn purchases_come_back_in_roku_shape_and_can_be_queried_by_state() {
    let (app, _roku) = app(Backend::Sqlite, "").await;
    let token = app.signed_in("q@example.com", "C-Q").await;
    let store = Store::connect(&app.store_url).await.unwrap();
    store
        .link_account("rc-q", "C-Q", Some("q@example.com"))
        .await
        .unwrap();
    for (tx, sku, key) in [
        ("tx-q", "basic-annual", "q-key"),
        ("tx-q2", "sports-monthly", "q-key2"),
    ] {
        let jws = fake_roku::push(&fake_roku::sale(tx, "rc-q", sku), key);
        let resp = app
            .http
            .post(app.url("/roku/notifications"))
            .body(jws)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
    let (status, body) = app.get("/roku/purchases", &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        keys(&body["purchasesMap"]),
        ["basic-annual", "sports-monthly"]
    );
    let annual = &body["purchasesMap"]["basic-annual"];
    assert_eq!(annual["rokuCustomerId"], "rc-q");
    assert_eq!(annual["type"], "YearlySub");
    assert_eq!(annual["billingPlans"][0]["state"], "ActivePaid");
    assert_eq!(annual["billingPlans"][0]["purchaseId"], "tx-q");
    assert_eq!(keys(&body["productsMap"]), ["basic", "sports"]);

    // With a session, `state` queries the customer's purchases.
    let (status, body) = app
        .post(
            "/roku/catalog/query",
            Some(&token),
            json!({"query": [{"state": ["ActivePaid", "ActiveFreeTrial"], "addon": true}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(keys(&body["purchasesMap"]), ["sports-monthly"]);
    assert_eq!(keys(&body["purchaseOptionsMap"]), ["sports-monthly"]);
    // Without one, a purchasesMap sent by the channel works the same.
    let (_, purchases) = app.get("/roku/purchases", &token).await;
    let (status, body) = app
        .post(
            "/roku/catalog/query",
            None,
            json!({"purchasesMap": purchases["purchasesMap"],
                   "query": [{"state": "ActivePaid", "type": "YearlySub"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(keys(&body["purchasesMap"]), ["basic-annual"]);
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
    let publisher = crate::helpers::publisher_webhook().await;
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
        "name = \"Basic Monthly\"",
        "name = \"Basic Monthly With A Name Far Too Long\"",
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

#[test]
fn an_old_shape_catalog_fails_check_config_naming_the_field_to_rename() {
    let old = r#"
[catalog]
[[catalog.products]]
productId = "basic"
name = "Basic"

[[catalog.products]]
id = "premium"
name = "Premium"
exclusivity_group = "plans"

[[catalog.purchase_options]]
sku = "basic-monthly"
display_name = "Basic Monthly"
billing_period = "monthly"
tier = 5
products = ["basic"]
"#;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("old.toml");
    std::fs::write(&file, old).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_roku-bridge"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("check-config")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("catalog.products[1].id") && err.contains("rename it to `productId`"),
        "{err}"
    );
}

mod property {
    //! Random valid catalogs × random queries against a filter written straight from the
    //! guide's field table, over the config rather than the rendered maps.
    use std::collections::BTreeSet;

    use proptest::prelude::*;
    use roku_bridge::domain::catalog::{
        self, Catalog, CatalogConfig, Date, Query, tier_price_cents,
    };
    use serde_json::{Value, json};

    const BASES: [&str; 2] = ["basic", "premium"];
    const ADDONS: [&str; 2] = ["sports", "sportsplus"];

    fn config(options: &[(Vec<&'static str>, &'static str, u32, u8)]) -> CatalogConfig {
        let mut products = vec![];
        for b in BASES {
            products.push(json!({"productId": b, "name": b, "productExclusivityGroup": "plans"}));
        }
        for a in ADDONS {
            products.push(json!({"productId": a, "name": a, "addon": true,
                "prerequisites": BASES, "productExclusivityGroup": "sports"}));
        }
        // Every base sells monthly, so monthly add-ons always validate.
        let mut opts = vec![
            json!({"sku": "basic-m", "name": "B", "type": "MonthlySub", "tier": 5, "productIds": ["basic"]}),
            json!({"sku": "premium-m", "name": "P", "type": "MonthlySub", "tier": 10, "productIds": ["premium"]}),
        ];
        for (i, (ids, kind, tier, offer)) in options.iter().enumerate() {
            let is_addon = ids.len() == 1 && ADDONS.contains(&ids[0]);
            let kind = if is_addon { "MonthlySub" } else { kind };
            let mut o = json!({"sku": format!("o{i}"), "name": format!("O{i}"), "type": kind,
                               "tier": tier, "productIds": ids});
            match offer {
                1 => {
                    o["phases"] =
                        json!([{"type": "FreeTrial", "duration": {"quantity": 7, "unit": "Day"}}])
                }
                2 if *tier > 1 => {
                    o["phases"] = json!([{"type": "ReducedPrice", "tier": tier - 1,
                    "duration": {"quantity": 2, "unit": "Month"}}])
                }
                _ => {}
            }
            opts.push(o);
        }
        serde_json::from_value(json!({"products": products, "purchaseOptions": opts})).unwrap()
    }

    fn option_strategy() -> impl Strategy<Value = (Vec<&'static str>, &'static str, u32, u8)> {
        let ids = prop_oneof![
            prop::sample::select(BASES.to_vec()).prop_map(|b| vec![b]),
            prop::sample::select(ADDONS.to_vec()).prop_map(|a| vec![a]),
            (
                prop::sample::select(BASES.to_vec()),
                prop::sample::select(ADDONS.to_vec())
            )
                .prop_map(|(b, a)| vec![b, a]),
        ];
        let kind = prop::sample::select(vec!["MonthlySub", "QuarterlySub", "YearlySub"]);
        (ids, kind, 1u32..30, 0u8..3)
    }

    fn query_strategy(skus: Vec<String>) -> impl Strategy<Value = Value> {
        let pick = |v: Vec<Value>| prop::option::of(prop::sample::select(v));
        let skus: Vec<Value> = skus.into_iter().map(Value::from).collect();
        let rel = vec![json!("same"), json!("more"), json!("less")];
        (
            (
                pick(skus),
                pick(vec![
                    json!(["basic"]),
                    json!(["sports"]),
                    json!(["premium", "sports"]),
                ]),
                pick(vec![json!("$4.99"), json!("$9.99"), json!("$0.99")]),
                pick(vec![
                    json!("MonthlySub"),
                    json!(["YearlySub", "QuarterlySub"]),
                    json!("Consumable"),
                ]),
                pick(vec![json!("Subscription"), json!("DigitalContent")]),
                pick(vec![
                    json!("FreeTrial"),
                    json!("ReducedPrice"),
                    json!("RegularPrice"),
                ]),
            ),
            (
                pick(vec![json!(true), json!(false)]),
                pick(vec![json!(true), json!(false)]),
                pick(vec![json!(true), json!(false)]),
                pick(rel.clone()),
                pick(rel),
                pick(vec![json!(true), json!(false)]),
            ),
        )
            .prop_map(
                |((rs, rp, rc, t, bt, ph), (base, addon, bundle, ip, cc, spg))| {
                    let mut q = serde_json::Map::new();
                    for (k, v) in [
                        ("referenceSku", rs),
                        ("referenceProductIds", rp),
                        ("referenceCost", rc),
                        ("type", t),
                        ("billingType", bt),
                        ("phase", ph),
                        ("base", base),
                        ("addon", addon),
                        ("bundle", bundle),
                        ("includeProducts", ip),
                        ("compareCost", cc),
                        ("sameProductGroup", spg),
                    ] {
                        if let Some(v) = v {
                            q.insert(k.into(), v);
                        }
                    }
                    Value::Object(q)
                },
            )
    }

    fn strs(v: &Value) -> BTreeSet<String> {
        match v {
            Value::String(s) => [s.clone()].into(),
            Value::Array(a) => a.iter().map(|s| s.as_str().unwrap().to_owned()).collect(),
            _ => BTreeSet::new(),
        }
    }

    /// The field table, read literally. `None`: the query breaks a "only specify" rule.
    fn oracle(cfg: &CatalogConfig, q: &Value) -> Option<BTreeSet<String>> {
        let product = |id: &str| cfg.products.iter().find(|p| p.product_id == id).unwrap();
        let group = |id: &str| -> BTreeSet<String> {
            let g = &product(id).product_exclusivity_group;
            cfg.products
                .iter()
                .filter(|p| g.is_some() && &p.product_exclusivity_group == g)
                .map(|p| p.product_id.clone())
                .collect()
        };
        let option = |sku: &str| cfg.purchase_options.iter().find(|o| o.sku == sku).unwrap();
        let ids = |o: &catalog::PurchaseOption| -> BTreeSet<String> {
            o.product_ids.iter().cloned().collect()
        };
        let is_addon = |o: &catalog::PurchaseOption| {
            o.product_ids.len() == 1 && product(&o.product_ids[0]).addon
        };
        let cost_of = |o: &catalog::PurchaseOption| tier_price_cents(o.tier).unwrap();
        let reference = q.get("referenceSku").and_then(Value::as_str).map(option);
        let ref_ids = q.get("referenceProductIds").map(strs);
        if q.get("includeProducts").is_some() && reference.is_none() && ref_ids.is_none() {
            return None;
        }
        if q.get("compareCost").is_some() && reference.is_none() && q.get("referenceCost").is_none()
        {
            return None;
        }
        if q.get("sameProductGroup").is_some() && reference.is_none() {
            return None;
        }
        let clash = |a: &BTreeSet<String>, b: &BTreeSet<String>| {
            a.iter().any(|x| b.iter().any(|y| group(x).contains(y)))
        };
        let mut out = BTreeSet::new();
        for o in &cfg.purchase_options {
            let mine = ids(o);
            let flag =
                |k: &str, have: bool| q.get(k).and_then(Value::as_bool).is_none_or(|w| w == have);
            let mut ok = true;
            if let Some(t) = q.get("type") {
                ok &= strs(t).contains(o.kind.as_str());
            }
            if let Some(b) = q.get("billingType") {
                ok &= strs(b).contains("Subscription");
            }
            if let Some(p) = q.get("phase") {
                let first = match o.phases.first().map(|p| p.kind) {
                    Some(catalog::PhaseType::FreeTrial) => "FreeTrial",
                    Some(catalog::PhaseType::ReducedPrice) => "ReducedPrice",
                    _ => "RegularPrice",
                };
                ok &= strs(p).contains(first);
            }
            ok &= flag("base", mine.len() == 1 && !is_addon(o));
            ok &= flag("addon", is_addon(o));
            ok &= flag("bundle", mine.len() >= 2);
            if let (Some(r), Some(true)) = (reference, q.get("addon").and_then(Value::as_bool)) {
                let theirs = ids(r);
                let unlocked = mine
                    .iter()
                    .any(|p| product(p).prerequisites.iter().any(|b| theirs.contains(b)));
                ok &= unlocked && mine.is_disjoint(&theirs) && !clash(&mine, &theirs);
            }
            if let Some(rel) = q.get("includeProducts").and_then(Value::as_str) {
                let theirs = ref_ids.clone().unwrap_or_else(|| ids(reference.unwrap()));
                let bases: Vec<&String> = theirs.iter().filter(|p| !product(p).addon).collect();
                ok &= match rel {
                    "same" => mine == theirs,
                    "more" => mine.is_superset(&theirs) && mine.len() > theirs.len(),
                    _ => {
                        !bases.is_empty()
                            && bases.iter().all(|b| mine.contains(*b))
                            && mine.len() < theirs.len()
                    }
                };
            }
            if let Some(rel) = q.get("compareCost").and_then(Value::as_str) {
                let r = match q.get("referenceCost").and_then(Value::as_str) {
                    Some(c) => catalog::parse_usd(c).unwrap(),
                    None => cost_of(reference.unwrap()),
                };
                let c = cost_of(o);
                ok &= match rel {
                    "same" => c == r,
                    "more" => c > r,
                    _ => c < r,
                };
            }
            if let Some(want) = q.get("sameProductGroup").and_then(Value::as_bool) {
                ok &= clash(&mine, &ids(reference.unwrap())) == want;
            }
            if ok {
                out.insert(o.sku.clone());
            }
        }
        Some(out)
    }

    fn case() -> impl Strategy<Value = (CatalogConfig, Vec<Value>)> {
        prop::collection::vec(option_strategy(), 0..6).prop_flat_map(|opts| {
            let cfg = config(&opts);
            let skus: Vec<String> = cfg.purchase_options.iter().map(|o| o.sku.clone()).collect();
            (Just(cfg), prop::collection::vec(query_strategy(skus), 0..3))
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
        #[test]
        fn queries_equal_the_field_table((cfg, queries) in case()) {
            let Ok(cat) = Catalog::from_config(cfg.clone()) else {
                return Err(TestCaseError::reject("invalid catalog"));
            };
            let parsed: Vec<Query> = serde_json::from_value(Value::Array(queries.clone())).unwrap();
            let got = catalog::query(&cat, &parsed, Date::parse("2026-01-01").unwrap());
            let per: Option<Vec<BTreeSet<String>>> = queries.iter().map(|q| oracle(&cfg, q)).collect();
            match per {
                None => prop_assert!(got.is_err(), "{queries:?} should be refused"),
                Some(sets) => {
                    let want: BTreeSet<String> = if sets.is_empty() {
                        cfg.purchase_options.iter().map(|o| o.sku.clone()).collect()
                    } else {
                        sets.into_iter().flatten().collect()
                    };
                    let got: BTreeSet<String> = got.unwrap().into_keys().collect();
                    prop_assert_eq!(got, want, "{:?}", queries);
                }
            }
        }
    }
}
