//! The operator's console at `/console/` on the admin listener: deliveries (and their
//! redrive), pushes, a support lookup and the live configuration, rendered server-side.
//!
//! It exists only when `admin.console_token` is set; otherwise the admin router has no
//! `/console` route at all and every such path is 404. Handlers parse, call the store, render
//! a view; the views are pure templates. Every response carries a strict CSP (no script at all,
//! styles only from `/console/console.css`), is never cached, and cannot be framed.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Form, Router,
    extract::{FromRequestParts, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    middleware,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use secrecy::SecretString;
use serde::Deserialize;
use tokio::sync::Notify;

use crate::{
    config::Config,
    domain::{ids::canonical_id, time::EpochMs},
    reload::{LiveConfig, ReloadLog},
    roku::isu::email_hash,
    store::{
        Dialect, OutboxStatus, Store,
        console::{Counted, DeliveryFilter},
    },
};

mod auth;
mod chart;
pub mod mask;
mod views;

use auth::Access;

/// The `action` labels of `roku_bridge_console_actions_total`.
pub const ACTIONS: &[&str] = &[
    "sign_in",
    "sign_in_refused",
    "csrf_refused",
    "sign_out",
    "redrive",
    "redrive_target",
    "reveal_email",
];

const PAGE_SIZE: i64 = 50;
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

/// What the console reads from and acts on.
pub struct Deps {
    pub token: SecretString,
    pub store: Store,
    pub provider: &'static str,
    pub config: Arc<Config>,
    pub live: LiveConfig,
    pub reloads: ReloadLog,
    pub draining: Arc<AtomicBool>,
    /// Wakes the outbox worker after a redrive, so the item goes now rather than at the next poll.
    pub wake: Arc<Notify>,
}

#[derive(Clone)]
struct Console(Arc<Inner>);

struct Inner {
    deps: Deps,
    access: Access,
    started: Instant,
}

/// The console's routes, or none at all when no token is configured.
pub fn router(deps: Option<Deps>) -> Router {
    let Some(deps) = deps else {
        return Router::new();
    };
    let console = Console(Arc::new(Inner {
        access: Access::new(deps.token.clone()),
        deps,
        started: Instant::now(),
    }));
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(overview))
        .route("/console/console.css", get(stylesheet))
        .route("/console/sign-in", get(sign_in_form).post(sign_in))
        .route("/console/sign-out", post(sign_out))
        .route("/console/deliveries", get(deliveries))
        .route("/console/deliveries/redrive", post(redrive_one))
        .route("/console/deliveries/redrive-dead", post(redrive_target))
        .route("/console/pushes", get(pushes))
        .route("/console/lookup", get(lookup))
        .route("/console/lookup/reveal", post(reveal))
        .route("/console/config", get(configuration))
        .layer(middleware::map_response(protect))
        .with_state(console)
}

async fn protect(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

fn action(name: &'static str) {
    metrics::counter!("roku_bridge_console_actions_total", "action" => name).increment(1);
}

/// A signed-in operator; anyone else is sent to the sign-in form.
struct Operator {
    session: String,
    csrf: String,
}

impl FromRequestParts<Console> for Operator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, c: &Console) -> Result<Self, Response> {
        match c.0.access.session(&parts.headers) {
            Some(session) => Ok(Operator {
                csrf: c.0.access.csrf_for(&session),
                session,
            }),
            None => Err(Redirect::to("/console/sign-in").into_response()),
        }
    }
}

impl Operator {
    /// A state-changing form must carry this session's CSRF token.
    fn csrf_ok(&self, c: &Console, offered: Option<&str>) -> bool {
        c.0.access.csrf_ok(&self.session, offered)
    }
}

fn csrf_refused() -> Response {
    action("csrf_refused");
    tracing::warn!("console form refused: missing or wrong CSRF token");
    (
        StatusCode::FORBIDDEN,
        "This form has expired or did not come from the console. Reload the page and try again.",
    )
        .into_response()
}

fn unavailable(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "console: store unavailable");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "The store did not answer; try again.",
    )
        .into_response()
}

async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        views::CSS,
    )
}

async fn sign_in_form(State(c): State<Console>) -> Response {
    let login = auth::random_id();
    let csrf = c.0.access.csrf_for(&login);
    (
        [(header::SET_COOKIE, auth::login_cookie(&login))],
        views::sign_in(&csrf, false),
    )
        .into_response()
}

#[derive(Deserialize)]
struct SignIn {
    token: Option<String>,
    csrf: Option<String>,
}

