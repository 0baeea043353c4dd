//! [`Error`]: everything that can go wrong, and [`QuotaError`] for quota specs.

use std::fmt;
use std::time::Duration;

/// The error type of this crate.
///
/// ```
/// use keel_ratelimit::{Error, KeyedLimiter, Quota};
///
/// let limiter = KeyedLimiter::builder().quota(Quota::per_minute(5)).build()?;
/// // A cost above the burst can never pass: a distinct error, not a denial.
/// let err = limiter.check_key(&"alice".into(), 6).unwrap_err();
/// assert!(matches!(err, Error::CostExceedsBurst { cost: 6, burst: 5 }));
/// assert!(!err.is_retryable());
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A quota (typed or parsed from a string) is malformed, zero or too large.
    #[error(transparent)]
    InvalidQuota(#[from] QuotaError),
    /// A limiter was built without any quota.
    #[error("a rate limiter needs at least one quota")]
    NoQuota,
    /// A configuration value is out of range (the message names it).
    #[error("invalid rate limiter configuration: {0}")]
    InvalidConfig(&'static str),
    /// The request costs more than the smallest burst of the key's quotas: it can never
    /// pass, however long the client waits.
    #[error("a cost of {cost} exceeds the burst of {burst}: the request can never pass")]
    CostExceedsBurst {
        /// The requested cost.
        cost: u32,
        /// The smallest burst among the quotas.
        burst: u32,
    },
    /// The shared backend did not answer within the configured timeout.
    #[error("the rate limit backend did not answer within {after:?}")]
    Timeout {
        /// The timeout that elapsed.
        after: Duration,
    },
    /// The shared backend is down and the limiter is configured to fail closed.
    #[error("the rate limit backend is unavailable (fail-closed)")]
    Unavailable,
    /// The shared backend answered with an error or something unexpected.
    #[error("rate limit backend error: {0}")]
    Backend(String),
    /// A Redis error.
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
}

impl Error {
    /// Whether retrying later may succeed: backend outages yes, bad input or
    /// configuration no.
    ///
    /// ```
    /// assert!(keel_ratelimit::Error::Unavailable.is_retryable());
    /// assert!(!keel_ratelimit::Error::NoQuota.is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Timeout { .. } | Self::Unavailable | Self::Backend(_) => true,
            #[cfg(feature = "redis")]
            Self::Redis(_) => true,
            Self::InvalidQuota(_)
            | Self::NoQuota
            | Self::InvalidConfig(_)
            | Self::CostExceedsBurst { .. } => false,
        }
    }

    /// The HTTP status a server should answer with: 429 for a cost that can never pass,
    /// 503 for backend outages, 500 for configuration errors.
    ///
    /// ```
    /// use keel_ratelimit::Error;
    /// assert_eq!(Error::Unavailable.status(), http::StatusCode::SERVICE_UNAVAILABLE);
    /// ```
    pub fn status(&self) -> http::StatusCode {
        match self {
            Self::CostExceedsBurst { .. } => http::StatusCode::TOO_MANY_REQUESTS,
            Self::InvalidQuota(_) | Self::NoQuota | Self::InvalidConfig(_) => {
                http::StatusCode::INTERNAL_SERVER_ERROR
            }
            _ => http::StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// Why a quota was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum QuotaErrorKind {
    /// The spec is empty (or an empty item between separators).
    Empty,
    /// The spec does not read `<count> per|/ [<n>] <unit>`.
    Malformed,
    /// The unit is not one of second, minute, hour, day, month, year (or s, m, h, d).
    UnknownUnit,
    /// The count is zero.
    ZeroCount,
    /// The period is zero.
    ZeroPeriod,
    /// The burst is zero.
    ZeroBurst,
    /// A number does not fit, or the burst times the emission interval exceeds ~146 years.
    Overflow,
    /// More than one request per nanosecond: below the clock's resolution.
    TooFine,
}

impl fmt::Display for QuotaErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "empty quota",
            Self::Malformed => {
                "expected `<count>/<unit>`, `<count> per <unit>` or `<count>/<n> <unit>`"
            }
            Self::UnknownUnit => "unknown unit (expected second, minute, hour, day, month or year)",
            Self::ZeroCount => "the count must be at least 1",
            Self::ZeroPeriod => "the period must be longer than zero",
            Self::ZeroBurst => "the burst must be at least 1",
            Self::Overflow => "a number is too large",
            Self::TooFine => "more than one request per nanosecond cannot be enforced",
        })
    }
}

/// A rejected quota: what was given and why it was rejected.
///
/// ```
/// use keel_ratelimit::{Quota, QuotaErrorKind};
/// let err = Quota::parse_many("10/fortnight").unwrap_err();
/// let keel_ratelimit::Error::InvalidQuota(q) = err else { unreachable!() };
/// assert_eq!(q.kind(), QuotaErrorKind::UnknownUnit);
/// assert_eq!(q.input(), "10/fortnight");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaError {
    input: String,
    kind: QuotaErrorKind,
}

impl QuotaError {
    pub(crate) fn new(input: impl Into<String>, kind: QuotaErrorKind) -> Self {
        let mut input = input.into();
        // Quota strings come from configuration; keep error messages bounded anyway.
        if input.len() > 128 {
            let mut cut = 128;
            while !input.is_char_boundary(cut) {
                cut -= 1;
            }
            input.truncate(cut);
            input.push('…');
        }
        Self { input, kind }
    }

    /// The offending quota (the item, for lists; truncated to 128 bytes).
    pub fn input(&self) -> &str {
        &self.input
    }

    /// Why it was rejected.
    pub fn kind(&self) -> QuotaErrorKind {
        self.kind
    }
}

impl fmt::Display for QuotaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid quota {:?}: {}", self.input, self.kind)
    }
}

impl std::error::Error for QuotaError {}
