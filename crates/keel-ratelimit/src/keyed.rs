//! [`KeyedLimiter`]: the in-memory keyed limiter.

use std::fmt;
use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::decision::{Decision, QuotaState, Source};
use crate::gcra::{Engine, Outcome};
use crate::table::{Expires, Table, WhenFull};
use crate::{Error, Key, Quota};

/// At most this many quotas per limiter (each request evaluates all of them).
pub const MAX_QUOTAS: usize = 16;

/// The TATs of one key, one per quota (0 = never used).
/// TATs of quotas 2..n.
pub(crate) struct Rest(Box<[u64]>);

pub(crate) struct Tats {
    first: u64,
    /// The other quotas' TATs, behind a thin pointer: single-quota entries stay small.
    rest: Option<Box<Rest>>,
}

impl Expires for Tats {
    #[inline]
    fn expires_at(&self) -> u64 {
        match &self.rest {
            None => self.first,
            Some(r) => r.0.iter().copied().fold(self.first, u64::max),
        }
    }
}

/// Counters of a limiter since it was built.
///
/// ```
/// use keel_ratelimit::{KeyedLimiter, Quota};
/// let limiter = KeyedLimiter::builder().quota(Quota::per_minute(1)).build()?;
/// let key = "k".into();
/// limiter.check_key(&key, 1)?;
/// limiter.check_key(&key, 1)?;
/// let s = limiter.stats();
/// assert_eq!((s.allowed, s.denied, s.keys), (1, 1, 1));
/// # Ok::<(), keel_ratelimit::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LimiterStats {
    /// Requests admitted (peeks not counted).
    pub allowed: u64,
    /// Requests denied (peeks not counted).
    pub denied: u64,
    /// Keys tracked now.
    pub keys: usize,
    /// Keys removed: idle ones swept, plus live ones evicted at the cap.
    pub evictions: u64,
    /// Requests denied because the table was full under [`WhenFull::DenyNewKeys`].
    pub rejected_new_keys: u64,
}

struct Inner<K> {
    quotas: Box<[Quota]>,
    engines: Box<[Engine]>,
    min_burst: u32,
    table: Table<K, Tats>,
    clock: Clock,
}

/// A keyed GCRA rate limiter in memory, built on governor: one `u64` of state per key
/// and quota, several quotas ANDed, peeking, idle keys evicted as it goes (no thread to
/// spawn), and a hard cap on the number of keys.
///
/// Cloning is cheap and clones share state.
///
/// ```
/// use keel_ratelimit::{Key, KeyedLimiter, Quota};
///
/// let limiter = KeyedLimiter::builder()
///     .quotas(Quota::parse_many("5/minute; 100/day")?)
///     .max_keys(100_000)
///     .build()?;
/// let key = Key::from("alice");
/// let d = limiter.check_key(&key, 1)?;
/// assert!(d.is_allowed());
/// assert_eq!(d.remaining(), 4);
/// assert_eq!(limiter.peek_key(&key, 4)?.remaining(), 4); // peeking consumes nothing
/// assert_eq!(limiter.len(), 1);
/// # Ok::<(), keel_ratelimit::Error>(())
/// ```
pub struct KeyedLimiter<K = Key> {
    inner: Arc<Inner<K>>,
}

impl<K> Clone for KeyedLimiter<K> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K> fmt::Debug for KeyedLimiter<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedLimiter")
            .field("quotas", &self.inner.quotas)
            .field("clock", &self.inner.clock)
            .finish_non_exhaustive()
    }
}

/// Builder of a [`KeyedLimiter`].
///
/// ```
/// use std::time::Duration;
/// use keel_ratelimit::{KeyedLimiter, Quota, WhenFull};
/// let limiter: KeyedLimiter = KeyedLimiter::builder()
///     .quota(Quota::per_second(10).burst(20))
///     .max_keys(50_000)
///     .when_full(WhenFull::EvictNearestIdle)
///     .sweep_interval(Duration::from_secs(30))
///     .build()?;
/// # Ok::<(), keel_ratelimit::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct KeyedLimiterBuilder<K = Key> {
    quotas: Vec<Quota>,
    max_keys: usize,
    when_full: WhenFull,
    sweep_interval: Duration,
    clock: Clock,
    _key: std::marker::PhantomData<fn(K)>,
}

