//! The rate limiters' state (governor): a coarse per-client-IP budget meant to sit in front
//! of token verification, a per-customer budget after it, and a separate, unkeyed budget for
//! what Roku calls (pushes, Instant Signup) so a flood of device traffic can never make us
//! refuse Roku. The HTTP middleware that applies them lives with the router; this module
//! knows nothing of HTTP, so the reloadable live set can hold it without depending on the
//! web layer.
//!
//! Keyed limiters remember every key they have seen; [`Limits::shrink`], run every
//! `limits.retain_interval`, drops the ones whose budget has refilled, so memory follows the
//! number of recently active clients, not the number ever seen.

use std::{
    collections::HashMap,
    net::IpAddr,
    num::NonZeroU32,
    sync::Mutex,
    time::{Duration, Instant},
};

use governor::{
    DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock,
    clock::DefaultClock,
};

use crate::config::LimitsConfig;

/// A request over its budget: which budget, and how long until it would pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// `"ip"`, `"customer"` or `"roku"`: the label of the refusal metric.
    pub scope: &'static str,
    pub wait: Duration,
}

pub struct Limits {
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    per_customer: Option<DefaultKeyedRateLimiter<String>>,
    roku: Option<DefaultDirectRateLimiter>,
    /// Refused Roku-route requests per source: a source past it is turned away before any
    /// signature work, so forgeries never reach the shared budget.
    roku_refused: Option<DefaultKeyedRateLimiter<IpAddr>>,
    roku_blocked: Mutex<HashMap<IpAddr, Instant>>,
    /// Anonymous sign-ins by purchase per source: each one may cost a Roku call.
    anonymous_per_source: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// Failed password sign-ins per account, with a doubling lockout.
    sign_in_failures: Mutex<HashMap<String, Failures>>,
    sign_in_free_failures: u32,
    sign_in_max_lockout: Duration,
    trusted_proxies: Vec<ipnet::IpNet>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    locked_until: Instant,
}

/// Past this many remembered sources or accounts, expired entries are dropped at once rather
/// than at the next housekeeping pass, so a spray of addresses cannot grow the maps unbounded.
const MAX_REMEMBERED: usize = 100_000;

fn quota(per_second: u32, burst: u32) -> Option<Quota> {
    let rate = NonZeroU32::new(per_second)?;
    let burst = NonZeroU32::new(burst).unwrap_or(rate);
    Some(Quota::per_second(rate).allow_burst(burst))
}

fn limited(
    scope: &'static str,
    denied: governor::NotUntil<<DefaultClock as Clock>::Instant>,
) -> Limited {
    Limited {
        scope,
        wait: denied.wait_time_from(DefaultClock::default().now()),
    }
}

impl Limits {
    /// Zero per second switches a limiter off.
    pub fn new(config: &LimitsConfig) -> Self {
        Self {
            per_ip: quota(config.per_ip_per_second, config.per_ip_burst).map(RateLimiter::keyed),
            per_customer: quota(config.per_customer_per_second, config.per_customer_burst)
                .map(RateLimiter::keyed),
            roku: quota(config.roku_per_second, config.roku_burst).map(RateLimiter::direct),
            roku_refused: quota(
                config.roku_refused_per_source_per_second,
                config.roku_refused_per_source_burst,
            )
            .map(RateLimiter::keyed),
            roku_blocked: Mutex::default(),
            anonymous_per_source: quota(
                config.anonymous_sign_in_per_source_per_second,
                config.anonymous_sign_in_per_source_burst,
            )
            .map(RateLimiter::keyed),
            sign_in_failures: Mutex::default(),
            sign_in_free_failures: config.sign_in_free_failures,
            sign_in_max_lockout: config.sign_in_max_lockout,
            trusted_proxies: config.trusted_proxies.clone(),
        }
    }

    /// A source whose refused Roku-route requests went past its budget is turned away until
    /// the budget refills: the check is a map lookup, far cheaper than a signature.
    pub fn check_roku_source(&self, source: IpAddr) -> Result<(), Limited> {
        let blocked = self.roku_blocked.lock().unwrap_or_else(|p| p.into_inner());
        match blocked.get(&source) {
            Some(until) if *until > Instant::now() => Err(Limited {
                scope: "roku_source",
                wait: *until - Instant::now(),
            }),
            _ => Ok(()),
        }
    }

    /// Charges one refused (unsigned, forged, malformed) request to its source.
    pub fn charge_roku_refusal(&self, source: IpAddr) {
        let Some(limiter) = &self.roku_refused else {
            return;
        };
        if let Err(denied) = limiter.check_key(&source) {
            let wait = limited("roku_source", denied)
                .wait
                .max(Duration::from_secs(1));
            let mut blocked = self.roku_blocked.lock().unwrap_or_else(|p| p.into_inner());
            if blocked.len() >= MAX_REMEMBERED {
                let now = Instant::now();
                blocked.retain(|_, until| *until > now);
            }
            blocked.insert(source, Instant::now() + wait);
        }
    }

