//! Dependency injection: [`AppState`] holds the service's components, each built once
//! from [`Config`]; handlers take only the component they need (`State<Users>`,
//! `State<Authenticator>`, …) through axum's `FromRef`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use keel_auth::{ApiKeys, Authenticator};
use keel_cache::redis::{RedisTier, Topology};
use keel_crypto::{AsyncPasswordHasher, PasswordHasher};
use keel_health::Health;
use keel_http::jobs::BackgroundJobs;
use keel_http::prometheus::Prometheus;

use crate::config::Config;
use crate::db::Db;
use crate::limits::Limits;
use crate::services::{Components, Users};

/// How long a user stays cached (invalidations are explicit; the TTL bounds staleness if
/// an invalidation message is lost).
const USER_CACHE_TTL: Duration = Duration::from_secs(300);

/// Bound of one Redis connection attempt or response (each limiter's own, shorter
/// timeout answers from its fallback first).
const REDIS_WAIT: Duration = Duration::from_millis(250);

/// The shared components ([`StateParts`], reached through `Deref`: `state.users`); a
/// clone is one reference count (axum clones the state for every request).
#[derive(Debug, Clone)]
pub struct AppState(Arc<StateParts>);

impl std::ops::Deref for AppState {
    type Target = StateParts;

    fn deref(&self) -> &StateParts {
        &self.0
    }
}

/// `FromRef<AppState>` for each component (what `#[derive(FromRef)]` wrote for the
/// fields): handlers take `State<Users>`, `State<Authenticator>`, ….
macro_rules! from_ref {
    ($($field:ident: $ty:ty),* $(,)?) => {$(
        impl FromRef<AppState> for $ty {
            fn from_ref(state: &AppState) -> Self {
                state.0.$field.clone()
            }
        }
    )*};
}

from_ref!(
    config: Arc<Config>,
    users: Users,
    authenticator: Authenticator,
    api_keys: ApiKeys,
    limits: Limits,
    health: Health,
    jobs: BackgroundJobs,
    db: Db,
    metrics: Prometheus,
);

/// The components of an [`AppState`], each built once from [`Config`].
#[derive(Debug)]
pub struct StateParts {
    /// The configuration.
    pub config: Arc<Config>,
    /// The users service (every use case).
    pub users: Users,
    /// Access tokens and revocation (the `Caller` extractor verifies with it).
    pub authenticator: Authenticator,
    /// API keys (the `Caller` extractor verifies them).
    pub api_keys: ApiKeys,
    /// The client-IP rule and the global limit.
    pub limits: Limits,
    /// The health registry (drained on shutdown).
    pub health: Health,
    /// Background jobs (waited for on shutdown).
    pub jobs: BackgroundJobs,
    /// The pool (closed on shutdown).
    pub db: Db,
    /// The process's Prometheus exporter (keel-http).
    pub metrics: Prometheus,
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartupError(String);

impl AppState {
    /// Builds every component from `config`. Nothing here needs PostgreSQL or Redis to be
    /// up: the pool connects lazily and Redis-backed components fall back to memory.
    ///
    /// # Errors
    /// [`StartupError`] for key material or parameters the crates reject.
    pub async fn new(config: Config) -> Result<Self, StartupError> {
        let err = StartupError;
        // First: the crates register their metrics (pool gauges) when built.
        let metrics = Prometheus::install().map_err(|e| err(format!("metrics: {e}")))?;
        let keyring = Arc::clone(&config.encryption_keys);
        let hasher =
            AsyncPasswordHasher::new(PasswordHasher::new().with_params(config.password_hash));
        let db = crate::db::pool(&config).map_err(err)?;
        // A TLS mode the server cannot meet stops startup instead of failing every request.
        db.check_tls().await.map_err(|e| {
            err(format!(
                "DATABASE_URL: TLS to PostgreSQL failed ({e}); check sslmode, sslrootcert and \
                 the server's certificate"
            ))
        })?;
        // One lazily made, reconnecting connection (a node or a cluster, TLS as configured)
        // for every limiter and the health check: a Redis down at startup is an outage.
        let redis = config.redis.as_ref().map(|t| t.connect_lazy(REDIS_WAIT));
        let redis = redis.transpose().map_err(|e| err(format!("Redis: {e}")))?;
        let auth = crate::auth::new(&config, &db, Arc::clone(&keyring), hasher, redis.as_ref())
            .map_err(err)?;
        let jobs = BackgroundJobs::new();
        let parts = auth.components();
        let (authenticator, api_keys) = (parts.authenticator.clone(), parts.api_keys.clone());
        let users = Users::new(Components {
            db: db.clone(),
            auth,
            keyring,
            cache: user_cache(&config).await.map_err(err)?,
            jobs: jobs.clone(),
        });
        Ok(Self(Arc::new(StateParts {
            health: crate::health::build(&db, redis.as_ref()).map_err(err)?,
            limits: Limits::new(&config, redis.as_ref()).map_err(err)?,
            metrics,
            config: Arc::new(config),
            users,
            authenticator,
            api_keys,
            jobs,
            db,
        })))
    }
}

async fn user_cache(
    config: &Config,
) -> Result<Option<keel_cache::Cache<uuid::Uuid, Arc<crate::domain::UserRecord>>>, String> {
    if !config.user_cache {
        return Ok(None);
    }
    let builder = keel_cache::Cache::builder("users")
        .max_capacity(10_000)
        .ttl(USER_CACHE_TTL)
        .negative_ttl(Duration::from_secs(5));
    let Some(target) = &config.redis else {
        return Ok(Some(builder.build()));
    };
    // The same deployment (node or cluster) and private CA as the limits' connection.
    let topology = if target.is_cluster() {
        Topology::Cluster
    } else {
        Topology::Node
    };
    let (urls, ca) = (target.expose_urls(), target.tls_root_certificates_pem());
    let tier = RedisTier::from_urls(topology, urls, ca)
        .map_err(|e| format!("cache: {e}"))?
        .key_prefix(format!("{}:cache:", config.redis_prefix))
        .invalidation_broadcast(true);
    let cache = builder.build_with_redis(tier).await;
    cache.map(Some).map_err(|e| format!("cache: {e}"))
}
