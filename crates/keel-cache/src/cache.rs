//! [`Cache`]: the typed cache.

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moka::notification::RemovalCause;

use crate::builder::{CacheBuilder, Weigher};
use crate::clock::duration_nanos;
use crate::entry::{Entry, Freshness, NEVER, Policy, Slot, millis_u32};
use crate::flight::{Flight, boxed, lock};
use crate::stats::{Counters, bump};
#[cfg(feature = "redis")]
use crate::tier::SecondTier;
use crate::{CacheKey, CacheStats, CacheStatus, Clock, Error, Lookup};

pub(crate) struct Config<K, V> {
    pub(crate) weigher: Option<Weigher<K, V>>,
    pub(crate) max_entry_weight: Option<u32>,
    pub(crate) ttl: Option<Duration>,
    pub(crate) negative_ttl: Option<Duration>,
    pub(crate) stale_window: Duration,
    /// `stale_window` in milliseconds, as memory slots apply it.
    pub(crate) stale_ms: u32,
    pub(crate) policy: Policy,
    /// moka's `time_to_live` equals the TTL and nothing else needs deadlines, so
    /// default-TTL entries carry none and the hit path reads no clock.
    pub(crate) moka_enforces_ttl: bool,
    pub(crate) load_timeout: Option<Duration>,
    pub(crate) max_key_len: usize,
}

pub(crate) struct Inner<K, V> {
    pub(crate) name: Arc<str>,
    pub(crate) l1: moka::future::Cache<K, Slot<V>>,
    pub(crate) flights: Mutex<HashMap<K, Arc<Flight<V>>>>,
    pub(crate) counters: Arc<Counters>,
    pub(crate) cfg: Config<K, V>,
    pub(crate) clock: Clock,
    /// Bumped by prefix and whole-cache invalidations: a load that started under an older
    /// generation returns its value but does not cache it.
    pub(crate) generation: AtomicU64,
    #[cfg(feature = "redis")]
    pub(crate) l2: Option<Arc<dyn SecondTier<V>>>,
}

/// A typed async cache over [`moka::future::Cache`] with single-flight loads,
/// stale-while-revalidate, negative caching, invalidation by key, prefix or namespace,
/// statistics, and (feature `redis`) a Redis second tier shared by replicas.
///
/// Cloning is cheap and clones share the cache.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), keel_cache::Error> {
/// use std::time::Duration;
/// use keel_cache::{Cache, CacheStatus, Key};
///
/// let cache: Cache<Key, String> = Cache::builder("users")
///     .max_capacity(10_000)
///     .ttl(Duration::from_secs(60))
///     .build();
///
/// let key = Key::new("user").arg(42u64);
/// let user = cache
///     .get_or_load(key.clone(), || async { Ok::<_, std::io::Error>("Ada".to_owned()) })
///     .await?;
/// assert_eq!(user.status(), CacheStatus::Miss);
/// assert_eq!(cache.get(&key).await.as_deref(), Some("Ada"));
///
/// cache.invalidate(&key).await;
/// assert_eq!(cache.get(&key).await, None);
/// # Ok(()) }
/// ```
pub struct Cache<K, V> {
    inner: Arc<Inner<K, V>>,
}

impl<K, V> Clone for Cache<K, V> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K, V> fmt::Debug for Cache<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("name", &self.inner.name)
            .field("entries", &self.inner.l1.entry_count())
            .field("ttl", &self.inner.cfg.ttl)
            .finish_non_exhaustive()
    }
}

/// What memory holds for a key.
enum Local<V> {
    Fresh(Option<V>),
    FreshRefresh(Option<V>),
    Stale(Option<V>),
    Absent,
}

