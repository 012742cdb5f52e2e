//! Configuration: a TOML file layered with `ROKU_BRIDGE__SECTION__KEY` environment variables.
//!
//! `config/bridge.toml` is the reference for every key. Loading is two steps: figment turns the
//! layers into [`Config`] (unknown keys and wrong types fail here, naming the key and the file),
//! then [`Config::validate`] checks the rules that span keys and builds the pure domain objects
//! the server runs on. `roku-bridge check-config` runs exactly these two steps.

use std::{collections::BTreeMap, fmt, net::SocketAddr, path::Path, time::Duration};

use figment::{
    Figment,
    providers::{Env, Format, Toml},
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::mapping::{MappingProblem, ProductMap, Rule};

/// Prefix of the environment variables that override the file (`__` separates the levels).
pub const ENV_PREFIX: &str = "ROKU_BRIDGE__";

/// The outbox target name of the provider's own push URL.
pub const PROVIDER_TARGET: &str = "provider";
/// Read beside the main file when present.
pub const CATALOG_FILE: &str = "catalog.toml";
/// Outbox target of Instant Signup account creation at the provider.
pub const ACCOUNTS_TARGET: &str = "provider-accounts";
/// Outbox target of the bridge's events to `relay.events_url`.
pub const EVENTS_TARGET: &str = "publisher-events";
const RESERVED_TARGETS: [&str; 3] = [PROVIDER_TARGET, ACCOUNTS_TARGET, EVENTS_TARGET];

/// The smallest HS256 key we accept: a shorter one can be brute-forced offline from any token.
pub const MIN_SIGNING_KEY_BYTES: usize = 32;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub admin: AdminConfig,
    #[serde(default)]
    pub provider: ProviderConfig,
    #[serde(default)]
    pub session: SessionConfig,
    #[serde(default)]
    pub payment: PaymentConfig,
    #[serde(default)]
    pub entitlements: EntitlementsConfig,
    #[serde(default)]
    pub mapping: MappingConfig,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub roku: RokuConfig,
    #[serde(default)]
    pub relay: RelayConfig,
    #[serde(default)]
    pub isu: IsuConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Catalog 2.0 (`config/catalog.example.toml`); empty for channels with plain products.
    #[serde(default)]
    pub catalog: crate::catalog::CatalogConfig,
    /// The file this came from, watched for hot reload; `None` for inline configurations.
    #[serde(skip)]
    pub source: Option<std::path::PathBuf>,
}

/// Rate limits (see `http::limits`). A `*_per_second` of 0 switches that limiter off.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Per client IP on the device API, before token verification: coarse, since households
    /// and carrier NATs share addresses.
    pub per_ip_per_second: u32,
    pub per_ip_burst: u32,
    /// Per signed-in customer, after token verification.
    pub per_customer_per_second: u32,
    pub per_customer_burst: u32,
    /// Everything Roku calls (pushes, Instant Signup), shared: far above Roku's own rate.
    pub roku_per_second: u32,
    pub roku_burst: u32,
    /// Peers whose `X-Forwarded-For` is believed (load balancers, ingress), as CIDRs.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// How often keys with a full budget are forgotten.
    #[serde(with = "humantime_serde")]
    pub retain_interval: Duration,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            per_ip_per_second: 100,
            per_ip_burst: 200,
            per_customer_per_second: 20,
            per_customer_burst: 60,
            // Above what one bridge can store (about 2 000 pushes/s on SQLite): only a flood
            // far beyond anything Roku sends meets this limit.
            roku_per_second: 5000,
            roku_burst: 10000,
            trusted_proxies: Vec::new(),
            retain_interval: Duration::from_secs(60),
        }
    }
}

