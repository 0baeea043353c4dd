//! [`CacheStats`]: counters of one cache.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Striped counters: hot counters (hits) are bumped by every core at once, so each thread
/// writes its own cache line and a snapshot sums the stripes.
const STRIPES: usize = 16;

#[repr(align(128))]
#[derive(Default)]
struct Padded(AtomicU64);

pub(crate) struct Striped([Padded; STRIPES]);

impl Default for Striped {
    fn default() -> Self {
        Self(std::array::from_fn(|_| Padded::default()))
    }
}

fn stripe() -> usize {
    use std::cell::Cell;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    thread_local! {
        static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    STRIPE.with(|s| {
        let v = s.get();
        if v != usize::MAX {
            return v;
        }
        let n =
            usize::try_from(NEXT.fetch_add(1, Ordering::Relaxed) % (STRIPES as u64)).unwrap_or(0);
        s.set(n);
        n
    })
}

impl Striped {
    #[inline]
    pub(crate) fn incr(&self) {
        self.0[stripe()].0.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.0
            .iter()
            .fold(0u64, |acc, p| acc.wrapping_add(p.0.load(Ordering::Relaxed)))
    }
}

/// The live counters of a cache (internal).
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) hits: Striped,
    pub(crate) stale_hits: Striped,
    pub(crate) negative_hits: Striped,
    pub(crate) misses: Striped,
    pub(crate) coalesced: AtomicU64,
    pub(crate) loads: AtomicU64,
    pub(crate) load_errors: AtomicU64,
    pub(crate) load_timeouts: AtomicU64,
    pub(crate) load_nanos: AtomicU64,
    pub(crate) refreshes: AtomicU64,
    pub(crate) refresh_errors: AtomicU64,
    pub(crate) inserts: AtomicU64,
    pub(crate) oversized: AtomicU64,
    pub(crate) evicted_size: AtomicU64,
    pub(crate) evicted_expired: AtomicU64,
    pub(crate) evicted_explicit: AtomicU64,
    pub(crate) evicted_replaced: AtomicU64,
    pub(crate) l2_hits: AtomicU64,
    pub(crate) l2_misses: AtomicU64,
    pub(crate) l2_writes: AtomicU64,
    pub(crate) l2_errors: AtomicU64,
    pub(crate) l2_skipped: AtomicU64,
    pub(crate) l2_undecodable: AtomicU64,
    pub(crate) l2_outages: AtomicU64,
    pub(crate) invalidations_received: AtomicU64,
    pub(crate) invalidations_sent: AtomicU64,
}

#[inline]
pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

fn load(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

impl Counters {
    pub(crate) fn snapshot(
        &self,
        entries: u64,
        weighted_size: u64,
        l2_up: Option<bool>,
    ) -> CacheStats {
        CacheStats {
            hits: self.hits.get(),
            stale_hits: self.stale_hits.get(),
            negative_hits: self.negative_hits.get(),
            misses: self.misses.get(),
            coalesced: load(&self.coalesced),
            loads: load(&self.loads),
            load_errors: load(&self.load_errors),
            load_timeouts: load(&self.load_timeouts),
            total_load_time: Duration::from_nanos(load(&self.load_nanos)),
            refreshes: load(&self.refreshes),
            refresh_errors: load(&self.refresh_errors),
            inserts: load(&self.inserts),
            oversized: load(&self.oversized),
            evictions: Evictions {
                size: load(&self.evicted_size),
                expired: load(&self.evicted_expired),
                explicit: load(&self.evicted_explicit),
                replaced: load(&self.evicted_replaced),
            },
            l2: L2Stats {
                enabled: l2_up.is_some(),
                up: l2_up.unwrap_or(false),
                hits: load(&self.l2_hits),
                misses: load(&self.l2_misses),
                writes: load(&self.l2_writes),
                errors: load(&self.l2_errors),
                skipped: load(&self.l2_skipped),
                undecodable: load(&self.l2_undecodable),
                outages: load(&self.l2_outages),
                invalidations_sent: load(&self.invalidations_sent),
                invalidations_received: load(&self.invalidations_received),
            },
            entries,
            weighted_size,
        }
    }
}

/// A snapshot of a cache's counters ([`Cache::stats`](crate::Cache::stats)).
///
/// Counters are monotonic since the cache was built. "Hits" are lookups answered from
/// memory; an L2 (Redis) answer counts as a miss of the memory tier and an [`L2Stats::hits`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let cache: keel_cache::Cache<u64, u64> = keel_cache::Cache::builder("n").build();
/// cache.get_or_load(1, || async { Ok::<_, std::io::Error>(10) }).await.unwrap();
/// cache.get_or_load(1, || async { Ok::<_, std::io::Error>(10) }).await.unwrap();
/// let s = cache.stats();
/// assert_eq!((s.hits, s.misses, s.loads), (1, 1, 1));
/// assert_eq!(s.hit_ratio(), 0.5);
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Lookups answered with a fresh value from memory.
    pub hits: u64,
    /// Lookups answered with a stale value while a refresh ran (`X-Cache: STALE`).
    pub stale_hits: u64,
    /// Lookups answered from a cached "not found" (negative caching); also counted in `hits`.
    pub negative_hits: u64,
    /// Lookups that found nothing usable in memory.
    pub misses: u64,
    /// Misses that joined a load already in flight instead of starting one.
    pub coalesced: u64,
    /// Loader calls (cold loads and refreshes).
    pub loads: u64,
    /// Loader calls that returned an error (including refreshes).
    pub load_errors: u64,
    /// Loader calls stopped by the load timeout.
    pub load_timeouts: u64,
    /// Time spent in loader calls, summed.
    pub total_load_time: Duration,
    /// Background refreshes started (stale-while-revalidate, refresh-ahead, early refresh).
    pub refreshes: u64,
    /// Background refreshes that failed (the stale value was kept).
    pub refresh_errors: u64,
    /// Values stored in memory (explicit inserts and loads).
    pub inserts: u64,
    /// Values not cached because they were over the maximum entry size.
    pub oversized: u64,
    /// Entries removed from memory, by cause.
    pub evictions: Evictions,
    /// The Redis tier.
    pub l2: L2Stats,
    /// Entries in memory (approximate: moka applies writes in batches).
    pub entries: u64,
    /// Total weight in memory (equals `entries` without a weigher).
    pub weighted_size: u64,
}

