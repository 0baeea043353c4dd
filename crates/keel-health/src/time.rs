//! RFC 3339 timestamps (UTC, millisecond precision) without a date-time dependency.

use std::fmt;
use std::time::{Duration, SystemTime};

/// Formats as `YYYY-MM-DDTHH:MM:SS.mmmZ`. Times before 1970 print as the epoch.
pub(crate) struct Rfc3339(pub(crate) SystemTime);

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let since = self
            .0
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        let secs = since.as_secs();
        let (days, rem) = (secs / 86_400, secs % 86_400);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60,
            since.subsec_millis()
        )
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`, for non-negative day counts).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(secs: u64, millis: u64, expected: &str) {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis);
        assert_eq!(Rfc3339(t).to_string(), expected);
    }

    #[test]
    fn known_answers() {
        // Values cross-checked with `date -u -d @<secs>`.
        check(0, 0, "1970-01-01T00:00:00.000Z");
        check(1_516_160_208, 0, "2018-01-17T03:36:48.000Z"); // the draft's example time
        check(951_782_400, 5, "2000-02-29T00:00:00.005Z"); // leap day of a 400-year leap year
        check(4_107_542_399, 999, "2100-02-28T23:59:59.999Z"); // 2100 is not a leap year
        check(4_107_542_400, 0, "2100-03-01T00:00:00.000Z");
        check(1_795_318_496, 123, "2026-11-22T03:34:56.123Z");
    }

    #[test]
    fn before_epoch_is_epoch() {
        let t = SystemTime::UNIX_EPOCH - Duration::from_secs(10);
        assert_eq!(Rfc3339(t).to_string(), "1970-01-01T00:00:00.000Z");
    }
}
