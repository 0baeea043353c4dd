//! [`Health`]: the registry of checks, and its [`HealthBuilder`].

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::check::DynCheck;
use crate::report::{CheckResult, ServiceInfo};
use crate::slot::{Pending, Slot};
use crate::{Check, CheckOptions, Error, HealthReport, Probe, Status};

/// The health of a service: registered checks, startup and drain state. Cheap to
/// clone (an `Arc`); share one per process.
///
/// Built with [`Health::builder`]; evaluated with [`ready`](Self::ready),
/// [`live`](Self::live), [`startup`](Self::startup), [`report`](Self::report), or served
/// by the axum router (feature `axum`). Checks run on the ambient tokio runtime, which
/// needs its time driver (`enable_all()`, or `#[tokio::main]`).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), keel_health::Error> {
/// use std::time::Duration;
/// use keel_health::{CheckOptions, Health, Probe, Status};
///
/// # struct Pool; impl Pool { async fn ping(&self) -> Result<(), std::io::Error> { Ok(()) } }
/// let pool = std::sync::Arc::new(Pool);
/// let health = Health::builder()
///     .service_id("orders-api")
///     .release_id("1.4.2")
///     .check(
///         CheckOptions::builder("postgres:responseTime")
///             .probes(Probe::Readiness | Probe::Startup)
///             .component_type("datastore")
///             .timeout(Duration::from_millis(300)),
///         move || {
///             let pool = pool.clone();
///             async move { pool.ping().await }
///         },
///     )
///     .build()?;
///
/// assert_eq!(health.ready().await.status(), Status::Pass);
/// health.drain(); // on SIGTERM: load balancers see readiness fail first
/// assert_eq!(health.ready().await.status(), Status::Fail);
/// assert_eq!(health.live().await.status(), Status::Pass);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Health {
    inner: Arc<Inner>,
}

struct Inner {
    info: Arc<ServiceInfo>,
    slots: Vec<Arc<Slot>>,
    liveness: Vec<usize>,
    readiness: Vec<usize>,
    startup: Vec<usize>,
    /// Readiness while startup is pending: readiness ∪ startup checks.
    gating: Vec<usize>,
    startup_critical: Vec<usize>,
    all: Vec<usize>,
    uptime: bool,
    started: AtomicBool,
    draining: AtomicBool,
    pollers: AtomicUsize,
    born: Instant,
}

impl fmt::Debug for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.inner.slots.iter().map(|s| &*s.options.name).collect();
        f.debug_struct("Health")
            .field("checks", &names)
            .field("started", &self.is_started())
            .field("draining", &self.is_draining())
            .finish_non_exhaustive()
    }
}

impl Health {
    /// Starts a builder.
    #[must_use]
    pub fn builder() -> HealthBuilder {
        HealthBuilder::new()
    }

