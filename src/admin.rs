//! The admin listener: `/metrics` (Prometheus), `/healthz`, `/readyz`, and the operator's
//! console at `/console/` when a console token is configured.
//!
//! It listens apart from the API (`admin.listen`) so that probes and scrapes never queue behind
//! customer traffic, are never rate limited or shed, and can be kept off the public network
//! (the Kubernetes NetworkPolicy admits only the monitoring namespace to it).

use std::{
    sync::{
        Arc, OnceLock,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::{
    Json, Router,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
    routing::get,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde_json::json;

use crate::{provider::Provider, services::entitlements::Entitlements, store::Store};

/// Latency buckets in seconds: from a cache hit (sub-millisecond) to a full 30 s confirmation.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The process-wide Prometheus recorder. Installed once: every bridge in the process (the
/// tests start several) records into it.
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .expect("static buckets are valid")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (an embedding program's): then ours
            // still renders what it was given, which is nothing, rather than failing to start.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// What readiness depends on.
#[derive(Clone)]
pub struct Health {
    pub store: Store,
    pub provider: Arc<dyn Provider>,
    pub entitlements: Arc<Entitlements>,
    /// Set first thing on shutdown: load balancers stop sending before the listener closes.
    pub draining: Arc<AtomicBool>,
}

pub fn router(health: Health, console: Option<crate::console::Deps>) -> Router {
    Router::new()
        .route("/metrics", get(render_metrics))
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(ready))
        .with_state(health)
        .merge(crate::console::router(console))
}

async fn render_metrics(State(health): State<Health>) -> impl IntoResponse {
    // Gauges read at scrape time: one query per scrape, not per event.
    if let Ok(Ok((pending, dead))) =
        tokio::time::timeout(Duration::from_secs(2), health.store.outbox_depth()).await
    {
        metrics::gauge!("roku_bridge_outbox_items", "status" => "pending").set(pending as f64);
        metrics::gauge!("roku_bridge_outbox_items", "status" => "dead").set(dead as f64);
    }
    // None pending reads as 0, not as the last age seen: an alert on it must clear.
    if let Ok(Ok(age_ms)) =
        tokio::time::timeout(Duration::from_secs(2), health.store.oldest_pending_age_ms()).await
    {
        metrics::gauge!("roku_bridge_outbox_oldest_pending_seconds")
            .set(age_ms.unwrap_or(0) as f64 / 1000.0);
    }
    if let Ok(Ok(counts)) =
        tokio::time::timeout(Duration::from_secs(2), health.store.outbox_counts()).await
    {
        for (target, status, n) in counts {
            if status == crate::store::OutboxStatus::Dead {
                metrics::gauge!("roku_bridge_outbox_dead_items", "target" => target).set(n as f64);
            }
        }
    }
    metrics::gauge!("roku_bridge_ready").set(if is_ready(&health).await { 1.0 } else { 0.0 });
    crate::metric_families::collect_process();
    metrics::gauge!("roku_bridge_entitlements_cached")
        .set(health.entitlements.entry_count() as f64);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        prometheus().render(),
    )
}

/// 200 when the store answers and the process is not draining; the provider's state is
/// reported but does not make the bridge unready (receipts queue in the outbox meanwhile).
async fn ready(State(health): State<Health>) -> impl IntoResponse {
    let draining = health.draining.load(Ordering::Relaxed);
    let store = store_answers(&health).await;
    let ready = store && !draining;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "ready": ready,
            "store": if store { "ok" } else { "unreachable" },
            "draining": draining,
            "provider": health.provider.name(),
        })),
    )
}

async fn store_answers(health: &Health) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(2), health.store.ping()).await,
        Ok(Ok(()))
    )
}

async fn is_ready(health: &Health) -> bool {
    !health.draining.load(Ordering::Relaxed) && store_answers(health).await
}
