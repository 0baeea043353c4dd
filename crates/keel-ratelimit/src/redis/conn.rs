//! [`RedisConnection`]: one node or a cluster behind one type, so the script, the
//! timeouts and the fallback logic exist once.

use std::fmt;

use redis::aio::ConnectionManager;
use redis::{Cmd, Pipeline, RedisFuture, Value};

/// The connection a [`RedisLimiter`](super::RedisLimiter) decides through: a single
/// Redis node or a Redis Cluster (feature `redis-cluster`). Both reconnect on their own.
///
/// Build one from either connection with `From`, or let
/// [`connect`](super::RedisLimiterBuilder::connect) /
/// `connect_cluster` (feature `redis-cluster`) do it.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use keel_ratelimit::{Quota, redis::{RedisConnection, RedisLimiter}};
///
/// let manager = redis::Client::open("redis://127.0.0.1:6379")?
///     .get_connection_manager()
///     .await?;
/// let limiter = RedisLimiter::builder()
///     .quota(Quota::per_minute(5))
///     .build(RedisConnection::from(manager))?;
/// # drop(limiter); Ok(()) }
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub enum RedisConnection {
    /// One node (a primary, or a proxy in front of one).
    Single(ConnectionManager),
    /// A Redis Cluster: each key's script runs on the master serving its slot.
    #[cfg(feature = "redis-cluster")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis-cluster")))]
    Cluster(redis::cluster_async::ClusterConnection),
}

impl fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Neither connection prints credentials, but neither needs to print anything.
        match self {
            Self::Single(_) => f.write_str("RedisConnection::Single"),
            #[cfg(feature = "redis-cluster")]
            Self::Cluster(_) => f.write_str("RedisConnection::Cluster"),
        }
    }
}

impl From<ConnectionManager> for RedisConnection {
    fn from(conn: ConnectionManager) -> Self {
        Self::Single(conn)
    }
}

#[cfg(feature = "redis-cluster")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis-cluster")))]
impl From<redis::cluster_async::ClusterConnection> for RedisConnection {
    fn from(conn: redis::cluster_async::ClusterConnection) -> Self {
        Self::Cluster(conn)
    }
}

impl redis::aio::ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            #[cfg(feature = "redis-cluster")]
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(cmd, offset, count),
            #[cfg(feature = "redis-cluster")]
            Self::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            #[cfg(feature = "redis-cluster")]
            Self::Cluster(c) => c.get_db(),
        }
    }
}
