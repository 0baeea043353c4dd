//! Redis, built once from the configuration for the rate limits, the user cache and the
//! health check: one node (`REDIS_URL`; TLS with `rediss://`, trusting
//! `KEEL_REDIS_CA_FILE` or the system's roots) or a Redis Cluster
//! (`KEEL_REDIS_CLUSTER_URLS`, seed URLs). `KEEL_REPLICAS` sets each replica's share of
//! a limit while Redis is unreachable.

use std::fmt;
use std::time::Duration;

use keel_cache::redis::RedisTier;
use keel_ratelimit::redis::{RedisConnection, RedisLimiter, RedisLimiterBuilder};
use redis::aio::ConnectionManagerConfig;
use secrecy::ExposeSecret;

use crate::config::Config;

/// The largest root-certificate file read from `KEEL_REDIS_CA_FILE`.
const MAX_CA_FILE: u64 = 1024 * 1024;

// A `Client` with the TLS features is ~240 bytes; one `Target` per process.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
enum Target {
    /// One node (or a proxy in front of one), TLS set up on the client.
    Single(redis::Client),
    /// Seed URLs of a cluster (they may carry a password).
    Cluster(Vec<String>),
}

/// Where Redis is; cheap to clone.
#[derive(Clone)]
pub struct Redis {
    target: Target,
    replicas: u32,
}

impl fmt::Debug for Redis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Addresses only: the URLs may carry a password.
        let (kind, addrs): (&str, Vec<String>) = match &self.target {
            Target::Single(c) => ("single", vec![c.get_connection_info().addr().to_string()]),
            Target::Cluster(urls) => (
                "cluster",
                urls.iter()
                    .filter_map(|u| redis::Client::open(u.as_str()).ok())
                    .map(|c| c.get_connection_info().addr().to_string())
                    .collect(),
            ),
        };
        f.debug_struct("Redis")
            .field("kind", &kind)
            .field("addrs", &addrs)
            .field("replicas", &self.replicas)
            .finish()
    }
}

impl Redis {
    /// The Redis of `config`; `None` without `REDIS_URL` and `KEEL_REDIS_CLUSTER_URLS`.
    /// Nothing connects here.
    ///
    /// # Errors
    /// A message naming the variable: a malformed URL, an unreadable or empty
    /// `KEEL_REDIS_CA_FILE`.
    pub fn from_config(config: &Config) -> Result<Option<Self>, String> {
        let target = if !config.redis_cluster_urls.is_empty() {
            let urls: Vec<String> = config
                .redis_cluster_urls
                .iter()
                .map(|u| u.expose_secret().to_owned())
                .collect();
            for url in &urls {
                redis::Client::open(url.as_str())
                    .map_err(|e| format!("KEEL_REDIS_CLUSTER_URLS: {e}"))?;
            }
            Target::Cluster(urls)
        } else if let Some(url) = &config.redis_url {
            let url = url.expose_secret();
            let client = match &config.redis_ca_file {
                None => redis::Client::open(url),
                Some(path) => {
                    let root_cert = read_ca(path)?;
                    let certs = redis::TlsCertificates {
                        client_tls: None,
                        root_cert: Some(root_cert),
                    };
                    redis::Client::build_with_tls(url, certs)
                }
            };
            Target::Single(client.map_err(|e| format!("REDIS_URL: {e}"))?)
        } else {
            return Ok(None);
        };
        Ok(Some(Self {
            target,
            replicas: config.replicas,
        }))
    }

    /// Whether this is a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.target, Target::Cluster(_))
    }

    /// Builds a limiter on this Redis, lazily connected (a Redis that is down at startup
    /// is an outage like any other: the fallback answers), with `KEEL_REPLICAS` as the
    /// fallback share. `timeout` is the limiter's per-call timeout.
    ///
    /// # Errors
    /// What keel-ratelimit refuses (quotas, URLs).
    pub async fn limiter(
        &self,
        builder: RedisLimiterBuilder,
        timeout: Duration,
    ) -> Result<RedisLimiter, keel_ratelimit::Error> {
        let builder = builder.timeout(timeout).replicas(self.replicas);
        match &self.target {
            Target::Cluster(urls) => builder.connect_cluster(urls).await,
            Target::Single(client) => {
                // As keel-ratelimit's `connect`, on a client that already carries its TLS
                // settings.
                let wait = timeout.max(Duration::from_millis(250));
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(wait))
                    .set_response_timeout(Some(wait))
                    .set_number_of_retries(1)
                    .set_min_delay(Duration::from_millis(10))
                    .set_max_delay(Duration::from_millis(100));
                let conn =
                    redis::aio::ConnectionManager::new_lazy_with_config(client.clone(), config)?;
                builder.build(conn)
            }
        }
    }

    /// The keel-cache Redis tier on this Redis (set the key prefix on it).
    ///
    /// # Errors
    /// A malformed cluster URL.
    pub fn cache_tier(&self) -> Result<RedisTier, String> {
        match &self.target {
            Target::Single(client) => Ok(RedisTier::new(client.clone())),
            Target::Cluster(urls) => {
                RedisTier::cluster(urls).map_err(|e| format!("KEEL_REDIS_CLUSTER_URLS: {e}"))
            }
        }
    }

    /// Connects now (for the health check, which keeps the connection): an
    /// auto-reconnecting connection to the node, or a cluster connection.
    ///
    /// # Errors
    /// Redis unreachable, refused TLS, or refused credentials.
    pub async fn connect(&self) -> Result<RedisConnection, redis::RedisError> {
        let wait = Duration::from_secs(1);
        match &self.target {
            Target::Single(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(wait))
                    .set_response_timeout(Some(wait))
                    .set_number_of_retries(1);
                let conn =
                    redis::aio::ConnectionManager::new_with_config(client.clone(), config).await?;
                Ok(RedisConnection::from(conn))
            }
            Target::Cluster(urls) => {
                let client = redis::cluster::ClusterClientBuilder::new(urls.clone())
                    .connection_timeout(wait)
                    .response_timeout(wait)
                    .retries(1)
                    .build()?;
                Ok(RedisConnection::from(client.get_async_connection().await?))
            }
        }
    }
}

fn read_ca(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let problem = |why: String| format!("KEEL_REDIS_CA_FILE {}: {why}", path.display());
    let len = std::fs::metadata(path)
        .map_err(|e| problem(e.to_string()))?
        .len();
    if len > MAX_CA_FILE {
        return Err(problem(format!("larger than {MAX_CA_FILE} bytes")));
    }
    let pem = std::fs::read(path).map_err(|e| problem(e.to_string()))?;
    if !pem
        .windows(b"-----BEGIN CERTIFICATE-----".len())
        .any(|w| w == b"-----BEGIN CERTIFICATE-----")
    {
        return Err(problem("holds no PEM certificate".into()));
    }
    Ok(pem)
}
