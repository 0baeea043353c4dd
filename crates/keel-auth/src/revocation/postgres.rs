//! [`PgTokenVersions`]: token versions in PostgreSQL (feature `postgres`).

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use keel_db_pool::Pool;

use super::{MAX_REVOKED_SESSIONS, RevocationState, TokenVersions};
use crate::error::{Error, Result};
use crate::migrations::{DEFAULT_SCHEMA, check_schema};
use crate::store::StoreFuture;

/// Token versions and revoked sessions in PostgreSQL, over keel-db-pool: shared by every
/// replica, surviving restarts. Needs the tables of [`migrations`](crate::migrations)
/// (version 2, `0002_token_versions.sql`) in the same schema.
///
/// Every method is one statement. A lookup reads the primary key of `token_versions` and the
/// `(subject, sid)` index of `revoked_sessions`; put a [`Revocations`](crate::Revocations) in
/// front so requests hit memory instead. Rows of `revoked_sessions` are dead once past
/// `expires_at` (one access-token lifetime): a subject's own dead rows are deleted on its
/// next session revocation, everyone's by [`purge`](Self::purge) — run it now and then.
///
/// ```no_run
/// # async fn f(pool: keel_db_pool::Pool) -> keel_auth::Result<()> {
/// use keel_auth::{PgTokenVersions, Revocations, migrations};
///
/// migrations::apply(&pool, migrations::DEFAULT_SCHEMA).await?;
/// let revocations = Revocations::new(PgTokenVersions::new(pool));
/// # drop(revocations); Ok(()) }
/// ```
#[derive(Clone)]
pub struct PgTokenVersions {
    pool: Pool,
    sql: Arc<Sql>,
}

impl fmt::Debug for PgTokenVersions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgTokenVersions")
            .field("schema", &self.sql.schema)
            .finish_non_exhaustive()
    }
}

/// The statements, with the schema baked in once (qualified names: a cached prepared
/// statement never resolves through another schema's search path).
struct Sql {
    schema: String,
    get: String,
    bump: String,
    revoke_session: String,
    purge: String,
}

impl Sql {
    fn new(schema: &str) -> Self {
        let v = format!("\"{schema}\".token_versions");
        let s = format!("\"{schema}\".revoked_sessions");
        Self {
            schema: schema.to_owned(),
            get: format!(
                "SELECT COALESCE((SELECT version FROM {v} WHERE subject = $1), 0),
                        ARRAY(SELECT sid FROM {s} WHERE subject = $1 AND expires_at > $2 ORDER BY sid)"
            ),
            bump: format!(
                "INSERT INTO {v} AS t (subject, version, updated_at) VALUES ($1, 1, $2)
                 ON CONFLICT (subject) DO UPDATE SET version = t.version + 1, updated_at = $2
                 RETURNING version"
            ),
            // One statement: prune the subject's dead rows, then either record the session or
            // (over the cap) bump the version. Under concurrent revocations of one subject the
            // cap can be exceeded by the number of concurrent writers; it bounds growth, it
            // is not needed for correctness.
            revoke_session: format!(
                "WITH pruned AS (
                     DELETE FROM {s} WHERE subject = $1 AND sid <> $2 AND expires_at <= $4
                 ), live AS (
                     SELECT count(*) AS n FROM {s} WHERE subject = $1 AND sid <> $2 AND expires_at > $4
                 ), recorded AS (
                     INSERT INTO {s} AS r (subject, sid, expires_at)
                     SELECT $1, $2, $3 FROM live WHERE n < $5
                     ON CONFLICT (subject, sid) DO UPDATE SET expires_at = GREATEST(r.expires_at, EXCLUDED.expires_at)
                     RETURNING 1
                 ), bumped AS (
                     INSERT INTO {v} AS t (subject, version, updated_at)
                     SELECT $1, 1, $4 FROM live WHERE n >= $5
                     ON CONFLICT (subject) DO UPDATE SET version = t.version + 1, updated_at = $4
                     RETURNING 1
                 )
                 SELECT (SELECT count(*) FROM bumped)"
            ),
            purge: format!("DELETE FROM {s} WHERE expires_at <= $1"),
        }
    }
}

impl PgTokenVersions {
    /// A store over `pool` using the tables in [`DEFAULT_SCHEMA`] (`keel_auth`).
    #[must_use]
    pub fn new(pool: Pool) -> Self {
        Self {
            pool,
            sql: Arc::new(Sql::new(DEFAULT_SCHEMA)),
        }
    }

    /// A store over `pool` using the tables in `schema` (where
    /// [`migrations::apply`](crate::migrations::apply) put them).
    ///
    /// # Errors
    /// [`Error::Config`] for an invalid schema name.
    pub fn with_schema(pool: Pool, schema: &str) -> Result<Self> {
        check_schema(schema)?;
        Ok(Self {
            pool,
            sql: Arc::new(Sql::new(schema)),
        })
    }

    /// The schema holding the tables.
    #[must_use]
    pub fn schema(&self) -> &str {
        &self.sql.schema
    }

    /// Deletes the session revocations that ended at or before `now`; returns how many.
    ///
    /// # Errors
    /// [`Error::Store`] when PostgreSQL fails.
    pub async fn purge(&self, now: SystemTime) -> Result<u64> {
        self.pool
            .execute(&self.sql.purge, &[&now])
            .await
            .map_err(db_error)
    }
}

fn db_error(e: keel_db_pool::Error) -> Error {
    tracing::warn!(error = %e, "keel-auth token-version store failed");
    Error::store(e)
}

fn version_from(v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| Error::store(NegativeVersion))
}

#[derive(Debug, thiserror::Error)]
#[error("negative token version in the database")]
struct NegativeVersion;

impl TokenVersions for PgTokenVersions {
    fn get<'a>(&'a self, subject: &'a str, now: SystemTime) -> StoreFuture<'a, RevocationState> {
        Box::pin(async move {
            let row = self
                .pool
                .query_one(&self.sql.get, &[&subject, &now])
                .await
                .map_err(db_error)?;
            let version: i64 = row.try_get(0).map_err(Error::store)?;
            let sessions: Vec<String> = row.try_get(1).map_err(Error::store)?;
            Ok(RevocationState::new(version_from(version)?, sessions))
        })
    }

    fn bump<'a>(&'a self, subject: &'a str, now: SystemTime) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            crate::store::check_subject(subject)?;
            let row = self
                .pool
                .query_one(&self.sql.bump, &[&subject, &now])
                .await
                .map_err(db_error)?;
            version_from(row.try_get(0).map_err(Error::store)?)
        })
    }

    fn revoke_session<'a>(
        &'a self,
        subject: &'a str,
        sid: &'a str,
        until: SystemTime,
        now: SystemTime,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            crate::store::check_subject(subject)?;
            #[allow(clippy::cast_possible_wrap)] // a small constant
            let cap = MAX_REVOKED_SESSIONS as i64;
            let row = self
                .pool
                .query_one(
                    &self.sql.revoke_session,
                    &[&subject, &sid, &until, &now, &cap],
                )
                .await
                .map_err(db_error)?;
            let bumped: i64 = row.try_get(0).map_err(Error::store)?;
            if bumped > 0 {
                tracing::debug!("too many revoked sessions for one subject; bumped its version");
            }
            Ok(())
        })
    }
}
