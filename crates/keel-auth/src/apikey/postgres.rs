//! [`PgApiKeyStore`]: API keys in PostgreSQL (feature `postgres`).

use std::time::{Duration, SystemTime};

use keel_crypto::ApiKeyHash;
use keel_db_pool::Row;

use super::store::{ApiKeyRecord, ApiKeyStore};
use crate::error::Result;
use crate::pg::{Statements, col, pg_store, row_error};
use crate::store::StoreFuture;

pg_store! {
    /// API keys in PostgreSQL, over keel-db-pool. Needs the table of
    /// [`migrations`](crate::migrations) version 4, in the same schema. A verification is one
    /// primary-key lookup; recording a use is a conditional `UPDATE` at most once per interval.
    ///
    /// ```no_run
    /// # async fn f(pool: keel_db_pool::Pool) -> keel_auth::Result<()> {
    /// use keel_auth::{ApiKeys, ApiKeysConfig, PgApiKeyStore, migrations};
    ///
    /// migrations::apply(&pool, migrations::DEFAULT_SCHEMA).await?;
    /// let keys = ApiKeys::new(PgApiKeyStore::new(pool), ApiKeysConfig::builder("kl_live").build()?);
    /// # Ok(()) }
    /// ```
    pub struct PgApiKeyStore(Sql);
}

struct Sql {
    insert: String,
    find: String,
    touch: String,
    revoke: String,
    list: String,
}

const COLUMNS: &str =
    "id, subject, name, scopes, key_hash, created_at, expires_at, revoked_at, last_used_at";

impl Statements for Sql {
    const STORE: &'static str = "API keys";

    fn new(schema: &str) -> Self {
        let k = format!("\"{schema}\".api_keys");
        Self {
            insert: format!(
                "INSERT INTO {k} ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL)
                 ON CONFLICT (id) DO NOTHING"
            ),
            find: format!("SELECT {COLUMNS} FROM {k} WHERE id = $1"),
            touch: format!(
                "UPDATE {k} SET last_used_at = $2
                 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at <= $3)"
            ),
            revoke: format!("UPDATE {k} SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL"),
            list: format!("SELECT {COLUMNS} FROM {k} WHERE subject = $1 ORDER BY created_at, id"),
        }
    }
}

fn record(row: &Row) -> Result<ApiKeyRecord> {
    let hash: Vec<u8> = col(row, 4)?;
    let hash: [u8; 32] = hash
        .try_into()
        .map_err(|_| row_error("key_hash is not 32 bytes"))?;
    Ok(ApiKeyRecord {
        id: col(row, 0)?,
        subject: col(row, 1)?,
        name: col(row, 2)?,
        scopes: col(row, 3)?,
        hash: ApiKeyHash::from_bytes(hash),
        created_at: col(row, 5)?,
        expires_at: col(row, 6)?,
        revoked_at: col(row, 7)?,
        last_used_at: col(row, 8)?,
    })
}

impl ApiKeyStore for PgApiKeyStore {
    fn insert<'a>(&'a self, r: &'a ApiKeyRecord) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let n = self
                .pg
                .execute(
                    &self.pg.sql().insert,
                    &[
                        &r.id,
                        &r.subject,
                        &r.name,
                        &r.scopes,
                        &r.hash.as_bytes().as_slice(),
                        &r.created_at,
                        &r.expires_at,
                    ],
                )
                .await?;
            Ok(n == 1)
        })
    }

    fn find<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<ApiKeyRecord>> {
        Box::pin(async move {
            let row = self.pg.query_opt(&self.pg.sql().find, &[&id]).await?;
            row.as_ref().map(record).transpose()
        })
    }

    fn touch<'a>(
        &'a self,
        id: &'a str,
        now: SystemTime,
        interval: Duration,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let before = now.checked_sub(interval).unwrap_or(SystemTime::UNIX_EPOCH);
            self.pg
                .execute(&self.pg.sql().touch, &[&id, &now, &before])
                .await?;
            Ok(())
        })
    }

    fn revoke<'a>(&'a self, id: &'a str, now: SystemTime) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let n = self.pg.execute(&self.pg.sql().revoke, &[&id, &now]).await?;
            Ok(n == 1)
        })
    }

    fn list<'a>(&'a self, subject: &'a str) -> StoreFuture<'a, Vec<ApiKeyRecord>> {
        Box::pin(async move {
            let rows = self.pg.query(&self.pg.sql().list, &[&subject]).await?;
            rows.iter().map(record).collect()
        })
    }
}
