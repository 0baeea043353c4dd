//! The database pool: keel-db-pool, configured from [`Config`].

use std::time::Duration;

use keel_errors::ApiError;

use crate::config::Config;

/// A pooled connection (keel-db-pool), returned to the pool on drop.
pub type DbConn = keel_db_pool::Connection;

/// The connection pool.
#[derive(Debug, Clone)]
pub struct Db {
    pool: keel_db_pool::Pool,
}

impl Db {
    /// A lazy pool: nothing connects until the first checkout, so a database that is
    /// down at startup does not stop the process (readiness reports it). Session setup
    /// (UTC, `statement_timeout` 30 s, `application_name`) and timeouts are keel-db-pool's
    /// defaults.
    ///
    /// # Errors
    /// A malformed `DATABASE_URL`.
    pub fn new(config: &Config) -> Result<Self, String> {
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
        let pool = keel_db_pool::Pool::new(pool_config).map_err(|e| e.to_string())?;
        Ok(Self { pool })
    }

    /// A connection.
    ///
    /// # Errors
    /// 503 `SERVICE_UNAVAILABLE` (with `Retry-After`) when none can be had in time.
    pub async fn get(&self) -> Result<DbConn, ApiError> {
        self.pool.get().await.map_err(ApiError::from)
    }

    /// Round trip to the server, for readiness.
    ///
    /// # Errors
    /// The reason the database is not usable.
    pub async fn ping(&self) -> Result<Duration, keel_db_pool::Error> {
        self.pool.ping().await
    }

    /// Current pool figures.
    pub fn status(&self) -> keel_db_pool::PoolStatus {
        self.pool.status()
    }

    /// Closes the pool: waiting and future checkouts fail, idle connections close.
    pub fn close(&self) {
        self.pool.close();
    }
}