fn key_starts_with<K: CacheKey>(key: &K, prefix: &str) -> bool {
    thread_local! {
        static BUF: Cell<String> = const { Cell::new(String::new()) };
    }
    BUF.with(|b| {
        let mut s = b.take();
        s.clear();
        key.write_key(&mut s);
        let hit = s.starts_with(prefix);
        b.set(s);
        hit
    })
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

impl<K, V> Cache<K, V>
where
    K: CacheKey,
    V: Clone + Send + Sync + 'static,
{
    /// Starts configuring a cache. `name` labels its logs and metrics and, with Redis,
    /// namespaces its keys (replicas that share a cache use the same name).
    ///
    /// ```
    /// let cache: keel_cache::Cache<u64, u64> = keel_cache::Cache::builder("squares").build();
    /// assert_eq!(cache.name(), "squares");
    /// ```
    pub fn builder(name: &str) -> CacheBuilder<K, V> {
        CacheBuilder::new(name)
    }

    pub(crate) fn from_builder(b: CacheBuilder<K, V>) -> Self {
        Self {
            inner: Arc::new(Self::inner_from_builder(b)),
        }
    }

    #[cfg(feature = "redis")]
    pub(crate) fn from_builder_with_l2(
        b: CacheBuilder<K, V>,
        l2: Arc<dyn SecondTier<V>>,
        counters: Arc<Counters>,
    ) -> Self {
        let mut inner = Self::inner_from_builder_with(b, counters, true);
        inner.l2 = Some(l2);
        Self {
            inner: Arc::new(inner),
        }
    }

    fn inner_from_builder(b: CacheBuilder<K, V>) -> Inner<K, V> {
        Self::inner_from_builder_with(b, Arc::new(Counters::default()), false)
    }

    fn inner_from_builder_with(
        b: CacheBuilder<K, V>,
        counters: Arc<Counters>,
        has_l2: bool,
    ) -> Inner<K, V> {
        let listener_counters = Arc::clone(&counters);
        let refresh_lead = match (b.ttl, b.refresh_after) {
            (Some(ttl), Some(after)) if after < ttl => Some(duration_nanos(ttl - after)),
            _ => None,
        };
        let policy = Policy {
            refresh_lead,
            beta: b.early_refresh_beta,
        };
        // How long moka keeps any entry: our deadlines decide freshness, moka reclaims.
        let max_lifetime = b
            .max_ttl
            .or_else(|| b.ttl.map(|t| t.saturating_add(b.stale_window)));
        let moka_enforces_ttl = b.ttl.is_some()
            && b.max_ttl.is_none()
            && b.stale_window.is_zero()
            && policy.refresh_lead.is_none()
            && policy.beta.is_none()
            && !b.clock.is_manual()
            && !has_l2;
        let mut mb = moka::future::Cache::builder()
            .name(&b.name)
            .max_capacity(b.max_capacity)
            .eviction_listener(move |_k, _v, cause| {
                let c = &listener_counters;
                bump(match cause {
                    RemovalCause::Size => &c.evicted_size,
                    RemovalCause::Expired => &c.evicted_expired,
                    RemovalCause::Explicit => &c.evicted_explicit,
                    RemovalCause::Replaced => &c.evicted_replaced,
                });
            });
        if let Some(max) = max_lifetime {
            mb = mb.time_to_live(max);
        }
        if let Some(tti) = b.tti {
            mb = mb.time_to_idle(tti);
        }
        if let Some(w) = b.weigher.clone() {
            mb = mb.weigher(move |k, s: &Slot<V>| s.value().map_or(1, |v| w(k, v)));
        }
        Inner {
            name: Arc::from(b.name.as_str()),
            l1: mb.build(),
            flights: Mutex::new(HashMap::new()),
            counters,
            cfg: Config {
                weigher: b.weigher,
                max_entry_weight: b.max_entry_weight,
                ttl: b.ttl,
                negative_ttl: b.negative_ttl,
                stale_window: b.stale_window,
                stale_ms: millis_u32(b.stale_window),
                policy,
                moka_enforces_ttl,
                load_timeout: b.load_timeout,
                max_key_len: b.max_key_len,
            },
            clock: b.clock,
            generation: AtomicU64::new(0),
            #[cfg(feature = "redis")]
            l2: None,
        }
    }

    #[cfg(feature = "redis")]
    pub(crate) fn inner(&self) -> &Arc<Inner<K, V>> {
        &self.inner
    }

    /// The cache's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The fresh value for `key`, from memory or (with Redis) the second tier, without
    /// loading. Stale values and cached "not found" answers give `None`, and so does a key
    /// longer than the maximum (it can never be stored).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), keel_cache::Error> {
    /// let cache: keel_cache::Cache<&'static str, u32> = keel_cache::Cache::builder("n").build();
    /// assert_eq!(cache.get(&"a").await, None);
    /// cache.insert("a", 1).await?;
    /// assert_eq!(cache.get(&"a").await, Some(1));
    /// # Ok(()) }
    /// ```
    pub async fn get(&self, key: &K) -> Option<V> {
        let inner = &self.inner;
        match inner.local(key).await {
            Local::Fresh(v) | Local::FreshRefresh(v) => {
                inner.counters.hits.incr();
                if v.is_none() {
                    inner.counters.negative_hits.incr();
                }
                return v;
            }
            Local::Stale(_) | Local::Absent => {}
        }
        inner.counters.misses.incr();
        #[cfg(feature = "redis")]
        if inner.l2.is_some() {
            return inner.get_l2(key).await;
        }
        None
    }

    /// The value for `key`: from memory if fresh, else from Redis (feature `redis`), else
    /// from `loader`, which is called **once** however many callers miss the key at the
    /// same time (single-flight), and whose value is cached.
    ///
    /// The load runs in its own Tokio task, so a caller that is cancelled or times out
    /// (dropped future) never strands the others, and the value is cached even if every
    /// caller went away. That is why the loader must be `Send + 'static`: clone what it
    /// needs (a pool handle, an id) into it.
    ///
    /// With [`stale_while_revalidate`](CacheBuilder::stale_while_revalidate),
    /// [`refresh_after`](CacheBuilder::refresh_after) or
    /// [`early_refresh`](CacheBuilder::early_refresh), `loader` may instead be spawned as a
    /// background refresh while the cached value is returned.
    ///
    /// A key cached as "not found" by [`get_or_load_optional`](Self::get_or_load_optional)
    /// is a miss here.
    ///
    /// # Errors
    /// - [`Error::KeyTooLong`]: the key is longer than the maximum (the loader is not called).
    /// - [`Error::Load`]: the loader failed; every waiter gets the error and it is not cached.
    /// - [`Error::LoadTimeout`], [`Error::LoadAborted`]: the load did not finish.
    /// - [`Error::NoRuntime`]: called outside a Tokio runtime.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), keel_cache::Error> {
    /// use keel_cache::{Cache, CacheStatus};
    /// let cache: Cache<u64, String> = Cache::builder("users").build();
    /// let db = std::sync::Arc::new(vec!["Ada".to_owned(), "Grace".to_owned()]);
    ///
    /// let db2 = db.clone();
    /// let user = cache.get_or_load(1, move || async move { Ok::<_, std::io::Error>(db2[1].clone()) }).await?;
    /// assert_eq!((user.status(), user.value().as_str()), (CacheStatus::Miss, "Grace"));
    /// # Ok(()) }
    /// ```
    pub async fn get_or_load<F, Fut, E>(&self, key: K, loader: F) -> Result<Lookup<V>, Error>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    {
        let inner = &self.inner;
        // The hit path stays generic (no boxing); the loader is boxed only when it runs.
        let local = inner.local(&key).await;
        let mut slot = Some(loader);
        let make = |slot: &mut Option<F>| {
            slot.take()
                .map(|f| boxed(move || async move { f().await.map(Some) }))
        };
        match local {
            Local::Fresh(Some(v)) => {
                inner.counters.hits.incr();
                return Ok(Lookup::new(v, CacheStatus::Hit));
            }
            Local::FreshRefresh(Some(v)) => {
                inner.counters.hits.incr();
                if let Some(l) = make(&mut slot) {
                    inner.spawn_refresh(key, l);
                }
                return Ok(Lookup::new(v, CacheStatus::Hit));
            }
            Local::Stale(Some(v)) => {
                inner.counters.stale_hits.incr();
                if let Some(l) = make(&mut slot) {
                    inner.spawn_refresh(key, l);
                }
                return Ok(Lookup::new(v, CacheStatus::Stale));
            }
            Local::Fresh(None) | Local::FreshRefresh(None) | Local::Stale(None) | Local::Absent => {
            }
        }
        inner.counters.misses.incr();
        inner.check_key(&key)?;
        inner.miss_value(key, make(&mut slot)).await
    }

    /// Like [`get_or_load`](Self::get_or_load) for lookups that may find nothing: a loader
    /// answer of `None` ("not found") is cached for the
    /// [`negative_ttl`](CacheBuilder::negative_ttl) (and not at all without one), so
    /// repeated lookups of a missing row do not hit the database.
    ///
    /// # Errors
    /// As [`get_or_load`](Self::get_or_load).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), keel_cache::Error> {
    /// use std::time::Duration;
    /// use keel_cache::{Cache, CacheStatus};
    /// let cache: Cache<u64, String> = Cache::builder("users")
    ///     .ttl(Duration::from_secs(60))
    ///     .negative_ttl(Duration::from_secs(5))
    ///     .build();
    /// let first = cache.get_or_load_optional(404, || async { Ok::<_, std::io::Error>(None) }).await?;
    /// assert_eq!((first.status(), first.value()), (CacheStatus::Miss, &None));
    /// let again = cache.get_or_load_optional(404, || async { Ok::<_, std::io::Error>(Some("x".to_owned())) }).await?;
    /// assert_eq!((again.status(), again.value()), (CacheStatus::Hit, &None));
    /// # Ok(()) }
    /// ```
    pub async fn get_or_load_optional<F, Fut, E>(
        &self,
        key: K,
        loader: F,
    ) -> Result<Lookup<Option<V>>, Error>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Option<V>, E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    {
        let inner = &self.inner;
        let local = inner.local(&key).await;
        let mut slot = Some(loader);
        let make = |slot: &mut Option<F>| slot.take().map(boxed);
        match local {
            Local::Fresh(v) => {
                inner.counters.hits.incr();
                if v.is_none() {
                    inner.counters.negative_hits.incr();
                }
                return Ok(Lookup::new(v, CacheStatus::Hit));
            }
            Local::FreshRefresh(v) => {
                inner.counters.hits.incr();
                if v.is_none() {
                    inner.counters.negative_hits.incr();
                }
                if let Some(l) = make(&mut slot) {
                    inner.spawn_refresh(key, l);
                }
                return Ok(Lookup::new(v, CacheStatus::Hit));
            }
            Local::Stale(v) => {
                inner.counters.stale_hits.incr();
                if let Some(l) = make(&mut slot) {
                    inner.spawn_refresh(key, l);
                }
                return Ok(Lookup::new(v, CacheStatus::Stale));
            }
            Local::Absent => {}
        }
        inner.counters.misses.incr();
        inner.check_key(&key)?;
        inner.miss_optional(key, make(&mut slot)).await
    }

    /// Stores `value` with the default TTL. With Redis, also writes it there and tells
    /// the other replicas to drop their memory copy of `key`.
    ///
    /// # Errors
    /// [`Error::KeyTooLong`]. A value over the maximum entry weight is not an error: it is
    /// not stored, and counted in [`CacheStats::oversized`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), keel_cache::Error> {
    /// let cache: keel_cache::Cache<String, u32> = keel_cache::Cache::builder("n").max_key_len(8).build();
    /// cache.insert("short".into(), 1).await?;
    /// assert!(cache.insert("much too long".into(), 1).await.is_err());
    /// # Ok(()) }
    /// ```
    pub async fn insert(&self, key: K, value: V) -> Result<(), Error> {
        let ttl = self.inner.cfg.ttl;
        self.inner.insert_entry(key, Some(value), ttl).await
    }

    /// Stores `value` fresh for `ttl` instead of the default TTL (per-entry expiry).
    ///
    /// An entry never stays in memory longer than
    /// [`max_ttl`](CacheBuilder::max_ttl) (by default the cache's TTL plus stale window):
    /// set it when per-entry TTLs can exceed the default.
    ///
    /// # Errors
    /// As [`insert`](Self::insert).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), keel_cache::Error> {
    /// use std::time::Duration;
    /// let clock = keel_cache::Clock::manual();
    /// let cache: keel_cache::Cache<u8, u8> = keel_cache::Cache::builder("n").clock(clock.clone()).build();
    /// cache.insert_with_ttl(1, 1, Duration::from_secs(5)).await?;
    /// clock.advance(Duration::from_secs(5));
    /// assert_eq!(cache.get(&1).await, None);
    /// # Ok(()) }
    /// ```
    pub async fn insert_with_ttl(&self, key: K, value: V, ttl: Duration) -> Result<(), Error> {
        self.inner.insert_entry(key, Some(value), Some(ttl)).await
    }

    /// Caches "not found" for `key` for the [`negative_ttl`](CacheBuilder::negative_ttl)
    /// (does nothing without one).
    ///
    /// # Errors
    /// [`Error::KeyTooLong`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), keel_cache::Error> {
    /// use std::time::Duration;
    /// let cache: keel_cache::Cache<u8, u8> = keel_cache::Cache::builder("n")
    ///     .negative_ttl(Duration::from_secs(5))
    ///     .build();
    /// cache.insert_not_found(9).await?;
    /// let found = cache.get_or_load_optional(9, || async { Ok::<_, std::io::Error>(Some(1)) }).await?;
    /// assert_eq!(found.into_value(), None);
    /// # Ok(()) }
    /// ```
    pub async fn insert_not_found(&self, key: K) -> Result<(), Error> {
        let Some(ttl) = self.inner.cfg.negative_ttl else {
            return Ok(());
        };
        self.inner.insert_entry(key, None, Some(ttl)).await
    }

    /// Drops `key` from memory, from Redis, and (via Pub/Sub) from every other replica's
    /// memory. A load of `key` in flight still answers its waiters but is not cached.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), keel_cache::Error> {
    /// let cache: keel_cache::Cache<u8, u8> = keel_cache::Cache::builder("n").build();
    /// cache.insert(1, 1).await?;
    /// cache.invalidate(&1).await;
    /// assert_eq!(cache.get(&1).await, None);
    /// # Ok(()) }
    /// ```
    pub async fn invalidate(&self, key: &K) {
        let inner = &self.inner;
        // Order matters: flag loads in flight, delete in Redis, then flag again and drop
        // the memory copy — so neither a load that read the old value from Redis or the
        // database nor one that started meanwhile can re-cache it here.
        #[cfg(feature = "redis")]
        if let Some(l2) = &inner.l2 {
            inner.mark_flight(key);
            l2.delete(&key.to_key_string(), true).await;
        }
        inner.invalidate_local(key).await;
    }

    /// Drops every key whose [`CacheKey`] string starts with `prefix`, here, in Redis and
    /// on every replica — the `clear_pattern("prefix*")` of cache-aside designs. Build
    /// prefixes with [`Key::prefix`](crate::Key::prefix). Loads in flight are not cached.
    ///
    /// Costs a scan of the memory tier (O(entries)) and, with Redis, a `SCAN`/`UNLINK` over
    /// the cache's keys there: meant for occasional invalidations, not per request.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), keel_cache::Error> {
    /// use keel_cache::{Cache, Key};
    /// let cache: Cache<Key, u8> = Cache::builder("n").build();
    /// let user = Key::new("user").arg(7u32);
    /// cache.insert(user.clone().arg("profile"), 1).await?;
    /// cache.insert(user.clone().arg("orders"), 2).await?;
    /// cache.insert(Key::new("user").arg(8u32), 3).await?;
    /// cache.invalidate_prefix(user.prefix().as_str()).await;
    /// assert_eq!(cache.get(&user.clone().arg("orders")).await, None);
    /// assert_eq!(cache.get(&Key::new("user").arg(8u32)).await, Some(3));
    /// # Ok(()) }
    /// ```
    pub async fn invalidate_prefix(&self, prefix: &str) {
        let inner = &self.inner;
        #[cfg(feature = "redis")]
        if let Some(l2) = &inner.l2 {
            // Loads that start before Redis is cleaned must not cache what they read.
            inner.generation.fetch_add(1, Ordering::SeqCst);
            l2.delete_prefix(prefix).await;
        }
        inner.invalidate_prefix_local(prefix).await;
    }

    /// Invalidates the whole cache in O(1): memory here, and with Redis the namespace
    /// version is bumped (old Redis keys become unreachable and expire on their own) and
    /// every replica drops its memory tier.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), keel_cache::Error> {
    /// let cache: keel_cache::Cache<u8, u8> = keel_cache::Cache::builder("n").build();
    /// cache.insert(1, 1).await?;
    /// cache.invalidate_all().await;
    /// assert_eq!(cache.get(&1).await, None);
    /// # Ok(()) }
    /// ```
    pub async fn invalidate_all(&self) {
        let inner = &self.inner;
        #[cfg(feature = "redis")]
        if let Some(l2) = &inner.l2 {
            inner.generation.fetch_add(1, Ordering::SeqCst);
            l2.bump_version().await;
        }
        inner.invalidate_all_local();
    }

    /// Whether this instance's memory holds an entry for `key` (fresh, stale, or "not
    /// found"), without touching Redis or the statistics.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), keel_cache::Error> {
    /// let cache: keel_cache::Cache<u8, u8> = keel_cache::Cache::builder("n").build();
    /// cache.insert(1, 1).await?;
    /// assert!(cache.contains_local(&1) && !cache.contains_local(&2));
    /// # Ok(()) }
    /// ```
    pub fn contains_local(&self, key: &K) -> bool {
        self.inner.l1.contains_key(key)
    }

    /// A snapshot of the counters. See [`CacheStats`].
    ///
    /// ```
    /// let cache: keel_cache::Cache<u8, u8> = keel_cache::Cache::builder("n").build();
    /// assert_eq!(cache.stats().hit_ratio(), 0.0);
    /// ```
    pub fn stats(&self) -> CacheStats {
        let inner = &self.inner;
        #[cfg(feature = "redis")]
        let l2_up = inner.l2.as_ref().map(|l2| l2.is_up());
        #[cfg(not(feature = "redis"))]
        let l2_up = None;
        inner
            .counters
            .snapshot(inner.l1.entry_count(), inner.l1.weighted_size(), l2_up)
    }

    /// Applies moka's pending maintenance now (evictions, expirations, invalidation
    /// sweeps, exact entry counts). Useful in tests and before reading
    /// [`CacheStats::entries`]; never needed for correctness.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), keel_cache::Error> {
    /// let cache: keel_cache::Cache<u8, u8> = keel_cache::Cache::builder("n").build();
    /// cache.insert(1, 1).await?;
    /// cache.run_pending_tasks().await;
    /// assert_eq!(cache.stats().entries, 1);
    /// # Ok(()) }
    /// ```
    pub async fn run_pending_tasks(&self) {
        self.inner.l1.run_pending_tasks().await;
    }
}

impl<K, V> Inner<K, V>
where
    K: CacheKey,
    V: Clone + Send + Sync + 'static,
{
    #[inline]
    async fn local(&self, key: &K) -> Local<V> {
        let Some(e) = self.l1.get(key).await else {
            return Local::Absent;
        };
        if e.fresh_until() == NEVER {
            // No TTL: fresh forever, no clock read on the hot path.
            return Local::Fresh(e.into_value());
        }
        match e.freshness(self.clock.now_nanos(), self.cfg.policy, self.cfg.stale_ms) {
            Freshness::Fresh => Local::Fresh(e.into_value()),
            Freshness::FreshRefresh => Local::FreshRefresh(e.into_value()),
            Freshness::Stale => Local::Stale(e.into_value()),
            Freshness::Expired => Local::Absent,
        }
    }

    fn check_key(&self, key: &K) -> Result<(), Error> {
        let len = key.key_len();
        if len > self.cfg.max_key_len {
            return Err(Error::KeyTooLong {
                len,
                max: self.cfg.max_key_len,
            });
        }
        Ok(())
    }

    /// A value entry fresh for `ttl`.
    fn value_entry(&self, value: V, ttl: Option<Duration>, took: Duration) -> Entry<V> {
        let (now, ttl) = if self.cfg.moka_enforces_ttl && ttl == self.cfg.ttl {
            // moka's time_to_live is exactly this TTL: no deadline of our own.
            (0, None)
        } else {
            (self.clock.now_nanos(), ttl)
        };
        Entry::new(Some(value), now, ttl, self.cfg.stale_window, micros(took))
    }

    /// The entry to cache for a loaded value, or `None` when it must not be cached
    /// (a "not found" without a negative TTL).
    pub(crate) fn make_entry(&self, value: Option<V>, took: Duration) -> Option<Entry<V>> {
        match value {
            Some(v) => Some(self.value_entry(v, self.cfg.ttl, took)),
            None => self
                .cfg
                .negative_ttl
                .map(|ttl| Entry::new(None, self.clock.now_nanos(), Some(ttl), Duration::ZERO, 0)),
        }
    }

    fn too_heavy(&self, key: &K, entry: &Entry<V>) -> bool {
        if let (Some(w), Some(max), Some(v)) =
            (&self.cfg.weigher, self.cfg.max_entry_weight, &entry.value)
            && w(key, v) > max
        {
            bump(&self.counters.oversized);
            tracing::debug!(cache = %self.name, "value over the maximum entry weight, not cached");
            return true;
        }
        false
    }

    /// Stores in memory unless the key was invalidated since the load began (`flight`
    /// flag or a newer generation). Returns whether the entry is stored.
    pub(crate) async fn store_l1(
        &self,
        key: &K,
        entry: Entry<V>,
        flight: Option<&Flight<V>>,
        gen0: u64,
    ) -> bool {
        let stale = || {
            flight.is_some_and(|f| f.invalidated.load(Ordering::SeqCst))
                || self.generation.load(Ordering::SeqCst) != gen0
        };
        if self.too_heavy(key, &entry) || stale() {
            return false;
        }
        self.l1
            .insert(key.clone(), Slot::new(entry, self.cfg.stale_ms))
            .await;
        bump(&self.counters.inserts);
        // An invalidation that raced with the insert wins.
        if stale() {
            self.l1.invalidate(key).await;
            return false;
        }
        true
    }

    async fn insert_entry(
        &self,
        key: K,
        value: Option<V>,
        ttl: Option<Duration>,
    ) -> Result<(), Error> {
        self.check_key(&key)?;
        let entry = match value {
            Some(v) => self.value_entry(v, ttl, Duration::ZERO),
            None => Entry::new(None, self.clock.now_nanos(), ttl, Duration::ZERO, 0),
        };
        if self.too_heavy(&key, &entry) {
            // A smaller older value must not survive the rejected newer one.
            self.l1.invalidate(&key).await;
            return Ok(());
        }
        // An explicit write supersedes a load in flight.
        self.mark_flight(&key);
        #[cfg(feature = "redis")]
        let l2_entry = self.l2.as_ref().map(|_| entry.clone());
        self.l1
            .insert(key.clone(), Slot::new(entry, self.cfg.stale_ms))
            .await;
        bump(&self.counters.inserts);
        #[cfg(feature = "redis")]
        if let (Some(l2), Some(e)) = (&self.l2, l2_entry) {
            l2.set(&key.to_key_string(), &e, true).await;
        }
        #[cfg(not(feature = "redis"))]
        drop(key);
        Ok(())
    }

    pub(crate) async fn invalidate_local(&self, key: &K) {
        self.mark_flight(key);
        self.l1.invalidate(key).await;
    }

    /// Drops every memory entry whose key string matches. A scan of the memory tier:
    /// moka's lazy `invalidate_entries_if` would cost 32 bytes on *every* entry for
    /// an operation that is rare, so we pay O(entries) when it runs instead.
    async fn invalidate_matching_local(&self, matches: impl Fn(&K) -> bool) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        for (k, f) in lock(&self.flights).iter() {
            if matches(k) {
                f.invalidated.store(true, Ordering::SeqCst);
            }
        }
        let doomed: Vec<Arc<K>> = self
            .l1
            .iter()
            .filter_map(|(k, _)| matches(&k).then_some(k))
            .collect();
        for k in doomed {
            self.l1.invalidate(&*k).await;
        }
    }

    pub(crate) async fn invalidate_prefix_local(&self, prefix: &str) {
        self.invalidate_matching_local(|k| key_starts_with(k, prefix))
            .await;
    }

    /// Invalidates the key whose string form is `s`, for keys that cannot be parsed back.
    #[cfg(feature = "redis")]
    pub(crate) async fn invalidate_exact_string_local(&self, s: &str) {
        self.invalidate_matching_local(|k| {
            let mut buf = String::with_capacity(s.len());
            k.write_key(&mut buf);
            buf == s
        })
        .await;
    }

    pub(crate) fn invalidate_all_local(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        for f in lock(&self.flights).values() {
            f.invalidated.store(true, Ordering::SeqCst);
        }
        self.l1.invalidate_all();
    }
}
