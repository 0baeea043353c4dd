//! A sharded hash table whose entries expire: the keyed state of the in-memory limiter
//! and of the Redis backend's deny cache.
//!
//! Memory stays bounded without a background thread: every shard sweeps its expired
//! entries when it has doubled since its last sweep, when the sweep interval has passed,
//! and before admitting a key over its cap. A sweep is O(shard), and happens at most once
//! per doubling or interval, so the cost is amortized O(1) per request.

use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::{Mutex, MutexGuard, PoisonError};

use hashbrown::HashTable;

/// Shards sweep no earlier than this many entries (tiny tables are not worth it).
const MIN_SWEEP_LEN: usize = 256;

/// An entry that becomes removable (equivalent to absent) once `expires_at() <= now`.
pub(crate) trait Expires {
    fn expires_at(&self) -> u64;
}

/// What to do when a shard is full of live keys and a new key arrives.
///
/// ```
/// assert_eq!(keel_ratelimit::WhenFull::default(), keel_ratelimit::WhenFull::EvictNearestIdle);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WhenFull {
    /// Evict the eighth of the shard's keys closest to being idle (the smallest
    /// theoretical arrival time), then admit the new key (default). Keys that are
    /// hammering the limit are the last to go; an evicted key starts over with a full
    /// burst, so the failure is lenient for nearly-idle clients, never a lock-out.
    #[default]
    EvictNearestIdle,
    /// Keep every tracked key and deny requests from new keys until the sweep frees room
    /// (a denied decision with a 1 s retry). Strict, but a key-spraying attacker then
    /// locks out new legitimate clients: use it for limits on authenticated keys only.
    DenyNewKeys,
}

#[repr(align(128))]
struct Padded<T>(T);

pub(crate) struct Shard<K, V> {
    pub(crate) map: HashTable<(K, V)>,
    next_sweep_len: usize,
    last_sweep: u64,
    pub(crate) evictions: u64,
    pub(crate) allowed: u64,
    pub(crate) denied: u64,
    pub(crate) rejected_new_keys: u64,
}

type Shards<K, V> = Box<[Padded<Mutex<Shard<K, V>>>]>;

pub(crate) struct Table<K, V> {
    shards: Shards<K, V>,
    hasher: RandomState,
    shard_bits: u32,
    shard_cap: usize,
    sweep_interval_ns: u64,
    when_full: WhenFull,
}

impl<K: Hash + Eq, V: Expires> Table<K, V> {
    /// A table holding at most `max_keys` entries (at least one per shard).
    pub(crate) fn new(max_keys: usize, sweep_interval_ns: u64, when_full: WhenFull) -> Self {
        let cores = std::thread::available_parallelism().map_or(4, usize::from);
        let wanted = (cores * 16).next_power_of_two().clamp(16, 256);
        // Never more shards than keys, so the per-shard caps sum to at most `max_keys`.
        let max_pow2 = if max_keys == 0 {
            1
        } else {
            1usize << (usize::BITS - 1 - max_keys.leading_zeros())
        };
        let n = wanted.min(max_pow2).max(1);
        let shard_cap = (max_keys / n).max(1);
        let shards = (0..n)
            .map(|_| {
                Padded(Mutex::new(Shard {
                    map: HashTable::new(),
                    next_sweep_len: MIN_SWEEP_LEN,
                    last_sweep: 0,
                    evictions: 0,
                    allowed: 0,
                    denied: 0,
                    rejected_new_keys: 0,
                }))
            })
            .collect();
        Self {
            shards,
            hasher: RandomState::new(),
            shard_bits: n.trailing_zeros(),
            shard_cap,
            sweep_interval_ns,
            when_full,
        }
    }

    #[inline]
    pub(crate) fn hash(&self, key: &K) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Locks the shard of `hash` and sweeps it if its interval has passed.
    #[inline]
    pub(crate) fn lock(&self, hash: u64, now: u64) -> MutexGuard<'_, Shard<K, V>> {
        // hashbrown uses the low bits (bucket) and the top 7 bits (tag): take the shard from
        // bits just below the tag so both stay well distributed inside a shard.
        let idx = if self.shard_bits == 0 {
            0
        } else {
            usize::try_from((hash << 7) >> (64 - self.shard_bits)).unwrap_or(0)
        };
        let mut g = self.shards[idx]
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if now.saturating_sub(g.last_sweep) >= self.sweep_interval_ns && !g.map.is_empty() {
            g.sweep(now, &self.hasher, true);
        }
        g
    }

    /// Inserts a key known to be absent. Returns `false` when the shard is full of live
    /// keys and the policy is [`WhenFull::DenyNewKeys`].
    pub(crate) fn insert(
        &self,
        shard: &mut Shard<K, V>,
        hash: u64,
        key: K,
        value: V,
        now: u64,
    ) -> bool {
        if shard.map.len() >= shard.next_sweep_len.min(self.shard_cap) {
            // Growth-triggered: keep the capacity, which the next inserts will reuse.
            shard.sweep(now, &self.hasher, false);
        }
        if shard.map.len() >= self.shard_cap {
            match self.when_full {
                WhenFull::EvictNearestIdle => shard.evict_nearest_idle(),
                WhenFull::DenyNewKeys => {
                    shard.rejected_new_keys += 1;
                    return false;
                }
            }
        }
        let hasher = &self.hasher;
        shard
            .map
            .insert_unique(hash, (key, value), |(k, _)| hasher.hash_one(k));
        true
    }

    /// Removes every expired entry; returns how many.
    pub(crate) fn sweep_all(&self, now: u64) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.0.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .sweep(now, &self.hasher, true)
            })
            .sum()
    }

    /// Folds over every shard (for statistics).
    pub(crate) fn fold<T>(&self, init: T, mut f: impl FnMut(T, &Shard<K, V>) -> T) -> T {
        let mut acc = init;
        for s in &*self.shards {
            let g = s.0.lock().unwrap_or_else(PoisonError::into_inner);
            acc = f(acc, &g);
        }
        acc
    }

    pub(crate) fn max_keys(&self) -> usize {
        self.shard_cap * self.shards.len()
    }

    /// Removes `key`; returns whether it was present.
    pub(crate) fn remove(&self, key: &K) -> bool {
        let hash = self.hash(key);
        let mut g = self.lock(hash, 0);
        match g.map.find_entry(hash, |(k, _)| k == key) {
            Ok(e) => {
                e.remove();
                true
            }
            Err(_) => false,
        }
    }
}

