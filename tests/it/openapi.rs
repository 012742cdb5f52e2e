//! The OpenAPI document and the router agree, operation for operation.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};

use crate::helpers::TestApp;

/// `{purchase_id}` and `{purchaseId}` name the same segment.
fn shape(path: &str) -> String {
    path.split('/')
        .map(|seg| if seg.starts_with('{') { "{}" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_routed_operation_is_documented_and_every_documented_one_is_routed() {
    let isu = "[isu]\napp_name = \"docs_app\"\n[isu.images.\"en-us\"]\nimages = [\"https://x/1.jpg\",\"https://x/2.jpg\",\"https://x/3.jpg\",\"https://x/4.jpg\",\"https://x/5.jpg\"]\ndescription = \"Films\"\n[roku]\napi_key = \"docs-key\"\n";
    let app = TestApp::simulator(isu).await;
    let resp = app.http.get(app.url("/openapi.json")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let spec: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(spec["openapi"], "3.1.0");
    let documented: BTreeSet<(String, String)> = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.clone(), shape(path)))
        })
        .collect();

    let config = roku_bridge::config::Config::from_toml(isu).unwrap();
    let routed: BTreeSet<(String, String)> = roku_bridge::http::operations(&config)
        .into_iter()
        .map(|(m, p)| (m.to_string(), shape(&p)))
        .collect();
    assert_eq!(documented, routed);
    assert!(routed.contains(&("get".into(), "/api/offers/rsb/products".into())));

    // And each is really served: neither the fallback's not_found nor 405.
    for (method, path) in &routed {
        let url = app.url(&path.replace("{}", "x"));
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let resp = app.http.request(method.clone(), url).send().await.unwrap();
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert_ne!(body["error"]["code"], "not_found", "{method} {path}");
    }
}
