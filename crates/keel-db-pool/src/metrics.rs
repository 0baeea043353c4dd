//! Pool statistics: [`PoolStatus`] (gauges), [`PoolStats`] (counters and the
//! checkout wait histogram), and the optional `metrics`-crate export.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Why a connection was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum CloseCause {
    /// Not decided: pool shut down or resized.
    Shutdown = 0,
    Lifetime = 1,
    Idle = 2,
    Broken = 3,
    Invalidated = 4,
    Error = 5,
}

impl CloseCause {
    const ALL: [Self; 6] = [
        Self::Shutdown,
        Self::Lifetime,
        Self::Idle,
        Self::Broken,
        Self::Invalidated,
        Self::Error,
    ];

    pub(crate) fn from_u8(v: u8) -> Self {
        Self::ALL
            .into_iter()
            .find(|c| *c as u8 == v)
            .unwrap_or(Self::Shutdown)
    }

    #[cfg(feature = "metrics")]
    fn label(self) -> &'static str {
        match self {
            Self::Shutdown => "shutdown",
            Self::Lifetime => "lifetime",
            Self::Idle => "idle",
            Self::Broken => "broken",
            Self::Invalidated => "invalidated",
            Self::Error => "error",
        }
    }
}

/// A settable close cause, shared by a connection and the pool.
#[derive(Debug, Default)]
pub(crate) struct CauseCell(AtomicU8);

impl CauseCell {
    pub(crate) fn set(&self, c: CloseCause) {
        self.0.store(c as u8, Relaxed);
    }
    pub(crate) fn get(&self) -> CloseCause {
        CloseCause::from_u8(self.0.load(Relaxed))
    }
}

/// Upper bounds of the wait histogram buckets; the last bucket is unbounded.
const BUCKETS_US: [u64; 11] = [
    50, 100, 500, 1_000, 5_000, 10_000, 50_000, 100_000, 500_000, 1_000_000, 5_000_000,
];

/// Counters updated with relaxed atomics on the hot path.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) created: AtomicU64,
    pub(crate) connect_errors: AtomicU64,
    pub(crate) recycled: AtomicU64,
    pub(crate) verified: AtomicU64,
    closed: [AtomicU64; 6],
    pub(crate) timeouts: AtomicU64,
    pub(crate) leaks: AtomicU64,
    pub(crate) invalidations: AtomicU64,
    slow_statements: AtomicU64,
    wait_buckets: [AtomicU64; 12],
    wait_sum_us: AtomicU64,
    #[cfg(feature = "metrics")]
    pub(crate) export: Option<Export>,
}

impl Stats {
    /// Counters for the pool named `pool` (the `metrics` label).
    pub(crate) fn new(pool: &str) -> Self {
        #[cfg(feature = "metrics")]
        return Self {
            export: Some(Export::new(pool)),
            ..Self::default()
        };
        #[cfg(not(feature = "metrics"))]
        {
            let _ = pool;
            Self::default()
        }
    }

    pub(crate) fn closed(&self, cause: CloseCause) {
        self.closed[cause as usize].fetch_add(1, Relaxed);
        #[cfg(feature = "metrics")]
        if let Some(e) = &self.export {
            e.closed[cause as usize].increment(1);
        }
    }

    /// A statement took at least the slow threshold.
    pub(crate) fn slow_statement(&self) {
        self.slow_statements.fetch_add(1, Relaxed);
        #[cfg(feature = "metrics")]
        if let Some(e) = &self.export {
            e.slow_statements.increment(1);
        }
    }

    pub(crate) fn record_wait(&self, waited: Duration) {
        let us = u64::try_from(waited.as_micros()).unwrap_or(u64::MAX);
        let idx = BUCKETS_US
            .iter()
            .position(|b| us <= *b)
            .unwrap_or(BUCKETS_US.len());
        self.wait_buckets[idx].fetch_add(1, Relaxed);
        self.wait_sum_us.fetch_add(us, Relaxed);
        #[cfg(feature = "metrics")]
        if let Some(e) = &self.export {
            e.wait.record(waited.as_secs_f64());
        }
    }

