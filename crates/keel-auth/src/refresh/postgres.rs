//! [`PgRefreshStore`]: refresh-token families in PostgreSQL (feature `postgres`).

use std::time::{Duration, SystemTime};

use keel_db_pool::Row;

use super::store::{RefreshStore, RevokeReason, RotateOutcome, Session, SessionId};
use crate::error::Result;
use crate::pg::{Statements, col, pg_store, row_error};
use crate::store::{SecretHash, StoreFuture};

pg_store! {
    /// Refresh-token families in PostgreSQL, over keel-db-pool: shared by every replica,
    /// surviving restarts. Needs the tables of [`migrations`](crate::migrations) (version 1),
    /// applied to the same schema.
    ///
    /// Rotation is one statement (`UPDATE … WHERE token_hash = $1 AND rotated_at IS NULL …
    /// RETURNING`, chained with the insert of the next token): PostgreSQL's row lock makes
    /// concurrent rotations of the same token serialize, and only the first finds the token
    /// unrotated. Times come from the caller's clock, never from SQL `now()`.
    ///
    /// Growth: one row per login plus one per refresh, kept until
    /// [`RefreshTokens::purge`](crate::RefreshTokens::purge) deletes the ended session;
    /// the per-subject session cap bounds live sessions per account.
    ///
    /// ```no_run
    /// # async fn f(pool: keel_db_pool::Pool) -> keel_auth::Result<()> {
    /// use keel_auth::{PgRefreshStore, RefreshConfig, RefreshTokens, migrations};
    ///
    /// migrations::apply(&pool, migrations::DEFAULT_SCHEMA).await?;
    /// let tokens = RefreshTokens::new(PgRefreshStore::new(pool), RefreshConfig::default());
    /// # Ok(()) }
    /// ```
    pub struct PgRefreshStore(Sql);
}

/// The statements, with the schema baked in once.
struct Sql {
    insert_family: String,
    insert_token: String,
    evict: String,
    rotate: String,
    classify: String,
    revoke_reused: String,
    revoke_by_token: String,
    revoke_session: String,
    revoke_subject: String,
    sessions: String,
    purge: String,
}

impl Statements for Sql {
    const STORE: &'static str = "refresh tokens";

