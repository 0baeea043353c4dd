//! Typed configuration from the environment (and an optional `.env` file), validated at
//! startup with one clear message per problem.
//!
//! The variables, their defaults and meanings are listed once, in the README's
//! [Configuration](crate#configuration) table.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use keel_ratelimit::redis::RedisTarget;
use secrecy::{ExposeSecret, SecretString};

use keel_crypto::{Argon2Params, KeyRing, StrengthCheck, WeakSettings};

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
    /// The same URLs (secrets: they may carry a password), for keel-cache's tier.
    pub redis_urls: Vec<SecretString>,
    /// `KEEL_REPLICAS`: how many replicas share the Redis rate limits (fallback share).
    pub replicas: u32,
    /// `DATABASE_POOL_PGBOUNCER`.
    pub db_pgbouncer: crate::db::PgBouncer,
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
    /// `KEEL_CORS_ORIGINS`.
    pub cors_origins: Vec<http::HeaderValue>,
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
    /// `KEEL_DB_MAX_CONNECTIONS`; `None` = keel-db-pool's sizing rule.
    pub db_max_connections: Option<usize>,
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
    pub warnings: Vec<String>,
    /// `KEEL_HEADER_READ_TIMEOUT_MS`, `KEEL_MAX_CONNECTIONS` (see [`crate::server`]).
    pub transport: crate::server::TransportConfig,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line (production).
    Json,
    /// Human-readable, coloured (local development).
    Pretty,
}

/// Every problem found in the environment, one line each.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration:\n{}", .problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigError {
    /// One message per problem, naming the variable.
    pub problems: Vec<String>,
}

impl ConfigError {
    /// Whether `DATABASE_URL` is missing (the usual first-run mistake: point at `cargo xtask run`).
    pub fn database_url_missing(&self) -> bool {
        self.problems
            .iter()
            .any(|p| p.starts_with("DATABASE_URL is not set"))
    }
}

/// The shortest accepted JWT secret, in bytes (RFC 7518 §3.2: at least the hash size).
pub const MIN_JWT_SECRET_LEN: usize = 32;

impl Config {
    /// Reads the process environment, after loading `.env` from the current directory
    /// when it exists (variables already set win).
    ///
    /// # Errors
    /// [`ConfigError`] listing every missing or malformed variable.
    pub fn from_env() -> Result<Self, ConfigError> {
        // A missing .env is the normal case in production; a malformed one is a problem.
        let mut dotenv_problem = None;
        if let Err(e) = dotenvy::dotenv()
            && !e.not_found()
        {
            dotenv_problem = Some(format!(".env could not be read: {e}"));
        }
        let result = Self::from_lookup(|k| std::env::var(k).ok());
        match (result, dotenv_problem) {
            (Ok(c), None) => Ok(c),
            (Ok(_), Some(p)) => Err(ConfigError { problems: vec![p] }),
            (Err(mut e), Some(p)) => {
                e.problems.insert(0, p);
                Err(e)
            }
            (Err(e), None) => Err(e),
        }
    }

    /// Builds the configuration from a lookup function (tests pass a map).
    ///
    /// # Errors
    /// [`ConfigError`] listing every missing or malformed variable.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        let get = |k: &str| {
            get(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };

