//! [`CacheBuilder`]: capacity, lifetimes, refresh policy and limits of a [`Cache`].

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use crate::{Cache, CacheKey, Clock};

pub(crate) type Weigher<K, V> = Arc<dyn Fn(&K, &V) -> u32 + Send + Sync + 'static>;

/// Default [`max_capacity`](CacheBuilder::max_capacity): 10,000 entries.
pub const DEFAULT_MAX_CAPACITY: u64 = 10_000;
/// Default [`max_key_len`](CacheBuilder::max_key_len): 512 bytes.
pub const DEFAULT_MAX_KEY_LEN: usize = 512;

/// Configures a [`Cache`]. Start with [`Cache::builder`].
///
/// Defaults: 10,000 entries, no TTL (entries live until evicted or invalidated), no
/// negative caching, no stale window, no refresh-ahead, no load timeout, keys up to 512
/// bytes, the system clock.
///
/// ```
/// use std::time::Duration;
/// use keel_cache::Cache;
///
/// let cache: Cache<String, Vec<u8>> = Cache::builder("avatars")
///     .max_capacity(64 * 1024 * 1024)              // bytes, because of the weigher
///     .weigher(|_k, v: &Vec<u8>| u32::try_from(v.len()).unwrap_or(u32::MAX))
///     .max_entry_weight(1024 * 1024)               // larger values are not cached
///     .ttl(Duration::from_secs(300))
///     .stale_while_revalidate(Duration::from_secs(60))
///     .negative_ttl(Duration::from_secs(10))
///     .load_timeout(Duration::from_secs(2))
///     .build();
/// # drop(cache);
/// ```
pub struct CacheBuilder<K, V> {
    pub(crate) name: String,
    pub(crate) max_capacity: u64,
    pub(crate) weigher: Option<Weigher<K, V>>,
    pub(crate) max_entry_weight: Option<u32>,
    pub(crate) ttl: Option<Duration>,
    pub(crate) tti: Option<Duration>,
    pub(crate) max_ttl: Option<Duration>,
    pub(crate) negative_ttl: Option<Duration>,
    pub(crate) stale_window: Duration,
    pub(crate) refresh_after: Option<Duration>,
    pub(crate) early_refresh_beta: Option<f64>,
    pub(crate) load_timeout: Option<Duration>,
    pub(crate) max_key_len: usize,
    pub(crate) clock: Clock,
    _types: PhantomData<fn(K, V)>,
}

impl<K, V> fmt::Debug for CacheBuilder<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheBuilder")
            .field("name", &self.name)
            .field("max_capacity", &self.max_capacity)
            .field("weigher", &self.weigher.is_some())
            .field("max_entry_weight", &self.max_entry_weight)
            .field("ttl", &self.ttl)
            .field("tti", &self.tti)
            .field("max_ttl", &self.max_ttl)
            .field("negative_ttl", &self.negative_ttl)
            .field("stale_window", &self.stale_window)
            .field("refresh_after", &self.refresh_after)
            .field("early_refresh_beta", &self.early_refresh_beta)
            .field("load_timeout", &self.load_timeout)
            .field("max_key_len", &self.max_key_len)
            .field("clock", &self.clock)
            .finish()
    }
}