async fn sign_in(
    State(c): State<Console>,
    headers: HeaderMap,
    Form(form): Form<SignIn>,
) -> Response {
    let access = &c.0.access;
    let Some(login) = auth::cookie(&headers, auth::LOGIN_COOKIE) else {
        return csrf_refused();
    };
    if !access.csrf_ok(&login, form.csrf.as_deref()) {
        return csrf_refused();
    }
    if !form
        .token
        .as_deref()
        .is_some_and(|t| access.token_matches(t))
    {
        action("sign_in_refused");
        tracing::warn!("console sign-in refused: wrong token");
        // A fresh login cookie: the refused form's token is not reused.
        let login = auth::random_id();
        let csrf = access.csrf_for(&login);
        return (
            StatusCode::UNAUTHORIZED,
            [(header::SET_COOKIE, auth::login_cookie(&login))],
            views::sign_in(&csrf, true),
        )
            .into_response();
    }
    action("sign_in");
    tracing::info!("console: operator signed in");
    let session = access.open_session();
    let mut response = Redirect::to("/console/").into_response();
    let h = response.headers_mut();
    for cookie in [
        auth::session_cookie(&session),
        auth::expired_cookie(auth::LOGIN_COOKIE),
    ] {
        h.append(
            header::SET_COOKIE,
            HeaderValue::from_str(&cookie).expect("cookie is ASCII"),
        );
    }
    response
}

#[derive(Deserialize)]
struct CsrfOnly {
    csrf: Option<String>,
}

async fn sign_out(State(c): State<Console>, op: Operator, Form(form): Form<CsrfOnly>) -> Response {
    if !op.csrf_ok(&c, form.csrf.as_deref()) {
        return csrf_refused();
    }
    c.0.access.close_session(&op.session);
    action("sign_out");
    (
        [(
            header::SET_COOKIE,
            auth::expired_cookie(auth::SESSION_COOKIE),
        )],
        Redirect::to("/console/sign-in"),
    )
        .into_response()
}

async fn overview(State(c): State<Console>, op: Operator) -> Response {
    let d = &c.0.deps;
    let store = &d.store;
    let now = EpochMs::now().0;
    let hour_ago = now - 3_600_000;
    let store_ok = matches!(
        tokio::time::timeout(Duration::from_secs(2), store.ping()).await,
        Ok(Ok(()))
    );
    let counts = match store.outbox_counts().await {
        Ok(c) => c,
        Err(e) => return unavailable(e),
    };
    let mut outbox: Vec<(String, i64, i64, i64)> = Vec::new();
    for (target, status, n) in counts {
        if outbox.last().is_none_or(|t| t.0 != target) {
            outbox.push((target, 0, 0, 0));
        }
        let row = outbox.last_mut().expect("pushed above");
        match status {
            OutboxStatus::Pending => row.1 = n,
            OutboxStatus::Dead => row.2 = n,
            OutboxStatus::Delivered => row.3 = n,
        }
    }
    let per_minute = |what| async move {
        let counts = store.per_minute(what, hour_ago).await.unwrap_or_default();
        chart::buckets(&counts, now / 60_000)
    };
    let view = views::Overview {
        version: env!("CARGO_PKG_VERSION"),
        uptime: c.0.started.elapsed(),
        store: match store.dialect() {
            Dialect::Sqlite => "SQLite",
            Dialect::Postgres => "PostgreSQL",
        },
        provider: d.provider,
        store_ok,
        draining: d.draining.load(Ordering::Relaxed),
        unsettled_receipts: store.unsettled_receipts().await.ok(),
        outbox,
        oldest_pending: store
            .oldest_pending_age_ms()
            .await
            .ok()
            .flatten()
            .map(|ms| Duration::from_millis(ms as u64)),
        pushes_per_minute: per_minute(Counted::Pushes).await,
        receipts_per_minute: per_minute(Counted::Receipts).await,
    };
    views::overview(&op.csrf, &view).into_response()
}

#[derive(Deserialize)]
struct DeliveryQuery {
    target: Option<String>,
    status: Option<String>,
    before: Option<i64>,
    redriven: Option<u64>,
}

