//! The operator's console on the admin listener: off without its token, a sign-in that
//! refuses the wrong token, CSRF on every form, and pages that never show a secret.

use reqwest::{StatusCode, header};

use crate::{
    fake_roku::{self, FakeRoku},
    helpers::{PUBLISHER_TOKEN, SIGNING_KEY, TestApp, order, wait_for},
};

pub const CONSOLE_TOKEN: &str = "console-3c9e1f7a5b2d4e6f8a0b1c2d3e4f5a6b";

/// TOML that switches the console on.
pub fn console_on() -> String {
    format!("[admin]\nconsole_token = \"{CONSOLE_TOKEN}\"\n")
}

/// Every console path, with the method the console serves it on.
const PATHS: &[(&str, &str)] = &[
    ("GET", "/console"),
    ("GET", "/console/"),
    ("GET", "/console/console.css"),
    ("GET", "/console/sign-in"),
    ("POST", "/console/sign-in"),
    ("POST", "/console/sign-out"),
    ("GET", "/console/deliveries"),
    ("POST", "/console/deliveries/redrive"),
    ("POST", "/console/deliveries/redrive-dead"),
    ("GET", "/console/pushes"),
    ("GET", "/console/lookup"),
    ("POST", "/console/lookup/reveal"),
    ("GET", "/console/config"),
    ("GET", "/console/anything/else"),
];

/// A browser-like client of the console: keeps the cookies it was given, follows nothing.
pub struct Operator {
    http: reqwest::Client,
    base: String,
    cookies: Vec<(String, String)>,
}

/// The value of the form's hidden `csrf` field.
pub fn csrf_in(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("a csrf field") + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_string()
}

impl Operator {
    pub fn new(app: &TestApp) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: app.admin_url(""),
            cookies: Vec::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&mut self, resp: &reqwest::Response) {
        for set in resp.headers().get_all(header::SET_COOKIE) {
            let set = set.to_str().unwrap();
            let (pair, _) = set.split_once(';').unwrap_or((set, ""));
            let (k, v) = pair.split_once('=').unwrap();
            self.cookies.retain(|(name, _)| name != k);
            if !v.is_empty() && !set.contains("Max-Age=0") {
                self.cookies.push((k.to_string(), v.to_string()));
            }
        }
    }

    pub fn session_cookie(&self) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(k, _)| k == "rb_console")
            .map(|(_, v)| v.as_str())
    }

    pub async fn get(&mut self, path: &str) -> (StatusCode, reqwest::header::HeaderMap, String) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .header(header::COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep_cookies(&resp);
        let (status, headers) = (resp.status(), resp.headers().clone());
        (status, headers, resp.text().await.unwrap())
    }

    pub async fn post(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, reqwest::header::HeaderMap, String) {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .header(header::COOKIE, self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.keep_cookies(&resp);
        let (status, headers) = (resp.status(), resp.headers().clone());
        (status, headers, resp.text().await.unwrap())
    }

    /// Signs in with `token`; returns the answer to the form's POST.
    pub async fn sign_in(&mut self, token: &str) -> (StatusCode, reqwest::header::HeaderMap) {
        let (status, _, form) = self.get("/console/sign-in").await;
        assert_eq!(status, StatusCode::OK, "{form}");
        let csrf = csrf_in(&form);
        let (status, headers, _) = self
            .post("/console/sign-in", &[("token", token), ("csrf", &csrf)])
            .await;
        (status, headers)
    }

    /// The CSRF token pages render for this session.
    pub async fn csrf(&mut self) -> String {
        let (status, _, html) = self.get("/console/").await;
        assert_eq!(status, StatusCode::OK, "{html}");
        csrf_in(&html)
    }
}

