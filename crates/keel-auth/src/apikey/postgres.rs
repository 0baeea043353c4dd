//! [`PgApiKeyStore`]: API keys in PostgreSQL (feature `postgres`).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use keel_crypto::ApiKeyHash;
use keel_db_pool::{Pool, Row};

use super::store::{ApiKeyRecord, ApiKeyStore};
use crate::error::{Error, Result};
use crate::migrations::{DEFAULT_SCHEMA, check_schema};
use crate::store::{RowError, StoreFuture, db_error};

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
#[derive(Clone)]
pub struct PgApiKeyStore {
    pool: Pool,
    sql: Arc<Sql>,
}

impl fmt::Debug for PgApiKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgApiKeyStore")
            .field("schema", &self.sql.schema)
            .finish_non_exhaustive()
    }
}

struct Sql {
    schema: String,
    insert: String,
    find: String,
    touch: String,
    revoke: String,
    list: String,
}

const COLUMNS: &str =
    "id, subject, name, scopes, key_hash, created_at, expires_at, revoked_at, last_used_at";

impl Sql {
    fn new(schema: &str) -> Self {
        let k = format!("\"{schema}\".api_keys");
        Self {
            schema: schema.to_owned(),
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

impl PgApiKeyStore {
    /// A store over `pool` using the table in [`DEFAULT_SCHEMA`] (`keel_auth`).
    #[must_use]
    pub fn new(pool: Pool) -> Self {
        Self {
            pool,
            sql: Arc::new(Sql::new(DEFAULT_SCHEMA)),
        }
    }

    /// A store over `pool` using the table in `schema`.
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

    /// The schema holding the table.
    #[must_use]
    pub fn schema(&self) -> &str {
        &self.sql.schema
    }
}

fn record(row: &Row) -> Result<ApiKeyRecord> {
    let hash: Vec<u8> = row.try_get(4).map_err(Error::store)?;
    let hash: [u8; 32] = hash
        .try_into()
        .map_err(|_| Error::store(RowError("key_hash is not 32 bytes")))?;
    Ok(ApiKeyRecord {
        id: row.try_get(0).map_err(Error::store)?,
        subject: row.try_get(1).map_err(Error::store)?,
        name: row.try_get(2).map_err(Error::store)?,
        scopes: row.try_get(3).map_err(Error::store)?,
        hash: ApiKeyHash::from_bytes(hash),
        created_at: row.try_get(5).map_err(Error::store)?,
        expires_at: row.try_get(6).map_err(Error::store)?,
        revoked_at: row.try_get(7).map_err(Error::store)?,
        last_used_at: row.try_get(8).map_err(Error::store)?,
    })
}

impl ApiKeyStore for PgApiKeyStore {
    fn insert<'a>(&'a self, r: &'a ApiKeyRecord) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let n = self
                .pool
                .execute(
                    &self.sql.insert,
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
                .await
                .map_err(db_error)?;
            Ok(n == 1)
        })
    }

    fn find<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<ApiKeyRecord>> {
        Box::pin(async move {
            let row = self
                .pool
                .query_opt(&self.sql.find, &[&id])
                .await
                .map_err(db_error)?;
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
            self.pool
                .execute(&self.sql.touch, &[&id, &now, &before])
                .await
                .map_err(db_error)?;
            Ok(())
        })
    }

    fn revoke<'a>(&'a self, id: &'a str, now: SystemTime) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let n = self
                .pool
                .execute(&self.sql.revoke, &[&id, &now])
                .await
                .map_err(db_error)?;
            Ok(n == 1)
        })
    }

    fn list<'a>(&'a self, subject: &'a str) -> StoreFuture<'a, Vec<ApiKeyRecord>> {
        Box::pin(async move {
            let rows = self
                .pool
                .query(&self.sql.list, &[&subject])
                .await
                .map_err(db_error)?;
            rows.iter().map(record).collect()
        })
    }
}