    /// Evaluates one probe: runs (or reuses, within their TTL) the checks it covers, all
    /// concurrently, and aggregates their statuses.
    ///
    /// Never fails and never takes longer than the slowest check's timeout (plus task
    /// scheduling): a hung check is reported as timed out, a panicking one as panicked.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), keel_health::Error> {
    /// use keel_health::{Health, Probe, Status};
    /// let health = Health::builder().check("db", || async { false }).build()?;
    /// let report = health.evaluate(Probe::Readiness).await;
    /// assert_eq!((report.status(), report.http_status_code()), (Status::Fail, 503));
    /// # Ok(()) }
    /// ```
    pub async fn evaluate(&self, probe: Probe) -> HealthReport {
        let inner = &*self.inner;
        match probe {
            Probe::Liveness => {
                let checks = self.collect(&inner.liveness).await;
                self.finish(probe, checks, None, Vec::new())
            }
            Probe::Readiness => {
                if self.is_draining() {
                    return self.finish(
                        probe,
                        Vec::new(),
                        Some("draining: the service is shutting down"),
                        vec!["draining"],
                    );
                }
                if self.is_started() {
                    let checks = self.collect(&inner.readiness).await;
                    return self.finish(probe, checks, None, Vec::new());
                }
                let mut checks = self.collect(&inner.gating).await;
                if self.update_started() {
                    checks.retain(|c| c.probes().contains(Probe::Readiness));
                    self.finish(probe, checks, None, Vec::new())
                } else {
                    self.finish(
                        probe,
                        checks,
                        Some("starting: not every startup check has passed yet"),
                        vec!["starting"],
                    )
                }
            }
            Probe::Startup => {
                if self.is_started() {
                    return self.finish(probe, Vec::new(), None, Vec::new());
                }
                let checks = self.collect(&inner.startup).await;
                if self.update_started() {
                    self.finish(probe, checks, None, Vec::new())
                } else {
                    self.finish(
                        probe,
                        checks,
                        Some("starting: not every startup check has passed yet"),
                        vec!["starting"],
                    )
                }
            }
            Probe::Full => {
                let checks = self.collect(&inner.all).await;
                let started = self.update_started();
                let mut notes = Vec::new();
                if self.is_draining() {
                    notes.push("draining");
                }
                if !started {
                    notes.push("starting");
                }
                self.finish(probe, checks, None, notes)
            }
        }
    }

    /// Liveness (`/health/live`): the [`Probe::Liveness`] checks. With none registered
    /// (the default) it does no work at all. Startup and drain do not affect it.
    pub async fn live(&self) -> HealthReport {
        self.evaluate(Probe::Liveness).await
    }

    /// Readiness (`/health/ready`): `fail` while draining or before startup completed,
    /// else the [`Probe::Readiness`] checks.
    pub async fn ready(&self) -> HealthReport {
        self.evaluate(Probe::Readiness).await
    }

    /// Startup (`/health/startup`): the [`Probe::Startup`] checks until each critical one
    /// has passed once; `pass` from memory after that.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), keel_health::Error> {
    /// use keel_health::{CheckOptions, Health, Probe, Status};
    /// let health = Health::builder()
    ///     .check(CheckOptions::builder("migrations").probes(Probe::Startup), || async { true })
    ///     .build()?;
    /// assert!(!health.is_started());
    /// assert_eq!(health.startup().await.status(), Status::Pass);
    /// assert!(health.is_started());
    /// # Ok(()) }
    /// ```
    pub async fn startup(&self) -> HealthReport {
        self.evaluate(Probe::Startup).await
    }

    /// The full report (`/health`): every registered check, plus uptime.
    pub async fn report(&self) -> HealthReport {
        self.evaluate(Probe::Full).await
    }

    /// Starts draining: from now on readiness answers `fail` (503) without running any
    /// check, so load balancers stop routing here while in-flight requests finish.
    /// Liveness keeps passing so the orchestrator does not kill the process early.
    /// Idempotent and irreversible.
    ///
    /// Call it first thing on SIGTERM, then wait for the load balancers to notice
    /// ([`drain_and_wait`](Self::drain_and_wait)), then stop the server.
    pub fn drain(&self) {
        if !self.inner.draining.swap(true, Ordering::AcqRel) {
            tracing::info!("health: draining, readiness now fails");
        }
    }

    /// [`drain`](Self::drain), then sleeps `delay`: long enough for every load balancer
    /// to see readiness fail (Kubernetes: `periodSeconds × failureThreshold` of the
    /// readiness probe, plus endpoint propagation).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() -> Result<(), keel_health::Error> {
    /// let health = keel_health::Health::builder().build()?;
    /// health.drain_and_wait(std::time::Duration::from_secs(5)).await;
    /// assert!(health.is_draining());
    /// # Ok(()) }
    /// ```
    pub async fn drain_and_wait(&self, delay: Duration) {
        self.drain();
        tokio::time::sleep(delay).await;
    }

