//! The deadpool [`Manager`]: opens connections through `deadpool_postgres` (statement
//! cache included), applies the session setup, and decides at checkout whether an idle
//! connection may be reused (broken, invalidated, expired, idle too long to trust).

use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use deadpool_postgres::ClientWrapper;

use crate::Error;
use crate::config::Config;
use crate::error::{Class, classify};
use crate::lease::{LeaseSlot, Leases};
use crate::metrics::{CauseCell, CloseCause, Stats};
use crate::statement::TypeCache;

pub(crate) type DeadPool = managed::Pool<Manager>;
pub(crate) type WeakPool = managed::WeakPool<Manager>;
pub(crate) type Object = managed::Object<Manager>;

/// State shared by the pool handle, its connections and the maintenance task.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) stats: Stats,
    pub(crate) leases: Leases,
    /// Parameter types per SQL text (`StatementMode::Unnamed`).
    pub(crate) statement_types: TypeCache,
    /// Time base for the `*_ns` fields.
    epoch: Instant,
    /// Connections created before this (ns since `epoch`) must not be reused: they
    /// predate a detected server restart. 0 = none.
    invalidated_before: AtomicU64,
    pub(crate) pool: OnceLock<WeakPool>,
}

impl Shared {
    pub(crate) fn new(config: Config) -> Self {
        Self {
            stats: Stats::new(&config.name),
            config,
            leases: Leases::default(),
            statement_types: TypeCache::default(),
            epoch: Instant::now(),
            invalidated_before: AtomicU64::new(0),
            pool: OnceLock::new(),
        }
    }

    pub(crate) fn ns(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    pub(crate) fn is_invalidated(&self, created_ns: u64) -> bool {
        created_ns < self.invalidated_before.load(Ordering::Acquire)
    }

    fn upgrade(&self) -> Option<DeadPool> {
        self.pool.get().and_then(WeakPool::upgrade)
    }

    /// A connection opened at `created_ns` found the server gone. Unless that
    /// connection already predates an invalidation (so this restart was handled),
    /// every connection opened before now is retired: idle ones at once, checked-out
    /// ones when returned. SQLAlchemy's "optimistic invalidation", debounced so the
    /// many errors of one restart drain once and never kill fresh connections.
    pub(crate) fn connection_lost(&self, created_ns: u64) {
        if self.is_invalidated(created_ns) {
            return;
        }
        let drained = self.invalidate_before(self.ns(Instant::now()));
        tracing::warn!(
            pool = %self.config.name,
            drained,
            "database connection lost; dropped the idle connections opened before it"
        );
    }

    /// Retires every connection opened before `now_ns`; returns how many idle ones
    /// were closed.
    pub(crate) fn invalidate_before(&self, now_ns: u64) -> usize {
        self.invalidated_before.fetch_max(now_ns, Ordering::AcqRel);
        self.stats.invalidations.fetch_add(1, Ordering::Relaxed);
        let Some(pool) = self.upgrade() else { return 0 };
        let removed = pool
            .retain(|c, _| {
                if c.meta.created_ns < now_ns {
                    c.meta.cause.set(CloseCause::Invalidated);
                    false
                } else {
                    true
                }
            })
            .removed;
        removed.len()
    }

    /// Forgets every cached prepared statement and learned parameter types (after a
    /// schema change).
    pub(crate) fn clear_statement_caches(&self) {
        self.statement_types.clear();
        if let Some(pool) = self.upgrade() {
            pool.manager().pg.statement_caches.clear();
        }
    }
}

/// A pooled connection: the driver client plus what the pool tracks about it.
#[derive(Debug)]
pub(crate) struct PgConn {
    pub(crate) client: ClientWrapper,
    pub(crate) meta: ConnMeta,
}

/// Bookkeeping of one connection, borrowable next to `&mut client`.
#[derive(Debug)]
pub(crate) struct ConnMeta {
    pub(crate) created_ns: u64,
    expires: Option<Instant>,
    /// Last checkout, ns since the pool's epoch (idle time is measured from it, so
    /// returning a connection costs no clock read).
    pub(crate) checked_out_ns: AtomicU64,
    pub(crate) cause: CauseCell,
    pub(crate) broken: AtomicBool,
    pub(crate) lease: Option<Arc<LeaseSlot>>,
    pub(crate) shared: Arc<Shared>,
}

impl ConnMeta {
    /// Classifies a driver error from this connection, retiring the connection (and
    /// draining older idle ones) when it shows the server went away, and clearing the
    /// statement caches on a stale cached plan.
    pub(crate) fn observe(&self, e: tokio_postgres::Error) -> Error {
        let class = classify(&e);
        match class {
            Class::Lost => {
                self.broken.store(true, Ordering::Relaxed);
                self.cause.set(CloseCause::Broken);
                self.shared.connection_lost(self.created_ns);
            }
            Class::StalePlan => {
                tracing::info!(
                    pool = %self.shared.config.name,
                    "cached plan went stale after a schema change; clearing statement caches"
                );
                self.shared.clear_statement_caches();
            }
            _ => {}
        }
        Error::from_driver(e, class)
    }

