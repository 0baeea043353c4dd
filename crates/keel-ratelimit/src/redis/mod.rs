//! The Redis backend: one limit shared by every replica of a service.
//!
//! Each decision is one `EVALSHA` of a Lua script ([`SCRIPT`]) that runs GCRA for every
//! quota of the key atomically, on the **Redis server's clock** (`TIME`), so replica clock
//! skew does not matter. Keys expire on their own once idle.
//!
//! When Redis errors or does not answer within the timeout (default 50 ms) the limiter
//! either falls back to a local in-memory limiter with the same quotas (fail-open, the
//! default) or returns [`Error::Unavailable`] (fail-closed). Either way it logs one
//! warning, counts the failures, and probes Redis again every `retry_interval`, switching
//! back on the first success. Optionally it caches keys Redis reported over the limit, so
//! a flood from one key is answered locally until that key could pass again.
//!
//! ```no_run
//! use keel_ratelimit::{Key, Quota, redis::RedisLimiter};
//!
//! # async fn run() -> Result<(), keel_ratelimit::Error> {
//! let limiter = RedisLimiter::builder()
//!     .quota(Quota::per_minute(5))
//!     .prefix("myapp:login")
//!     .connect("redis://127.0.0.1:6379")
//!     .await?;
//! let d = limiter.check_key(&Key::from("alice"), 1).await?;
//! println!("allowed: {}, remaining: {}", d.is_allowed(), d.remaining());
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::clock::Clock;
use crate::decision::{Decision, QuotaState, Source};
use crate::table::{Expires, Table, WhenFull};
use crate::{Error, Key, KeyedLimiter, Quota};

/// The Lua script: GCRA over all quotas of one key, on the server clock.
pub const SCRIPT: &str = include_str!("script.lua");

/// What to do when Redis fails or times out.
///
/// ```
/// assert_eq!(keel_ratelimit::redis::FailMode::default(), keel_ratelimit::redis::FailMode::Open);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailMode {
    /// Decide with a local in-memory limiter with the same quotas (default): the service
    /// stays up and every replica still enforces the limit locally, so the effective
    /// limit is at most `replicas ×` the configured one during the outage.
    #[default]
    Open,
    /// Return [`Error::Unavailable`] / [`Error::Timeout`]; the tower layer answers 503.
    Closed,
}

/// Counters of a [`RedisLimiter`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisStats {
    /// Decisions made by Redis.
    pub redis_decisions: u64,
    /// Decisions made by the local fallback limiter (fail-open).
    pub fallback_decisions: u64,
    /// Denials answered from the local cache of over-limit keys.
    pub deny_cache_hits: u64,
    /// Redis errors and timeouts.
    pub errors: u64,
    /// Requests refused because Redis was down under [`FailMode::Closed`].
    pub unavailable: u64,
}

#[derive(Default)]
struct Counters {
    redis: AtomicU64,
    fallback: AtomicU64,
    cache_hits: AtomicU64,
    errors: AtomicU64,
    unavailable: AtomicU64,
}

/// A cached denial: until when (local clock) and which quota denied.
struct Denied {
    until: u64,
    quota: usize,
}

impl Expires for Denied {
    fn expires_at(&self) -> u64 {
        self.until
    }
}

struct Inner {
    conn: ConnectionManager,
    script: redis::Script,
    quotas: Box<[Quota]>,
    params_us: Box<[(u64, u64)]>,
    min_burst: u32,
    prefix: String,
    timeout: Duration,
    fail_mode: FailMode,
    retry_interval_ns: u64,
    fallback: KeyedLimiter<Key>,
    deny_cache: Option<Table<Key, Denied>>,
    clock: Clock,
    down: AtomicBool,
    probing: AtomicBool,
    next_probe: AtomicU64,
    counters: Counters,
}

