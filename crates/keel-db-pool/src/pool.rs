//! [`Pool`]: the handle services clone into their state.

use std::future::Future;
use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use deadpool::Runtime;
use deadpool::managed::{PoolError, TimeoutType, Timeouts};
use futures_util::future::BoxFuture;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::config::{Config, QueueMode, Recycling};
use crate::connection::Connection;
use crate::error::{Class, classify};
use crate::manager::{DeadPool, Manager, Object, Shared, pg_manager};
use crate::metrics::CloseCause;
use crate::metrics::{PoolStats, PoolStatus};
use crate::transaction::{Transaction, TransactionOptions};
use crate::{Error, maintenance};

/// A PostgreSQL connection pool. Cheap to clone (an `Arc`); all clones share the
/// connections. Dropping the last clone closes idle connections and stops the
/// background task.
///
/// ```no_run
/// use keel_db_pool::{Config, Pool};
///
/// # async fn f() -> Result<(), keel_db_pool::Error> {
/// let pool = Pool::new(Config::from_env()?)?;       // lazy: never fails on a down DB
/// let n: i64 = pool.query_one("SELECT count(*) FROM users", &[]).await?.get(0);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Pool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    pool: DeadPool,
    shared: Arc<Shared>,
    timeouts: Timeouts,
    maintenance: tokio::task::JoinHandle<()>,
}

