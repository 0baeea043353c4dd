//! The second tier as the core sees it: an object-safe trait, so the core needs no serde
//! bounds and the Redis code stays behind its feature.

use std::future::Future;
use std::pin::Pin;

#[cfg(feature = "redis")]
use crate::entry::Entry;

pub(crate) type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The answer of the second tier to a read.
#[cfg(feature = "redis")]
pub(crate) enum L2Get<V> {
    /// A decoded entry (deadlines already on the cache's clock).
    Hit(Entry<V>),
    /// Absent, expired, undecodable, or the tier is down: the caller goes on to the loader.
    Miss,
}

/// A second tier. Every method swallows, counts and logs its own failures: the cache
/// degrades to memory-only, never errors because of the second tier.
#[cfg(feature = "redis")]
pub(crate) trait SecondTier<V>: Send + Sync + 'static {
    fn get<'a>(&'a self, key: &'a str) -> BoxFut<'a, L2Get<V>>;
    /// Stores `entry` with its remaining lifetime; `broadcast` tells other replicas to drop
    /// their memory copy (an explicit insert replaced the value).
    fn set<'a>(&'a self, key: &'a str, entry: &'a Entry<V>, broadcast: bool) -> BoxFut<'a, ()>;
    /// Deletes the key; `broadcast` tells other replicas to drop their memory copy.
    fn delete<'a>(&'a self, key: &'a str, broadcast: bool) -> BoxFut<'a, ()>;
    /// Deletes every key starting with `prefix` and tells other replicas.
    fn delete_prefix<'a>(&'a self, prefix: &'a str) -> BoxFut<'a, ()>;
    /// Bumps the namespace version (O(1) invalidation of the whole tier) and tells other
    /// replicas.
    fn bump_version(&self) -> BoxFut<'_, ()>;
    /// Whether the last operation reached the server.
    fn is_up(&self) -> bool;
}
