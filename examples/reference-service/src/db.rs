//! The database pool (keel-db-pool) and the mapping of database errors to API errors.

use std::time::Duration;

use keel_errors::ApiError;
use tokio_postgres::NoTls;

use crate::config::Config;

/// Retry-After sent with a 503 when the database is unreachable.
const DB_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The connection pool.
#[derive(Clone)]
pub struct Db {
    pool: deadpool_postgres::Pool,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("status", &self.pool.status())
            .finish()
    }
}

/// A pooled connection; returned to the pool on drop.
pub struct DbConn {
    obj: deadpool_postgres::Object,
}

impl std::fmt::Debug for DbConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbConn").finish_non_exhaustive()
    }
}

impl DbConn {
    /// The driver client, for the repositories.
    pub fn client(&self) -> &tokio_postgres::Client {
        &self.obj
    }
}

/// Pool figures for `/metrics`.
#[derive(Debug, Clone, Copy)]
pub struct PoolFigures {
    /// Connections open.
    pub size: usize,
    /// Idle connections.
    pub idle: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
    /// Maximum size.
    pub max_size: usize,
}

impl Db {
    /// A lazy pool: nothing connects until the first checkout, so a database that is
    /// down at startup does not stop the process (readiness reports it).
    ///
    /// # Errors
    /// A malformed `DATABASE_URL`.
    pub fn new(config: &Config) -> Result<Self, String> {
        let pg: tokio_postgres::Config = config
            .database_url()
            .parse()
            .map_err(|e| format!("DATABASE_URL: {e}"))?;
        let mut pg = pg;
        pg.application_name("keel-reference-service")
            .connect_timeout(Duration::from_secs(5))
            .options("-c TimeZone=UTC -c statement_timeout=30000");
        let manager = deadpool_postgres::Manager::from_config(
            pg,
            NoTls,
            deadpool_postgres::ManagerConfig {
                recycling_method: deadpool_postgres::RecyclingMethod::Verified,
            },
        );
        let max = config
            .db_max_connections
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(4, |n| n.get() * 2 + 1));
        let pool = deadpool_postgres::Pool::builder(manager)
            .max_size(max)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(5)))
            .create_timeout(Some(Duration::from_secs(5)))
            .recycle_timeout(Some(Duration::from_secs(5)))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self { pool })
    }

    /// A connection.
    ///
    /// # Errors
    /// 503 `SERVICE_UNAVAILABLE` (with `Retry-After`) when none can be had in time.
    pub async fn get(&self) -> Result<DbConn, ApiError> {
        self.pool
            .get()
            .await
            .map(|obj| DbConn { obj })
            .map_err(|e| {
                ApiError::service_unavailable("The database is unavailable")
                    .with_retry_after(DB_RETRY_AFTER)
                    .with_source(e)
            })
    }

    /// Round trip to the server (`SELECT 1`), for readiness.
    ///
    /// # Errors
    /// The reason the database is not usable.
    pub async fn ping(&self) -> Result<Duration, String> {
        let start = std::time::Instant::now();
        let conn = self.pool.get().await.map_err(|e| e.to_string())?;
        conn.simple_query("SELECT 1")
            .await
            .map_err(|e| e.to_string())?;
        Ok(start.elapsed())
    }

    /// Current pool figures.
    pub fn figures(&self) -> PoolFigures {
        let s = self.pool.status();
        PoolFigures {
            size: s.size,
            idle: s.available,
            waiting: s.waiting,
            max_size: s.max_size,
        }
    }

    /// Closes the pool: waiting and future checkouts fail, idle connections close.
    pub fn close(&self) {
        self.pool.close();
    }
}

/// Maps a driver error: connection problems are 503 (retryable), anything else 500.
/// Never leaks SQL or server messages.
pub fn db_error(e: tokio_postgres::Error) -> ApiError {
    let lost = e.is_closed()
        || e.as_db_error()
            .is_none_or(|db| db.code().code().starts_with("57P"));
    if lost {
        ApiError::service_unavailable("The database is unavailable")
            .with_retry_after(DB_RETRY_AFTER)
            .with_source(e)
    } else {
        ApiError::internal(e)
    }
}

/// Whether `e` is a unique violation of `constraint`.
pub fn is_unique_violation(e: &tokio_postgres::Error, constraint: &str) -> bool {
    e.as_db_error().is_some_and(|db| {
        db.code() == &tokio_postgres::error::SqlState::UNIQUE_VIOLATION
            && db.constraint() == Some(constraint)
    })
}
