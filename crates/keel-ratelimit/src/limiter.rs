//! [`Limiter`]: one type over the in-memory and the Redis backends.

use std::sync::Arc;

use crate::{Decision, Error, Key, KeyedLimiter, Quota};

#[derive(Debug)]
enum Backend {
    Memory(KeyedLimiter<Key>),
    #[cfg(feature = "redis")]
    Redis(crate::redis::RedisLimiter),
}

/// A keyed limiter on [`Key`]s, in memory or shared through Redis, behind one type: what
/// the tower layer and handlers hold. Cloning is cheap (an `Arc`).
///
/// ```
/// use keel_ratelimit::{Key, Limiter};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), keel_ratelimit::Error> {
/// let limiter = Limiter::memory_from_spec("5/minute")?;
/// let d = limiter.check_key(&Key::from("alice"), 1).await?;
/// assert!(d.is_allowed());
/// assert_eq!(d.remaining(), 4);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Limiter {
    backend: Arc<Backend>,
}

impl Limiter {
    /// An in-memory limiter with default settings from a quota spec (`"5/minute"`,
    /// `"10/second;1000/day"`).
    ///
    /// # Errors
    /// [`Error::InvalidQuota`] for a malformed spec.
    ///
    /// ```
    /// assert!(keel_ratelimit::Limiter::memory_from_spec("5/fortnight").is_err());
    /// ```
    pub fn memory_from_spec(spec: &str) -> Result<Self, Error> {
        Ok(Self::from(KeyedLimiter::from_spec(spec)?))
    }

    /// Checks and, if admitted, consumes `cost` units for `key`.
    ///
    /// # Errors
    /// [`Error::CostExceedsBurst`] for a cost that can never pass; with Redis,
    /// [`Error::Unavailable`] when Redis fails and the limiter fails closed.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), keel_ratelimit::Error> {
    /// let limiter = keel_ratelimit::Limiter::memory_from_spec("1/hour")?;
    /// let key = "bob".into();
    /// assert!(limiter.check_key(&key, 1).await?.is_allowed());
    /// assert!(limiter.check_key(&key, 1).await?.is_denied());
    /// # Ok(()) }
    /// ```
    pub async fn check_key(&self, key: &Key, cost: u32) -> Result<Decision, Error> {
        match &*self.backend {
            Backend::Memory(m) => m.check_key(key, cost),
            #[cfg(feature = "redis")]
            Backend::Redis(r) => r.check_key(key, cost).await,
        }
    }

    /// What [`check_key`](Self::check_key) would answer, consuming nothing.
    ///
    /// # Errors
    /// As for `check_key`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), keel_ratelimit::Error> {
    /// let limiter = keel_ratelimit::Limiter::memory_from_spec("1/hour")?;
    /// assert!(limiter.peek_key(&"bob".into(), 1).await?.is_allowed());
    /// assert!(limiter.peek_key(&"bob".into(), 1).await?.is_allowed());
    /// # Ok(()) }
    /// ```
    pub async fn peek_key(&self, key: &Key, cost: u32) -> Result<Decision, Error> {
        match &*self.backend {
            Backend::Memory(m) => m.peek_key(key, cost),
            #[cfg(feature = "redis")]
            Backend::Redis(r) => r.peek_key(key, cost).await,
        }
    }

    /// Forgets `key` (e.g. after a successful login): the next check starts from a full
    /// burst. Returns whether state was held for the key.
    ///
    /// # Errors
    /// With Redis, [`Error::Timeout`] or [`Error::Redis`] when Redis fails (the key's
    /// Redis state then expires on its own once idle).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), keel_ratelimit::Error> {
    /// let limiter = keel_ratelimit::Limiter::memory_from_spec("1/hour")?;
    /// let key = "bob".into();
    /// assert!(limiter.check_key(&key, 1).await?.is_allowed());
    /// assert!(limiter.reset_key(&key).await?);
    /// assert!(limiter.check_key(&key, 1).await?.is_allowed());
    /// # Ok(()) }
    /// ```
    pub async fn reset_key(&self, key: &Key) -> Result<bool, Error> {
        match &*self.backend {
            Backend::Memory(m) => Ok(m.reset_key(key)),
            #[cfg(feature = "redis")]
            Backend::Redis(r) => r.reset_key(key).await,
        }
    }

    /// The in-memory limiter, when this is one (for [`KeyedLimiter::stats`] and friends).
    /// The tower layer uses it to decide without an `await`.
    ///
    /// ```
    /// let l = keel_ratelimit::Limiter::memory_from_spec("5/minute")?;
    /// assert_eq!(l.as_keyed().map(|k| k.len()), Some(0));
    /// # Ok::<(), keel_ratelimit::Error>(())
    /// ```
    pub fn as_keyed(&self) -> Option<&KeyedLimiter<Key>> {
        match &*self.backend {
            Backend::Memory(m) => Some(m),
            #[cfg(feature = "redis")]
            Backend::Redis(_) => None,
        }
    }

    /// The Redis limiter, when this is one (for its statistics and health).
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn as_redis(&self) -> Option<&crate::redis::RedisLimiter> {
        match &*self.backend {
            Backend::Redis(r) => Some(r),
            Backend::Memory(_) => None,
        }
    }

    /// The quotas, in order.
    ///
    /// ```
    /// let l = keel_ratelimit::Limiter::memory_from_spec("5/minute")?;
    /// assert_eq!(l.quotas(), [keel_ratelimit::Quota::per_minute(5)]);
    /// # Ok::<(), keel_ratelimit::Error>(())
    /// ```
    pub fn quotas(&self) -> &[Quota] {
        match &*self.backend {
            Backend::Memory(m) => m.quotas(),
            #[cfg(feature = "redis")]
            Backend::Redis(r) => r.quotas(),
        }
    }
}

impl From<KeyedLimiter<Key>> for Limiter {
    fn from(m: KeyedLimiter<Key>) -> Self {
        Self {
            backend: Arc::new(Backend::Memory(m)),
        }
    }
}

#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
impl From<crate::redis::RedisLimiter> for Limiter {
    fn from(r: crate::redis::RedisLimiter) -> Self {
        Self {
            backend: Arc::new(Backend::Redis(r)),
        }
    }
}