/// A keyed GCRA limiter whose state lives in Redis, shared by every replica.
/// Cloning is cheap (an `Arc`). See the [module docs](self).
#[derive(Clone)]
pub struct RedisLimiter {
    inner: Arc<Inner>,
}

impl fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLimiter")
            .field("quotas", &self.inner.quotas)
            .field("prefix", &self.inner.prefix)
            .field("timeout", &self.inner.timeout)
            .field("fail_mode", &self.inner.fail_mode)
            .field("degraded", &self.is_degraded())
            .finish_non_exhaustive()
    }
}

/// Builder of a [`RedisLimiter`].
///
/// ```
/// use std::time::Duration;
/// use keel_ratelimit::{Quota, redis::{FailMode, RedisLimiter}};
/// let builder = RedisLimiter::builder()
///     .quotas(Quota::parse_many("10/second; 1000/day")?)
///     .prefix("api")
///     .timeout(Duration::from_millis(50))
///     .fail_mode(FailMode::Open)
///     .retry_interval(Duration::from_secs(1))
///     .deny_cache(100_000);
/// # let _ = builder;
/// # Ok::<(), keel_ratelimit::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct RedisLimiterBuilder {
    quotas: Vec<Quota>,
    prefix: String,
    timeout: Duration,
    fail_mode: FailMode,
    retry_interval: Duration,
    deny_cache: usize,
    fallback_max_keys: usize,
    clock: Clock,
}

impl Default for RedisLimiterBuilder {
    fn default() -> Self {
        Self {
            quotas: Vec::new(),
            prefix: "keel:rl".to_owned(),
            timeout: Duration::from_millis(50),
            fail_mode: FailMode::Open,
            retry_interval: Duration::from_secs(1),
            deny_cache: 0,
            fallback_max_keys: 100_000,
            clock: Clock::default(),
        }
    }
}

impl RedisLimiterBuilder {
    /// Adds a quota (several are ANDed).
    pub fn quota(mut self, quota: Quota) -> Self {
        self.quotas.push(quota);
        self
    }

    /// Adds quotas, e.g. from [`Quota::parse_many`].
    pub fn quotas(mut self, quotas: impl IntoIterator<Item = Quota>) -> Self {
        self.quotas.extend(quotas);
        self
    }

    /// The Redis key prefix (default `keel:rl`): keys are `<prefix>:<key>`. Give each
    /// limit its own prefix; replicas sharing a limit share the prefix.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long to wait for Redis before treating it as failed (default 50 ms).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Fail open to a local limiter (default) or fail closed.
    pub fn fail_mode(mut self, mode: FailMode) -> Self {
        self.fail_mode = mode;
        self
    }

    /// While Redis is down, how often one request probes it (default 1 s); the others
    /// go straight to the fallback instead of waiting for the timeout.
    pub fn retry_interval(mut self, every: Duration) -> Self {
        self.retry_interval = every;
        self
    }

    /// Caches up to `max_keys` keys Redis reported over the limit and denies them
    /// locally until a request of cost 1 could pass (default 0: off). Cuts Redis load
    /// under a flood from few keys; a cached denial may outlive a `DEL` of the key.
    pub fn deny_cache(mut self, max_keys: usize) -> Self {
        self.deny_cache = max_keys;
        self
    }

    /// The key cap of the local fallback limiter (default 100 000).
    pub fn fallback_max_keys(mut self, max_keys: usize) -> Self {
        self.fallback_max_keys = max_keys;
        self
    }

