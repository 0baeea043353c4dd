//! [`HealthReport`] and its `application/health+json` rendering.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::slot::{Completed, Slot};
use crate::time::Rfc3339;
use crate::{Criticality, Observation, Probes, Status};

/// The media type of the draft: `application/health+json`.
pub const CONTENT_TYPE: &str = "application/health+json";

/// Which probe a report answers.
///
/// ```
/// assert_eq!(keel_health::Probe::Readiness.path(), "/health/ready");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Probe {
    /// `/health/live`: checks registered with [`Probe::Liveness`] (none by default, so
    /// it answers from memory). Not affected by startup or drain.
    Liveness,
    /// `/health/ready`: [`Probe::Readiness`] checks; `fail` while draining and until
    /// startup has completed.
    Readiness,
    /// `/health/startup`: [`Probe::Startup`] checks until each critical one has passed
    /// once, then `pass` from memory.
    Startup,
    /// `/health`: every registered check, plus uptime.
    Full,
}

impl Probe {
    /// The path the axum router serves this probe at.
    ///
    /// ```
    /// assert_eq!(keel_health::Probe::Full.path(), "/health");
    /// ```
    #[must_use]
    pub const fn path(self) -> &'static str {
        match self {
            Self::Liveness => "/health/live",
            Self::Readiness => "/health/ready",
            Self::Startup => "/health/startup",
            Self::Full => "/health",
        }
    }
}

/// How much of a report to render.
///
/// ```
/// use keel_health::Detail;
/// assert_ne!(Detail::StatusOnly, Detail::Full);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Detail {
    /// `{"status":"pass"}` and nothing else: what the public sees.
    StatusOnly,
    /// Everything: service fields, output, notes, and every check with its output.
    Full,
}

/// The top-level fields of the draft that describe the service.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServiceInfo {
    pub(crate) version: Option<String>,
    pub(crate) release_id: Option<String>,
    pub(crate) service_id: Option<String>,
    pub(crate) description: Option<String>,
}

/// The result of one check inside a [`HealthReport`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), keel_health::Error> {
/// let health = keel_health::Health::builder()
///     .check("db:responseTime", || async { Err::<(), _>("connection refused") })
///     .build()?;
/// let report = health.ready().await;
/// let db = &report.checks()[0];
/// assert_eq!(db.name(), "db:responseTime");
/// assert!(db.status().is_fail());
/// assert_eq!(db.observation().output(), Some("connection refused"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct CheckResult {
    slot: Arc<Slot>,
    completed: Arc<Completed>,
}

impl CheckResult {
    pub(crate) const fn new(slot: Arc<Slot>, completed: Arc<Completed>) -> Self {
        Self { slot, completed }
    }

    pub(crate) fn probes(&self) -> Probes {
        self.slot.options.probes
    }

    /// The check name (`component:measurement`).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.slot.options.name
    }

    /// The check's own status (a non-critical `fail` stays `fail` here; only its weight in
    /// the overall status is capped).
    #[must_use]
    pub fn status(&self) -> Status {
        self.completed.observation.status()
    }

    /// The criticality it was registered with.
    #[must_use]
    pub fn criticality(&self) -> Criticality {
        self.slot.options.criticality
    }

    /// What the check observed (for `:responseTime` checks without a value of their own,
    /// the run's duration in ms).
    #[must_use]
    pub fn observation(&self) -> &Observation {
        &self.completed.observation
    }

    /// When the run finished (wall clock).
    #[must_use]
    pub fn time(&self) -> SystemTime {
        self.completed.time
    }

    /// How long the run took.
    #[must_use]
    pub fn duration(&self) -> Duration {
        self.completed.duration
    }

    /// The component type: the observation's, else the registered one.
    #[must_use]
    pub fn component_type(&self) -> Option<&str> {
        self.completed
            .observation
            .component_type()
            .or(self.slot.options.component_type.as_deref())
    }

    /// The registered component id.
    #[must_use]
    pub fn component_id(&self) -> Option<&str> {
        self.slot.options.component_id.as_deref()
    }

    pub(crate) fn remaining_ttl(&self, now: tokio::time::Instant) -> Duration {
        self.slot.remaining_ttl(&self.completed, now)
    }
}

