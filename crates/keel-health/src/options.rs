//! [`CheckOptions`] (how a check is registered), built with [`CheckOptionsBuilder`], and
//! [`Probes`] (the set of [`Probe`]s that run it).

use std::fmt;
use std::ops::{BitOr, BitOrAssign};
use std::sync::Arc;
use std::time::Duration;

use crate::{Criticality, Error, Probe};

/// The probes a check belongs to: a set of [`Probe`]s, built with `|`. Every check is part
/// of the full report (`/health`) whatever its probes, so [`Probe::Full`] adds nothing.
///
/// ```
/// use keel_health::{Probe, Probes};
///
/// let p = Probe::Readiness | Probe::Startup;
/// assert!(p.contains(Probe::Startup) && !p.contains(Probe::Liveness));
/// assert!(Probes::NONE.is_empty());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Probes(u8);

impl Probes {
    /// In no probe: only in the full report (system figures, informational checks).
    pub const NONE: Self = Self(0);

    const fn bit(probe: Probe) -> u8 {
        match probe {
            Probe::Liveness => 1,
            Probe::Readiness => 2,
            Probe::Startup => 4,
            Probe::Full => 0,
        }
    }

    /// `true` when `probe` runs checks of this set ([`Probe::Full`] runs every check).
    #[must_use]
    pub const fn contains(self, probe: Probe) -> bool {
        matches!(probe, Probe::Full) || self.0 & Self::bit(probe) != 0
    }

    /// `true` for [`Probes::NONE`].
    #[must_use]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl From<Probe> for Probes {
    fn from(probe: Probe) -> Self {
        Self(Self::bit(probe))
    }
}

impl BitOr<Probe> for Probe {
    type Output = Probes;
    fn bitor(self, rhs: Probe) -> Probes {
        Probes::from(self) | rhs
    }
}

impl BitOr<Probe> for Probes {
    type Output = Self;
    fn bitor(self, rhs: Probe) -> Self {
        Self(self.0 | Self::bit(rhs))
    }
}

impl BitOr for Probes {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl BitOrAssign<Probe> for Probes {
    fn bitor_assign(&mut self, rhs: Probe) {
        self.0 |= Self::bit(rhs);
    }
}

impl fmt::Debug for Probes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("NONE");
        }
        let mut set = f.debug_set();
        for p in [Probe::Liveness, Probe::Readiness, Probe::Startup] {
            if self.contains(p) {
                set.entry(&p);
            }
        }
        set.finish()
    }
}

/// How a check is registered: its name, probes, criticality, timeout, cache TTL and the
/// component fields of the report. Built with [`CheckOptions::builder`]; a `&str` or
/// `String` converts into options with the defaults.
///
/// Defaults: readiness only, critical, timeout [`CheckOptions::DEFAULT_TIMEOUT`] (500 ms),
/// TTL [`CheckOptions::DEFAULT_TTL`] (1 s). See `docs/health.md` for why.
///
/// ```
/// use std::time::Duration;
/// use keel_health::{CheckOptions, Criticality, Probe};
///
/// let options = CheckOptions::builder("redis:responseTime")
///     .probes(Probe::Readiness | Probe::Startup)
///     .non_critical()
///     .timeout(Duration::from_millis(200))
///     .ttl(Duration::from_secs(2))
///     .component_type("datastore")
///     .component_id("cache-primary")
///     .build();
/// assert_eq!(options.name(), "redis:responseTime");
/// assert!(options.probes().contains(Probe::Startup));
/// assert_eq!(options.criticality(), Criticality::NonCritical);
/// assert_eq!(options.timeout(), Duration::from_millis(200));
/// assert_eq!(options.ttl(), Duration::from_secs(2));
/// assert_eq!(options.component_id(), Some("cache-primary"));
/// assert_eq!(options.component_type(), Some("datastore"));
/// ```
#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub(crate) name: Arc<str>,
    pub(crate) probes: Probes,
    pub(crate) criticality: Criticality,
    pub(crate) timeout: Duration,
    pub(crate) ttl: Duration,
    pub(crate) component_id: Option<Arc<str>>,
    pub(crate) component_type: Option<Arc<str>>,
    pub(crate) affected_endpoints: Arc<[String]>,
}

/// Builds [`CheckOptions`]; [`Health`](crate::Health)'s `check` methods take the builder
/// as it is (no `build()` needed).
#[derive(Debug, Clone)]
#[must_use]
pub struct CheckOptionsBuilder {
    options: CheckOptions,
}

impl CheckOptions {
    /// Default per-check timeout: half of Kubernetes' default probe timeout (1 s), so a
    /// slow dependency is reported as timed out instead of the probe itself timing out.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(500);
    /// Default result TTL: a probe storm runs each check at most once per second.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(1);

