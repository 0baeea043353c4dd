//! [`Connection`]: a checked-out connection, returned to the pool on drop.

use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use deadpool_postgres::ClientWrapper;
use futures_util::future::BoxFuture;

use crate::Error;
use crate::manager::Object;
use crate::transaction::{self, Transaction, TransactionOptions};

/// Generates the statement helpers shared by [`Connection`] and [`Transaction`]:
/// prepared through the per-connection statement cache or sent as the unnamed
/// statement (per the pool's `StatementMode`), timed for the slow-statement log,
/// errors classified into [`Error`]. `$exec` is the executor expression, `$meta` the
/// connection bookkeeping, `$retry_stale` whether a stale cached plan (or stale
/// learned parameter types) is re-prepared and run once more (only outside
/// transactions: inside one, the failed statement aborted the transaction). The type
/// implements `learn_types` (parameter types for `StatementMode::Unnamed`).
macro_rules! statement_methods {
    ($self:ident => exec: $exec:expr, meta: $meta:expr, retry_stale: $retry_stale:expr, failed: $failed:block, seen: $seen:block, doc_head: $head:literal, doc_tail: $tail:literal) => {
        /// Prepares `sql` through the connection's statement cache (one round trip the
        /// first time, free afterwards).
        ///
        /// # Errors
        /// The classified [`Error`](crate::Error) (syntax errors are `Database`);
        /// [`Error::Config`](crate::Error::Config) with
        /// [`StatementMode::Unnamed`](crate::StatementMode::Unnamed), where named
        /// statements do not survive (PgBouncer transaction pooling).
        ///
        #[doc = concat!("```no_run\n", $head, "\nlet stmt = x.prepare_cached(\"SELECT $1::int\").await?;\n", $tail, "\n```")]
        pub async fn prepare_cached(&$self, sql: &str) -> Result<tokio_postgres::Statement, crate::Error> {
            if $meta.shared.config.statement_mode == crate::StatementMode::Unnamed {
                return Err(crate::Error::Config(
                    "prepare_cached is not available with StatementMode::Unnamed: use the statement helpers".to_owned(),
                ));
            }
            match $exec.prepare_cached(sql).await {
                Ok(s) => Ok(s),
                Err(e) => Err($self.observe(e)),
            }
        }

        /// Runs `sql` (prepared and cached, or unnamed) and returns all rows.
        ///
        /// # Errors
        /// The classified [`Error`](crate::Error): constraint violations, timeouts,
        /// lost connections, a wrong parameter count, ….
        ///
        #[doc = concat!("```no_run\n", $head, "\nlet rows = x.query(\"SELECT id FROM users WHERE active = $1\", &[&true]).await?;\n", $tail, "\n```")]
        pub async fn query(
            &$self,
            sql: &str,
            params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        ) -> Result<Vec<tokio_postgres::Row>, crate::Error> {
            $self
                .run_prepared(sql, params.len(), move |p| async move {
                    match p {
                        crate::statement::Prepared::Named(stmt) => $exec.query(&stmt, params).await,
                        crate::statement::Prepared::Typed(types) => {
                            $exec.query_typed(sql, &crate::statement::typed_params(params, &types)).await
                        }
                    }
                })
                .await
        }

        /// Runs `sql` (prepared and cached, or unnamed) and returns exactly one row.
        ///
        /// # Errors
        /// As [`query`](Self::query); zero or several rows are a
        /// [`Error::Database`](crate::Error::Database) — use
        /// [`query_opt`](Self::query_opt) when "not found" is expected.
        ///
        #[doc = concat!("```no_run\n", $head, "\nlet n: i64 = x.query_one(\"SELECT count(*) FROM users\", &[]).await?.get(0);\n", $tail, "\n```")]
        pub async fn query_one(
            &$self,
            sql: &str,
            params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        ) -> Result<tokio_postgres::Row, crate::Error> {
            $self
                .run_prepared(sql, params.len(), move |p| async move {
                    match p {
                        crate::statement::Prepared::Named(stmt) => $exec.query_one(&stmt, params).await,
                        crate::statement::Prepared::Typed(types) => {
                            $exec.query_typed_one(sql, &crate::statement::typed_params(params, &types)).await
                        }
                    }
                })
                .await
        }

        /// Runs `sql` (prepared and cached, or unnamed) and returns at most one row.
        ///
        /// # Errors
        /// As [`query`](Self::query); several rows are a
        /// [`Error::Database`](crate::Error::Database).
        ///
        #[doc = concat!("```no_run\n", $head, "\nlet user = x.query_opt(\"SELECT email FROM users WHERE id = $1\", &[&7_i32]).await?;\n", $tail, "\n```")]
        pub async fn query_opt(
            &$self,
            sql: &str,
            params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        ) -> Result<Option<tokio_postgres::Row>, crate::Error> {
            $self
                .run_prepared(sql, params.len(), move |p| async move {
                    match p {
                        crate::statement::Prepared::Named(stmt) => $exec.query_opt(&stmt, params).await,
                        crate::statement::Prepared::Typed(types) => {
                            $exec.query_typed_opt(sql, &crate::statement::typed_params(params, &types)).await
                        }
                    }
                })
                .await
        }

        /// Runs `sql` (prepared and cached, or unnamed) and returns the number of rows
        /// affected.
        ///
        /// # Errors
        /// As [`query`](Self::query).
        ///
        #[doc = concat!("```no_run\n", $head, "\nlet changed = x.execute(\"UPDATE users SET active = false WHERE id = $1\", &[&7_i32]).await?;\n", $tail, "\n```")]
        pub async fn execute(
            &$self,
            sql: &str,
            params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        ) -> Result<u64, crate::Error> {
            $self
                .run_prepared(sql, params.len(), move |p| async move {
                    match p {
                        crate::statement::Prepared::Named(stmt) => $exec.execute(&stmt, params).await,
                        crate::statement::Prepared::Typed(types) => {
                            $exec.execute_typed(sql, &crate::statement::typed_params(params, &types)).await
                        }
                    }
                })
                .await
        }

        /// Runs one or more `;`-separated statements with the simple protocol (no
        /// parameters, nothing cached).
        ///
        /// # Errors
        /// As [`query`](Self::query).
        ///
        #[doc = concat!("```no_run\n", $head, "\nx.batch_execute(\"SET LOCAL lock_timeout = '1s'\").await?;\n", $tail, "\n```")]
        pub async fn batch_execute(&$self, sql: &str) -> Result<(), crate::Error> {
            let started = std::time::Instant::now();
            let result = match $exec.batch_execute(sql).await {
                Ok(()) => Ok(()),
                Err(e) => Err($self.observe(e)),
            };
            crate::statement::finish(&$meta.shared, sql, started, result.is_ok());
            result
        }

        /// Prepares `sql` per the statement mode and runs `run` with it, timed for the
        /// slow-statement log. A stale cached plan ("cached plan must not change result
        /// type") or stale learned parameter types are re-prepared and run once more
        /// when `$retry_stale`.
        async fn run_prepared<T, F, Fut>(&$self, sql: &str, n_params: usize, run: F) -> Result<T, crate::Error>
        where
            F: FnMut(crate::statement::Prepared) -> Fut,
            Fut: std::future::Future<Output = Result<T, tokio_postgres::Error>>,
        {
            let started = std::time::Instant::now();
            let result = $self.run_prepared_untimed(sql, n_params, run).await;
            crate::statement::finish(&$meta.shared, sql, started, result.is_ok());
            result
        }

        async fn run_prepared_untimed<T, F, Fut>(&$self, sql: &str, n_params: usize, mut run: F) -> Result<T, crate::Error>
        where
            F: FnMut(crate::statement::Prepared) -> Fut,
            Fut: std::future::Future<Output = Result<T, tokio_postgres::Error>>,
        {
            let shared = &$meta.shared;
            let unnamed = shared.config.statement_mode == crate::StatementMode::Unnamed;
            let mut retried = false;
            loop {
                let (prepared, fresh) = if unnamed {
                    match shared.statement_types.get(sql) {
                        Some(types) => (crate::statement::Prepared::Typed(types), false),
                        None => {
                            let types = $self.learn_types(sql).await?;
                            shared.statement_types.insert(sql, std::sync::Arc::clone(&types));
                            (crate::statement::Prepared::Typed(types), true)
                        }
                    }
                } else {
                    let stmt = match $exec.prepare_cached(sql).await {
                        Ok(s) => s,
                        Err(e) => return Err($self.observe(e)),
                    };
                    (crate::statement::Prepared::Named(stmt), true)
                };
                crate::statement::check_params(&prepared, n_params)?;
                match run(prepared).await {
                    Ok(v) => return Ok(v),
                    Err(e) => {
                        let err = $self.observe(e);
                        let stale = if unnamed {
                            let stale = !fresh && crate::statement::stale_types(&err);
                            if stale {
                                shared.statement_types.remove(sql);
                            }
                            stale
                        } else {
                            matches!(err, crate::Error::StalePlan { .. })
                        };
                        if $retry_stale && !retried && stale {
                            retried = true;
                            continue;
                        }
                        return Err(err);
                    }
                }
            }
        }

        fn observe(&$self, e: tokio_postgres::Error) -> crate::Error {
            let err = $meta.observe(e);
            $failed
            if err.is_retryable() $seen
            err
        }
    };
}

