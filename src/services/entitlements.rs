//! Entitlement answers from a bounded cache that never stampedes the provider.
//!
//! Keys are (provider customer id, offer id). An answer is fresh for `granted_ttl` or
//! `not_granted_ttl`; past that it is refreshed, and while the provider is down the old answer
//! is served, marked stale, for up to `stale_if_error` more. The answers live in a
//! [`BoundedCache`] (a million of them in about a third of moka's memory): each read applies
//! the answer's own bound (a "not granted" is never served past its shorter one), and an
//! answer past TTL + stale window is the first to make room for a new one.
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

use moka::future::Cache;
use tokio::time::Instant;

use crate::{
    bounded_cache::BoundedCache,
    config::EntitlementsConfig,
    domain::time::EpochMs,
    provider::{Access, Provider, ProviderError},
};

/// (provider customer id, offer id) in one allocation: a million of these are the cache's
/// memory, and two `String`s cost twice the inline bytes and two heap blocks. The split index
/// keeps the pair unambiguous whatever characters the ids hold.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    text: Box<str>,
    split: u32,
}

impl Key {
    fn new(customer_id: &str, offer_id: &str) -> Self {
        let mut text = String::with_capacity(customer_id.len() + offer_id.len());
        text.push_str(customer_id);
        text.push_str(offer_id);
        Self {
            text: text.into_boxed_str(),
            split: u32::try_from(customer_id.len()).unwrap_or(u32::MAX),
        }
    }

    fn customer(&self) -> &str {
        &self.text[..self.split as usize]
    }

    fn offer(&self) -> &str {
        &self.text[self.split as usize..]
    }
}

/// A cached answer, 32 bytes: both instants are stored as integers (wall clock in epoch
/// milliseconds for the answer's `checkedAt`; the monotonic fetch start as nanoseconds since
/// the cache was built, for "a later answer never loses to an older one").
#[derive(Debug, Clone, Copy)]
struct Entry {
    access: Access,
    checked_at: EpochMs,
    /// When the fetch that produced this answer started: a later answer never loses to it.
    fetched: Stamp,
}

/// Nanoseconds since the cache's own epoch (`Entitlements::epoch`), on tokio's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Stamp(u64);

impl Stamp {
    fn now(epoch: Instant) -> Self {
        Self(u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }
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

    /// How long an answer is kept at all: fresh, then servable as stale while the provider
    /// is down. Past this it is only taking up room.
    fn kept_for(&self, entry: &Entry) -> Duration {
        self.fresh_for(entry) + self.stale
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
    epoch: Instant,
    cache: BoundedCache<Key, Entry>,
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
        let epoch = Instant::now();
        Self {
            epoch,
            // An answer past its TTL and stale window is only taking up room.
            cache: BoundedCache::new(
                usize::try_from(config.max_capacity).unwrap_or(usize::MAX),
                move |entry: &Entry| age(epoch, entry) >= ttls.kept_for(entry),
            ),
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
        let key = Key::new(customer_id, offer_id);
        let current = self
            .cache
            .get(&key)
            .filter(|entry| self.age(entry) < self.ttls.kept_for(entry));
        if let Some(entry) = current
            && self.age(&entry) < self.ttls.fresh_for(&entry)
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
                        stale: true,
                        ..fresh(entry)
                    })
                }
                None => Err((*error).clone()),
            },
        }
    }

    /// What a confirmed payment learned: cached at once, so the next check needs no provider call.
    pub async fn record(&self, customer_id: &str, offer_id: &str, access: Access) {
        let entry = Entry {
            access,
            checked_at: EpochMs::now(),
            fetched: self.stamp(),
        };
        self.store(Key::new(customer_id, offer_id), entry);
    }

    pub async fn invalidate(&self, customer_id: &str, offer_id: &str) {
        let key = Key::new(customer_id, offer_id);
        self.inflight.invalidate(&key).await;
        self.cache.remove(&key);
    }

    /// Forgets every answer of one customer, whatever the offer. A sign-out or a push is rare
    /// next to lookups, so a pass over every shard (each locked in turn, briefly) is cheap.
    pub fn invalidate_customer(&self, customer_id: &str) {
        self.cache.retain(|key, _| key.customer() != customer_id);
    }

    /// Forgets everything: after missing other replicas' invalidations, nothing cached is
    /// known to be current.
    pub fn invalidate_all(&self) {
        self.cache.clear();
        self.inflight.invalidate_all();
    }

    /// Answers held, including any past their bounds that no read or new answer has
    /// displaced yet.
    pub fn entry_count(&self) -> u64 {
        self.cache.len() as u64
    }

    fn stamp(&self) -> Stamp {
        Stamp::now(self.epoch)
    }

    fn age(&self, entry: &Entry) -> Duration {
        age(self.epoch, entry)
    }

    async fn fetch(&self, key: Key) -> Result<Entry, ProviderError> {
        let started = self.stamp();
        self.stats.provider_calls.fetch_add(1, Ordering::Relaxed);
        let access = tokio::time::timeout(
            self.fetch_timeout,
            self.provider.access(key.customer(), key.offer()),
        )
        .await
        .map_err(|_| ProviderError::unavailable("access check timed out"))??;
        let entry = Entry {
            access,
            checked_at: EpochMs::now(),
            fetched: started,
        };
        Ok(self.store(key, entry))
    }

    /// Inserts unless a newer answer is already there (a grant recorded while this fetch was
    /// on the wire must not be overwritten by the older "not granted"). Returns what is cached.
    fn store(&self, key: Key, entry: Entry) -> Entry {
        self.cache.upsert_with(key, |current| match current {
            Some(newer) if newer.fetched > entry.fetched => newer,
            _ => entry,
        })
    }
}

/// How long ago the fetch behind `entry` started.
fn age(epoch: Instant, entry: &Entry) -> Duration {
    Duration::from_nanos(Stamp::now(epoch).0.saturating_sub(entry.fetched.0))
}

fn fresh(entry: Entry) -> Lookup {
    Lookup {
        access: entry.access,
        checked_at: entry.checked_at.to_system(),
        stale: false,
    }
}
