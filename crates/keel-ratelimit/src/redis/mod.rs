//! The Redis backend: one limit shared by every replica of a service.
//!
//! Each decision is one `EVALSHA` of a Lua script ([`SCRIPT`]) that runs GCRA for every
//! quota of the key atomically, on the **Redis server's clock** (`TIME`), so replica clock
//! skew does not matter. Keys expire on their own once idle.
//!
//! When Redis errors or does not answer within the timeout (default 50 ms) the limiter
//! either falls back to a local in-memory limiter (fail-open, the default) or returns
//! [`Error::Unavailable`] (fail-closed). The fallback enforces this replica's **share**
//! of each quota ([`replicas`](RedisLimiterBuilder::replicas) or
//! [`fallback_quotas`](RedisLimiterBuilder::fallback_quotas)), so an outage does not
//! multiply the limit by the number of replicas. The switch to the fallback is logged
//! once (warning) and counted ([`RedisStats::fallback_entered`]); one request per
//! `retry_interval` probes Redis — first the node that failed, then its own key — and
//! the first success switches back (logged once at info, counted in
//! [`RedisStats::fallback_exited`]). Optionally the limiter caches keys Redis reported
//! over the limit, so a flood from one key is answered locally until that key could pass
//! again.
//!
//! **Redis Cluster** (feature `redis-cluster`,
//! `RedisLimiterBuilder::connect_cluster`): the script reads and
//! writes one key (a hash holding every quota's state), so it always runs on the one
//! master serving that key's slot and needs no hash tag; keys spread over the masters.
//! A failed master is an outage like a failed single node: the whole limiter falls back
//! (so every key gets the same, shared-quota semantics) until that master, or its
//! promoted replica, answers again.
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

mod builder;
mod conn;
mod settings;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

pub use builder::RedisLimiterBuilder;
#[cfg(feature = "rustls")]
pub use conn::MAX_ROOT_CERTIFICATES_FILE;
pub use conn::{RedisConnection, RedisTarget};
pub use settings::{RedisInput, RedisTargetError};

use crate::clock::Clock;
use crate::decision::{Decision, QuotaState, Source};
use crate::table::{Expires, Table};
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
    /// Decide with a local in-memory limiter (default): the service stays up and every
    /// replica enforces its share of the limit locally
    /// ([`replicas`](RedisLimiterBuilder::replicas)); with the default of one replica
    /// the effective limit is at most `replicas ×` the configured one during the outage.
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
    /// Times the limiter switched from Redis to the fallback (outages begun).
    pub fallback_entered: u64,
    /// Times it switched back to Redis (outages ended).
    pub fallback_exited: u64,
}

#[derive(Default)]
struct Counters {
    redis: AtomicU64,
    fallback: AtomicU64,
    cache_hits: AtomicU64,
    errors: AtomicU64,
    unavailable: AtomicU64,
    entered: AtomicU64,
    exited: AtomicU64,
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
    conn: RedisConnection,
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
    /// The Redis key whose failure began the outage: probes check its node first, so a
    /// cluster with one dead master does not flap between Redis and the fallback.
    failed_key: Mutex<Option<String>>,
    counters: Counters,
}

/// Clears the "a probe is running" flag when the probe ends, however it ends.
struct ProbeGuard<'a>(&'a AtomicBool);

impl Drop for ProbeGuard<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
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
            fallback_entered: c.entered.load(Ordering::Relaxed),
            fallback_exited: c.exited.load(Ordering::Relaxed),
        }
    }

    /// The local fallback limiter (this replica's share of the quotas), e.g. for its
    /// quotas and statistics.
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
            // Released on drop too: a caller cancelled mid-probe (a client gone, a
            // request timeout) must not leave the limiter unable to probe again.
            let probing = ProbeGuard(&inner.probing);
            let result = match self.probe_failed_node().await {
                Ok(()) => self.call_redis(key, cost, consume).await,
                Err(e) => Err(e),
            };
            drop(probing);
            return match result {
                Ok(d) => {
                    inner.down.store(false, Ordering::Release);
                    inner.counters.exited.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(prefix = %inner.prefix, "redis rate limiting recovered; leaving the fallback");
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
                    inner.counters.entered.fetch_add(1, Ordering::Relaxed);
                    *inner
                        .failed_key
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = Some(self.redis_key(key));
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
                match d {
                    Ok(d) => Ok(d.with_source(Source::Fallback)),
                    // Valid for the shared quota, over this replica's smaller share: deny
                    // until Redis may be back rather than fail a request that is fine.
                    Err(Error::CostExceedsBurst { .. }) => self.share_denial(cost),
                    Err(e) => Err(e),
                }
            }
            FailMode::Closed => {
                inner.counters.unavailable.fetch_add(1, Ordering::Relaxed);
                Err(error.unwrap_or(Error::Unavailable))
            }
        }
    }

    fn share_denial(&self, cost: u32) -> Result<Decision, Error> {
        let inner = &*self.inner;
        let wait = Duration::from_nanos(inner.retry_interval_ns);
        let quota = *inner.fallback.quotas().first().ok_or(Error::NoQuota)?;
        Ok(Decision::single(
            false,
            cost,
            Source::Fallback,
            QuotaState {
                quota,
                remaining: 0,
                reset_after: wait,
                retry_after: Some(wait),
            },
        ))
    }

    /// While down: checks the node of the key whose failure began the outage (a
    /// cheap `EXISTS` routed to its slot), so recovery means that node is back.
    async fn probe_failed_node(&self) -> Result<(), Error> {
        let inner = &*self.inner;
        let failed = inner
            .failed_key
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let Some(failed) = failed else {
            return Ok(());
        };
        let mut conn = inner.conn.clone();
        let mut cmd = redis::cmd("EXISTS");
        cmd.arg(failed);
        match tokio::time::timeout(inner.timeout, cmd.query_async::<i64>(&mut conn)).await {
            Ok(r) => r.map(|_| ()).map_err(Error::from),
            Err(_) => Err(Error::Timeout {
                after: inner.timeout,
            }),
        }
    }

    fn redis_key(&self, key: &Key) -> String {
        format!("{}:{key}", self.inner.prefix)
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
        let mut inv = inner.script.key(self.redis_key(key));
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
