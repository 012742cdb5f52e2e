use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::json;
use wiremock::{
    Mock, ResponseTemplate,
    matchers::{body_partial_json, method, path},
};

use crate::helpers::{PUBLISHER_ID, SIGNING_KEY, TestApp};

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn login_at_cleeng_returns_a_session_for_its_customer() {
    let app = TestApp::cleeng("").await;
    Mock::given(method("POST"))
        .and(path("/auths"))
        .and(body_partial_json(json!({"email": "ann@example.com", "password": "s3cret-pass", "publisherId": PUBLISHER_ID})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "responseData": {"customerId": 987654321, "jwt": "x", "refreshToken": "y"}, "errors": []
        })))
        .expect(1)
        .mount(&app.cleeng)
        .await;
    let (status, body) = app
        .post(
            "/roku/sessions",
            None,
            json!({"email": "ann@example.com", "password": "s3cret-pass"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["customer"],
        json!({"id": "987654321", "email": "ann@example.com"})
    );
    assert_eq!(body["expiresIn"], 900);
    // The token works on a protected endpoint.
    let token = body["accessToken"].as_str().unwrap();
    let (status, _) = app.get("/roku/entitlements", token).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn wrong_password_is_401_and_existing_customer_is_409() {
    let app = TestApp::cleeng("").await;
    Mock::given(method("POST"))
        .and(path("/auths"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"code": "USER0001", "message": "Wrong email or password"})),
        )
        .mount(&app.cleeng)
        .await;
    Mock::given(method("POST"))
        .and(path("/customers"))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({"responseData": null, "errors": [], "code": "USER0002", "message": "Customer already exists"})))
        .mount(&app.cleeng)
        .await;
    let (status, body) = app
        .post(
            "/roku/sessions",
            None,
            json!({"email": "ann@example.com", "password": "nope"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "invalid_credentials");
    let (status, body) = app
        .post(
            "/roku/sessions",
            None,
            json!({"email": "ann@example.com", "password": "pw", "register": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "customer_exists");
}

#[tokio::test]
async fn registration_sends_cleeng_the_fields_it_requires() {
    let app = TestApp::cleeng("").await;
    Mock::given(method("POST"))
        .and(path("/customers"))
        .and(body_partial_json(json!({
            "email": "bo@example.com", "password": "pw-123456", "publisherId": PUBLISHER_ID,
            "locale": "en_US", "country": "US", "currency": "USD", "firstName": "Bo"
        })))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"responseData": {"customerId": "42"}})),
        )
        .expect(1)
        .mount(&app.cleeng)
        .await;
    let (status, body) = app
        .post(
            "/roku/sessions",
            None,
            json!({"email": "bo@example.com", "password": "pw-123456", "register": true, "firstName": "Bo"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["customer"]["id"], "42");
}

#[tokio::test]
async fn refresh_rotates_and_the_old_refresh_token_stops_working() {
    let app = TestApp::simulator("").await;
    let (_, first) = app
        .post(
            "/roku/sessions",
            None,
            json!({"email": "cy@example.com", "password": "pw-abcdef", "register": true}),
        )
        .await;
    let old = first["refreshToken"].as_str().unwrap();
    let (status, second) = app
        .post("/roku/sessions", None, json!({"refreshToken": old}))
        .await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["customer"], first["customer"]);
    assert_ne!(second["refreshToken"], first["refreshToken"]);
    let (status, body) = app
        .post("/roku/sessions", None, json!({"refreshToken": old}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "invalid_token");
    // The new one still works, once.
    let (status, _) = app
        .post(
            "/roku/sessions",
            None,
            json!({"refreshToken": second["refreshToken"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn revoke_signs_out_every_device_of_the_customer() {
    let app = TestApp::simulator("").await;
    let (_, tv) = app
        .post(
            "/roku/sessions",
            None,
            json!({"email": "dee@example.com", "password": "pw-abcdef", "register": true}),
        )
        .await;
    let (_, stick) = app
        .post(
            "/roku/sessions",
            None,
            json!({"email": "dee@example.com", "password": "pw-abcdef"}),
        )
        .await;
    let (status, body) = app
        .post(
            "/roku/sessions/revoke",
            tv["accessToken"].as_str(),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["revoked"], 2);
    for device in [&tv, &stick] {
        let (status, body) = app
            .post(
                "/roku/sessions",
                None,
                json!({"refreshToken": device["refreshToken"]}),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["error"]["code"], "invalid_token");
    }
    // Revoking needs a session of its own.
    let (status, _) = app.post("/roku/sessions/revoke", None, json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
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
    let (_, session) = app
        .post(
            "/roku/sessions",
            None,
            json!({"email": "eve@example.com", "password": "pw-abcdef", "register": true}),
        )
        .await;
    let customer = session["customer"]["id"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bridge.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nurl = \"{}\"\n[session]\nsigning_key = \"{SIGNING_KEY}\"\n",
            app.store_url
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_roku-bridge"))
        .args(["sessions", "revoke", "--customer", customer, "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("1 refresh tokens revoked"));
    let (status, _) = app
        .post(
            "/roku/sessions",
            None,
            json!({"refreshToken": session["refreshToken"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
