//! Memory figures for `bench/run.sh` (the product's memory target): RSS of one million cached entitlement
//! answers, and of the rate limiters under key churn. In-process; RSS is VmRSS from
//! /proc/self/status. Uses the bridge's allocator (mimalloc), as `src/main.rs` does.
//!
//! Each part runs in a fresh child process of this same binary, so memory one part frees (and
//! the allocator keeps or returns lazily) does not blur the next part's figure.
//!
//! cargo run --release --example memory -- [entries] [--json]

use std::{
    net::{IpAddr, Ipv4Addr},
    num::NonZeroU32,
    sync::Arc,
    time::Duration,
};

use governor::{Quota, RateLimiter};
use roku_bridge::{
    config::{EntitlementsConfig, LimitsConfig, ProviderConfig},
    limits::Limits,
    provider::Access,
    services::entitlements::Entitlements,
};
use serde_json::json;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args
        .iter()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let as_json = args.iter().any(|a| a == "--json");
    let part = args
        .iter()
        .skip(1)
        .find(|a| ["cache", "hashmap", "ip", "customer"].contains(&a.as_str()));
    let result = match part.map(String::as_str) {
        Some("cache") => cache_part(n).await?,
        Some("hashmap") => hashmap_part(n).await?,
        Some("ip") => limiters_part(n).await?,
        Some("customer") => customer_part(n).await?,
        _ => {
            let mut merged = json!({"entries": n});
            for part in ["cache", "hashmap", "ip", "customer"] {
                let out = std::process::Command::new(std::env::current_exe()?)
                    .args([part, &n.to_string()])
                    .stderr(std::process::Stdio::inherit())
                    .output()?;
                anyhow::ensure!(out.status.success(), "memory {part} failed");
                let value: serde_json::Value = serde_json::from_slice(&out.stdout)?;
                for (k, v) in value.as_object().unwrap() {
                    merged[k] = v.clone();
                }
            }
            merged
        }
    };
    if as_json || part.is_some() {
        println!("{result}");
    } else {
        println!("{}", serde_json::to_string_pretty(&result)?);
    }
    Ok(())
}