        let database_url = match get("DATABASE_URL") {
            Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => Some(u),
            Some(_) => {
                problems.push("DATABASE_URL must start with postgres:// or postgresql://".into());
                None
            }
            None => {
                problems.push(
                    "DATABASE_URL is not set: point it at PostgreSQL, or run `cargo xtask run`, \
                     which starts throwaway PostgreSQL/Redis and sets everything up"
                        .into(),
                );
                None
            }
        };
        let redis_urls: Vec<String> = get("REDIS_URL")
            .into_iter()
            .chain(
                get("KEEL_REDIS_CLUSTER_URLS")
                    .iter()
                    .flat_map(|s| s.split(','))
                    .map(|u| u.trim().to_owned())
                    .filter(|u| !u.is_empty()),
            )
            .collect();
        let cluster = get("KEEL_REDIS_CLUSTER_URLS").is_some();
        let redis = redis_target(
            &redis_urls,
            cluster,
            get("REDIS_URL").is_some(),
            get("KEEL_REDIS_CA_FILE"),
        )
        .unwrap_or_else(|e| {
            problems.push(e);
            None
        });
        let replicas = match get("KEEL_REPLICAS").map(|v| v.parse::<u32>()) {
            None => 1,
            Some(Ok(n)) if (1..=1000).contains(&n) => n,
            Some(_) => {
                problems.push("KEEL_REPLICAS must be a number in 1..=1000".into());
                1
            }
        };
        let db_pgbouncer =
            match crate::db::PgBouncer::parse(get("DATABASE_POOL_PGBOUNCER").as_deref()) {
                Ok(m) => m,
                Err(e) => {
                    problems.push(e);
                    crate::db::PgBouncer::Off
                }
            };
        let migrations_database_url = match get("KEEL_MIGRATIONS_DATABASE_URL") {
            Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => Some(u),
            Some(_) => {
                problems.push(
                    "KEEL_MIGRATIONS_DATABASE_URL must start with postgres:// or postgresql://"
                        .into(),
                );
                None
            }
            None => None,
        };
        let jwt_secret = match get("KEEL_JWT_SECRET") {
            Some(s) if s.len() >= MIN_JWT_SECRET_LEN => Some(s),
            Some(s) => {
                problems.push(format!(
                    "KEEL_JWT_SECRET is {} bytes; it must be at least {MIN_JWT_SECRET_LEN} \
                     (e.g. `openssl rand -base64 48`)",
                    s.len()
                ));
                None
            }
            None => {
                problems.push(format!(
                    "KEEL_JWT_SECRET is not set (at least {MIN_JWT_SECRET_LEN} random bytes)"
                ));
                None
            }
        };
        let encryption_keys = match get("KEEL_ENCRYPTION_KEYS").map(|k| k.parse::<KeyRing>()) {
            Some(Ok(ring)) => Some(Arc::new(ring)),
            Some(Err(e)) => {
                problems.push(format!("KEEL_ENCRYPTION_KEYS: {e}"));
                None
            }
            None => {
                problems.push(
                    "KEEL_ENCRYPTION_KEYS is not set (`1:<base64 of 32 random bytes>`, e.g. \
                     `1:$(openssl rand -base64 32)`)"
                        .into(),
                );
                None
            }
        };
        let bind = get("KEEL_BIND").unwrap_or_else(|| "127.0.0.1:8080".into());
        let bind = match bind.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                problems.push(format!(
                    "KEEL_BIND `{bind}` is not an address like 127.0.0.1:8080"
                ));
                None
            }
        };

        let mut cors_origins = Vec::new();
        for origin in get("KEEL_CORS_ORIGINS").iter().flat_map(|s| s.split(',')) {
            let origin = origin.trim();
            if origin.is_empty() {
                continue;
            }
            if origin == "*" {
                problems.push(
                    "KEEL_CORS_ORIGINS must list origins: `*` is refused because requests carry credentials"
                        .into(),
                );
            } else if !(origin.starts_with("http://") || origin.starts_with("https://")) {
                problems.push(format!(
                    "KEEL_CORS_ORIGINS entry `{origin}` must start with http:// or https://"
                ));
            } else {
                match http::HeaderValue::from_str(origin.trim_end_matches('/')) {
                    Ok(v) => cors_origins.push(v),
                    Err(_) => problems.push(format!(
                        "KEEL_CORS_ORIGINS entry `{origin}` is not a valid origin"
                    )),
                }
            }
        }

        let rate_limit_global = match get("KEEL_RATE_LIMIT_GLOBAL") {
            Some(v) if v.eq_ignore_ascii_case("off") => None,
            Some(v) => Some(v),
            None => Some("100/second".to_owned()),
        };
        let rate_limit_signup = get("KEEL_RATE_LIMIT_SIGNUP").unwrap_or_else(|| "5/minute".into());
        let auth_schema = get("KEEL_AUTH_SCHEMA").unwrap_or_else(|| "keel_auth".into());
        if keel_auth::migrations::check_schema(&auth_schema).is_err() {
            problems.push("KEEL_AUTH_SCHEMA must be 1-63 characters of [a-z0-9_]".into());
        }
        let trusted_proxies = get("KEEL_TRUSTED_PROXIES")
            .map(|s| {
                s.split(',')
                    .map(|p| p.trim().to_owned())
                    .filter(|p| !p.is_empty())
                    .collect()
            })
            .unwrap_or_default();

        let mut secs = |name: &str, default: u64, max: u64| -> Duration {
            match get(name).map(|v| v.parse::<u64>()) {
                None => Duration::from_secs(default),
                Some(Ok(n)) if (1..=max).contains(&n) => Duration::from_secs(n),
                Some(_) => {
                    problems.push(format!(
                        "{name} must be a whole number of seconds in 1..={max}"
                    ));
                    Duration::from_secs(default)
                }
            }
        };
        let jwt_ttl = secs("KEEL_JWT_TTL_SECS", 900, 86_400);
        let request_timeout = secs("KEEL_REQUEST_TIMEOUT_SECS", 10, 300);
        let shutdown_timeout = secs("KEEL_SHUTDOWN_TIMEOUT_SECS", 20, 600);

        let shutdown_delay = match get("KEEL_SHUTDOWN_DELAY_SECS").map(|v| v.parse::<u64>()) {
            None => Duration::ZERO,
            Some(Ok(n)) if n <= 120 => Duration::from_secs(n),
            Some(_) => {
                problems.push(
                    "KEEL_SHUTDOWN_DELAY_SECS must be a whole number of seconds in 0..=120".into(),
                );
                Duration::ZERO
            }
        };
        let hsts = flag(
            get("KEEL_HSTS").as_deref(),
            "KEEL_HSTS",
            false,
            &mut problems,
        );
        let user_cache = flag(
            get("KEEL_USER_CACHE").as_deref(),
            "KEEL_USER_CACHE",
            true,
            &mut problems,
        );
        let redis_prefix = get("KEEL_REDIS_PREFIX").unwrap_or_else(|| "keel:ref".into());
        let db_max_connections = match get("KEEL_DB_MAX_CONNECTIONS").map(|v| v.parse::<usize>()) {
            None => None,
            Some(Ok(n)) if (1..=1000).contains(&n) => Some(n),
            Some(_) => {
                problems.push("KEEL_DB_MAX_CONNECTIONS must be a number in 1..=1000".into());
                None
            }
        };
        let password_hash = match get("KEEL_PASSWORD_HASH").map(|v| v.parse::<Argon2Params>()) {
            None => Argon2Params::OWASP,
            Some(Ok(p)) => p,
            Some(Err(e)) => {
                problems.push(format!("KEEL_PASSWORD_HASH: {e}"));
                Argon2Params::OWASP
            }
        };
        let log_format = match get("KEEL_LOG_FORMAT").as_deref() {
            None | Some("json") => LogFormat::Json,
            Some("pretty") => LogFormat::Pretty,
            Some(other) => {
                problems.push(format!("KEEL_LOG_FORMAT `{other}` must be json or pretty"));
                LogFormat::Json
            }
        };

        let dev_mode = flag(
            get("KEEL_DEV_MODE").as_deref(),
            "KEEL_DEV_MODE",
            false,
            &mut problems,
        );
        let health_details_loopback = flag(
            get("KEEL_HEALTH_DETAILS_LOOPBACK").as_deref(),
            "KEEL_HEALTH_DETAILS_LOOPBACK",
            false,
            &mut problems,
        );
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
            problems.extend(refused.into_iter().map(|w| format!("{w} {hint}")));
            Vec::new()
        });

        let transport = crate::server::TransportConfig::from_lookup(get, &mut problems);

        match (database_url, jwt_secret, encryption_keys, bind) {
            (Some(database_url), Some(jwt_secret), Some(encryption_keys), Some(bind))
                if problems.is_empty() =>
            {
                Ok(Self {
                    database_url: database_url.into(),
                    redis,
                    redis_urls: redis_urls.into_iter().map(Into::into).collect(),
                    replicas,
                    db_pgbouncer,
                    migrations_database_url: migrations_database_url.map(Into::into),
                    jwt_secret: jwt_secret.into(),
                    jwt_ttl,
                    encryption_keys,
                    bind,
                    cors_origins,
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
                    db_max_connections,
                    password_hash,
                    log_format,
                    transport,
                    dev_mode,
                    health_details_loopback,
                    warnings,
                })
            }
            _ => Err(ConfigError { problems }),
        }
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

