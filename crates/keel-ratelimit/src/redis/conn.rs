//! [`RedisConnection`]: one node or a cluster behind one type, so the script, the
//! timeouts and the fallback logic exist once; [`RedisTarget`]: where that Redis is
//! (URLs) and whom its TLS certificates must chain to, turned into a connection in one
//! call.

use std::fmt;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, Value};

use crate::Error;

/// The largest root-certificate file [`RedisTarget::tls_root_certificates_file`] reads.
#[cfg(feature = "rustls")]
pub const MAX_ROOT_CERTIFICATES_FILE: u64 = 1024 * 1024;

/// Where Redis is: one node (`redis://` or TLS `rediss://`) or the seed nodes of a
/// Redis Cluster (feature `redis-cluster`), and, with feature `rustls`, the private CA
/// that `rediss://` certificates must chain to (default: the system's roots).
///
/// The URLs may carry a password: `Debug` prints addresses only.
///
/// ```no_run
/// # async fn run() -> Result<(), keel_ratelimit::Error> {
/// use std::time::Duration;
/// use keel_ratelimit::{Quota, redis::{RedisLimiter, RedisTarget}};
///
/// let target = RedisTarget::node("rediss://:secret@redis.internal:6380")?;
/// # #[cfg(feature = "rustls")]
/// let target = target.tls_root_certificates_file("/etc/ssl/redis-ca.pem")?;
/// // One reconnecting connection, shared by every limiter (and anything else).
/// let conn = target.connect_lazy(Duration::from_millis(250))?;
/// let login = RedisLimiter::builder()
///     .quota(Quota::per_minute(5))
///     .prefix("app:login")
///     .build(conn.clone())?;
/// # drop(login); Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisTarget {
    /// Each URL parsed into a client (TLS settings included); several only for a cluster.
    clients: Vec<redis::Client>,
    /// The URLs as given (they may carry a password: never printed).
    urls: Vec<String>,
    cluster: bool,
    #[cfg(feature = "rustls")]
    root_certificates: Option<Vec<u8>>,
}

impl fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Addresses only: a URL may carry a password.
        let addrs: Vec<String> = self
            .clients
            .iter()
            .map(|c| c.get_connection_info().addr().to_string())
            .collect();
        let mut d = f.debug_struct("RedisTarget");
        d.field("addrs", &addrs).field("cluster", &self.cluster);
        #[cfg(feature = "rustls")]
        d.field("private_ca", &self.root_certificates.is_some());
        d.finish()
    }
}

fn invalid(what: &'static str, detail: String) -> Error {
    Error::Redis(RedisError::from((
        ErrorKind::InvalidClientConfig,
        what,
        detail,
    )))
}

impl RedisTarget {
    /// One Redis node (or a proxy in front of one): `redis://[:password@]host:port[/db]`,
    /// or `rediss://…` for TLS. Nothing connects here.
    ///
    /// # Errors
    /// [`Error::Redis`] for a malformed URL.
    ///
    /// ```
    /// use keel_ratelimit::redis::RedisTarget;
    /// assert!(RedisTarget::node("redis://127.0.0.1:6379").is_ok());
    /// assert!(RedisTarget::node("http://127.0.0.1:6379").is_err());
    /// ```
    pub fn node(url: &str) -> Result<Self, Error> {
        Ok(Self {
            clients: vec![redis::Client::open(url)?],
            urls: vec![url.to_owned()],
            cluster: false,
            #[cfg(feature = "rustls")]
            root_certificates: None,
        })
    }

    /// A Redis Cluster reached through any of its `seeds` (the client discovers the other
    /// masters). Nothing connects here.
    ///
    /// # Errors
    /// [`Error::Redis`] for no URL or a malformed one.
    ///
    /// ```
    /// use keel_ratelimit::redis::RedisTarget;
    /// let t = RedisTarget::cluster(["redis://10.0.0.1:6379", "redis://10.0.0.2:6379"])?;
    /// assert!(t.is_cluster());
    /// assert!(RedisTarget::cluster(Vec::<String>::new()).is_err());
    /// # Ok::<(), keel_ratelimit::Error>(())
    /// ```
    #[cfg(feature = "redis-cluster")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis-cluster")))]
    pub fn cluster<I, S>(seeds: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let urls: Vec<String> = seeds.into_iter().map(|u| u.as_ref().to_owned()).collect();
        let clients = urls
            .iter()
            .map(|url| redis::Client::open(url.as_str()))
            .collect::<Result<Vec<_>, _>>()?;
        if clients.is_empty() {
            return Err(invalid(
                "a Redis Cluster needs at least one seed node URL",
                String::new(),
            ));
        }
        Ok(Self {
            clients,
            urls,
            cluster: true,
            #[cfg(feature = "rustls")]
            root_certificates: None,
        })
    }

