//! Background jobs that outlive their request but not the process: tracked, so a graceful
//! shutdown waits for them, within a bound.
//!
//! A handler that answers first and sends the welcome e-mail afterwards spawns a task. A
//! plain `tokio::spawn` is cut off when `main` returns: the e-mail is silently lost at
//! every deploy. [`BackgroundJobs`] spawns through tokio-util's `TaskTracker`, so shutdown
//! can wait for the jobs still running; the wait is bounded (a stuck job must not stop
//! the process from exiting), and once shutdown has begun new jobs are refused instead of
//! being started and killed half-way.
//!
//! The order matters: stop accepting connections, drain in-flight requests (which may
//! still spawn jobs), *then* close the tracker and wait. [`Serve::background_jobs`]
//! (feature `serve`) does exactly that; without `serve`, call
//! [`BackgroundJobs::shutdown`] after your server has drained.
//!
//! With the `metrics` feature, each started job counts in
//! [`BACKGROUND_JOBS_TOTAL`] (`background_jobs_total{kind}`).
//!
//! ```
//! use std::time::Duration;
//! use keel_http::jobs::BackgroundJobs;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let jobs = BackgroundJobs::new();
//! // In a handler: answer now, send the e-mail in the background.
//! jobs.spawn("welcome_email", async {
//!     tokio::time::sleep(Duration::from_secs(2)).await; // the SMTP round trip
//! });
//! assert_eq!(jobs.running(), 1);
//!
//! // At shutdown, after the server has drained: wait up to 20 s.
//! assert!(jobs.shutdown(Duration::from_secs(20)).await);
//! // Closed: later jobs are refused.
//! assert!(jobs.spawn("late", async {}).is_none());
//! # }
//! ```
//!
//! [`Serve::background_jobs`]: crate::serve::Serve::background_jobs

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::task::TaskTracker;

/// Name of the counter of started background jobs, labelled by `kind` (feature `metrics`).
pub const BACKGROUND_JOBS_TOTAL: &str = "background_jobs_total";

/// Spawns and tracks background jobs; cheap to clone (every clone tracks the same jobs).
/// See the [module docs](self).
#[derive(Debug, Clone, Default)]
pub struct BackgroundJobs {
    tracker: TaskTracker,
}

impl BackgroundJobs {
    /// An empty tracker, accepting jobs. With the `metrics` feature, describes
    /// [`BACKGROUND_JOBS_TOTAL`].
    pub fn new() -> Self {
        #[cfg(feature = "metrics")]
        metrics::describe_counter!(BACKGROUND_JOBS_TOTAL, "Background jobs started, by kind");
        Self::default()
    }