async fn cache_part(n: usize) -> anyhow::Result<serde_json::Value> {
    // 1. The entitlement cache, with the bridge's defaults (max_capacity 1 000 000), raised to
    //    hold every answer when more are asked for: past its capacity the cache evicts, and
    //    the figure would measure the bound instead of the cost per answer.
    let provider = roku_bridge::provider::from_config(&ProviderConfig::default())?;
    let mut config = EntitlementsConfig::default();
    config.max_capacity = config.max_capacity.max(n as u64);
    let before = rss_mb();
    let cache = Arc::new(Entitlements::new(
        &config,
        provider,
        Duration::from_secs(11),
    ));
    // Realistic key sizes: Cleeng customer ids are 9–10 digits, offer ids like S598742062_US.
    let offers = ["S598742062_US", "S705970293_US"];
    let workers = 4;
    let mut tasks = Vec::new();
    for w in 0..workers {
        let cache = cache.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = w;
            while i < n {
                let access = Access {
                    granted: i % 3 != 0,
                    expires_at: Some(1_798_000_000 + i as i64),
                };
                cache
                    .record(
                        &format!("{:010}", 900_000_000 + i / 2),
                        offers[i % 2],
                        access,
                    )
                    .await;
                i += workers;
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    // moka settles its bookkeeping lazily; give it a moment, then read.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let count = cache.entry_count();
    let after = rss_mb();
    let cache_mb = after - before;
    let per_million = cache_mb * 1_000_000.0 / n as f64;
    let probe = cache
        .lookup(&format!("{:010}", 900_000_000 + 1), offers[1])
        .await;
    anyhow::ensure!(
        probe.is_ok(),
        "a recorded answer must be served from the cache"
    );
    let hits = cache.stats.hits.load(std::sync::atomic::Ordering::Relaxed);
    Ok(json!({"entitlements": {
        "rss_before_mb": before, "rss_after_mb": after, "entry_count": count,
        "cache_mb": cache_mb, "mb_per_million": per_million,
        "bytes_per_entry": cache_mb * 1048576.0 / n as f64, "probe_hits": hits,
    }}))
}

/// The baseline for the cache figure: the same keys and same-sized values in a plain std
/// HashMap (no expiry, no eviction policy, no concurrency).
async fn hashmap_part(n: usize) -> anyhow::Result<serde_json::Value> {
    type Value = (Access, std::time::SystemTime, tokio::time::Instant);
    let offers = ["S598742062_US", "S705970293_US"];
    let before = rss_mb();
    let mut map: std::collections::HashMap<(String, String), Value> =
        std::collections::HashMap::with_capacity(n);
    for i in 0..n {
        let access = Access {
            granted: i % 3 != 0,
            expires_at: Some(1_798_000_000 + i as i64),
        };
        map.insert(
            (
                format!("{:010}", 900_000_000 + i / 2),
                offers[i % 2].to_string(),
            ),
            (
                access,
                std::time::SystemTime::now(),
                tokio::time::Instant::now(),
            ),
        );
    }
    let after = rss_mb();
    let len = map.len();
    std::hint::black_box(&map);
    Ok(json!({"hashmap": {
        "rss_before_mb": before, "rss_after_mb": after, "len": len,
        "mb_per_million": (after - before) * 1_000_000.0 / n as f64,
        "bytes_per_entry": (after - before) * 1048576.0 / n as f64,
    }}))
}

async fn limiters_part(n: usize) -> anyhow::Result<serde_json::Value> {
    // 2. The per-IP limiter, as the bridge builds it (governor keyed by IpAddr,
    //    limits.per_ip_per_second = 100, per_ip_burst = 200): a full budget refills in 2 s.
    let ip_limiter = RateLimiter::keyed(
        Quota::per_second(NonZeroU32::new(100).unwrap()).allow_burst(NonZeroU32::new(200).unwrap()),
    );
    let base = rss_mb();
    let churn = |round: u32| {
        for i in 0..n as u32 {
            // Distinct addresses per round: 10.x.y.z, then 11.x.y.z, …
            let ip = IpAddr::V4(Ipv4Addr::from((10 + round) << 24 | i));
            let _ = ip_limiter.check_key(&ip);
        }
    };
    churn(0);
    let ip_keys_peak = ip_limiter.len();
    let ip_after_fill = rss_mb();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    ip_limiter.retain_recent();
    ip_limiter.shrink_to_fit();
    let ip_keys_after_retain = ip_limiter.len();
    let ip_after_retain = rss_mb();
    // A second, entirely new million: memory must not ratchet up.
    churn(1);
    let ip_after_second_fill = rss_mb();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    ip_limiter.retain_recent();
    ip_limiter.shrink_to_fit();
    let ip_after_second_retain = rss_mb();
    drop(ip_limiter);

    Ok(json!({"ip_limiter": {
        "rss_base_mb": base, "keys_peak": ip_keys_peak, "rss_after_fill_mb": ip_after_fill,
        "grown_mb": ip_after_fill - base,
        "bytes_per_key": (ip_after_fill - base) * 1048576.0 / ip_keys_peak.max(1) as f64,
        "keys_after_retain": ip_keys_after_retain, "rss_after_retain_mb": ip_after_retain,
        "rss_after_second_fill_mb": ip_after_second_fill,
        "rss_after_second_retain_mb": ip_after_second_retain,
    }}))
}

async fn customer_part(n: usize) -> anyhow::Result<serde_json::Value> {
    // 3. The bridge's own Limits (per-customer limiter, keyed by String, 20/s burst 60: a
    //    full budget refills in 3 s) through its public check and its housekeeping `shrink()`.
    let limits = Limits::new(&LimitsConfig {
        per_customer_per_second: 20,
        per_customer_burst: 60,
        ..LimitsConfig::default()
    });
    let cbase = rss_mb();
    for i in 0..n {
        let _ = limits.check_customer(&format!("{:010}", 900_000_000 + i));
    }
    let cust_keys_peak = limits.keys();
    let cust_after_fill = rss_mb();
    tokio::time::sleep(Duration::from_millis(3100)).await;
    limits.shrink();
    let cust_keys_after_shrink = limits.keys();
    let cust_after_shrink = rss_mb();

    Ok(json!({
        "customer_limiter": {
            "rss_base_mb": cbase, "keys_peak": cust_keys_peak, "rss_after_fill_mb": cust_after_fill,
            "grown_mb": cust_after_fill - cbase,
            "bytes_per_key": (cust_after_fill - cbase) * 1048576.0 / cust_keys_peak.max(1) as f64,
            "keys_after_shrink": cust_keys_after_shrink, "rss_after_shrink_mb": cust_after_shrink,
        },
    }))
}
