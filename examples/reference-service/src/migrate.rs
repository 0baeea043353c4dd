//! Embedded SQL migrations (refinery), run under a PostgreSQL advisory lock so that
//! replicas starting together apply them exactly once.

use std::time::Duration;

use tokio_postgres::NoTls;

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
    /// Could not connect to PostgreSQL.
    #[error("could not connect to PostgreSQL: {0}")]
    Connect(#[source] tokio_postgres::Error),
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
    let applied = run(config.database_url())
        .await
        .map_err(|e| e.to_string())?;
    let pool = crate::db::pool(config)?;
    let auth = keel_auth::migrations::apply(&pool, &config.auth_schema).await;
    pool.close();
    let auth = auth.map_err(|e| format!("keel-auth migrations: {e}"))?;
    tracing::info!(applied = applied.len(), keel_auth = ?auth, "migrations done");
    Ok(())
}

/// Applies every pending migration and returns the names of those applied.
///
/// Opens its own connection (migrations must not hold a pooled one), takes the session
/// advisory lock [`MIGRATION_LOCK_KEY`] (waiting up to 60 s for a replica that holds it),
/// runs refinery, and releases the lock.
///
/// # Errors
/// [`MigrateError`] when PostgreSQL is unreachable, the lock is not granted in time, or a
/// migration fails.
pub async fn run(database_url: &str) -> Result<Vec<String>, MigrateError> {
    let (mut client, connection) = tokio_postgres::connect(database_url, NoTls)
        .await
        .map_err(MigrateError::Connect)?;
    let conn_task = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "migration connection closed with an error");
        }
    });

    let result = migrate_locked(&mut client).await;
    drop(client);
    let _ = conn_task.await;
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
