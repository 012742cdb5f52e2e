//! `TestApp`: the real server on `127.0.0.1:0`, a wiremock Cleeng, and a client that speaks
//! to it like a channel would. Route-named calls live in `routes`, the Cleeng mocks in
//! `cleeng`, the binary run as a child process in `process`.

pub mod cleeng;
pub mod process;
pub mod routes;

pub use cleeng::{CleengMock, PUSH_PATH};
pub use routes::PASSWORD;

use std::{
    io::Write,
    net::SocketAddr,
    sync::{Arc, LazyLock, Mutex},
};

use reqwest::{Method, StatusCode};
use roku_bridge::{config::Config, store::Store};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use wiremock::MockServer;

use crate::backend::{Backend, StoreGuard, fresh_url};

pub const PUBLISHER_TOKEN: &str = "pt-7f3a9c1e5b2d8a4f6e0c9b7d3a1f5e8c2b6d4a0f9e7c3b1d";
pub const SIGNING_KEY: &str = "sk-test-0123456789abcdef0123456789abcdef";
pub const PUBLISHER_ID: &str = "123456789";

/// Everything the bridge logged, from every test in this binary, at the most verbose level.
pub static LOGS: LazyLock<Arc<Mutex<Vec<u8>>>> = LazyLock::new(|| {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            "trace,hyper_util=debug,hyper=debug,h2=info,wiremock=warn,tokio=info,runtime=info",
        )
        .with_writer(move || LogWriter(writer.clone()))
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
    buffer
});

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn captured_logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}

pub struct TestApp {
    pub addr: SocketAddr,
    /// The admin listener: /metrics, /healthz, /readyz.
    pub admin: SocketAddr,
    stop: std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    pub http: reqwest::Client,
    pub cleeng: MockServer,
    pub store_url: String,
    _store: StoreGuard,
}

/// Short budgets so the confirmation and relay paths finish in a test's time.
const FAST: &str = r#"
[payment]
confirm_timeout = "1500ms"
poll_initial_interval = "50ms"
poll_max_interval = "200ms"
[roku]
jwks_url = "http://127.0.0.1:9/no-roku-in-tests.json"
test_jwks_url = "http://127.0.0.1:9/no-roku-test-keys-in-tests.json"
api_url = "http://127.0.0.1:9"
[limits]
# Tests fire hundreds of requests from 127.0.0.1; tests/it/limits.rs turns these back on.
per_ip_per_second = 0
per_customer_per_second = 0
[server]
# Likewise for connections (tests/it/security.rs sets its own cap).
max_connections_per_source = 0
[relay]
poll_interval = "50ms"
initial_backoff = "100ms"
max_backoff = "500ms"
"#;

impl TestApp {
    /// The bridge on a wiremock Cleeng and a fresh SQLite file. `extra` is TOML merged over
    /// the test defaults.
    pub async fn cleeng(extra: &str) -> Self {
        Self::cleeng_on(Backend::Sqlite, extra).await
    }

    pub async fn cleeng_on(backend: Backend, extra: &str) -> Self {
        Self::cleeng_layers(backend, &[extra]).await
    }

    /// Several TOML layers over the defaults, each overriding the ones before it.
    pub async fn cleeng_layers(backend: Backend, extra: &[&str]) -> Self {
        let cleeng = MockServer::start().await;
        let base = cleeng.uri();
        let toml = format!(
            r#"
[server]
listen = "127.0.0.1:0"
[provider]
kind = "cleeng"
publisher_id = "{PUBLISHER_ID}"
publisher_token = "{PUBLISHER_TOKEN}"
receipt_url = "{base}"
core_url = "{base}"
mediastore_url = "{base}"
push_url = "{base}"
timeout = "2s"
[session]
signing_key = "{SIGNING_KEY}"
"#
        );
        let mut layers = vec![toml.as_str(), FAST];
        layers.extend_from_slice(extra);
        Self::start(backend, &layers, cleeng).await
    }