impl<K, V> CacheBuilder<K, V>
where
    K: CacheKey,
    V: Clone + Send + Sync + 'static,
{
    pub(crate) fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            max_capacity: DEFAULT_MAX_CAPACITY,
            weigher: None,
            max_entry_weight: None,
            ttl: None,
            tti: None,
            max_ttl: None,
            negative_ttl: None,
            stale_window: Duration::ZERO,
            refresh_after: None,
            early_refresh_beta: None,
            load_timeout: None,
            max_key_len: DEFAULT_MAX_KEY_LEN,
            clock: Clock::system(),
            _types: PhantomData,
        }
    }

    /// The most entries kept in memory, or the most total weight with a
    /// [`weigher`](Self::weigher). Past it moka evicts with TinyLFU admission.
    #[must_use]
    pub fn max_capacity(mut self, capacity: u64) -> Self {
        self.max_capacity = capacity;
        self
    }

    /// Weighs entries (e.g. in bytes) so [`max_capacity`](Self::max_capacity) bounds
    /// memory instead of entry count. A cached "not found" weighs 1.
    #[must_use]
    pub fn weigher(mut self, weigher: impl Fn(&K, &V) -> u32 + Send + Sync + 'static) -> Self {
        self.weigher = Some(Arc::new(weigher));
        self
    }

    /// Values heavier than this (per the [`weigher`](Self::weigher)) are returned to the
    /// caller but not cached, and counted in [`CacheStats::oversized`](crate::CacheStats::oversized).
    #[must_use]
    pub fn max_entry_weight(mut self, max: u32) -> Self {
        self.max_entry_weight = Some(max);
        self
    }

    /// Time to live: a value is fresh for this long after it was stored.
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Time to idle: an entry not read for this long is dropped (in memory; measured by
    /// moka on the system clock).
    #[must_use]
    pub fn tti(mut self, tti: Duration) -> Self {
        self.tti = Some(tti);
        self
    }

    /// The longest any entry stays in memory (moka's `time_to_live`), whatever its own TTL.
    /// Default: TTL + stale window, or unbounded without a TTL. Set it to allow
    /// [`insert_with_ttl`](Cache::insert_with_ttl) longer than the default TTL (otherwise
    /// such entries are dropped at the default lifetime). Entries past their own deadline
    /// are never served; this only bounds how long their memory is held.
    #[must_use]
    pub fn max_ttl(mut self, max: Duration) -> Self {
        self.max_ttl = Some(max);
        self
    }

    /// Caches "not found" answers of
    /// [`get_or_load_optional`](Cache::get_or_load_optional) for this long (usually shorter
    /// than the TTL). Without it, `None` is never cached.
    #[must_use]
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = Some(ttl);
        self
    }

    /// Stale-while-revalidate: after its TTL a value is still served (as
    /// [`CacheStatus::Stale`](crate::CacheStatus::Stale)) for up to `max_stale` while one
    /// background refresh runs. A failed refresh keeps the stale value until `max_stale`
    /// runs out. Needs a [`ttl`](Self::ttl).
    #[must_use]
    pub fn stale_while_revalidate(mut self, max_stale: Duration) -> Self {
        self.stale_window = max_stale;
        self
    }

    /// Refresh-ahead: a hit on a value older than `after` (and still fresh) starts one
    /// background refresh, so hot keys never expire. Ignored unless `after < ttl`.
    #[must_use]
    pub fn refresh_after(mut self, after: Duration) -> Self {
        self.refresh_after = Some(after);
        self
    }

    /// Probabilistic early refresh (XFetch): each hit refreshes in the background with a
    /// probability that grows as expiry nears, scaled by how long the last load took and
    /// by `beta` (1.0 is the paper's optimum; larger refreshes earlier). Spreads the
    /// refreshes of keys that were loaded together. Non-positive or non-finite `beta`
    /// disables it.
    #[must_use]
    pub fn early_refresh(mut self, beta: f64) -> Self {
        self.early_refresh_beta = (beta.is_finite() && beta > 0.0).then_some(beta);
        self
    }

    /// Stops a loader that runs longer than this: every waiter gets
    /// [`Error::LoadTimeout`](crate::Error::LoadTimeout) and nothing is cached.
    #[must_use]
    pub fn load_timeout(mut self, timeout: Duration) -> Self {
        self.load_timeout = Some(timeout);
        self
    }

    /// The longest accepted key, in bytes of its [`CacheKey`] string form; longer keys are
    /// rejected with [`Error::KeyTooLong`](crate::Error::KeyTooLong).
    #[must_use]
    pub fn max_key_len(mut self, max: usize) -> Self {
        self.max_key_len = max;
        self
    }

    /// The clock for freshness decisions ([`Clock::manual`] in tests).
    #[must_use]
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Builds an in-memory cache.
    pub fn build(self) -> Cache<K, V> {
        Cache::from_builder(self)
    }
}