pub(crate) use statement_methods;

/// A connection checked out of a [`Pool`](crate::Pool); returned when dropped.
///
/// Use the statement helpers ([`query`](Connection::query),
/// [`execute`](Connection::execute), …): they go through the statement cache and
/// return classified [`Error`]s. Everything else of `tokio_postgres::Client` (and
/// deadpool-postgres' `ClientWrapper`) is reachable through `Deref`.
///
/// ```no_run
/// # async fn f(pool: keel_db_pool::Pool) -> Result<(), keel_db_pool::Error> {
/// let conn = pool.get().await?;
/// let row = conn.query_one("SELECT $1::int + 1", &[&41]).await?;
/// assert_eq!(row.get::<_, i32>(0), 42);
/// // Raw driver API through Deref:
/// let stmt = conn.prepare("SELECT 1").await?;
/// # Ok(()) }
/// ```
pub struct Connection {
    obj: Object,
    checked_out: Instant,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("pool", &self.obj.meta.shared.config.name)
            .field("held_for", &self.held_for())
            .field("closed", &self.obj.client.is_closed())
            .finish_non_exhaustive()
    }
}

impl Connection {
    pub(crate) fn new(
        obj: Object,
        checked_out: Instant,
        location: &'static Location<'static>,
    ) -> Self {
        if let Some(lease) = &obj.meta.lease {
            lease.begin(checked_out, location);
        }
        Self { obj, checked_out }
    }

