//! The database pool: keel-db-pool, configured from [`Config`].
//!
//! TLS comes from `DATABASE_URL` (`?sslmode=verify-full&sslrootcert=/path/ca.pem`, libpq's
//! names; keel-db-pool's `rustls` feature). PgBouncer is one switch,
//! `DATABASE_POOL_PGBOUNCER=transaction|session` (keel-db-pool's `PgBouncer`).

use std::time::Duration;

use crate::config::Config;

/// The connection pool (keel-db-pool): typed errors that convert into `ApiError`
/// (unique violation → 409 where the service says so, outage → 503), metrics through its
/// `metrics` feature.
pub type Db = keel_db_pool::Pool;

/// A lazy pool: nothing connects until the first checkout, so a database that is down at
/// startup does not stop the process (readiness reports it; [`Db::check_tls`] stops it
/// for a TLS mode the server cannot meet). Session setup (UTC, `statement_timeout` 30 s,
/// `application_name`) and timeouts are keel-db-pool's defaults.
///
/// # Errors
/// A malformed `DATABASE_URL`, or a TLS setting it cannot honour (an unreadable
/// `sslrootcert`, `sslmode=prefer` with a root certificate).
pub fn pool(config: &Config) -> Result<Db, String> {
    pool_config(config).and_then(|c| Db::new(c).map_err(|e| format!("DATABASE_URL: {e}")))
}

/// The pool's configuration (also the source of the role settings migrations write
/// behind PgBouncer in transaction mode).
///
/// # Errors
/// As [`pool`].
pub fn pool_config(config: &Config) -> Result<keel_db_pool::Config, String> {
    let builder = keel_db_pool::Config::builder()
        .url(config.database_url())
        .name("users")
        .application_name("keel-reference-service")
        // Fail fast when PostgreSQL is down: an API call answers 503 in ≤ 2 s, never hangs.
        .wait_timeout(Duration::from_secs(2))
        .connect_timeout(Duration::from_secs(2))
        .pgbouncer(config.db_pgbouncer);
    let builder = match config.db_max_connections {
        Some(n) => builder.max_size(n),
        None => builder,
    };
    builder.build().map_err(|e| format!("DATABASE_URL: {e}"))
}