impl<K: Hash + Eq + Clone> KeyedLimiterBuilder<K> {
    /// A builder for keys of type `K` (any `Hash + Eq + Clone`: IPs, user ids, tuples…).
    ///
    /// ```
    /// use keel_ratelimit::{KeyedLimiterBuilder, Quota};
    /// let per_user = KeyedLimiterBuilder::<(u64, &'static str)>::new().quota(Quota::per_second(2)).build()?;
    /// assert!(per_user.check_key(&(7, "upload"), 1)?.is_allowed());
    /// # Ok::<(), keel_ratelimit::Error>(())
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

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

    /// The hard cap on tracked keys (default 1 000 000: tens of MB at most, see
    /// [`KeyedLimiter::memory_bytes`]). Rounded down to a multiple of the shard count.
    pub fn max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys;
        self
    }

    /// What happens when the cap is reached (default [`WhenFull::EvictNearestIdle`]).
    pub fn when_full(mut self, when_full: WhenFull) -> Self {
        self.when_full = when_full;
        self
    }

    /// How often each shard sweeps idle keys when touched (default 10 s). Shards also
    /// sweep whenever they double in size and before evicting at the cap.
    pub fn sweep_interval(mut self, every: Duration) -> Self {
        self.sweep_interval = every;
        self
    }

    /// The clock (default: [`Clock::system`]; [`Clock::manual`] in tests).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Builds the limiter.
    ///
    /// # Errors
    /// [`Error::NoQuota`], [`Error::InvalidQuota`] for a quota that fails
    /// [`Quota::validate`], [`Error::InvalidConfig`] for more than [`MAX_QUOTAS`] quotas
    /// or a zero `max_keys`.
    pub fn build(self) -> Result<KeyedLimiter<K>, Error> {
        if self.quotas.is_empty() {
            return Err(Error::NoQuota);
        }
        if self.quotas.len() > MAX_QUOTAS {
            return Err(Error::InvalidConfig("more than 16 quotas"));
        }
        if self.max_keys == 0 {
            return Err(Error::InvalidConfig("max_keys must be at least 1"));
        }
        let engines = self
            .quotas
            .iter()
            .map(|q| Engine::new(*q))
            .collect::<Result<Box<[_]>, _>>()?;
        let min_burst = engines.iter().map(|e| e.burst).min().unwrap_or(1);
        let sweep_ns = u64::try_from(self.sweep_interval.as_nanos())
            .unwrap_or(u64::MAX)
            .max(1);
        Ok(KeyedLimiter {
            inner: Arc::new(Inner {
                quotas: self.quotas.into_boxed_slice(),
                engines,
                min_burst,
                table: Table::new(self.max_keys, sweep_ns, self.when_full),
                clock: self.clock,
            }),
        })
    }
}

impl<K: Hash + Eq + Clone> Default for KeyedLimiterBuilder<K> {
    fn default() -> Self {
        Self {
            quotas: Vec::new(),
            max_keys: 1_000_000,
            when_full: WhenFull::default(),
            sweep_interval: Duration::from_secs(10),
            clock: Clock::default(),
            _key: std::marker::PhantomData,
        }
    }
}

impl KeyedLimiter<Key> {
    /// A builder of a limiter on [`Key`]s. For other key types (any `Hash + Eq + Clone`),
    /// use [`KeyedLimiterBuilder::new`].
    ///
    /// ```
    /// use keel_ratelimit::{Key, KeyedLimiter, Quota};
    /// let limiter = KeyedLimiter::builder().quota(Quota::per_minute(5)).build()?;
    /// assert!(limiter.check_key(&Key::from("alice"), 1)?.is_allowed());
    /// # Ok::<(), keel_ratelimit::Error>(())
    /// ```
    pub fn builder() -> KeyedLimiterBuilder<Key> {
        KeyedLimiterBuilder::new()
    }

