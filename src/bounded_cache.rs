//! A bounded map of small `Copy` values, sharded behind short mutexes: the store of the
//! entitlement answers.
//!
//! Why not moka (which the bridge still uses for small caches): a million answers cost about
//! 380 bytes each there, most of it per-entry bookkeeping (an `Arc` of the key, an entry-info
//! block, deque nodes for access order and for expiry, the hash-table bucket). Here an answer
//! costs its key, its value, a use stamp and an index slot: about a third of that.
//!
//! The policy, and why it is enough for answers that are cheap to refetch:
//! - **Bounded**: never more than `capacity` entries. A new key in a full shard evicts one.
//! - **Expired first, then least recently used, approximately**: the victim is the worst of a
//!   few entries sampled at random (Redis's approximated LRU). An entry the caller's `expired`
//!   test marks as done always loses to one still useful.
//! - **Expiry is the caller's**: values carry their own time bounds and the caller filters on
//!   read; a dead entry holds its slot only until it is read or sampled, and the bound holds
//!   regardless.

use std::{
    hash::{BuildHasher, Hash},
    sync::{Mutex, MutexGuard},
};

use indexmap::IndexMap;

/// Entries compared when a full shard must give one up.
const SAMPLE: usize = 5;
/// Shards once the capacity is large enough that each holds a useful number of entries.
const SHARDS: usize = 64;

type Expired<V> = Box<dyn Fn(&V) -> bool + Send + Sync>;

pub struct BoundedCache<K, V> {
    shards: Box<[Mutex<Shard<K, V>>]>,
    per_shard: usize,
    hasher: foldhash::fast::RandomState,
    expired: Expired<V>,
}

struct Shard<K, V> {
    entries: IndexMap<K, Slot<V>, foldhash::fast::RandomState>,
    /// Advances on every use; a slot's `used` is the value at its last use.
    clock: u64,
}

struct Slot<V> {
    value: V,
    used: u64,
}

impl<K: Hash + Eq, V: Copy> BoundedCache<K, V> {
    /// At most `capacity` entries (at least one); `expired` says which values are only
    /// taking up room.
    pub fn new(capacity: usize, expired: impl Fn(&V) -> bool + Send + Sync + 'static) -> Self {
        let capacity = capacity.max(1);
        // Small caches (tests, tiny deployments) get one shard so the bound is exact and the
        // eviction order deterministic; large ones split the bound evenly (rounding down).
        let shards = if capacity >= SHARDS * 1024 { SHARDS } else { 1 };
        let per_shard = capacity / shards;
        Self {
            shards: (0..shards)
                .map(|_| {
                    Mutex::new(Shard {
                        entries: Self::empty(),
                        clock: 0,
                    })
                })
                .collect(),
            per_shard,
            hasher: Default::default(),
            expired: Box::new(expired),
        }
    }

    /// Empty: memory is taken as answers arrive, so an idle bridge holds none. (Reserving
    /// the whole bound up front was measured: the allocator makes it resident at once.)
    fn empty() -> IndexMap<K, Slot<V>, foldhash::fast::RandomState> {
        IndexMap::with_hasher(Default::default())
    }

