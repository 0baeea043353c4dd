//! [`Lookup`] and [`CacheStatus`]: a value and where it came from.

use std::fmt;

/// How a lookup was answered; rendered as the `X-Cache` response header.
///
/// ```
/// use keel_cache::CacheStatus;
/// assert_eq!(CacheStatus::Stale.as_str(), "STALE");
/// assert_eq!(CacheStatus::Hit.to_string(), "HIT");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CacheStatus {
    /// A fresh value from the cache (memory or Redis).
    Hit,
    /// Not cached: the loader ran (or this caller waited for another caller's load).
    Miss,
    /// A value past its TTL but within the stale window, served while a background refresh
    /// runs (stale-while-revalidate).
    Stale,
}

impl CacheStatus {
    /// `"HIT"`, `"MISS"` or `"STALE"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Hit => "HIT",
            Self::Miss => "MISS",
            Self::Stale => "STALE",
        }
    }

    /// Whether the value came from the cache (`Hit` or `Stale`).
    pub const fn is_cached(self) -> bool {
        matches!(self, Self::Hit | Self::Stale)
    }
}

impl fmt::Display for CacheStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value returned by [`Cache::get_or_load`](crate::Cache::get_or_load), with its
/// [`CacheStatus`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), keel_cache::Error> {
/// use keel_cache::{Cache, CacheStatus};
/// let cache: Cache<u64, String> = Cache::builder("names").build();
/// let first = cache.get_or_load(7, || async { Ok::<_, std::io::Error>("Ada".to_owned()) }).await?;
/// assert_eq!((first.status(), first.value().as_str()), (CacheStatus::Miss, "Ada"));
/// let again = cache.get_or_load(7, || async { Ok::<_, std::io::Error>("unused".to_owned()) }).await?;
/// assert_eq!(again.status(), CacheStatus::Hit);
/// assert_eq!(again.map(|s| s.len()).into_value(), 3);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup<V> {
    value: V,
    status: CacheStatus,
}

impl<V> Lookup<V> {
    /// A value with its status.
    pub const fn new(value: V, status: CacheStatus) -> Self {
        Self { value, status }
    }

    /// How the lookup was answered.
    pub const fn status(&self) -> CacheStatus {
        self.status
    }

    /// The value.
    pub const fn value(&self) -> &V {
        &self.value
    }

    /// The value, dropping the status.
    pub fn into_value(self) -> V {
        self.value
    }

    /// The value and the status.
    pub fn into_parts(self) -> (V, CacheStatus) {
        (self.value, self.status)
    }

    /// Maps the value, keeping the status (e.g. into `Json` for a handler).
    pub fn map<U>(self, f: impl FnOnce(V) -> U) -> Lookup<U> {
        Lookup {
            value: f(self.value),
            status: self.status,
        }
    }

    /// Maps the value with a fallible `f`, keeping the status (e.g. a cached row into its
    /// public view, or a cached "not found" into a 404).
    ///
    /// # Errors
    /// `f`'s error.
    ///
    /// ```
    /// use keel_cache::{CacheStatus, Lookup};
    ///
    /// let found = Lookup::new(Some(7), CacheStatus::Hit);
    /// let doubled = found.try_map(|v| v.map(|v| v * 2).ok_or("not found"));
    /// assert_eq!(doubled, Ok(Lookup::new(14, CacheStatus::Hit)));
    /// let missing = Lookup::new(None::<u8>, CacheStatus::Miss);
    /// assert_eq!(missing.try_map(|v| v.ok_or("not found")), Err("not found"));
    /// ```
    pub fn try_map<U, E>(self, f: impl FnOnce(V) -> Result<U, E>) -> Result<Lookup<U>, E> {
        Ok(Lookup {
            value: f(self.value)?,
            status: self.status,
        })
    }
}
