//! The real binary as a child process: a config file, the `listening` line, signals, restarts.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Output, Stdio},
    time::Duration,
};

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{PASSWORD, PUBLISHER_ID, PUBLISHER_TOKEN, SIGNING_KEY};

pub const BIN: &str = env!("CARGO_BIN_EXE_roku-bridge");
pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The binary, run from the crate root with none of the developer's `ROKU_BRIDGE*` variables.
pub fn bridge_command() -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(ROOT);
    for (key, _) in std::env::vars() {
        if key.starts_with("ROKU_BRIDGE") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Runs a one-shot command (`sessions revoke`, `isu import-hashes`…) against the store at
/// `store_url`, through a config file written in `dir`.
pub fn run_on_store(dir: &Path, store_url: &str, args: &[&std::ffi::OsStr]) -> Output {
    let config = dir.join("cli.toml");
    std::fs::write(
        &config,
        format!("[store]\nurl = \"{store_url}\"\n[session]\nsigning_key = \"{SIGNING_KEY}\"\n"),
    )
    .unwrap();
    bridge_command()
        .args(args)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap()
}

/// The head of every process config: both listeners on free ports, the store at `store`.
pub fn listeners_and_store(store: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n[store]\nurl = \"{store}\"\n"
    )
}

/// A config file for bridge processes on a Cleeng at `cleeng` and the store at `store`, with
/// quick confirmation and relay timings; `roku` and `extra` are TOML appended after it.
pub fn process_config(dir: &Path, store: &str, cleeng: &str, roku: &str, extra: &str) -> PathBuf {
    let path = dir.join("bridge.toml");
    std::fs::write(
        &path,
        format!(
            r#"{head}
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
"#,
            head = listeners_and_store(store)
        ),
    )
    .unwrap();
    path
}

/// How to start a bridge: `serve` with this config file (if any) and these variables. Starting
/// it twice gives a second process on the same store.
#[derive(Debug, Clone, Default)]
pub struct Spawn {
    config: Option<PathBuf>,
    env: Vec<(String, String)>,
}

impl Spawn {
    pub fn config(path: &Path) -> Self {
        Self {
            config: Some(path.to_path_buf()),
            env: Vec::new(),
        }
    }

    /// The shipped `config/bridge.toml` (found from the crate root).
    pub fn default_config() -> Self {
        Self::default()
    }

    /// The shipped config on free ports, its SQLite file in `dir`, the simulator granting
    /// after 300 ms.
    pub fn default_in(dir: &Path) -> Self {
        Self::default_config()
            .env(
                "ROKU_BRIDGE__STORE__URL",
                format!("sqlite://{}/bridge.db", dir.display()),
            )
            .env("ROKU_BRIDGE__SERVER__LISTEN", "127.0.0.1:0")
            .env("ROKU_BRIDGE__ADMIN__LISTEN", "127.0.0.1:0")
            .env("ROKU_BRIDGE__PROVIDER__SIMULATOR__GRANT_DELAY", "300ms")
    }

    pub fn env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Starts the process and waits for its `listening` line.
    pub fn start(&self) -> Bridge {
        let mut cmd = bridge_command();
        cmd.arg("serve");
        if let Some(config) = &self.config {
            cmd.arg("--config").arg(config);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd.stderr(Stdio::piped()).spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                    && v["message"] == "roku-bridge listening"
                {
                    let addr = v["addr"].as_str().unwrap().to_string();
                    let admin = v["admin_addr"].as_str().map(str::to_string);
                    let _ = tx.send((addr, admin));
                }
            }
        });
        let (addr, admin) = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the bridge announced its address");
        Bridge {
            child,
            addr,
            admin,
            spawn: self.clone(),
        }
    }
}

/// A running bridge process; dropped, it is killed.
pub struct Bridge {
    child: Child,
    /// The API listener, `host:port`.
    pub addr: String,
    /// The admin listener, when one is configured.
    pub admin: Option<String>,
    spawn: Spawn,
}

impl Bridge {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A JSON request to this process; the body is `Null` when the answer is not JSON.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = reqwest::Client::new().request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("bridge reachable");
        (resp.status(), resp.json().await.unwrap_or(Value::Null))
    }

    /// Signs `email` up (Cleeng, if used, must be mocked); returns the access token.
    pub async fn register(&self, email: &str) -> String {
        let body = json!({"email": email, "password": PASSWORD, "register": true});
        let (status, session) = self
            .call(reqwest::Method::POST, "/roku/sessions", None, Some(body))
            .await;
        assert_eq!(status, StatusCode::OK, "{session}");
        session["accessToken"].as_str().unwrap().to_string()
    }

    pub async fn post_receipt(&self, token: &str, body: Value) -> StatusCode {
        self.call(
            reqwest::Method::POST,
            "/roku/payment",
            Some(token),
            Some(body),
        )
        .await
        .0
    }

    pub async fn get(&self, path: &str, token: &str) -> Value {
        self.call(reqwest::Method::GET, path, Some(token), None)
            .await
            .1
    }

    /// Delivers a push as Roku does; returns the ack's status.
    pub async fn push(&self, jws: &str) -> StatusCode {
        reqwest::Client::new()
            .post(self.url("/roku/notifications"))
            .body(jws.to_string())
            .send()
            .await
            .expect("bridge reachable")
            .status()
    }

    /// A URL on the admin listener; panics when none was configured.
    pub fn admin_url(&self, path: &str) -> String {
        let admin = self.admin.as_deref().expect("an admin listener");
        format!("http://{admin}{path}")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`HUP`, `TERM`…) without waiting.
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(sent.success(), "kill -{signal}");
    }

    /// SIGKILL: no shutdown path runs. Returns how to start it again on the same store.
    pub fn kill9(mut self) -> Spawn {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.spawn.clone()
    }

    /// SIGTERM and wait for the graceful exit.
    pub fn terminate(mut self) -> (ExitStatus, Spawn) {
        self.signal("TERM");
        let status = self.child.wait().unwrap();
        (status, self.spawn.clone())
    }

    /// SIGKILL, then a new process with the same config on the same store.
    pub fn restart(self) -> Bridge {
        self.kill9().start()
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