impl<K: Hash + Eq, V: Expires> Shard<K, V> {
    /// Removes expired entries; with `shrink`, also returns memory when less than a quarter
    /// of the capacity is used (interval sweeps and `evict_idle`, not the sweeps triggered
    /// by growth, so steady churn does not shrink and regrow the table).
    fn sweep(&mut self, now: u64, hasher: &RandomState, shrink: bool) -> usize {
        let before = self.map.len();
        self.map.retain(|(_, v)| v.expires_at() > now);
        let removed = before - self.map.len();
        self.evictions += removed as u64;
        self.last_sweep = now;
        // Next growth sweep when the shard doubles its size *before* this sweep: keys that
        // come and go below their rate (idle between visits) are then updated in place
        // instead of being evicted and re-inserted over and over; the interval sweep and
        // the cap still bound memory.
        self.next_sweep_len = (before * 2).max(MIN_SWEEP_LEN);
        // Give memory back after a flood: shrink when less than a quarter is used.
        if shrink && self.map.capacity() > 64 && self.map.len() * 4 < self.map.capacity() {
            self.map
                .shrink_to(self.map.len() * 2, |(k, _)| hasher.hash_one(k));
        }
        removed
    }

    /// Evicts at least an eighth of the shard: the entries expiring soonest.
    fn evict_nearest_idle(&mut self) {
        let k = (self.map.len() / 8).max(1);
        let mut exp: Vec<u64> = self.map.iter().map(|(_, v)| v.expires_at()).collect();
        if exp.is_empty() {
            return;
        }
        let idx = (k - 1).min(exp.len() - 1);
        let (_, &mut threshold, _) = exp.select_nth_unstable(idx);
        let before = self.map.len();
        self.map.retain(|(_, v)| v.expires_at() > threshold);
        self.evictions += (before - self.map.len()) as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Expires for u64 {
        fn expires_at(&self) -> u64 {
            *self
        }
    }

    fn insert(t: &Table<u32, u64>, k: u32, v: u64, now: u64) -> bool {
        let h = t.hash(&k);
        let mut g = t.lock(h, now);
        if g.map.find(h, |(x, _)| *x == k).is_some() {
            return true;
        }
        t.insert(&mut g, h, k, v, now)
    }

    #[test]
    fn cap_is_never_exceeded_and_evicts_nearest_idle() {
        let t: Table<u32, u64> = Table::new(1000, u64::MAX, WhenFull::EvictNearestIdle);
        assert!(t.max_keys() <= 1000);
        // Key i expires at 1000 + i: all live at now = 1.
        for i in 0..100_000u32 {
            assert!(insert(&t, i, 1000 + u64::from(i), 1));
            let len = t.fold(0, |n, s| n + s.map.len());
            assert!(len <= 1000, "len {len} after {i}");
        }
        // The survivors are the most recent (longest-lived) keys.
        let min = t.fold(u64::MAX, |m, s| {
            s.map
                .iter()
                .map(|(_, v)| *v)
                .min()
                .unwrap_or(u64::MAX)
                .min(m)
        });
        assert!(min > 1000 + 90_000, "{min}");
    }

    #[test]
    fn deny_new_keys_keeps_the_tracked_ones() {
        let t: Table<u32, u64> = Table::new(16, u64::MAX, WhenFull::DenyNewKeys);
        let admitted = (0..1000u32).filter(|&i| insert(&t, i, u64::MAX, 1)).count();
        assert_eq!(admitted, t.max_keys());
        // Expired entries are swept to make room.
        let t: Table<u32, u64> = Table::new(16, u64::MAX, WhenFull::DenyNewKeys);
        for i in 0..1000u32 {
            assert!(insert(&t, i, 5, 10), "expired entries make room");
        }
    }

    #[test]
    fn sweeps_on_interval_and_shrinks() {
        let t: Table<u32, u64> = Table::new(1 << 20, 100, WhenFull::EvictNearestIdle);
        for i in 0..50_000u32 {
            insert(&t, i, 50, 1);
        }
        // Below MIN_SWEEP_LEN doublings only some shards swept; all live at now = 1 anyway.
        assert_eq!(t.fold(0, |n, s| n + s.map.len()), 50_000);
        assert_eq!(t.sweep_all(60), 50_000);
        assert_eq!(t.fold(0, |n, s| n + s.map.len()), 0);
        assert!(t.fold(0, |n, s| n + s.map.capacity()) < 50_000);
    }
}