    /// Whether this is a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.cluster
    }

    /// Trusts only the CA certificates in `pem` (one or more PEM `CERTIFICATE` blocks)
    /// for `rediss://` connections, instead of the system's roots.
    ///
    /// # Errors
    /// [`Error::Redis`] when `pem` holds no PEM certificate, or a URL is not `rediss://`
    /// (a private CA for a plaintext connection is a configuration mistake).
    #[cfg(feature = "rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
    pub fn tls_root_certificates(mut self, pem: impl Into<Vec<u8>>) -> Result<Self, Error> {
        const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
        let pem = pem.into();
        if !pem.windows(BEGIN.len()).any(|w| w == BEGIN) {
            return Err(invalid(
                "the TLS root certificates hold no PEM certificate",
                String::new(),
            ));
        }
        let certs = redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(pem.clone()),
        };
        for client in &mut self.clients {
            let info = client.get_connection_info().clone();
            if !matches!(info.addr(), redis::ConnectionAddr::TcpTls { .. }) {
                return Err(invalid(
                    "a private CA needs rediss:// URLs",
                    info.addr().to_string(),
                ));
            }
            *client = redis::Client::build_with_tls(info, certs.clone())?;
        }
        self.root_certificates = Some(pem);
        Ok(self)
    }

    /// [`tls_root_certificates`](Self::tls_root_certificates) from a PEM file (at most
    /// [`MAX_ROOT_CERTIFICATES_FILE`] bytes).
    ///
    /// # Errors
    /// [`Error::Redis`] naming the file when it cannot be read, is too large or holds no
    /// certificate; as for `tls_root_certificates`.
    #[cfg(feature = "rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
    pub fn tls_root_certificates_file(
        self,
        path: impl AsRef<std::path::Path>,
    ) -> Result<Self, Error> {
        use std::io::Read as _;
        let path = path.as_ref();
        let problem = |why: String| {
            invalid(
                "TLS root certificates",
                format!("{}: {why}", path.display()),
            )
        };
        let file = std::fs::File::open(path).map_err(|e| problem(e.to_string()))?;
        let mut pem = Vec::new();
        // One byte more than allowed: a larger file is detected without reading it all.
        file.take(MAX_ROOT_CERTIFICATES_FILE + 1)
            .read_to_end(&mut pem)
            .map_err(|e| problem(e.to_string()))?;
        if pem.len() as u64 > MAX_ROOT_CERTIFICATES_FILE {
            return Err(problem(format!(
                "larger than {MAX_ROOT_CERTIFICATES_FILE} bytes"
            )));
        }
        self.tls_root_certificates(pem)
            .map_err(|e| problem(e.to_string()))
    }

    /// The private CA set with [`tls_root_certificates`](Self::tls_root_certificates), as
    /// PEM (to hand the same trust to another client, e.g. keel-cache's Redis tier).
    #[cfg(feature = "rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
    pub fn tls_root_certificates_pem(&self) -> Option<&[u8]> {
        self.root_certificates.as_deref()
    }

    /// The URLs as given: one for a node, the seeds of a cluster, to hand the same
    /// deployment to another client (e.g. keel-cache's `RedisTier::from_urls`).
    ///
    /// **They carry credentials** when the URLs do (`redis://:password@host`): pass them
    /// on, never log or print them (this type's `Debug` prints addresses only).
    ///
    /// ```
    /// use keel_ratelimit::redis::RedisTarget;
    /// let t = RedisTarget::node("redis://:secret@127.0.0.1:6379")?;
    /// assert_eq!(t.expose_urls().collect::<Vec<_>>(), ["redis://:secret@127.0.0.1:6379"]);
    /// assert!(!format!("{t:?}").contains("secret"));
    /// # Ok::<(), keel_ratelimit::Error>(())
    /// ```
    pub fn expose_urls(&self) -> impl ExactSizeIterator<Item = &str> {
        self.urls.iter().map(String::as_str)
    }

    /// The URLs' clients (TLS settings included): one for a node, the seeds of a cluster.
    pub fn clients(&self) -> &[redis::Client] {
        &self.clients
    }

    /// A reconnecting connection made lazily: nothing connects until the first command,
    /// so a Redis that is down at startup is an outage like any other, not a startup
    /// failure. `timeout` bounds each connection attempt and each response; the
    /// connection retries once, quickly, and leaves longer waits to its callers (a
    /// limiter's fallback). Clone it to share it.
    ///
    /// # Errors
    /// [`Error::Redis`] when the client cannot be set up (a cluster's seeds with
    /// different credentials).
    pub fn connect_lazy(&self, timeout: Duration) -> Result<RedisConnection, Error> {
        #[cfg(feature = "redis-cluster")]
        if self.cluster {
            return Ok(RedisConnection::Cluster(
                self.cluster_client(timeout)?
                    .get_pending_async_connection_with_config(cluster_config(timeout)),
            ));
        }
        let client = self
            .clients
            .first()
            .cloned()
            .ok_or_else(|| invalid("no Redis URL", String::new()))?;
        let conn = ConnectionManager::new_lazy_with_config(client, manager_config(timeout))?;
        Ok(RedisConnection::Single(conn))
    }

    /// Connects now (e.g. to fail fast at startup or for a health check): as
    /// [`connect_lazy`](Self::connect_lazy), but the first connection is made here.
    ///
    /// # Errors
    /// [`Error::Redis`]: Redis unreachable, a refused TLS handshake (a certificate that
    /// does not chain to the trusted roots) or refused credentials.
    pub async fn connect(&self, timeout: Duration) -> Result<RedisConnection, Error> {
        #[cfg(feature = "redis-cluster")]
        if self.cluster {
            let client = self.cluster_client(timeout)?;
            let conn = client
                .get_async_connection_with_config(cluster_config(timeout))
                .await?;
            return Ok(RedisConnection::Cluster(conn));
        }
        let client = self
            .clients
            .first()
            .cloned()
            .ok_or_else(|| invalid("no Redis URL", String::new()))?;
        let conn = ConnectionManager::new_with_config(client, manager_config(timeout)).await?;
        Ok(RedisConnection::Single(conn))
    }

    #[cfg(feature = "redis-cluster")]
    fn cluster_client(&self, timeout: Duration) -> Result<redis::cluster::ClusterClient, Error> {
        let infos = self.clients.iter().map(|c| c.get_connection_info().clone());
        // One retry: callers have their own timeout, fallback and probing; the client's
        // default 16 retries with backoff would only queue work behind a dead master.
        let builder = redis::cluster::ClusterClientBuilder::new(infos)
            .connection_timeout(timeout)
            .response_timeout(timeout)
            .retries(1)
            .min_retry_wait(10)
            .max_retry_wait(100);
        #[cfg(feature = "rustls")]
        let builder = match &self.root_certificates {
            Some(pem) => builder.certs(redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem.clone()),
            }),
            None => builder,
        };
        Ok(builder.build()?)
    }
}