/// `REDIS_URL` (one node) or `KEEL_REDIS_CLUSTER_URLS` (seeds), `rediss://` trusting
/// `KEEL_REDIS_CA_FILE` when set; nothing connects here.
fn redis_target(
    urls: &[String],
    cluster: bool,
    node: bool,
    ca_file: Option<String>,
) -> Result<Option<RedisTarget>, String> {
    let var = if cluster {
        "KEEL_REDIS_CLUSTER_URLS"
    } else {
        "REDIS_URL"
    };
    if cluster && node {
        return Err(
            "REDIS_URL and KEEL_REDIS_CLUSTER_URLS are both set: give one Redis deployment".into(),
        );
    }
    if urls
        .iter()
        .any(|u| !(u.starts_with("redis://") || u.starts_with("rediss://")))
    {
        return Err(format!("{var} must start with redis:// or rediss://"));
    }
    let target = match urls {
        [] if ca_file.is_some() => {
            return Err("KEEL_REDIS_CA_FILE needs REDIS_URL or KEEL_REDIS_CLUSTER_URLS".into());
        }
        [] => return Ok(None),
        [url] if !cluster => RedisTarget::node(url),
        seeds => RedisTarget::cluster(seeds),
    };
    let target = target.map_err(|e| format!("{var}: {e}"))?;
    match ca_file {
        None => Ok(Some(target)),
        Some(path) => target
            .tls_root_certificates_file(path)
            .map(Some)
            .map_err(|e| format!("KEEL_REDIS_CA_FILE: {e}")),
    }
}

/// A boolean variable: `true/false`, `1/0`, `yes/no`, `on/off`; unset means `default`.
fn flag(value: Option<&str>, var: &str, default: bool, problems: &mut Vec<String>) -> bool {
    match value {
        None => default,
        Some("1" | "true" | "yes" | "on") => true,
        Some("0" | "false" | "no" | "off") => false,
        Some(other) => {
            problems.push(format!("{var} `{other}` must be true or false"));
            default
        }
    }
}
