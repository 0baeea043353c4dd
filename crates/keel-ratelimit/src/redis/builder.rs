//! [`RedisLimiterBuilder`]: quotas, timeouts, the fallback and its share, and the
//! connection (one node or a cluster).

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::Duration;

use super::{Counters, FailMode, Inner, RedisConnection, RedisLimiter, SCRIPT};
use crate::clock::Clock;
use crate::table::{Table, WhenFull};
use crate::{Error, KeyedLimiter, Limiter, Quota};

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
///     .replicas(4) // while Redis is down, each replica admits a quarter
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
    replicas: u32,
    fallback_quotas: Vec<Quota>,
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
            replicas: 1,
            fallback_quotas: Vec::new(),
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

    /// How many replicas of the service share this limit (default 1). While Redis is
    /// unreachable each replica's fallback enforces its **share** of every quota —
    /// the same rate over `replicas ×` the period, with the burst divided by
    /// `replicas` (at least 1) — so a fail-open outage does not multiply the limit by
    /// the number of replicas. Overridden by [`fallback_quotas`](Self::fallback_quotas).
    ///
    /// ```
    /// use keel_ratelimit::{Quota, redis::RedisLimiter};
    /// let b = RedisLimiter::builder().quota(Quota::per_minute(60)).replicas(3);
    /// // Each replica's fallback: 60 per 3 minutes (20 per minute), burst 20.
    /// # let _ = b;
    /// ```
    pub fn replicas(mut self, replicas: u32) -> Self {
        self.replicas = replicas;
        self
    }

    /// The quotas the local fallback enforces while Redis is unreachable, set
    /// explicitly (default: the configured quotas divided by
    /// [`replicas`](Self::replicas)).
    pub fn fallback_quotas(mut self, quotas: impl IntoIterator<Item = Quota>) -> Self {
        self.fallback_quotas = quotas.into_iter().collect();
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

    /// The local clock (retry interval, deny cache, fallback); default [`Clock::system`](crate::Clock::system).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The quotas the fallback would enforce: the explicit ones, else each quota's
    /// share for [`replicas`](Self::replicas).
    fn fallback_share(&self) -> Result<Vec<Quota>, Error> {
        if !self.fallback_quotas.is_empty() {
            return Ok(self.fallback_quotas.clone());
        }
        if self.replicas == 0 {
            return Err(Error::InvalidConfig("replicas must be at least 1"));
        }
        self.quotas
            .iter()
            .map(|q| share(*q, self.replicas))
            .collect()
    }

    /// Builds the limiter on an existing connection: a
    /// [`ConnectionManager`](redis::aio::ConnectionManager), a cluster connection
    /// (feature `redis-cluster`) or a [`RedisConnection`].
    ///
    /// # Errors
    /// [`Error::NoQuota`], [`Error::InvalidQuota`], [`Error::InvalidConfig`] (more than
    /// 16 quotas, a quota finer than one request per microsecond, Redis' resolution,
    /// zero replicas, or a fallback share too long to represent).
    pub fn build(self, conn: impl Into<RedisConnection>) -> Result<RedisLimiter, Error> {
        if self.quotas.is_empty() {
            return Err(Error::NoQuota);
        }
        if self.quotas.len() > crate::MAX_QUOTAS {
            return Err(Error::InvalidConfig("more than 16 quotas"));
        }
        let mut params_us = Vec::with_capacity(self.quotas.len());
        for q in &self.quotas {
            q.validate()?;
            let (t, tau) = q.gcra_ns();
            if t < 1_000 {
                return Err(Error::InvalidConfig(
                    "the Redis backend counts in microseconds: at most 1 000 000 requests per second",
                ));
            }
            params_us.push((t / 1_000, tau / 1_000));
        }
        let fallback = KeyedLimiter::builder()
            .quotas(self.fallback_share()?)
            .max_keys(self.fallback_max_keys.max(1))
            .clock(self.clock.clone())
            .build()?;
        let min_burst = self.quotas.iter().map(Quota::burst_size).min().unwrap_or(1);
        let deny_cache = (self.deny_cache > 0)
            .then(|| Table::new(self.deny_cache, 1_000_000_000, WhenFull::EvictNearestIdle));
        Ok(RedisLimiter {
            inner: Arc::new(Inner {
                conn: conn.into(),
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
                failed_key: Mutex::new(None),
                counters: Counters::default(),
            }),
        })
    }

    /// Builds a [`Limiter`]: on Redis through `conn` when there is one (as
    /// [`build`](Self::build)), otherwise in memory with the same quotas, this builder's
    /// clock and [`KeyedLimiter`]'s other defaults (one replica: the Redis settings and
    /// the fallback share do not apply). For a service that runs with or without Redis
    /// from one configuration.
    ///
    /// # Errors
    /// As for [`build`](Self::build); in memory, [`Error::NoQuota`] or
    /// [`Error::InvalidQuota`].
    ///
    /// ```
    /// use keel_ratelimit::{Quota, redis::{RedisConnection, RedisLimiter}};
    ///
    /// let redis: Option<RedisConnection> = None; // e.g. no REDIS_URL
    /// let limiter = RedisLimiter::builder()
    ///     .quotas(Quota::parse_many("100/second")?)
    ///     .prefix("app:rl:global:")
    ///     .replicas(3)
    ///     .build_or_memory(redis)?;
    /// assert!(limiter.as_keyed().is_some());
    /// # Ok::<(), keel_ratelimit::Error>(())
    /// ```
    pub fn build_or_memory(self, conn: Option<RedisConnection>) -> Result<Limiter, Error> {
        match conn {
            Some(conn) => self.build(conn).map(Limiter::from),
            None => KeyedLimiter::builder()
                .quotas(self.quotas)
                .clock(self.clock)
                .build()
                .map(Limiter::from),
        }
    }

    /// Connects to `url` with a reconnecting
    /// [`ConnectionManager`](redis::aio::ConnectionManager) and builds the limiter. The
    /// connection is made lazily: a Redis that is down at startup is an outage like
    /// any other (fallback or 503), not a startup failure.
    ///
    /// # Errors
    /// As for [`build`](Self::build), plus [`Error::Redis`] for an invalid URL.
    pub async fn connect(self, url: &str) -> Result<RedisLimiter, Error> {
        let wait = self.timeout.max(Duration::from_millis(250));
        let conn = super::RedisTarget::node(url)?.connect_lazy(wait)?;
        self.build(conn)
    }

    /// Connects to a Redis Cluster through any of its `nodes` (seed URLs such as
    /// `redis://10.0.0.1:6379`; the client discovers the rest) and builds the limiter.
    /// Like [`connect`](Self::connect), lazily: a cluster that is down at startup is
    /// an outage, not a startup failure.
    ///
    /// Each decision is one script on one key, so it always runs on the one master
    /// serving that key's slot; keys spread over the cluster.
    ///
    /// # Errors
    /// As for [`build`](Self::build), plus [`Error::Redis`] for no URL, an invalid
    /// URL, or seeds with different credentials. To share one connection, or to trust a
    /// private CA, build it with [`RedisTarget`](super::RedisTarget) and use [`build`](Self::build).
    #[cfg(feature = "redis-cluster")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis-cluster")))]
    pub async fn connect_cluster<I, S>(self, nodes: I) -> Result<RedisLimiter, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let wait = self.timeout.max(Duration::from_millis(250));
        let conn = super::RedisTarget::cluster(nodes)?.connect_lazy(wait)?;
        self.build(conn)
    }
}

