//! [`Error`]: configuration errors (never validation failures, which are [`ValidationErrors`](crate::ValidationErrors)).

/// A rule or policy was configured wrongly: an invalid regex, `min` above `max`.
///
/// Validation failures of *input* are never an `Error`: they are
/// [`ValidationErrors`](crate::ValidationErrors). This type reports mistakes of the
/// programmer that are detected when a rule is built at run time.
///
/// ```
/// use keel_validation::{Error, PasswordPolicy};
/// let err = PasswordPolicy::nist().min_chars(200).build().unwrap_err();
/// assert!(matches!(err, Error::InvalidConfig(_)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A regular expression did not compile.
    #[error("invalid regular expression: {0}")]
    InvalidRegex(String),
    /// Options contradict each other (`min` above `max`, …).
    #[error("invalid validation config: {0}")]
    InvalidConfig(&'static str),
}