    fn new(schema: &str) -> Self {
        let f = format!("\"{schema}\".refresh_families");
        let t = format!("\"{schema}\".refresh_tokens");
        // A family is live while not revoked, before its absolute end, and while its current
        // (unrotated) token is within its idle lifetime.
        let current_token_live = format!(
            "EXISTS (SELECT 1 FROM {t} ct WHERE ct.sid = f.sid AND ct.rotated_at IS NULL AND ct.expires_at > $2)"
        );
        Self {
            insert_family: format!(
                "INSERT INTO {f} (sid, subject, created_at, expires_at, last_used_at) VALUES ($1, $2, $3, $4, $3)"
            ),
            insert_token: format!(
                "INSERT INTO {t} (token_hash, sid, issued_at, expires_at) VALUES ($1, $2, $3, $4)"
            ),
            evict: format!(
                "UPDATE {f} SET revoked_at = $2, revoked_reason = 'evicted'
                 WHERE sid IN (
                     SELECT f.sid FROM {f} f
                     WHERE f.subject = $1 AND f.revoked_at IS NULL AND f.expires_at > $2 AND {current_token_live}
                     ORDER BY f.created_at DESC, f.sid DESC
                     OFFSET $3)
                 RETURNING sid"
            ),
            rotate: format!(
                "WITH used AS (
                     UPDATE {t} AS t SET rotated_at = $2
                     FROM {f} AS f
                     WHERE t.token_hash = $1 AND t.rotated_at IS NULL AND t.expires_at > $2
                       AND f.sid = t.sid AND f.revoked_at IS NULL AND f.expires_at > $2
                     RETURNING t.sid, f.subject, f.created_at, f.expires_at
                 ), touched AS (
                     UPDATE {f} AS f SET last_used_at = $2 FROM used WHERE f.sid = used.sid
                 ), next AS (
                     INSERT INTO {t} (token_hash, sid, issued_at, expires_at)
                     SELECT $3, used.sid, $2, LEAST($4::timestamptz, used.expires_at) FROM used
                     RETURNING expires_at
                 )
                 SELECT used.sid, used.subject, used.created_at, used.expires_at, next.expires_at
                 FROM used, next"
            ),
            classify: format!(
                "SELECT f.sid, f.subject, f.created_at, f.expires_at,
                        t.rotated_at IS NOT NULL, f.revoked_at IS NOT NULL
                 FROM {t} t JOIN {f} f ON f.sid = t.sid
                 WHERE t.token_hash = $1"
            ),
            revoke_reused: format!(
                "UPDATE {f} SET revoked_at = $2, revoked_reason = 'reuse' WHERE sid = $1 AND revoked_at IS NULL"
            ),
            revoke_by_token: format!(
                "WITH target AS (
                     SELECT t.sid FROM {t} t JOIN {f} owner ON owner.sid = t.sid
                     WHERE t.token_hash = $1 AND ($4::text IS NULL OR owner.subject = $4)
                 ),
                 revoked AS (
                     UPDATE {f} AS f SET revoked_at = $2, revoked_reason = $3
                     FROM target WHERE f.sid = target.sid AND f.revoked_at IS NULL
                 )
                 SELECT f.sid, f.subject, f.created_at, f.expires_at
                 FROM target JOIN {f} f ON f.sid = target.sid"
            ),
            revoke_session: format!(
                "UPDATE {f} SET revoked_at = $2, revoked_reason = $3 WHERE sid = $1 AND revoked_at IS NULL
                 RETURNING sid, subject, created_at, expires_at"
            ),
            revoke_subject: format!(
                "UPDATE {f} SET revoked_at = $2, revoked_reason = $3
                 WHERE subject = $1 AND revoked_at IS NULL AND expires_at > $2
                 RETURNING sid"
            ),
            sessions: format!(
                "SELECT f.sid, f.subject, f.created_at, f.expires_at FROM {f} f
                 WHERE f.subject = $1 AND f.revoked_at IS NULL AND f.expires_at > $2 AND {current_token_live}
                 ORDER BY f.created_at, f.sid"
            ),
            purge: format!(
                "DELETE FROM {f} f
                 WHERE f.expires_at < $1 OR f.revoked_at < $1
                    OR NOT EXISTS (SELECT 1 FROM {t} ct WHERE ct.sid = f.sid AND ct.rotated_at IS NULL AND ct.expires_at >= $1)"
            ),
        }
    }
}

fn sid_at(row: &Row, idx: usize) -> Result<SessionId> {
    let text: String = col(row, idx)?;
    SessionId::parse(&text).map_err(|_| row_error("malformed sid"))
}

fn session_at(row: &Row) -> Result<Session> {
    Ok(Session {
        id: sid_at(row, 0)?,
        subject: col(row, 1)?,
        created_at: col(row, 2)?,
        expires_at: col(row, 3)?,
    })
}