/// One replica's share of `q` among `replicas`: the rate divided (the period
/// multiplied) and the burst divided, at least 1.
fn share(q: Quota, replicas: u32) -> Result<Quota, Error> {
    if replicas <= 1 {
        return Ok(q);
    }
    let period = q
        .period()
        .checked_mul(replicas)
        .ok_or(Error::InvalidConfig(
            "the fallback share's period overflows",
        ))?;
    let mut s = Quota::new(q.count(), period).burst((q.burst_size() / replicas).max(1));
    if let Some(name) = q.custom_name() {
        s = s.named(name);
    }
    s.validate()?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(q: Quota, replicas: u32, expected: (u32, Duration, u32)) {
        let s = share(q, replicas).unwrap();
        assert_eq!(
            (s.count(), s.period(), s.burst_size()),
            expected,
            "{q} / {replicas}"
        );
        // The share's rate is exactly 1/replicas of the quota's.
        assert_eq!(s.emission_interval(), q.emission_interval() * replicas);
    }

    #[test]
    fn shares() {
        let min = Duration::from_secs(60);
        check(Quota::per_minute(60), 1, (60, min, 60));
        check(Quota::per_minute(60), 3, (60, min * 3, 20));
        check(Quota::per_minute(5), 3, (5, min * 3, 1));
        check(Quota::per_minute(5).burst(10), 4, (5, min * 4, 2));
        check(Quota::per_second(1), 100, (1, Duration::from_secs(100), 1));
        assert_eq!(
            share(Quota::per_minute(5).named("login"), 2)
                .unwrap()
                .policy_name(),
            "login"
        );
    }

    #[test]
    fn explicit_fallback_quotas_win_and_zero_replicas_is_an_error() {
        let b = RedisLimiterBuilder::default()
            .quota(Quota::per_minute(60))
            .replicas(3)
            .fallback_quotas([Quota::per_minute(7)]);
        assert_eq!(b.fallback_share().unwrap(), vec![Quota::per_minute(7)]);
        let b = RedisLimiterBuilder::default()
            .quota(Quota::per_minute(60))
            .replicas(0);
        assert!(matches!(b.fallback_share(), Err(Error::InvalidConfig(_))));
    }
}
