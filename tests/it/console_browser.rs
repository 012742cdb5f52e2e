//! The console in a real browser (headless Chromium through chromedriver): sign in, see a push
//! just sent, watch a delivery die, redrive it with a click and see it delivered. Screenshots
//! of each page land in docs/console/ for the README.
//!
//! Skipped with a note when chromedriver is not installed, except under CI, where `.ci/run`
//! installs Debian's `chromium` and `chromium-driver` and the test is required.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::StatusCode;
use serde_json::json;
use wiremock::{Mock, MockServer, ResponseTemplate, matchers};

use crate::{
    console::{CONSOLE_TOKEN, console_on},
    fake_roku::{self, FakeRoku},
    helpers::{TestApp, order},
};

/// Ends chromedriver (and the browsers it started) when the test does, pass or fail.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn find_program(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Ok(p) = std::env::var(env) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_driver(chromedriver: &Path) -> (Driver, u16) {
    let port = free_port();
    let child = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver(child);
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return (driver, port);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not listen on {port}");
}

async fn browser(port: u16, chromium: Option<PathBuf>, profile: &Path) -> Client {
    // Running as root in a container: no sandbox, no GPU, and nothing that phones home.
    let mut options = json!({
        "args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", "--window-size=1280,900",
            format!("--user-data-dir={}", profile.display()),
        ]
    });
    if let Some(binary) = chromium {
        options["binary"] = json!(binary.display().to_string());
    }
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert("goog:chromeOptions".into(), options);
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a WebDriver session")
}

async fn shot(client: &Client, name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/console");
    std::fs::create_dir_all(&dir).unwrap();
    let png = client.screenshot().await.expect("a screenshot");
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

/// Waits up to 10 s for `css` on the page a click is loading: `find` right after a click can
/// run against the old page while the browser is still navigating.
async fn appears(client: &Client, css: &str) {
    if let Err(e) = client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
    {
        let page = client.source().await.unwrap_or_default();
        panic!("{css} never appeared ({e}):\n{page}");
    }
}

/// Reloads `url` until `css` matches something, for up to 10 s.
async fn wait_for_element(client: &Client, url: &str, css: &str) {
    for _ in 0..50 {
        client.goto(url).await.unwrap();
        if client.find(Locator::Css(css)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let page = client.source().await.unwrap_or_default();
    panic!("{css} never appeared on {url}:\n{page}");
}

#[tokio::test]
async fn an_operator_sees_a_push_and_redrives_a_dead_delivery_in_a_browser() {
    let Some(chromedriver) = find_program("CHROMEDRIVER", &["chromedriver"]) else {
        if std::env::var_os("CI").is_some() {
            panic!("CI must run the browser test: install chromium and chromium-driver");
        }
        eprintln!("note: chromedriver not found; the console's browser test is skipped");
        return;
    };
    let chromium = find_program(
        "CHROMIUM",
        &["chromium", "chromium-browser", "google-chrome"],
    );

    // A publisher relay target that refuses at first: its delivery goes dead.
    let publisher = MockServer::start().await;
    Mock::given(matchers::method("POST"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&publisher)
        .await;
    let roku = FakeRoku::start().await;
    let app = TestApp::cleeng(&format!(
        "{}\n{}\n[[relay.targets]]\nname = \"publisher\"\nurl = \"{}/hooks/roku\"\n",
        roku.config(),
        console_on(),
        publisher.uri()
    ))
    .await;
    app.accept_receipts_and_grant().await;
    app.mock().push_relay().mount().await;
    let token = app.signed_in("viewer@example.com", "C-BROWSER").await;
    let (status, _) = app
        .post(
            "/roku/payment",
            Some(&token),
            order("tx-browser-1", "S1-US"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let (_driver, port) = start_driver(&chromedriver).await;
    let profile = tempfile::tempdir().unwrap();
    let client = browser(port, chromium, profile.path()).await;
    let console = app.admin_url("/console/");

    // Signing in.
    client.goto(&console).await.unwrap();
    assert!(
        client
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/sign-in")
    );
    client
        .find(Locator::Css("#token"))
        .await
        .unwrap()
        .send_keys(CONSOLE_TOKEN)
        .await
        .unwrap();
    shot(&client, "sign-in").await;
    client
        .find(Locator::Css("#sign-in"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    appears(&client, "#readiness").await;

    // A push just sent shows on the Pushes page, with its deliveries.
    let jws = fake_roku::push(
        &fake_roku::sale("tx-browser-push", "rc-browser", "S1-US"),
        "browser-push",
    );
    assert_eq!(app.push(&jws).await.status, StatusCode::OK);
    wait_for_element(
        &client,
        &app.admin_url("/console/pushes"),
        "tr[data-transaction=\"tx-browser-push\"]",
    )
    .await;
    shot(&client, "pushes").await;

    // The publisher refused it: dead, with its error.
    let dead = app.admin_url("/console/deliveries?target=publisher&status=dead");
    wait_for_element(&client, &dead, "tr[data-status=\"dead\"]").await;
    let source = client.source().await.unwrap();
    assert!(source.contains("HTTP 404"), "{source}");
    shot(&client, "deliveries-dead").await;

    // Fixed, and redriven with a click: delivered.
    publisher.reset().await;
    Mock::given(matchers::method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&publisher)
        .await;
    let row = client
        .find(Locator::Css("tr[data-status=\"dead\"]"))
        .await
        .unwrap();
    let row_id = row.attr("id").await.unwrap().expect("the row's id");
    row.find(Locator::Css("button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    appears(&client, "#redriven").await;
    wait_for_element(
        &client,
        &app.admin_url("/console/deliveries?target=publisher"),
        &format!("tr#{row_id}[data-status=\"delivered\"]"),
    )
    .await;
    shot(&client, "deliveries-redriven").await;
    // The reset forgot the refused attempt: this is the redriven one.
    assert_eq!(publisher.received_requests().await.unwrap().len(), 1);

    // The other pages, for the README.
    client.goto(&console).await.unwrap();
    shot(&client, "overview").await;
    client
        .goto(&app.admin_url("/console/lookup?q=C-BROWSER"))
        .await
        .unwrap();
    client.find(Locator::Css("#receipts")).await.unwrap();
    shot(&client, "lookup").await;
    client
        .goto(&app.admin_url("/console/config"))
        .await
        .unwrap();
    client.find(Locator::Css("#mapping")).await.unwrap();
    shot(&client, "configuration").await;

    // A phone-sized window still shows the page (tables scroll within their box).
    client.set_window_size(390, 844).await.unwrap();
    client
        .goto(&app.admin_url("/console/deliveries"))
        .await
        .unwrap();
    shot(&client, "deliveries-phone").await;
    // Ending the WebDriver session is cleanup, not behaviour: chromedriver sometimes answers
    // the DELETE with an error once the browser has gone, and `Driver` kills it regardless.
    if let Err(e) = client.close().await {
        eprintln!("note: closing the WebDriver session failed: {e}");
    }
}
