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
        metrics::describe_counter!("background_jobs_total", "Background jobs started, by kind");
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
