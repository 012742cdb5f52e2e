//! `roku-bridge demo`: the purchase path a channel takes, against a running bridge, printed as
//! short HTTP exchanges. It checks each answer, so it doubles as a smoke test of a deployment.

use std::{process::ExitCode, time::Duration};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The product the demo buys: Cleeng's documentation example, mapped by the default rule.
const DEMO_CODE: &str = "S598742062-US";

pub async fn run(base: &str) -> ExitCode {
    match walk(base.trim_end_matches('/')).await {
        Ok(()) => {
            println!("\ndemo complete: the purchase was confirmed and the entitlement granted.");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("\ndemo failed: {e}");
            ExitCode::FAILURE
        }
    }
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(StatusCode, Value), String> {
        println!("\n→ {method} {path}");
        if let Some(b) = &body {
            println!("  {}", redact(b));
        }
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| format!("cannot reach the bridge at {}: {e}", self.base))?;
        let status = resp.status();
        let value: Value = resp.json().await.unwrap_or(Value::Null);
        println!("← {status}\n  {}", redact(&value));
        Ok((status, value))
    }
}

async fn walk(base: &str) -> Result<(), String> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| e.to_string())?;
    let mut client = Client {
        http,
        base: base.to_string(),
        token: None,
    };
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let email = format!("demo-{}@example.com", &nonce[..8]);

    println!("1. A customer signs up on the channel (the bridge registers them at the provider).");
    let (status, body) = client
        .call(
            Method::POST,
            "/roku/sessions",
            Some(json!({"email": email, "password": format!("pw-{nonce}"), "register": true})),
        )
        .await?;
    expect(status, StatusCode::OK)?;
    client.token = Some(
        body["accessToken"]
            .as_str()
            .ok_or("no accessToken in the session answer")?
            .to_string(),
    );

    println!(
        "\n2. DoOrder succeeded on the device; the channel posts the receipt (wait=0: answer at once)."
    );
    let purchase_id = nonce.clone();
    let order = json!({"order": {"purchaseId": purchase_id, "code": DEMO_CODE, "amount": 4.99, "total": 5.39, "qty": 1}});
    let (status, _) = client
        .call(Method::POST, "/roku/payment?wait=0", Some(order))
        .await?;
    expect(status, StatusCode::ACCEPTED)?;

    println!("\n3. Meanwhile the entitlement is not granted yet.");
    let path = format!("/roku/entitlements/{DEMO_CODE}");
    let (status, body) = client.call(Method::GET, &path, None).await?;
    expect(status, StatusCode::OK)?;
    if body["accessGranted"] != json!(false) {
        return Err("the entitlement was granted before the payment was confirmed".into());
    }

    println!("\n4. The channel long-polls the receipt until the provider confirms it.");
    let (status, body) = client
        .call(
            Method::GET,
            &format!("/roku/payment/{purchase_id}?wait=30"),
            None,
        )
        .await?;
    expect(status, StatusCode::OK)?;
    if body["status"] != "granted" {
        return Err(format!("expected status granted, got {}", body["status"]));
    }

    println!("\n5. The entitlement check now says yes (from the cache, no provider call).");
    let (status, body) = client.call(Method::GET, &path, None).await?;
    expect(status, StatusCode::OK)?;
    if body["accessGranted"] != json!(true) {
        return Err("the entitlement is still not granted after confirmation".into());
    }
    Ok(())
}

fn expect(got: StatusCode, want: StatusCode) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("expected HTTP {want}, got {got}"))
    }
}

/// Tokens and passwords are secrets even in a demo's output.
fn redact(value: &Value) -> String {
    let mut v = value.clone();
    if let Some(obj) = v.as_object_mut() {
        for key in ["accessToken", "refreshToken", "password"] {
            if let Some(field) = obj.get_mut(key) {
                *field = json!("…redacted…");
            }
        }
    }
    v.to_string()
}