    /// A limiter on [`Key`]s from a quota spec like `"5/minute"` or `"10/second;1000/day"`,
    /// with default settings.
    ///
    /// # Errors
    /// [`Error::InvalidQuota`] for a malformed spec.
    ///
    /// ```
    /// let limiter = keel_ratelimit::KeyedLimiter::from_spec("5/minute")?;
    /// assert!(limiter.check_key(&"k".into(), 1)?.is_allowed());
    /// # Ok::<(), keel_ratelimit::Error>(())
    /// ```
    pub fn from_spec(spec: &str) -> Result<Self, Error> {
        Self::builder().quotas(Quota::parse_many(spec)?).build()
    }
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    /// Checks and, if admitted, consumes `cost` units for `key`. A cost of 0 consumes
    /// nothing and is always allowed (a peek).
    ///
    /// # Errors
    /// [`Error::CostExceedsBurst`] when `cost` is above the smallest burst: such a request
    /// can never pass.
    ///
    /// ```
    /// use keel_ratelimit::{KeyedLimiterBuilder, Quota};
    /// let limiter = KeyedLimiterBuilder::<u64>::new().quota(Quota::per_second(3)).build()?;
    /// assert!(limiter.check_key(&42, 3)?.is_allowed());
    /// assert!(limiter.check_key(&42, 1)?.is_denied());
    /// assert!(limiter.check_key(&7, 4).is_err());
    /// # Ok::<(), keel_ratelimit::Error>(())
    /// ```
    #[inline]
    pub fn check_key(&self, key: &K, cost: u32) -> Result<Decision, Error> {
        self.decide(key, cost, true)
    }

    /// What [`check_key`](Self::check_key) would answer, without consuming anything; the
    /// remaining count and reset time describe the current state.
    ///
    /// # Errors
    /// [`Error::CostExceedsBurst`], as for `check_key`.
    ///
    /// ```
    /// use keel_ratelimit::{KeyedLimiterBuilder, Quota};
    /// let limiter = KeyedLimiterBuilder::<u64>::new().quota(Quota::per_second(3)).build()?;
    /// for _ in 0..10 {
    ///     assert!(limiter.peek_key(&1, 3)?.is_allowed());
    /// }
    /// assert_eq!(limiter.len(), 0);
    /// # Ok::<(), keel_ratelimit::Error>(())
    /// ```
    pub fn peek_key(&self, key: &K, cost: u32) -> Result<Decision, Error> {
        self.decide(key, cost, false)
    }

    /// Forgets `key` (e.g. after a successful login); returns whether it was tracked.
    ///
    /// ```
    /// use keel_ratelimit::{KeyedLimiterBuilder, Quota};
    /// let limiter = KeyedLimiterBuilder::<u64>::new().quota(Quota::per_minute(1)).build()?;
    /// limiter.check_key(&1, 1)?;
    /// assert!(limiter.reset_key(&1));
    /// assert!(limiter.check_key(&1, 1)?.is_allowed());
    /// # Ok::<(), keel_ratelimit::Error>(())
    /// ```
    pub fn reset_key(&self, key: &K) -> bool {
        self.inner.table.remove(key)
    }

    /// The quotas, in order.
    pub fn quotas(&self) -> &[Quota] {
        &self.inner.quotas
    }

