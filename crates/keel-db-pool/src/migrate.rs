//! [`Migrator`]: embedded SQL migrations applied once, in order, under an advisory lock,
//! and recorded in a history table.

use std::time::Duration;

use crate::{Error, Pool};

/// One versioned SQL migration, usually embedded with `include_str!`.
///
/// ```
/// use keel_db_pool::Migration;
/// const MIGRATIONS: &[Migration] = &[
///     Migration::new(1, "create_users", "CREATE TABLE users (id uuid PRIMARY KEY)"),
///     Migration::new(2, "users_email", "ALTER TABLE users ADD COLUMN email text"),
/// ];
/// assert_eq!(MIGRATIONS[1].version(), 2);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    version: u32,
    name: &'static str,
    sql: &'static str,
}

impl Migration {
    /// A migration: its version (applied in increasing order), a name recorded next to
    /// it, and the SQL (several statements allowed).
    #[must_use]
    pub const fn new(version: u32, name: &'static str, sql: &'static str) -> Self {
        Self { version, name, sql }
    }

    /// The version.
    #[must_use]
    pub const fn version(&self) -> u32 {
        self.version
    }

    /// The name.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The SQL text.
    #[must_use]
    pub const fn sql(&self) -> &'static str {
        self.sql
    }

    /// FNV-1a (64 bits) of the SQL: detects a migration edited after it was applied.
    fn checksum(&self) -> i64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.sql.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        i64::from_ne_bytes(h.to_ne_bytes())
    }
}

/// Applies [`Migration`]s that are not applied yet, in version order, in **one
/// transaction** that first takes a transaction-level advisory lock: replicas starting
/// together apply each migration exactly once (the others wait, then find nothing to
/// do), a failing migration leaves nothing behind, and it works through PgBouncer in
/// transaction pooling (no session state).
///
/// Applied versions are recorded in a history table (`version`, `name`, `applied_at`,
/// `checksum`). A migration changed or renamed after it was applied stops the run with
/// [`Error::Migration`] before anything is applied: the code and the database disagree,
/// and a human should look.
///
/// ```no_run
/// use keel_db_pool::{Migration, Migrator, Pool};
///
/// const MIGRATIONS: &[Migration] = &[Migration::new(
///     1,
///     "create_users",
///     "CREATE TABLE users (id uuid PRIMARY KEY, email text NOT NULL)",
/// )];
///
/// # async fn f(pool: Pool) -> Result<(), keel_db_pool::Error> {
/// let applied = Migrator::new(MIGRATIONS).apply(&pool).await?;
/// println!("applied {applied:?}"); // [1] the first time, [] afterwards
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Migrator {
    migrations: Vec<Migration>,
    schema: Option<String>,
    table: String,
    lock_key: i64,
    lock_timeout: Duration,
}

/// Checks a schema or table name: 1–63 characters of `[a-z0-9_]`, not starting with a
/// digit (it is spliced into SQL, double-quoted, so it must never come from input).
fn check_ident(what: &str, name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && !name.as_bytes()[0].is_ascii_digit()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "migration {what} must be 1-63 characters of [a-z0-9_], not starting with a digit"
        )))
    }
}

impl Migrator {
    /// A migrator of `migrations` with the defaults: history table `keel_migrations` in
    /// the connection's `search_path`, advisory lock key derived from the table name,
    /// wait up to 60 s for another replica's run.
    pub fn new(migrations: &[Migration]) -> Self {
        Self {
            migrations: migrations.to_vec(),
            schema: None,
            table: "keel_migrations".to_owned(),
            lock_key: 0x6b65_656c_6d69_6772, // "keelmigr"
            lock_timeout: Duration::from_secs(60),
        }
    }

    /// Runs the migrations inside `schema` (created when missing; `search_path` set to it
    /// for the run) and keeps the history table there.
    #[must_use]
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// The history table's name (default `keel_migrations`). Give each set of
    /// migrations sharing a schema its own table.
    #[must_use]
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    /// The advisory lock key: runs with the same key exclude each other. Give each set
    /// of migrations its own key (any constant).
    #[must_use]
    pub fn lock_key(mut self, key: i64) -> Self {
        self.lock_key = key;
        self
    }