    /// The local clock (retry interval, deny cache, fallback); default monotonic.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Builds the limiter on an existing connection manager.
    ///
    /// # Errors
    /// [`Error::NoQuota`], [`Error::InvalidQuota`], [`Error::InvalidConfig`] (more than
    /// 16 quotas, or a quota finer than one request per microsecond, Redis' resolution).
    pub fn build(self, conn: ConnectionManager) -> Result<RedisLimiter, Error> {
        let fallback = KeyedLimiter::builder()
            .quotas(self.quotas.iter().copied())
            .max_keys(self.fallback_max_keys.max(1))
            .clock(self.clock.clone())
            .build()?;
        let mut params_us = Vec::with_capacity(self.quotas.len());
        for q in &self.quotas {
            let (t, tau) = q.gcra_ns();
            if t < 1_000 {
                return Err(Error::InvalidConfig(
                    "the Redis backend counts in microseconds: at most 1 000 000 requests per second",
                ));
            }
            params_us.push((t / 1_000, tau / 1_000));
        }
        let min_burst = self.quotas.iter().map(Quota::burst_size).min().unwrap_or(1);
        let deny_cache = (self.deny_cache > 0)
            .then(|| Table::new(self.deny_cache, 1_000_000_000, WhenFull::EvictNearestIdle));
        Ok(RedisLimiter {
            inner: Arc::new(Inner {
                conn,
                script: redis::Script::new(SCRIPT),
                quotas: self.quotas.into_boxed_slice(),
                params_us: params_us.into_boxed_slice(),
                min_burst,
                prefix: self.prefix,
                timeout: self.timeout,
                fail_mode: self.fail_mode,
                retry_interval_ns: u64::try_from(self.retry_interval.as_nanos())
                    .unwrap_or(u64::MAX),
                fallback,
                deny_cache,
                clock: self.clock,
                down: AtomicBool::new(false),
                probing: AtomicBool::new(false),
                next_probe: AtomicU64::new(0),
                counters: Counters::default(),
            }),
        })
    }

    /// Connects to `url` with a reconnecting [`ConnectionManager`] and builds the
    /// limiter. The connection is made lazily: a Redis that is down at startup is an
    /// outage like any other (fallback or 503), not a startup failure.
    ///
    /// # Errors
    /// As for [`build`](Self::build), plus [`Error::Redis`] for an invalid URL.
    pub async fn connect(self, url: &str) -> Result<RedisLimiter, Error> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout.max(Duration::from_millis(250))))
            .set_response_timeout(Some(self.timeout.max(Duration::from_millis(250))))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(Duration::from_millis(100));
        let conn = ConnectionManager::new_lazy_with_config(client, config)?;
        self.build(conn)
    }
}

impl RedisLimiter {
    /// A builder.
    pub fn builder() -> RedisLimiterBuilder {
        RedisLimiterBuilder::default()
    }

    /// The quotas, in order.
    pub fn quotas(&self) -> &[Quota] {
        &self.inner.quotas
    }

    /// Whether Redis is currently considered down (decisions go to the fallback).
    pub fn is_degraded(&self) -> bool {
        self.inner.down.load(Ordering::Acquire)
    }

    /// Counters since the limiter was built.
    pub fn stats(&self) -> RedisStats {
        let c = &self.inner.counters;
        RedisStats {
            redis_decisions: c.redis.load(Ordering::Relaxed),
            fallback_decisions: c.fallback.load(Ordering::Relaxed),
            deny_cache_hits: c.cache_hits.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
            unavailable: c.unavailable.load(Ordering::Relaxed),
        }
    }

    /// The local fallback limiter (same quotas), e.g. for its statistics.
    pub fn fallback(&self) -> &KeyedLimiter<Key> {
        &self.inner.fallback
    }

    /// Checks and, if admitted, consumes `cost` units for `key` in Redis.
    ///
    /// # Errors
    /// [`Error::CostExceedsBurst`]; under [`FailMode::Closed`], [`Error::Timeout`],
    /// [`Error::Redis`] or [`Error::Unavailable`] when Redis fails.
    pub async fn check_key(&self, key: &Key, cost: u32) -> Result<Decision, Error> {
        self.decide(key, cost, true).await
    }

    /// What [`check_key`](Self::check_key) would answer, consuming nothing.
    ///
    /// # Errors
    /// As for `check_key`.
    pub async fn peek_key(&self, key: &Key, cost: u32) -> Result<Decision, Error> {
        self.decide(key, cost, false).await
    }

