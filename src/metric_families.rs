//! Every metric family the bridge exposes, described and registered at start with the label
//! sets known then (routes, targets, outcomes) at zero. A family that first appears when its
//! first event happens makes `rate()` blind across that moment and `absent()` alerts fire on a
//! healthy bridge, so the first scrape already lists them all.

use std::sync::OnceLock;

use metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};

/// What a fresh scrape must list; the observability check compares the dashboard and the
/// alert rules with it.
pub const FAMILIES: &[&str] = &[
    "roku_bridge_build_info",
    "roku_bridge_config_reloads_total",
    "roku_bridge_confirmation_duration_seconds",
    "roku_bridge_confirmations_total",
    "roku_bridge_deliveries_total",
    "roku_bridge_entitlement_cache_total",
    "roku_bridge_entitlements_cached",
    "roku_bridge_http_request_duration_seconds",
    "roku_bridge_http_requests_total",
    "roku_bridge_isu_hash_unusable_total",
    "roku_bridge_outbox_items",
    "roku_bridge_outbox_dead_items",
    "roku_bridge_outbox_oldest_pending_seconds",
    "roku_bridge_provider_call_duration_seconds",
    "roku_bridge_provider_calls_total",
    "roku_bridge_push_batch_size",
    "roku_bridge_pushes_total",
    "roku_bridge_rate_limited_total",
    "roku_bridge_rate_limiter_keys",
    "roku_bridge_ready",
    "roku_bridge_roku_call_duration_seconds",
    "roku_bridge_roku_calls_total",
    "roku_bridge_roku_unreadable_answers_total",
    "roku_bridge_console_actions_total",
];

/// Why a push is refused: the verifier's reasons, each its own series.
pub const PUSH_REJECT_REASONS: &[&str] = &[
    "not a JWS",
    "key location in the JOSE header",
    "algorithm is not RS256",
    "no key id",
    "unknown key",
    "keys unavailable",
    "bad signature",
    "expired",
    "not yet valid",
    "wrong issuer",
    "missing claim",
    "malformed",
];

const PROVIDER_OPERATIONS: &[&str] = &[
    "receipt",
    "access",
    "login",
    "register",
    "customer_by_email",
];
const CALL_OUTCOMES: &[&str] = &["ok", "unavailable", "refused"];
const CONFIRMATION_OUTCOMES: &[&str] = &["granted", "rejected", "queued", "unavailable", "pending"];
const DELIVERY_OUTCOMES: &[&str] = &["delivered", "retry", "dead"];

/// What the start knows: the provider's name, the routes served, the relay targets.
pub struct Known<'a> {
    pub provider: &'static str,
    pub routes: &'a [(&'static str, String)],
    pub targets: &'a [String],
}

/// Describes every family and registers its known series at zero. Safe to call for every
/// bridge a process starts (the tests start many): a counter is only ever incremented by 0.
pub fn register(known: &Known<'_>) {
    describe_all();
    gauge!(
        "roku_bridge_build_info",
        "version" => env!("CARGO_PKG_VERSION"),
        "profile" => if cfg!(debug_assertions) { "debug" } else { "release" },
    )
    .set(1.0);
    gauge!("roku_bridge_ready").set(0.0);
    for outcome in ["applied", "rejected"] {
        counter!("roku_bridge_config_reloads_total", "outcome" => outcome).increment(0);
    }
    for outcome in CONFIRMATION_OUTCOMES {
        counter!("roku_bridge_confirmations_total", "outcome" => *outcome).increment(0);
        let _ = histogram!("roku_bridge_confirmation_duration_seconds", "outcome" => *outcome);
    }
    for target in known.targets {
        for outcome in DELIVERY_OUTCOMES {
            for kind in crate::store::DeliveryKind::ALL {
                counter!("roku_bridge_deliveries_total", "target" => target.clone(), "kind" => kind.as_str(), "outcome" => *outcome)
                    .increment(0);
            }
        }
        gauge!("roku_bridge_outbox_dead_items", "target" => target.clone()).set(0.0);
    }
    for result in ["hit", "miss", "stale"] {
        counter!("roku_bridge_entitlement_cache_total", "result" => result).increment(0);
    }
    gauge!("roku_bridge_entitlements_cached").set(0.0);
    for (method, path) in known.routes {
        let labels = [
            ("route", path.clone()),
            ("method", method.to_ascii_uppercase()),
            ("status", "200".to_string()),
        ];
        counter!("roku_bridge_http_requests_total", &labels).increment(0);
        let _ = histogram!("roku_bridge_http_request_duration_seconds", &labels);
    }
    for reason in ["missing", "malformed"] {
        counter!("roku_bridge_isu_hash_unusable_total", "reason" => reason).increment(0);
    }
    for status in ["pending", "dead"] {
        gauge!("roku_bridge_outbox_items", "status" => status).set(0.0);
    }
    gauge!("roku_bridge_outbox_oldest_pending_seconds").set(0.0);
    for operation in PROVIDER_OPERATIONS {
        for outcome in CALL_OUTCOMES {
            let labels = [
                ("provider", known.provider),
                ("operation", operation),
                ("outcome", outcome),
            ];
            counter!("roku_bridge_provider_calls_total", &labels).increment(0);
            let _ = histogram!("roku_bridge_provider_call_duration_seconds", &labels);
        }
    }
    let _ = histogram!("roku_bridge_push_batch_size");
    counter!("roku_bridge_pushes_total", "outcome" => "stored", "reason" => "").increment(0);
    counter!("roku_bridge_pushes_total", "outcome" => "duplicate", "reason" => "").increment(0);
    for reason in PUSH_REJECT_REASONS {
        counter!("roku_bridge_pushes_total", "outcome" => "rejected", "reason" => *reason)
            .increment(0);
    }
    for scope in ["ip", "customer", "roku"] {
        counter!("roku_bridge_rate_limited_total", "scope" => scope).increment(0);
    }
    gauge!("roku_bridge_rate_limiter_keys").set(0.0);
    for outcome in CALL_OUTCOMES {
        let labels = [("operation", "validate_transaction"), ("outcome", outcome)];
        counter!("roku_bridge_roku_calls_total", &labels).increment(0);
        let _ = histogram!("roku_bridge_roku_call_duration_seconds", &labels);
    }
    counter!("roku_bridge_roku_unreadable_answers_total").increment(0);
    for action in crate::console::ACTIONS {
        counter!("roku_bridge_console_actions_total", "action" => *action).increment(0);
    }
    process_collector().describe();
    process_collector().collect();
}

