//! The rules that span keys, checked after loading: credentials a provider needs, sane
//! timeouts and budgets, URLs, relay target names, the catalog, the product table, and Roku's
//! Instant Signup offer card rules — so a bad edit fails at load (or is refused by a reload)
//! instead of reaching a customer or Roku. The result is the pure product table the server
//! runs on.

use std::{collections::HashSet, time::Duration};

use secrecy::ExposeSecret;

use super::{
    ACCOUNTS_TARGET, Config, EVENTS_TARGET, FOLLOW_UPS_TARGET, IsuConfig, PROVIDER_TARGET,
    ProviderKind,
    load::{ENV_PREFIX, secret_is_empty},
};
use crate::{
    domain::mapping::{MappingProblem, ProductMap},
    roku::isu::mentions_price,
};

/// The smallest HS256 key we accept: a shorter one can be brute-forced offline from any token.
pub const MIN_SIGNING_KEY_BYTES: usize = 32;

/// Outbox targets the bridge names itself; a configured target may not take one.
const RESERVED_TARGETS: [&str; 4] = [
    PROVIDER_TARGET,
    ACCOUNTS_TARGET,
    EVENTS_TARGET,
    FOLLOW_UPS_TARGET,
];

/// A configuration's problems, each as (key, reason), in the order the rules run.
pub type Problems = Vec<(String, String)>;

fn is_http_url(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

impl Config {
    /// Cross-key rules and the product table. The result is what the server runs on.
    pub fn validate(&self) -> Result<ProductMap, Problems> {
        let mut problems = Problems::new();
        let mut problem = |key: &str, reason: String| problems.push((key.to_string(), reason));
        self.check_provider(&mut problem);
        self.check_session(&mut problem);
        self.check_timing(&mut problem);
        self.check_relay(&mut problem);
        self.check_limits(&mut problem);
        if let Err(errors) = crate::domain::catalog::Catalog::from_config(self.catalog.clone()) {
            for e in errors {
                problem(&format!("catalog ({})", e.rule()), e.to_string());
            }
        }
        let map = ProductMap::new(self.mapping.rule, self.mapping.products.clone());
        if let Ok(map) = &map {
            for (key, reason) in isu_problems(&self.isu, map, self.roku.api_key.is_some()) {
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

    /// A real provider needs its credentials, and sessions that survive a restart.
    fn check_provider(&self, problem: &mut impl FnMut(&str, String)) {
        if self.provider.kind != ProviderKind::Cleeng {
            return;
        }
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
                && !is_http_url(url)
            {
                problem(key, "must be an http:// or https:// URL".into());
            }
        }
    }

    fn check_session(&self, problem: &mut impl FnMut(&str, String)) {
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
    }

    /// Request budgets and the store every one of them needs.
    fn check_timing(&self, problem: &mut impl FnMut(&str, String)) {
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
        if self.payment.lease < Duration::from_millis(300) {
            problem(
                "payment.lease",
                "at least 300ms: it is renewed every third of it".into(),
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
    }

    fn check_relay(&self, problem: &mut impl FnMut(&str, String)) {
        let mut names = HashSet::new();
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
            if !is_http_url(&t.url) {
                problem(&key, "url must be an http:// or https:// URL".into());
            }
        }
        if let Some(url) = &self.relay.events_url
            && !is_http_url(url)
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
    }

    /// Roku's key and rate, and the server's own capacity limits.
    fn check_limits(&self, problem: &mut impl FnMut(&str, String)) {
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
    }
}

/// Roku's offer card rules for Instant Signup, checked at load so a bad edit never reaches
/// Roku. Nothing is checked while Instant Signup is off (no app name).
fn isu_problems(isu: &IsuConfig, map: &ProductMap, has_api_key: bool) -> Problems {
    let mut problems = Problems::new();
    if isu.app_name.is_empty() {
        return problems;
    }
    let mut bad = |key: String, reason: &str| problems.push((key, reason.to_string()));
    if !has_api_key {
        bad(
            "roku.api_key".into(),
            "Instant Signup needs the Roku Pay API key: Roku signs its calls with it",
        );
    }
    for path in [&isu.images_path, &isu.products_path] {
        if !path.starts_with('/') || path.len() < 2 {
            bad(
                "isu.images_path".into(),
                "paths must start with / and name an endpoint",
            );
        }
    }
    if isu.images_path == isu.products_path {
        bad(
            "isu.products_path".into(),
            "must differ from isu.images_path",
        );
    }
    if !isu.images.contains_key(&isu.fallback_locale) {
        bad(
            "isu.fallback_locale".into(),
            "must name a locale under [isu.images] (answers for unknown locales come from it)",
        );
    }
    for (locale, card) in &isu.images {
        let key = format!("isu.images.\"{locale}\"");
        if !(5..=15).contains(&card.images.len()) {
            bad(
                key.clone(),
                "5 to 15 image URLs, the first being the app logo",
            );
        }
        if card.images.iter().any(|u| !is_http_url(u)) {
            bad(key.clone(), "image URLs must be http(s) URLs");
        }
        if card.description.chars().count() > 200 {
            bad(key.clone(), "description is at most 200 characters");
        }
        if mentions_price(&card.description) {
            bad(
                key.clone(),
                "description must not mention a price: Roku adds pricing itself",
            );
        }
    }
    if isu.products.len() > 3 {
        bad("isu.products".into(), "at most 3 products");
    }
    let mut seen = HashSet::new();
    for (i, p) in isu.products.iter().enumerate() {
        let key = format!("isu.products[{i}]");
        if !seen.insert(p.id.as_str()) {
            bad(
                key.clone(),
                "one offer per product: this id is listed twice",
            );
        }
        if map.offer_for(&p.id).is_err() {
            bad(key.clone(), "id is not a product the mapping knows");
        }
        if p.desc.is_empty() || p.desc.chars().count() > 100 {
            bad(key.clone(), "desc is 1 to 100 characters");
        }
        if mentions_price(&p.desc) {
            bad(key.clone(), "desc must not carry billing information");
        }
    }
    problems
}
