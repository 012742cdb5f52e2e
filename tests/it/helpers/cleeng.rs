//! One builder for every Cleeng route the tests mock: collect the answers, then `mount`.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use serde_json::{Value, json};
use wiremock::{
    Mock, MockServer, Request, Respond, ResponseTemplate,
    matchers::{body_partial_json, header, method, path, path_regex},
};

use super::{PUBLISHER_ID, PUBLISHER_TOKEN};

/// Where Cleeng takes relayed pushes for our publisher.
pub const PUSH_PATH: &str = "/roku/push-notification/123456789";
const ENTITLEMENTS: &str = r"^/3\.1/entitlements/";

/// Mocks to mount on one wiremock Cleeng. `once`, `expect` and `first` shape the mock added
/// last, so a chain reads like the scenario it sets up.
#[must_use = "nothing is mocked until `mount`"]
pub struct CleengMock<'a> {
    server: &'a MockServer,
    mocks: Vec<Mock>,
}

/// A registration or login answer naming `customer_id` (Cleeng sends a string or a number).
fn customer(customer_id: impl Into<Value>) -> ResponseTemplate {
    let customer_id = customer_id.into();
    ResponseTemplate::new(200).set_body_json(json!({
        "responseData": {"customerId": customer_id, "jwt": "cleeng-jwt", "refreshToken": "cleeng-rt"},
        "errors": []
    }))
}

fn cleeng_error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({"code": code, "message": message}))
}

impl<'a> CleengMock<'a> {
    pub fn on(server: &'a MockServer) -> Self {
        Self {
            server,
            mocks: Vec::new(),
        }
    }

    pub async fn mount(self) {
        for mock in self.mocks {
            mock.mount(self.server).await;
        }
    }

    fn with(mut self, mock: Mock) -> Self {
        self.mocks.push(mock);
        self
    }

    fn last(mut self, f: impl FnOnce(Mock) -> Mock) -> Self {
        let mock = self.mocks.pop().expect("a mock to shape");
        self.mocks.push(f(mock));
        self
    }

    /// The last mock answers only while no other mock on its route does: an outage that a
    /// later mount ends. Ending it by `reset` instead leaves a moment with no mock at all, and
    /// a retry landing there gets wiremock's 404, which the bridge rightly takes as final.
    pub fn until_replaced(self) -> Self {
        self.last(|m| m.with_priority(u8::MAX))
    }

    /// The last mock answers once, ahead of the others on its route.
    pub fn once(self) -> Self {
        self.last(|m| m.up_to_n_times(1).with_priority(1))
    }

    /// The last mock must be called exactly `n` times (checked when the server drops).
    pub fn expect(self, n: u64) -> Self {
        self.last(|m| m.expect(n))
    }

    /// MediaStore registration of `email` creates `customer_id`.
    pub fn registers(self, email: &str, customer_id: &str) -> Self {
        self.registers_matching(json!({"email": email}), customer_id)
    }

    /// A registration whose body includes `fields` creates `customer_id`.
    pub fn registers_matching(self, fields: Value, customer_id: &str) -> Self {
        self.with(
            Mock::given(method("POST"))
                .and(path("/customers"))
                .and(body_partial_json(fields))
                .respond_with(customer(customer_id)),
        )
    }

    /// Every registration creates `customer_id`.
    pub fn registers_anyone(self, customer_id: &str) -> Self {
        self.registrations(customer(customer_id))
    }

    /// Registration answers with `answer` (an outage, a refusal).
    pub fn registrations(self, answer: ResponseTemplate) -> Self {
        self.with(
            Mock::given(method("POST"))
                .and(path("/customers"))
                .respond_with(answer),
        )
    }

    /// Registration says the customer exists (USER0002).
    pub fn customer_exists(self) -> Self {
        self.registrations(ResponseTemplate::new(422).set_body_json(json!({
            "responseData": null, "errors": [],
            "code": "USER0002", "message": "Customer already exists"
        })))
    }

    /// Login of `email` with `password` at our publisher signs in `customer_id`.
    pub fn logs_in(self, email: &str, password: &str, customer_id: impl Into<Value>) -> Self {
        self.with(
            Mock::given(method("POST"))
                .and(path("/auths"))
                .and(body_partial_json(
                    json!({"email": email, "password": password, "publisherId": PUBLISHER_ID}),
                ))
                .respond_with(customer(customer_id)),
        )
    }

    /// Every login signs in `customer_id`.
    pub fn logs_in_anyone(self, customer_id: &str) -> Self {
        self.with(
            Mock::given(method("POST"))
                .and(path("/auths"))
                .respond_with(customer(customer_id)),
        )
    }

    /// Every login is refused (USER0001).
    pub fn refuses_logins(self) -> Self {
        self.with(
            Mock::given(method("POST"))
                .and(path("/auths"))
                .respond_with(cleeng_error(401, "USER0001", "Wrong email or password")),
        )
    }