    /// The graceful-shutdown future of a server (`with_graceful_shutdown`): waits for
    /// `signal` (SIGTERM), then [`drain_and_wait`](Self::drain_and_wait)s `delay`, and
    /// resolves, so the server stops accepting only after the load balancers have seen
    /// readiness fail and stopped routing here. Both steps are logged.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() -> Result<(), keel_health::Error> {
    /// use std::time::Duration;
    ///
    /// let health = keel_health::Health::builder().build()?;
    /// // In a service: `keel_http::shutdown_signal()`, and the future goes to `serve`.
    /// let signal = std::future::ready(());
    /// health.drain_after(signal, Duration::from_secs(5)).await;
    /// assert!(health.is_draining());
    /// # Ok(()) }
    /// ```
    pub fn drain_after(
        &self,
        signal: impl Future<Output = ()> + Send + 'static,
        delay: Duration,
    ) -> impl Future<Output = ()> + Send + 'static {
        let health = self.clone();
        async move {
            signal.await;
            tracing::info!(
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "shutdown requested: readiness fails, serving on for the drain delay"
            );
            health.drain_and_wait(delay).await;
            tracing::info!("drain delay over: stopping");
        }
    }

    /// Whether [`drain`](Self::drain) was called.
    #[must_use]
    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::Acquire)
    }

    /// Whether every critical startup check has passed at least once (always `true`
    /// without critical startup checks). Once `true`, stays `true`.
    #[must_use]
    pub fn is_started(&self) -> bool {
        // Recomputed from the latest results, so a background poller's runs count even
        // when no probe has asked yet.
        self.update_started()
    }

    /// Time since [`HealthBuilder::build`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), keel_health::Error> {
    /// let health = keel_health::Health::builder().build()?;
    /// assert!(health.uptime() < std::time::Duration::from_secs(60));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn uptime(&self) -> Duration {
        self.inner.born.elapsed()
    }

    /// Starts polling every check in the background on the current tokio runtime: each
    /// check is re-run when its result is about to outlive its TTL, and every probe is
    /// then answered from memory (never waiting on a check, except before a check's
    /// first result exists). Polling stops when the returned [`Poller`] is dropped.
    ///
    /// # Errors
    ///
    /// [`Error::NoRuntime`] outside a tokio runtime.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), keel_health::Error> {
    /// let health = keel_health::Health::builder().check("db", || async {}).build()?;
    /// let poller = health.spawn_poller()?;
    /// assert!(health.ready().await.status() == keel_health::Status::Pass);
    /// drop(poller); // stops polling
    /// # Ok(()) }
    /// ```
    pub fn spawn_poller(&self) -> Result<Poller, Error> {
        let handle = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let inner = &self.inner;
        let tick = inner
            .slots
            .iter()
            .map(|s| s.options.ttl)
            .filter(|t| !t.is_zero())
            .min()
            .unwrap_or(Duration::from_secs(1));
        let slots = inner.slots.clone();
        inner.pollers.fetch_add(1, Ordering::AcqRel);
        let task = handle.spawn(async move {
            let mut interval = tokio::time::interval(tick);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                let now = Instant::now();
                for slot in &slots {
                    // Refresh one tick early so no result outlives its TTL by a tick.
                    slot.refresh_if_older(now, slot.options.ttl.saturating_sub(tick));
                }
            }
        });
        Ok(Poller {
            task,
            health: self.clone(),
        })
    }

    fn update_started(&self) -> bool {
        let inner = &*self.inner;
        if inner.started.load(Ordering::Acquire) {
            return true;
        }
        if inner
            .startup_critical
            .iter()
            .all(|&i| inner.slots[i].passed_once())
        {
            if !inner.started.swap(true, Ordering::AcqRel) {
                tracing::info!("health: startup complete, readiness is no longer gated");
            }
            return true;
        }
        false
    }

    async fn collect(&self, indices: &[usize]) -> Vec<CheckResult> {
        let inner = &*self.inner;
        let now = Instant::now();
        let serve_stale = inner.pollers.load(Ordering::Acquire) > 0;
        // Start (or join) every run first, then wait: all checks run concurrently.
        let pending: Vec<(usize, Pending)> = indices
            .iter()
            .map(|&i| (i, inner.slots[i].acquire(now, serve_stale)))
            .collect();
        let mut out = Vec::with_capacity(pending.len());
        for (i, p) in pending {
            out.push(CheckResult::new(
                Arc::clone(&inner.slots[i]),
                p.resolve().await,
            ));
        }
        out
    }

    fn finish(
        &self,
        probe: Probe,
        checks: Vec<CheckResult>,
        output: Option<&'static str>,
        notes: Vec<&'static str>,
    ) -> HealthReport {
        let now = Instant::now();
        let status = if output.is_some() {
            Status::Fail
        } else {
            Status::aggregate(checks.iter().map(|c| (c.status(), c.criticality())))
        };
        let max_age = if output.is_some() || checks.is_empty() {
            Duration::ZERO
        } else {
            checks
                .iter()
                .map(|c| c.remaining_ttl(now))
                .min()
                .unwrap_or(Duration::ZERO)
        };
        let uptime = (probe == Probe::Full && self.inner.uptime).then(|| self.uptime());
        HealthReport {
            probe,
            status,
            output,
            notes,
            info: Arc::clone(&self.inner.info),
            checks,
            uptime,
            max_age,
            time: SystemTime::now(),
        }
    }
}