    /// Spawns `job` on the current Tokio runtime and tracks it. `kind` labels the log
    /// line of a refusal and the [`BACKGROUND_JOBS_TOTAL`] counter; keep it a fixed name
    /// (`"welcome_email"`), never a value from a request, so the label set stays bounded.
    ///
    /// Returns the job's handle (dropping it detaches the job, which stays tracked), or
    /// `None` when shutdown has begun: the job is dropped unstarted and a warning logged.
    ///
    /// # Panics
    /// As `tokio::spawn`, when called outside a Tokio runtime.
    pub fn spawn<F>(&self, kind: &'static str, job: F) -> Option<JoinHandle<F::Output>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        if self.tracker.is_closed() {
            tracing::warn!(kind, "shutting down: background job not started");
            return None;
        }
        #[cfg(feature = "metrics")]
        metrics::counter!(BACKGROUND_JOBS_TOTAL, "kind" => kind).increment(1);
        Some(self.tracker.spawn(job))
    }

    /// How many jobs are still running.
    pub fn running(&self) -> usize {
        self.tracker.len()
    }

    /// Whether shutdown has begun ([`close`](Self::close) or
    /// [`shutdown`](Self::shutdown) was called): new jobs are refused.
    pub fn is_closed(&self) -> bool {
        self.tracker.is_closed()
    }

    /// Refuses new jobs from now on; running ones continue.
    pub fn close(&self) {
        self.tracker.close();
    }

    /// Refuses new jobs, then waits up to `timeout` for the running ones. Returns whether
    /// all finished; jobs still running after `timeout` are left to the runtime (they end
    /// when the process does) and a warning with their number is logged.
    pub async fn shutdown(&self, timeout: Duration) -> bool {
        self.tracker.close();
        let running = self.tracker.len();
        if running > 0 {
            tracing::info!(running, "waiting for background jobs");
        }
        let finished = tokio::time::timeout(timeout, self.tracker.wait())
            .await
            .is_ok();
        if !finished {
            tracing::warn!(
                still_running = self.tracker.len(),
                timeout_ms = timeout.as_millis(),
                "background jobs did not finish in time"
            );
        }
        finished
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn shutdown_waits_for_running_jobs() {
        let jobs = BackgroundJobs::new();
        let done = Arc::new(AtomicBool::new(false));
        let d = Arc::clone(&done);
        let started = jobs.spawn("test", async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            d.store(true, Ordering::SeqCst);
        });
        assert!(started.is_some());
        assert_eq!(jobs.running(), 1);
        let begun = tokio::time::Instant::now();
        assert!(jobs.shutdown(Duration::from_secs(5)).await);
        assert!(done.load(Ordering::SeqCst));
        // Waited for the job, not for the bound.
        assert_eq!(begun.elapsed(), Duration::from_secs(2));
        assert_eq!(jobs.running(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_is_bounded() {
        let jobs = BackgroundJobs::new();
        let stuck = jobs.spawn("stuck", std::future::pending::<()>());
        let begun = tokio::time::Instant::now();
        assert!(!jobs.shutdown(Duration::from_secs(1)).await);
        assert_eq!(begun.elapsed(), Duration::from_secs(1));
        assert_eq!(jobs.running(), 1, "the stuck job is still tracked");
        if let Some(stuck) = stuck {
            stuck.abort();
        }
    }

    #[tokio::test(start_paused = true)]
    async fn refused_after_close() {
        let jobs = BackgroundJobs::new();
        let clone = jobs.clone();
        assert!(!clone.is_closed());
        jobs.close();
        assert!(clone.is_closed(), "clones share the tracker");
        let ran = Arc::new(AtomicBool::new(false));
        let r = Arc::clone(&ran);
        assert!(
            clone
                .spawn("late", async move { r.store(true, Ordering::SeqCst) })
                .is_none()
        );
        assert_eq!(jobs.running(), 0);
        tokio::task::yield_now().await;
        assert!(!ran.load(Ordering::SeqCst), "a refused job never runs");
        // Nothing running: shutdown returns at once.
        let begun = tokio::time::Instant::now();
        assert!(jobs.shutdown(Duration::from_secs(5)).await);
        assert_eq!(begun.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn counts_running_jobs_and_returns_their_output() {
        let jobs = BackgroundJobs::new();
        let handles: Vec<_> = (0..3u64)
            .filter_map(|i| {
                jobs.spawn("count", async move {
                    tokio::time::sleep(Duration::from_secs(i + 1)).await;
                    i
                })
            })
            .collect();
        assert_eq!(jobs.running(), 3);
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        assert_eq!(jobs.running(), 2);
        let mut outputs = Vec::new();
        for h in handles {
            outputs.push(h.await.ok());
        }
        assert_eq!(outputs, [Some(0), Some(1), Some(2)]);
        assert_eq!(jobs.running(), 0);
    }

    #[cfg(feature = "metrics")]
    #[tokio::test(start_paused = true)]
    async fn counts_started_jobs_by_kind() {
        let recorder = keel_testkit::TestRecorder::new();
        let jobs = BackgroundJobs::new();
        metrics::with_local_recorder(&recorder, || {
            jobs.spawn("welcome_email", async {});
            jobs.spawn("welcome_email", async {});
            jobs.spawn("audit", async {});
            jobs.close();
            // Refused: not counted.
            jobs.spawn("audit", async {});
        });
        assert_eq!(
            recorder.counter("background_jobs_total{kind=welcome_email}"),
            2
        );
        assert_eq!(recorder.counter("background_jobs_total{kind=audit}"), 1);
        assert!(jobs.shutdown(Duration::from_secs(1)).await);
    }
}
