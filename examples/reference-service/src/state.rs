//! Dependency injection: [`AppState`] holds every shared component, built once from
//! [`Config`] and handed to handlers through axum state.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use keel_crypto::{Argon2Params, AsyncPasswordHasher, KeyRing, PasswordHasher};
use keel_errors::ApiError;
use keel_health::axum::{DetailsPolicy, HealthRouter};
use keel_health::{CheckOptions, Health, Kinds, Observation};
use metrics_exporter_prometheus::PrometheusHandle;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::auth::TokenService;
use crate::config::Config;
use crate::db::{Db, DbConn};
use crate::domain::Role;
use crate::jobs::Jobs;
use crate::limits::Limits;
use crate::services::PHONE_PURPOSE;

/// What the user cache stores: the public fields, with the phone still **encrypted**
/// (PII never sits in Redis in the clear) and never the password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedUser {
    /// Id.
    pub id: Uuid,
    /// E-mail.
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// keel-crypto token of the phone.
    pub phone_encrypted: Option<Vec<u8>>,
    /// Role.
    pub role: Role,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Whether a read came from the cache (`X-Cache`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// Served from memory or Redis.
    Hit,
    /// Loaded from PostgreSQL.
    Miss,
}

impl CacheStatus {
    /// `HIT` or `MISS`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Hit => "HIT",
            Self::Miss => "MISS",
        }
    }
}

/// How long a user stays cached (invalidations are explicit; the TTL bounds staleness
/// if an invalidation message is lost).
const USER_CACHE_TTL: Duration = Duration::from_secs(300);

/// Shared application state; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