/// CPU, memory, open file descriptors and start time, read at every scrape.
pub fn collect_process() {
    process_collector().collect();
}

fn process_collector() -> &'static metrics_process::Collector {
    static COLLECTOR: OnceLock<metrics_process::Collector> = OnceLock::new();
    COLLECTOR.get_or_init(metrics_process::Collector::default)
}

fn describe_all() {
    describe_gauge!(
        "roku_bridge_build_info",
        "Always 1; the labels say which build is running."
    );
    describe_gauge!(
        "roku_bridge_ready",
        "1 while /readyz answers 200 (store reachable, not draining)."
    );
    describe_counter!(
        "roku_bridge_config_reloads_total",
        "Configuration reloads, applied or rejected."
    );
    describe_counter!(
        "roku_bridge_confirmations_total",
        "Receipt confirmations by how they ended."
    );
    describe_histogram!(
        "roku_bridge_confirmation_duration_seconds",
        Unit::Seconds,
        "Time from a receipt to its confirmation outcome."
    );
    describe_counter!(
        "roku_bridge_deliveries_total",
        "Outbox delivery attempts by target, kind and outcome."
    );
    describe_counter!(
        "roku_bridge_entitlement_cache_total",
        "Entitlement lookups by cache result."
    );
    describe_gauge!(
        "roku_bridge_entitlements_cached",
        "Entitlement sets in the cache."
    );
    describe_counter!(
        "roku_bridge_http_requests_total",
        "API requests by route, method and status."
    );
    describe_histogram!(
        "roku_bridge_http_request_duration_seconds",
        Unit::Seconds,
        "API request latency by route, method and status."
    );
    describe_counter!(
        "roku_bridge_isu_hash_unusable_total",
        "Instant Signup requests whose email hash was missing or malformed."
    );
    describe_gauge!(
        "roku_bridge_outbox_items",
        "Outbox items by status (pending, dead)."
    );
    describe_gauge!(
        "roku_bridge_outbox_dead_items",
        "Dead-lettered outbox items by target."
    );
    describe_gauge!(
        "roku_bridge_outbox_oldest_pending_seconds",
        Unit::Seconds,
        "Age of the oldest pending outbox item; 0 when none waits."
    );
    describe_counter!(
        "roku_bridge_provider_calls_total",
        "Subscription provider calls by operation and outcome."
    );
    describe_histogram!(
        "roku_bridge_provider_call_duration_seconds",
        Unit::Seconds,
        "Subscription provider call latency."
    );
    describe_histogram!(
        "roku_bridge_push_batch_size",
        "Pushes written per store transaction."
    );
    describe_counter!(
        "roku_bridge_pushes_total",
        "Roku pushes by outcome (stored, duplicate, rejected) and rejection reason."
    );
    describe_counter!(
        "roku_bridge_rate_limited_total",
        "Requests refused by a rate limit, by scope."
    );
    describe_gauge!(
        "roku_bridge_rate_limiter_keys",
        "Keys the rate limiters remember."
    );
    describe_counter!(
        "roku_bridge_roku_calls_total",
        "Roku API calls by operation and outcome."
    );
    describe_histogram!(
        "roku_bridge_roku_call_duration_seconds",
        Unit::Seconds,
        "Roku API call latency."
    );
    describe_counter!(
        "roku_bridge_roku_unreadable_answers_total",
        "Roku answers the bridge could not read (a format change)."
    );
    describe_counter!(
        "roku_bridge_console_actions_total",
        "Operator console actions (sign-ins, refusals, redrives, reveals)."
    );
}
