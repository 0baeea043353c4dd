//! [`RedisTier`]: the configuration of the Redis second tier, one node or a cluster.

use std::fmt;
use std::time::Duration;

use super::conn::Conn;
use crate::Error;

/// Configuration of the Redis second tier.
///
/// Defaults: key prefix `keel:`, schema version 1, 250 ms per operation, retry a downed
/// Redis every second, values up to 1 MiB, invalidation broadcast on.
///
/// ```no_run
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use keel_cache::{Cache, redis::RedisTier};
///
/// #[derive(Clone, serde::Serialize, serde::Deserialize)]
/// struct User { id: u64, name: String }
///
/// let client = redis::Client::open("redis://127.0.0.1:6379")?;
/// let users: Cache<u64, User> = Cache::builder("users")
///     .ttl(Duration::from_secs(300))
///     .build_with_redis(RedisTier::new(client).schema_version(2))
///     .await?;
/// # drop(users); Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisTier {
    pub(super) target: Target,
    pub(super) key_prefix: String,
    pub(super) schema_version: u32,
    pub(super) op_timeout: Duration,
    pub(super) retry_interval: Duration,
    pub(super) max_value_bytes: usize,
    pub(super) broadcast: bool,
    #[cfg(feature = "rustls")]
    pub(super) root_certificates: Option<Vec<u8>>,
}

/// One node, or the seed nodes of a cluster.
// With the redis crate's TLS features a `Client` is ~240 bytes; there is one `Target`
// per tier, so boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub(super) enum Target {
    Single(redis::Client),
    #[cfg(feature = "redis-cluster")]
    Cluster(Vec<redis::Client>),
}

impl Target {
    /// The clients the invalidation subscriber may connect to, in order of preference.
    pub(super) fn subscribe_to(&self) -> Vec<redis::Client> {
        match self {
            Self::Single(c) => vec![c.clone()],
            #[cfg(feature = "redis-cluster")]
            Self::Cluster(seeds) => seeds.clone(),
        }
    }
}

/// What the URLs given to [`RedisTier::from_urls`] name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Topology {
    /// One node (or a proxy in front of one): exactly one URL.
    Node,
    /// A Redis Cluster (feature `redis-cluster`): one or more seed URLs; the client
    /// discovers the other masters.
    Cluster,
}

impl fmt::Debug for RedisTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The clients' connection info may hold a password: print only the addresses.
        let addrs: Vec<String> = self
            .target
            .subscribe_to()
            .iter()
            .map(|c| c.get_connection_info().addr().to_string())
            .collect();
        f.debug_struct("RedisTier")
            .field("addr", &addrs)
            .field("key_prefix", &self.key_prefix)
            .field("schema_version", &self.schema_version)
            .field("op_timeout", &self.op_timeout)
            .field("retry_interval", &self.retry_interval)
            .field("max_value_bytes", &self.max_value_bytes)
            .field("broadcast", &self.broadcast)
            .finish_non_exhaustive()
    }
}

impl RedisTier {
    /// A tier on `client` with the defaults.
    pub fn new(client: redis::Client) -> Self {
        Self::with_target(Target::Single(client))
    }

