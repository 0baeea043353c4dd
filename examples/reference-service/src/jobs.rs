//! Background jobs that outlive their request but not the process: tracked, so a
//! graceful shutdown waits for them (bounded).

use std::future::Future;
use std::time::Duration;

use tokio_util::task::TaskTracker;

/// Spawns and tracks background jobs.
#[derive(Debug, Clone, Default)]
pub struct Jobs {
    tracker: TaskTracker,
}

impl Jobs {
    /// An empty tracker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Spawns `job` on the runtime; `kind` labels the log lines and the
    /// `background_jobs_total` counter. Refused (logged) once shutdown has begun.
    pub fn spawn<F>(&self, kind: &'static str, job: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        if self.tracker.is_closed() {
            tracing::warn!(kind, "shutting down: background job not started");
            return;
        }
        metrics::counter!("background_jobs_total", "kind" => kind).increment(1);
        self.tracker.spawn(job);
    }

    /// Jobs still running.
    pub fn running(&self) -> usize {
        self.tracker.len()
    }

    /// Stops accepting jobs and waits up to `timeout` for the running ones; returns
    /// whether all finished.
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
        let jobs = Jobs::new();
        let done = Arc::new(AtomicBool::new(false));
        let d = Arc::clone(&done);
        jobs.spawn("test", async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            d.store(true, Ordering::SeqCst);
        });
        assert_eq!(jobs.running(), 1);
        assert!(jobs.shutdown(Duration::from_secs(5)).await);
        assert!(done.load(Ordering::SeqCst));
        // Closed: new jobs are refused.
        jobs.spawn("late", async {});
        assert_eq!(jobs.running(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_is_bounded() {
        let jobs = Jobs::new();
        jobs.spawn("stuck", std::future::pending());
        assert!(!jobs.shutdown(Duration::from_secs(1)).await);
    }
}