    pub(crate) fn snapshot(&self, status: PoolStatus) -> PoolStats {
        let c = |i: CloseCause| self.closed[i as usize].load(Relaxed);
        let wait_counts: Vec<u64> = self.wait_buckets.iter().map(|b| b.load(Relaxed)).collect();
        PoolStats {
            status,
            created: self.created.load(Relaxed),
            connect_errors: self.connect_errors.load(Relaxed),
            recycled: self.recycled.load(Relaxed),
            verified: self.verified.load(Relaxed),
            closed: ClosedCounts {
                lifetime: c(CloseCause::Lifetime),
                idle: c(CloseCause::Idle),
                broken: c(CloseCause::Broken),
                invalidated: c(CloseCause::Invalidated),
                error: c(CloseCause::Error),
                shutdown: c(CloseCause::Shutdown),
            },
            checkouts: wait_counts.iter().sum(),
            timeouts: self.timeouts.load(Relaxed),
            leaks: self.leaks.load(Relaxed),
            invalidations: self.invalidations.load(Relaxed),
            slow_statements: self.slow_statements.load(Relaxed),
            wait: WaitHistogram {
                counts: wait_counts,
                sum: Duration::from_micros(self.wait_sum_us.load(Relaxed)),
            },
        }
    }
}

/// Connection counts at one instant.
///
/// ```
/// # async fn f(pool: keel_db_pool::Pool) {
/// let s = pool.status();
/// assert_eq!(s.size, s.idle + s.in_use);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStatus {
    /// Configured maximum.
    pub max_size: usize,
    /// Open connections.
    pub size: usize,
    /// Open connections waiting in the pool.
    pub idle: usize,
    /// Connections checked out.
    pub in_use: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
}

/// Why connections were closed, since the pool started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ClosedCounts {
    /// Reached `max_lifetime`.
    pub lifetime: u64,
    /// Idle longer than `idle_timeout`.
    pub idle: u64,
    /// Found closed or failing (socket gone, verification failed).
    pub broken: u64,
    /// Predated a detected server restart or failover.
    pub invalidated: u64,
    /// Failed a checkout step (recycle timeout, hook error).
    pub error: u64,
    /// Closed with the pool (or by a resize).
    pub shutdown: u64,
}

/// Checkout wait times: cumulative-free bucket counts with fixed upper bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitHistogram {
    counts: Vec<u64>,
    sum: Duration,
}

impl WaitHistogram {
    /// `(upper bound, count)` per bucket; the last bound is `None` (unbounded).
    ///
    /// ```
    /// # fn f(m: keel_db_pool::PoolStats) {
    /// for (le, n) in m.wait.buckets() {
    ///     println!("<= {le:?}: {n}");
    /// }
    /// # }
    /// ```
    pub fn buckets(&self) -> impl Iterator<Item = (Option<Duration>, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .map(|(i, n)| (BUCKETS_US.get(i).map(|us| Duration::from_micros(*us)), *n))
    }

    /// Number of checkouts recorded.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Total time waited.
    pub fn sum(&self) -> Duration {
        self.sum
    }

    /// An upper bound for quantile `q` (0.0 ..= 1.0): the bound of the bucket holding
    /// it (`None` when it falls in the unbounded bucket or nothing was recorded).
    pub fn quantile_upper_bound(&self, q: f64) -> Option<Duration> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let q = q.clamp(0.0, 1.0);
        let mut seen = 0u64;
        for (bound, n) in self.buckets() {
            seen += n;
            #[allow(clippy::cast_precision_loss)]
            if seen as f64 >= q * total as f64 {
                return bound;
            }
        }
        None
    }
}

/// Everything the pool counts; see [`Pool::stats`](crate::Pool::stats).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// The gauges.
    pub status: PoolStatus,
    /// Connections opened.
    pub created: u64,
    /// Failed connection attempts.
    pub connect_errors: u64,
    /// Idle connections handed out again.
    pub recycled: u64,
    /// Checkouts that ran a verification query.
    pub verified: u64,
    /// Connections closed, by cause.
    pub closed: ClosedCounts,
    /// Successful checkouts.
    pub checkouts: u64,
    /// Checkouts that hit the wait timeout.
    pub timeouts: u64,
    /// Leak warnings logged.
    pub leaks: u64,
    /// Times the idle connections were drained after a lost connection.
    pub invalidations: u64,
    /// Statements that took at least the slow-statement threshold
    /// ([`ConfigBuilder::log_slow_statements`](crate::ConfigBuilder::log_slow_statements)).
    pub slow_statements: u64,
    /// Checkout wait times.
    pub wait: WaitHistogram,
}

/// Handles into the global `metrics` recorder, resolved when the pool is built.
#[cfg(feature = "metrics")]
#[derive(Debug)]
pub(crate) struct Export {
    closed: Vec<metrics::Counter>,
    wait: metrics::Histogram,
    created: metrics::Counter,
    recycled: metrics::Counter,
    verified: metrics::Counter,
    connect_errors: metrics::Counter,
    timeouts: metrics::Counter,
    leaks: metrics::Counter,
    invalidations: metrics::Counter,
    slow_statements: metrics::Counter,
    size: metrics::Gauge,
    idle: metrics::Gauge,
    in_use: metrics::Gauge,
    waiting: metrics::Gauge,
    max_size: metrics::Gauge,
}

