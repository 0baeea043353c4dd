//! Typed configuration from the environment (and an optional `.env` file), validated at
//! startup with one clear message per problem.
//!
//! The variables, their defaults and meanings are listed once, in the README's
//! [Configuration](crate#configuration) table.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use keel_crypto::{Argon2Params, KeyRing, StrengthCheck, WeakSetting, WeakSettings};
use keel_http::ServeConfig;
use keel_http::cors::StrictCors;
use keel_http::serve::{DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_MAX_CONNECTIONS};
use keel_ratelimit::redis::{RedisInput, RedisTarget};
use keel_validation::env::EnvReader;
use secrecy::{ExposeSecret, SecretString};

/// Every problem found in the environment, one line each, each naming its variable
/// (keel-validation's `EnvError`).
pub use keel_validation::env::EnvError as ConfigError;

/// Everything the service reads from its environment. `Debug` prints no secret: the URLs
/// and secrets are `secrecy` types (`[REDACTED]`), the key ring and the Redis target
/// redact themselves.
#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL`. A secret: it may carry a password.
    pub database_url: SecretString,
    /// `REDIS_URL` or `KEEL_REDIS_CLUSTER_URLS`, with `KEEL_REDIS_CA_FILE`: one node or a
    /// cluster (keel-ratelimit's `RedisTarget`); `None` means in-memory rate limits and
    /// cache (a single replica).
    pub redis: Option<RedisTarget>,
    /// `KEEL_REPLICAS`: how many replicas share the Redis rate limits (fallback share).
    pub replicas: u32,
    /// The pool (keel-db-pool): `DATABASE_URL`, the service's defaults (`db::settings`)
    /// and keel-db-pool's `DATABASE_POOL_*` variables (`DATABASE_POOL_MAX_SIZE`,
    /// `DATABASE_POOL_PGBOUNCER`, …). Its `Debug` prints no password.
    pub db: keel_db_pool::Config,
    /// `KEEL_MIGRATIONS_DATABASE_URL`; `None` = `DATABASE_URL`.
    pub migrations_database_url: Option<SecretString>,
    /// `KEEL_JWT_SECRET`, at least 32 bytes.
    pub jwt_secret: SecretString,
    /// `KEEL_JWT_TTL_SECS`.
    pub jwt_ttl: Duration,
    /// `KEEL_ENCRYPTION_KEYS`: keel-crypto's key ring (its `Debug` prints no key).
    pub encryption_keys: Arc<KeyRing>,
    /// `KEEL_BIND`.
    pub bind: SocketAddr,
    /// `KEEL_CORS_ORIGINS`, validated by keel-http's `StrictCors`; `None` when no origin.
    pub cors: Option<StrictCors>,
    /// `KEEL_RATE_LIMIT_GLOBAL`; `None` when `off`.
    pub rate_limit_global: Option<String>,
    /// `KEEL_RATE_LIMIT_SIGNUP`.
    pub rate_limit_signup: String,
    /// `KEEL_AUTH_SCHEMA`.
    pub auth_schema: String,
    /// `KEEL_TRUSTED_PROXIES`, as written (validated by keel-ratelimit).
    pub trusted_proxies: Vec<String>,
    /// `KEEL_REQUEST_TIMEOUT_SECS`.
    pub request_timeout: Duration,
    /// `KEEL_SHUTDOWN_TIMEOUT_SECS`.
    pub shutdown_timeout: Duration,
    /// `KEEL_SHUTDOWN_DELAY_SECS`.
    pub shutdown_delay: Duration,
    /// `KEEL_HSTS`.
    pub hsts: bool,
    /// `KEEL_REDIS_PREFIX`.
    pub redis_prefix: String,
    /// `KEEL_PASSWORD_HASH`.
    pub password_hash: Argon2Params,
    /// `KEEL_LOG_FORMAT`.
    pub log_format: LogFormat,
    /// `KEEL_USER_CACHE`: whether user reads go through the cache.
    pub user_cache: bool,
    /// `KEEL_DEV_MODE`: weak secrets and hashing costs are accepted with a warning.
    pub dev_mode: bool,
    /// `KEEL_HEALTH_DETAILS_LOOPBACK`: loopback callers see health details without a token.
    pub health_details_loopback: bool,
    /// Weak settings accepted because of `KEEL_DEV_MODE` (logged at startup).
    pub warnings: Vec<WeakSetting>,
    /// keel-http's transport bounds: `KEEL_HEADER_READ_TIMEOUT_MS`, `KEEL_MAX_CONNECTIONS`,
    /// and `KEEL_SHUTDOWN_TIMEOUT_SECS` as the drain timeout.
    pub transport: ServeConfig,
}

