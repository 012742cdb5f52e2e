//! The bridge killed with SIGKILL loses nothing it acknowledged: a real process, a real file.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::Duration,
};

use reqwest::StatusCode;
use serde_json::json;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path},
};

use crate::{
    fake_roku::{self, FakeRoku},
    helpers::{PUBLISHER_ID, PUBLISHER_TOKEN, SIGNING_KEY, order},
};

pub struct Bridge {
    child: Child,
    pub addr: String,
}

/// A config file for bridge processes on a Cleeng at `cleeng` and the store at `store`, with
/// quick confirmation and relay timings; `extra` is TOML appended after it.
pub fn process_config(
    dir: &std::path::Path,
    store: &str,
    cleeng: &str,
    roku: &str,
    extra: &str,
) -> std::path::PathBuf {
    let path = dir.join("bridge.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[server]
listen = "127.0.0.1:0"
[admin]
listen = "127.0.0.1:0"
[store]
url = "{store}"
[provider]
kind = "cleeng"
publisher_id = "{PUBLISHER_ID}"
publisher_token = "{PUBLISHER_TOKEN}"
receipt_url = "{cleeng}"
core_url = "{cleeng}"
mediastore_url = "{cleeng}"
push_url = "{cleeng}"
timeout = "2s"
[session]
signing_key = "{SIGNING_KEY}"
[payment]
confirm_timeout = "1s"
[relay]
lease = "1s"
poll_interval = "50ms"
initial_backoff = "100ms"
max_backoff = "300ms"
{roku}
{extra}
"#
        ),
    )
    .unwrap();
    path
}

impl Bridge {
    pub fn start(config: &std::path::Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_roku-bridge"))
            .args(["serve", "--config"])
            .arg(config)
            .env_remove("ROKU_BRIDGE__PROVIDER__PUBLISHER_TOKEN")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                    && v["message"] == "roku-bridge listening"
                {
                    let _ = tx.send(v["addr"].as_str().unwrap().to_string());
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("bridge started");
        Bridge { child, addr }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn kill9(mut self) {
        self.child.kill().unwrap(); // SIGKILL: no shutdown path runs
        self.child.wait().unwrap();
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_pushes_and_accepted_receipts_survive_sigkill() {
    let roku = FakeRoku::start().await;
    let cleeng = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/customers"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"responseData": {"customerId": "C1"}})),
        )
        .mount(&cleeng)
        .await;
    // Everything downstream is down while the first bridge runs.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&cleeng)
        .await;

    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}/bridge.db", dir.path().display());
    let config = process_config(dir.path(), &store, &cleeng.uri(), &roku.config(), "");

    let first = Bridge::start(&config);
    let http = reqwest::Client::new();
    let url = |b: &Bridge, p: &str| format!("http://{}{p}", b.addr);
    let session: serde_json::Value = http
        .post(url(&first, "/roku/sessions"))
        .json(&json!({"email": "k@example.com", "password": "pw-kill-test", "register": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = session["accessToken"].as_str().unwrap().to_string();
    let receipt = http
        .post(url(&first, "/roku/payment"))
        .bearer_auth(&token)
        .json(&order("tx-killed", "S1-US"))
        .send()
        .await
        .unwrap();
    assert_eq!(receipt.status(), StatusCode::ACCEPTED);
    let mut pushes = Vec::new();
    for i in 0..5 {
        let jws = fake_roku::push(
            &fake_roku::sale(&format!("t{i}"), "rc-k", "S1-US"),
            &format!("kill-{i}"),
        );
        let resp = http
            .post(url(&first, "/roku/notifications"))
            .body(jws.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        pushes.push(jws);
    }
    first.kill9();

    // Downstream recovers; a new process on the same file delivers everything, once.
    cleeng.reset().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&cleeng)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"accessGranted": true})))
        .mount(&cleeng)
        .await;
    let second = Bridge::start(&config);
    let push_path = format!("/roku/push-notification/{PUBLISHER_ID}");
    let mut delivered = Vec::new();
    let mut receipts = 0;
    for _ in 0..100 {
        let requests = cleeng.received_requests().await.unwrap();
        delivered = requests
            .iter()
            .filter(|r| r.url.path() == push_path)
            .map(|r| String::from_utf8(r.body.clone()).unwrap())
            .collect();
        receipts = requests
            .iter()
            .filter(|r| r.url.path() == "/roku/payment")
            .count();
        if delivered.len() >= pushes.len() && receipts >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(delivered, pushes, "every acknowledged push, once, in order");
    assert_eq!(receipts, 1, "the accepted receipt, once");
    let status: serde_json::Value = http
        .get(url(&second, "/roku/payment/tx-killed?wait=5"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "granted", "{status}");
}