struct Inner {
    config: Config,
    tokens: TokenService,
    keyring: KeyRing,
    /// Argon2id on the blocking pool, at most one run per core at once (19 MiB each), so
    /// a login flood can neither exhaust memory nor stall the async runtime.
    hasher: AsyncPasswordHasher,
    db: Db,
    jobs: Jobs,
    metrics: PrometheusHandle,
    health: Health,
    user_cache: keel_cache::Cache<String, CachedUser>,
    limits: Limits,
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartupError {
    /// A configuration value was rejected by the component using it.
    #[error("configuration: {0}")]
    Config(String),
    /// A dependency could not be set up.
    #[error("{0}")]
    Dependency(String),
}

impl AppState {
    /// Builds every component from `config`. Nothing here needs PostgreSQL or Redis to be
    /// up: the pool connects lazily and Redis-backed components fall back to memory.
    ///
    /// # Errors
    /// [`StartupError`] for key material or parameters the crates reject.
    pub async fn new(config: Config) -> Result<Self, StartupError> {
        let keyring: KeyRing = config
            .encryption_keys
            .expose_secret()
            .parse()
            .map_err(|e| StartupError::Config(format!("KEEL_ENCRYPTION_KEYS: {e}")))?;
        let p = config.password_hash;
        let params = Argon2Params::new(p.m_cost, p.t_cost, p.p_cost)
            .map_err(|e| StartupError::Config(format!("KEEL_PASSWORD_HASH: {e}")))?;
        let hasher = AsyncPasswordHasher::new(PasswordHasher::new().with_params(params));
        let tokens =
            TokenService::new(config.jwt_secret.expose_secret().as_bytes(), config.jwt_ttl);
        let db = Db::new(&config).map_err(StartupError::Config)?;
        let user_cache = build_user_cache(&config).await?;
        let health = build_health(&config, &db)?;
        let limits = Limits::new(&config).await.map_err(StartupError::Config)?;

        Ok(Self {
            inner: Arc::new(Inner {
                tokens,
                keyring,
                hasher,
                db,
                jobs: Jobs::new(),
                metrics: crate::telemetry::metrics_handle(),
                health,
                user_cache,
                limits,
                config,
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The token service.
    pub fn tokens(&self) -> &TokenService {
        &self.inner.tokens
    }

    /// Background jobs.
    pub fn jobs(&self) -> &Jobs {
        &self.inner.jobs
    }

    /// The Prometheus handle.
    pub fn metrics(&self) -> &PrometheusHandle {
        &self.inner.metrics
    }

    /// The health registry (drained on shutdown).
    pub fn health(&self) -> &Health {
        &self.inner.health
    }

    /// The pool.
    pub fn pool(&self) -> &Db {
        &self.inner.db
    }

    /// A pooled connection.
    ///
    /// # Errors
    /// 503 when the database is unreachable or the pool is exhausted past its wait timeout.
    pub async fn db(&self) -> Result<DbConn, ApiError> {
        self.inner.db.get().await
    }

    /// Hashes a password with Argon2id on the blocking pool (keel-crypto, bounded).
    ///
    /// # Errors
    /// 500 when hashing fails.
    pub async fn hash_password(&self, password: SecretString) -> Result<String, ApiError> {
        self.inner
            .hasher
            .hash(password.expose_secret().to_owned())
            .await
            .map_err(ApiError::internal)
    }

    /// Verifies a password against a PHC string on the blocking pool.
    ///
    /// # Errors
    /// 500 when the hash is unreadable.
    pub async fn verify_password(
        &self,
        password: SecretString,
        hash: String,
    ) -> Result<bool, ApiError> {
        self.inner
            .hasher
            .verify(password.expose_secret().to_owned(), hash)
            .await
            .map_err(ApiError::internal)
    }

    /// Spends the time of one verification and fails: the unknown-e-mail path of login,
    /// so response times do not reveal which accounts exist.
    ///
    /// # Errors
    /// 500 when the blocking task fails.
    pub async fn verify_dummy(&self, password: SecretString) -> Result<(), ApiError> {
        self.inner
            .hasher
            .verify_dummy(password.expose_secret().to_owned())
            .await
            .map(drop)
            .map_err(ApiError::internal)
    }

    /// Whether a stored hash should be upgraded at the next successful login.
    pub fn needs_rehash(&self, hash: &str) -> bool {
        self.inner.hasher.hasher().needs_rehash(hash)
    }

    /// Encrypts a phone number for `user` (purpose-bound, the user id as associated data,
    /// so a ciphertext copied to another row does not decrypt).
    ///
    /// # Errors
    /// 500 when encryption fails (e.g. the key's usage limit is reached).
    pub fn encrypt_phone(&self, phone: &str, user: Uuid) -> Result<Vec<u8>, ApiError> {
        self.inner
            .keyring
            .encrypt(PHONE_PURPOSE, phone.as_bytes(), user.as_bytes())
            .map_err(ApiError::internal)
    }

    /// Decrypts a phone token of `user`.
    ///
    /// # Errors
    /// 500 when the token does not decrypt (wrong key ring, tampered row).
    pub fn decrypt_phone(&self, token: &[u8], user: Uuid) -> Result<String, ApiError> {
        let bytes = self
            .inner
            .keyring
            .decrypt(PHONE_PURPOSE, token, user.as_bytes())
            .map_err(ApiError::internal)?;
        String::from_utf8(bytes).map_err(ApiError::internal)
    }

    /// Reads a user through the cache; `load` runs on a miss (once for concurrent misses).
    ///
    /// # Errors
    /// The loader's error (e.g. 503 when the database is down).
    pub async fn cached_user<F>(
        &self,
        id: Uuid,
        load: F,
    ) -> Result<(Option<CachedUser>, CacheStatus), ApiError>
    where
        F: Future<Output = Result<Option<CachedUser>, ApiError>> + Send + 'static,
    {
        if !self.inner.config.user_cache {
            return Ok((load.await?, CacheStatus::Miss));
        }
        let lookup = self
            .inner
            .user_cache
            .get_or_load_optional(user_key(id), move || load)
            .await
            .map_err(cache_error)?;
        let status = if lookup.status().is_cached() {
            CacheStatus::Hit
        } else {
            CacheStatus::Miss
        };
        Ok((lookup.into_value(), status))
    }

    /// Drops a user from the cache here and, through Redis, on every replica.
    pub async fn invalidate_cached_user(&self, id: Uuid) {
        self.inner.user_cache.invalidate(&user_key(id)).await;
    }

    /// Checks the login limits (per client IP, per e-mail).
    ///
    /// # Errors
    /// 429 with `Retry-After` and `RateLimit` headers.
    pub async fn check_login_limits(
        &self,
        ip: IpAddr,
        email: &str,
    ) -> Result<(), crate::services::LoginError> {
        self.inner.limits.check_login(ip, email).await
    }

    /// The client IP of a request, honouring `X-Forwarded-For` only from trusted proxies.
    pub fn client_ip(&self, parts: &http::request::Parts) -> IpAddr {
        self.inner.limits.client_ip(parts)
    }

    /// The global per-IP rate-limit layer, unless disabled.
    pub fn global_rate_limit_layer(&self) -> Option<keel_ratelimit::axum::RateLimitLayer> {
        self.inner.limits.global_layer()
    }

    /// `/health/*` (keel-health): details for admins (bearer token) or loopback callers.
    pub fn health_router(&self) -> Router {
        let tokens = self.inner.tokens.clone();
        let admin = DetailsPolicy::when(move |parts: &http::request::Parts| {
            parts
                .headers
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .and_then(|t| tokens.verify(t).ok())
                .is_some_and(|c| c.role == Role::Admin)
        });
        HealthRouter::new(self.inner.health.clone())
            .details(admin.or(DetailsPolicy::loopback()))
            .into_router()
    }

    /// Publishes gauges sampled at scrape time (pool figures, cache hit ratio).
    pub fn record_gauges(&self) {
        let f = self.inner.db.status();
        #[allow(clippy::cast_precision_loss)]
        {
            metrics::gauge!("db_pool_connections").set(f.size as f64);
            metrics::gauge!("db_pool_idle_connections").set(f.idle as f64);
            metrics::gauge!("db_pool_in_use_connections").set(f.in_use as f64);
            metrics::gauge!("db_pool_waiting").set(f.waiting as f64);
            metrics::gauge!("db_pool_max_connections").set(f.max_size as f64);
        }
        let stats = self.inner.user_cache.stats();
        metrics::gauge!("cache_hit_ratio", "cache" => "users").set(stats.hit_ratio());
    }
}

fn user_key(id: Uuid) -> String {
    format!("user:{id}")
}

fn cache_error(e: keel_cache::Error) -> ApiError {
    if let keel_cache::Error::Load(load) = &e
        && let Some(api) = load.downcast_ref::<ApiError>()
    {
        // Rebuild the loader's public error (503 for a database outage, …).
        let mut out = ApiError::new(api.kind(), api.public_message().to_owned());
        if let Some(after) = api.retry_after() {
            out = out.with_retry_after(after);
        }
        return out.with_source(e);
    }
    ApiError::internal(e)
}

async fn build_user_cache(
    config: &Config,
) -> Result<keel_cache::Cache<String, CachedUser>, StartupError> {
    let builder = keel_cache::Cache::builder("users")
        .max_capacity(10_000)
        .ttl(USER_CACHE_TTL)
        .negative_ttl(Duration::from_secs(5));
    match &config.redis_url {
        None => Ok(builder.build()),
        Some(url) => {
            let client = redis::Client::open(url.expose_secret())
                .map_err(|e| StartupError::Config(format!("REDIS_URL: {e}")))?;
            let tier = keel_cache::redis::RedisTier::new(client)
                .key_prefix(format!("{}:cache:", config.redis_prefix))
                .invalidation_broadcast(true);
            builder
                .build_with_redis(tier)
                .await
                .map_err(|e| StartupError::Dependency(format!("cache: {e}")))
        }
    }
}

fn build_health(config: &Config, db: &Db) -> Result<Health, StartupError> {
    let pg = db.clone();
    let mut builder = Health::builder()
        .version(env!("CARGO_PKG_VERSION"))
        .service_id("keel-reference-service")
        .description("Keel reference service")
        .check(
            CheckOptions::new("postgres:responseTime")
                .component_type("datastore")
                .kinds(Kinds::READINESS | Kinds::STARTUP)
                .timeout(Duration::from_secs(2)),
            move || {
                let pg = pg.clone();
                async move {
                    match pg.ping().await {
                        Ok(rtt) => Observation::from(keel_health::Status::Pass)
                            .with_value(rtt.as_secs_f64() * 1000.0, "ms"),
                        Err(e) => Observation::fail(e.to_string()),
                    }
                }
            },
        );
    if let Some(url) = &config.redis_url {
        let client = redis::Client::open(url.expose_secret())
            .map_err(|e| StartupError::Config(format!("REDIS_URL: {e}")))?;
        let conn: Arc<tokio::sync::OnceCell<redis::aio::ConnectionManager>> = Arc::default();
        builder = builder.check(
            // Non-critical: without Redis, rate limits and the cache fall back to memory, so
            // an outage degrades readiness to `warn` (still 200) instead of taking every
            // replica out of the load balancer at once.
            CheckOptions::new("redis:responseTime")
                .component_type("datastore")
                .non_critical()
                .timeout(Duration::from_secs(1)),
            move || {
                let client = client.clone();
                let conn = Arc::clone(&conn);
                async move {
                    let start = std::time::Instant::now();
                    // One auto-reconnecting connection, made on the first check that finds
                    // Redis up (a Redis that is down at startup must not block startup).
                    let manager = conn
                        .get_or_try_init(|| redis::aio::ConnectionManager::new(client))
                        .await;
                    let mut manager = match manager {
                        Ok(m) => m.clone(),
                        Err(e) => return Observation::fail(e.to_string()),
                    };
                    match redis::cmd("PING").query_async::<String>(&mut manager).await {
                        Ok(_) => Observation::from(keel_health::Status::Pass)
                            .with_value(start.elapsed().as_secs_f64() * 1000.0, "ms"),
                        Err(e) => Observation::fail(e.to_string()),
                    }
                }
            },
        );
    }
    builder
        .build()
        .map_err(|e| StartupError::Dependency(format!("health: {e}")))
}
