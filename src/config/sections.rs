//! The configuration's sections, one struct per `[section]` of `config/bridge.toml`.
//!
//! No struct states a default value: the shipped file, embedded as the lowest layer, gives
//! every key that has one (see `load`). A field marked `#[serde(default)]` is one the file only
//! shows commented out — a secret, an optional URL, a list that is empty unless filled in.

use std::{collections::BTreeMap, net::SocketAddr, time::Duration};

use secrecy::SecretString;
use serde::Deserialize;

use super::cleeng_hosts::{CleengUrls, Environment};
use crate::domain::mapping::Rule;

/// Rate limits (see `crate::limits`). A `*_per_second` of 0 switches that limiter off.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Per client IP on the device API, before token verification: coarse, since households
    /// and carrier NATs share addresses.
    pub per_ip_per_second: u32,
    pub per_ip_burst: u32,
    /// Per signed-in customer, after token verification.
    pub per_customer_per_second: u32,
    pub per_customer_burst: u32,
    /// Everything Roku calls (pushes, Instant Signup), shared. The default sits above what
    /// one bridge can store (about 2 000 pushes/s on SQLite): only a flood far beyond
    /// anything Roku sends meets it.
    pub roku_per_second: u32,
    pub roku_burst: u32,
    /// Refused requests (unsigned, forged, malformed) on Roku's routes per source; a source
    /// past it is turned away before any signature check until its budget refills.
    pub roku_refused_per_source_per_second: u32,
    pub roku_refused_per_source_burst: u32,
    /// Anonymous sign-ins by purchase (each may cost a Roku call) per source.
    pub anonymous_sign_in_per_source_per_second: u32,
    pub anonymous_sign_in_per_source_burst: u32,
    /// Wrong passwords an account may take before each further one doubles its lockout.
    pub sign_in_free_failures: u32,
    #[serde(with = "humantime_serde")]
    pub sign_in_max_lockout: Duration,
    /// Peers whose `X-Forwarded-For` is believed (load balancers, ingress), as CIDRs.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// How often keys with a full budget are forgotten.
    #[serde(with = "humantime_serde")]
    pub retain_interval: Duration,
}

