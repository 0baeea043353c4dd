//! Embedded SQL migrations (refinery), run under a PostgreSQL advisory lock so that
//! replicas starting together apply them exactly once.

use std::time::Duration;

#[allow(unreachable_pub, missing_docs, clippy::all)]
mod embedded {
    refinery::embed_migrations!("migrations");
}

/// Key of the session advisory lock held while migrating (any constant unique to this
/// service; `hashtext('keel-reference-service:migrations')` would do as well).
pub const MIGRATION_LOCK_KEY: i64 = 0x6b65_656c_7265_6631; // "keelref1"

/// How long a replica waits for another one's migrations before giving up.
const LOCK_WAIT: Duration = Duration::from_secs(60);

/// Why migrating failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// Could not connect to PostgreSQL (TLS failures included: the URL's `sslmode`).
    #[error("could not connect to PostgreSQL: {0}")]
    Connect(#[source] keel_db_pool::Error),
    /// Taking or releasing the advisory lock failed, or it was not granted in time.
    #[error("migration lock: {0}")]
    Lock(String),
    /// A migration failed (it was rolled back when PostgreSQL allowed).
    #[error("migration failed: {0}")]
    Migration(#[source] refinery::Error),
}

/// Applies the service's migrations, then keel-auth's (into `KEEL_AUTH_SCHEMA`, under
/// keel-auth's own advisory lock).
///
/// # Errors
/// A message naming what failed.
pub async fn all(config: &crate::Config) -> Result<(), String> {
    let applied = run(config.migrations_database_url())
        .await
        .map_err(|e| e.to_string())?;
    // Migrations hold session advisory locks: never through PgBouncer in transaction
    // mode (`KEEL_MIGRATIONS_DATABASE_URL` is then the direct URL).
    let direct = match config.migrations_database_url {
        Some(_) => crate::db::PgBouncer::Off,
        None => config.db_pgbouncer,
    };
    let var = "KEEL_MIGRATIONS_DATABASE_URL";
    let pool = crate::db::pool_for(config, config.migrations_database_url(), direct, var)?;
    let auth = keel_auth::migrations::apply(&pool, &config.auth_schema).await;
    pool.close();
    let auth = auth.map_err(|e| format!("keel-auth migrations: {e}"))?;
    if config.db_pgbouncer == crate::db::PgBouncer::Transaction {
        role_settings(config, direct).await?;
    }
    tracing::info!(applied = applied.len(), keel_auth = ?auth, "migrations done");
    Ok(())
}

/// Behind PgBouncer in transaction mode, statements outside a transaction get only the
/// role's settings: make the pool's session settings (UTC, `statement_timeout`, …) the
/// role's defaults (keel-db-pool's `role_settings_sql`, `ALTER ROLE CURRENT_USER`). Run
/// over the migration URL: directly, before PgBouncer opens server sessions (which
/// keep the defaults they started with), so its user should be the service's role.
async fn role_settings(config: &crate::Config, mode: crate::db::PgBouncer) -> Result<(), String> {
    let service_pool = crate::db::pool(config)?;
    let sql = service_pool.config().role_settings_sql();
    service_pool.close();
    let Some(sql) = sql else {
        return Ok(());
    };
    let url = config.migrations_database_url();
    let pool = crate::db::pool_for(config, url, mode, "KEEL_MIGRATIONS_DATABASE_URL")?;
    let result = async { pool.get().await?.batch_execute(&sql).await }.await;
    pool.close();
    result.map_err(|e| format!("role settings for PgBouncer: {e}"))
}

/// Applies every pending migration and returns the names of those applied.
///
/// Opens its own connection (migrations must not hold a pooled one; TLS as the URL's
/// `sslmode` says, through keel-db-pool), takes the session advisory lock
/// [`MIGRATION_LOCK_KEY`] (waiting up to 60 s for a replica that holds it), runs
/// refinery, and releases the lock.
///
/// # Errors
/// [`MigrateError`] when PostgreSQL is unreachable (or TLS fails), the lock is not granted
/// in time, or a migration fails.
pub async fn run(database_url: &str) -> Result<Vec<String>, MigrateError> {
    let config = keel_db_pool::Config::builder()
        .url(database_url)
        .name("migrations")
        .application_name("keel-reference-service migrations")
        .max_size(1)
        // A migration may legitimately run longer than the pool's default 30 s.
        .statement_timeout(None)
        .build()
        .map_err(MigrateError::Connect)?;
    let pool = keel_db_pool::Pool::new(config).map_err(MigrateError::Connect)?;
    let mut conn = pool.get().await.map_err(MigrateError::Connect)?;
    let result = migrate_locked(&mut conn).await;
    // Its session held the advisory lock: closed, never reused.
    conn.discard();
    pool.close();
    result
}

async fn migrate_locked(client: &mut tokio_postgres::Client) -> Result<Vec<String>, MigrateError> {
    // Session-level lock: refinery commits per migration, so a transaction-level lock
    // would be released too early. Poll `pg_try_advisory_lock` so a stuck replica
    // cannot block this one forever.
    let deadline = tokio::time::Instant::now() + LOCK_WAIT;
    loop {
        let row = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&MIGRATION_LOCK_KEY])
            .await
            .map_err(|e| MigrateError::Lock(e.to_string()))?;
        if row.get::<_, bool>(0) {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(MigrateError::Lock(format!(
                "another process held the migration lock for more than {}s",
                LOCK_WAIT.as_secs()
            )));
        }
        tracing::info!("another replica is migrating; waiting for its lock");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let report = embedded::migrations::runner()
        .set_abort_divergent(true)
        .run_async(client)
        .await;

    // The lock also ends with the session; unlock explicitly so a pooled caller could reuse it.
    let unlock = client
        .query_one("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK_KEY])
        .await;
    let report = report.map_err(MigrateError::Migration)?;
    unlock.map_err(|e| MigrateError::Lock(e.to_string()))?;

    let applied: Vec<String> = report
        .applied_migrations()
        .iter()
        .map(|m| m.to_string())
        .collect();
    if applied.is_empty() {
        tracing::info!("database schema is up to date");
    } else {
        tracing::info!(migrations = ?applied, "applied migrations");
    }
    Ok(applied)
}
