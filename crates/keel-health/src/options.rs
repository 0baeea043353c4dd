//! [`CheckOptions`] (how a check is registered) and [`Kinds`] (which probes run it).

use std::fmt;
use std::ops::{BitOr, BitOrAssign};
use std::sync::Arc;
use std::time::Duration;

use crate::{Criticality, Error};

/// The probes a check belongs to; combine with `|`. Every check is part of the full
/// report (`/health`) whatever its kinds.
///
/// ```
/// use keel_health::Kinds;
///
/// let k = Kinds::READINESS | Kinds::STARTUP;
/// assert!(k.contains(Kinds::STARTUP) && !k.contains(Kinds::LIVENESS));
/// assert!(Kinds::NONE.is_empty());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Kinds(u8);

impl Kinds {
    /// In no probe: only in the full report (system figures, informational checks).
    pub const NONE: Self = Self(0);
    /// `/health/live`: "is the process wedged?". Must not touch dependencies, or one
    /// database outage makes Kubernetes restart every replica.
    pub const LIVENESS: Self = Self(1);
    /// `/health/ready`: "can this instance serve traffic now?". Dependencies go here.
    pub const READINESS: Self = Self(2);
    /// `/health/startup`: "has the instance finished starting?". Readiness fails until
    /// every critical startup check has passed once.
    pub const STARTUP: Self = Self(4);

    /// `true` when every kind in `other` is in `self`.
    ///
    /// ```
    /// assert!(keel_health::Kinds::READINESS.contains(keel_health::Kinds::NONE));
    /// ```
    #[must_use]
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// `true` for [`Kinds::NONE`].
    ///
    /// ```
    /// assert!(!keel_health::Kinds::STARTUP.is_empty());
    /// ```
    #[must_use]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl BitOr for Kinds {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl BitOrAssign for Kinds {
    fn bitor_assign(&mut self, rhs: Self) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for Kinds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Self::LIVENESS, "LIVENESS"),
            (Self::READINESS, "READINESS"),
            (Self::STARTUP, "STARTUP"),
        ];
        let mut first = true;
        for (kind, name) in names {
            if self.contains(kind) {
                if !first {
                    f.write_str(" | ")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("NONE")?;
        }
        Ok(())
    }
}

/// How a check is registered: its name, probes, criticality, timeout, cache TTL and
/// the component fields of the report.
///
/// Defaults: readiness only, critical, timeout [`CheckOptions::DEFAULT_TIMEOUT`] (500 ms),
/// TTL [`CheckOptions::DEFAULT_TTL`] (1 s). A `&str` or `String` converts into options
/// with these defaults. See `docs/health.md` for why.
///
/// ```
/// use std::time::Duration;
/// use keel_health::{CheckOptions, Kinds};
///
/// let options = CheckOptions::new("redis:responseTime")
///     .kinds(Kinds::READINESS | Kinds::STARTUP)
///     .non_critical()
///     .timeout(Duration::from_millis(200))
///     .ttl(Duration::from_secs(2))
///     .component_type("datastore")
///     .component_id("cache-primary");
/// assert_eq!(options.name(), "redis:responseTime");
/// assert_eq!(options.timeout_duration(), Duration::from_millis(200));
/// ```
#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub(crate) name: Arc<str>,
    pub(crate) kinds: Kinds,
    pub(crate) criticality: Criticality,
    pub(crate) timeout: Duration,
    pub(crate) ttl: Duration,
    pub(crate) component_id: Option<Arc<str>>,
    pub(crate) component_type: Option<Arc<str>>,
    pub(crate) affected_endpoints: Arc<[String]>,
}

impl CheckOptions {
    /// Default per-check timeout: half of Kubernetes' default probe timeout (1 s), so a
    /// slow dependency is reported as timed out instead of the probe itself timing out.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(500);
    /// Default result TTL: a probe storm runs each check at most once per second.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(1);

