//! Migrations: the service's embedded SQL on keel-db-pool's `Migrator` (all pending ones
//! in one transaction under an advisory lock, so replicas starting together apply each
//! once; recorded with a checksum in `keel_migrations`), then keel-auth's.

use keel_db_pool::{Migration, Migrator, PgBouncer, Pool};

/// The service's migrations, in order (`migrations/`).
pub const MIGRATIONS: &[Migration] = &[Migration::new(
    1,
    "create_users",
    include_str!("../migrations/V1__create_users.sql"),
)];

/// Key of the advisory lock taken while migrating (any constant unique to this service).
pub const MIGRATION_LOCK_KEY: i64 = 0x6b65_656c_7265_6631; // "keelref1"

/// A one-connection pool for migrations on `url`: no statement timeout (a migration may
/// legitimately run long; the lock wait is bounded by the migrator), TLS as the URL says.
/// Dropping it closes its connection.
fn pool(url: &str, pgbouncer: PgBouncer) -> Result<Pool, keel_db_pool::Error> {
    let builder = keel_db_pool::Config::builder()
        .url(url)
        .name("migrations")
        .application_name("keel-reference-service migrations")
        .max_size(1)
        .statement_timeout(None)
        .pgbouncer(pgbouncer);
    Pool::new(builder.build()?)
}

/// Applies the service's pending migrations on `url` and returns their versions.
///
/// # Errors
/// PostgreSQL unreachable (or TLS refused), the lock held by another replica for more
/// than 60 s, a failing migration (nothing applied), or an applied one changed since.
pub async fn run(url: &str) -> Result<Vec<u32>, keel_db_pool::Error> {
    migrator().apply(&pool(url, PgBouncer::Off)?).await
}

/// The service's migrator: its lock key, history in `keel_migrations`.
fn migrator() -> Migrator {
    Migrator::new(MIGRATIONS).lock_key(MIGRATION_LOCK_KEY)
}

/// Applies the service's migrations, then keel-auth's (into `KEEL_AUTH_SCHEMA`), over
/// `KEEL_MIGRATIONS_DATABASE_URL` (else `DATABASE_URL`).
///
/// Behind PgBouncer in transaction mode, statements outside a transaction get only the
/// role's settings: this then also makes the pool's session settings (UTC,
/// `statement_timeout`, …) the role's defaults (keel-db-pool's `role_settings_sql`,
/// `ALTER ROLE CURRENT_USER`), over the migration URL: directly, before PgBouncer opens
/// server sessions (which keep the defaults they started with), so its user should be
/// the service's role.
///
/// # Errors
/// A message naming what failed.
pub async fn all(config: &crate::Config) -> Result<(), String> {
    // Behind PgBouncer in transaction mode `KEEL_MIGRATIONS_DATABASE_URL` is the direct URL.
    let mode = match config.migrations_database_url {
        Some(_) => PgBouncer::Off,
        None => config.db.pgbouncer(),
    };
    let pool = pool(config.migrations_database_url(), mode)
        .map_err(|e| format!("KEEL_MIGRATIONS_DATABASE_URL: {e}"))?;
    let applied = migrator().apply(&pool).await.map_err(|e| e.to_string())?;
    let auth = keel_auth::migrations::apply(&pool, &config.auth_schema).await;
    let auth = auth.map_err(|e| format!("keel-auth migrations: {e}"))?;
    let role_settings = config.db.role_settings_sql();
    if let (PgBouncer::Transaction, Some(sql)) = (config.db.pgbouncer(), role_settings) {
        let result = async { pool.get().await?.batch_execute(&sql).await }.await;
        result.map_err(|e| format!("role settings for PgBouncer: {e}"))?;
    }
    tracing::info!(?applied, keel_auth = ?auth, "migrations done");
    Ok(())
}