fn manager_config(timeout: Duration) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(1)
        .set_min_delay(Duration::from_millis(10))
        .set_max_delay(Duration::from_millis(100))
}

#[cfg(feature = "redis-cluster")]
fn cluster_config(timeout: Duration) -> redis::cluster::ClusterConfig {
    redis::cluster::ClusterConfig::new()
        .set_connection_timeout(timeout)
        .set_response_timeout(timeout)
}

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

impl RedisConnection {
    /// Sends `PING` and returns the round trip (for a health check: keel-health turns a
    /// `Result<Duration, _>` into a `pass` with the round trip in ms). On a cluster the
    /// command goes where the client routes it (every master), so the round trip is the
    /// slowest one. Bounded by the connection's response timeout
    /// ([`RedisTarget::connect_lazy`]'s `timeout`).
    ///
    /// # Errors
    /// [`Error::Redis`]: Redis unreachable, timed out or refusing the command.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), keel_ratelimit::Error> {
    /// use std::time::Duration;
    /// use keel_ratelimit::redis::RedisTarget;
    ///
    /// let conn = RedisTarget::node("redis://127.0.0.1:6379")?.connect_lazy(Duration::from_secs(1))?;
    /// let rtt = conn.ping().await?;
    /// println!("Redis answered in {rtt:?}");
    /// # Ok(()) }
    /// ```
    pub async fn ping(&self) -> Result<Duration, Error> {
        // Clones share the underlying connection (both kinds are handles).
        let mut conn = self.clone();
        let start = std::time::Instant::now();
        redis::cmd("PING").query_async::<()>(&mut conn).await?;
        Ok(start.elapsed())
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