impl Serialize for CheckResult {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let o = &self.completed.observation;
        let mut map = serializer.serialize_map(None)?;
        if let Some(id) = self.component_id() {
            map.serialize_entry("componentId", id)?;
        }
        if let Some(t) = self.component_type() {
            map.serialize_entry("componentType", t)?;
        }
        if let Some(v) = o.observed_value() {
            map.serialize_entry("observedValue", v)?;
        }
        if let Some(u) = o.observed_unit() {
            map.serialize_entry("observedUnit", u)?;
        }
        map.serialize_entry("status", &o.status())?;
        let endpoints = &self.slot.options.affected_endpoints;
        if o.status() != Status::Pass && !endpoints.is_empty() {
            map.serialize_entry("affectedEndpoints", &**endpoints)?;
        }
        map.serialize_entry("time", &format_args!("{}", Rfc3339(self.completed.time)))?;
        if let Some(out) = o.output() {
            map.serialize_entry("output", out)?;
        }
        map.end()
    }
}

/// A health report: the overall status, the results it was computed from, and the
/// service fields of the draft.
///
/// Serializes (with `serde`, or [`to_json`](Self::to_json)) as `application/health+json`:
///
/// ```json
/// {
///   "status": "warn",
///   "version": "1",
///   "releaseId": "1.4.2",
///   "serviceId": "orders-api",
///   "description": "Orders API",
///   "checks": {
///     "postgres:responseTime": [
///       { "componentType": "datastore", "observedValue": 1.25, "observedUnit": "ms",
///         "status": "pass", "time": "2026-11-22T03:36:48.120Z" }
///     ],
///     "redis:responseTime": [
///       { "componentType": "datastore", "status": "fail",
///         "time": "2026-11-22T03:36:48.321Z", "output": "timed out after 500ms" }
///     ],
///     "uptime": [
///       { "componentType": "system", "observedValue": 3600.5, "observedUnit": "s",
///         "status": "pass", "time": "2026-11-22T03:36:48.321Z" }
///     ]
///   }
/// }
/// ```
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use keel_health::{Detail, Health, Status};
///
/// let health = Health::builder().check("db", || async {}).build()?;
/// let report = health.report().await;
/// assert_eq!(report.status(), Status::Pass);
/// assert_eq!(report.to_json(Detail::StatusOnly), br#"{"status":"pass"}"#);
/// let full: serde_json::Value = serde_json::from_slice(&report.to_json(Detail::Full))?;
/// assert_eq!(full["checks"]["db"][0]["status"], "pass");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct HealthReport {
    pub(crate) probe: Probe,
    pub(crate) status: Status,
    pub(crate) output: Option<&'static str>,
    pub(crate) notes: Vec<&'static str>,
    pub(crate) info: Arc<ServiceInfo>,
    pub(crate) checks: Vec<CheckResult>,
    pub(crate) uptime: Option<Duration>,
    pub(crate) max_age: Duration,
    pub(crate) time: SystemTime,
}

impl HealthReport {
    /// The overall status.
    #[must_use]
    pub const fn status(&self) -> Status {
        self.status
    }

    /// The HTTP status code to answer with: 200 for `pass`/`warn`, 503 for `fail`.
    #[must_use]
    pub const fn http_status_code(&self) -> u16 {
        self.status.http_status_code()
    }

    /// The probe this report answers.
    #[must_use]
    pub const fn probe(&self) -> Probe {
        self.probe
    }

    /// The results the status was computed from, in registration order.
    #[must_use]
    pub fn checks(&self) -> &[CheckResult] {
        &self.checks
    }