fn as_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl RefreshStore for PgRefreshStore {
    fn create<'a>(
        &'a self,
        session: &'a Session,
        first: SecretHash,
        first_expires_at: SystemTime,
        max_per_subject: usize,
    ) -> StoreFuture<'a, Vec<SessionId>> {
        Box::pin(async move {
            let max = as_i64(max_per_subject);
            let rows = self
                .pg
                .transaction(|tx, sql| {
                    // Owned copies: the transaction future may not borrow from the caller.
                    let session = session.clone();
                    Box::pin(async move {
                        let sid = session.id.as_str();
                        tx.execute(
                            &sql.insert_family,
                            &[
                                &sid,
                                &session.subject,
                                &session.created_at,
                                &session.expires_at,
                            ],
                        )
                        .await?;
                        tx.execute(
                            &sql.insert_token,
                            &[
                                &first.as_bytes().as_slice(),
                                &sid,
                                &session.created_at,
                                &first_expires_at,
                            ],
                        )
                        .await?;
                        tx.query(&sql.evict, &[&session.subject, &session.created_at, &max])
                            .await
                    })
                })
                .await?;
            rows.iter().map(|r| sid_at(r, 0)).collect()
        })
    }

    fn rotate<'a>(
        &'a self,
        presented: SecretHash,
        next: SecretHash,
        now: SystemTime,
        idle: Duration,
    ) -> StoreFuture<'a, RotateOutcome> {
        Box::pin(async move {
            let sql = self.pg.sql();
            let hash = presented.as_bytes().as_slice();
            let idle_end = now + idle;
            let row = self
                .pg
                .query_opt(
                    &sql.rotate,
                    &[&hash, &now, &next.as_bytes().as_slice(), &idle_end],
                )
                .await?;
            if let Some(row) = row {
                return Ok(RotateOutcome::Rotated {
                    session: session_at(&row)?,
                    next_expires_at: col(&row, 4)?,
                });
            }
            let Some(row) = self.pg.query_opt(&sql.classify, &[&hash]).await? else {
                return Ok(RotateOutcome::Unknown);
            };
            let session = session_at(&row)?;
            let rotated: bool = col(&row, 4)?;
            let revoked: bool = col(&row, 5)?;
            if revoked {
                return Ok(RotateOutcome::Revoked);
            }
            if rotated {
                self.pg
                    .execute(&sql.revoke_reused, &[&session.id.as_str(), &now])
                    .await?;
                return Ok(RotateOutcome::Reused { session });
            }
            Ok(RotateOutcome::Expired)
        })
    }

    fn revoke_by_token<'a>(
        &'a self,
        token: SecretHash,
        subject: Option<&'a str>,
        now: SystemTime,
        reason: RevokeReason,
    ) -> StoreFuture<'a, Option<Session>> {
        Box::pin(async move {
            let row = self
                .pg
                .query_opt(
                    &self.pg.sql().revoke_by_token,
                    &[
                        &token.as_bytes().as_slice(),
                        &now,
                        &reason.as_str(),
                        &subject,
                    ],
                )
                .await?;
            row.as_ref().map(session_at).transpose()
        })
    }

    fn revoke_session<'a>(
        &'a self,
        id: &'a SessionId,
        now: SystemTime,
        reason: RevokeReason,
    ) -> StoreFuture<'a, Option<Session>> {
        Box::pin(async move {
            let row = self
                .pg
                .query_opt(
                    &self.pg.sql().revoke_session,
                    &[&id.as_str(), &now, &reason.as_str()],
                )
                .await?;
            row.as_ref().map(session_at).transpose()
        })
    }

    fn revoke_subject<'a>(
        &'a self,
        subject: &'a str,
        now: SystemTime,
        reason: RevokeReason,
    ) -> StoreFuture<'a, Vec<SessionId>> {
        Box::pin(async move {
            let rows = self
                .pg
                .query(
                    &self.pg.sql().revoke_subject,
                    &[&subject, &now, &reason.as_str()],
                )
                .await?;
            rows.iter().map(|r| sid_at(r, 0)).collect()
        })
    }

    fn sessions<'a>(&'a self, subject: &'a str, now: SystemTime) -> StoreFuture<'a, Vec<Session>> {
        Box::pin(async move {
            let rows = self
                .pg
                .query(&self.pg.sql().sessions, &[&subject, &now])
                .await?;
            rows.iter().map(session_at).collect()
        })
    }

    fn purge<'a>(&'a self, before: SystemTime) -> StoreFuture<'a, u64> {
        Box::pin(async move { self.pg.execute(&self.pg.sql().purge, &[&before]).await })
    }
}
