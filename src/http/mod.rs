//! The device-facing HTTP API: routes, shared state, and the tower layer stack in one place.

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    error_handling::HandleErrorLayer,
    extract::{DefaultBodyLimit, MatchedPath, Request, State},
    handler::Handler,
    http::{HeaderName, StatusCode, header},
    middleware,
    response::IntoResponse,
    routing::{MethodFilter, MethodRouter, on},
};
use tower::{BoxError, ServiceBuilder};
use tower_http::{
    catch_panic::CatchPanicLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    sensitive_headers::SetSensitiveRequestHeadersLayer,
    trace::{DefaultOnResponse, TraceLayer},
};
use tracing::Level;

use crate::{
    config::Config,
    services::{
        entitlements::Entitlements, holdings::Holdings, payments::Payments, pushes::Pushes,
        sessions::SignIn, signup::Signup,
    },
    session::Sessions,
};

pub mod catalog;
pub mod entitlements;
pub mod error;
pub mod extract;
pub mod isu;
pub mod limits;
pub mod notifications;
pub mod openapi;
pub mod payment;
pub mod sessions;

use error::ApiError;

/// Everything a handler may touch: the services, and the configuration it renders from. No
/// store, no provider: a handler that needs them needs a service. axum clones the state for
/// every request that extracts it, so it is one `Arc`: one atomic increment per request.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub config: Arc<Config>,
    /// Mapping, catalog, Instant Signup content and limits: replaced whole on reload. A
    /// handler loads it once, so a request finishes on the set it started with.
    pub live: crate::reload::LiveConfig,
    /// Verifies the access tokens devices send.
    pub sessions: Arc<Sessions>,
    pub sign_in: Arc<SignIn>,
    pub payments: Arc<Payments>,
    pub pushes: Arc<Pushes>,
    pub signup: Arc<Signup>,
    pub holdings: Arc<Holdings>,
    pub entitlements: Arc<Entitlements>,
    /// The process-wide bound on requests in flight (see [`admit`]).
    pub admission: Arc<crate::limits::Admission>,
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// One routed operation: method, path, handler. The router is built from these tables and the
/// OpenAPI test compares them with the spec, so neither can drift from the other.
type Op = (&'static str, String, MethodRouter<AppState>);

fn op<H, T>(method: &'static str, path: impl Into<String>, handler: H) -> Op
where
    H: Handler<T, AppState>,
    T: 'static,
{
    let filter = match method {
        "get" => MethodFilter::GET,
        "post" => MethodFilter::POST,
        other => unreachable!("no {other} routes"),
    };
    (method, path.into(), on(filter, handler))
}

/// Receipts: they hold the request open for the confirmation.
fn payment_ops() -> Vec<Op> {
    vec![
        op("post", "/roku/payment", payment::post),
        op("get", "/roku/payment/{purchase_id}", payment::status),
    ]
}

/// The rest of the device API.
fn device_ops() -> Vec<Op> {
    vec![
        op("post", "/roku/sessions", sessions::create),
        op("post", "/roku/sessions/revoke", sessions::revoke),
        op("get", "/roku/entitlements", entitlements::all),
        op("get", "/roku/entitlements/{code}", entitlements::one),
        op("get", "/roku/catalog", catalog::get_catalog),
        op("post", "/roku/catalog/query", catalog::query),
        op("get", "/roku/purchases", catalog::purchases),
        op(
            "get",
            "/roku/catalog/upgrade-preview",
            catalog::upgrade_preview,
        ),
        op("post", "/roku/orders/check", catalog::check_order),
        op(
            "get",
            "/openapi.json",
            |State(state): State<AppState>| async move { axum::Json(openapi::spec(&state.config)) },
        ),
    ]
}

/// What Roku calls. The Instant Signup pair exists only when configured: Roku is given the two
/// URLs once, with the app name.
fn roku_ops(config: &Config) -> Vec<Op> {
    let mut ops = vec![op("post", PUSH_ROUTE, notifications::receive)];
    ops.extend(isu_ops(config));
    ops
}

fn isu_ops(config: &Config) -> Vec<Op> {
    if config.isu.app_name.is_empty() {
        return Vec::new();
    }
    vec![
        op("get", config.isu.images_path.clone(), isu::images),
        op("get", config.isu.products_path.clone(), isu::products),
    ]
}

/// Every routed (method, path), for the OpenAPI agreement test.
pub fn operations(config: &Config) -> Vec<(&'static str, String)> {
    [payment_ops(), device_ops(), roku_ops(config)]
        .into_iter()
        .flatten()
        .map(|(method, path, _)| (method, path))
        .collect()
}

fn routes(ops: Vec<Op>) -> Router<AppState> {
    ops.into_iter()
        .fold(Router::new(), |router, (_, path, method_router)| {
            router.route(&path, method_router)
        })
}

pub fn router(state: AppState) -> Router {
    let server = &state.config.server;
    // Payment routes hold the request open for the confirmation; everything else gets the
    // short budget.
    let payment_budget = state.config.payment.confirm_timeout + server.request_timeout;
    let payment_routes = routes(payment_ops()).layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(handle_timeout))
            .timeout(payment_budget),
    );
    let device_routes = routes(device_ops()).layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(handle_timeout))
            .timeout(server.request_timeout),
    );
    // What Roku calls has its own budgets and never shares the devices' per-IP one; the push
    // URL applies them around its signature check, the Instant Signup pair here.
    let push_routes = routes(vec![op("post", PUSH_ROUTE, notifications::receive)]).layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(handle_timeout))
            .timeout(server.request_timeout),
    );
    let roku_routes = routes(isu_ops(&state.config)).layer(
        ServiceBuilder::new()
            .layer(middleware::from_fn_with_state(
                state.live.clone(),
                limits::roku,
            ))
            .layer(HandleErrorLayer::new(handle_timeout))
            .timeout(server.request_timeout),
    );
    // The per-IP budget runs before any token is verified: the cheapest refusal comes first.
    let device_routes = Router::new()
        .merge(payment_routes)
        .merge(device_routes)
        .layer(middleware::from_fn_with_state(
            state.live.clone(),
            limits::per_ip,
        ));
    let router = Router::new()
        .merge(device_routes)
        .merge(push_routes)
        .merge(roku_routes);
    router
        .fallback(|| async { ApiError::not_found("not_found", "There is no such endpoint.") })
        .layer(
            ServiceBuilder::new()
                // The id exists before anything else runs, so the span and every error carry it.
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                // Marked before the trace layer sees the headers, so no log line can show a token.
                .layer(SetSensitiveRequestHeadersLayer::new([
                    header::AUTHORIZATION,
                    HeaderName::from_static(isu::EMAIL_HASH_HEADER),
                ]))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(make_span)
                        .on_response(DefaultOnResponse::new().level(Level::INFO)),
                )
                // Outside everything that can answer (errors, sheds, limits), so every answer
                // is counted with its final status.
                .layer(middleware::from_fn(record_metrics))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                // Inside the id layers, so the error body can name the request id; outside every
                // layer that produces errors, so none escapes without the body.
                .layer(middleware::from_fn(error::render_errors))
                // Both framings at once is how request smuggling starts, and no client of ours
                // sends 16 KiB of headers: refuse either, and close the connection so nothing
                // pipelined behind it is read as a request.
                .layer(middleware::from_fn(refuse_ambiguous_framing))
                .layer(CatchPanicLayer::custom(|_| {
                    ApiError::internal().into_response()
                }))
                // Shed load before it queues: past max_concurrency a request gets 503 at once.
                // One pool for the process (the state is shared, unlike a tower layer, which
                // `Router::layer` would copy into every route).
                .layer(middleware::from_fn_with_state(state.clone(), admit))
                .layer(DefaultBodyLimit::max(server.body_limit)),
        )
        .with_state(state)
}