/// Log output format (`KEEL_LOG_FORMAT`): keel-http's, as `json_log::init` takes it.
pub use keel_http::json_log::LogFormat;

/// The shortest accepted JWT secret, in bytes (RFC 7518 §3.2: at least the hash size).
pub const MIN_JWT_SECRET_LEN: usize = 32;

impl Config {
    /// Reads the process environment, after loading `.env` from the current directory
    /// when it exists (variables already set win; a malformed line is a problem named by
    /// its variable, never quoted).
    ///
    /// # Errors
    /// [`ConfigError`] listing every missing or malformed variable.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(EnvReader::from_process_env_and_dotenv())
    }

    /// Builds the configuration from a lookup function (tests pass a map).
    ///
    /// # Errors
    /// [`ConfigError`] listing every missing or malformed variable.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::read(EnvReader::from_lookup(get))
    }

    fn read(mut env: EnvReader<'_>) -> Result<Self, ConfigError> {
        const PG: [&str; 2] = ["postgres", "postgresql"];
        let hint = ": point it at PostgreSQL, or run `cargo xtask run`, which starts throwaway \
                    PostgreSQL/Redis and sets everything up";
        let database_url = env.required("DATABASE_URL", hint);
        let database_url = database_url.and_then(|u| env.scheme("DATABASE_URL", u, &PG));
        let (node, seeds) = (
            env.optional("REDIS_URL"),
            env.list("KEEL_REDIS_CLUSTER_URLS"),
        );
        let ca_file = env.optional("KEEL_REDIS_CA_FILE");
        let redis_var = |input| match input {
            RedisInput::Node => "REDIS_URL",
            RedisInput::Seeds => "KEEL_REDIS_CLUSTER_URLS",
            _ => "KEEL_REDIS_CA_FILE",
        };
        let redis = RedisTarget::node_or_cluster(node.as_deref(), &seeds, ca_file)
            .unwrap_or_else(|e| env.refuse(redis_var(e.input()), e.detail(redis_var)));
        let replicas = env
            .number("KEEL_REPLICAS", 1..=1000, "a number")
            .unwrap_or(1);
        let db = match crate::db::settings().env_overrides(|var| env.optional(var)) {
            Ok(builder) => database_url.as_deref().map(|url| builder.url(url).build()),
            Err(problems) => {
                problems
                    .iter()
                    .for_each(|p| env.problem(p.var(), p.detail()));
                None
            }
        };
        let db = db.and_then(|built| {
            let refused = |e| env.problem("DATABASE_URL", format_args!("is refused: {e}"));
            built.map_err(refused).ok()
        });
        let migrations_database_url = env.optional("KEEL_MIGRATIONS_DATABASE_URL");
        let migrations_database_url = migrations_database_url
            .and_then(|u| env.scheme("KEEL_MIGRATIONS_DATABASE_URL", u, &PG));
        let hint = format!(" (at least {MIN_JWT_SECRET_LEN} random bytes)");
        let jwt_secret = match env.required("KEEL_JWT_SECRET", &hint) {
            Some(s) if s.len() < MIN_JWT_SECRET_LEN => env.refuse(
                "KEEL_JWT_SECRET",
                format_args!(
                    "is {} bytes; it must be at least {MIN_JWT_SECRET_LEN} (e.g. `openssl rand -base64 48`)",
                    s.len()
                ),
            ),
            secret => secret,
        };
        let hint = " (`1:<base64 of 32 random bytes>`, e.g. `1:$(openssl rand -base64 32)`)";
        let encryption_keys = env
            .required("KEEL_ENCRYPTION_KEYS", hint)
            .and_then(|_| env.parse_with("KEEL_ENCRYPTION_KEYS", str::parse::<KeyRing>))
            .map(Arc::new);
        let bind = env.parse("KEEL_BIND", "an address like 127.0.0.1:8080");
        let bind = bind.unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080)));
        let cors = env.parse_with("KEEL_CORS_ORIGINS", StrictCors::from_list);
        let cors = cors.filter(|c| !c.is_empty());
        let rate_limit_global = Some(env.or("KEEL_RATE_LIMIT_GLOBAL", "100/second"))
            .filter(|v| !v.eq_ignore_ascii_case("off"));
        let rate_limit_signup = env.or("KEEL_RATE_LIMIT_SIGNUP", "5/minute");
        let auth_schema = env.or("KEEL_AUTH_SCHEMA", "keel_auth");
        if keel_auth::migrations::check_schema(&auth_schema).is_err() {
            env.problem("KEEL_AUTH_SCHEMA", "must be 1-63 characters of [a-z0-9_]");
        }
        let trusted_proxies = env.list("KEEL_TRUSTED_PROXIES");
        let jwt_ttl = env.secs("KEEL_JWT_TTL_SECS", 900, 1..=86_400);
        let request_timeout = env.secs("KEEL_REQUEST_TIMEOUT_SECS", 10, 1..=300);
        let shutdown_timeout = env.secs("KEEL_SHUTDOWN_TIMEOUT_SECS", 20, 1..=600);
        let shutdown_delay = env.secs("KEEL_SHUTDOWN_DELAY_SECS", 0, 0..=120);
        let hsts = env.flag("KEEL_HSTS", false);
        let user_cache = env.flag("KEEL_USER_CACHE", true);
        let redis_prefix = env.or("KEEL_REDIS_PREFIX", "keel:ref");
        let password_hash = env.parse_with("KEEL_PASSWORD_HASH", str::parse::<Argon2Params>);
        let password_hash = password_hash.unwrap_or(Argon2Params::OWASP);
        let formats = [("json", LogFormat::Json), ("pretty", LogFormat::Pretty)];
        let log_format = env.one_of("KEEL_LOG_FORMAT", &formats, LogFormat::Json);
        let dev_mode = env.flag("KEEL_DEV_MODE", false);
        let health_details_loopback = env.flag("KEEL_HEALTH_DETAILS_LOOPBACK", false);

        // keel-crypto's checks; `KEEL_DEV_MODE` turns refusals into logged warnings.
        let mut weak = StrengthCheck::new();
        weak.argon2("KEEL_PASSWORD_HASH", &password_hash);
        if let Some(secret) = &jwt_secret {
            weak.secret("KEEL_JWT_SECRET", secret.as_bytes());
        }
        if let Some(ring) = &encryption_keys {
            weak.key_ring("KEEL_ENCRYPTION_KEYS", ring);
        }
        let mode = if dev_mode {
            WeakSettings::AcceptForDevelopment
        } else {
            WeakSettings::Refuse
        };
        let warnings = weak.enforce(mode).unwrap_or_else(|refused| {
            let hint =
                "(generate it with `openssl rand -base64 48`; KEEL_DEV_MODE=true accepts it)";
            for weak in refused {
                env.problem(weak.setting(), format_args!("{} {hint}", weak.detail()));
            }
            Vec::new()
        });

        let header_read_timeout = env
            .number(
                "KEEL_HEADER_READ_TIMEOUT_MS",
                100..=120_000,
                "a whole number of milliseconds",
            )
            .map_or(DEFAULT_HEADER_READ_TIMEOUT, Duration::from_millis);
        let max_connections = env.number("KEEL_MAX_CONNECTIONS", 1..=1_000_000, "a number");
        // The ranges above are inside keel-http's bounds, so this refuses nothing.
        let transport = ServeConfig::builder()
            .header_read_timeout(header_read_timeout)
            .max_connections(max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS))
            .drain_timeout(shutdown_timeout)
            .build();
        let transport = transport
            .map_err(|e| env.problem("KEEL_MAX_CONNECTIONS", format_args!("(transport): {e}")))
            .unwrap_or_default();

        let required = database_url.zip(db).zip(jwt_secret).zip(encryption_keys);
        let config = required.map(|(((database_url, db), jwt_secret), encryption_keys)| Self {
            database_url: database_url.into(),
            db,
            redis,
            replicas,
            migrations_database_url: migrations_database_url.map(Into::into),
            jwt_secret: jwt_secret.into(),
            jwt_ttl,
            encryption_keys,
            bind,
            cors,
            rate_limit_global,
            rate_limit_signup,
            auth_schema,
            trusted_proxies,
            request_timeout,
            shutdown_timeout,
            shutdown_delay,
            hsts,
            user_cache,
            redis_prefix,
            password_hash,
            log_format,
            transport,
            dev_mode,
            health_details_loopback,
            warnings,
        });
        env.finish(config)
    }

    /// The database URL, for the pool and the migration runner.
    pub fn database_url(&self) -> &str {
        self.database_url.expose_secret()
    }

    /// Where migrations run: `KEEL_MIGRATIONS_DATABASE_URL`, else `DATABASE_URL`.
    pub fn migrations_database_url(&self) -> &str {
        self.migrations_database_url
            .as_ref()
            .map_or_else(|| self.database_url(), |u| u.expose_secret())
    }
}
