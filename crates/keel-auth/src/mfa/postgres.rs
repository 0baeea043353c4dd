//! [`PgMfaStore`]: TOTP factors, recovery codes and challenges in PostgreSQL.

use std::time::{Duration, SystemTime};

use keel_db_pool::Row;

use super::store::{ChallengeRecord, MfaStore, SealedTotpSecret, TotpRecord};
use crate::error::Result;
use crate::pg::{Statements, col, pg_store, row_error};
use crate::store::{SecretHash, StoreFuture};

pg_store! {
    /// TOTP factors, recovery codes and challenges in PostgreSQL, over keel-db-pool. Needs the
    /// tables of [`migrations`](crate::migrations) version 3, in the same schema.
    ///
    /// Every atomic step of [`MfaStore`] is one statement: the TOTP step advances with
    /// `UPDATE … SET last_step = $2 WHERE subject = $1 AND (last_step IS NULL OR last_step <
    /// $2)`, a recovery code is consumed by a `DELETE` that reports one row exactly once, a
    /// challenge attempt is `UPDATE … SET attempts = attempts + 1 WHERE … AND attempts <
    /// max_attempts RETURNING …`.
    ///
    /// ```no_run
    /// # async fn f(pool: keel_db_pool::Pool, keys: std::sync::Arc<keel_crypto::KeyRing>) -> keel_auth::Result<()> {
    /// use keel_auth::{Mfa, MfaConfig, PgMfaStore, migrations};
    ///
    /// migrations::apply(&pool, migrations::DEFAULT_SCHEMA).await?;
    /// let mfa = Mfa::new(PgMfaStore::new(pool), keys, MfaConfig::builder("Acme").build()?);
    /// # Ok(()) }
    /// ```
    pub struct PgMfaStore(Sql);
}

struct Sql {
    put_pending: String,
    totp: String,
    confirm: String,
    delete_codes: String,
    insert_codes: String,
    advance: String,
    failure: String,
    remove: String,
    remove_challenges: String,
    replace_check: String,
    consume_code: String,
    codes_left: String,
    insert_challenge: String,
    trim_challenges: String,
    attempt: String,
    consume_challenge: String,
    purge_challenges: String,
    purge_pending: String,
}

impl Statements for Sql {
    const STORE: &'static str = "MFA factors";

    fn new(schema: &str) -> Self {
        let t = format!("\"{schema}\".mfa_totp");
        let r = format!("\"{schema}\".mfa_recovery_codes");
        let c = format!("\"{schema}\".mfa_challenges");
        Self {
            put_pending: format!(
                "INSERT INTO {t} AS t (subject, sealed_secret, created_at) VALUES ($1, $2, $3)
                 ON CONFLICT (subject) DO UPDATE
                 SET sealed_secret = EXCLUDED.sealed_secret, created_at = EXCLUDED.created_at,
                     last_step = NULL, failures = 0, failures_since = NULL
                 WHERE t.confirmed_at IS NULL"
            ),
            totp: format!(
                "SELECT sealed_secret, confirmed_at IS NOT NULL, last_step, failures, failures_since
                 FROM {t} WHERE subject = $1"
            ),
            confirm: format!(
                "UPDATE {t} SET confirmed_at = $4, last_step = $3, failures = 0, failures_since = NULL
                 WHERE subject = $1 AND sealed_secret = $2 AND confirmed_at IS NULL
                   AND (last_step IS NULL OR last_step < $3)"
            ),
            delete_codes: format!("DELETE FROM {r} WHERE subject = $1"),
            insert_codes: format!(
                "INSERT INTO {r} (subject, code_hash) SELECT $1, h FROM unnest($2::bytea[]) AS h
                 ON CONFLICT DO NOTHING"
            ),
            advance: format!(
                "UPDATE {t} SET last_step = $2, failures = 0, failures_since = NULL
                 WHERE subject = $1 AND confirmed_at IS NOT NULL
                   AND (last_step IS NULL OR last_step < $2)"
            ),
            failure: format!(
                "UPDATE {t} SET
                     failures = CASE WHEN failures_since IS NULL OR failures_since <= $3 THEN 1
                                     ELSE failures + 1 END,
                     failures_since = CASE WHEN failures_since IS NULL OR failures_since <= $3 THEN $2
                                           ELSE failures_since END
                 WHERE subject = $1
                 RETURNING failures, failures_since"
            ),
            remove: format!("DELETE FROM {t} WHERE subject = $1"),
            remove_challenges: format!("DELETE FROM {c} WHERE subject = $1"),
            replace_check: format!(
                "SELECT 1 FROM {t} WHERE subject = $1 AND confirmed_at IS NOT NULL FOR UPDATE"
            ),
            consume_code: format!(
                "DELETE FROM {r} WHERE subject = $1 AND code_hash = $2
                   AND EXISTS (SELECT 1 FROM {t} WHERE subject = $1 AND confirmed_at IS NOT NULL)"
            ),
            codes_left: format!("SELECT count(*) FROM {r} WHERE subject = $1"),
            insert_challenge: format!(
                "INSERT INTO {c} (challenge_hash, subject, purpose, created_at, expires_at, max_attempts)
                 VALUES ($1, $2, $3, $4, $5, $6)"
            ),
            trim_challenges: format!(
                "DELETE FROM {c} WHERE challenge_hash IN (
                     SELECT challenge_hash FROM {c} WHERE subject = $1
                     ORDER BY (expires_at > $2) DESC, seq DESC
                     OFFSET $3)
                 OR (subject = $1 AND expires_at <= $2)"
            ),
            attempt: format!(
                "UPDATE {c} SET attempts = attempts + 1
                 WHERE challenge_hash = $1 AND expires_at > $2 AND attempts < max_attempts
                 RETURNING subject, purpose, created_at, expires_at, attempts, max_attempts"
            ),
            consume_challenge: format!("DELETE FROM {c} WHERE challenge_hash = $1"),
            purge_challenges: format!("DELETE FROM {c} WHERE expires_at < $1"),
            purge_pending: format!("DELETE FROM {t} WHERE confirmed_at IS NULL AND created_at < $1"),
        }
    }
}

