//! The database pool: keel-db-pool, configured from [`Config`].

use std::time::Duration;

use crate::config::Config;

/// The connection pool (keel-db-pool): typed errors that convert into `ApiError`
/// (unique violation → 409 where the service says so, outage → 503), metrics through its
/// `metrics` feature.
pub type Db = keel_db_pool::Pool;

/// A lazy pool: nothing connects until the first checkout, so a database that is down at
/// startup does not stop the process (readiness reports it). Session setup (UTC,
/// `statement_timeout` 30 s, `application_name`) and timeouts are keel-db-pool's defaults.
///
/// # Errors
/// A malformed `DATABASE_URL`.
pub fn pool(config: &Config) -> Result<Db, String> {
    let mut builder = keel_db_pool::Config::builder()
        .url(config.database_url())
        .name("users")
        .application_name("keel-reference-service")
        // Fail fast when PostgreSQL is down: an API call answers 503 in ≤ 2 s, never hangs.
        .wait_timeout(Duration::from_secs(2))
        .connect_timeout(Duration::from_secs(2));
    if let Some(n) = config.db_max_connections {
        builder = builder.max_size(n);
    }
    let pool_config = builder.build().map_err(|e| format!("DATABASE_URL: {e}"))?;
    keel_db_pool::Pool::new(pool_config).map_err(|e| e.to_string())
}