    /// Forgets `key` everywhere this limiter keeps it: its state in Redis (one `DEL`), its
    /// cached denial and its fallback state (e.g. after a successful login). Returns
    /// whether Redis held state for the key.
    ///
    /// # Errors
    /// [`Error::Timeout`] or [`Error::Redis`] when Redis fails; the local state is cleared
    /// anyway, and the Redis state still expires on its own once idle.
    pub async fn reset_key(&self, key: &Key) -> Result<bool, Error> {
        let inner = &*self.inner;
        inner.fallback.reset_key(key);
        if let Some(cache) = &inner.deny_cache {
            cache.remove(key);
        }
        let mut conn = inner.conn.clone();
        let mut cmd = redis::cmd("DEL");
        cmd.arg(format!("{}:{key}", inner.prefix));
        match tokio::time::timeout(inner.timeout, cmd.query_async::<i64>(&mut conn)).await {
            Ok(Ok(n)) => Ok(n > 0),
            Ok(Err(e)) => {
                inner.counters.errors.fetch_add(1, Ordering::Relaxed);
                Err(e.into())
            }
            Err(_) => {
                inner.counters.errors.fetch_add(1, Ordering::Relaxed);
                Err(Error::Timeout {
                    after: inner.timeout,
                })
            }
        }
    }

    async fn decide(&self, key: &Key, cost: u32, consume: bool) -> Result<Decision, Error> {
        let inner = &*self.inner;
        if cost > inner.min_burst {
            return Err(Error::CostExceedsBurst {
                cost,
                burst: inner.min_burst,
            });
        }
        let now = inner.clock.now_ns();
        if let Some(d) = self.cached_denial(key, cost, now) {
            return Ok(d);
        }
        if inner.down.load(Ordering::Acquire) {
            let due = now >= inner.next_probe.load(Ordering::Acquire);
            if !(due
                && inner
                    .probing
                    .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok())
            {
                return self.degraded(key, cost, consume, None);
            }
            let result = self.call_redis(key, cost, consume).await;
            inner.probing.store(false, Ordering::Release);
            return match result {
                Ok(d) => {
                    inner.down.store(false, Ordering::Release);
                    tracing::info!(prefix = %inner.prefix, "redis rate limiting recovered");
                    Ok(self.after_redis(key, d, now))
                }
                Err(e) => {
                    inner.counters.errors.fetch_add(1, Ordering::Relaxed);
                    inner.next_probe.store(
                        now.saturating_add(inner.retry_interval_ns),
                        Ordering::Release,
                    );
                    self.degraded(key, cost, consume, Some(e))
                }
            };
        }
        match self.call_redis(key, cost, consume).await {
            Ok(d) => Ok(self.after_redis(key, d, now)),
            Err(e) => {
                inner.counters.errors.fetch_add(1, Ordering::Relaxed);
                inner.next_probe.store(
                    now.saturating_add(inner.retry_interval_ns),
                    Ordering::Release,
                );
                if !inner.down.swap(true, Ordering::AcqRel) {
                    tracing::warn!(
                        prefix = %inner.prefix,
                        error = %e,
                        fail_mode = ?inner.fail_mode,
                        "redis rate limiting failed; using the fallback until it recovers"
                    );
                }
                self.degraded(key, cost, consume, Some(e))
            }
        }
    }

    fn degraded(
        &self,
        key: &Key,
        cost: u32,
        consume: bool,
        error: Option<Error>,
    ) -> Result<Decision, Error> {
        let inner = &*self.inner;
        match inner.fail_mode {
            FailMode::Open => {
                inner.counters.fallback.fetch_add(1, Ordering::Relaxed);
                let d = if consume {
                    inner.fallback.check_key(key, cost)
                } else {
                    inner.fallback.peek_key(key, cost)
                };
                d.map(|d| d.with_source(Source::Fallback))
            }
            FailMode::Closed => {
                inner.counters.unavailable.fetch_add(1, Ordering::Relaxed);
                Err(error.unwrap_or(Error::Unavailable))
            }
        }
    }