fn step_to_sql(step: u64) -> i64 {
    i64::try_from(step).unwrap_or(i64::MAX)
}

fn count(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

fn hash_list(codes: &[SecretHash]) -> Vec<Vec<u8>> {
    codes.iter().map(|h| h.as_bytes().to_vec()).collect()
}

fn totp_row(row: &Row) -> Result<TotpRecord> {
    let last: Option<i64> = col(row, 2)?;
    Ok(TotpRecord {
        sealed_secret: SealedTotpSecret::from_stored(col(row, 0)?),
        confirmed: col(row, 1)?,
        last_step: last.and_then(|s| u64::try_from(s).ok()),
        failures: count(col(row, 3)?),
        failures_since: col(row, 4)?,
    })
}

impl MfaStore for PgMfaStore {
    fn put_pending<'a>(
        &'a self,
        subject: &'a str,
        sealed_secret: &'a SealedTotpSecret,
        now: SystemTime,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let n = self
                .pg
                .execute(
                    &self.pg.sql().put_pending,
                    &[&subject, &sealed_secret.as_str(), &now],
                )
                .await?;
            Ok(n == 1)
        })
    }

    fn totp<'a>(&'a self, subject: &'a str) -> StoreFuture<'a, Option<TotpRecord>> {
        Box::pin(async move {
            let row = self.pg.query_opt(&self.pg.sql().totp, &[&subject]).await?;
            row.as_ref().map(totp_row).transpose()
        })
    }

    fn confirm<'a>(
        &'a self,
        subject: &'a str,
        sealed_secret: &'a SealedTotpSecret,
        step: u64,
        recovery_codes: &'a [SecretHash],
        now: SystemTime,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let hashes = hash_list(recovery_codes);
            let step = step_to_sql(step);
            self.pg
                .transaction(|tx, sql| {
                    let (subject, sealed) = (subject.to_owned(), sealed_secret.as_str().to_owned());
                    let hashes = hashes.clone();
                    Box::pin(async move {
                        let n = tx
                            .execute(&sql.confirm, &[&subject, &sealed, &step, &now])
                            .await?;
                        if n != 1 {
                            return Ok(false);
                        }
                        tx.execute(&sql.delete_codes, &[&subject]).await?;
                        tx.execute(&sql.insert_codes, &[&subject, &hashes]).await?;
                        Ok(true)
                    })
                })
                .await
        })
    }

    fn advance_step<'a>(&'a self, subject: &'a str, step: u64) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let n = self
                .pg
                .execute(&self.pg.sql().advance, &[&subject, &step_to_sql(step)])
                .await?;
            Ok(n == 1)
        })
    }

    fn record_failure<'a>(
        &'a self,
        subject: &'a str,
        now: SystemTime,
        window: Duration,
    ) -> StoreFuture<'a, Option<(u32, SystemTime)>> {
        Box::pin(async move {
            let window_start = now.checked_sub(window).unwrap_or(SystemTime::UNIX_EPOCH);
            let row = self
                .pg
                .query_opt(&self.pg.sql().failure, &[&subject, &now, &window_start])
                .await?;
            let Some(row) = row else { return Ok(None) };
            let failures: i32 = col(&row, 0)?;
            let since: Option<SystemTime> = col(&row, 1)?;
            let since = since.ok_or_else(|| row_error("failures_since is null"))?;
            Ok(Some((count(failures), since)))
        })
    }

    fn remove<'a>(&'a self, subject: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            self.pg
                .transaction(|tx, sql| {
                    let subject = subject.to_owned();
                    Box::pin(async move {
                        tx.execute(&sql.remove_challenges, &[&subject]).await?;
                        Ok(tx.execute(&sql.remove, &[&subject]).await? == 1)
                    })
                })
                .await
        })
    }

    fn replace_recovery_codes<'a>(
        &'a self,
        subject: &'a str,
        codes: &'a [SecretHash],
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let hashes = hash_list(codes);
            self.pg
                .transaction(|tx, sql| {
                    let subject = subject.to_owned();
                    let hashes = hashes.clone();
                    Box::pin(async move {
                        if tx
                            .query_opt(&sql.replace_check, &[&subject])
                            .await?
                            .is_none()
                        {
                            return Ok(false);
                        }
                        tx.execute(&sql.delete_codes, &[&subject]).await?;
                        tx.execute(&sql.insert_codes, &[&subject, &hashes]).await?;
                        Ok(true)
                    })
                })
                .await
        })
    }

    fn consume_recovery_code<'a>(
        &'a self,
        subject: &'a str,
        code: SecretHash,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let n = self
                .pg
                .execute(
                    &self.pg.sql().consume_code,
                    &[&subject, &code.as_bytes().as_slice()],
                )
                .await?;
            Ok(n == 1)
        })
    }

    fn recovery_codes_left<'a>(&'a self, subject: &'a str) -> StoreFuture<'a, usize> {
        Box::pin(async move {
            let row = self
                .pg
                .query_one(&self.pg.sql().codes_left, &[&subject])
                .await?;
            let n: i64 = col(&row, 0)?;
            Ok(usize::try_from(n).unwrap_or(0))
        })
    }

    fn create_challenge<'a>(
        &'a self,
        challenge: &'a ChallengeRecord,
        max_per_subject: usize,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let max = i64::try_from(max_per_subject).unwrap_or(i64::MAX);
            let max_attempts = i32::try_from(challenge.max_attempts).unwrap_or(i32::MAX);
            self.pg
                .transaction(|tx, sql| {
                    let c = challenge.clone();
                    Box::pin(async move {
                        tx.execute(
                            &sql.insert_challenge,
                            &[
                                &c.hash.as_bytes().as_slice(),
                                &c.subject,
                                &c.purpose,
                                &c.created_at,
                                &c.expires_at,
                                &max_attempts,
                            ],
                        )
                        .await?;
                        tx.execute(&sql.trim_challenges, &[&c.subject, &c.created_at, &max])
                            .await?;
                        Ok(())
                    })
                })
                .await
        })
    }

    fn attempt_challenge<'a>(
        &'a self,
        hash: SecretHash,
        now: SystemTime,
    ) -> StoreFuture<'a, Option<ChallengeRecord>> {
        Box::pin(async move {
            let row = self
                .pg
                .query_opt(&self.pg.sql().attempt, &[&hash.as_bytes().as_slice(), &now])
                .await?;
            let Some(row) = row else { return Ok(None) };
            Ok(Some(ChallengeRecord {
                hash,
                subject: col(&row, 0)?,
                purpose: col(&row, 1)?,
                created_at: col(&row, 2)?,
                expires_at: col(&row, 3)?,
                attempts: count(col(&row, 4)?),
                max_attempts: count(col(&row, 5)?),
            }))
        })
    }

    fn consume_challenge<'a>(&'a self, hash: SecretHash) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let n = self
                .pg
                .execute(
                    &self.pg.sql().consume_challenge,
                    &[&hash.as_bytes().as_slice()],
                )
                .await?;
            Ok(n == 1)
        })
    }

    fn purge<'a>(
        &'a self,
        challenges_before: SystemTime,
        pending_before: SystemTime,
    ) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            let a = self
                .pg
                .execute(&self.pg.sql().purge_challenges, &[&challenges_before])
                .await?;
            let b = self
                .pg
                .execute(&self.pg.sql().purge_pending, &[&pending_before])
                .await?;
            Ok(a + b)
        })
    }
}