    statement_methods!(self => exec: self.obj.client, meta: self.obj.meta, retry_stale: true, failed: {}, seen: {},
        doc_head: "# async fn f(pool: keel_db_pool::Pool) -> Result<(), keel_db_pool::Error> {\nlet x = pool.get().await?;",
        doc_tail: "# Ok(()) }");

    /// The parameter types of `sql`, for [`StatementMode::Unnamed`](crate::StatementMode::Unnamed).
    ///
    /// A named statement is prepared and closed inside a transaction, so a transaction
    /// pooler keeps the same server connection for both (and no statement is left
    /// behind on it). When the connection already has a transaction open (a raw
    /// `BEGIN`), that one pins the server and is left alone: a transaction's first
    /// statement is the only one whose start time equals the transaction's.
    async fn learn_types(
        &self,
        sql: &str,
    ) -> Result<std::sync::Arc<[tokio_postgres::types::Type]>, Error> {
        let client: &tokio_postgres::Client = &self.obj.client;
        let in_transaction = client
            .simple_query("SELECT now() <> statement_timestamp()")
            .await
            .map_err(|e| self.observe(e))?
            .iter()
            .any(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(r) if r.get(0) == Some("t")));
        if in_transaction {
            let stmt = client.prepare(sql).await.map_err(|e| self.observe(e))?;
            return Ok(stmt.params().into());
        }
        // Cancelled between BEGIN and COMMIT, the connection would go back to the pool
        // inside a transaction: it is discarded instead.
        let guard = DiscardUnlessFinished(&self.obj.meta);
        // Polled in order: BEGIN is queued before the Parse, in one round trip.
        let (begin, prepared) =
            futures_util::future::join(client.batch_execute("BEGIN"), client.prepare(sql)).await;
        let types = match (begin, prepared) {
            (Ok(()), Ok(stmt)) => Ok(std::sync::Arc::from(stmt.params())),
            (Err(e), _) | (_, Err(e)) => Err(self.observe(e)),
        };
        let end = if types.is_ok() { "COMMIT" } else { "ROLLBACK" };
        client
            .batch_execute(end)
            .await
            .map_err(|e| self.observe(e))?;
        std::mem::forget(guard);
        types
    }

    /// How long this connection has been checked out.
    pub fn held_for(&self) -> Duration {
        self.checked_out.elapsed()
    }

    /// The driver client with its statement cache (same as `Deref`).
    pub fn client(&self) -> &ClientWrapper {
        &self.obj.client
    }

    /// Marks this connection so the pool closes it instead of handing it out again
    /// (e.g. after changing session state that must not leak to the next user).
    pub fn discard(self) {
        self.obj.meta.broken.store(true, Ordering::Relaxed);
        self.obj.meta.cause.set(crate::metrics::CloseCause::Broken);
    }

    /// Runs `f` in a transaction with default options; see
    /// [`Pool::transaction`](crate::Pool::transaction).
    ///
    /// # Errors
    /// `f`'s error, or [`Error`] (converted with `E::from`) when BEGIN or COMMIT fails.
    pub async fn transaction<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: for<'c> FnMut(&'c mut Transaction<'_>) -> BoxFuture<'c, Result<T, E>> + Send,
        E: From<Error> + Send,
        T: Send,
    {
        self.transaction_with(&TransactionOptions::default(), f)
            .await
    }

    /// Runs `f` in a transaction with `options` (isolation, read only, retries); see
    /// [`Pool::transaction_with`](crate::Pool::transaction_with).
    ///
    /// # Errors
    /// `f`'s error, or [`Error`] (converted with `E::from`) when BEGIN or COMMIT fails.
    pub async fn transaction_with<T, E, F>(
        &mut self,
        options: &TransactionOptions,
        f: F,
    ) -> Result<T, E>
    where
        F: for<'c> FnMut(&'c mut Transaction<'_>) -> BoxFuture<'c, Result<T, E>> + Send,
        E: From<Error> + Send,
        T: Send,
    {
        let conn = &mut *self.obj;
        transaction::run(&mut conn.client, &conn.meta, options, f).await
    }
}

