//! [`PgTokenVersions`]: token versions in PostgreSQL (feature `postgres`).

use std::time::SystemTime;

use super::{MAX_REVOKED_SESSIONS, RevocationState, TokenVersions};
use crate::error::Result;
use crate::pg::{Statements, col, pg_store, row_error};
use crate::store::StoreFuture;

pg_store! {
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
    pub struct PgTokenVersions(Sql);
}

/// The statements, with the schema baked in once (qualified names: a cached prepared
/// statement never resolves through another schema's search path).
struct Sql {
    get: String,
    bump: String,
    revoke_session: String,
    purge: String,
}

impl Statements for Sql {
    const STORE: &'static str = "token versions";

    fn new(schema: &str) -> Self {
        let v = format!("\"{schema}\".token_versions");
        let s = format!("\"{schema}\".revoked_sessions");
        Self {
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
    /// Deletes the session revocations that ended at or before `now`; returns how many.
    ///
    /// # Errors
    /// [`Error::Store`](crate::Error::Store) when PostgreSQL fails.
    pub async fn purge(&self, now: SystemTime) -> Result<u64> {
        self.pg.execute(&self.pg.sql().purge, &[&now]).await
    }
}

fn version_from(v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| row_error("negative token version"))
}

impl TokenVersions for PgTokenVersions {
    fn get<'a>(&'a self, subject: &'a str, now: SystemTime) -> StoreFuture<'a, RevocationState> {
        Box::pin(async move {
            let row = self
                .pg
                .query_one(&self.pg.sql().get, &[&subject, &now])
                .await?;
            let version: i64 = col(&row, 0)?;
            let sessions: Vec<String> = col(&row, 1)?;
            Ok(RevocationState::new(version_from(version)?, sessions))
        })
    }

    fn bump<'a>(&'a self, subject: &'a str, now: SystemTime) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            crate::store::check_subject(subject)?;
            let row = self
                .pg
                .query_one(&self.pg.sql().bump, &[&subject, &now])
                .await?;
            version_from(col(&row, 0)?)
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
                .pg
                .query_one(
                    &self.pg.sql().revoke_session,
                    &[&subject, &sid, &until, &now, &cap],
                )
                .await?;
            let bumped: i64 = col(&row, 0)?;
            if bumped > 0 {
                tracing::debug!("too many revoked sessions for one subject; bumped its version");
            }
            Ok(())
        })
    }
}
