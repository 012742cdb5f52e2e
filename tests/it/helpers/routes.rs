//! Route-named calls on a running bridge and the typed answers they return. Each typed answer
//! keeps the raw JSON too, for assertions on exact bodies; error paths use `call`/`post`/`get`.

use reqwest::{Method, StatusCode, header::HeaderMap};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{TestApp, cleeng::CleengMock};

/// The password every helper-made customer has.
pub const PASSWORD: &str = "correct horse battery";

/// Any answer: status and the body as JSON (a string when it is not JSON).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

impl Reply {
    /// The error code of an error body, `""` otherwise.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    /// The session this answer carries; panics with the body unless it is a 200.
    pub fn session(self) -> Session {
        assert_eq!(self.status, StatusCode::OK, "{}", self.body);
        let mut session: Session = serde_json::from_value(self.body.clone())
            .unwrap_or_else(|e| panic!("a session: {e}: {}", self.body));
        session.raw = self.body;
        session
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Customer {
    pub id: String,
    pub email: Option<String>,
}

/// A `POST /roku/sessions` answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
    pub customer: Customer,
    #[serde(skip)]
    pub raw: Value,
}

/// A `POST /roku/payment` or `GET /roku/payment/{id}` answer.
#[derive(Debug, Clone)]
pub struct ReceiptAnswer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl ReceiptAnswer {
    /// The receipt's state (`granted`, `pending`, `queued`…), `""` on an error body.
    pub fn state(&self) -> &str {
        self.body["status"].as_str().unwrap_or_default()
    }

    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }
}

/// What the bridge answered Roku's push with: the ack is plain text.
#[derive(Debug, Clone)]
pub struct PushAck {
    pub status: StatusCode,
    pub content_type: String,
    pub body: String,
}

/// One product's access.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entitlement {
    pub code: String,
    pub offer_id: Option<String>,
    pub access_granted: bool,
    pub expires_at: Option<String>,
    pub stale: Option<bool>,
    /// The whole answer (`Null` inside an [`Entitlements`] list).
    #[serde(skip)]
    pub raw: Value,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Entitlements {
    pub entitlements: Vec<Entitlement>,
}

impl Entitlements {
    /// The codes of the products granted, in the answer's order.
    pub fn granted(&self) -> Vec<&str> {
        self.entitlements
            .iter()
            .filter(|e| e.access_granted)
            .map(|e| e.code.as_str())
            .collect()
    }
}

fn register_body(email: &str) -> Value {
    json!({"email": email, "password": PASSWORD, "register": true})
}

impl TestApp {
    /// `POST /roku/sessions` with any body.
    pub async fn sessions(&self, body: Value) -> Reply {
        let (status, _, body) = self
            .call(Method::POST, "/roku/sessions", None, Some(body))
            .await;
        Reply { status, body }
    }

    /// Signs `email` up with [`PASSWORD`]. With a `customer_id`, Cleeng is first told to
    /// create that customer for this email.
    pub async fn register(&self, email: &str, customer_id: Option<&str>) -> Session {
        if let Some(id) = customer_id {
            CleengMock::on(&self.cleeng)
                .registers(email, id)
                .mount()
                .await;
        }
        self.sessions(register_body(email)).await.session()
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> Session {
        self.sessions(json!({"email": email, "password": password}))
            .await
            .session()
    }

    /// Exchanges a refresh token; see [`Reply::session`] for the success case.
    pub async fn refresh(&self, refresh_token: &str) -> Reply {
        self.sessions(json!({"refreshToken": refresh_token})).await
    }

    /// Signs in by a Roku purchase, optionally creating the account for `email`.
    pub async fn purchase_session(&self, purchase_id: &str, email: Option<&str>) -> Reply {
        let mut body = json!({"purchaseId": purchase_id});
        if let Some(email) = email {
            body["email"] = json!(email);
        }
        self.sessions(body).await
    }

    /// `POST /roku/sessions/revoke` with this session's access token.
    pub async fn revoke(&self, access_token: Option<&str>) -> Reply {
        let (status, _, body) = self
            .call(
                Method::POST,
                "/roku/sessions/revoke",
                access_token,
                Some(json!({})),
            )
            .await;
        Reply { status, body }
    }

    /// `POST /roku/payment` (`path` may carry `?wait=`).
    pub async fn post_receipt_at(&self, at: &str, token: &str, body: Value) -> ReceiptAnswer {
        let (status, headers, body) = self.call(Method::POST, at, Some(token), Some(body)).await;
        ReceiptAnswer {
            status,
            headers,
            body,
        }
    }

    pub async fn post_receipt(&self, token: &str, body: Value) -> ReceiptAnswer {
        self.post_receipt_at("/roku/payment", token, body).await
    }

    /// The admin listener's `/metrics` scrape, as Prometheus would read it.
    pub async fn metrics(&self) -> String {
        let resp = self
            .http
            .get(self.admin_url("/metrics"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        resp.text().await.unwrap()
    }

    /// `GET /roku/payment/{purchase_id}`, waiting up to `wait` seconds when given.
    pub async fn receipt_status(
        &self,
        token: &str,
        purchase_id: &str,
        wait: Option<u32>,
    ) -> ReceiptAnswer {
        let at = match wait {
            Some(w) => format!("/roku/payment/{purchase_id}?wait={w}"),
            None => format!("/roku/payment/{purchase_id}"),
        };
        let (status, headers, body) = self.call(Method::GET, &at, Some(token), None).await;
        ReceiptAnswer {
            status,
            headers,
            body,
        }
    }

    /// Delivers a push as Roku does: the compact JWS as the body.
    pub async fn push(&self, jws: &str) -> PushAck {
        let resp = self
            .http
            .post(self.url("/roku/notifications"))
            .header("content-type", "text/plain")
            .body(jws.to_string())
            .send()
            .await
            .expect("bridge reachable");
        let status = resp.status();
        let content_type = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        PushAck {
            status,
            content_type,
            body: resp.text().await.unwrap(),
        }
    }

    /// `GET /roku/entitlements/{code}`; panics with the body unless it is a 200.
    pub async fn entitlement(&self, token: &str, code: &str) -> Entitlement {
        let (status, body) = self.get(&format!("/roku/entitlements/{code}"), token).await;
        assert_eq!(status, StatusCode::OK, "{code}: {body}");
        let mut answer: Entitlement = serde_json::from_value(body.clone())
            .unwrap_or_else(|e| panic!("an entitlement: {e}: {body}"));
        answer.raw = body;
        answer
    }

    /// `GET /roku/entitlements`; panics with the body unless it is a 200.
    pub async fn entitlements(&self, token: &str) -> Entitlements {
        let (status, body) = self.get("/roku/entitlements", token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        serde_json::from_value(body.clone()).unwrap_or_else(|e| panic!("entitlements: {e}: {body}"))
    }
}

/// The sum of every sample of `name` whose labels include all of `labels` (`None` if there is
/// none), from a `/metrics` scrape.
pub fn metric_sum(metrics: &str, name: &str, labels: &[&str]) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|x| l.contains(x)))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .reduce(|a, b| a + b)
}
