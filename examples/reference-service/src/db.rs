//! The database pool: keel-db-pool, configured from [`Config`].
//!
//! TLS comes from `DATABASE_URL` (`?sslmode=verify-full&sslrootcert=/path/ca.pem`, libpq's
//! names; keel-db-pool's `rustls` feature). Size, timeouts and PgBouncer are
//! keel-db-pool's `DATABASE_POOL_*` variables (`DATABASE_POOL_PGBOUNCER=transaction|session`
//! is keel-db-pool's `PgBouncer`), read over [`settings`].

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
/// A TLS setting the pool cannot set up.
pub fn pool(config: &Config) -> Result<Db, String> {
    Db::new(config.db.clone()).map_err(|e| format!("DATABASE_URL: {e}"))
}

/// The service's pool settings, before `DATABASE_URL` and keel-db-pool's
/// `DATABASE_POOL_*` variables (which win).
pub fn settings() -> keel_db_pool::ConfigBuilder {
    keel_db_pool::Config::builder()
        .name("users")
        .application_name("keel-reference-service")
        // Fail fast when PostgreSQL is down: an API call answers 503 in ≤ 2 s, never hangs.
        .wait_timeout(Duration::from_secs(2))
        .connect_timeout(Duration::from_secs(2))
}