/// Marks the connection broken when dropped (disarmed with `mem::forget`).
struct DiscardUnlessFinished<'a>(&'a crate::manager::ConnMeta);

impl Drop for DiscardUnlessFinished<'_> {
    fn drop(&mut self) {
        self.0.broken.store(true, Ordering::Relaxed);
        self.0.cause.set(crate::metrics::CloseCause::Broken);
    }
}

impl Deref for Connection {
    type Target = ClientWrapper;

    fn deref(&self) -> &ClientWrapper {
        &self.obj.client
    }
}

impl DerefMut for Connection {
    fn deref_mut(&mut self) -> &mut ClientWrapper {
        &mut self.obj.client
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        let meta = &self.obj.meta;
        if let Some(leak) = meta.lease.as_ref().and_then(|l| l.end(Instant::now)) {
            tracing::info!(
                pool = %meta.shared.config.name,
                held_ms = u64::try_from(leak.held.as_millis()).unwrap_or(u64::MAX),
                location = %leak.location,
                "a database connection reported as possibly leaked was returned"
            );
        }
        if self.obj.client.is_closed() && !meta.broken.swap(true, Ordering::Relaxed) {
            meta.cause.set(crate::metrics::CloseCause::Broken);
            meta.shared.connection_lost(meta.created_ns);
        }
    }
}
