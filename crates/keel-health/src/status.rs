//! [`Status`] and [`Criticality`]: what a check says and how much it weighs.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The status of one check or of a whole report, as in `draft-inadarei-api-health-check`.
///
/// Ordered from best to worst (`Pass < Warn < Fail`), so the worst of several is their
/// maximum. `Pass` and `Warn` are answered with HTTP 200, `Fail` with 503.
///
/// ```
/// use keel_health::Status;
///
/// assert!(Status::Pass < Status::Warn && Status::Warn < Status::Fail);
/// assert_eq!(Status::Warn.http_status_code(), 200);
/// assert_eq!(Status::Fail.http_status_code(), 503);
/// assert_eq!(serde_json::to_string(&Status::Warn)?, r#""warn""#);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Healthy (`"pass"`; the draft's aliases are `ok` and `up`).
    Pass,
    /// Healthy with concerns, i.e. degraded (`"warn"`). Still answered with HTTP 200.
    Warn,
    /// Unhealthy (`"fail"`; aliases `error` and `down`). Answered with HTTP 503.
    Fail,
}

impl Status {
    /// The wire name: `"pass"`, `"warn"` or `"fail"`.
    ///
    /// ```
    /// assert_eq!(keel_health::Status::Fail.as_str(), "fail");
    /// ```
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Warn => "warn",
            Self::Fail => "fail",
        }
    }

    /// The HTTP status code a health endpoint answers with: 200 for `Pass` and `Warn`,
    /// 503 for `Fail` (so probes and load balancers only act on real failures).
    ///
    /// ```
    /// assert_eq!(keel_health::Status::Pass.http_status_code(), 200);
    /// ```
    #[must_use]
    pub const fn http_status_code(self) -> u16 {
        match self {
            Self::Pass | Self::Warn => 200,
            Self::Fail => 503,
        }
    }

    /// `true` for [`Status::Fail`].
    ///
    /// ```
    /// assert!(keel_health::Status::Fail.is_fail());
    /// assert!(!keel_health::Status::Warn.is_fail());
    /// ```
    #[must_use]
    pub const fn is_fail(self) -> bool {
        matches!(self, Self::Fail)
    }

    /// The overall status of a set of checks: the worst of their
    /// [effective](Criticality::effective) statuses, `Pass` when there are none.
    ///
    /// A failing critical check fails the whole; a failing non-critical check only
    /// degrades it to `Warn`.
    ///
    /// ```
    /// use keel_health::{Criticality::*, Status::*};
    ///
    /// assert_eq!(keel_health::Status::aggregate([]), Pass);
    /// assert_eq!(keel_health::Status::aggregate([(Pass, Critical), (Fail, NonCritical)]), Warn);
    /// assert_eq!(keel_health::Status::aggregate([(Warn, NonCritical), (Fail, Critical)]), Fail);
    /// ```
    #[must_use]
    pub fn aggregate(checks: impl IntoIterator<Item = (Status, Criticality)>) -> Status {
        checks
            .into_iter()
            .map(|(status, criticality)| criticality.effective(status))
            .max()
            .unwrap_or(Status::Pass)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How much a check's failure weighs on the overall status.
///
/// ```
/// use keel_health::{Criticality, Status};
///
/// assert_eq!(Criticality::Critical.effective(Status::Fail), Status::Fail);
/// assert_eq!(Criticality::NonCritical.effective(Status::Fail), Status::Warn);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Criticality {
    /// The service cannot work without it: its `fail` fails the report (the default).
    #[default]
    Critical,
    /// The service degrades without it (a cache, a recommendation engine): its `fail`
    /// makes the report `warn`, which is still HTTP 200.
    NonCritical,
}

impl Criticality {
    /// The status this check contributes to the overall status: unchanged for critical
    /// checks, `Fail` capped at `Warn` for non-critical ones.
    ///
    /// ```
    /// use keel_health::{Criticality, Status};
    ///
    /// assert_eq!(Criticality::NonCritical.effective(Status::Pass), Status::Pass);
    /// ```
    #[must_use]
    pub const fn effective(self, status: Status) -> Status {
        match (self, status) {
            (Self::NonCritical, Status::Fail) => Status::Warn,
            (_, s) => s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &[(Status, Criticality)], expected: Status) {
        assert_eq!(
            Status::aggregate(input.iter().copied()),
            expected,
            "{input:?}"
        );
    }

    #[test]
    fn aggregation_table() {
        use Criticality::{Critical as C, NonCritical as N};
        use Status::{Fail, Pass, Warn};
        check(&[], Pass);
        check(&[(Pass, C)], Pass);
        check(&[(Warn, C)], Warn);
        check(&[(Fail, C)], Fail);
        check(&[(Pass, N)], Pass);
        check(&[(Warn, N)], Warn);
        check(&[(Fail, N)], Warn);
        check(&[(Fail, N), (Fail, N)], Warn);
        check(&[(Fail, N), (Pass, C)], Warn);
        check(&[(Fail, N), (Fail, C)], Fail);
        check(&[(Warn, C), (Pass, N)], Warn);
    }

    #[test]
    fn http_codes() {
        assert_eq!(Status::Pass.http_status_code(), 200);
        assert_eq!(Status::Warn.http_status_code(), 200);
        assert_eq!(Status::Fail.http_status_code(), 503);
    }

    #[test]
    fn wire_names_roundtrip() {
        for s in [Status::Pass, Status::Warn, Status::Fail] {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
            assert_eq!(serde_json::from_str::<Status>(&json).unwrap(), s);
            assert_eq!(s.to_string(), s.as_str());
        }
    }
}
