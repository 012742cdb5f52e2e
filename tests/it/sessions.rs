use crate::helpers::{PASSWORD, PUBLISHER_ID, SIGNING_KEY, TestApp, process::run_on_store};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::json;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn login_at_cleeng_returns_a_session_for_its_customer() {
    let app = TestApp::cleeng("").await;
    // Cleeng's customer id arrives as a number; the session names it as a string.
    app.mock()
        .logs_in("ann@example.com", "s3cret-pass", 987654321)
        .expect(1)
        .mount()
        .await;
    let session = app.sign_in("ann@example.com", "s3cret-pass").await;
    assert_eq!(
        session.raw["customer"],
        json!({"id": "987654321", "email": "ann@example.com"})
    );
    assert_eq!(session.customer.email.as_deref(), Some("ann@example.com"));
    assert_eq!(session.expires_in, 900);
    // The token works on a protected endpoint.
    app.entitlements(&session.access_token).await;
}

#[tokio::test]
async fn wrong_password_is_401_and_existing_customer_is_409() {
    let app = TestApp::cleeng("").await;
    app.mock().refuses_logins().customer_exists().mount().await;
    let refused = app
        .sessions(json!({"email": "ann@example.com", "password": "nope"}))
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused.code(), "invalid_credentials");
    let exists = app
        .sessions(json!({"email": "ann@example.com", "password": "pw", "register": true}))
        .await;
    assert_eq!(exists.status, StatusCode::CONFLICT);
    assert_eq!(exists.code(), "customer_exists");
}

#[tokio::test]
async fn registration_sends_cleeng_the_fields_it_requires() {
    let app = TestApp::cleeng("").await;
    let fields = json!({
        "email": "bo@example.com", "password": "pw-123456", "publisherId": PUBLISHER_ID,
        "locale": "en_US", "country": "US", "currency": "USD", "firstName": "Bo"
    });
    app.mock()
        .registers_matching(fields, "42")
        .expect(1)
        .mount()
        .await;
    let session = app
        .sessions(json!({"email": "bo@example.com", "password": "pw-123456", "register": true, "firstName": "Bo"}))
        .await
        .session();
    assert_eq!(session.customer.id, "42");
}

#[tokio::test]
async fn refresh_rotates_and_reusing_the_old_token_revokes_its_successor() {
    let app = TestApp::simulator("").await;
    let first = app.register("cy@example.com", None).await;
    let old = &first.refresh_token;
    let second = app.refresh(old).await.session();
    assert_eq!(second.raw["customer"], first.raw["customer"]);
    assert_ne!(second.refresh_token, first.refresh_token);
    let reused = app.refresh(old).await;
    assert_eq!(reused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reused.code(), "invalid_token");
    // Reuse means a copy exists: the family goes, the successor included (OAuth 2.0 BCP).
    let successor = app.refresh(&second.refresh_token).await;
    assert_eq!(successor.status, StatusCode::UNAUTHORIZED);
    assert_eq!(successor.code(), "invalid_token");
    // Without reuse, a token still rotates exactly once.
    let fresh = app.register("cy2@example.com", None).await;
    let next = app.refresh(&fresh.refresh_token).await.session();
    assert_eq!(
        app.refresh(&next.refresh_token).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn revoke_signs_out_every_device_of_the_customer() {
    let app = TestApp::simulator("").await;
    let tv = app.register("dee@example.com", None).await;
    let stick = app.sign_in("dee@example.com", PASSWORD).await;
    let revoked = app.revoke(Some(&tv.access_token)).await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    assert_eq!(revoked.body["revoked"], 2);
    for device in [&tv, &stick] {
        let reply = app.refresh(&device.refresh_token).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
        assert_eq!(reply.code(), "invalid_token");
    }
    // Revoking needs a session of its own.
    assert_eq!(app.revoke(None).await.status, StatusCode::UNAUTHORIZED);
}

fn claims(aud: &str, exp: u64) -> serde_json::Value {
    json!({"iss": "roku-bridge", "aud": aud, "sub": "900000001", "email": "x@example.com", "iat": now() - 10, "exp": exp})
}

fn hs256(claims: &serde_json::Value, key: &[u8]) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(key),
    )
    .unwrap()
}

#[tokio::test]
async fn forged_expired_wrong_audience_and_alg_none_tokens_are_refused() {
    let app = TestApp::simulator("").await;
    let good = hs256(&claims("roku-device", now() + 600), SIGNING_KEY.as_bytes());
    let (status, _) = app.get("/roku/entitlements", &good).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a correctly signed token is the control"
    );

    let forged = hs256(
        &claims("roku-device", now() + 600),
        b"another-key-another-key-another-key!!",
    );
    let expired = hs256(&claims("roku-device", now() - 3600), SIGNING_KEY.as_bytes());
    let wrong_aud = hs256(
        &claims("roku-bridge-refresh", now() + 600),
        SIGNING_KEY.as_bytes(),
    );
    let b64 = |v: serde_json::Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let alg_none = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "typ": "JWT"})),
        b64(claims("roku-device", now() + 600))
    );
    // The signature of the good token pasted onto other claims.
    let sig = good.rsplit('.').next().unwrap();
    let spliced = format!(
        "{}.{}.{sig}",
        b64(json!({"alg": "HS256", "typ": "JWT"})),
        b64(
            json!({"iss": "roku-bridge", "aud": "roku-device", "sub": "1", "email": "evil@example.com", "iat": now(), "exp": now() + 600})
        )
    );

    for (name, token, code) in [
        ("forged", forged.as_str(), "invalid_token"),
        ("expired", expired.as_str(), "token_expired"),
        ("wrong audience", wrong_aud.as_str(), "invalid_token"),
        ("alg none", alg_none.as_str(), "invalid_token"),
        ("spliced", spliced.as_str(), "invalid_token"),
        ("garbage", "not-a-jwt", "invalid_token"),
    ] {
        let (status, body) = app.get("/roku/entitlements", token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {body}");
        assert_eq!(body["error"]["code"], code, "{name}");
    }
    let (status, _, body) = app
        .call(reqwest::Method::GET, "/roku/entitlements", None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "missing_token");
}

#[tokio::test]
async fn session_requests_are_validated() {
    let app = TestApp::simulator("").await;
    for (body, code) in [
        (
            json!({"email": "not-an-email", "password": "x"}),
            "invalid_email",
        ),
        (json!({"email": "a@example.com"}), "invalid_request"),
        (json!({"password": "x"}), "invalid_request"),
        (
            json!({"email": "a@example.com", "password": ""}),
            "invalid_request",
        ),
        (
            json!({"email": "a@example.com", "password": "x", "register": "yes"}),
            "invalid_request",
        ),
    ] {
        let (status, resp) = app.post("/roku/sessions", None, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {resp}");
        assert_eq!(resp["error"]["code"], code, "{body}");
    }
}

#[tokio::test]
async fn the_operator_revokes_a_customers_sessions_from_the_command_line() {
    let app = TestApp::simulator("").await;
    let session = app.register("eve@example.com", None).await;
    let dir = tempfile::tempdir().unwrap();
    let customer = session.customer.id.as_str();
    let out = run_on_store(
        dir.path(),
        &app.store_url,
        &["sessions", "revoke", "--customer", customer].map(std::ffi::OsStr::new),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("1 refresh tokens revoked"));
    assert_eq!(
        app.refresh(&session.refresh_token).await.status,
        StatusCode::UNAUTHORIZED
    );
}
