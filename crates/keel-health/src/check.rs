//! The [`Check`] trait, what a check returns ([`Observation`]), and the conversions
//! ([`IntoObservation`]) that let plain async closures be checks.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde_json::Value;

use crate::Status;

/// One health check: an async function that observes a component and reports an
/// [`Observation`].
///
/// You rarely implement it by hand: every `Fn() -> impl Future` whose output converts
/// into an observation ([`IntoObservation`]: `Result<T, E: Display>`, `bool`, `()`,
/// [`Status`], [`Observation`]) is a `Check`, so a dependency's `ping()` plugs in as
/// `|| async move { pool.ping().await }` without the crates knowing each other.
///
/// The registry runs the check in its own tokio task under the per-check timeout, so a
/// check may block on I/O freely; a check that hangs becomes `fail` ("timed out after
/// …") and a check that panics becomes `fail` ("check panicked"); neither reaches the
/// endpoint.
///
/// ```
/// use keel_health::{Check, Observation};
///
/// /// A check with state: fails when the queue is too long.
/// struct QueueDepth(std::sync::Arc<std::sync::atomic::AtomicUsize>);
///
/// impl Check for QueueDepth {
///     async fn check(&self) -> Observation {
///         let depth = self.0.load(std::sync::atomic::Ordering::Relaxed);
///         let observation = if depth > 10_000 {
///             Observation::fail(format!("{depth} jobs waiting"))
///         } else {
///             Observation::pass()
///         };
///         observation.with_value(depth, "jobs")
///     }
/// }
///
/// let health = keel_health::Health::builder()
///     .check("queue:depth", QueueDepth(Default::default()))
///     // A closure is a check too.
///     .check("upstream:responseTime", || async { Ok::<(), std::io::Error>(()) })
///     .build()?;
/// # Ok::<(), keel_health::Error>(())
/// ```
pub trait Check: Send + Sync + 'static {
    /// Runs the check once.
    ///
    /// Errors are part of the observation (`Observation::fail`), not a `Result`, because
    /// a failing component is a normal outcome for a health check.
    fn check(&self) -> impl Future<Output = Observation> + Send;
}

impl<F, Fut> Check for F
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future + Send,
    Fut::Output: IntoObservation,
{
    fn check(&self) -> impl Future<Output = Observation> + Send {
        let fut = self();
        async move { fut.await.into_observation() }
    }
}

/// Object-safe form of [`Check`], used to store checks of different types together.
pub(crate) trait DynCheck: Send + Sync + 'static {
    fn check_boxed(&self) -> Pin<Box<dyn Future<Output = Observation> + Send + '_>>;
}

impl<C: Check> DynCheck for C {
    fn check_boxed(&self) -> Pin<Box<dyn Future<Output = Observation> + Send + '_>> {
        Box::pin(self.check())
    }
}

/// The outcome of one run of a check: status, an optional observed value with its unit,
/// an optional output (the error, shown to authorized callers only) and an optional
/// component type overriding the registered one.
///
/// ```
/// use keel_health::{Observation, Status};
///
/// let o = Observation::warn("replica lag is high").with_value(12.5, "s");
/// assert_eq!(o.status(), Status::Warn);
/// assert_eq!(o.observed_value(), Some(&serde_json::json!(12.5)));
/// assert_eq!(o.observed_unit(), Some("s"));
/// assert_eq!(o.output(), Some("replica lag is high"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    status: Status,
    observed_value: Option<Value>,
    observed_unit: Option<Cow<'static, str>>,
    output: Option<String>,
    component_type: Option<Cow<'static, str>>,
}

impl Observation {
    /// An observation with the given status and nothing else.
    ///
    /// ```
    /// let o = keel_health::Observation::new(keel_health::Status::Pass);
    /// assert_eq!(o.output(), None);
    /// ```
    #[must_use]
    pub const fn new(status: Status) -> Self {
        Self {
            status,
            observed_value: None,
            observed_unit: None,
            output: None,
            component_type: None,
        }
    }

