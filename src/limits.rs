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

use std::{net::IpAddr, num::NonZeroU32, time::Duration};

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
    trusted_proxies: Vec<ipnet::IpNet>,
}

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
            trusted_proxies: config.trusted_proxies.clone(),
        }
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

    /// The one budget shared by everything Roku calls.
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
        metrics::gauge!("roku_bridge_rate_limiter_keys").set(self.keys() as f64);
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