#[cfg(feature = "metrics")]
impl Export {
    pub(crate) fn new(pool: &str) -> Self {
        let pool = pool.to_owned();
        Self {
            closed: CloseCause::ALL
                .iter()
                .map(|c| {
                    metrics::counter!("keel_db_pool_connections_closed_total", "pool" => pool.clone(), "cause" => c.label())
                })
                .collect(),
            wait: metrics::histogram!("keel_db_pool_checkout_wait_seconds", "pool" => pool.clone()),
            created: metrics::counter!("keel_db_pool_connections_created_total", "pool" => pool.clone()),
            recycled: metrics::counter!("keel_db_pool_connections_recycled_total", "pool" => pool.clone()),
            verified: metrics::counter!("keel_db_pool_checkout_verifications_total", "pool" => pool.clone()),
            connect_errors: metrics::counter!("keel_db_pool_connect_errors_total", "pool" => pool.clone()),
            timeouts: metrics::counter!("keel_db_pool_checkout_timeouts_total", "pool" => pool.clone()),
            leaks: metrics::counter!("keel_db_pool_leak_warnings_total", "pool" => pool.clone()),
            invalidations: metrics::counter!("keel_db_pool_invalidations_total", "pool" => pool.clone()),
            slow_statements: metrics::counter!("keel_db_pool_slow_statements_total", "pool" => pool.clone()),
            size: metrics::gauge!("keel_db_pool_connections", "pool" => pool.clone(), "state" => "open"),
            idle: metrics::gauge!("keel_db_pool_connections", "pool" => pool.clone(), "state" => "idle"),
            in_use: metrics::gauge!("keel_db_pool_connections", "pool" => pool.clone(), "state" => "in_use"),
            waiting: metrics::gauge!("keel_db_pool_waiting", "pool" => pool.clone()),
            max_size: metrics::gauge!("keel_db_pool_max_size", "pool" => pool),
        }
    }

    /// Publishes the gauges and the counters kept only in [`Stats`].
    pub(crate) fn publish(&self, stats: &Stats, status: PoolStatus) {
        #[allow(clippy::cast_precision_loss)]
        let g = |n: usize| n as f64;
        self.size.set(g(status.size));
        self.idle.set(g(status.idle));
        self.in_use.set(g(status.in_use));
        self.waiting.set(g(status.waiting));
        self.max_size.set(g(status.max_size));
        self.created.absolute(stats.created.load(Relaxed));
        self.recycled.absolute(stats.recycled.load(Relaxed));
        self.verified.absolute(stats.verified.load(Relaxed));
        self.connect_errors
            .absolute(stats.connect_errors.load(Relaxed));
        self.timeouts.absolute(stats.timeouts.load(Relaxed));
        self.leaks.absolute(stats.leaks.load(Relaxed));
        self.invalidations
            .absolute(stats.invalidations.load(Relaxed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status() -> PoolStatus {
        PoolStatus {
            max_size: 1,
            size: 0,
            idle: 0,
            in_use: 0,
            waiting: 0,
        }
    }

    #[test]
    fn histogram_buckets() {
        let s = Stats::default();
        s.record_wait(Duration::from_micros(10));
        s.record_wait(Duration::from_micros(50));
        s.record_wait(Duration::from_millis(3));
        s.record_wait(Duration::from_secs(60));
        let m = s.snapshot(status());
        assert_eq!(m.checkouts, 4);
        assert_eq!(m.wait.count(), 4);
        let b: Vec<_> = m.wait.buckets().collect();
        assert_eq!(b[0], (Some(Duration::from_micros(50)), 2));
        assert_eq!(b[4], (Some(Duration::from_millis(5)), 1));
        assert_eq!(b[11], (None, 1));
        assert_eq!(
            m.wait.quantile_upper_bound(0.5),
            Some(Duration::from_micros(50))
        );
        assert_eq!(
            m.wait.quantile_upper_bound(0.75),
            Some(Duration::from_millis(5))
        );
        assert_eq!(m.wait.quantile_upper_bound(1.0), None);
        assert_eq!(m.wait.sum(), Duration::from_micros(60_003_060));
    }

    #[test]
    fn close_causes_round_trip() {
        let s = Stats::default();
        for c in CloseCause::ALL {
            assert_eq!(CloseCause::from_u8(c as u8), c);
            s.closed(c);
        }
        s.closed(CloseCause::Idle);
        let m = s.snapshot(status());
        assert_eq!(m.closed.idle, 2);
        assert_eq!(m.closed.lifetime, 1);
        let cell = CauseCell::default();
        assert_eq!(cell.get(), CloseCause::Shutdown);
        cell.set(CloseCause::Broken);
        assert_eq!(cell.get(), CloseCause::Broken);
    }
}