    /// A passing observation.
    ///
    /// ```
    /// assert_eq!(keel_health::Observation::pass().status(), keel_health::Status::Pass);
    /// ```
    #[must_use]
    pub const fn pass() -> Self {
        Self::new(Status::Pass)
    }

    /// A passing observation of a round trip: its duration as the observed value, in
    /// milliseconds (unit `"ms"`), as for a `…:responseTime` check. A `Duration`
    /// returned by a check converts into this ([`IntoObservation`]), so a `ping()` that
    /// returns the round trip plugs in as is.
    ///
    /// ```
    /// use std::time::Duration;
    /// use keel_health::{Observation, Status};
    ///
    /// let o = Observation::response_time(Duration::from_micros(1500));
    /// assert_eq!(o.status(), Status::Pass);
    /// assert_eq!(o.observed_value(), Some(&serde_json::json!(1.5)));
    /// assert_eq!(o.observed_unit(), Some("ms"));
    /// ```
    #[must_use]
    pub fn response_time(rtt: Duration) -> Self {
        Self::pass().with_value(rtt.as_secs_f64() * 1000.0, "ms")
    }

    /// A degraded observation with a human-readable reason.
    ///
    /// ```
    /// assert_eq!(keel_health::Observation::warn("slow").output(), Some("slow"));
    /// ```
    #[must_use]
    pub fn warn(output: impl Into<String>) -> Self {
        Self::new(Status::Warn).with_output(output)
    }

    /// A failing observation with a human-readable reason (typically the error).
    ///
    /// The output is shown only to callers the details policy authorizes.
    ///
    /// ```
    /// let o = keel_health::Observation::fail("connection refused");
    /// assert!(o.status().is_fail());
    /// ```
    #[must_use]
    pub fn fail(output: impl Into<String>) -> Self {
        Self::new(Status::Fail).with_output(output)
    }

    /// Sets the observed value (any JSON value: number, string, bool…) and its unit
    /// (`"ms"`, `"percent"`, `"bytes"`, …).
    ///
    /// ```
    /// let o = keel_health::Observation::pass().with_value(42u64, "connections");
    /// assert_eq!(o.observed_unit(), Some("connections"));
    /// ```
    #[must_use]
    pub fn with_value(
        mut self,
        value: impl Into<Value>,
        unit: impl Into<Cow<'static, str>>,
    ) -> Self {
        self.observed_value = Some(value.into());
        self.observed_unit = Some(unit.into());
        self
    }

    /// Sets the output: the reason for `warn`/`fail`; the draft says to omit it for `pass`.
    ///
    /// ```
    /// let o = keel_health::Observation::pass().with_output("all good");
    /// assert_eq!(o.output(), Some("all good"));
    /// ```
    #[must_use]
    pub fn with_output(mut self, output: impl Into<String>) -> Self {
        self.output = Some(output.into());
        self
    }

    /// Overrides the registered component type (`"datastore"`, `"system"`, `"component"`).
    ///
    /// ```
    /// let o = keel_health::Observation::pass().with_component_type("datastore");
    /// assert_eq!(o.component_type(), Some("datastore"));
    /// ```
    #[must_use]
    pub fn with_component_type(mut self, component_type: impl Into<Cow<'static, str>>) -> Self {
        self.component_type = Some(component_type.into());
        self
    }

    /// The status.
    ///
    /// ```
    /// assert!(keel_health::Observation::fail("x").status().is_fail());
    /// ```
    #[must_use]
    pub const fn status(&self) -> Status {
        self.status
    }

    /// The observed value, if any.
    ///
    /// ```
    /// assert_eq!(keel_health::Observation::pass().observed_value(), None);
    /// ```
    #[must_use]
    pub const fn observed_value(&self) -> Option<&Value> {
        self.observed_value.as_ref()
    }

    /// The unit of the observed value, if any.
    ///
    /// ```
    /// assert_eq!(keel_health::Observation::pass().with_value(1, "ms").observed_unit(), Some("ms"));
    /// ```
    #[must_use]
    pub fn observed_unit(&self) -> Option<&str> {
        self.observed_unit.as_deref()
    }

    /// The output, if any.
    ///
    /// ```
    /// assert_eq!(keel_health::Observation::pass().output(), None);
    /// ```
    #[must_use]
    pub fn output(&self) -> Option<&str> {
        self.output.as_deref()
    }