    /// The receipt endpoint takes every receipt that carries the publisher token.
    pub fn accepts_receipts(self) -> Self {
        self.receipts(
            ResponseTemplate::new(200).set_body_json(json!({"responseData": {}, "errors": []})),
        )
    }

    /// The receipt endpoint answers `answer` (delays, outages).
    pub fn receipts(self, answer: ResponseTemplate) -> Self {
        self.with(
            Mock::given(method("POST"))
                .and(path("/roku/payment"))
                .and(header("X-Publisher-Token", PUBLISHER_TOKEN))
                .respond_with(answer),
        )
    }

    /// The receipt endpoint refuses every receipt with Cleeng's error `code`.
    pub fn rejects_receipts(self, code: &str) -> Self {
        self.receipts(cleeng_error(400, code, "Invalid request body"))
    }

    /// Every access check says yes.
    pub fn grants(self) -> Self {
        self.access(json!({"accessGranted": true}))
    }

    /// Every access check says no.
    pub fn denies(self) -> Self {
        self.access(json!({"accessGranted": false}))
    }

    /// Every access check answers `body` with 200.
    pub fn access(self, body: Value) -> Self {
        self.access_answers(ResponseTemplate::new(200).set_body_json(body))
    }

    /// Every access check answers `answer` (delays, outages).
    pub fn access_answers(self, answer: ResponseTemplate) -> Self {
        self.with(
            Mock::given(method("GET"))
                .and(path_regex(ENTITLEMENTS))
                .respond_with(answer),
        )
    }

    /// The access check of one customer and offer answers `body`.
    pub fn access_for(self, customer_id: &str, offer_id: &str, body: Value) -> Self {
        self.with(
            Mock::given(method("GET"))
                .and(path(format!(
                    "/3.1/entitlements/customer_id/{customer_id}/offer_id/{offer_id}"
                )))
                .respond_with(ResponseTemplate::new(200).set_body_json(body)),
        )
    }

    /// Access checks (with the publisher token) say no until the `n`th; `calls` counts them.
    pub fn grants_after(self, n: usize, calls: &Arc<AtomicUsize>) -> Self {
        self.with(
            Mock::given(method("GET"))
                .and(path_regex(
                    r"^/3\.1/entitlements/customer_id/[^/]+/offer_id/[^/]+$",
                ))
                .and(header("X-Publisher-Token", PUBLISHER_TOKEN))
                .respond_with(GrantAfter {
                    calls: calls.clone(),
                    grant_after: n,
                }),
        )
    }

    /// The push relay endpoint takes every push.
    pub fn push_relay(self) -> Self {
        self.push_relay_answers(ResponseTemplate::new(200))
    }

    /// The push relay endpoint answers `answer` (outages, refusals, Retry-After).
    pub fn push_relay_answers(self, answer: ResponseTemplate) -> Self {
        self.with(
            Mock::given(method("POST"))
                .and(path(PUSH_PATH))
                .respond_with(answer),
        )
    }

    /// The push relay endpoint accepts, and keeps the bodies it accepted in `log`: what the
    /// provider took, whatever attempts an outage before it refused.
    pub fn push_relay_into(self, log: &Accepted) -> Self {
        self.with(
            Mock::given(method("POST"))
                .and(path(PUSH_PATH))
                .respond_with(log.clone()),
        )
    }

    /// Every POST on any route answers `status`: the whole provider up or down at once.
    pub fn every_post(self, status: u16) -> Self {
        self.with(Mock::given(method("POST")).respond_with(ResponseTemplate::new(status)))
    }
}

/// Bodies a mock answered 200 to, in the order it answered them.
#[derive(Clone, Default)]
pub struct Accepted(Arc<std::sync::Mutex<Vec<String>>>);

impl Accepted {
    pub fn bodies(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

impl Respond for Accepted {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body = String::from_utf8(request.body.clone()).expect("a UTF-8 body");
        self.0.lock().unwrap().push(body);
        ResponseTemplate::new(200)
    }
}

/// Cleeng's access check: `false` for the first `grant_after - 1` calls, then `true`.
struct GrantAfter {
    calls: Arc<AtomicUsize>,
    grant_after: usize,
}

impl Respond for GrantAfter {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let granted = n >= self.grant_after;
        ResponseTemplate::new(200).set_body_json(json!({
            "responseData": {"accessGranted": granted, "expiresAt": if granted { json!(1893456000) } else { Value::Null }},
            "errors": []
        }))
    }
}

/// The bodies Cleeng received on `path`, as text.
pub async fn bodies_at(server: &MockServer, at: &str) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.url.path() == at)
        .map(|r| String::from_utf8(r.body).unwrap())
        .collect()
}