#[tokio::test]
async fn without_a_console_token_every_console_path_is_404() {
    let app = TestApp::simulator("").await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (method, path) in PATHS {
        let url = app.admin_url(path);
        let resp = match *method {
            "GET" => http.get(&url).send().await.unwrap(),
            _ => http
                .post(&url)
                .form(&[("token", CONSOLE_TOKEN)])
                .send()
                .await
                .unwrap(),
        };
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{method} {path}");
    }
    // Nor, with one, on the public listener.
    let app = TestApp::simulator(&console_on()).await;
    for (method, path) in PATHS {
        let resp = match *method {
            "GET" => http.get(app.url(path)).send().await.unwrap(),
            _ => http.post(app.url(path)).send().await.unwrap(),
        };
        assert_eq!(
            resp.status(),
            StatusCode::NOT_FOUND,
            "public {method} {path}"
        );
    }
}

#[tokio::test]
async fn a_wrong_token_is_refused_and_the_right_one_opens_a_strict_session() {
    let app = TestApp::simulator(&console_on()).await;
    let mut op = Operator::new(&app);
    // Not signed in: every page sends to the sign-in form.
    let (status, headers, _) = op.get("/console/deliveries").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/console/sign-in");

    let (status, _) = op.sign_in("not-the-token").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(op.session_cookie().is_none());
    let (status, _, _) = op.get("/console/").await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    let (status, headers) = op.sign_in(CONSOLE_TOKEN).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let session = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with("rb_console="))
        .expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(session.contains(attribute), "{session}");
    }
    let (status, headers, html) = op.get("/console/").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert!(!html.contains("<script"), "no script at all");
    assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");

    // Signed out, the session is over even if its cookie is replayed.
    let csrf = csrf_in(&html);
    let cookie = op.session_cookie().unwrap().to_string();
    let (status, _, _) = op.post("/console/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let replay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.admin_url("/console/"))
        .header(header::COOKIE, format!("rb_console={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_form_without_its_csrf_token_is_refused() {
    let app = TestApp::simulator(&console_on()).await;
    let mut op = Operator::new(&app);
    // The sign-in form itself: the right token without the form's CSRF token.
    let (status, _, _) = op.get("/console/sign-in").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = op
        .post("/console/sign-in", &[("token", CONSOLE_TOKEN)])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(op.session_cookie().is_none());

    let (status, _) = op.sign_in(CONSOLE_TOKEN).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let csrf = op.csrf().await;
    for (path, form) in [
        ("/console/deliveries/redrive", vec![("id", "1")]),
        (
            "/console/deliveries/redrive-dead",
            vec![("target", "provider")],
        ),
        ("/console/lookup/reveal", vec![("rcid", "rc1")]),
        ("/console/sign-out", vec![]),
    ] {
        let (status, _, _) = op.post(path, &form).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path} without a token");
        let mut wrong = form.clone();
        wrong.push(("csrf", "0000"));
        let (status, _, _) = op.post(path, &wrong).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path} with a wrong token");
        let mut right = form.clone();
        right.push(("csrf", &csrf));
        let (status, _, body) = op.post(path, &right).await;
        assert!(
            status == StatusCode::SEE_OTHER || status == StatusCode::OK,
            "{path} with its token: {status} {body}"
        );
    }
}