/// Roku Instant Signup: the two endpoints Roku calls and the offer card they serve.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IsuConfig {
    /// The app name agreed with Roku: the `aud` of Roku's tokens. Empty disables Instant Signup.
    pub app_name: String,
    /// Roku takes these once and forever: keep them stable.
    pub images_path: String,
    pub products_path: String,
    /// The API key being rotated out, accepted beside `roku.api_key` until Roku has the new one.
    #[serde(default)]
    pub previous_api_key: Option<SecretString>,
    #[serde(with = "humantime_serde")]
    pub leeway: Duration,
    /// Locale used when Roku asks for one the config does not have.
    pub fallback_locale: String,
    /// Locale (`en-us`) → the offer card's images and description.
    #[serde(default)]
    pub images: BTreeMap<String, IsuImages>,
    pub products: Vec<IsuProduct>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct IsuImages {
    /// 5–15 URLs; the first is the app logo.
    pub images: Vec<String>,
    pub description: String,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct IsuProduct {
    pub id: String,
    pub desc: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite://path` (created on first run) or `postgres://user@host/db`.
    pub url: SecretString,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RokuConfig {
    /// Roku Pay web services API key. It sits in URL paths: never logged.
    #[serde(default)]
    pub api_key: Option<SecretString>,
    pub api_url: String,
    /// Roku's public key set for push signatures; configurable only so tests can serve their
    /// own keys.
    pub jwks_url: String,
    /// Roku's key set for test pushes (the dashboard's test messages): a push verified with it
    /// is a test, acknowledged and shown, never acted on in production.
    pub test_jwks_url: String,
    /// Check every posted receipt with validate-transaction (when `api_key` is set).
    pub validate_receipts: bool,
    /// An unknown `kid` refetches the key set at most this often.
    #[serde(with = "humantime_serde")]
    pub jwks_refetch_interval: Duration,
    /// Clock skew tolerated on a push's `nbf`/`exp`.
    #[serde(with = "humantime_serde")]
    pub push_leeway: Duration,
    /// Roku's documented limit for web-service calls per API key.
    pub requests_per_second: u32,
    /// The share of it anonymous sign-ins by purchase may use; receipts keep the rest.
    pub anonymous_requests_per_second: u32,
    /// validate-transaction answers for anonymous sign-ins are reused this long.
    #[serde(with = "humantime_serde")]
    pub validation_cache_ttl: Duration,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayConfig {
    /// Relay pushes to the provider's own push URL (Roku allows only one push URL).
    pub provider: bool,
    #[serde(default)]
    pub targets: Vec<RelayTarget>,
    /// The publisher's webhook for the bridge's own events (`customer.created` after an Instant
    /// Signup, so the publisher can send the welcome email). Unset: no events are sent.
    #[serde(default)]
    pub events_url: Option<String>,
    /// Signs each event body: `x-roku-bridge-signature: sha256=<hex HMAC-SHA256>`.
    #[serde(default)]
    pub events_secret: Option<SecretString>,
    /// Past this since the first attempt, a delivery goes to the dead letters (Roku's own
    /// retry window is 72 h).
    #[serde(with = "humantime_serde")]
    pub give_up_after: Duration,
    #[serde(with = "humantime_serde")]
    pub initial_backoff: Duration,
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
    /// How long a worker holds a claimed item before another may take it over.
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    /// How often an idle worker looks for due items (new pushes wake it at once).
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Deliveries in flight at once per worker.
    pub concurrency: usize,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayTarget {
    pub name: String,
    pub url: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Budget for every request except the payment routes, which wait for confirmation.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Requests served at once, process-wide, before new ones are shed with 503.
    pub max_concurrency: usize,
    /// Of those, slots only verified Roku pushes may take once the rest are in use.
    pub roku_reserved_concurrency: usize,
    /// How long a client may take to send a request's headers; it also closes a keep-alive
    /// connection that sits idle this long.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// How long a client may take to send a request's body. The body is read before a slot
    /// is taken, so a slow upload holds a connection, never a slot.
    #[serde(with = "humantime_serde")]
    pub body_read_timeout: Duration,
    /// Open connections per peer address; 0 for no cap. Trusted proxies are exempt (every
    /// client behind a load balancer arrives from its address).
    pub max_connections_per_source: usize,
    /// On SIGTERM, readiness turns false this long before the listener stops accepting, so
    /// load balancers stop routing here first.
    #[serde(with = "humantime_serde")]
    pub drain_delay: Duration,
    /// Then requests in flight (and the relay's current deliveries) get this long to finish.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
}

/// The operator's listener: `/metrics`, `/healthz`, `/readyz`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    pub listen: SocketAddr,
    /// Switches the operator's console on at `/console/` (from the environment only:
    /// `ROKU_BRIDGE__ADMIN__CONSOLE_TOKEN`). Without it every `/console` path is 404.
    #[serde(default)]
    pub console_token: Option<SecretString>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    Simulator,
    Cleeng,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    pub kind: ProviderKind,
    pub environment: Environment,
    /// Cleeng's ids are numbers: `ROKU_BRIDGE__PROVIDER__PUBLISHER_ID=123456789` arrives as
    /// one, and is as good as the string.
    #[serde(default, deserialize_with = "crate::wire::string_or_number")]
    pub publisher_id: Option<String>,
    #[serde(default)]
    pub publisher_token: Option<SecretString>,
    /// Each URL defaults per environment (`cleeng_urls`); set one only to point at a proxy
    /// or a test double.
    #[serde(default)]
    pub receipt_url: Option<String>,
    #[serde(default)]
    pub core_url: Option<String>,
    #[serde(default)]
    pub mediastore_url: Option<String>,
    #[serde(default)]
    pub push_url: Option<String>,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Sent with registrations; Cleeng requires all three.
    pub locale: String,
    pub country: String,
    pub currency: String,
    pub simulator: SimulatorConfig,
}

impl ProviderConfig {
    /// Cleeng's URLs for the configured environment, with this section's overrides.
    pub fn cleeng_urls(&self) -> CleengUrls {
        let [receipt, core, mediastore, push] = self.environment.cleeng_hosts();
        let pick = |over: &Option<String>, default: &str| {
            over.as_deref()
                .unwrap_or(default)
                .trim_end_matches('/')
                .to_string()
        };
        CleengUrls {
            receipt: pick(&self.receipt_url, receipt),
            core: pick(&self.core_url, core),
            mediastore: pick(&self.mediastore_url, mediastore),
            push: pick(&self.push_url, push),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatorConfig {
    /// How long after a receipt the simulated provider starts granting access.
    #[serde(with = "humantime_serde")]
    pub grant_delay: Duration,
    /// Offer ids whose receipts the simulator refuses, to try the rejection path.
    #[serde(default)]
    pub reject_offers: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    #[serde(default)]
    pub signing_key: Option<SecretString>,
    #[serde(with = "humantime_serde")]
    pub access_ttl: Duration,
    #[serde(with = "humantime_serde")]
    pub refresh_ttl: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentConfig {
    #[serde(with = "humantime_serde")]
    pub confirm_timeout: Duration,
    /// First pause between access polls; it doubles up to `poll_max_interval`.
    #[serde(with = "humantime_serde")]
    pub poll_initial_interval: Duration,
    #[serde(with = "humantime_serde")]
    pub poll_max_interval: Duration,
    /// How long a replica holds a receipt it is forwarding and confirming without renewing
    /// the hold; a replica killed mid-forward hands the receipt on this long after.
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntitlementsConfig {
    #[serde(with = "humantime_serde")]
    pub granted_ttl: Duration,
    #[serde(with = "humantime_serde")]
    pub not_granted_ttl: Duration,
    /// How long past its TTL an answer may still be served (marked stale) while the provider is down.
    #[serde(with = "humantime_serde")]
    pub stale_if_error: Duration,
    pub max_capacity: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingConfig {
    pub rule: Rule,
    #[serde(default)]
    pub products: BTreeMap<String, String>,
}