async fn deliveries(
    State(c): State<Console>,
    op: Operator,
    Query(q): Query<DeliveryQuery>,
) -> Response {
    let store = &c.0.deps.store;
    let target = q.target.filter(|t| !t.is_empty());
    let status = q
        .status
        .filter(|s| !s.is_empty())
        .and_then(|s| s.parse::<OutboxStatus>().ok());
    let filter = DeliveryFilter {
        target: target.clone(),
        status,
        before_id: q.before,
        limit: PAGE_SIZE + 1,
    };
    let (mut rows, targets) = match (
        store.console_deliveries(&filter).await,
        store.outbox_targets().await,
    ) {
        (Ok(rows), Ok(targets)) => (rows, targets),
        (Err(e), _) | (_, Err(e)) => return unavailable(e),
    };
    let older = if rows.len() as i64 > PAGE_SIZE {
        rows.truncate(PAGE_SIZE as usize);
        rows.last().map(|r| r.id)
    } else {
        None
    };
    let view = views::Deliveries {
        rows,
        targets,
        target,
        status,
        older,
        redriven: q.redriven,
        now_ms: EpochMs::now().0,
    };
    views::deliveries(&op.csrf, &view).into_response()
}

#[derive(Deserialize)]
struct RedriveOne {
    csrf: Option<String>,
    id: i64,
}

async fn redrive_one(
    State(c): State<Console>,
    op: Operator,
    Form(form): Form<RedriveOne>,
) -> Response {
    if !op.csrf_ok(&c, form.csrf.as_deref()) {
        return csrf_refused();
    }
    let d = &c.0.deps;
    match d.store.redrive(Some(form.id)).await {
        Ok(n) => {
            action("redrive");
            tracing::info!(id = form.id, redriven = n, "console: delivery redriven");
            d.wake.notify_one();
            Redirect::to(&format!("/console/deliveries?redriven={n}")).into_response()
        }
        Err(e) => unavailable(e),
    }
}

#[derive(Deserialize)]
struct RedriveTarget {
    csrf: Option<String>,
    target: String,
}

async fn redrive_target(
    State(c): State<Console>,
    op: Operator,
    Form(form): Form<RedriveTarget>,
) -> Response {
    if !op.csrf_ok(&c, form.csrf.as_deref()) {
        return csrf_refused();
    }
    let d = &c.0.deps;
    match d.store.redrive_target(&form.target).await {
        Ok(n) => {
            action("redrive_target");
            tracing::info!(
                target = form.target,
                redriven = n,
                "console: dead deliveries of a target redriven"
            );
            d.wake.notify_one();
            let target = percent_encoding::utf8_percent_encode(
                &form.target,
                percent_encoding::NON_ALPHANUMERIC,
            );
            Redirect::to(&format!("/console/deliveries?target={target}&redriven={n}"))
                .into_response()
        }
        Err(e) => unavailable(e),
    }
}

#[derive(Deserialize)]
struct PushQuery {
    #[serde(rename = "type")]
    kind: Option<String>,
}

async fn pushes(State(c): State<Console>, op: Operator, Query(q): Query<PushQuery>) -> Response {
    let store = &c.0.deps.store;
    let kind = q.kind.filter(|k| !k.trim().is_empty());
    let rows = match store.recent_pushes(kind.as_deref(), PAGE_SIZE).await {
        Ok(rows) => rows,
        Err(e) => return unavailable(e),
    };
    let mut views = Vec::with_capacity(rows.len());
    for push in rows {
        let deliveries = match store.deliveries_keyed(&push.message_key).await {
            Ok(d) => d,
            Err(e) => return unavailable(e),
        };
        let event = push.event_json.as_deref().map(|raw| {
            match serde_json::from_str::<serde_json::Value>(raw) {
                Ok(v) => {
                    serde_json::to_string_pretty(&mask::mask_emails_in(&v)).unwrap_or_default()
                }
                Err(_) => "(not JSON)".to_string(),
            }
        });
        views.push(views::PushView {
            push,
            event,
            deliveries,
        });
    }
    views::pushes(&op.csrf, kind.as_deref(), &views).into_response()
}

#[derive(Deserialize)]
struct LookupQuery {
    q: Option<String>,
}

async fn lookup(State(c): State<Console>, op: Operator, Query(q): Query<LookupQuery>) -> Response {
    let q = q.q.unwrap_or_default();
    let q = q.trim();
    if q.is_empty() {
        return views::lookup(&op.csrf, &views::Lookup::empty()).into_response();
    }
    match gather(&c.0.deps.store, q, None).await {
        Ok(view) => views::lookup(&op.csrf, &view).into_response(),
        Err(e) => unavailable(e),
    }
}

#[derive(Deserialize)]
struct Reveal {
    csrf: Option<String>,
    rcid: String,
}