#[tokio::test]
async fn no_page_shows_a_secret_and_emails_are_masked_until_revealed() {
    let roku = FakeRoku::start().await;
    // With Roku's API key configured too, so that it is a secret the pages could leak.
    let app = TestApp::cleeng(&format!("{}\n{}", roku.config_with_api_key(), console_on())).await;
    app.accept_receipts_and_grant().await;
    app.mock().push_relay().mount().await;
    let token = app.signed_in("secret.keeper@example.com", "C-SECRET").await;
    // Roku's fake validates nothing, so the receipt may end refused: claimed either way.
    app.post(
        "/roku/payment",
        Some(&token),
        order("tx-console-1", "S1-US"),
    )
    .await;
    let jws = fake_roku::push(
        &fake_roku::sale("tx-console-1", "rc-console", "S1-US"),
        "console-key-1",
    );
    assert_eq!(app.push(&jws).await.status, StatusCode::OK);
    let store = app.store().await;
    wait_for("the push stored", || async {
        store.push_count().await.unwrap() == 1
    })
    .await;

    let mut op = Operator::new(&app);
    op.sign_in(CONSOLE_TOKEN).await;
    let session = op.session_cookie().unwrap().to_string();
    let mut pages = Vec::new();
    for path in [
        "/console/",
        "/console/deliveries",
        "/console/deliveries?status=delivered",
        "/console/pushes",
        "/console/lookup?q=tx-console-1",
        "/console/lookup?q=C-SECRET",
        "/console/lookup?q=rc-console",
        "/console/lookup?q=secret.keeper%40example.com",
        "/console/config",
    ] {
        let (status, _, html) = op.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {html}");
        pages.push((path, html));
    }
    for (path, html) in &pages {
        for secret in [
            PUBLISHER_TOKEN,
            SIGNING_KEY,
            CONSOLE_TOKEN,
            fake_roku::API_KEY,
            session.as_str(),
        ] {
            assert!(!html.contains(secret), "{path} shows a secret");
        }
        assert!(
            !html.contains("secret.keeper@example.com"),
            "{path} shows an email unmasked"
        );
    }
    let (_, receipts) = &pages[4];
    assert!(receipts.contains("tx-console-1"), "{receipts}");
    assert!(pages[3].1.contains("rc-console"), "the push is listed");
}

#[tokio::test]
async fn a_dead_delivery_is_redriven_from_the_console() {
    let roku = FakeRoku::start().await;
    let app = TestApp::cleeng(&format!("{}\n{}", roku.config(), console_on())).await;
    app.mock()
        .push_relay_answers(wiremock::ResponseTemplate::new(404))
        .mount()
        .await;
    let jws = fake_roku::push(
        &fake_roku::sale("tx-console-dead", "rc1", "S1-US"),
        "console-dead",
    );
    assert_eq!(app.push(&jws).await.status, StatusCode::OK);
    let store = app.store().await;
    wait_for("the dead letter", || async {
        store.outbox_depth().await.unwrap().1 == 1
    })
    .await;
    let mut op = Operator::new(&app);
    op.sign_in(CONSOLE_TOKEN).await;
    let (_, _, html) = op.get("/console/deliveries?status=dead").await;
    assert!(html.contains("HTTP 404"), "{html}");
    let marker = "id=\"redrive-";
    let start = html.find(marker).expect("a Redrive button") + marker.len();
    let id = &html[start..start + html[start..].find('"').unwrap()];

    app.cleeng.reset().await;
    app.mock().push_relay().mount().await;
    let csrf = csrf_in(&html);
    let (status, headers, _) = op
        .post(
            "/console/deliveries/redrive",
            &[("id", id), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/console/deliveries?redriven=1");
    wait_for("the redriven delivery", || async {
        store.outbox_depth().await.unwrap() == (0, 0)
    })
    .await;
    let (_, _, html) = op.get("/console/deliveries?status=delivered").await;
    assert!(html.contains(&format!("id=\"delivery-{id}\"")), "{html}");
}

/// The integration flow (a receipt, pushes stored and rejected, a dead delivery redriven),
/// then one scrape, written where `scripts/check-observability.sh` reads it.
#[tokio::test]
async fn metrics_after_the_flow() {
    let roku = FakeRoku::start().await;
    let app = TestApp::cleeng(&format!("{}\n{}", roku.config(), console_on())).await;
    app.accept_receipts_and_grant().await;
    app.mock().push_relay().mount().await;
    let token = app.signed_in("flow@example.com", "C-FLOW").await;
    let (status, _) = app
        .post("/roku/payment", Some(&token), order("tx-flow-1", "S1-US"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let jws = fake_roku::push(&fake_roku::sale("tx-flow-1", "rc-flow", "S1-US"), "flow-1");
    assert_eq!(app.push(&jws).await.status, StatusCode::OK);
    let _ = app.push("not-a-jws").await;
    let store = app.store().await;
    wait_for("the relay", || async {
        store.outbox_depth().await.unwrap() == (0, 0)
    })
    .await;
    let scrape = app.metrics().await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/observability");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("metrics.txt"), &scrape).unwrap();
    assert!(scrape.contains("roku_bridge_build_info"));
}
