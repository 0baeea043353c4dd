//! What every PostgreSQL store shares (feature `postgres`): the pool, the schema, the
//! store's statements with that schema baked in, and one way to run them — a database error
//! is logged once here (never shown to clients) and wrapped as [`Error::Store`].
//!
//! A store is `pg_store! { pub struct PgFooStore(Sql); }` plus `impl Statements for Sql`;
//! the macro writes its public constructors (`new`, `with_schema`), `schema()` and `Debug`.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use keel_db_pool::tokio_postgres::types::FromSql;
use keel_db_pool::{BoxFuture, Pool, Row, ToSql, Transaction};

use crate::error::{Error, Result};
use crate::migrations::{DEFAULT_SCHEMA, check_schema};

/// A store's SQL statements, built once per store from its (checked) schema name.
///
/// Table names are schema-qualified in the text: a cached prepared statement never
/// resolves through another schema's search path.
pub(crate) trait Statements: Send + Sync + 'static {
    /// What the store keeps, for log lines ("refresh tokens").
    const STORE: &'static str;

    /// The statements for the tables in `schema` (already checked by [`check_schema`]).
    fn new(schema: &str) -> Self;
}

/// A pool plus the statements of one store.
pub(crate) struct PgStore<S> {
    pool: Pool,
    schema: Arc<str>,
    sql: Arc<S>,
}

impl<S> Clone for PgStore<S> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            schema: Arc::clone(&self.schema),
            sql: Arc::clone(&self.sql),
        }
    }
}

/// Parameters of a statement, as keel-db-pool takes them.
pub(crate) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

impl<S: Statements> PgStore<S> {
    /// The store over `pool` with its tables in [`DEFAULT_SCHEMA`].
    pub(crate) fn new(pool: Pool) -> Self {
        Self::in_schema(pool, DEFAULT_SCHEMA)
    }

    /// The store over `pool` with its tables in `schema`.
    pub(crate) fn with_schema(pool: Pool, schema: &str) -> Result<Self> {
        check_schema(schema)?;
        Ok(Self::in_schema(pool, schema))
    }

    fn in_schema(pool: Pool, schema: &str) -> Self {
        Self {
            pool,
            schema: schema.into(),
            sql: Arc::new(S::new(schema)),
        }
    }

    /// The schema holding the tables.
    pub(crate) fn schema(&self) -> &str {
        &self.schema
    }

    /// The statements.
    pub(crate) fn sql(&self) -> &S {
        &self.sql
    }

    // The runners are `#[track_caller]` functions that call the pool before returning their
    // future, so keel-db-pool's leak warnings name the store method, not this file.

    /// [`Pool::execute`]: the number of rows affected.
    #[track_caller]
    pub(crate) fn execute<'a>(
        &'a self,
        sql: &'a str,
        params: Params<'a>,
    ) -> impl Future<Output = Result<u64>> + Send + 'a {
        let run = self.pool.execute(sql, params);
        async move { run.await.map_err(db_error::<S>) }
    }

    /// [`Pool::query`]: every row.
    #[track_caller]
    pub(crate) fn query<'a>(
        &'a self,
        sql: &'a str,
        params: Params<'a>,
    ) -> impl Future<Output = Result<Vec<Row>>> + Send + 'a {
        let run = self.pool.query(sql, params);
        async move { run.await.map_err(db_error::<S>) }
    }

    /// [`Pool::query_one`]: exactly one row.
    #[track_caller]
    pub(crate) fn query_one<'a>(
        &'a self,
        sql: &'a str,
        params: Params<'a>,
    ) -> impl Future<Output = Result<Row>> + Send + 'a {
        let run = self.pool.query_one(sql, params);
        async move { run.await.map_err(db_error::<S>) }
    }

    /// [`Pool::query_opt`]: at most one row.
    #[track_caller]
    pub(crate) fn query_opt<'a>(
        &'a self,
        sql: &'a str,
        params: Params<'a>,
    ) -> impl Future<Output = Result<Option<Row>>> + Send + 'a {
        let run = self.pool.query_opt(sql, params);
        async move { run.await.map_err(db_error::<S>) }
    }

    /// [`Pool::transaction`]: `f` gets the transaction and the store's statements (its own
    /// handle: the future it returns may not borrow from the caller).
    #[track_caller]
    pub(crate) fn transaction<'a, T, F>(
        &'a self,
        mut f: F,
    ) -> impl Future<Output = Result<T>> + Send + 'a
    where
        F: for<'c> FnMut(
                &'c mut Transaction<'_>,
                Arc<S>,
            ) -> BoxFuture<'c, Result<T, keel_db_pool::Error>>
            + Send
            + 'a,
        T: Send + 'a,
    {
        let sql = Arc::clone(&self.sql);
        let run = self.pool.transaction(move |tx| f(tx, Arc::clone(&sql)));
        async move { run.await.map_err(db_error::<S>) }
    }

    /// `Debug` of a store: its name and schema, nothing of the pool.
    pub(crate) fn debug(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(name)
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

/// A database error: logged here (never shown to clients), wrapped as [`Error::Store`].
fn db_error<S: Statements>(e: keel_db_pool::Error) -> Error {
    tracing::warn!(store = S::STORE, error = %e, "keel-auth PostgreSQL store failed");
    Error::store(e)
}

/// Column `idx` of `row`; a value of an unexpected type is a store error (a schema mismatch).
pub(crate) fn col<'r, T: FromSql<'r>>(row: &'r Row, idx: usize) -> Result<T> {
    row.try_get(idx).map_err(Error::store)
}

/// A row value of an unexpected shape: a schema mismatch, reported as a store error.
pub(crate) fn row_error(what: &'static str) -> Error {
    Error::store(RowError(what))
}

#[derive(Debug, thiserror::Error)]
#[error("unexpected row from the keel-auth schema: {0}")]
struct RowError(&'static str);

/// Declares a public PostgreSQL store over [`PgStore`] and writes its public constructors,
/// `schema()` and `Debug`: one definition for every store.
macro_rules! pg_store {
    ($(#[$meta:meta])* pub struct $name:ident($sql:ty);) => {
        $(#[$meta])*
        #[derive(Clone)]
        pub struct $name {
            pg: $crate::pg::PgStore<$sql>,
        }

        impl $name {
            /// A store over `pool` using the tables in
            /// [`DEFAULT_SCHEMA`](crate::migrations::DEFAULT_SCHEMA) (`keel_auth`).
            #[must_use]
            pub fn new(pool: keel_db_pool::Pool) -> Self {
                Self { pg: $crate::pg::PgStore::new(pool) }
            }

            /// A store over `pool` using the tables in `schema` (where
            /// [`migrations::apply`](crate::migrations::apply) put them).
            ///
            /// # Errors
            /// [`Error::Config`](crate::Error::Config) for an invalid schema name (see
            /// [`check_schema`](crate::migrations::check_schema)).
            pub fn with_schema(pool: keel_db_pool::Pool, schema: &str) -> $crate::Result<Self> {
                Ok(Self { pg: $crate::pg::PgStore::with_schema(pool, schema)? })
            }

            /// The schema holding the tables.
            #[must_use]
            pub fn schema(&self) -> &str {
                self.pg.schema()
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                self.pg.debug(stringify!($name), f)
            }
        }
    };
}
pub(crate) use pg_store;
