//! The crate's [`Error`].

/// Errors of keel-health: configuration mistakes found by
/// [`HealthBuilder::build`](crate::HealthBuilder::build), and a missing tokio runtime.
///
/// Check failures are not errors: they are [`Observation`](crate::Observation)s with
/// status `fail`.
///
/// ```
/// let err = keel_health::Health::builder()
///     .check("a:b:c", || async {})
///     .build()
///     .unwrap_err();
/// assert!(matches!(err, keel_health::Error::InvalidName { .. }));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A check name is not of the form `component:measurement`.
    #[error("invalid check name {name:?}: {reason}")]
    InvalidName {
        /// The rejected name.
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// Two checks share a name and a component id (or `uptime` is registered while the
    /// built-in uptime entry is on).
    #[error("check {name:?} is registered twice (give each a distinct component id)")]
    DuplicateCheck {
        /// The duplicated name.
        name: String,
    },
    /// A check's timeout is zero: it could never pass.
    #[error("check {name:?}: the timeout must be greater than zero")]
    ZeroTimeout {
        /// The check's name.
        name: String,
    },
    /// The operation needs a tokio runtime (with its time driver) and none is running.
    #[error("no tokio runtime is running on this thread")]
    NoRuntime,
}