    /// How long to wait for the lock (another replica migrating) before failing with
    /// [`Error::Migration`] (default 60 s).
    #[must_use]
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// Applies every pending migration and returns their versions (empty when the
    /// database is up to date). Statements run under the pool's `statement_timeout`:
    /// give migrations a pool without one (or a generous one).
    ///
    /// # Errors
    /// [`Error::Config`] for an invalid schema or table name; [`Error::Migration`] for
    /// versions out of order, an applied migration changed or renamed since, or the lock
    /// not granted within [`lock_timeout`](Self::lock_timeout); the pool's errors
    /// (nothing is applied then).
    pub async fn apply(&self, pool: &Pool) -> Result<Vec<u32>, Error> {
        if let Some(schema) = &self.schema {
            check_ident("schema", schema)?;
        }
        check_ident("table", &self.table)?;
        if self
            .migrations
            .windows(2)
            .any(|w| w[0].version >= w[1].version)
        {
            return Err(Error::Migration(
                "versions must be strictly increasing".to_owned(),
            ));
        }
        let table = match &self.schema {
            Some(s) => format!("\"{s}\".\"{}\"", self.table),
            None => format!("\"{}\"", self.table),
        };
        let lock_timeout = format!(
            "SET LOCAL lock_timeout = '{}ms'",
            self.lock_timeout.as_millis().max(1)
        );
        // After the lock: concurrent `CREATE SCHEMA IF NOT EXISTS` would race.
        let mut history = String::new();
        if let Some(s) = &self.schema {
            history.push_str(&format!(
                "CREATE SCHEMA IF NOT EXISTS \"{s}\"; SET LOCAL search_path TO \"{s}\";"
            ));
        }
        history.push_str(&format!(
            "CREATE TABLE IF NOT EXISTS {table} (
                 version    integer     PRIMARY KEY,
                 name       text        NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now()
             );
             ALTER TABLE {table} ADD COLUMN IF NOT EXISTS checksum bigint"
        ));
        let select = format!("SELECT version, name, checksum FROM {table}");
        let insert = format!("INSERT INTO {table} (version, name, checksum) VALUES ($1, $2, $3)");
        let (lock_key, timeout) = (self.lock_key, self.lock_timeout);
        let result = pool
            .transaction(|tx| {
                // The closure may run again on a retry: each run owns its copies.
                let (lock_timeout, history, select, insert) = (
                    lock_timeout.clone(),
                    history.clone(),
                    select.clone(),
                    insert.clone(),
                );
                let migrations = self.migrations.clone();
                Box::pin(async move {
                    tx.batch_execute(&lock_timeout).await?;
                    if let Err(e) = tx
                        .execute("SELECT pg_advisory_xact_lock($1)", &[&lock_key])
                        .await
                    {
                        return Err(match e.sqlstate() {
                            Some(s) if s.code() == "55P03" => Error::Migration(format!(
                                "another process held the migration lock for more than {timeout:?}"
                            )),
                            _ => e,
                        });
                    }
                    tx.batch_execute(&history).await?;
                    let done: Vec<(i32, String, Option<i64>)> = tx
                        .query(&select, &[])
                        .await?
                        .iter()
                        .map(|r| (r.get(0), r.get(1), r.get(2)))
                        .collect();
                    let mut applied = Vec::new();
                    for m in &migrations {
                        let version = i32::try_from(m.version).map_err(|_| {
                            Error::Migration(format!("version {} is too large", m.version))
                        })?;
                        match done.iter().find(|(v, ..)| *v == version) {
                            Some((_, name, sum)) => {
                                // Rows written before checksums were recorded carry none.
                                if name != m.name || sum.is_some_and(|s| s != m.checksum()) {
                                    return Err(Error::Migration(format!(
                                        "migration {} ({}) was changed after it was applied",
                                        m.version, m.name
                                    )));
                                }
                            }
                            None => {
                                tx.batch_execute(m.sql).await?;
                                tx.execute(&insert, &[&version, &m.name, &m.checksum()])
                                    .await?;
                                applied.push(m.version);
                            }
                        }
                    }
                    Ok(applied)
                })
            })
            .await?;
        if !result.is_empty() {
            tracing::info!(table = %self.table, applied = ?result, "migrations applied");
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_differ_by_content() {
        let a = Migration::new(1, "a", "CREATE TABLE a ()");
        let b = Migration::new(1, "a", "CREATE TABLE b ()");
        assert_ne!(a.checksum(), b.checksum());
        assert_eq!(
            a.checksum(),
            Migration::new(2, "x", "CREATE TABLE a ()").checksum()
        );
    }

    #[test]
    fn identifiers() {
        for good in ["keel_migrations", "a", "t_1", "_x"] {
            assert!(check_ident("table", good).is_ok(), "{good}");
        }
        for bad in ["", "1a", "A", "a-b", "a\"b", "a b", &"a".repeat(64)] {
            assert!(check_ident("table", bad).is_err(), "{bad}");
        }
    }
}