    /// Options with every default for a check named `component:measurement` (e.g.
    /// `postgres:responseTime`; either part may be omitted, as in `uptime`).
    ///
    /// The name is validated by [`HealthBuilder::build`](crate::HealthBuilder::build).
    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: Arc::from(name.into()),
            probes: Probes::from(Probe::Readiness),
            criticality: Criticality::Critical,
            timeout: Self::DEFAULT_TIMEOUT,
            ttl: Self::DEFAULT_TTL,
            component_id: None,
            component_type: None,
            affected_endpoints: Arc::from(Vec::new()),
        }
    }

    /// A builder starting from the defaults of [`CheckOptions::new`].
    pub fn builder(name: impl Into<String>) -> CheckOptionsBuilder {
        CheckOptionsBuilder {
            options: Self::new(name),
        }
    }

    /// The check name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The probes this check belongs to.
    #[must_use]
    pub const fn probes(&self) -> Probes {
        self.probes
    }

    /// The criticality.
    #[must_use]
    pub const fn criticality(&self) -> Criticality {
        self.criticality
    }

    /// The timeout of one run.
    #[must_use]
    pub const fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How long a result is reused.
    #[must_use]
    pub const fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The component id, if set.
    #[must_use]
    pub fn component_id(&self) -> Option<&str> {
        self.component_id.as_deref()
    }

    /// The component type, if set.
    #[must_use]
    pub fn component_type(&self) -> Option<&str> {
        self.component_type.as_deref()
    }

    /// The URIs that break when this check fails.
    #[must_use]
    pub fn affected_endpoints(&self) -> &[String] {
        &self.affected_endpoints
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

impl CheckOptionsBuilder {
    /// Sets the probes this check belongs to (replacing the default, readiness only);
    /// [`Probes::NONE`] keeps it in the full report only.
    pub fn probes(mut self, probes: impl Into<Probes>) -> Self {
        self.options.probes = probes.into();
        self
    }

    /// Sets the criticality.
    pub const fn criticality(mut self, criticality: Criticality) -> Self {
        self.options.criticality = criticality;
        self
    }

    /// Shorthand for `criticality(Criticality::NonCritical)`: a failure only degrades the
    /// report to `warn` (HTTP 200), like health-go's `SkipOnErr`.
    pub const fn non_critical(self) -> Self {
        self.criticality(Criticality::NonCritical)
    }

    /// Sets the timeout of one run. A run that takes longer is cancelled and reported as
    /// `fail` with output "timed out after …". Must be greater than zero
    /// ([`HealthBuilder::build`](crate::HealthBuilder::build) says so otherwise).
    pub const fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = timeout;
        self
    }

    /// Sets how long a result is reused. Concurrent callers share one run (single
    /// flight) even with a zero TTL; with a background [`Poller`](crate::Poller) this is
    /// also the polling interval. Failures are cached too: that is when a dependency
    /// needs protection most.
    pub const fn ttl(mut self, ttl: Duration) -> Self {
        self.options.ttl = ttl;
        self
    }

    /// Sets the `componentId` of the report entry (e.g. a node or shard name). Several
    /// checks may share a name when their component ids differ: they form one array
    /// under that name, as the draft intends.
    pub fn component_id(mut self, id: impl Into<String>) -> Self {
        self.options.component_id = Some(Arc::from(id.into()));
        self
    }

    /// Sets the `componentType` of the report entry: `"datastore"`, `"system"`,
    /// `"component"` or any other value.
    pub fn component_type(mut self, component_type: impl Into<String>) -> Self {
        self.options.component_type = Some(Arc::from(component_type.into()));
        self
    }

    /// Sets `affectedEndpoints`: the URIs that break when this check fails (shown for
    /// `warn`/`fail` entries only).
    pub fn affected_endpoints<I, S>(mut self, endpoints: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.options.affected_endpoints = endpoints.into_iter().map(Into::into).collect();
        self
    }

    /// The options.
    #[must_use]
    pub fn build(self) -> CheckOptions {
        self.options
    }
}

impl From<CheckOptionsBuilder> for CheckOptions {
    fn from(b: CheckOptionsBuilder) -> Self {
        b.options
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
        let err = CheckOptions::builder("x")
            .timeout(Duration::ZERO)
            .build()
            .validate()
            .unwrap_err();
        assert!(matches!(err, Error::ZeroTimeout { .. }));
    }

    #[test]
    fn probes_debug_and_membership() {
        assert_eq!(format!("{:?}", Probes::NONE), "NONE");
        assert_eq!(
            format!("{:?}", Probe::Readiness | Probe::Startup),
            "{Readiness, Startup}"
        );
        let mut p = Probes::from(Probe::Liveness);
        p |= Probe::Startup;
        assert_eq!(format!("{p:?}"), "{Liveness, Startup}");
        assert!(Probes::NONE.contains(Probe::Full));
        assert!(!Probes::NONE.contains(Probe::Readiness));
        assert_eq!(Probes::from(Probe::Full), Probes::NONE);
    }
}
