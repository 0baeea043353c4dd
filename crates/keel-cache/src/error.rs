//! [`Error`]: what a cache operation can fail with.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A loader's error, shared by every caller that waited on the same load.
///
/// Single-flight means one loader error reaches many callers, so it is reference-counted;
/// use [`downcast_ref`](Self::downcast_ref) to get your own error type back.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use keel_cache::{Cache, Error};
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("database down")]
/// struct DbDown;
///
/// let cache: Cache<u64, String> = Cache::builder("users").build();
/// let err = cache.get_or_load(1, || async { Err::<String, _>(DbDown) }).await.unwrap_err();
/// let Error::Load(load) = err else { panic!("not a load error") };
/// assert!(load.downcast_ref::<DbDown>().is_some());
/// # }
/// ```
#[derive(Clone)]
pub struct LoadError(Arc<dyn StdError + Send + Sync + 'static>);

impl LoadError {
    pub(crate) fn new(e: impl Into<Box<dyn StdError + Send + Sync + 'static>>) -> Self {
        Self(Arc::from(e.into()))
    }

    /// The loader's error as `E`, if it is one.
    pub fn downcast_ref<E: StdError + 'static>(&self) -> Option<&E> {
        self.0.downcast_ref::<E>()
    }

    /// The loader's error.
    pub fn inner(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.0
    }
}

impl fmt::Debug for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl StdError for LoadError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.0)
    }
}

/// Errors of keel-cache. Redis trouble is **not** an error: the cache degrades to its
/// in-memory tier and counts it in [`CacheStats`](crate::CacheStats).
///
/// ```
/// let err = keel_cache::Error::KeyTooLong { len: 300, max: 250 };
/// assert!(!err.is_retryable());
/// assert_eq!(err.to_string(), "cache key is 300 bytes, more than the maximum of 250");
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The key's encoded form is longer than the configured maximum
    /// ([`CacheBuilder::max_key_len`](crate::CacheBuilder::max_key_len)).
    #[error("cache key is {len} bytes, more than the maximum of {max}")]
    KeyTooLong {
        /// The encoded key length in bytes.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The loader returned an error. It was not cached; every caller waiting on the same
    /// load received it.
    #[error("cache loader failed: {0}")]
    Load(#[source] LoadError),
    /// The loader did not finish within the configured
    /// [`load_timeout`](crate::CacheBuilder::load_timeout). Not cached.
    #[error("cache loader timed out after {0:?}")]
    LoadTimeout(Duration),
    /// The load did not answer: the loader panicked (the panic stays in the load's own
    /// task) or its task was dropped by a runtime shutdown. Not cached.
    #[error("cache load aborted (the loader panicked or its runtime shut down)")]
    LoadAborted,
    /// The Redis client could not be set up at all (feature `redis`; only from
    /// [`CacheBuilder::build_with_redis`](crate::CacheBuilder::build_with_redis) — an
    /// unreachable server is not an error).
    #[error("Redis tier setup failed: {0}")]
    Redis(String),
    /// The operation needs a Tokio runtime (loads run in spawned tasks) and none is running.
    #[error("keel-cache needs a Tokio runtime")]
    NoRuntime,
}

impl Error {
    /// Whether retrying the same call later may succeed (timeouts, loader errors, panics).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Load(_) | Self::LoadTimeout(_) | Self::LoadAborted
        )
    }

    /// The loader's error, for [`Error::Load`].
    pub fn load_error(&self) -> Option<&LoadError> {
        match self {
            Self::Load(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_error_downcasts_and_displays() {
        let e = LoadError::new(std::io::Error::other("boom"));
        assert_eq!(e.to_string(), "boom");
        assert!(e.downcast_ref::<std::io::Error>().is_some());
        assert!(e.downcast_ref::<fmt::Error>().is_none());
        let err = Error::Load(e);
        assert!(err.is_retryable());
        assert!(err.load_error().is_some());
        assert_eq!(err.to_string(), "cache loader failed: boom");
    }

    #[test]
    fn key_too_long_is_not_retryable() {
        let e = Error::KeyTooLong { len: 2, max: 1 };
        assert!(!e.is_retryable());
        assert!(e.load_error().is_none());
    }
}