    /// A tier on a Redis Cluster reached through any of `nodes` (seed URLs such as
    /// `redis://10.0.0.1:6379`; the client discovers the other masters). Give several
    /// seeds: the invalidation subscriber uses the first that answers, and the next one
    /// when its node fails.
    ///
    /// # Errors
    /// [`Error::Redis`] for no URL or an invalid one.
    ///
    /// ```no_run
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use keel_cache::{Cache, redis::RedisTier};
    ///
    /// let tier = RedisTier::cluster(["redis://10.0.0.1:6379", "redis://10.0.0.2:6379"])?;
    /// let cache: Cache<u64, String> = Cache::builder("names").build_with_redis(tier).await?;
    /// # drop(cache); Ok(()) }
    /// ```
    #[cfg(feature = "redis-cluster")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis-cluster")))]
    pub fn cluster<I, S>(nodes: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let seeds = nodes
            .into_iter()
            .map(|url| redis::Client::open(url.as_ref()).map_err(|e| Error::Redis(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        if seeds.is_empty() {
            return Err(Error::Redis(
                "a Redis Cluster needs at least one seed node URL".to_owned(),
            ));
        }
        Ok(Self::with_target(Target::Cluster(seeds)))
    }

    /// A tier from Redis settings as a service reads them from its environment, in one
    /// call: `urls` are one node's or a cluster's seeds (`topology`), and
    /// `root_certificates`, when given, is the PEM of the private CA that `rediss://`
    /// certificates must chain to (feature `rustls`; see
    /// [`tls_root_certificates`](Self::tls_root_certificates)).
    ///
    /// # Errors
    /// [`Error::Redis`] for a malformed URL, no URL (or several for a node), a cluster
    /// without feature `redis-cluster`, root certificates without feature `rustls`, or
    /// root certificates `tls_root_certificates` refuses.
    ///
    /// ```
    /// use keel_cache::redis::{RedisTier, Topology};
    ///
    /// let tier = RedisTier::from_urls(Topology::Node, ["redis://127.0.0.1:6379"], None)?;
    /// assert!(RedisTier::from_urls(Topology::Node, ["redis://a", "redis://b"], None).is_err());
    /// # drop(tier); Ok::<(), keel_cache::Error>(())
    /// ```
    pub fn from_urls<I, S>(
        topology: Topology,
        urls: I,
        root_certificates: Option<&[u8]>,
    ) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let urls: Vec<S> = urls.into_iter().collect();
        let tier = match (topology, urls.as_slice()) {
            (Topology::Node, [url]) => Self::new(
                redis::Client::open(url.as_ref()).map_err(|e| Error::Redis(e.to_string()))?,
            ),
            (Topology::Node, _) => {
                return Err(Error::Redis(format!(
                    "one Redis node takes exactly one URL, not {}",
                    urls.len()
                )));
            }
            #[cfg(feature = "redis-cluster")]
            (Topology::Cluster, _) => Self::cluster(urls)?,
            #[cfg(not(feature = "redis-cluster"))]
            (Topology::Cluster, _) => {
                return Err(Error::Redis(
                    "a Redis Cluster needs keel-cache's `redis-cluster` feature".to_owned(),
                ));
            }
        };
        match root_certificates {
            None => Ok(tier),
            #[cfg(feature = "rustls")]
            Some(pem) => tier.tls_root_certificates(pem),
            #[cfg(not(feature = "rustls"))]
            Some(_) => Err(Error::Redis(
                "TLS root certificates need keel-cache's `rustls` feature".to_owned(),
            )),
        }
    }

    fn with_target(target: Target) -> Self {
        Self {
            target,
            key_prefix: "keel:".to_owned(),
            schema_version: 1,
            op_timeout: Duration::from_millis(250),
            retry_interval: Duration::from_secs(1),
            max_value_bytes: 1024 * 1024,
            broadcast: true,
            #[cfg(feature = "rustls")]
            root_certificates: None,
        }
    }

    /// Trusts only the CA certificates in `pem` (one or more PEM `CERTIFICATE` blocks)
    /// for the tier's `rediss://` connections (commands, Pub/Sub, every cluster node),
    /// instead of the system's roots.
    ///
    /// # Errors
    /// [`Error::Redis`] when `pem` holds no PEM certificate or a URL is not `rediss://`.
    ///
    /// ```no_run
    /// # fn f(ca_pem: Vec<u8>) -> Result<(), keel_cache::Error> {
    /// use keel_cache::redis::RedisTier;
    /// let client = redis::Client::open("rediss://redis.internal:6380")
    ///     .map_err(|e| keel_cache::Error::Redis(e.to_string()))?;
    /// let tier = RedisTier::new(client).tls_root_certificates(ca_pem)?;
    /// # drop(tier); Ok(()) }
    /// ```
    #[cfg(feature = "rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
    pub fn tls_root_certificates(mut self, pem: impl Into<Vec<u8>>) -> Result<Self, Error> {
        const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
        let pem = pem.into();
        if !pem.windows(BEGIN.len()).any(|w| w == BEGIN) {
            return Err(Error::Redis(
                "the TLS root certificates hold no PEM certificate".to_owned(),
            ));
        }
        let certs = redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(pem.clone()),
        };
        let with_tls = |client: &redis::Client| {
            let info = client.get_connection_info().clone();
            if !matches!(info.addr(), redis::ConnectionAddr::TcpTls { .. }) {
                return Err(Error::Redis(format!(
                    "a private CA needs rediss:// URLs ({})",
                    info.addr()
                )));
            }
            redis::Client::build_with_tls(info, certs.clone())
                .map_err(|e| Error::Redis(e.to_string()))
        };
        self.target = match &self.target {
            Target::Single(c) => Target::Single(with_tls(c)?),
            #[cfg(feature = "redis-cluster")]
            Target::Cluster(seeds) => {
                Target::Cluster(seeds.iter().map(with_tls).collect::<Result<_, _>>()?)
            }
        };
        self.root_certificates = Some(pem);
        Ok(self)
    }

    /// Prefix of every Redis key and channel of this tier (default `keel:`). Give each
    /// application (or test) its own.
    #[must_use]
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// The version of `V`'s serialized shape (default 1). Bump it when `V` changes
    /// incompatibly: values written under another version are misses (and deleted), not
    /// errors.
    #[must_use]
    pub fn schema_version(mut self, version: u32) -> Self {
        self.schema_version = version;
        self
    }

    /// Upper bound of one Redis operation, connection included (default 250 ms). A
    /// slower Redis counts as down.
    #[must_use]
    pub fn op_timeout(mut self, timeout: Duration) -> Self {
        self.op_timeout = timeout;
        self
    }

    /// How long a Redis that failed is skipped before it is tried again (default 1 s).
    #[must_use]
    pub fn retry_interval(mut self, interval: Duration) -> Self {
        self.retry_interval = interval;
        self
    }

    /// Serialized values larger than this are not written to Redis (default 1 MiB);
    /// counted in [`CacheStats::oversized`](crate::CacheStats::oversized).
    #[must_use]
    pub fn max_value_bytes(mut self, max: usize) -> Self {
        self.max_value_bytes = max;
        self
    }

    /// Whether invalidations are published to other replicas and theirs applied here
    /// (default true). Off, each instance's memory tier only ages out by TTL.
    #[must_use]
    pub fn invalidation_broadcast(mut self, on: bool) -> Self {
        self.broadcast = on;
        self
    }
}

/// The tier's connection, made lazily: a Redis that is down is an outage, not an error.
pub(super) fn connect(tier: &RedisTier) -> Result<Conn, Error> {
    match &tier.target {
        Target::Single(client) => {
            let config = redis::aio::ConnectionManagerConfig::new()
                .set_connection_timeout(Some(tier.op_timeout))
                .set_response_timeout(Some(tier.op_timeout))
                .set_number_of_retries(1)
                .set_max_delay(tier.retry_interval);
            client
                .get_connection_manager_lazy(config)
                .map(Conn::Single)
                .map_err(|e| Error::Redis(e.to_string()))
        }
        #[cfg(feature = "redis-cluster")]
        Target::Cluster(seeds) => {
            // One retry: the tier has its own timeout and retry interval; the client's
            // default 16 retries would only queue work behind a dead master.
            let client = redis::cluster::ClusterClientBuilder::new(
                seeds.iter().map(|c| c.get_connection_info().clone()),
            )
            .connection_timeout(tier.op_timeout)
            .response_timeout(tier.op_timeout)
            .retries(1)
            .min_retry_wait(10)
            .max_retry_wait(100);
            #[cfg(feature = "rustls")]
            let client = match &tier.root_certificates {
                Some(pem) => client.certs(redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.clone()),
                }),
                None => client,
            };
            let client = client.build().map_err(|e| Error::Redis(e.to_string()))?;
            let config = redis::cluster::ClusterConfig::new()
                .set_connection_timeout(tier.op_timeout)
                .set_response_timeout(tier.op_timeout);
            Ok(Conn::Cluster(
                client.get_pending_async_connection_with_config(config),
            ))
        }
    }
}
