//! One registered check at run time: its cached result and its single in-flight run.
//!
//! Why a spawned task per run: the run survives the cancellation of the request that
//! started it (the other waiters are not left hanging, unlike a future shared in place),
//! a panic stays inside the task, and the timeout is enforced where the check runs.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::time::Instant;

use crate::check::DynCheck;
use crate::{CheckOptions, Observation, Status};

/// A finished run.
#[derive(Debug)]
pub(crate) struct Completed {
    pub(crate) observation: Observation,
    /// When the run finished, on tokio's clock (so paused-time tests control TTLs).
    pub(crate) finished: Instant,
    /// When the run finished, on the wall clock (the report's `time`).
    pub(crate) time: SystemTime,
    /// How long the run took.
    pub(crate) duration: Duration,
}

impl Completed {
    fn new(observation: Observation, duration: Duration) -> Self {
        Self {
            observation,
            finished: Instant::now(),
            time: SystemTime::now(),
            duration,
        }
    }
}

type Rx = watch::Receiver<Option<Arc<Completed>>>;

#[derive(Default)]
struct State {
    last: Option<Arc<Completed>>,
    inflight: Option<Rx>,
}

pub(crate) struct Slot {
    pub(crate) options: CheckOptions,
    check: Arc<dyn DynCheck>,
    state: Mutex<State>,
    passed_once: AtomicBool,
}

impl fmt::Debug for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slot")
            .field("options", &self.options)
            .field("passed_once", &self.passed_once.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// A result that is either at hand or being computed by a run.
pub(crate) enum Pending {
    Ready(Arc<Completed>),
    Wait(Rx),
}

impl Pending {
    pub(crate) async fn resolve(self) -> Arc<Completed> {
        match self {
            Self::Ready(completed) => completed,
            Self::Wait(mut rx) => {
                let got = rx
                    .wait_for(Option::is_some)
                    .await
                    .ok()
                    .and_then(|v| v.as_ref().map(Arc::clone));
                // The run's guard always sends before the sender goes away, so this is a
                // belt-and-braces answer rather than an expected path.
                got.unwrap_or_else(|| {
                    Arc::new(Completed::new(
                        Observation::fail("check run was lost"),
                        Duration::ZERO,
                    ))
                })
            }
        }
    }
}

impl Slot {
    pub(crate) fn new(options: CheckOptions, check: Arc<dyn DynCheck>) -> Self {
        Self {
            options,
            check,
            state: Mutex::new(State::default()),
            passed_once: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No code panics while holding the lock; recover anyway rather than propagate.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether this check has returned `pass` or `warn` at least once.
    pub(crate) fn passed_once(&self) -> bool {
        self.passed_once.load(Ordering::Acquire)
    }

    /// The latest result if it is fresh (or `serve_stale` and any exists), else joins the
    /// run in flight or starts one.
    pub(crate) fn acquire(self: &Arc<Self>, now: Instant, serve_stale: bool) -> Pending {
        let mut state = self.lock();
        // No let-chains: they need Rust 1.88 and the crate's MSRV is 1.85.
        if let Some(last) = state.last.as_ref().filter(|last| {
            serve_stale || now.saturating_duration_since(last.finished) < self.options.ttl
        }) {
            return Pending::Ready(Arc::clone(last));
        }
        if let Some(rx) = &state.inflight {
            return Pending::Wait(rx.clone());
        }
        self.start(&mut state)
    }

    /// Starts a run when the latest result is older than `max_age` and none is in flight
    /// (the background poller's entry point).
    pub(crate) fn refresh_if_older(self: &Arc<Self>, now: Instant, max_age: Duration) {
        let mut state = self.lock();
        if state.inflight.is_some() {
            return;
        }
        if state
            .last
            .as_ref()
            .is_some_and(|last| now.saturating_duration_since(last.finished) < max_age)
        {
            return;
        }
        let _ = self.start(&mut state);
    }

    /// Remaining freshness of a result.
    pub(crate) fn remaining_ttl(&self, completed: &Completed, now: Instant) -> Duration {
        self.options
            .ttl
            .saturating_sub(now.saturating_duration_since(completed.finished))
    }

    fn start(self: &Arc<Self>, state: &mut State) -> Pending {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            // Not cached: the next caller may well be inside a runtime.
            let observation = Observation::fail("no tokio runtime: the check cannot run");
            return Pending::Ready(Arc::new(Completed::new(observation, Duration::ZERO)));
        };
        let (tx, rx) = watch::channel(None);
        state.inflight = Some(rx.clone());
        let guard = RunGuard {
            slot: Arc::clone(self),
            tx: Some(tx),
        };
        drop(handle.spawn(guard.run()));
        Pending::Wait(rx)
    }

    fn complete(&self, mut observation: Observation, duration: Duration) -> Arc<Completed> {
        let name = &*self.options.name;
        if observation.observed_value().is_none()
            && name.rsplit(':').next() == Some("responseTime")
            && name.contains(':')
        {
            observation = observation.with_value(round3(duration.as_secs_f64() * 1000.0), "ms");
        }
        let status = observation.status();
        if !status.is_fail() {
            self.passed_once.store(true, Ordering::Release);
        }
        #[cfg(feature = "metrics")]
        crate::metrics::record(&self.options.name, status, duration);
        let completed = Arc::new(Completed::new(observation, duration));
        let previous = {
            let mut state = self.lock();
            state.inflight = None;
            state
                .last
                .replace(Arc::clone(&completed))
                .map(|c| c.observation.status())
        };
        log_transition(name, previous, &completed);
        completed
    }
}

fn log_transition(name: &str, previous: Option<Status>, completed: &Completed) {
    let status = completed.observation.status();
    let output = completed.observation.output().unwrap_or("");
    match (previous, status) {
        (Some(p), s) if p == s => {
            tracing::debug!(check = name, status = s.as_str(), duration = ?completed.duration, "health check ran");
        }
        (_, Status::Fail) => tracing::warn!(check = name, output, "health check failed"),
        (_, Status::Warn) => tracing::warn!(check = name, output, "health check degraded"),
        (Some(_), Status::Pass) => tracing::info!(check = name, "health check recovered"),
        (None, Status::Pass) => tracing::debug!(check = name, "health check passed"),
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Owns a run; publishes its result exactly once, even when the check panics or the
/// task is dropped by a runtime shutting down.
struct RunGuard {
    slot: Arc<Slot>,
    tx: Option<watch::Sender<Option<Arc<Completed>>>>,
}

impl RunGuard {
    async fn run(mut self) {
        let timeout = self.slot.options.timeout;
        let check = Arc::clone(&self.slot.check);
        let started = Instant::now();
        let observation = match tokio::time::timeout(timeout, check.check_boxed()).await {
            Ok(observation) => observation,
            Err(_) => Observation::fail(format!("timed out after {timeout:?}")),
        };
        self.finish(observation, started.elapsed());
    }

    fn finish(&mut self, observation: Observation, duration: Duration) {
        if let Some(tx) = self.tx.take() {
            let completed = self.slot.complete(observation, duration);
            tx.send_replace(Some(completed));
        }
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        if self.tx.is_some() {
            let output = if std::thread::panicking() {
                "check panicked"
            } else {
                "check was cancelled (runtime shutting down)"
            };
            self.finish(Observation::fail(output), Duration::ZERO);
        }
    }
}