/// Background polling started by [`Health::spawn_poller`]; stops when dropped.
#[must_use = "polling stops when the Poller is dropped"]
pub struct Poller {
    task: tokio::task::JoinHandle<()>,
    health: Health,
}

impl fmt::Debug for Poller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Poller")
            .field("finished", &self.task.is_finished())
            .finish_non_exhaustive()
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.task.abort();
        self.health.inner.pollers.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Builds a [`Health`]: service fields and checks.
///
/// ```
/// use keel_health::{CheckOptions, Health, Probe};
///
/// let health = Health::builder()
///     .version("1")
///     .release_id("1.4.2")
///     .service_id("orders-api")
///     .description("Orders API")
///     .check("postgres:responseTime", || async { Ok::<(), std::io::Error>(()) })
///     .check(CheckOptions::builder("redis:responseTime").non_critical(), || async { true })
///     .build()?;
/// # let _ = health;
/// # Ok::<(), keel_health::Error>(())
/// ```
pub struct HealthBuilder {
    info: ServiceInfo,
    checks: Vec<(CheckOptions, Arc<dyn DynCheck>)>,
    uptime: bool,
}

impl fmt::Debug for HealthBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.checks.iter().map(|(o, _)| &*o.name).collect();
        f.debug_struct("HealthBuilder")
            .field("info", &self.info)
            .field("checks", &names)
            .field("uptime", &self.uptime)
            .finish()
    }
}

impl Default for HealthBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl HealthBuilder {
    /// An empty builder (uptime entry on).
    #[must_use]
    pub fn new() -> Self {
        Self {
            info: ServiceInfo::default(),
            checks: Vec::new(),
            uptime: true,
        }
    }