    fn shard(&self, key: &K) -> MutexGuard<'_, Shard<K, V>> {
        let index = (self.hasher.hash_one(key) as usize) % self.shards.len();
        // A panic while holding a shard cannot leave a half-written `Copy` value behind.
        self.shards[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The value, counting as a use of it.
    pub fn get(&self, key: &K) -> Option<V> {
        let mut shard = self.shard(key);
        shard.clock += 1;
        let now = shard.clock;
        let slot = shard.entries.get_mut(key)?;
        slot.used = now;
        Some(slot.value)
    }

    /// Stores what `choose` returns given the current value (if any), and returns it: one
    /// step under the shard's lock, so a check-then-write cannot interleave with another.
    pub fn upsert_with(&self, key: K, choose: impl FnOnce(Option<V>) -> V) -> V {
        let mut shard = self.shard(&key);
        shard.clock += 1;
        let now = shard.clock;
        if let Some(slot) = shard.entries.get_mut(&key) {
            slot.value = choose(Some(slot.value));
            slot.used = now;
            return slot.value;
        }
        let value = choose(None);
        if shard.entries.len() >= self.per_shard {
            let victim = self.victim(&shard);
            shard.entries.swap_remove_index(victim);
        } else if shard.entries.len() == shard.entries.capacity() {
            // Doubling, but never past the bound: a full shard carries no unused slack.
            let len = shard.entries.len();
            shard
                .entries
                .reserve_exact((len * 2).max(16).min(self.per_shard) - len);
        }
        shard.entries.insert(key, Slot { value, used: now });
        value
    }

    /// Index of the entry to give up: an expired one if the sample holds one, else the one
    /// used longest ago. A shard no larger than the sample is scanned whole.
    fn victim(&self, shard: &Shard<K, V>) -> usize {
        let len = shard.entries.len();
        let score = |i: usize| {
            let (_, slot) = shard.entries.get_index(i).expect("index within the shard");
            ((!(self.expired)(&slot.value)) as u8, slot.used)
        };
        if len <= SAMPLE {
            return (0..len).min_by_key(|&i| score(i)).unwrap_or(0);
        }
        (0..SAMPLE)
            .map(|_| rand::random_range(0..len))
            .min_by_key(|&i| score(i))
            .unwrap_or(0)
    }

    pub fn remove(&self, key: &K) {
        self.shard(key).entries.swap_remove(key);
    }

    /// Keeps only the entries `keep` approves (every shard is visited in turn).
    pub fn retain(&self, mut keep: impl FnMut(&K, &V) -> bool) {
        for shard in self.shards.iter() {
            let mut shard = shard.lock().unwrap_or_else(|p| p.into_inner());
            shard.entries.retain(|k, slot| keep(k, &slot.value));
        }
    }

    pub fn clear(&self) {
        for shard in self.shards.iter() {
            let mut shard = shard.lock().unwrap_or_else(|p| p.into_inner());
            shard.entries = Self::empty();
        }
    }

    /// Entries held, including expired ones not yet read or evicted.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).entries.len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values are (id, expired?).
    fn cache(capacity: usize) -> BoundedCache<u32, (u32, bool)> {
        BoundedCache::new(capacity, |v: &(u32, bool)| v.1)
    }

    #[test]
    fn never_holds_more_than_its_capacity() {
        for capacity in [1, 4, 1000, 70_000] {
            let c = cache(capacity);
            for i in 0..(capacity as u32 * 3) {
                c.upsert_with(i, |_| (i, false));
                assert!(c.len() <= capacity, "{} > {capacity}", c.len());
            }
            // The newest key is always admitted.
            let last = capacity as u32 * 3 - 1;
            assert_eq!(c.get(&last), Some((last, false)));
        }
    }

    #[test]
    fn an_expired_entry_goes_first_then_the_least_recently_used() {
        let c = cache(4);
        for i in 0..4 {
            c.upsert_with(i, |_| (i, i == 2));
        }
        c.upsert_with(10, |_| (10, false));
        assert_eq!(c.get(&2), None, "the expired entry is the one evicted");
        // 0, 1, 3, 10 left; use 0 and 1, so 3 is now the least recently used.
        c.get(&0);
        c.get(&1);
        c.get(&10);
        c.upsert_with(11, |_| (11, false));
        assert_eq!(c.get(&3), None);
        for kept in [0, 1, 10, 11] {
            assert!(c.get(&kept).is_some(), "{kept} was evicted");
        }
    }

    #[test]
    fn upsert_sees_the_current_value_and_may_keep_it() {
        let c = cache(10);
        assert_eq!(
            c.upsert_with(1, |current| current.unwrap_or((5, false))),
            (5, false)
        );
        // A newer value refuses to be replaced by an older one.
        let kept = c.upsert_with(1, |current| match current {
            Some(v) if v.0 > 3 => v,
            _ => (3, false),
        });
        assert_eq!(kept, (5, false));
        c.remove(&1);
        assert_eq!(c.get(&1), None);
    }

    #[test]
    fn retain_and_clear_forget_what_they_should() {
        let c = cache(100_000);
        for i in 0..1000 {
            c.upsert_with(i, |_| (i, false));
        }
        c.retain(|k, _| k % 2 == 0);
        assert_eq!(c.len(), 500);
        assert!(c.get(&3).is_none() && c.get(&4).is_some());
        c.clear();
        assert!(c.is_empty());
    }
}