    /// The number of tracked keys (idle keys not yet swept included).
    pub fn len(&self) -> usize {
        self.inner.table.fold(0, |n, s| n + s.map.len())
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The effective cap on tracked keys.
    pub fn max_keys(&self) -> usize {
        self.inner.table.max_keys()
    }

    /// Removes every idle key now (a key is idle once all its quotas are back to a full
    /// burst: forgetting it changes no future decision). Returns how many were removed.
    /// Sweeping also happens on its own; call this to return memory eagerly.
    ///
    /// ```
    /// use std::time::Duration;
    /// use keel_ratelimit::{Clock, KeyedLimiterBuilder, Quota};
    /// let clock = Clock::manual();
    /// let limiter = KeyedLimiterBuilder::<u32>::new()
    ///     .quota(Quota::per_second(1))
    ///     .clock(clock.clone())
    ///     .build()?;
    /// for k in 0..100 { limiter.check_key(&k, 1)?; }
    /// clock.advance(Duration::from_secs(1));
    /// assert_eq!(limiter.evict_idle(), 100);
    /// assert!(limiter.is_empty());
    /// # Ok::<(), keel_ratelimit::Error>(())
    /// ```
    pub fn evict_idle(&self) -> usize {
        self.inner.table.sweep_all(self.inner.clock.now_ns())
    }

    /// Counters since the limiter was built.
    pub fn stats(&self) -> LimiterStats {
        self.inner.table.fold(LimiterStats::default(), |mut st, s| {
            st.allowed += s.allowed;
            st.denied += s.denied;
            st.keys += s.map.len();
            st.evictions += s.evictions;
            st.rejected_new_keys += s.rejected_new_keys;
            st
        })
    }

    /// Bytes held by the key table: buckets × (key + state + control byte), plus the
    /// per-key state of limiters with several quotas. Heap memory owned by the keys
    /// themselves (string keys) is not included.
    pub fn memory_bytes(&self) -> usize {
        // Several quotas: a boxed slice header plus the TATs, per key.
        let extra = (self.inner.engines.len() - 1) * 8;
        let extra = if extra > 0 { extra + 16 } else { 0 };
        self.inner.table.fold(0, |n, s| {
            n + s.map.capacity() * (size_of::<(K, Tats)>() + 1) + s.map.len() * extra
        })
    }

    fn decide(&self, key: &K, cost: u32, consume: bool) -> Result<Decision, Error> {
        let inner = &*self.inner;
        if cost > inner.min_burst {
            return Err(Error::CostExceedsBurst {
                cost,
                burst: inner.min_burst,
            });
        }
        let now = inner.clock.now_ns();
        let hash = inner.table.hash(key);
        let mut shard = inner.table.lock(hash, now);
        let shard = &mut *shard;
        let cost_nz = NonZeroU32::new(cost);
        let consume = consume && cost_nz.is_some();

        if let [engine] = &*inner.engines {
            let found = shard.map.find_mut(hash, |(k, _)| k == key);
            let tat = found.as_ref().map_or(0, |(_, t)| t.first);
            let outcome = match cost_nz {
                Some(n) => engine.eval(tat, now, n),
                None => Outcome::Allowed {
                    tat,
                    remaining: engine.remaining(tat, now),
                },
            };
            let state = |remaining, tat, retry_after| QuotaState {
                quota: engine.quota,
                remaining,
                reset_after: Engine::reset_after(tat, now),
                retry_after,
            };
            return Ok(match outcome {
                Outcome::Allowed {
                    tat: next,
                    remaining,
                } if consume => {
                    match found {
                        Some((_, t)) => t.first = next,
                        None => {
                            let tats = Tats {
                                first: next,
                                rest: None,
                            };
                            if !inner.table.insert(shard, hash, key.clone(), tats, now) {
                                return Ok(full_denial(engine, cost));
                            }
                        }
                    }
                    shard.allowed += 1;
                    Decision::single(true, cost, Source::Memory, state(remaining, next, None))
                }
                Outcome::Allowed { .. } => Decision::single(
                    true,
                    cost,
                    Source::Memory,
                    state(engine.remaining(tat, now), tat, None),
                ),
                Outcome::Denied { retry_after } => {
                    if consume {
                        shard.denied += 1;
                    }
                    let st = state(engine.remaining(tat, now), tat, Some(retry_after));
                    Decision::single(false, cost, Source::Memory, st)
                }
            });
        }

        // Several quotas: evaluate all against a copy, commit only if all admit.
        let n = inner.engines.len();
        let mut tats = [0u64; MAX_QUOTAS];
        let found = shard.map.find_mut(hash, |(k, _)| k == key);
        if let Some((_, t)) = &found {
            tats[0] = t.first;
            if let Some(rest) = &t.rest {
                for (dst, src) in tats[1..n].iter_mut().zip(rest.0.iter()) {
                    *dst = *src;
                }
            }
        }
        let mut next = tats;
        let mut allowed = true;
        let mut states = Vec::with_capacity(n);
        for (i, engine) in inner.engines.iter().enumerate() {
            let outcome = match cost_nz {
                Some(c) => engine.eval(tats[i], now, c),
                None => Outcome::Allowed {
                    tat: tats[i],
                    remaining: engine.remaining(tats[i], now),
                },
            };
            let (remaining, retry_after) = match outcome {
                Outcome::Allowed { tat, remaining } => {
                    next[i] = tat;
                    (remaining, None)
                }
                Outcome::Denied { retry_after } => {
                    allowed = false;
                    (engine.remaining(tats[i], now), Some(retry_after))
                }
            };
            states.push(QuotaState {
                quota: engine.quota,
                remaining,
                reset_after: Duration::ZERO,
                retry_after,
            });
        }
        let committed = allowed && consume;
        for (i, (s, engine)) in states.iter_mut().zip(inner.engines.iter()).enumerate() {
            let tat = if committed { next[i] } else { tats[i] };
            s.reset_after = Engine::reset_after(tat, now);
            if !committed && s.retry_after.is_none() {
                // Nothing consumed: report this quota's current state.
                s.remaining = engine.remaining(tats[i], now);
            }
        }
        if committed {
            match found {
                Some((_, t)) => {
                    t.first = next[0];
                    if let Some(rest) = &mut t.rest {
                        rest.0.copy_from_slice(&next[1..n]);
                    }
                }
                None => {
                    let tats = Tats {
                        first: next[0],
                        rest: Some(Box::new(Rest(next[1..n].into()))),
                    };
                    if !inner.table.insert(shard, hash, key.clone(), tats, now) {
                        return Ok(full_denial(&inner.engines[0], cost));
                    }
                }
            }
            shard.allowed += 1;
        } else if consume {
            shard.denied += 1;
        }
        Ok(Decision::from_states(allowed, cost, Source::Memory, states))
    }
}

/// The decision for a new key refused under [`WhenFull::DenyNewKeys`].
fn full_denial(engine: &Engine, cost: u32) -> Decision {
    Decision::single(
        false,
        cost,
        Source::Memory,
        QuotaState {
            quota: engine.quota,
            remaining: 0,
            reset_after: Duration::from_secs(1),
            retry_after: Some(Duration::from_secs(1)),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(quotas: &str, clock: &Clock) -> KeyedLimiter<u32> {
        KeyedLimiterBuilder::new()
            .quotas(Quota::parse_many(quotas).unwrap())
            .clock(clock.clone())
            .build()
            .unwrap()
    }

    #[test]
    fn anded_quotas_consume_nothing_on_denial() {
        let clock = Clock::manual();
        let l = limiter("3/second; 5/minute", &clock);
        let admitted = (0..10)
            .filter(|_| l.check_key(&1, 1).unwrap().is_allowed())
            .count();
        assert_eq!(admitted, 3);
        clock.advance(Duration::from_secs(1));
        // The per-second quota refilled; the per-minute one has 2 left and binds.
        let d = l.check_key(&1, 1).unwrap();
        assert!(d.is_allowed());
        assert_eq!((d.limit(), d.remaining()), (5, 1));
        // 2 units: the minute quota denies; the second quota must not be consumed.
        let d = l.check_key(&1, 2).unwrap();
        assert!(d.is_denied());
        assert_eq!(d.quotas()[0].remaining(), 2);
        assert!(l.check_key(&1, 1).unwrap().is_allowed());
        assert!(l.check_key(&1, 1).unwrap().is_denied());
        let s = l.stats();
        assert_eq!((s.allowed, s.denied), (5, 9));
    }

    #[test]
    fn retry_after_is_exact_for_every_quota() {
        let clock = Clock::manual();
        let l = limiter("2/second; 3/minute", &clock);
        for _ in 0..2 {
            assert!(l.check_key(&1, 1).unwrap().is_allowed());
        }
        let d = l.check_key(&1, 1).unwrap();
        assert_eq!(d.retry_after(), Some(Duration::from_millis(500)));
        clock.advance(Duration::from_millis(500));
        assert!(l.check_key(&1, 1).unwrap().is_allowed());
        let d = l.check_key(&1, 1).unwrap();
        // Minute quota: emission 20 s, 3 used at t=0, 0, 0.5 → next slot at t=20 s.
        assert_eq!(d.retry_after(), Some(Duration::from_millis(19_500)));
        clock.advance(Duration::from_millis(19_499));
        assert!(l.check_key(&1, 1).unwrap().is_denied());
        clock.advance(Duration::from_millis(1));
        assert!(l.check_key(&1, 1).unwrap().is_allowed());
    }

    #[test]
    fn peek_and_zero_cost_consume_nothing() {
        let clock = Clock::manual();
        let l = limiter("2/second", &clock);
        let d = l.check_key(&1, 0).unwrap();
        assert!(d.is_allowed());
        assert_eq!(d.remaining(), 2);
        assert!(l.is_empty());
        l.check_key(&1, 2).unwrap();
        let p = l.peek_key(&1, 1).unwrap();
        assert!(p.is_denied());
        assert_eq!(p.retry_after(), Some(Duration::from_millis(500)));
        assert_eq!(l.stats().denied, 0);
        let l = limiter("2/second; 10/minute", &clock);
        assert_eq!(l.peek_key(&1, 2).unwrap().remaining(), 2);
        assert!(l.is_empty());
    }

    #[test]
    fn cost_above_smallest_burst_is_an_error() {
        let clock = Clock::manual();
        let l = limiter("20/second; 5/minute", &clock);
        assert!(matches!(
            l.check_key(&1, 6),
            Err(Error::CostExceedsBurst { cost: 6, burst: 5 })
        ));
        assert!(matches!(
            l.check_key(&1, u32::MAX),
            Err(Error::CostExceedsBurst { .. })
        ));
        assert!(l.check_key(&1, 5).unwrap().is_allowed());
    }

    #[test]
    fn idle_keys_are_evicted_as_it_goes() {
        let clock = Clock::manual();
        let l: KeyedLimiter<u32> = KeyedLimiterBuilder::new()
            .quota(Quota::per_second(10))
            .sweep_interval(Duration::from_secs(5))
            .clock(clock.clone())
            .build()
            .unwrap();
        for k in 0..10_000 {
            l.check_key(&k, 1).unwrap();
        }
        assert_eq!(l.len(), 10_000);
        clock.advance(Duration::from_secs(5));
        // Touching keys sweeps each shard once its interval has passed.
        for k in 0..1_000 {
            l.check_key(&(100_000 + k), 1).unwrap();
        }
        assert!(l.len() <= 1_000, "{}", l.len());
        assert!(l.stats().evictions >= 9_000);
    }

    #[test]
    fn deny_new_keys_when_full() {
        let l: KeyedLimiter<u32> = KeyedLimiterBuilder::new()
            .quota(Quota::per_minute(10))
            .max_keys(8)
            .when_full(WhenFull::DenyNewKeys)
            .clock(Clock::manual())
            .build()
            .unwrap();
        let admitted = (0..1000)
            .filter(|k| l.check_key(k, 1).unwrap().is_allowed())
            .count();
        assert_eq!(admitted, l.max_keys());
        assert_eq!(l.stats().rejected_new_keys, 1000 - admitted as u64);
    }

    #[test]
    fn builder_errors() {
        assert!(matches!(
            KeyedLimiterBuilder::<u32>::new().build(),
            Err(Error::NoQuota)
        ));
        let many = KeyedLimiterBuilder::<u32>::new()
            .quotas(std::iter::repeat_n(Quota::per_second(1), 17))
            .build();
        assert!(matches!(many, Err(Error::InvalidConfig(_))));
        let zero = KeyedLimiterBuilder::<u32>::new()
            .quota(Quota::per_second(1))
            .max_keys(0)
            .build();
        assert!(matches!(zero, Err(Error::InvalidConfig(_))));
        assert!(matches!(
            KeyedLimiterBuilder::<u32>::new()
                .quota(Quota::per_second(0))
                .build(),
            Err(Error::InvalidQuota(_))
        ));
    }

    #[test]
    fn memory_per_key_is_small() {
        assert!(size_of::<(Key, Tats)>() <= 40);
        assert!(size_of::<(u64, Tats)>() <= 24);
    }
}