    /// Sets `version`: the public version of the service's API (`"1"`).
    #[must_use]
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.info.version = Some(version.into());
        self
    }

    /// Sets `releaseId`: the release or build (`env!("CARGO_PKG_VERSION")`, a git sha).
    #[must_use]
    pub fn release_id(mut self, release_id: impl Into<String>) -> Self {
        self.info.release_id = Some(release_id.into());
        self
    }

    /// Sets `serviceId`: a unique identifier of the service.
    #[must_use]
    pub fn service_id(mut self, service_id: impl Into<String>) -> Self {
        self.info.service_id = Some(service_id.into());
        self
    }

    /// Sets `description`: a human-friendly description of the service.
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.info.description = Some(description.into());
        self
    }

    /// Whether the full report carries an `uptime` entry (default `true`).
    ///
    /// ```
    /// let health = keel_health::Health::builder().uptime(false).build()?;
    /// # let _ = health;
    /// # Ok::<(), keel_health::Error>(())
    /// ```
    #[must_use]
    pub const fn uptime(mut self, on: bool) -> Self {
        self.uptime = on;
        self
    }

    /// Registers a check. `options` is a [`CheckOptions`] or just a name (readiness,
    /// critical, default timeout and TTL); `check` is any [`Check`], including
    /// `|| async { … }` closures. Validated by [`build`](Self::build).
    #[must_use]
    pub fn check(mut self, options: impl Into<CheckOptions>, check: impl Check) -> Self {
        self.checks.push((options.into(), Arc::new(check)));
        self
    }

    /// Registers the built-in [`system`](crate::system) checks with their defaults:
    /// memory, disk space of `/` (Unix), load average and runtime responsiveness, all in
    /// the full report only and non-critical.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), keel_health::Error> {
    /// let health = keel_health::Health::builder().system_checks().build()?;
    /// let report = health.report().await;
    /// assert!(report.checks().iter().any(|c| c.name() == "runtime:schedulingDelay"));
    /// // Not part of readiness: a full disk does not take the instance out of rotation.
    /// assert!(health.ready().await.checks().is_empty());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn system_checks(self) -> Self {
        use crate::system::{LoadCheck, MemoryCheck, RuntimeCheck};
        let memory = MemoryCheck::new();
        let load = LoadCheck::new();
        let runtime = RuntimeCheck::new();
        let this = self.check(memory.options(), memory);
        #[cfg(unix)]
        let this = {
            let disk = crate::system::DiskCheck::new("/");
            this.check(disk.options(), disk)
        };
        this.check(load.options(), load)
            .check(runtime.options(), runtime)
    }

    /// Validates the registrations and builds the [`Health`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] for a name that is empty, longer than 128 bytes, holds a
    /// control character or more than one `:`; [`Error::ZeroTimeout`];
    /// [`Error::DuplicateCheck`] for two checks with the same name and component id
    /// (or a check named `uptime` while the uptime entry is on).
    pub fn build(self) -> Result<Health, Error> {
        let mut seen: Vec<(&str, Option<&str>)> = Vec::with_capacity(self.checks.len());
        for (options, _) in &self.checks {
            options.validate()?;
            let key = (&*options.name, options.component_id.as_deref());
            if seen.contains(&key) || (self.uptime && key.0 == "uptime") {
                return Err(Error::DuplicateCheck {
                    name: key.0.to_owned(),
                });
            }
            seen.push(key);
        }
        #[cfg(feature = "metrics")]
        crate::metrics::describe();
        let slots: Vec<Arc<Slot>> = self
            .checks
            .into_iter()
            .map(|(o, c)| Arc::new(Slot::new(o, c)))
            .collect();
        let select = |pred: &dyn Fn(&Slot) -> bool| -> Vec<usize> {
            slots
                .iter()
                .enumerate()
                .filter(|(_, s)| pred(s))
                .map(|(i, _)| i)
                .collect()
        };
        let has = |s: &Slot, k: Probe| s.options.probes.contains(k);
        let liveness = select(&|s| has(s, Probe::Liveness));
        let readiness = select(&|s| has(s, Probe::Readiness));
        let startup = select(&|s| has(s, Probe::Startup));
        let gating = select(&|s| has(s, Probe::Readiness) || has(s, Probe::Startup));
        let startup_critical = select(&|s| {
            has(s, Probe::Startup) && s.options.criticality == crate::Criticality::Critical
        });
        let all = (0..slots.len()).collect();
        let started = AtomicBool::new(startup_critical.is_empty());
        Ok(Health {
            inner: Arc::new(Inner {
                info: Arc::new(self.info),
                slots,
                liveness,
                readiness,
                startup,
                gating,
                startup_critical,
                all,
                uptime: self.uptime,
                started,
                draining: AtomicBool::new(false),
                pollers: AtomicUsize::new(0),
                born: Instant::now(),
            }),
        })
    }
}