    fn cached_denial(&self, key: &Key, cost: u32, now: u64) -> Option<Decision> {
        let cache = self.inner.deny_cache.as_ref()?;
        let hash = cache.hash(key);
        let shard = cache.lock(hash, now);
        let (_, denied) = shard.map.find(hash, |(k, _)| k == key)?;
        if denied.until <= now || cost == 0 {
            return None;
        }
        let wait = Duration::from_nanos(denied.until - now);
        let quota = self.inner.quotas.get(denied.quota).copied()?;
        self.inner
            .counters
            .cache_hits
            .fetch_add(1, Ordering::Relaxed);
        Some(Decision::single(
            false,
            cost,
            Source::DenyCache,
            QuotaState {
                quota,
                remaining: 0,
                reset_after: wait,
                retry_after: Some(wait),
            },
        ))
    }

    fn after_redis(&self, key: &Key, (d, wait_one): (Decision, Duration), now: u64) -> Decision {
        let inner = &*self.inner;
        inner.counters.redis.fetch_add(1, Ordering::Relaxed);
        if let (Some(cache), true) = (&inner.deny_cache, d.is_denied() && !wait_one.is_zero()) {
            let quota = d
                .quotas()
                .iter()
                .enumerate()
                .max_by_key(|(_, s)| s.retry_after)
                .map_or(0, |(i, _)| i);
            let until =
                now.saturating_add(u64::try_from(wait_one.as_nanos()).unwrap_or(u64::MAX / 4));
            let hash = cache.hash(key);
            let mut shard = cache.lock(hash, now);
            match shard.map.find_mut(hash, |(k, _)| k == key) {
                Some((_, v)) => *v = Denied { until, quota },
                None => {
                    cache.insert(&mut shard, hash, key.clone(), Denied { until, quota }, now);
                }
            }
        }
        d
    }

    async fn call_redis(
        &self,
        key: &Key,
        cost: u32,
        consume: bool,
    ) -> Result<(Decision, Duration), Error> {
        let inner = &*self.inner;
        let mut conn = inner.conn.clone();
        let mut inv = inner.script.key(format!("{}:{key}", inner.prefix));
        inv.arg(cost)
            .arg(u8::from(consume))
            .arg(inner.params_us.len());
        for (t, tau) in &*inner.params_us {
            inv.arg(*t).arg(*tau);
        }
        let reply: Vec<i64> =
            match tokio::time::timeout(inner.timeout, inv.invoke_async(&mut conn)).await {
                Ok(r) => r?,
                Err(_) => {
                    return Err(Error::Timeout {
                        after: inner.timeout,
                    });
                }
            };
        self.parse_reply(&reply, cost)
    }

    fn parse_reply(&self, reply: &[i64], cost: u32) -> Result<(Decision, Duration), Error> {
        let n = self.inner.quotas.len();
        if reply.len() != 3 + 3 * n {
            return Err(Error::Backend(format!(
                "unexpected script reply of {} values",
                reply.len()
            )));
        }
        let us = |v: i64| Duration::from_micros(u64::try_from(v).unwrap_or(0));
        let allowed = reply[0] == 1;
        let wait_one = us(reply[2]);
        let states = self
            .inner
            .quotas
            .iter()
            .zip(reply[3..].chunks_exact(3))
            .map(|(q, c)| QuotaState {
                quota: *q,
                remaining: u32::try_from(c[0].max(0)).unwrap_or(u32::MAX),
                reset_after: us(c[1]),
                retry_after: (c[2] >= 0).then(|| us(c[2])),
            })
            .collect();
        Ok((
            Decision::from_states(allowed, cost, Source::Redis, states),
            wait_one,
        ))
    }
}