/// Instant Signup (DESIGN.md §3.2, `reference/roku-pay.md` §3).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IsuConfig {
    /// The app name agreed with Roku: the `aud` of Roku's tokens. Empty disables Instant Signup.
    pub app_name: String,
    /// Roku takes these once and forever: keep them stable.
    pub images_path: String,
    pub products_path: String,
    /// The API key being rotated out, accepted beside `roku.api_key` until Roku has the new one.
    pub previous_api_key: Option<SecretString>,
    #[serde(with = "humantime_serde")]
    pub leeway: Duration,
    /// Locale used when Roku asks for one the config does not have.
    pub fallback_locale: String,
    /// Locale (`en-us`) → the offer card's images and description.
    pub images: std::collections::BTreeMap<String, IsuImages>,
    pub products: Vec<IsuProduct>,
}

impl Default for IsuConfig {
    fn default() -> Self {
        Self {
            app_name: String::new(),
            images_path: "/api/offers/rsb/images".into(),
            products_path: "/api/offers/rsb/products".into(),
            previous_api_key: None,
            leeway: Duration::from_secs(60),
            fallback_locale: "en-us".into(),
            images: Default::default(),
            products: Vec::new(),
        }
    }
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
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite://path` (created on first run) or `postgres://user@host/db`.
    pub url: SecretString,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            url: SecretString::from("sqlite://data/bridge.db"),
        }
    }
}

