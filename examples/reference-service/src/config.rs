//! Typed configuration from the environment (and an optional `.env` file), validated at
//! startup with one clear message per problem.
//!
//! The variables, their defaults and meanings are listed once, in the README's
//! [Configuration](crate#configuration) table.

use std::fmt::Display;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use keel_crypto::{Argon2Params, KeyRing, StrengthCheck, WeakSettings};
use keel_db_pool::PgBouncer;
use keel_http::ServeConfig;
use keel_http::serve::{DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_MAX_CONNECTIONS};
use keel_ratelimit::redis::RedisTarget;
use secrecy::{ExposeSecret, SecretString};

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
    /// `DATABASE_POOL_PGBOUNCER` (keel-db-pool's names).
    pub db_pgbouncer: PgBouncer,
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
    /// keel-http's transport bounds: `KEEL_HEADER_READ_TIMEOUT_MS`, `KEEL_MAX_CONNECTIONS`,
    /// and `KEEL_SHUTDOWN_TIMEOUT_SECS` as the drain timeout.
    pub transport: ServeConfig,
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
        let dotenv = dotenvy::dotenv().err().filter(|e| !e.not_found());
        let result = Self::from_lookup(|k| std::env::var(k).ok());
        let Some(e) = dotenv else { return result };
        let mut problems = result.err().map_or_else(Vec::new, |e| e.problems);
        problems.insert(0, format!(".env could not be read: {e}"));
        Err(ConfigError { problems })
    }

    /// Builds the configuration from a lookup function (tests pass a map).
    ///
    /// # Errors
    /// [`ConfigError`] listing every missing or malformed variable.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut env = Env {
            get,
            problems: Vec::new(),
        };
        let database_url = env
            .required(
                "DATABASE_URL",
                ": point it at PostgreSQL, or run `cargo xtask run`, which starts throwaway \
                 PostgreSQL/Redis and sets everything up",
            )
            .and_then(|u| env.postgres_url("DATABASE_URL", u));
        let (redis_node, redis_seeds) = (env.str("REDIS_URL"), env.list("KEEL_REDIS_CLUSTER_URLS"));
        let redis = redis_target(
            redis_node.as_deref(),
            &redis_seeds,
            env.str("KEEL_REDIS_CA_FILE"),
        )
        .unwrap_or_else(|e| env.refuse(e));
        let redis_urls = redis_node.into_iter().chain(redis_seeds).map(Into::into);
        let replicas = env
            .number("KEEL_REPLICAS", 1..=1000, "a number")
            .unwrap_or(1);
        let db_pgbouncer = env
            .parse("DATABASE_POOL_PGBOUNCER", |v, _| {
                format!(" `{v}` must be transaction, session or off")
            })
            .unwrap_or_default();
        let migrations_database_url = env
            .str("KEEL_MIGRATIONS_DATABASE_URL")
            .and_then(|u| env.postgres_url("KEEL_MIGRATIONS_DATABASE_URL", u));
        let jwt_secret = match env.required(
            "KEEL_JWT_SECRET",
            &format!(" (at least {MIN_JWT_SECRET_LEN} random bytes)"),
        ) {
            Some(s) if s.len() < MIN_JWT_SECRET_LEN => env.refuse(format!(
                "KEEL_JWT_SECRET is {} bytes; it must be at least {MIN_JWT_SECRET_LEN} \
                 (e.g. `openssl rand -base64 48`)",
                s.len()
            )),
            secret => secret,
        };
        let encryption_keys = env
            .required(
                "KEEL_ENCRYPTION_KEYS",
                " (`1:<base64 of 32 random bytes>`, e.g. `1:$(openssl rand -base64 32)`)",
            )
            .and_then(|_| env.parse::<KeyRing>("KEEL_ENCRYPTION_KEYS", |_, e| format!(": {e}")))
            .map(Arc::new);
        let bind = env
            .parse("KEEL_BIND", |v, _: std::net::AddrParseError| {
                format!(" `{v}` is not an address like 127.0.0.1:8080")
            })
            .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080)));
        let mut cors_origins = Vec::new();
        for origin in env.list("KEEL_CORS_ORIGINS") {
            let header = http::HeaderValue::from_str(origin.trim_end_matches('/'));
            match header {
                _ if origin == "*" => env.problem(
                    "KEEL_CORS_ORIGINS must list origins: `*` is refused because requests \
                     carry credentials",
                ),
                _ if !(origin.starts_with("http://") || origin.starts_with("https://")) => env
                    .problem(format!(
                        "KEEL_CORS_ORIGINS entry `{origin}` must start with http:// or https://"
                    )),
                Ok(v) => cors_origins.push(v),
                Err(_) => env.problem(format!(
                    "KEEL_CORS_ORIGINS entry `{origin}` is not a valid origin"
                )),
            }
        }
        let rate_limit_global = Some(env.or("KEEL_RATE_LIMIT_GLOBAL", "100/second"))
            .filter(|v| !v.eq_ignore_ascii_case("off"));
        let rate_limit_signup = env.or("KEEL_RATE_LIMIT_SIGNUP", "5/minute");
        let auth_schema = env.or("KEEL_AUTH_SCHEMA", "keel_auth");
        if keel_auth::migrations::check_schema(&auth_schema).is_err() {
            env.problem("KEEL_AUTH_SCHEMA must be 1-63 characters of [a-z0-9_]");
        }
        let trusted_proxies = env.list("KEEL_TRUSTED_PROXIES");
        let jwt_ttl = env.secs("KEEL_JWT_TTL_SECS", 900, 1..=86_400);
        let request_timeout = env.secs("KEEL_REQUEST_TIMEOUT_SECS", 10, 1..=300);
        let shutdown_timeout = env.secs("KEEL_SHUTDOWN_TIMEOUT_SECS", 20, 1..=600);
        let shutdown_delay = env.secs("KEEL_SHUTDOWN_DELAY_SECS", 0, 0..=120);
        let hsts = env.flag("KEEL_HSTS", false);
        let user_cache = env.flag("KEEL_USER_CACHE", true);
        let redis_prefix = env.or("KEEL_REDIS_PREFIX", "keel:ref");
        let db_max_connections = env.number("KEEL_DB_MAX_CONNECTIONS", 1..=1000, "a number");
        let password_hash = env
            .parse("KEEL_PASSWORD_HASH", |_, e| format!(": {e}"))
            .unwrap_or(Argon2Params::OWASP);
        let log_format = match env.str("KEEL_LOG_FORMAT").as_deref() {
            None | Some("json") => LogFormat::Json,
            Some("pretty") => LogFormat::Pretty,
            Some(other) => {
                env.problem(format!("KEEL_LOG_FORMAT `{other}` must be json or pretty"));
                LogFormat::Json
            }
        };
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
                env.problem(format!("{weak} {hint}"));
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
        let max_connections = env
            .number("KEEL_MAX_CONNECTIONS", 1..=1_000_000, "a number")
            .unwrap_or(DEFAULT_MAX_CONNECTIONS);
        // The ranges above are inside keel-http's bounds, so this refuses nothing.
        let transport = ServeConfig::builder()
            .header_read_timeout(header_read_timeout)
            .max_connections(max_connections)
            .drain_timeout(shutdown_timeout)
            .build()
            .unwrap_or_else(|e| {
                env.problem(format!("transport: {e}"));
                ServeConfig::default()
            });

        match (database_url, jwt_secret, encryption_keys) {
            (Some(database_url), Some(jwt_secret), Some(encryption_keys))
                if env.problems.is_empty() =>
            {
                Ok(Self {
                    database_url: database_url.into(),
                    redis,
                    redis_urls: redis_urls.collect(),
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
            _ => Err(ConfigError {
                problems: env.problems,
            }),
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

/// The environment as [`Config::from_lookup`] reads it: trimmed values (empty means
/// unset), and every problem found, one message each naming its variable.
struct Env<F> {
    get: F,
    problems: Vec<String>,
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    fn str(&self, var: &str) -> Option<String> {
        (self.get)(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn or(&self, var: &str, default: &str) -> String {
        self.str(var).unwrap_or_else(|| default.to_owned())
    }

    /// A comma-separated list, entries trimmed, empty ones skipped.
    fn list(&self, var: &str) -> Vec<String> {
        let value = self.str(var).unwrap_or_default();
        let entries = value.split(',').map(str::trim).filter(|e| !e.is_empty());
        entries.map(str::to_owned).collect()
    }

    fn problem(&mut self, message: impl Into<String>) {
        self.problems.push(message.into());
    }

    /// Records `message`; the setting has no value.
    fn refuse<T>(&mut self, message: String) -> Option<T> {
        self.problems.push(message);
        None
    }

    /// `var`'s value, or "`var` is not set`hint`".
    fn required(&mut self, var: &str, hint: &str) -> Option<String> {
        let value = self.str(var);
        if value.is_none() {
            self.problem(format!("{var} is not set{hint}"));
        }
        value
    }

    /// `var` parsed; a refusal reads `var` followed by `why(value, error)`.
    fn parse<T: FromStr>(
        &mut self,
        var: &str,
        why: impl FnOnce(&str, T::Err) -> String,
    ) -> Option<T> {
        let value = self.str(var)?;
        match value.parse() {
            Ok(v) => Some(v),
            Err(e) => self.refuse(format!("{var}{}", why(&value, e))),
        }
    }

    /// A number in `range`; a refusal reads "`var` must be `what` in `range`".
    fn number<T>(&mut self, var: &str, range: RangeInclusive<T>, what: &str) -> Option<T>
    where
        T: FromStr + PartialOrd + Display,
    {
        let value = self.str(var)?;
        match value.parse() {
            Ok(n) if range.contains(&n) => Some(n),
            _ => self.refuse(format!(
                "{var} must be {what} in {}..={}",
                range.start(),
                range.end()
            )),
        }
    }

    /// Whole seconds in `range` (default `default`).
    fn secs(&mut self, var: &str, default: u64, range: RangeInclusive<u64>) -> Duration {
        let secs = self.number(var, range, "a whole number of seconds");
        Duration::from_secs(secs.unwrap_or(default))
    }

    /// `true/false`, `1/0`, `yes/no`, `on/off`; unset means `default`.
    fn flag(&mut self, var: &str, default: bool) -> bool {
        match self.str(var).as_deref() {
            None => default,
            Some("1" | "true" | "yes" | "on") => true,
            Some("0" | "false" | "no" | "off") => false,
            Some(other) => {
                self.problem(format!("{var} `{other}` must be true or false"));
                default
            }
        }
    }

    /// `url` when it is a PostgreSQL URL.
    fn postgres_url(&mut self, var: &str, url: String) -> Option<String> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Some(url);
        }
        self.refuse(format!(
            "{var} must start with postgres:// or postgresql://"
        ))
    }
}

/// `REDIS_URL` (one node) or `KEEL_REDIS_CLUSTER_URLS` (seeds), `rediss://` trusting
/// `KEEL_REDIS_CA_FILE` when set; nothing connects here.
fn redis_target(
    node: Option<&str>,
    seeds: &[String],
    ca_file: Option<String>,
) -> Result<Option<RedisTarget>, String> {
    let var = if seeds.is_empty() {
        "REDIS_URL"
    } else {
        "KEEL_REDIS_CLUSTER_URLS"
    };
    let urls: Vec<&str> = node
        .into_iter()
        .chain(seeds.iter().map(String::as_str))
        .collect();
    if node.is_some() && !seeds.is_empty() {
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
    let target = match (node, ca_file.is_some()) {
        _ if !seeds.is_empty() => RedisTarget::cluster(seeds),
        (Some(url), _) => RedisTarget::node(url),
        (None, true) => {
            return Err("KEEL_REDIS_CA_FILE needs REDIS_URL or KEEL_REDIS_CLUSTER_URLS".into());
        }
        (None, false) => return Ok(None),
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
