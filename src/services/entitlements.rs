//! Entitlement answers from a moka cache that never stampedes the provider.
//!
//! Keys are (provider customer id, offer id). An answer is fresh for `granted_ttl` or
//! `not_granted_ttl`; past that it is refreshed, and while the provider is down the old answer
//! is served, marked stale, for up to `stale_if_error` more. moka's own expiry is set to
//! TTL + stale window so that the stale copy is still there to serve.
//!
//! Concurrent misses of one key share one provider call: they go through a second, tiny moka
//! cache used only for its `try_get_with` coalescing (moka does not cache the error, and all
//! waiters of a failed fetch get that same error instead of retrying one after another).

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime},
};

use moka::{Expiry, future::Cache, ops::compute::Op};
use tokio::time::Instant;

use crate::{
    config::EntitlementsConfig,
    provider::{Access, Provider, ProviderError},
};

pub type Key = (String, String);

#[derive(Debug, Clone, Copy)]
struct Entry {
    access: Access,
    checked_at: SystemTime,
    /// When the fetch that produced this answer started: a later answer never loses to it.
    fetched: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lookup {
    pub access: Access,
    pub checked_at: SystemTime,
    /// The provider could not be asked; this is the last answer it gave.
    pub stale: bool,
}

#[derive(Debug, Clone, Copy)]
struct Ttls {
    granted: Duration,
    not_granted: Duration,
    stale: Duration,
}

impl Ttls {
    fn fresh_for(&self, entry: &Entry) -> Duration {
        if entry.access.granted {
            self.granted
        } else {
            self.not_granted
        }
    }
}

impl Expiry<Key, Entry> for Ttls {
    fn expire_after_create(
        &self,
        _: &Key,
        value: &Entry,
        _: std::time::Instant,
    ) -> Option<Duration> {
        Some(self.fresh_for(value) + self.stale)
    }

    fn expire_after_update(
        &self,
        _: &Key,
        value: &Entry,
        _: std::time::Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(self.fresh_for(value) + self.stale)
    }
}

/// Counters for the metrics endpoint and the benchmarks.
#[derive(Debug, Default)]
pub struct CacheStats {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub stale_served: AtomicU64,
    pub provider_calls: AtomicU64,
}

pub struct Entitlements {
    cache: Cache<Key, Entry>,
    inflight: Cache<Key, Entry>,
    provider: Arc<dyn Provider>,
    ttls: Ttls,
    fetch_timeout: Duration,
    pub stats: CacheStats,
}

impl Entitlements {
    pub fn new(
        config: &EntitlementsConfig,
        provider: Arc<dyn Provider>,
        fetch_timeout: Duration,
    ) -> Self {
        let ttls = Ttls {
            granted: config.granted_ttl,
            not_granted: config.not_granted_ttl,
            stale: config.stale_if_error,
        };
        Self {
            cache: Cache::builder()
                .name("entitlements")
                .max_capacity(config.max_capacity)
                .expire_after(ttls)
                .support_invalidation_closures()
                .build(),
            // Entries live here only between a fetch finishing and its waiters reading it.
            inflight: Cache::builder()
                .max_capacity(config.max_capacity.min(100_000))
                .time_to_live(Duration::from_secs(1))
                .build(),
            provider,
            ttls,
            fetch_timeout,
            stats: CacheStats::default(),
        }
    }

    pub async fn lookup(&self, customer_id: &str, offer_id: &str) -> Result<Lookup, ProviderError> {
        let key = (customer_id.to_string(), offer_id.to_string());
        let current = self.cache.get(&key).await;
        if let Some(entry) = current
            && entry.fetched.elapsed() < self.ttls.fresh_for(&entry)
        {
            self.stats.hits.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("roku_bridge_entitlement_cache_total", "result" => "hit")
                .increment(1);
            return Ok(fresh(entry));
        }
        self.stats.misses.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("roku_bridge_entitlement_cache_total", "result" => "miss").increment(1);
        let fetched = self
            .inflight
            .try_get_with(key.clone(), self.fetch(key.clone()))
            .await;
        match fetched {
            Ok(entry) => {
                self.inflight.invalidate(&key).await;
                Ok(fresh(entry))
            }
            Err(error) => match current {
                Some(entry) => {
                    self.stats.stale_served.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("roku_bridge_entitlement_cache_total", "result" => "stale")
                        .increment(1);
                    Ok(Lookup {
                        access: entry.access,
                        checked_at: entry.checked_at,
                        stale: true,
                    })
                }
                None => Err((*error).clone()),
            },
        }
    }

    /// What a confirmed payment learned: cached at once, so the next check needs no provider call.
    pub async fn record(&self, customer_id: &str, offer_id: &str, access: Access) {
        let key = (customer_id.to_string(), offer_id.to_string());
        self.store(
            key,
            Entry {
                access,
                checked_at: SystemTime::now(),
                fetched: Instant::now(),
            },
        )
        .await;
    }

    pub async fn invalidate(&self, customer_id: &str, offer_id: &str) {
        let key = (customer_id.to_string(), offer_id.to_string());
        self.inflight.invalidate(&key).await;
        self.cache.invalidate(&key).await;
    }

    /// Forgets every answer of one customer, whatever the offer (moka applies it lazily, but
    /// no read sees an entry the predicate matched).
    pub fn invalidate_customer(&self, customer_id: &str) {
        let customer = customer_id.to_string();
        if let Err(e) = self
            .cache
            .invalidate_entries_if(move |key, _| key.0 == customer)
        {
            // Only when the cache was built without closures: forget everything instead.
            tracing::warn!(error = %e, "customer not invalidated alone");
            self.cache.invalidate_all();
        }
    }

    /// Forgets everything: after missing other replicas' invalidations, nothing cached is
    /// known to be current.
    pub fn invalidate_all(&self) {
        self.cache.invalidate_all();
        self.inflight.invalidate_all();
    }

    /// Cached answers (moka's estimate: it settles pending work lazily).
    pub fn entry_count(&self) -> u64 {
        self.cache.entry_count()
    }

    async fn fetch(&self, key: Key) -> Result<Entry, ProviderError> {
        let started = Instant::now();
        self.stats.provider_calls.fetch_add(1, Ordering::Relaxed);
        let access = tokio::time::timeout(self.fetch_timeout, self.provider.access(&key.0, &key.1))
            .await
            .map_err(|_| ProviderError::unavailable("access check timed out"))??;
        let entry = Entry {
            access,
            checked_at: SystemTime::now(),
            fetched: started,
        };
        Ok(self.store(key, entry).await)
    }

    /// Inserts unless a newer answer is already there (a grant recorded while this fetch was
    /// on the wire must not be overwritten by the older "not granted"). Returns what is cached.
    async fn store(&self, key: Key, entry: Entry) -> Entry {
        let result = self
            .cache
            .entry(key)
            .and_compute_with(|current| {
                let op = match current {
                    Some(c) if c.value().fetched > entry.fetched => Op::Nop,
                    _ => Op::Put(entry),
                };
                std::future::ready(op)
            })
            .await;
        match result {
            moka::ops::compute::CompResult::Unchanged(kept) => *kept.value(),
            _ => entry,
        }
    }
}

fn fresh(entry: Entry) -> Lookup {
    Lookup {
        access: entry.access,
        checked_at: entry.checked_at,
        stale: false,
    }
}