/// The public Roku key set for push signatures (DESIGN.md §3.1).
pub const ROKU_JWKS_URL: &str = "https://assets.cs.roku.com/keys/partner-jwks.json";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RokuConfig {
    /// Roku Pay web services API key. It sits in URL paths: never logged.
    pub api_key: Option<SecretString>,
    pub api_url: String,
    /// Configurable only so tests can serve their own keys.
    pub jwks_url: String,
    /// Roku's key set for test pushes (the dashboard's test messages).
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
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for RokuConfig {
    fn default() -> Self {
        Self {
            api_key: None,
            api_url: "https://apipub.roku.com".into(),
            jwks_url: ROKU_JWKS_URL.into(),
            test_jwks_url: crate::roku::jws::ROKU_TEST_JWKS_URL.into(),
            validate_receipts: true,
            jwks_refetch_interval: Duration::from_secs(60),
            push_leeway: Duration::from_secs(60),
            requests_per_second: 20,
            timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelayConfig {
    /// Relay pushes to the provider's own push URL (Roku allows only one push URL).
    pub provider: bool,
    pub targets: Vec<RelayTarget>,
    /// The publisher's webhook for the bridge's own events (`customer.created` after an Instant
    /// Signup, so the publisher can send the welcome email). Unset: no events are sent.
    pub events_url: Option<String>,
    /// Signs each event body: `x-roku-bridge-signature: sha256=<hex HMAC-SHA256>`.
    pub events_secret: Option<SecretString>,
    /// Past this since the first attempt, a delivery goes to the dead letters (Roku's own 72 h).
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

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            provider: true,
            targets: Vec::new(),
            events_url: None,
            events_secret: None,
            give_up_after: Duration::from_secs(72 * 3600),
            initial_backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(3600),
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
            concurrency: 16,
            timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayTarget {
    pub name: String,
    pub url: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Budget for every request except the payment routes, which wait for confirmation.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Requests served at once before new ones are shed with 503.
    pub max_concurrency: usize,
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
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    pub listen: SocketAddr,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            request_timeout: Duration::from_secs(10),
            body_limit: 64 * 1024,
            max_concurrency: 4096,
            drain_delay: Duration::ZERO,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    Simulator,
    Cleeng,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    Sandbox,
    Production,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProviderConfig {
    pub kind: ProviderKind,
    pub environment: Environment,
    /// Cleeng's ids are numbers: `ROKU_BRIDGE__PROVIDER__PUBLISHER_ID=123456789` arrives as
    /// one, and is as good as the string.
    #[serde(deserialize_with = "string_or_number")]
    pub publisher_id: Option<String>,
    pub publisher_token: Option<SecretString>,
    pub receipt_url: Option<String>,
    pub core_url: Option<String>,
    pub mediastore_url: Option<String>,
    pub push_url: Option<String>,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Sent with registrations; Cleeng requires all three.
    pub locale: String,
    pub country: String,
    pub currency: String,
    pub simulator: SimulatorConfig,
}

impl Default for ProviderConfig {
    fn default() -> Self {
        Self {
            kind: ProviderKind::Simulator,
            environment: Environment::Sandbox,
            publisher_id: None,
            publisher_token: None,
            receipt_url: None,
            core_url: None,
            mediastore_url: None,
            push_url: None,
            timeout: Duration::from_secs(10),
            locale: "en_US".into(),
            country: "US".into(),
            currency: "USD".into(),
            simulator: SimulatorConfig::default(),
        }
    }
}

/// Cleeng's hosts per environment (`reference/entitlement-providers.md` §1.1).
pub struct CleengUrls {
    pub receipt: String,
    pub core: String,
    pub mediastore: String,
    pub push: String,
}

impl ProviderConfig {
    pub fn cleeng_urls(&self) -> CleengUrls {
        let (receipt, core, mediastore, push) = match self.environment {
            Environment::Sandbox => (
                "https://api.sandbox.cleeng.com",
                "https://api.sandbox.cleeng.com",
                "https://mediastoreapi-sandbox.cleeng.com",
                "https://sandbox.cleeng.com",
            ),
            Environment::Production => (
                "https://api.cleeng.com",
                "https://api.cleeng.com",
                "https://mediastoreapi.cleeng.com",
                "https://cleeng.com",
            ),
        };
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
#[serde(deny_unknown_fields, default)]
pub struct SimulatorConfig {
    /// How long after a receipt the simulated provider starts granting access.
    #[serde(with = "humantime_serde")]
    pub grant_delay: Duration,
    /// Offer ids whose receipts the simulator refuses, to try the rejection path.
    pub reject_offers: Vec<String>,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        Self {
            grant_delay: Duration::from_secs(2),
            reject_offers: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    pub signing_key: Option<SecretString>,
    #[serde(with = "humantime_serde")]
    pub access_ttl: Duration,
    #[serde(with = "humantime_serde")]
    pub refresh_ttl: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            signing_key: None,
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(180 * 24 * 3600),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PaymentConfig {
    #[serde(with = "humantime_serde")]
    pub confirm_timeout: Duration,
    /// First pause between access polls; it doubles up to `poll_max_interval`.
    #[serde(with = "humantime_serde")]
    pub poll_initial_interval: Duration,
    #[serde(with = "humantime_serde")]
    pub poll_max_interval: Duration,
}

impl Default for PaymentConfig {
    fn default() -> Self {
        Self {
            confirm_timeout: Duration::from_secs(30),
            poll_initial_interval: Duration::from_millis(250),
            poll_max_interval: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
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

impl Default for EntitlementsConfig {
    fn default() -> Self {
        Self {
            granted_ttl: Duration::from_secs(300),
            not_granted_ttl: Duration::from_secs(30),
            stale_if_error: Duration::from_secs(600),
            max_capacity: 1_000_000,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MappingConfig {
    pub rule: Rule,
    pub products: BTreeMap<String, String>,
}

/// Everything wrong with a configuration, each problem naming the key.
#[derive(Debug)]
pub struct ConfigError {
    pub source_name: String,
    pub problems: Vec<(String, String)>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration in {}", self.source_name)?;
        for (key, reason) in &self.problems {
            write!(f, "\n  {key}: {reason}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads `path` and overlays `ROKU_BRIDGE__*` from the process environment.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let mut config: Self = Self::figment(path)
            .merge(Env::prefixed(ENV_PREFIX).split("__"))
            .extract()
            .map_err(|e| from_figment(path, e))?;
        config.source = Some(path.to_path_buf());
        Ok(config)
    }

    /// Reads `path` alone, ignoring the environment: for tests and tools that must not inherit it.
    pub fn load_file_only(path: &Path) -> Result<Self, ConfigError> {
        Self::figment(path)
            .extract()
            .map_err(|e| from_figment(path, e))
    }

    /// Parses TOML text: the defaults of every omitted key apply.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        Self::from_toml_layers(&[text])
    }

    /// Several TOML texts, each overriding the keys it sets in the ones before it.
    pub fn from_toml_layers(layers: &[&str]) -> Result<Self, ConfigError> {
        layers
            .iter()
            .fold(Figment::new(), |f, text| f.merge(Toml::string(text)))
            .extract()
            .map_err(|e| from_figment(Path::new("<inline>"), e))
    }

    /// The file, and `catalog.toml` beside it when there is one: a channel's catalog is long
    /// and changes on its own schedule, so it may live in its own file (a `[catalog]` section).
    fn figment(path: &Path) -> Figment {
        let figment = Figment::from(Toml::file_exact(path));
        let catalog = path.with_file_name(CATALOG_FILE);
        if catalog.is_file() && catalog != path {
            figment.merge(Toml::file_exact(catalog))
        } else {
            figment
        }
    }

    /// Cross-key rules and the product table. The result is what the server runs on.
    pub fn validate(&self) -> Result<ProductMap, Vec<(String, String)>> {
        let mut problems = Vec::new();
        let mut problem = |key: &str, reason: String| problems.push((key.to_string(), reason));

        if self.provider.kind == ProviderKind::Cleeng {
            if self
                .provider
                .publisher_id
                .as_deref()
                .unwrap_or("")
                .is_empty()
            {
                problem(
                    "provider.publisher_id",
                    "required when provider.kind is \"cleeng\"".into(),
                );
            }
            if secret_is_empty(&self.provider.publisher_token) {
                problem(
                    "provider.publisher_token",
                    format!(
                        "required when provider.kind is \"cleeng\" (set {ENV_PREFIX}PROVIDER__PUBLISHER_TOKEN)"
                    ),
                );
            }
            if self.session.signing_key.is_none() {
                problem(
                    "session.signing_key",
                    format!(
                        "required with a real provider, or sessions die with every restart (set {ENV_PREFIX}SESSION__SIGNING_KEY)"
                    ),
                );
            }
            let urls = [
                ("provider.receipt_url", &self.provider.receipt_url),
                ("provider.core_url", &self.provider.core_url),
                ("provider.mediastore_url", &self.provider.mediastore_url),
                ("provider.push_url", &self.provider.push_url),
            ];
            for (key, url) in urls {
                if let Some(url) = url
                    && !(url.starts_with("https://") || url.starts_with("http://"))
                {
                    problem(key, "must be an http:// or https:// URL".into());
                }
            }
        }
        if let Some(key) = &self.session.signing_key
            && key.expose_secret().len() < MIN_SIGNING_KEY_BYTES
        {
            problem(
                "session.signing_key",
                format!("must be at least {MIN_SIGNING_KEY_BYTES} bytes"),
            );
        }
        if self.session.access_ttl.is_zero() || self.session.refresh_ttl < self.session.access_ttl {
            problem(
                "session.refresh_ttl",
                "access_ttl must be positive and refresh_ttl at least as long".into(),
            );
        }
        if self.payment.confirm_timeout > Duration::from_secs(120) {
            problem(
                "payment.confirm_timeout",
                "at most 120s: a channel cannot hold a request open longer".into(),
            );
        }
        if self.payment.poll_initial_interval.is_zero()
            || self.payment.poll_max_interval < self.payment.poll_initial_interval
        {
            problem(
                "payment.poll_max_interval",
                "poll_initial_interval must be positive and poll_max_interval at least as long"
                    .into(),
            );
        }
        if self.provider.timeout.is_zero() || self.server.request_timeout.is_zero() {
            problem(
                "provider.timeout",
                "timeouts must be positive (provider.timeout, server.request_timeout)".into(),
            );
        }
        let store_url = self.store.url.expose_secret();
        if !(store_url.starts_with("sqlite://")
            || store_url.starts_with("postgres://")
            || store_url.starts_with("postgresql://"))
        {
            problem(
                "store.url",
                "must start with sqlite:// or postgres://".into(),
            );
        }
        let mut names = std::collections::HashSet::new();
        for (i, t) in self.relay.targets.iter().enumerate() {
            let key = format!("relay.targets[{i}]");
            if t.name.is_empty()
                || RESERVED_TARGETS.contains(&t.name.as_str())
                || !names.insert(t.name.clone())
            {
                problem(
                    &key,
                    format!("name must be unique, non-empty and none of {RESERVED_TARGETS:?}"),
                );
            }
            if !(t.url.starts_with("https://") || t.url.starts_with("http://")) {
                problem(&key, "url must be an http:// or https:// URL".into());
            }
        }
        if let Some(url) = &self.relay.events_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            problem(
                "relay.events_url",
                "must be an http:// or https:// URL".into(),
            );
        }
        if self.relay.lease < Duration::from_secs(1) || self.relay.concurrency == 0 {
            problem(
                "relay.lease",
                "lease at least 1s and concurrency positive".into(),
            );
        }
        if self.relay.initial_backoff.is_zero()
            || self.relay.max_backoff < self.relay.initial_backoff
        {
            problem(
                "relay.max_backoff",
                "initial_backoff positive and max_backoff at least as long".into(),
            );
        }
        if self.roku.requests_per_second == 0 {
            problem("roku.requests_per_second", "must be positive".into());
        }
        if let Some(key) = &self.roku.api_key
            && (key.expose_secret().is_empty() || key.expose_secret().contains(['/', '?', '#']))
        {
            problem("roku.api_key", "must be non-empty and URL-path safe".into());
        }
        if self.server.body_limit < 1024 {
            problem("server.body_limit", "at least 1024 bytes".into());
        }
        if self.server.max_concurrency == 0 {
            problem("server.max_concurrency", "must be positive".into());
        }
        if self.entitlements.max_capacity == 0 {
            problem("entitlements.max_capacity", "must be positive".into());
        }

        if let Err(errors) = crate::catalog::Catalog::from_config(self.catalog.clone()) {
            for e in errors {
                problem(&format!("catalog ({})", e.rule()), e.to_string());
            }
        }
        let map = ProductMap::new(self.mapping.rule, self.mapping.products.clone());
        if let Ok(map) = &map {
            for (key, reason) in
                crate::roku::isu::check_config(&self.isu, map, self.roku.api_key.is_some())
            {
                problem(&key, reason);
            }
        }
        match map {
            Ok(map) if problems.is_empty() => Ok(map),
            Ok(_) => Err(problems),
            Err(mapping_problems) => {
                problems.extend(mapping_problems.into_iter().map(|p: MappingProblem| {
                    (format!("mapping.products.\"{}\"", p.code), p.reason)
                }));
                Err(problems)
            }
        }
    }

    /// Loads and validates; the single entry point of `serve` and `check-config`.
    pub fn load_validated(path: &Path) -> Result<(Self, ProductMap), ConfigError> {
        let config = Self::load(path)?;
        let map = config.validate().map_err(|problems| ConfigError {
            source_name: path.display().to_string(),
            problems,
        })?;
        Ok((config, map))
    }
}

fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Text(String),
        Unsigned(u64),
        Signed(i64),
    }
    Ok(Option::<Id>::deserialize(d)?.map(|id| match id {
        Id::Text(s) => s,
        Id::Unsigned(n) => n.to_string(),
        Id::Signed(n) => n.to_string(),
    }))
}

fn is_secret_key(key: &str) -> bool {
    ["token", "key", "password", "secret"]
        .iter()
        .any(|word| key.rsplit('.').next().unwrap_or(key).contains(word))
}

fn secret_is_empty(secret: &Option<SecretString>) -> bool {
    secret
        .as_ref()
        .map(|s| s.expose_secret().is_empty())
        .unwrap_or(true)
}

/// figment names the key and the file in its errors; we keep one problem per line. Values are
/// never echoed by figment's messages for string keys, so a mistyped secret cannot leak here.
fn from_figment(path: &Path, err: figment::Error) -> ConfigError {
    let problems = err
        .into_iter()
        .map(|e| {
            let key = if e.path.is_empty() {
                "(file)".to_string()
            } else {
                e.path.join(".")
            };
            let origin = e
                .metadata
                .as_ref()
                .map(|m| m.name.to_string())
                .unwrap_or_default();
            let reason = if is_secret_key(&key) {
                // Type errors quote the value; for a secret that would print it.
                "invalid value (not shown: this key holds a secret); expected a string".to_string()
            } else {
                match &e.kind {
                    figment::error::Kind::Message(m) => m.clone(),
                    kind => kind.to_string(),
                }
            };
            let reason = if origin.is_empty() {
                reason
            } else {
                format!("{reason} (from {origin})")
            };
            (key, reason)
        })
        .collect();
    ConfigError {
        source_name: path.display().to_string(),
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_simulator_default() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(c.provider.kind, ProviderKind::Simulator);
        assert_eq!(c.payment.confirm_timeout, Duration::from_secs(30));
        assert!(c.validate().is_ok());
    }

    #[test]
    fn a_numeric_publisher_id_is_read_as_its_digits() {
        // What ROKU_BRIDGE__PROVIDER__PUBLISHER_ID=123456789 becomes: a number.
        let c = Config::from_toml("[provider]\npublisher_id = 123456789").unwrap();
        assert_eq!(c.provider.publisher_id.as_deref(), Some("123456789"));
        let c = Config::from_toml("[provider]\npublisher_id = \"0042\"").unwrap();
        assert_eq!(
            c.provider.publisher_id.as_deref(),
            Some("0042"),
            "text stays text"
        );
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::from_toml("[provider]\npublisher_tokn = \"x\"").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("publisher_tokn"), "{text}");
    }

    #[test]
    fn cleeng_needs_its_credentials() {
        let c = Config::from_toml("[provider]\nkind = \"cleeng\"").unwrap();
        let problems = c.validate().unwrap_err();
        let keys: Vec<_> = problems.iter().map(|(k, _)| k.as_str()).collect();
        assert!(keys.contains(&"provider.publisher_id"));
        assert!(keys.contains(&"provider.publisher_token"));
        assert!(keys.contains(&"session.signing_key"));
    }

    #[test]
    fn short_signing_key_is_refused_without_echoing_it() {
        let c = Config::from_toml("[session]\nsigning_key = \"hunter2-short\"").unwrap();
        let problems = c.validate().unwrap_err();
        assert_eq!(problems[0].0, "session.signing_key");
        assert!(!format!("{problems:?}").contains("hunter2"));
    }

    #[test]
    fn bad_mapping_entry_names_the_code() {
        let c = Config::from_toml("[mapping.products]\n\"BAD CODE\" = \"X_US\"").unwrap();
        let problems = c.validate().unwrap_err();
        assert_eq!(problems[0].0, "mapping.products.\"BAD CODE\"");
    }

    #[test]
    fn a_secret_of_the_wrong_type_is_not_echoed() {
        let err =
            Config::from_toml("[provider]\npublisher_token = 918273645546372819").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("provider.publisher_token"), "{text}");
        assert!(!text.contains("918273645546372819"), "{text}");
    }

    #[test]
    fn durations_are_humantime() {
        let c = Config::from_toml("[payment]\nconfirm_timeout = \"1m 5s\"").unwrap();
        assert_eq!(c.payment.confirm_timeout, Duration::from_secs(65));
        let err = Config::from_toml("[payment]\nconfirm_timeout = \"soon\"").unwrap_err();
        assert!(err.to_string().contains("payment.confirm_timeout"), "{err}");
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let c = Config::from_toml(
            "[provider]\npublisher_token = \"tok-abcdefghijklmnop\"\n[session]\nsigning_key = \"k-abcdefghijklmnopqrstuvwxyz0123456789\"",
        )
        .unwrap();
        let debug = format!("{c:?}");
        assert!(!debug.contains("tok-abcdefghijklmnop"));
        assert!(!debug.contains("k-abcdefghijklmnopqrstuvwxyz0123456789"));
    }
}