    /// The per-source budget of anonymous sign-ins by purchase.
    pub fn check_anonymous_source(&self, source: IpAddr) -> Result<(), Limited> {
        match &self.anonymous_per_source {
            Some(limiter) => limiter
                .check_key(&source)
                .map_err(|denied| limited("anonymous", denied)),
            None => Ok(()),
        }
    }

    /// Whether `account` (a normalised email) may try a password now.
    pub fn check_sign_in(&self, account: &str) -> Result<(), Limited> {
        let failures = self
            .sign_in_failures
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match failures.get(account) {
            Some(f) if f.locked_until > Instant::now() => Err(Limited {
                scope: "account",
                wait: f.locked_until - Instant::now(),
            }),
            _ => Ok(()),
        }
    }

    /// A wrong password for `account`: past the free failures, each one doubles the lockout
    /// (1 s, 2 s, 4 s… up to `sign_in_max_lockout`), whichever address the guesses come from.
    pub fn record_sign_in_failure(&self, account: &str) {
        let mut failures = self
            .sign_in_failures
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if failures.len() >= MAX_REMEMBERED {
            let max = self.sign_in_max_lockout;
            failures.retain(|_, f| f.locked_until + max > now);
        }
        let entry = failures.entry(account.to_string()).or_insert(Failures {
            count: 0,
            locked_until: now,
        });
        entry.count = entry.count.saturating_add(1);
        if entry.count > self.sign_in_free_failures {
            let doublings = (entry.count - self.sign_in_free_failures - 1).min(20);
            let lockout = Duration::from_secs(1u64 << doublings).min(self.sign_in_max_lockout);
            entry.locked_until = now + lockout;
        }
    }

    /// A successful sign-in forgets the account's failures.
    pub fn record_sign_in_success(&self, account: &str) {
        self.sign_in_failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(account);
    }

    /// The client: the peer, or — only when the peer is a trusted proxy — the nearest address
    /// in `X-Forwarded-For` that is not one of ours. Anyone can write that header.
    pub fn client_ip(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        if !self.is_trusted(peer) {
            return peer;
        }
        let Some(chain) = forwarded_for else {
            return peer;
        };
        chain
            .rsplit(',')
            .filter_map(|hop| hop.trim().parse::<IpAddr>().ok())
            .find(|ip| !self.is_trusted(*ip))
            .unwrap_or(peer)
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }

    /// The per-IP budget of the client behind `peer` (see [`Limits::client_ip`]).
    pub fn check_ip(&self, peer: IpAddr, forwarded_for: Option<&str>) -> Result<(), Limited> {
        let Some(limiter) = &self.per_ip else {
            return Ok(());
        };
        limiter
            .check_key(&self.client_ip(peer, forwarded_for))
            .map_err(|denied| limited("ip", denied))
    }

    pub fn check_customer(&self, customer_id: &str) -> Result<(), Limited> {
        let Some(limiter) = &self.per_customer else {
            return Ok(());
        };
        limiter
            .check_key(&customer_id.to_string())
            .map_err(|denied| limited("customer", denied))
    }

    /// The one budget shared by everything Roku calls, charged only for what verified.
    pub fn check_roku(&self) -> Result<(), Limited> {
        match &self.roku {
            Some(limiter) => limiter.check().map_err(|denied| limited("roku", denied)),
            None => Ok(()),
        }
    }

    /// Keys held by the keyed limiters (for the metrics and the memory benchmark).
    pub fn keys(&self) -> usize {
        self.per_ip.as_ref().map_or(0, |l| l.len())
            + self.per_customer.as_ref().map_or(0, |l| l.len())
    }

    /// Forgets the keys whose budget has fully refilled: they would behave as new ones anyway.
    pub fn shrink(&self) {
        if let Some(l) = &self.per_ip {
            l.retain_recent();
            l.shrink_to_fit();
        }
        if let Some(l) = &self.per_customer {
            l.retain_recent();
            l.shrink_to_fit();
        }
        for l in [&self.roku_refused, &self.anonymous_per_source]
            .into_iter()
            .flatten()
        {
            l.retain_recent();
            l.shrink_to_fit();
        }
        let now = Instant::now();
        self.roku_blocked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, until| *until > now);
        let max = self.sign_in_max_lockout;
        self.sign_in_failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, f| f.locked_until + max > now);
        metrics::gauge!("roku_bridge_rate_limiter_keys").set(self.keys() as f64);
    }
}

/// The process-wide bound on requests in flight: one pool for everything, and a reserved
/// share only verified Roku pushes may use once the pool is full, so a flood of device or
/// forged traffic can never make us refuse Roku.
pub struct Admission {
    general: std::sync::Arc<tokio::sync::Semaphore>,
    reserved: std::sync::Arc<tokio::sync::Semaphore>,
}

pub type Permit = tokio::sync::OwnedSemaphorePermit;