impl Drop for PoolInner {
    fn drop(&mut self) {
        self.maintenance.abort();
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("name", &self.inner.shared.config.name)
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// Builds a pool without connecting (lazy): a database that is down at startup
    /// does not fail this; the first `get()` does, with a typed error. Starts the
    /// background maintenance task, which opens `min_idle` connections (best effort).
    ///
    /// # Errors
    /// [`Error::Config`] when called outside a Tokio runtime.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), keel_db_pool::Error> {
    /// let config = keel_db_pool::Config::from_url("postgres://app@127.0.0.1:1/app")?;
    /// let pool = keel_db_pool::Pool::new(config)?; // nothing listens on port 1: still fine
    /// assert!(pool.get().await.unwrap_err().is_unavailable());
    /// # Ok(()) }
    /// ```
    pub fn new(config: Config) -> Result<Self, Error> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::Config("Pool::new must be called inside a Tokio runtime".to_owned())
        })?;
        let timeouts = Timeouts {
            // The wait is bounded as a whole in `get`, connecting included.
            wait: None,
            create: Some(config.connect_timeout),
            // Our recycle hook does no I/O; verification runs in `get` with its own
            // timeout, so deadpool does not need to arm a timer per checkout.
            recycle: None,
        };
        let queue_mode = match config.queue_mode {
            QueueMode::Fifo => deadpool::managed::QueueMode::Fifo,
            QueueMode::Lifo => deadpool::managed::QueueMode::Lifo,
        };
        let pg = pg_manager(&config);
        let max_size = config.max_size;
        let shared = Arc::new(Shared::new(config));
        let manager = Manager {
            pg,
            shared: Arc::clone(&shared),
        };
        let pool = DeadPool::builder(manager)
            .max_size(max_size)
            .queue_mode(queue_mode)
            .timeouts(timeouts)
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| Error::Config(e.to_string()))?;
        let _ = shared.pool.set(pool.weak());
        let maintenance = runtime.spawn(maintenance::run(pool.weak(), Arc::clone(&shared)));
        Ok(Self {
            inner: Arc::new(PoolInner {
                pool,
                shared,
                timeouts,
                maintenance,
            }),
        })
    }

    /// [`Config::from_url`] then [`Pool::new`].
    ///
    /// # Errors
    /// [`Error::Config`] for a bad URL or outside a Tokio runtime.
    pub fn from_url(url: &str) -> Result<Self, Error> {
        Self::new(Config::from_url(url)?)
    }

    /// Builds the pool and waits until a connection works, retrying with backoff for
    /// up to the configured `startup_timeout` (zero: one attempt, fail fast). Use it
    /// when the service should not start without its database; use [`Pool::new`] to
    /// start anyway and report readiness through [`ping`](Pool::ping).
    ///
    /// # Errors
    /// The last connection error when the database stays unreachable, or
    /// [`Error::Config`].
    pub async fn connect(config: Config) -> Result<Self, Error> {
        let deadline = Instant::now() + config.startup_timeout;
        let pool = Self::new(config)?;
        let mut delay = Duration::from_millis(100);
        loop {
            match pool.ping().await {
                Ok(_) => return Ok(pool),
                // A rejected certificate does not fix itself: fail at once.
                Err(e)
                    if e.is_unavailable()
                        && e.tls_failure().is_none()
                        && Instant::now() + delay < deadline =>
                {
                    tracing::warn!(
                        pool = %pool.inner.shared.config.name,
                        error = %e,
                        retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        "database not reachable at startup; retrying"
                    );
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Checks out a connection, waiting at most the configured wait timeout in total
    /// (connecting included). The caller's location is recorded for leak warnings.
    ///
    /// # Errors
    /// [`Error::PoolTimeout`] when the pool stays saturated, [`Error::Connect`] when a
    /// new connection cannot be opened, [`Error::PoolClosed`].
    #[track_caller]
    pub fn get(&self) -> impl Future<Output = Result<Connection, Error>> + Send + '_ {
        let location = Location::caller();
        self.get_at(location)
    }

    pub(crate) async fn get_at(
        &self,
        location: &'static Location<'static>,
    ) -> Result<Connection, Error> {
        let inner = &*self.inner;
        let shared = &inner.shared;
        let config = &shared.config;
        let start = tokio::time::Instant::now();
        let deadline = start + config.wait_timeout;
        loop {
            let obj =
                match tokio::time::timeout_at(deadline, inner.pool.timeout_get(&inner.timeouts))
                    .await
                {
                    Ok(Ok(obj)) => obj,
                    Ok(Err(e)) => return Err(self.pool_error(e, start.into_std())),
                    Err(_) => return Err(self.timed_out(start.into_std())),
                };
            // The one clock read of a checkout: wait time, lease start, lifetime and
            // idle checks.
            let now = Instant::now();
            let now_ns = shared.ns(now);
            let meta = &obj.meta;
            if meta.expired(now) {
                meta.cause.set(CloseCause::Lifetime);
                drop(Object::take(obj));
                continue;
            }
            let verify = match config.recycling {
                Recycling::Fast => false,
                Recycling::Verified => true,
                Recycling::VerifyIfIdle(after) => meta.idle_for(now_ns) >= after,
            };
            if verify {
                shared.stats.verified.fetch_add(1, Ordering::Relaxed);
                let until =
                    deadline.min(tokio::time::Instant::from_std(now) + config.recycle_timeout);
                match tokio::time::timeout_at(until, obj.client.simple_query("")).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        meta.cause.set(CloseCause::Broken);
                        if classify(&e) == Class::Lost {
                            shared.connection_lost(meta.created_ns);
                        }
                        tracing::debug!(pool = %config.name, error = %e, "checkout verification failed; trying another connection");
                        drop(Object::take(obj));
                        continue;
                    }
                    Err(_) => {
                        meta.cause.set(CloseCause::Error);
                        tracing::debug!(pool = %config.name, "checkout verification timed out; trying another connection");
                        drop(Object::take(obj));
                        continue;
                    }
                }
            }
            meta.checked_out_ns.store(now_ns, Ordering::Relaxed);
            shared
                .stats
                .record_wait(now.saturating_duration_since(start.into_std()));
            return Ok(Connection::new(obj, now, location));
        }
    }

    fn timed_out(&self, start: Instant) -> Error {
        let shared = &self.inner.shared;
        shared.stats.timeouts.fetch_add(1, Ordering::Relaxed);
        let waited = start.elapsed();
        let status = self.status();
        tracing::warn!(
            pool = %shared.config.name,
            waited_ms = u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
            size = status.size,
            in_use = status.in_use,
            waiting = status.waiting,
            "timed out waiting for a database connection"
        );
        Error::PoolTimeout { waited }
    }

    fn pool_error(&self, e: PoolError<Error>, start: Instant) -> Error {
        let shared = &self.inner.shared;
        match e {
            PoolError::Backend(e) => e,
            PoolError::Timeout(TimeoutType::Create) => {
                shared.stats.connect_errors.fetch_add(1, Ordering::Relaxed);
                Error::connect(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "opening a connection took longer than {:?}",
                        shared.config.connect_timeout
                    ),
                ))
            }
            PoolError::Timeout(_) => self.timed_out(start),
            PoolError::Closed => Error::PoolClosed,
            PoolError::NoRuntimeSpecified => Error::Config("no runtime".to_owned()),
            PoolError::PostCreateHook(e) => Error::connect(e.to_string()),
        }
    }

    /// Runs `f` in a transaction: commits when it returns `Ok`, rolls back when it
    /// returns `Err`, panics (the panic then continues) or is cancelled.
    ///
    /// # Errors
    /// `f`'s error, or the pool's [`Error`] converted with `E::from` (checkout,
    /// BEGIN, COMMIT).
    ///
    /// ```no_run
    /// # async fn f(pool: keel_db_pool::Pool) -> Result<(), keel_db_pool::Error> {
    /// let id: i64 = pool
    ///     .transaction(|tx| {
    ///         Box::pin(async move {
    ///             let row = tx.query_one("INSERT INTO orders (total) VALUES ($1) RETURNING id", &[&990_i64]).await?;
    ///             let id: i64 = row.get(0);
    ///             tx.execute("INSERT INTO audit (order_id) VALUES ($1)", &[&id]).await?;
    ///             Ok::<_, keel_db_pool::Error>(id)
    ///         })
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    #[track_caller]
    pub fn transaction<'p, T, E, F>(
        &'p self,
        f: F,
    ) -> impl Future<Output = Result<T, E>> + Send + 'p
    where
        F: for<'c> FnMut(&'c mut Transaction<'_>) -> BoxFuture<'c, Result<T, E>> + Send + 'p,
        E: From<Error> + Send + 'p,
        T: Send + 'p,
    {
        let location = Location::caller();
        async move {
            let mut conn = self.get_at(location).await?;
            conn.transaction_with(&TransactionOptions::default(), f)
                .await
        }
    }

    /// [`transaction`](Pool::transaction) with isolation level, read-only mode, and
    /// retries of serialization failures and deadlocks.
    ///
    /// # Errors
    /// As [`transaction`](Pool::transaction); after the last retry, the last error.
    ///
    /// ```no_run
    /// use keel_db_pool::{RetryPolicy, TransactionOptions};
    /// # async fn f(pool: keel_db_pool::Pool) -> Result<(), keel_db_pool::Error> {
    /// let opts = TransactionOptions::new().serializable().retry(RetryPolicy::default());
    /// pool.transaction_with(opts, |tx| {
    ///     Box::pin(async move {
    ///         tx.execute("UPDATE accounts SET balance = balance - 10 WHERE id = 1", &[]).await?;
    ///         tx.execute("UPDATE accounts SET balance = balance + 10 WHERE id = 2", &[]).await?;
    ///         Ok::<_, keel_db_pool::Error>(())
    ///     })
    /// })
    /// .await?;
    /// # Ok(()) }
    /// ```
    #[track_caller]
    pub fn transaction_with<'p, T, E, F>(
        &'p self,
        options: TransactionOptions,
        f: F,
    ) -> impl Future<Output = Result<T, E>> + Send + 'p
    where
        F: for<'c> FnMut(&'c mut Transaction<'_>) -> BoxFuture<'c, Result<T, E>> + Send + 'p,
        E: From<Error> + Send + 'p,
        T: Send + 'p,
    {
        let location = Location::caller();
        async move {
            let mut conn = self.get_at(location).await?;
            conn.transaction_with(&options, f).await
        }
    }

    /// Checks out a connection and runs [`Connection::query`].
    ///
    /// # Errors
    /// As [`get`](Pool::get) and [`Connection::query`].
    #[track_caller]
    pub fn query<'a>(
        &'a self,
        sql: &'a str,
        params: &'a [&'a (dyn ToSql + Sync)],
    ) -> impl Future<Output = Result<Vec<Row>, Error>> + Send + 'a {
        let location = Location::caller();
        async move { self.get_at(location).await?.query(sql, params).await }
    }

    /// Checks out a connection and runs [`Connection::query_one`].
    ///
    /// # Errors
    /// As [`get`](Pool::get) and [`Connection::query_one`].
    #[track_caller]
    pub fn query_one<'a>(
        &'a self,
        sql: &'a str,
        params: &'a [&'a (dyn ToSql + Sync)],
    ) -> impl Future<Output = Result<Row, Error>> + Send + 'a {
        let location = Location::caller();
        async move { self.get_at(location).await?.query_one(sql, params).await }
    }

    /// Checks out a connection and runs [`Connection::query_opt`].
    ///
    /// # Errors
    /// As [`get`](Pool::get) and [`Connection::query_opt`].
    #[track_caller]
    pub fn query_opt<'a>(
        &'a self,
        sql: &'a str,
        params: &'a [&'a (dyn ToSql + Sync)],
    ) -> impl Future<Output = Result<Option<Row>, Error>> + Send + 'a {
        let location = Location::caller();
        async move { self.get_at(location).await?.query_opt(sql, params).await }
    }

    /// Checks out a connection and runs [`Connection::execute`].
    ///
    /// # Errors
    /// As [`get`](Pool::get) and [`Connection::execute`].
    #[track_caller]
    pub fn execute<'a>(
        &'a self,
        sql: &'a str,
        params: &'a [&'a (dyn ToSql + Sync)],
    ) -> impl Future<Output = Result<u64, Error>> + Send + 'a {
        let location = Location::caller();
        async move { self.get_at(location).await?.execute(sql, params).await }
    }

    /// Health check: checks out a connection and runs an empty query; returns the
    /// query's round-trip time (checkout excluded).
    ///
    /// # Errors
    /// Any checkout or connection error.
    ///
    /// ```no_run
    /// # async fn f(pool: keel_db_pool::Pool) {
    /// match pool.ping().await {
    ///     Ok(rtt) => tracing::debug!(?rtt, "database up"),
    ///     Err(e) => tracing::warn!(error = %e, "database down"),
    /// }
    /// # }
    /// ```
    #[track_caller]
    pub fn ping(&self) -> impl Future<Output = Result<Duration, Error>> + Send + '_ {
        let location = Location::caller();
        async move {
            let conn = self.get_at(location).await?;
            let start = Instant::now();
            conn.batch_execute("").await?;
            Ok(start.elapsed())
        }
    }

    /// Connects once to check that the server meets the TLS mode, so that a mode it
    /// cannot meet (no TLS offered, a certificate from another CA or for another host)
    /// stops startup with a clear error instead of failing every checkout. A database
    /// that is merely unreachable is not an error here (readiness reports it, the pool
    /// keeps retrying). In `disable` and `prefer`, which never refuse a server, nothing
    /// connects.
    ///
    /// # Errors
    /// [`Error::Tls`]: the handshake or the certificate verification failed.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), keel_db_pool::Error> {
    /// use keel_db_pool::Pool;
    ///
    /// // Lazy: a database that is down does not stop the process …
    /// let pool = Pool::from_url("postgres://app@db:5432/app?sslmode=verify-full&sslrootcert=/etc/ca.pem")?;
    /// // … but a certificate that can never work does.
    /// pool.check_tls().await?;
    /// # Ok(()) }
    /// ```
    pub async fn check_tls(&self) -> Result<(), Error> {
        if !self.config().ssl_mode().requires_tls() {
            return Ok(());
        }
        match self.ping().await {
            Err(e) if e.tls_failure().is_some() => Err(e),
            _ => Ok(()),
        }
    }

    /// Connection counts now.
    pub fn status(&self) -> PoolStatus {
        let s = self.inner.pool.status();
        PoolStatus {
            max_size: s.max_size,
            size: s.size,
            idle: s.available,
            in_use: s.size - s.available,
            waiting: s.waiting,
        }
    }

    /// Counters, gauges and the checkout wait histogram.
    pub fn stats(&self) -> PoolStats {
        self.inner.shared.stats.snapshot(self.status())
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.shared.config
    }

    /// Closes every idle connection and retires the checked-out ones when they come
    /// back (e.g. after a failover you learned about out of band). New connections
    /// are opened on demand.
    pub fn invalidate(&self) {
        let shared = &self.inner.shared;
        let drained = shared.invalidate_before(shared.ns(Instant::now()));
        tracing::info!(pool = %shared.config.name, drained, "database pool invalidated");
    }

    /// Forgets every cached prepared statement on every connection (the pool also
    /// does this by itself on a "cached plan must not change result type" error).
    pub fn clear_statement_cache(&self) {
        self.inner.shared.clear_statement_caches();
    }

    /// Closes the pool: waiters and later `get()` calls fail with
    /// [`Error::PoolClosed`]; idle connections are closed, checked-out ones when
    /// returned.
    pub fn close(&self) {
        self.inner.pool.close();
        self.inner.maintenance.abort();
    }

    /// Whether [`close`](Pool::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.pool.is_closed()
    }
}