    /// The bridge on the built-in simulator.
    pub async fn simulator(extra: &str) -> Self {
        let cleeng = MockServer::start().await;
        let toml = format!("[session]\nsigning_key = \"{SIGNING_KEY}\"\n");
        Self::start(Backend::Sqlite, &[&toml, FAST, extra], cleeng).await
    }

    async fn start(backend: Backend, layers: &[&str], cleeng: MockServer) -> Self {
        LazyLock::force(&LOGS);
        let store = fresh_url(backend).await;
        let store_layer = format!("[store]\nurl = \"{}\"\n", store.url);
        let mut all = vec![store_layer.as_str()];
        all.extend_from_slice(layers);
        let config = Config::from_toml_layers(&all).unwrap_or_else(|e| panic!("test config: {e}"));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let admin_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin = admin_listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) =
                roku_bridge::run_until(config, listener, Some(admin_listener), shutdown).await
            {
                panic!("bridge stopped: {e:#}");
            }
        });
        TestApp {
            addr,
            admin,
            stop: std::sync::Mutex::new(Some(stop)),
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap(),
            cleeng,
            store_url: store.url.clone(),
            _store: store,
        }
    }

    /// What SIGTERM does to the real process.
    pub fn stop(&self) {
        if let Some(stop) = self.stop.lock().unwrap().take() {
            let _ = stop.send(());
        }
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{}", self.admin, path)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("bridge reachable");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, headers, value)
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        let (s, _, v) = self.call(Method::POST, path, token, Some(body)).await;
        (s, v)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let (s, _, v) = self.call(Method::GET, path, Some(token), None).await;
        (s, v)
    }

    /// Signs `email` up at a Cleeng that creates `customer_id`; returns the access token.
    pub async fn signed_in(&self, email: &str, customer_id: &str) -> String {
        self.register(email, Some(customer_id)).await.access_token
    }

    /// Ann (Cleeng customer C100) signed in on a Cleeng app started with `extra`; returns the
    /// app and her access token.
    pub async fn with_ann(extra: &str) -> (Self, String) {
        let app = Self::cleeng(extra).await;
        let token = app.signed_in("ann@example.com", "C100").await;
        (app, token)
    }

    /// Cleeng takes every receipt and grants every access check.
    pub async fn accept_receipts_and_grant(&self) {
        self.mock().accepts_receipts().grants().mount().await;
    }

    /// A builder of Cleeng mocks on this app's wiremock server.
    pub fn mock(&self) -> CleengMock<'_> {
        CleengMock::on(&self.cleeng)
    }

    /// A connection of its own to the bridge's store.
    pub async fn store(&self) -> Store {
        Store::connect(&self.store_url).await.unwrap()
    }

    /// Requests Cleeng received on `path_prefix`.
    pub async fn cleeng_requests(&self, path_prefix: &str) -> Vec<wiremock::Request> {
        self.cleeng
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.url.path().starts_with(path_prefix))
            .collect()
    }
}

pub fn order(purchase_id: &str, code: &str) -> Value {
    json!({"order": {"purchaseId": purchase_id, "code": code, "amount": 4.99, "total": 5.39, "qty": 1},
           "ipAddress": "203.0.113.7"})
}

/// Polls `check` every 50 ms for up to 5 s: the relay and the effects run after the ack.
pub async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// A publisher's own webhook receiver: every POST on `at` answers 204.
pub async fn publisher_hook(at: &str) -> MockServer {
    let server = MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path(at))
        .respond_with(wiremock::ResponseTemplate::new(204))
        .mount(&server)
        .await;
    server
}

/// The publisher's events webhook (`relay.events_url` is `{uri}/events`), taking every event.
pub async fn publisher_webhook() -> MockServer {
    let publisher = MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path("/events"))
        .respond_with(wiremock::ResponseTemplate::new(204))
        .mount(&publisher)
        .await;
    publisher
}