impl Admission {
    /// `max_concurrency` in all, `reserved` of them (at most a quarter) kept for verified
    /// Roku pushes.
    pub fn new(max_concurrency: usize, reserved: usize) -> Self {
        let reserved = reserved.min(max_concurrency / 4);
        Self {
            general: std::sync::Arc::new(tokio::sync::Semaphore::new(max_concurrency - reserved)),
            reserved: std::sync::Arc::new(tokio::sync::Semaphore::new(reserved)),
        }
    }

    /// A slot for any request, or `None` at capacity (shed, never queued).
    pub fn admit(&self) -> Option<Permit> {
        self.general.clone().try_acquire_owned().ok()
    }

    /// A slot for a push that verified: the shared pool, else the reserved share.
    pub fn admit_verified_roku(&self) -> Option<Permit> {
        self.admit()
            .or_else(|| self.reserved.clone().try_acquire_owned().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(proxies: &[&str]) -> Limits {
        Limits::new(&LimitsConfig {
            trusted_proxies: proxies.iter().map(|p| p.parse().unwrap()).collect(),
            ..LimitsConfig::default()
        })
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let peer: IpAddr = "10.0.0.5".parse().unwrap();
        let xff = Some("198.51.100.7, 203.0.113.9, 10.0.0.2");
        // Untrusted peer: its header is ignored, whatever it says.
        assert_eq!(limits(&[]).client_ip(peer, xff), peer);
        // Trusted: the nearest hop that is not ours.
        let l = limits(&["10.0.0.0/8"]);
        assert_eq!(
            l.client_ip(peer, xff),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(l.client_ip(peer, None), peer);
        assert_eq!(l.client_ip(peer, Some("garbage, 10.0.0.9")), peer);
    }

    #[test]
    fn verified_roku_pushes_keep_a_share_of_a_full_pool() {
        let admission = Admission::new(12, 1);
        let held: Vec<_> = (0..11).map(|_| admission.admit().unwrap()).collect();
        assert!(admission.admit().is_none(), "the shared pool is full");
        let roku = admission.admit_verified_roku().expect("the reserved share");
        assert!(admission.admit_verified_roku().is_none());
        drop((held, roku));
        assert!(admission.admit().is_some());
    }

    #[test]
    fn failed_sign_ins_lock_the_account_with_a_doubling_wait() {
        let l = Limits::new(&LimitsConfig {
            sign_in_free_failures: 2,
            ..LimitsConfig::default()
        });
        for _ in 0..2 {
            l.record_sign_in_failure("ann@example.com");
            assert!(l.check_sign_in("ann@example.com").is_ok());
        }
        l.record_sign_in_failure("ann@example.com");
        let first = l.check_sign_in("ann@example.com").unwrap_err();
        assert_eq!(first.scope, "account");
        l.record_sign_in_failure("ann@example.com");
        let second = l.check_sign_in("ann@example.com").unwrap_err();
        assert!(second.wait > first.wait, "{second:?} after {first:?}");
        assert!(l.check_sign_in("bob@example.com").is_ok());
        l.record_sign_in_success("ann@example.com");
        assert!(l.check_sign_in("ann@example.com").is_ok());
    }

    #[test]
    fn a_source_of_refused_pushes_is_turned_away_and_others_are_not() {
        let l = Limits::new(&LimitsConfig {
            roku_refused_per_source_per_second: 1,
            roku_refused_per_source_burst: 3,
            ..LimitsConfig::default()
        });
        let forger: IpAddr = "198.51.100.1".parse().unwrap();
        for _ in 0..3 {
            l.charge_roku_refusal(forger);
            assert!(l.check_roku_source(forger).is_ok());
        }
        l.charge_roku_refusal(forger);
        assert_eq!(
            l.check_roku_source(forger).unwrap_err().scope,
            "roku_source"
        );
        assert!(l.check_roku_source("203.0.113.5".parse().unwrap()).is_ok());
    }

    #[test]
    fn keyed_memory_is_released_once_budgets_refill() {
        let clock = governor::clock::FakeRelativeClock::default();
        let limiter = RateLimiter::dashmap_with_clock(quota(5, 10).unwrap(), clock.clone());
        for i in 0..100_000u32 {
            let _ = limiter.check_key(&i);
        }
        assert_eq!(limiter.len(), 100_000);
        clock.advance(Duration::from_secs(3));
        limiter.retain_recent();
        assert_eq!(
            limiter.len(),
            0,
            "every budget refilled: nothing to remember"
        );
    }

    #[test]
    fn the_customer_budget_refuses_with_a_wait() {
        let l = Limits::new(&LimitsConfig {
            per_customer_per_second: 1,
            per_customer_burst: 2,
            ..LimitsConfig::default()
        });
        assert!(l.check_customer("c1").is_ok());
        assert!(l.check_customer("c1").is_ok());
        let refused = l.check_customer("c1").unwrap_err();
        assert_eq!(refused.scope, "customer");
        assert!(refused.wait > Duration::ZERO);
        assert!(l.check_customer("c2").is_ok(), "budgets are per customer");
    }
}