impl CacheStats {
    /// `(hits + stale_hits) / (hits + stale_hits + misses)`, or 0 before any lookup.
    #[allow(clippy::cast_precision_loss)]
    pub fn hit_ratio(&self) -> f64 {
        let served = self.hits + self.stale_hits;
        let total = served + self.misses;
        if total == 0 {
            0.0
        } else {
            served as f64 / total as f64
        }
    }

    /// Mean loader time, or zero before any load.
    pub fn mean_load_time(&self) -> Duration {
        u32::try_from(self.loads)
            .ok()
            .filter(|n| *n > 0)
            .map_or(Duration::ZERO, |n| self.total_load_time / n)
    }
}

/// Memory-tier removals by cause ([moka's `RemovalCause`](moka::notification::RemovalCause)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Evictions {
    /// Evicted to stay within capacity (TinyLFU admission or LRU victim).
    pub size: u64,
    /// Expired (TTL, TTI or per-entry lifetime, including the stale window).
    pub expired: u64,
    /// Removed by an invalidation.
    pub explicit: u64,
    /// Replaced by a newer value for the same key.
    pub replaced: u64,
}

/// Counters of the Redis tier (all zero without it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct L2Stats {
    /// A Redis tier is configured.
    pub enabled: bool,
    /// Redis answered the last operation (false while degraded to memory-only).
    pub up: bool,
    /// Memory misses answered by Redis.
    pub hits: u64,
    /// Memory misses Redis did not have either.
    pub misses: u64,
    /// Values written to Redis.
    pub writes: u64,
    /// Redis operations that failed or timed out (each one is logged).
    pub errors: u64,
    /// Redis operations skipped because Redis was marked down.
    pub skipped: u64,
    /// Values in Redis that could not be decoded (other schema version, corrupt): treated as
    /// misses and deleted.
    pub undecodable: u64,
    /// Invalidations published to other replicas.
    pub invalidations_sent: u64,
    /// Times the tier switched from up to down (memory-only): outages begun. Each switch
    /// is logged once, as a warning; the recovery once, at info.
    pub outages: u64,
    /// Invalidations received from other replicas and applied.
    pub invalidations_received: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn striped_counter_sums_threads() {
        let s = std::sync::Arc::new(Striped::default());
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let s = std::sync::Arc::clone(&s);
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        s.incr();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(s.get(), 8000);
    }

    #[test]
    fn ratios() {
        let mut s = CacheStats::default();
        assert_eq!(s.hit_ratio(), 0.0);
        assert_eq!(s.mean_load_time(), Duration::ZERO);
        s.hits = 3;
        s.stale_hits = 1;
        s.misses = 4;
        assert!((s.hit_ratio() - 0.5).abs() < 1e-9);
        s.loads = 2;
        s.total_load_time = Duration::from_millis(10);
        assert_eq!(s.mean_load_time(), Duration::from_millis(5));
    }
}