    /// The component type set by the check, if any.
    ///
    /// ```
    /// assert_eq!(keel_health::Observation::pass().component_type(), None);
    /// ```
    #[must_use]
    pub fn component_type(&self) -> Option<&str> {
        self.component_type.as_deref()
    }
}

impl From<Status> for Observation {
    fn from(status: Status) -> Self {
        Self::new(status)
    }
}

/// What a check closure may return; converted into an [`Observation`].
///
/// | returned | observation |
/// |---|---|
/// | [`Observation`] | as is |
/// | [`Status`] | that status |
/// | `()` | `pass` |
/// | `bool` | `true` → `pass`, `false` → `fail` ("check returned false") |
/// | [`Duration`] | `pass` with the round trip in milliseconds ([`Observation::response_time`]) |
/// | `Result<T, E: Display>` | `Ok(t)` → `t`'s observation, `Err(e)` → `fail` with `e.to_string()` as output |
///
/// So `pool.ping()` returning `Result<(), PoolError>` or `Result<Duration, _>` (the
/// round trip, reported in milliseconds) plugs in directly as long as the `Ok` type
/// converts (map it to `()` otherwise).
///
/// ```
/// use keel_health::{IntoObservation, Status};
///
/// assert_eq!(Ok::<(), String>(()).into_observation().status(), Status::Pass);
/// let failed = Err::<(), _>("connection refused").into_observation();
/// assert_eq!((failed.status(), failed.output()), (Status::Fail, Some("connection refused")));
/// assert_eq!(false.into_observation().status(), Status::Fail);
/// ```
pub trait IntoObservation {
    /// Performs the conversion.
    fn into_observation(self) -> Observation;
}

impl IntoObservation for Observation {
    fn into_observation(self) -> Observation {
        self
    }
}

impl IntoObservation for Status {
    fn into_observation(self) -> Observation {
        Observation::new(self)
    }
}

impl IntoObservation for () {
    fn into_observation(self) -> Observation {
        Observation::pass()
    }
}

impl IntoObservation for bool {
    fn into_observation(self) -> Observation {
        if self {
            Observation::pass()
        } else {
            Observation::fail("check returned false")
        }
    }
}

impl IntoObservation for Duration {
    fn into_observation(self) -> Observation {
        Observation::response_time(self)
    }
}

impl<T: IntoObservation, E: fmt::Display> IntoObservation for Result<T, E> {
    fn into_observation(self) -> Observation {
        match self {
            Ok(t) => t.into_observation(),
            Err(e) => Observation::fail(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: impl IntoObservation, status: Status, output: Option<&str>) {
        let o = input.into_observation();
        assert_eq!((o.status(), o.output()), (status, output));
    }

    #[test]
    fn conversions() {
        check((), Status::Pass, None);
        check(true, Status::Pass, None);
        check(false, Status::Fail, Some("check returned false"));
        check(Status::Warn, Status::Warn, None);
        check(Ok::<_, String>(Status::Warn), Status::Warn, None);
        check(
            Err::<(), _>(std::io::Error::other("boom")),
            Status::Fail,
            Some("boom"),
        );
        check(Observation::warn("w"), Status::Warn, Some("w"));
        check(Duration::from_millis(3), Status::Pass, None);
        check(
            Err::<Duration, _>("timed out"),
            Status::Fail,
            Some("timed out"),
        );
    }

    #[test]
    fn a_round_trip_is_reported_in_milliseconds() {
        let o = Ok::<_, String>(Duration::from_micros(2_250)).into_observation();
        assert_eq!(o.observed_value(), Some(&serde_json::json!(2.25)));
        assert_eq!(o.observed_unit(), Some("ms"));
    }

    #[tokio::test]
    async fn closures_are_checks() {
        let c = || async { Err::<(), _>("down") };
        let o = Check::check(&c).await;
        assert_eq!(o.output(), Some("down"));
        let boxed: &dyn DynCheck = &c;
        assert!(boxed.check_boxed().await.status().is_fail());
    }
}