    /// Why the report fails independently of its checks (`"draining"`, startup pending).
    #[must_use]
    pub const fn output(&self) -> Option<&'static str> {
        self.output
    }

    /// Notes about the service state (`"draining"`, `"starting"`), rendered as the draft's
    /// `notes` array.
    #[must_use]
    pub fn notes(&self) -> &[&'static str] {
        &self.notes
    }

    /// The uptime of the [`Health`](crate::Health) (full reports only).
    #[must_use]
    pub const fn uptime(&self) -> Option<Duration> {
        self.uptime
    }

    /// How long this report may be reused: the smallest remaining TTL of its results
    /// (zero when it depends on state that can change at any moment). Sent as
    /// `Cache-Control: max-age`.
    #[must_use]
    pub const fn max_age(&self) -> Duration {
        self.max_age
    }

    /// Renders the report as `application/health+json`.
    ///
    /// [`Detail::StatusOnly`] gives `{"status":"…"}` and nothing else, whatever the
    /// checks said, so nothing about internals leaks.
    #[must_use]
    pub fn to_json(&self, detail: Detail) -> Vec<u8> {
        match detail {
            Detail::StatusOnly => status_only_json(self.status).to_vec(),
            // Serializing this type cannot fail (string keys, finite data); fall back to
            // the status rather than panic if it ever did.
            Detail::Full => {
                serde_json::to_vec(self).unwrap_or_else(|_| status_only_json(self.status).to_vec())
            }
        }
    }
}

/// The public body for a status, without allocation.
#[must_use]
pub(crate) const fn status_only_json(status: Status) -> &'static [u8] {
    match status {
        Status::Pass => br#"{"status":"pass"}"#,
        Status::Warn => br#"{"status":"warn"}"#,
        Status::Fail => br#"{"status":"fail"}"#,
    }
}

struct Uptime {
    secs: f64,
    time: SystemTime,
}

impl Serialize for Uptime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(5))?;
        map.serialize_entry("componentType", "system")?;
        map.serialize_entry("observedValue", &self.secs)?;
        map.serialize_entry("observedUnit", "s")?;
        map.serialize_entry("status", &Status::Pass)?;
        map.serialize_entry("time", &format_args!("{}", Rfc3339(self.time)))?;
        map.end()
    }
}

/// The `checks` object: results grouped by name, in registration order.
struct Checks<'a>(&'a HealthReport);

impl Serialize for Checks<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let report = self.0;
        let mut names: Vec<&str> = Vec::with_capacity(report.checks.len());
        for c in &report.checks {
            if !names.contains(&c.name()) {
                names.push(c.name());
            }
        }
        let mut map = serializer.serialize_map(None)?;
        for name in names {
            let group: Vec<&CheckResult> =
                report.checks.iter().filter(|c| c.name() == name).collect();
            map.serialize_entry(name, &group)?;
        }
        if let Some(uptime) = report.uptime {
            let entry = Uptime {
                secs: (uptime.as_secs_f64() * 1000.0).round() / 1000.0,
                time: report.time,
            };
            map.serialize_entry("uptime", &[entry])?;
        }
        map.end()
    }
}

impl Serialize for HealthReport {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("status", &self.status)?;
        let info = &*self.info;
        if let Some(v) = &info.version {
            map.serialize_entry("version", v)?;
        }
        if let Some(v) = &info.release_id {
            map.serialize_entry("releaseId", v)?;
        }
        if let Some(v) = &info.service_id {
            map.serialize_entry("serviceId", v)?;
        }
        if let Some(v) = &info.description {
            map.serialize_entry("description", v)?;
        }
        if let Some(v) = self.output {
            map.serialize_entry("output", v)?;
        }
        if !self.notes.is_empty() {
            map.serialize_entry("notes", &self.notes)?;
        }
        if !self.checks.is_empty() || self.uptime.is_some() {
            map.serialize_entry("checks", &Checks(self))?;
        }
        map.end()
    }
}