    /// Options for a check named `component:measurement` (e.g. `postgres:responseTime`;
    /// either part may be omitted, as in `uptime`), with the defaults above.
    ///
    /// The name is validated by [`HealthBuilder::build`](crate::HealthBuilder::build).
    ///
    /// ```
    /// let options = keel_health::CheckOptions::new("postgres:responseTime");
    /// assert_eq!(options.name(), "postgres:responseTime");
    /// ```
    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: Arc::from(name.into()),
            kinds: Kinds::READINESS,
            criticality: Criticality::Critical,
            timeout: Self::DEFAULT_TIMEOUT,
            ttl: Self::DEFAULT_TTL,
            component_id: None,
            component_type: None,
            affected_endpoints: Arc::from(Vec::new()),
        }
    }

    /// Sets the probes this check belongs to (replacing the default `READINESS`).
    ///
    /// ```
    /// use keel_health::{CheckOptions, Kinds};
    /// let o = CheckOptions::new("migrations").kinds(Kinds::STARTUP);
    /// assert_eq!(o.kinds_set(), Kinds::STARTUP);
    /// ```
    #[must_use]
    pub const fn kinds(mut self, kinds: Kinds) -> Self {
        self.kinds = kinds;
        self
    }

    /// Sets the criticality.
    ///
    /// ```
    /// use keel_health::{CheckOptions, Criticality};
    /// let o = CheckOptions::new("cache").criticality(Criticality::NonCritical);
    /// assert_eq!(o.criticality_level(), Criticality::NonCritical);
    /// ```
    #[must_use]
    pub const fn criticality(mut self, criticality: Criticality) -> Self {
        self.criticality = criticality;
        self
    }

    /// Shorthand for `criticality(Criticality::NonCritical)`: a failure only degrades the
    /// report to `warn` (HTTP 200), like health-go's `SkipOnErr`.
    ///
    /// ```
    /// use keel_health::{CheckOptions, Criticality};
    /// assert_eq!(CheckOptions::new("cache").non_critical().criticality_level(), Criticality::NonCritical);
    /// ```
    #[must_use]
    pub const fn non_critical(self) -> Self {
        self.criticality(Criticality::NonCritical)
    }

    /// Sets the timeout of one run. A run that takes longer is cancelled and reported as
    /// `fail` with output "timed out after …". Must be greater than zero.
    ///
    /// ```
    /// use std::time::Duration;
    /// let o = keel_health::CheckOptions::new("x").timeout(Duration::from_secs(2));
    /// assert_eq!(o.timeout_duration(), Duration::from_secs(2));
    /// ```
    #[must_use]
    pub const fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets how long a result is reused. Concurrent callers share one run (single
    /// flight) even with a zero TTL; with a background [`Poller`](crate::Poller) this is
    /// also the polling interval. Failures are cached too: that is when a dependency
    /// needs protection most.
    ///
    /// ```
    /// use std::time::Duration;
    /// let o = keel_health::CheckOptions::new("x").ttl(Duration::ZERO);
    /// assert_eq!(o.ttl_duration(), Duration::ZERO);
    /// ```
    #[must_use]
    pub const fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Sets the `componentId` of the report entry (e.g. a node or shard name). Several
    /// checks may share a name when their component ids differ: they form one array
    /// under that name, as the draft intends.
    ///
    /// ```
    /// let o = keel_health::CheckOptions::new("postgres:responseTime").component_id("replica-1");
    /// assert_eq!(o.component_id_str(), Some("replica-1"));
    /// ```
    #[must_use]
    pub fn component_id(mut self, id: impl Into<String>) -> Self {
        self.component_id = Some(Arc::from(id.into()));
        self
    }

    /// Sets the `componentType` of the report entry: `"datastore"`, `"system"`,
    /// `"component"` or any other value.
    ///
    /// ```
    /// let o = keel_health::CheckOptions::new("redis").component_type("datastore");
    /// assert_eq!(o.component_type_str(), Some("datastore"));
    /// ```
    #[must_use]
    pub fn component_type(mut self, component_type: impl Into<String>) -> Self {
        self.component_type = Some(Arc::from(component_type.into()));
        self
    }

    /// Sets `affectedEndpoints`: the URIs that break when this check fails (shown for
    /// `warn`/`fail` entries only).
    ///
    /// ```
    /// let o = keel_health::CheckOptions::new("search").affected_endpoints(["/api/v1/search"]);
    /// # let _ = o;
    /// ```
    #[must_use]
    pub fn affected_endpoints<I, S>(mut self, endpoints: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.affected_endpoints = endpoints.into_iter().map(Into::into).collect();
        self
    }

    /// The check name.
    ///
    /// ```
    /// assert_eq!(keel_health::CheckOptions::new("uptime").name(), "uptime");
    /// ```
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The probes this check belongs to.
    ///
    /// ```
    /// assert_eq!(keel_health::CheckOptions::new("x").kinds_set(), keel_health::Kinds::READINESS);
    /// ```
    #[must_use]
    pub const fn kinds_set(&self) -> Kinds {
        self.kinds
    }

    /// The criticality.
    ///
    /// ```
    /// assert_eq!(keel_health::CheckOptions::new("x").criticality_level(), keel_health::Criticality::Critical);
    /// ```
    #[must_use]
    pub const fn criticality_level(&self) -> Criticality {
        self.criticality
    }

    /// The timeout of one run.
    ///
    /// ```
    /// assert_eq!(keel_health::CheckOptions::new("x").timeout_duration(), keel_health::CheckOptions::DEFAULT_TIMEOUT);
    /// ```
    #[must_use]
    pub const fn timeout_duration(&self) -> Duration {
        self.timeout
    }

    /// The result TTL.
    ///
    /// ```
    /// assert_eq!(keel_health::CheckOptions::new("x").ttl_duration(), keel_health::CheckOptions::DEFAULT_TTL);
    /// ```
    #[must_use]
    pub const fn ttl_duration(&self) -> Duration {
        self.ttl
    }

    /// The component id, if set.
    ///
    /// ```
    /// assert_eq!(keel_health::CheckOptions::new("x").component_id_str(), None);
    /// ```
    #[must_use]
    pub fn component_id_str(&self) -> Option<&str> {
        self.component_id.as_deref()
    }

    /// The component type, if set.
    ///
    /// ```
    /// assert_eq!(keel_health::CheckOptions::new("x").component_type_str(), None);
    /// ```
    #[must_use]
    pub fn component_type_str(&self) -> Option<&str> {
        self.component_type.as_deref()
    }

    /// Checks the name and the timeout.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        let name = &*self.name;
        let invalid = |reason| {
            Err(Error::InvalidName {
                name: name.to_owned(),
                reason,
            })
        };
        if name.is_empty() {
            return invalid("empty");
        }
        if name.len() > 128 {
            return invalid("longer than 128 bytes");
        }
        if name.chars().any(char::is_control) {
            return invalid("contains a control character");
        }
        if name.matches(':').count() > 1 {
            return invalid("more than one ':' (the form is component:measurement)");
        }
        if self.timeout.is_zero() {
            return Err(Error::ZeroTimeout {
                name: name.to_owned(),
            });
        }
        Ok(())
    }
}