/// The push URL: its slot is taken after the signature verified (see `notifications`), so
/// forgeries never hold one and verified pushes may use the reserved share.
const PUSH_ROUTE: &str = "/roku/notifications";

/// Reads the whole body within `server.body_read_timeout` *before* taking a slot, so a slow
/// upload holds only its connection (capped per source), then takes a slot from the one
/// process-wide pool or sheds the request with 503.
async fn admit(
    State(state): State<AppState>,
    request: Request,
    next: middleware::Next,
) -> axum::response::Response {
    let server = &state.config.server;
    let (parts, body) = request.into_parts();
    let read = axum::body::to_bytes(body, server.body_limit);
    let bytes = match tokio::time::timeout(server.body_read_timeout, read).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            return closing(if too_large {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "The request body is too large.",
                )
            } else {
                ApiError::bad_request("invalid_request", "The request body could not be read.")
            });
        }
        Err(_) => {
            metrics::counter!("roku_bridge_slow_bodies_total").increment(1);
            return closing(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "The request body did not arrive in time.",
            ));
        }
    };
    let request = Request::from_parts(parts, axum::body::Body::from(bytes));
    let is_push = request
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|p| p.as_str() == PUSH_ROUTE);
    if is_push {
        return next.run(request).await;
    }
    let Some(_permit) = state.admission.admit() else {
        return overloaded().into_response();
    };
    next.run(request).await
}

