//! Rate limits (governor): a coarse per-client-IP budget in front of token verification, a
//! per-customer budget after it, and a separate, unkeyed budget for what Roku calls (pushes,
//! Instant Signup) so a flood of device traffic can never make us refuse Roku.
//!
//! Keyed limiters remember every key they have seen; a task drops the ones whose budget has
//! refilled (`retain_recent`) every `limits.retain_interval`, so memory follows the number of
//! recently active clients, not the number ever seen.

use std::{
    net::{IpAddr, SocketAddr},
    num::NonZeroU32,
    sync::Arc,
    time::Duration,
};

use axum::{
    extract::{ConnectInfo, Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use governor::{
    DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock,
    clock::DefaultClock,
};

use super::error::ApiError;
use crate::{config::LimitsConfig, reload::LiveConfig};

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

    pub fn check_customer(&self, customer_id: &str) -> Result<(), ApiError> {
        let Some(limiter) = &self.per_customer else {
            return Ok(());
        };
        limiter
            .check_key(&customer_id.to_string())
            .map_err(|denied| {
                too_many(
                    "customer",
                    denied.wait_time_from(DefaultClock::default().now()),
                )
            })
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

    /// Runs [`Limits::shrink`] on the live limits every `every`, while the bridge runs.
    pub fn spawn_housekeeping(live: &LiveConfig, every: Duration) {
        let weak = Arc::downgrade(live);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                match weak.upgrade() {
                    Some(live) => live.load().limits.shrink(),
                    None => break,
                }
            }
        });
    }
}

fn too_many(scope: &'static str, wait: Duration) -> ApiError {
    metrics::counter!("roku_bridge_rate_limited_total", "scope" => scope).increment(1);
    // Whole seconds, rounded up: Retry-After has no finer unit.
    let after = Duration::from_secs(wait.as_secs() + u64::from(wait.subsec_nanos() > 0));
    ApiError::new(
        axum::http::StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "Too many requests; slow down and retry after the delay given.",
    )
    .with_retry_after(after.max(Duration::from_secs(1)))
}

/// Middleware for the device API: the per-IP budget, before any token is verified.
pub async fn per_ip(State(live): State<LiveConfig>, request: Request, next: Next) -> Response {
    let live = live.load();
    let limits = &live.limits;
    if let Some(limiter) = &limits.per_ip
        && let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>()
    {
        let forwarded = request
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok());
        let ip = limits.client_ip(peer.ip(), forwarded);
        if let Err(denied) = limiter.check_key(&ip) {
            return too_many("ip", denied.wait_time_from(DefaultClock::default().now()))
                .into_response();
        }
    }
    next.run(request).await
}

/// Middleware for what Roku calls: one shared budget, sized above what Roku sends.
pub async fn roku(State(live): State<LiveConfig>, request: Request, next: Next) -> Response {
    if let Some(limiter) = &live.load().limits.roku
        && let Err(denied) = limiter.check()
    {
        return too_many("roku", denied.wait_time_from(DefaultClock::default().now()))
            .into_response();
    }
    next.run(request).await
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
    fn the_customer_budget_refuses_with_a_retry_after() {
        let l = Limits::new(&LimitsConfig {
            per_customer_per_second: 1,
            per_customer_burst: 2,
            ..LimitsConfig::default()
        });
        assert!(l.check_customer("c1").is_ok());
        assert!(l.check_customer("c1").is_ok());
        let refused = l.check_customer("c1").unwrap_err();
        assert_eq!(refused.status, axum::http::StatusCode::TOO_MANY_REQUESTS);
        assert!(refused.retry_after.is_some());
        assert!(l.check_customer("c2").is_ok(), "budgets are per customer");
    }
}