impl From<&str> for CheckOptions {
    fn from(name: &str) -> Self {
        Self::new(name)
    }
}

impl From<String> for CheckOptions {
    fn from(name: String) -> Self {
        Self::new(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, ok: bool) {
        assert_eq!(CheckOptions::new(name).validate().is_ok(), ok, "{name:?}");
    }

    #[test]
    fn names() {
        check("postgres:responseTime", true);
        check("uptime", true);
        check(":responseTime", true);
        check("memory:utilization", true);
        check("", false);
        check("a:b:c", false);
        check("bad\nname", false);
        check(&"x".repeat(129), false);
        check(&"x".repeat(128), true);
    }

    #[test]
    fn zero_timeout_is_rejected() {
        let err = CheckOptions::new("x")
            .timeout(Duration::ZERO)
            .validate()
            .unwrap_err();
        assert!(matches!(err, Error::ZeroTimeout { .. }));
    }

    #[test]
    fn kinds_debug() {
        assert_eq!(format!("{:?}", Kinds::NONE), "NONE");
        assert_eq!(
            format!("{:?}", Kinds::READINESS | Kinds::STARTUP),
            "READINESS | STARTUP"
        );
        let mut k = Kinds::LIVENESS;
        k |= Kinds::STARTUP;
        assert_eq!(format!("{k:?}"), "LIVENESS | STARTUP");
    }
}
