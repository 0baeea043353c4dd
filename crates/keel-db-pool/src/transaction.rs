//! [`Transaction`], [`TransactionOptions`] and [`RetryPolicy`]: closure-scoped
//! transactions that commit on `Ok` and roll back on `Err`, panic or cancellation.

use std::ops::{Deref, DerefMut};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use deadpool_postgres::ClientWrapper;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use tokio_postgres::IsolationLevel;

use crate::Error;
use crate::connection::statement_methods;
use crate::manager::{ConnMeta, random_fraction};

/// An open transaction, lent to the closure given to
/// [`Pool::transaction`](crate::Pool::transaction).
///
/// The statement helpers ([`query`](Transaction::query),
/// [`execute`](Transaction::execute), …) use the connection's statement cache and
/// return classified [`Error`]s; they also record serialization failures and
/// deadlocks so a [`RetryPolicy`] knows to run the closure again. Savepoints, `COPY`
/// and the rest of `tokio_postgres::Transaction` are reachable through `Deref`.
pub struct Transaction<'a> {
    tx: deadpool_postgres::Transaction<'a>,
    meta: &'a ConnMeta,
    retryable_seen: AtomicBool,
    /// A statement failed: unless a savepoint rolled back to, the transaction is
    /// aborted and COMMIT would silently roll back.
    failed_seen: AtomicBool,
}

impl std::fmt::Debug for Transaction<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("retryable_seen", &self.retryable_seen)
            .field("failed_seen", &self.failed_seen)
            .finish_non_exhaustive()
    }
}

impl<'a> Transaction<'a> {
    statement_methods!(self => exec: self.tx, meta: self.meta, retry_stale: false,
        failed: { self.failed_seen.store(true, Ordering::Relaxed); },
        seen: { self.retryable_seen.store(true, Ordering::Relaxed); },
        doc_head: "# async fn f(pool: keel_db_pool::Pool) -> Result<(), keel_db_pool::Error> {\npool.transaction(|x| Box::pin(async move {",
        doc_tail: "Ok::<(), keel_db_pool::Error>(())\n})).await?;\n# Ok(()) }");

    /// The parameter types of `sql` for `StatementMode::Unnamed`: the transaction pins
    /// the server connection, so a named statement prepared and closed here is safe
    /// behind a transaction pooler.
    async fn learn_types(
        &self,
        sql: &str,
    ) -> Result<std::sync::Arc<[tokio_postgres::types::Type]>, Error> {
        let stmt = self.tx.prepare(sql).await.map_err(|e| self.observe(e))?;
        Ok(stmt.params().into())
    }

    /// Whether a statement of this transaction failed with a serialization failure,
    /// deadlock or stale plan (so the transaction may succeed if run again).
    pub fn saw_retryable_error(&self) -> bool {
        self.retryable_seen.load(Ordering::Relaxed)
    }
}

impl<'a> Deref for Transaction<'a> {
    type Target = deadpool_postgres::Transaction<'a>;

    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl DerefMut for Transaction<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

/// Retries of a transaction that failed with a serialization failure (`40001`),
/// deadlock (`40P01`) or stale cached plan, with exponential backoff and jitter.
///
/// A retry runs the whole closure again, so keep side effects outside the database
/// (emails, HTTP calls) out of it.
///
/// ```
/// use std::time::Duration;
/// use keel_db_pool::RetryPolicy;
///
/// let policy = RetryPolicy::new(5).with_backoff(Duration::from_millis(5), Duration::from_millis(200));
/// assert_eq!(policy.max_attempts(), 5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// 3 attempts, backoff 10 ms doubling up to 500 ms.
    fn default() -> Self {
        Self {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(500),
        }
    }
}

impl RetryPolicy {
    /// At most `max_attempts` runs in total (at least 1), default backoff.
    pub fn new(max_attempts: u32) -> Self {
        Self {
            max_attempts: max_attempts.max(1),
            ..Self::default()
        }
    }

    /// Backoff before the second attempt, doubling per attempt up to `max`.
    #[must_use]
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }

    /// Total attempts allowed.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The pause after failed attempt `attempt` (1-based): the exponential step,
    /// scaled by a random factor in `[0.5, 1)` so contending transactions spread out.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .initial_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        exp.min(self.max_backoff)
            .mul_f64(0.5 + random_fraction() / 2.0)
    }
}

/// Options of [`Pool::transaction_with`](crate::Pool::transaction_with).
///
/// ```
/// use keel_db_pool::{RetryPolicy, TransactionOptions};
///
/// let opts = TransactionOptions::new().serializable().retry(RetryPolicy::default());
/// let report = TransactionOptions::new().read_only();
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct TransactionOptions {
    isolation: Option<IsolationLevel>,
    read_only: bool,
    deferrable: bool,
    retry: Option<RetryPolicy>,
}

impl TransactionOptions {
    /// Server-default isolation (READ COMMITTED unless configured), read-write, no
    /// retries.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the isolation level.
    pub fn isolation(mut self, level: IsolationLevel) -> Self {
        self.isolation = Some(level);
        self
    }

