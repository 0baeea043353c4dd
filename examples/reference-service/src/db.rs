//! The database pool: keel-db-pool, configured from [`Config`].
//!
//! TLS comes from `DATABASE_URL` (`?sslmode=verify-full&sslrootcert=/path/ca.pem`, libpq's
//! names; keel-db-pool's `rustls` feature). PgBouncer in transaction pooling is one switch,
//! `DATABASE_POOL_PGBOUNCER=transaction`.

use std::time::Duration;

use keel_db_pool::SessionSetup;

use crate::config::Config;

/// The connection pool (keel-db-pool): typed errors that convert into `ApiError`
/// (unique violation → 409 where the service says so, outage → 503), metrics through its
/// `metrics` feature.
pub type Db = keel_db_pool::Pool;

/// `DATABASE_POOL_PGBOUNCER`: what sits between the service and PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PgBouncer {
    /// PostgreSQL directly (or a pooler that keeps sessions whole).
    #[default]
    Off,
    /// PgBouncer in transaction pooling: unnamed statements, session settings as
    /// `SET LOCAL` in every transaction and as the role's defaults (set by migrations).
    Transaction,
    /// PgBouncer in session pooling: session settings sent as `SET` (PgBouncer refuses
    /// the startup `options`).
    Session,
}

impl PgBouncer {
    /// Parses `off` / `transaction` / `session` (unset: `off`).
    ///
    /// # Errors
    /// A message naming the variable.
    pub fn parse(value: Option<&str>) -> Result<Self, String> {
        match value {
            None | Some("off") => Ok(Self::Off),
            Some("transaction") => Ok(Self::Transaction),
            Some("session") => Ok(Self::Session),
            Some(other) => Err(format!(
                "DATABASE_POOL_PGBOUNCER `{other}` must be transaction, session or off"
            )),
        }
    }
}

/// A lazy pool: nothing connects until the first checkout, so a database that is down at
/// startup does not stop the process (readiness reports it). Session setup (UTC,
/// `statement_timeout` 30 s, `application_name`) and timeouts are keel-db-pool's defaults.
///
/// # Errors
/// A malformed `DATABASE_URL`, or a TLS setting it cannot honour (an unreadable
/// `sslrootcert`, `sslmode=prefer` with a root certificate).
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
    let pool_config = with_pgbouncer(builder, config.db_pgbouncer)
        .build()
        .map_err(|e| format!("DATABASE_URL: {e}"))?;
    keel_db_pool::Pool::new(pool_config).map_err(|e| format!("DATABASE_URL: {e}"))
}

/// `builder` for what sits between the service and PostgreSQL.
pub(crate) fn with_pgbouncer(
    builder: keel_db_pool::ConfigBuilder,
    pgbouncer: PgBouncer,
) -> keel_db_pool::ConfigBuilder {
    match pgbouncer {
        PgBouncer::Off => builder,
        PgBouncer::Transaction => builder.pgbouncer_transaction_mode(),
        PgBouncer::Session => builder.session_setup(SessionSetup::SetCommands),
    }
}

/// Connects once, so that a TLS mode the server cannot satisfy (no TLS offered, a
/// certificate from another CA or for another host) stops startup with a clear message
/// instead of failing every request. An unreachable server is left to readiness.
///
/// # Errors
/// A message naming `DATABASE_URL` and the TLS failure.
pub async fn check_tls(db: &Db) -> Result<(), String> {
    use keel_db_pool::SslMode;
    if matches!(db.config().ssl_mode(), SslMode::Disable | SslMode::Prefer) {
        return Ok(());
    }
    match db.ping().await {
        Err(e) if e.tls_failure().is_some() => Err(format!(
            "DATABASE_URL: TLS to PostgreSQL failed ({e}); check sslmode, sslrootcert and the \
             server's certificate"
        )),
        _ => Ok(()),
    }
}