async fn reveal(State(c): State<Console>, op: Operator, Form(form): Form<Reveal>) -> Response {
    if !op.csrf_ok(&c, form.csrf.as_deref()) {
        return csrf_refused();
    }
    action("reveal_email");
    // Revealing personal data is an operator action worth an audit line; the email itself
    // stays out of the log.
    tracing::warn!(
        roku_customer_id = form.rcid,
        "console: operator revealed a customer's email"
    );
    match gather(&c.0.deps.store, &form.rcid, Some(&form.rcid)).await {
        Ok(view) => views::lookup(&op.csrf, &view).into_response(),
        Err(e) => unavailable(e),
    }
}

/// Everything support asks about one purchase or customer. An email is looked up by its
/// hash and by the account links that hold it, and never echoed back.
async fn gather(
    store: &Store,
    q: &str,
    reveal: Option<&str>,
) -> Result<views::Lookup, crate::store::StoreError> {
    let mut rcids: Vec<String> = Vec::new();
    let mut customers: Vec<String> = Vec::new();
    let mut hash_known = None;
    let (asked, echo, purchase_key) = if q.contains('@') {
        let hash = email_hash(q);
        let known = store.email_hash(&hash).await?;
        hash_known = Some(known.is_some());
        if let Some(h) = known {
            rcids.extend(h.roku_customer_id);
            customers.extend(h.customer_id);
        }
        if let Some(a) = store.account_by_email(q).await? {
            rcids.push(a.roku_customer_id);
            customers.push(a.customer_id);
        }
        (
            format!("an email (hash {}…)", &hash[..12]),
            String::new(),
            None,
        )
    } else {
        rcids.push(q.to_string());
        customers.push(q.to_string());
        (format!("“{q}”"), q.to_string(), Some(canonical_id(q)))
    };
    let mut receipts = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let keys = rcids.len().max(customers.len()).max(1);
    for i in 0..keys {
        let found = store
            .lookup_receipts(
                purchase_key.as_deref().filter(|_| i == 0),
                rcids.get(i).map(String::as_str),
                customers.get(i).map(String::as_str),
            )
            .await?;
        for r in found {
            if seen.insert(r.purchase_id.clone()) {
                receipts.push(r);
            }
        }
    }
    for r in &receipts {
        if let Some(rcid) = &r.roku_customer_id
            && !rcids.contains(rcid)
        {
            rcids.push(rcid.clone());
        }
    }
    let mut with_forwards = Vec::with_capacity(receipts.len());
    for r in receipts {
        let forwards = store.deliveries_keyed(&r.purchase_id).await?;
        with_forwards.push((r, forwards));
    }
    let mut accounts = Vec::new();
    let mut subscriptions = Vec::new();
    rcids.dedup();
    for rcid in &rcids {
        if let Some(a) = store.account(rcid).await? {
            let revealed = reveal == Some(a.roku_customer_id.as_str());
            accounts.push(views::AccountView {
                email: a.email.as_deref().map(|e| {
                    if revealed {
                        e.to_string()
                    } else {
                        mask::mask_email(e)
                    }
                }),
                revealed,
                roku_customer_id: a.roku_customer_id,
                customer_id: a.customer_id,
            });
        }
        subscriptions.extend(store.subscriptions_of(rcid).await?);
    }
    Ok(views::Lookup {
        asked: Some(asked),
        echo,
        receipts: with_forwards,
        accounts,
        subscriptions,
        hash_known,
    })
}

async fn configuration(State(c): State<Console>, op: Operator) -> Response {
    let d = &c.0.deps;
    let live = d.live.load();
    let source = d.config.source.clone();
    let check = match &source {
        Some(path) => {
            let path = path.clone();
            match tokio::task::spawn_blocking(move || Config::load_validated(&path)).await {
                Ok(Ok((config, map))) => Ok(format!(
                    "ok: provider {:?}, {} mapped products, rule {}",
                    config.provider.kind,
                    map.len(),
                    map.rule()
                )),
                Ok(Err(e)) => Err(e.to_string()),
                Err(e) => Err(format!("check did not finish: {e}")),
            }
        }
        None => Ok(
            "ok: the running configuration passed validation at start (it was not read from a file, so there is nothing to re-read)"
                .to_string(),
        ),
    };
    let last_reload = d.reloads.lock().ok().and_then(|r| r.clone());
    let view = views::Configuration {
        mapping: &live.mapping,
        catalog: &live.catalog,
        last_reload,
        source: source.map(|p| p.display().to_string()),
        check,
    };
    views::configuration(&op.csrf, &view).into_response()
}