    /// `SERIALIZABLE`; pair it with [`retry`](Self::retry).
    pub fn serializable(self) -> Self {
        self.isolation(IsolationLevel::Serializable)
    }

    /// `READ ONLY`.
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    /// `DEFERRABLE` (only meaningful with serializable + read only).
    pub fn deferrable(mut self) -> Self {
        self.deferrable = true;
        self
    }

    /// Retries serialization failures and deadlocks (off by default).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }
}

/// Runs `f` in a transaction on `client`, with retries per `options`.
pub(crate) async fn run<T, E, F>(
    client: &mut ClientWrapper,
    meta: &ConnMeta,
    options: &TransactionOptions,
    mut f: F,
) -> Result<T, E>
where
    F: for<'c> FnMut(&'c mut Transaction<'_>) -> BoxFuture<'c, Result<T, E>> + Send,
    E: From<Error> + Send,
    T: Send,
{
    let max_attempts = options.retry.map_or(1, |r| r.max_attempts);
    let mut attempt = 1;
    loop {
        let mut builder = client.build_transaction();
        if let Some(level) = options.isolation {
            builder = builder.isolation_level(level);
        }
        if options.read_only {
            builder = builder.read_only(true);
        }
        if options.deferrable {
            builder = builder.deferrable(true);
        }
        let tx = match builder.start().await {
            Ok(tx) => tx,
            Err(e) => return Err(E::from(meta.observe(e))),
        };
        // SessionSetup::SetLocal: the session settings, for this transaction only.
        if let Some(sql) = &meta.shared.config.set_local_sql {
            if let Err(e) = tx.batch_execute(sql).await {
                return Err(E::from(meta.observe(e)));
            }
        }
        let mut tx = Transaction {
            tx,
            meta,
            retryable_seen: AtomicBool::new(false),
            failed_seen: AtomicBool::new(false),
        };
        // If this future is dropped (cancelled) here, dropping the driver transaction
        // sends ROLLBACK before the connection can be reused.
        let outcome = AssertUnwindSafe(f(&mut tx)).catch_unwind().await;
        let Transaction {
            tx,
            retryable_seen,
            failed_seen,
            ..
        } = tx;
        let retryable_seen = retryable_seen.into_inner();
        match outcome {
            Err(panic) => {
                if let Err(e) = tx.rollback().await {
                    let _ = meta.observe(e);
                }
                std::panic::resume_unwind(panic);
            }
            Ok(Ok(value)) => {
                // The closure swallowed a statement error. If the transaction is
                // aborted (no savepoint recovered it), COMMIT would answer ROLLBACK
                // without an error: report it instead of a success that did not happen.
                let aborted = if failed_seen.into_inner() {
                    tx.batch_execute("SELECT 1").await.err()
                } else {
                    None
                };
                if let Some(e) = aborted {
                    let err = meta.observe(e);
                    if let Err(e) = tx.rollback().await {
                        let _ = meta.observe(e);
                    }
                    if !(retryable_seen && attempt < max_attempts) {
                        return Err(E::from(err));
                    }
                    tracing::debug!(
                        attempt,
                        "transaction was aborted by a serialization failure or deadlock; retrying"
                    );
                } else {
                    match tx.commit().await {
                        Ok(()) => return Ok(value),
                        Err(e) => {
                            let err = meta.observe(e);
                            if !(err.is_retryable() && attempt < max_attempts) {
                                return Err(E::from(err));
                            }
                            tracing::debug!(attempt, error = %err, "transaction commit failed; retrying");
                        }
                    }
                }
            }
            Ok(Err(err)) => {
                if let Err(e) = tx.rollback().await {
                    let _ = meta.observe(e);
                }
                if !(retryable_seen && attempt < max_attempts) {
                    return Err(err);
                }
                tracing::debug!(
                    attempt,
                    "transaction hit a serialization failure or deadlock; retrying"
                );
            }
        }
        if let Some(policy) = options.retry {
            tokio::time::sleep(policy.backoff(attempt)).await;
        }
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::new(10)
            .with_backoff(Duration::from_millis(10), Duration::from_millis(100));
        for _ in 0..100 {
            let b1 = p.backoff(1);
            assert!(
                b1 >= Duration::from_millis(5) && b1 < Duration::from_millis(10),
                "{b1:?}"
            );
            let b3 = p.backoff(3);
            assert!(
                b3 >= Duration::from_millis(20) && b3 < Duration::from_millis(40),
                "{b3:?}"
            );
            let b9 = p.backoff(9);
            assert!(
                b9 >= Duration::from_millis(50) && b9 < Duration::from_millis(100),
                "{b9:?}"
            );
        }
        assert!(RetryPolicy::new(u32::MAX).backoff(u32::MAX) <= Duration::from_millis(500));
        assert_eq!(RetryPolicy::new(0).max_attempts(), 1);
    }
}