/// An error after which nothing more is read from the connection.
fn closing(error: ApiError) -> axum::response::Response {
    let mut response = error.into_response();
    response.headers_mut().insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    response
}

pub(crate) fn overloaded() -> ApiError {
    ApiError::unavailable(
        "overloaded",
        "The bridge is at capacity; try again shortly.",
        Duration::from_secs(1),
    )
}

/// Largest total of header names and values accepted (hyper's own limit is far higher).
const MAX_HEADER_BYTES: usize = 16 * 1024;

async fn refuse_ambiguous_framing(
    request: Request,
    next: middleware::Next,
) -> axum::response::Response {
    let headers = request.headers();
    let header_bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    let refusal = if headers.contains_key(header::CONTENT_LENGTH)
        && headers.contains_key(header::TRANSFER_ENCODING)
    {
        Some(ApiError::bad_request(
            "invalid_request",
            "Content-Length and Transfer-Encoding together are refused.",
        ))
    } else if header_bytes > MAX_HEADER_BYTES {
        Some(ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            "The request headers exceed 16 KiB.",
        ))
    } else {
        None
    };
    match refusal {
        Some(error) => {
            let mut response = error.into_response();
            response.headers_mut().insert(
                header::CONNECTION,
                header::HeaderValue::from_static("close"),
            );
            response
        }
        None => next.run(request).await,
    }
}

/// Requests by route, method and status, and their latency. The route is the pattern, never
/// the path: a path holds purchase ids, and unmatched paths would grow the series without bound.
async fn record_metrics(request: Request, next: middleware::Next) -> axum::response::Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
        .unwrap_or("unmatched");
    let key = (route_label(route), method_label(request.method()));
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let (requests, latency) = request_metrics(key.0, key.1, response.status());
    requests.increment(1);
    latency.record(started.elapsed().as_secs_f64());
    response
}

type RequestMetrics = (metrics::Counter, metrics::Histogram);
type MetricsByRequest =
    std::sync::RwLock<std::collections::HashMap<(&'static str, &'static str, u16), RequestMetrics>>;

/// The handles of one (route, method, status), registered once: building a metrics key per
/// request (allocating and hashing its labels) cost more than the lookup of a cached entitlement.
fn request_metrics(
    route: &'static str,
    method: &'static str,
    status: StatusCode,
) -> RequestMetrics {
    static HANDLES: std::sync::LazyLock<MetricsByRequest> =
        std::sync::LazyLock::new(Default::default);
    let key = (route, method, status.as_u16());
    if let Some(handles) = HANDLES.read().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return handles.clone();
    }
    let labels = [
        ("route", route.to_string()),
        ("method", method.to_string()),
        ("status", status.as_u16().to_string()),
    ];
    let handles = (
        metrics::counter!("roku_bridge_http_requests_total", &labels),
        metrics::histogram!("roku_bridge_http_request_duration_seconds", &labels),
    );
    HANDLES
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, handles.clone());
    handles
}

/// Route patterns are few and fixed: each is interned once for the metric keys.
fn route_label(route: &str) -> &'static str {
    static ROUTES: std::sync::LazyLock<std::sync::RwLock<std::collections::HashSet<&'static str>>> =
        std::sync::LazyLock::new(Default::default);
    if let Some(known) = ROUTES.read().unwrap_or_else(|p| p.into_inner()).get(route) {
        return known;
    }
    let mut routes = ROUTES.write().unwrap_or_else(|p| p.into_inner());
    match routes.get(route) {
        Some(known) => known,
        None => {
            let interned: &'static str = Box::leak(route.to_string().into_boxed_str());
            routes.insert(interned);
            interned
        }
    }
}

fn method_label(method: &axum::http::Method) -> &'static str {
    match *method {
        axum::http::Method::GET => "GET",
        axum::http::Method::POST => "POST",
        axum::http::Method::HEAD => "HEAD",
        axum::http::Method::PUT => "PUT",
        axum::http::Method::DELETE => "DELETE",
        axum::http::Method::OPTIONS => "OPTIONS",
        axum::http::Method::PATCH => "PATCH",
        _ => "OTHER",
    }
}

fn make_span(request: &Request) -> tracing::Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
        .unwrap_or("unmatched");
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!(
        "request",
        method = %request.method(),
        route,
        request_id,
        customer_id = tracing::field::Empty,
    )
}

async fn handle_timeout(err: BoxError) -> ApiError {
    if err.is::<tower::timeout::error::Elapsed>() {
        ApiError::unavailable(
            "timeout",
            "The bridge could not answer in time; try again.",
            Duration::from_secs(1),
        )
    } else {
        tracing::error!(error = %err, "unexpected middleware error");
        ApiError::internal()
    }
}