    pub(crate) fn expired(&self, now: Instant) -> bool {
        self.expires.is_some_and(|e| now >= e)
    }

    pub(crate) fn idle_for(&self, now_ns: u64) -> Duration {
        Duration::from_nanos(now_ns.saturating_sub(self.checked_out_ns.load(Ordering::Relaxed)))
    }
}

impl Drop for PgConn {
    fn drop(&mut self) {
        self.meta.shared.stats.closed(self.meta.cause.get());
    }
}

/// Opens and checks connections for deadpool.
pub(crate) struct Manager {
    pub(crate) pg: deadpool_postgres::Manager,
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager")
            .field("pool", &self.shared.config.name)
            .finish_non_exhaustive()
    }
}

/// A uniform random number in `[0, 1)`.
pub(crate) fn random_fraction() -> f64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    #[allow(clippy::cast_precision_loss)]
    let f = (h.finish() >> 11) as f64 / (1u64 << 53) as f64;
    f
}

/// `lifetime` shortened by a random part of `jitter`.
pub(crate) fn jittered(lifetime: Duration, jitter: Duration) -> Duration {
    lifetime.saturating_sub(jitter.mul_f64(random_fraction()))
}

impl managed::Manager for Manager {
    type Type = PgConn;
    type Error = Error;

    async fn create(&self) -> Result<PgConn, Error> {
        let shared = &self.shared;
        let config = &shared.config;
        let fail = |e: Error| {
            shared.stats.connect_errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(pool = %config.name, error = %e, "could not open a database connection");
            e
        };
        let client = self
            .pg
            .create()
            .await
            .map_err(|e| fail(Error::opening(e)))?;
        if let Some(sql) = &config.session_sql {
            client
                .batch_execute(sql)
                .await
                .map_err(|e| fail(Error::connect(e)))?;
        }
        if let Some(hook) = &config.on_connect {
            hook(&client).await.map_err(|e| fail(Error::connect(e)))?;
        }
        let now = Instant::now();
        let created_ns = shared.ns(now);
        shared.stats.created.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(pool = %config.name, "opened a database connection");
        Ok(PgConn {
            client,
            meta: ConnMeta {
                created_ns,
                expires: config
                    .max_lifetime
                    .map(|life| now + jittered(life, config.max_lifetime_jitter)),
                checked_out_ns: AtomicU64::new(created_ns),
                cause: CauseCell::default(),
                broken: AtomicBool::new(false),
                lease: config.leak_threshold.map(|_| shared.leases.register()),
                shared: Arc::clone(shared),
            },
        })
    }

    /// The cheap checks, run under deadpool's checkout: no clock read, no I/O. The
    /// time-based ones (lifetime, verify-if-idle) run in `Pool::get` with the clock
    /// reading it needs anyway.
    async fn recycle(&self, conn: &mut PgConn, _: &Metrics) -> RecycleResult<Error> {
        let meta = &conn.meta;
        let reject = |cause: CloseCause, why: &'static str| {
            meta.cause.set(cause);
            tracing::debug!(pool = %self.shared.config.name, why, "not reusing a database connection");
            Err(RecycleError::message(why))
        };
        if meta.broken.load(Ordering::Relaxed) {
            return reject(CloseCause::Broken, "connection broken");
        }
        if conn.client.is_closed() {
            self.shared.connection_lost(meta.created_ns);
            return reject(CloseCause::Broken, "connection closed");
        }
        if self.shared.is_invalidated(meta.created_ns) {
            return reject(
                CloseCause::Invalidated,
                "connection predates a server restart",
            );
        }
        self.shared.stats.recycled.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn detach(&self, conn: &mut PgConn) {
        self.pg.detach(&mut conn.client);
    }
}

/// The driver-level manager, plain or TLS.
pub(crate) fn pg_manager(config: &Config) -> deadpool_postgres::Manager {
    // Recycling checks are ours; the inner manager only opens connections.
    let mc = deadpool_postgres::ManagerConfig::default();
    #[cfg(feature = "rustls")]
    if let Some(tls) = &config.tls.client {
        return deadpool_postgres::Manager::from_config(
            config.pg.clone(),
            tokio_postgres_rustls::MakeRustlsConnect::new(tls.clone()),
            mc,
        );
    }
    deadpool_postgres::Manager::from_config(config.pg.clone(), tokio_postgres::NoTls, mc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_in_range() {
        let life = Duration::from_secs(1800);
        let jitter = Duration::from_secs(180);
        let mut seen_low = false;
        let mut seen_high = false;
        for _ in 0..1000 {
            let d = jittered(life, jitter);
            assert!(d <= life && d >= life - jitter, "{d:?}");
            seen_low |= d < life - jitter / 2;
            seen_high |= d > life - jitter / 2;
        }
        assert!(seen_low && seen_high, "jitter is not spread");
        assert_eq!(jittered(life, Duration::ZERO), life);
    }
}
