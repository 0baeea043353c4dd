//! The configuration's contract: every variable's default, range and message (the
//! README's configuration table), all problems reported at once, secrets kept out of
//! `Debug`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::Duration;

use keel_crypto::Argon2Params;
use keel_db_pool::PgBouncer;
use keel_http::ServeConfig;
use reference_service::config::{Config, LogFormat};

fn check(vars: &[(&str, &str)], expected_problems: &[&str]) -> Option<Config> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    match Config::from_lookup(|k| map.get(k).cloned()) {
        Ok(c) => {
            assert!(
                expected_problems.is_empty(),
                "expected problems {expected_problems:?}"
            );
            Some(c)
        }
        Err(e) => {
            assert_eq!(e.problems().len(), expected_problems.len(), "{e}");
            for (got, want) in e.messages().zip(expected_problems) {
                assert!(got.starts_with(want), "`{got}` should start with `{want}`");
            }
            None
        }
    }
}

const OK: [(&str, &str); 3] = [
    ("DATABASE_URL", "postgres://postgres@127.0.0.1/postgres"),
    ("KEEL_JWT_SECRET", "9f86d081884c7d659a2feaa0c55ad015"),
    (
        "KEEL_ENCRYPTION_KEYS",
        "1:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=",
    ),
];

#[test]
fn defaults() {
    let c = check(&OK, &[]).unwrap();
    assert_eq!(c.bind, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(c.rate_limit_global.as_deref(), Some("100/second"));
    assert_eq!(c.rate_limit_signup, "5/minute");
    assert_eq!(c.auth_schema, "keel_auth");
    assert_eq!(c.request_timeout, Duration::from_secs(10));
    assert_eq!(c.password_hash, Argon2Params::OWASP);
    assert!(c.redis.is_none());
    assert!(!c.hsts);
}

#[test]
fn every_problem_is_reported_at_once() {
    let e = Config::from_lookup(|_| None).unwrap_err();
    // The usual first-run mistake points at `cargo xtask run`.
    assert!(
        e.problems()[0]
            .message()
            .starts_with("DATABASE_URL is not set")
    );
    assert!(e.problems()[0].message().contains("cargo xtask run"), "{e}");
    check(
        &[],
        &[
            "DATABASE_URL is not set",
            "KEEL_JWT_SECRET is not set",
            "KEEL_ENCRYPTION_KEYS is not set",
        ],
    );
    let mut vars = OK.to_vec();
    vars.extend([
        ("KEEL_JWT_SECRET", "short"),
        ("KEEL_BIND", "nowhere"),
        ("KEEL_CORS_ORIGINS", "*"),
        ("KEEL_HSTS", "maybe"),
        ("KEEL_PASSWORD_HASH", "m=1"),
        ("REDIS_URL", "http://x"),
    ]);
    check(
        &vars,
        &[
            "REDIS_URL must start",
            "KEEL_JWT_SECRET is 5 bytes",
            "KEEL_BIND `nowhere`",
            "KEEL_CORS_ORIGINS: CORS origin `*` is refused",
            "KEEL_HSTS `maybe`",
            "KEEL_PASSWORD_HASH: ",
        ],
    );
}

#[test]
fn redis_tls_cluster_replicas_and_pgbouncer_settings() {
    let c = check(&OK, &[]).unwrap();
    assert!(c.redis.is_none());
    assert_eq!(c.replicas, 1);
    assert_eq!(c.db.pgbouncer(), PgBouncer::Off);
    assert_eq!(c.migrations_database_url(), c.database_url());

    let mut vars = OK.to_vec();
    vars.extend([
        (
            "KEEL_REDIS_CLUSTER_URLS",
            "redis://:pw@10.0.0.1:6379, redis://10.0.0.2:6379,",
        ),
        ("KEEL_REPLICAS", "3"),
        ("DATABASE_POOL_PGBOUNCER", "transaction"),
        ("DATABASE_POOL_MAX_SIZE", "6"),
        ("DATABASE_POOL_WAIT_TIMEOUT", "500ms"),
        ("KEEL_MIGRATIONS_DATABASE_URL", "postgres://app@db:5432/app"),
    ]);
    let c = check(&vars, &[]).unwrap();
    assert_eq!(c.redis.as_ref().unwrap().expose_urls().len(), 2);
    assert_eq!(c.db.max_size(), 6);
    assert_eq!(c.db.wait_timeout(), Duration::from_millis(500));
    assert!(c.redis.as_ref().unwrap().is_cluster());
    assert_eq!(c.replicas, 3);
    assert_eq!(c.db.pgbouncer(), PgBouncer::Transaction);
    assert_eq!(c.migrations_database_url(), "postgres://app@db:5432/app");
    assert!(
        !format!("{c:?}").contains(":pw@"),
        "cluster URLs are secrets"
    );

    let mut vars = OK.to_vec();
    vars.extend([
        ("REDIS_URL", "redis://127.0.0.1:6379"),
        ("KEEL_REDIS_CLUSTER_URLS", "redis://a:6379,redis://b"),
        ("KEEL_REPLICAS", "0"),
        ("DATABASE_POOL_PGBOUNCER", "statement"),
        ("KEEL_MIGRATIONS_DATABASE_URL", "mysql://x"),
    ]);
    check(
        &vars,
        &[
            "REDIS_URL and KEEL_REDIS_CLUSTER_URLS are both set",
            "KEEL_REPLICAS must be",
            "DATABASE_POOL_PGBOUNCER `statement`",
            "KEEL_MIGRATIONS_DATABASE_URL must start",
        ],
    );
    for (redis, expected) in [
        (
            ("KEEL_REDIS_CLUSTER_URLS", "redis://a:6379,http://b"),
            "KEEL_REDIS_CLUSTER_URLS must start",
        ),
        (
            ("KEEL_REDIS_CA_FILE", "/etc/ssl/redis-ca.pem"),
            "KEEL_REDIS_CA_FILE needs REDIS_URL",
        ),
        (("REDIS_URL", "redis://a:6379"), ""),
    ] {
        let mut vars = OK.to_vec();
        vars.push(redis);
        if redis.0 == "REDIS_URL" {
            // A private CA file that does not exist (and would need rediss://).
            vars.push(("KEEL_REDIS_CA_FILE", "/nonexistent/ca.pem"));
            check(&vars, &["KEEL_REDIS_CA_FILE is refused: "]);
        } else {
            check(&vars, &[expected]);
        }
    }
}

#[test]
fn secrets_are_redacted_in_debug() {
    let mut vars = OK.to_vec();
    vars.push(("REDIS_URL", "redis://:redispw@127.0.0.1:6379"));
    let c = check(&vars, &[]).unwrap();
    let dbg = format!("{c:?}");
    for secret in ["9f86d081", "postgres://", "redispw", "AQIDBAUG"] {
        assert!(!dbg.contains(secret), "{secret} in {dbg}");
    }
}

#[test]
fn optional_values_parse() {
    let mut vars = OK.to_vec();
    vars.extend([
        ("KEEL_RATE_LIMIT_GLOBAL", "off"),
        (
            "KEEL_CORS_ORIGINS",
            "https://a.example, http://localhost:3000/",
        ),
        ("KEEL_PASSWORD_HASH", "m=64,t=1,p=1"),
        ("KEEL_LOG_FORMAT", "pretty"),
        ("KEEL_DEV_MODE", "true"),
    ]);
    let c = check(&vars, &[]).unwrap();
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    assert!(
        c.warnings[0]
            .to_string()
            .starts_with("KEEL_PASSWORD_HASH m=64,t=1")
    );
    assert_eq!(c.warnings[0].setting(), "KEEL_PASSWORD_HASH");
    assert_eq!(c.rate_limit_global, None);
    let origins = c.cors.as_ref().unwrap().origins();
    assert_eq!(origins, ["https://a.example", "http://localhost:3000"]);
    assert_eq!(c.password_hash.memory_kib(), 64);
    assert_eq!(c.log_format, LogFormat::Pretty);
}

#[test]
fn weak_settings_are_refused_unless_dev_mode() {
    let weak = [
        ("DATABASE_URL", "postgres://postgres@127.0.0.1/postgres"),
        ("KEEL_JWT_SECRET", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
        (
            "KEEL_ENCRYPTION_KEYS",
            "1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        ),
        ("KEEL_PASSWORD_HASH", "m=4096,t=1,p=1"),
    ];
    let expected = [
        "KEEL_PASSWORD_HASH m=4096,t=1 is below OWASP",
        "KEEL_JWT_SECRET has fewer than 8 distinct bytes",
        "KEEL_ENCRYPTION_KEYS key 1 is all zeros",
    ];
    check(&weak, &expected);
    let mut dev = weak.to_vec();
    dev.push(("KEEL_DEV_MODE", "true"));
    let c = check(&dev, &[]).unwrap();
    assert_eq!(c.warnings.len(), 3);
    for (got, want) in c.warnings.iter().zip(expected) {
        assert!(got.to_string().starts_with(want), "{got}");
    }
    assert!(!c.health_details_loopback);
}

#[test]
fn every_default() {
    let c = check(&OK, &[]).unwrap();
    assert_eq!(c.jwt_ttl, Duration::from_secs(900));
    assert_eq!(c.shutdown_timeout, Duration::from_secs(20));
    assert_eq!(c.shutdown_delay, Duration::ZERO);
    assert_eq!(c.redis_prefix, "keel:ref");
    // The pool: the service's defaults, keel-db-pool's sizing rule.
    assert_eq!(c.db.max_size(), keel_db_pool::default_max_size());
    assert_eq!(c.db.wait_timeout(), Duration::from_secs(2));
    assert_eq!(c.db.connect_timeout(), Duration::from_secs(2));
    assert_eq!(c.db.name(), "users");
    assert_eq!(c.log_format, LogFormat::Json);
    assert!(c.user_cache && !c.dev_mode && !c.health_details_loopback);
    assert!(c.cors.is_none() && c.trusted_proxies.is_empty());
    assert!(c.warnings.is_empty());
    assert_eq!(c.transport.header_read_timeout(), Duration::from_secs(10));
    assert_eq!(c.transport.max_connections(), 1024);
    assert_eq!(
        c.transport.max_shedding(),
        ServeConfig::default().max_shedding()
    );
    // The drain is bounded by KEEL_SHUTDOWN_TIMEOUT_SECS.
    assert_eq!(c.transport.drain_timeout(), c.shutdown_timeout);
}

/// `(variable, value)` on top of [`OK`] is refused with exactly `message`.
fn check_exact(var: &'static str, value: &'static str, message: &str) {
    let mut vars = OK.to_vec();
    vars.retain(|(k, _)| *k != var);
    vars.push((var, value));
    let map: HashMap<&str, &str> = vars.into_iter().collect();
    let e = Config::from_lookup(|k| map.get(k).map(|v| (*v).to_owned())).unwrap_err();
    assert_eq!(e.messages().collect::<Vec<_>>(), [message], "{var}={value}");
}

#[test]
fn every_bound_has_its_message() {
    for (var, value, message) in [
        (
            "KEEL_REPLICAS",
            "1001",
            "KEEL_REPLICAS must be a number in 1..=1000",
        ),
        (
            "KEEL_JWT_TTL_SECS",
            "0",
            "KEEL_JWT_TTL_SECS must be a whole number of seconds in 1..=86400",
        ),
        (
            "KEEL_REQUEST_TIMEOUT_SECS",
            "301",
            "KEEL_REQUEST_TIMEOUT_SECS must be a whole number of seconds in 1..=300",
        ),
        (
            "KEEL_SHUTDOWN_TIMEOUT_SECS",
            "x",
            "KEEL_SHUTDOWN_TIMEOUT_SECS must be a whole number of seconds in 1..=600",
        ),
        (
            "KEEL_SHUTDOWN_DELAY_SECS",
            "121",
            "KEEL_SHUTDOWN_DELAY_SECS must be a whole number of seconds in 0..=120",
        ),
        (
            "DATABASE_POOL_MAX_SIZE",
            "0",
            "DATABASE_POOL_MAX_SIZE must be a whole number in 1..=10000",
        ),
        (
            "DATABASE_POOL_WAIT_TIMEOUT",
            "2 weeks",
            "DATABASE_POOL_WAIT_TIMEOUT must be a duration (`250ms`, `5s`, `10m`, `1h` or \
             seconds) in 1ms..=1h",
        ),
        (
            "KEEL_HEADER_READ_TIMEOUT_MS",
            "99",
            "KEEL_HEADER_READ_TIMEOUT_MS must be a whole number of milliseconds in 100..=120000",
        ),
        (
            "KEEL_MAX_CONNECTIONS",
            "-1",
            "KEEL_MAX_CONNECTIONS must be a number in 1..=1000000",
        ),
        (
            "KEEL_LOG_FORMAT",
            "xml",
            "KEEL_LOG_FORMAT `xml` must be json or pretty",
        ),
        (
            "KEEL_USER_CACHE",
            "2",
            "KEEL_USER_CACHE `2` must be true or false",
        ),
        (
            "KEEL_HEALTH_DETAILS_LOOPBACK",
            "y",
            "KEEL_HEALTH_DETAILS_LOOPBACK `y` must be true or false",
        ),
        (
            "KEEL_DEV_MODE",
            "sure",
            "KEEL_DEV_MODE `sure` must be true or false",
        ),
        (
            "KEEL_AUTH_SCHEMA",
            "Auth",
            "KEEL_AUTH_SCHEMA must be 1-63 characters of [a-z0-9_]",
        ),
        (
            "DATABASE_POOL_PGBOUNCER",
            "statement",
            "DATABASE_POOL_PGBOUNCER `statement` must be transaction, session or off",
        ),
        (
            "KEEL_CORS_ORIGINS",
            "ftp://a",
            "KEEL_CORS_ORIGINS: CORS origin `ftp://a` must start with http:// or https://",
        ),
        (
            "KEEL_CORS_ORIGINS",
            "https://a.example, null",
            "KEEL_CORS_ORIGINS: CORS origin `null` is refused: sandboxed and file: pages, \
             which anyone can make, send it",
        ),
        (
            "KEEL_CORS_ORIGINS",
            "https://a.example/app",
            "KEEL_CORS_ORIGINS: CORS origin `https://a.example/app` must be \
             scheme://host[:port], without path, query, fragment or user",
        ),
        (
            "KEEL_BIND",
            "nowhere",
            "KEEL_BIND `nowhere` must be an address like 127.0.0.1:8080",
        ),
        (
            "KEEL_REDIS_CLUSTER_URLS",
            "redis://a:6379,http://b",
            "KEEL_REDIS_CLUSTER_URLS must start with redis:// or rediss://",
        ),
        (
            "KEEL_JWT_SECRET",
            "short",
            "KEEL_JWT_SECRET is 5 bytes; it must be at least 32 (e.g. `openssl rand -base64 48`)",
        ),
        // A refused URL is never quoted: it may carry a password.
        (
            "DATABASE_URL",
            "mysql://app:hunter2@x",
            "DATABASE_URL must start with postgres:// or postgresql://",
        ),
        (
            "REDIS_URL",
            "http://x",
            "REDIS_URL must start with redis:// or rediss://",
        ),
    ] {
        check_exact(var, value, message);
    }
}

#[test]
fn transport_settings_parse_and_are_bounded() {
    let mut vars = OK.to_vec();
    vars.extend([
        ("KEEL_HEADER_READ_TIMEOUT_MS", "300"),
        ("KEEL_MAX_CONNECTIONS", "2"),
        ("KEEL_SHUTDOWN_TIMEOUT_SECS", "7"),
    ]);
    let c = check(&vars, &[]).unwrap();
    assert_eq!(
        c.transport.header_read_timeout(),
        Duration::from_millis(300)
    );
    assert_eq!(c.transport.max_connections(), 2);
    assert_eq!(c.transport.drain_timeout(), Duration::from_secs(7));
    check_exact(
        "KEEL_HEADER_READ_TIMEOUT_MS",
        "10s",
        "KEEL_HEADER_READ_TIMEOUT_MS must be a whole number of milliseconds in 100..=120000",
    );
    let mut vars = OK.to_vec();
    vars.extend([
        ("KEEL_MAX_CONNECTIONS", "0"),
        ("KEEL_HEADER_READ_TIMEOUT_MS", "999999"),
    ]);
    check(
        &vars,
        &[
            "KEEL_HEADER_READ_TIMEOUT_MS must be",
            "KEEL_MAX_CONNECTIONS must be",
        ],
    );
}

/// A refused secret is never quoted in the report (it goes to the startup log).
#[test]
fn refused_secrets_are_never_quoted() {
    for (var, value) in [
        ("DATABASE_URL", "mysql://app:hunter2@db/app"),
        ("KEEL_MIGRATIONS_DATABASE_URL", "mysql://app:hunter2@db/app"),
        // Refused by keel-db-pool when it builds the pool's settings.
        (
            "DATABASE_URL",
            "postgres://app:hunter2@db/app?sslmode=bogus",
        ),
        ("DATABASE_URL", "postgres://app:hunter2@/app"),
        ("DATABASE_URL", "postgres://app:hunter2@db:99999/app"),
        ("KEEL_JWT_SECRET", "hunter2"),
        ("KEEL_ENCRYPTION_KEYS", "1:hunter2hunter2"),
        ("KEEL_ENCRYPTION_KEYS", "hunter2"),
        ("REDIS_URL", "http://:hunter2@127.0.0.1:6379"),
        ("REDIS_URL", "redis://:hunter2@[::1"),
        (
            "KEEL_REDIS_CLUSTER_URLS",
            "redis://:hunter2@a:6379,http://:hunter2@b",
        ),
    ] {
        let mut vars = OK.to_vec();
        vars.retain(|(k, _)| *k != var);
        vars.push((var, value));
        let map: HashMap<&str, &str> = vars.into_iter().collect();
        let e = Config::from_lookup(|k| map.get(k).map(|v| (*v).to_owned())).unwrap_err();
        let text = e.to_string();
        assert!(text.contains(var), "{text}");
        assert!(!text.contains("hunter2"), "{var}={value}: {text}");
    }
}
