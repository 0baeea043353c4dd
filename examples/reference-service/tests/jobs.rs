//! Background jobs: a graceful shutdown waits for them, bounded; once closed, new ones are refused.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reference_service::jobs::Jobs;

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
