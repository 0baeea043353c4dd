//! [`Quota`]: "n requests per period", with an optional burst, typed or parsed.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::{Error, QuotaError, QuotaErrorKind};

/// Largest `burst × emission interval` accepted: a quarter of `u64` nanoseconds
/// (~146 years), so GCRA arithmetic on a monotonic clock can never overflow.
const MAX_SPAN_NS: u128 = (u64::MAX / 4) as u128;

/// A rate: `count` requests per `period`, with a burst (default: `count`).
///
/// The constructors say what they mean: [`Quota::per_minute(5)`](Quota::per_minute) is five
/// requests per minute (not one per five minutes). Under GCRA the requests are spread evenly
/// — one every `period / count` — and the burst is how many may arrive at once after a quiet
/// spell. Several quotas on one limiter are ANDed: a request passes only if every quota
/// admits it, and a denial consumes nothing.
///
/// Quotas are checked when a limiter is built ([`Quota::validate`]): zero counts, zero
/// periods and absurd sizes are errors there, never panics.
///
/// ```
/// use std::time::Duration;
/// use keel_ratelimit::Quota;
///
/// let q = Quota::per_minute(5).burst(10);
/// assert_eq!(q.count(), 5);
/// assert_eq!(q.period(), Duration::from_secs(60));
/// assert_eq!(q.burst_size(), 10);
/// assert_eq!(q.emission_interval(), Duration::from_secs(12));
/// assert_eq!(q.to_string(), "5/minute");
///
/// // slowapi / flask-limiter strings; several quotas are ANDed.
/// let qs = Quota::parse_many("10/second; 1000 per day")?;
/// assert_eq!(qs, vec![Quota::per_second(10), Quota::per_day(1000)]);
/// # Ok::<(), keel_ratelimit::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    count: u32,
    period: Duration,
    burst: Option<u32>,
    name: Option<&'static str>,
}

impl Quota {
    /// `count` requests per `period`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let q = keel_ratelimit::Quota::new(3, Duration::from_secs(10));
    /// assert_eq!(q.to_string(), "3/10 seconds");
    /// ```
    pub const fn new(count: u32, period: Duration) -> Self {
        Self {
            count,
            period,
            burst: None,
            name: None,
        }
    }

    /// `count` requests per second.
    ///
    /// ```
    /// assert_eq!(keel_ratelimit::Quota::per_second(10).to_string(), "10/second");
    /// ```
    pub const fn per_second(count: u32) -> Self {
        Self::new(count, Duration::from_secs(1))
    }

    /// `count` requests per minute.
    ///
    /// ```
    /// assert_eq!(keel_ratelimit::Quota::per_minute(5).to_string(), "5/minute");
    /// ```
    pub const fn per_minute(count: u32) -> Self {
        Self::new(count, Duration::from_secs(60))
    }

    /// `count` requests per hour.
    ///
    /// ```
    /// assert_eq!(keel_ratelimit::Quota::per_hour(100).to_string(), "100/hour");
    /// ```
    pub const fn per_hour(count: u32) -> Self {
        Self::new(count, Duration::from_secs(3600))
    }

    /// `count` requests per day (86 400 s).
    ///
    /// ```
    /// assert_eq!(keel_ratelimit::Quota::per_day(1000).to_string(), "1000/day");
    /// ```
    pub const fn per_day(count: u32) -> Self {
        Self::new(count, Duration::from_secs(86_400))
    }

    /// Sets the burst: how many requests may pass at once after a quiet spell (default:
    /// `count`). The rate stays `count / period`.
    ///
    /// ```
    /// let q = keel_ratelimit::Quota::per_second(1).burst(20);
    /// assert_eq!(q.burst_size(), 20);
    /// ```
    #[must_use]
    pub const fn burst(mut self, burst: u32) -> Self {
        self.burst = Some(burst);
        self
    }

    /// Names the quota: the policy identifier in the IETF `RateLimit` / `RateLimit-Policy`
    /// headers (default: the quota's canonical string, like `5/minute`).
    ///
    /// ```
    /// let q = keel_ratelimit::Quota::per_minute(5).named("login");
    /// assert_eq!(q.policy_name(), "login");
    /// ```
    #[must_use]
    pub const fn named(mut self, name: &'static str) -> Self {
        self.name = Some(name);
        self
    }

    /// The number of requests per period.
    pub const fn count(&self) -> u32 {
        self.count
    }

    /// The period.
    pub const fn period(&self) -> Duration {
        self.period
    }

    /// The burst (`count` unless set).
    pub const fn burst_size(&self) -> u32 {
        match self.burst {
            Some(b) => b,
            None => self.count,
        }
    }

    /// The policy name used in headers: the name given to [`named`](Self::named), else the
    /// canonical string.
    ///
    /// ```
    /// assert_eq!(keel_ratelimit::Quota::per_hour(100).policy_name(), "100/hour");
    /// ```
    pub fn policy_name(&self) -> std::borrow::Cow<'static, str> {
        match self.name {
            Some(n) => n.into(),
            None => self.to_string().into(),
        }
    }

    pub(crate) const fn custom_name(&self) -> Option<&'static str> {
        self.name
    }

    /// The GCRA emission interval: `period / count` (one request "drips" back every interval).
    /// Zero for an invalid quota.
    pub fn emission_interval(&self) -> Duration {
        Duration::from_nanos(u64::try_from(self.t_ns_u128()).unwrap_or(u64::MAX))
    }

    fn t_ns_u128(&self) -> u128 {
        self.period
            .as_nanos()
            .checked_div(u128::from(self.count))
            .unwrap_or(0)
    }

    /// Checks the quota: count, period and burst non-zero, at most one request per
    /// nanosecond, `burst × period / count` at most ~146 years.
    ///
    /// # Errors
    /// [`Error::InvalidQuota`] with the [`QuotaErrorKind`].
    ///
    /// ```
    /// use keel_ratelimit::Quota;
    /// assert!(Quota::per_minute(5).validate().is_ok());
    /// assert!(Quota::per_minute(0).validate().is_err());
    /// assert!(Quota::per_second(1).burst(0).validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<(), Error> {
        let fail = |kind| Err(Error::InvalidQuota(QuotaError::new(self.to_string(), kind)));
        if self.count == 0 {
            return fail(QuotaErrorKind::ZeroCount);
        }
        if self.period.is_zero() {
            return fail(QuotaErrorKind::ZeroPeriod);
        }
        if self.burst == Some(0) {
            return fail(QuotaErrorKind::ZeroBurst);
        }
        let t = self.t_ns_u128();
        if t == 0 {
            return fail(QuotaErrorKind::TooFine);
        }
        if t.saturating_mul(u128::from(self.burst_size())) > MAX_SPAN_NS {
            return fail(QuotaErrorKind::Overflow);
        }
        Ok(())
    }

    /// The GCRA parameters `(t, tau)` in nanoseconds; only for validated quotas.
    pub(crate) fn gcra_ns(&self) -> (u64, u64) {
        let t = u64::try_from(self.t_ns_u128()).unwrap_or(u64::MAX).max(1);
        let tau = t.saturating_mul(u64::from(self.burst_size().saturating_sub(1)));
        (t, tau)
    }

    /// The `w` (window, whole seconds, at least 1) advertised in `RateLimit-Policy`: the
    /// time a full burst takes to replenish.
    pub fn window_secs(&self) -> u64 {
        let span = self
            .t_ns_u128()
            .saturating_mul(u128::from(self.burst_size()));
        let secs = span.div_ceil(1_000_000_000);
        u64::try_from(secs).unwrap_or(u64::MAX).max(1)
    }

    /// Parses one or more quotas separated by `;` or `,` — the syntax of slowapi,
    /// flask-limiter and the `limits` library:
    ///
    /// - `5/minute`, `5 per minute`, `100/hour`, `10/2 seconds`, `1000 per 1 day`
    /// - units (case-insensitive, singular or plural): `nanosecond`, `millisecond` (`ms`),
    ///   `second` (`s`, `sec`), `minute` (`m`, `min`), `hour` (`h`, `hr`), `day` (`d`),
    ///   `month` (30 days), `year` (365 days).
    ///
    /// Each quota is [validated](Self::validate).
    ///
    /// # Errors
    /// [`Error::InvalidQuota`]: empty, malformed, unknown unit, zero, overflow; the error
    /// names the offending item.
    ///
    /// ```
    /// use std::time::Duration;
    /// use keel_ratelimit::{Quota, QuotaErrorKind, Error};
    ///
    /// assert_eq!(Quota::parse_many("100 per hour")?, vec![Quota::per_hour(100)]);
    /// assert_eq!(Quota::parse_many("10/2 seconds")?, vec![Quota::new(10, Duration::from_secs(2))]);
    ///
    /// let kind = |s| match Quota::parse_many(s) { Err(Error::InvalidQuota(e)) => Some(e.kind()), _ => None };
    /// assert_eq!(kind("0/minute"), Some(QuotaErrorKind::ZeroCount));
    /// assert_eq!(kind("five/minute"), Some(QuotaErrorKind::Malformed));
    /// assert_eq!(kind("99999999999/second"), Some(QuotaErrorKind::Overflow));
    /// assert_eq!(kind("1/second;"), Some(QuotaErrorKind::Empty));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn parse_many(spec: &str) -> Result<Vec<Self>, Error> {
        if spec.trim().is_empty() {
            return Err(QuotaError::new(spec, QuotaErrorKind::Empty).into());
        }
        spec.split([';', ',']).map(str::parse).collect()
    }
}

impl FromStr for Quota {
    type Err = Error;

    /// Parses a single quota (see [`Quota::parse_many`] for the syntax).
    ///
    /// ```
    /// let q: keel_ratelimit::Quota = "5/minute".parse()?;
    /// assert_eq!(q, keel_ratelimit::Quota::per_minute(5));
    /// # Ok::<(), keel_ratelimit::Error>(())
    /// ```
    fn from_str(item: &str) -> Result<Self, Error> {
        let q = parse_one(item).map_err(|kind| QuotaError::new(item.trim(), kind))?;
        q.validate()?;
        Ok(q)
    }
}

fn parse_one(item: &str) -> Result<Quota, QuotaErrorKind> {
    let s = item.trim();
    if s.is_empty() {
        return Err(QuotaErrorKind::Empty);
    }
    let (count, rest) = split_number(s).ok_or(QuotaErrorKind::Malformed)?;
    let count = count?;
    let rest = rest.trim_start();
    let rest = if let Some(r) = rest.strip_prefix('/') {
        r
    } else if rest.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("per")) {
        let r = rest.get(3..).unwrap_or_default();
        // "per" must be a word of its own: "5 perminute" is malformed.
        if !r.starts_with(|c: char| c.is_ascii_whitespace()) {
            return Err(QuotaErrorKind::Malformed);
        }
        r
    } else {
        return Err(QuotaErrorKind::Malformed);
    };
    let rest = rest.trim_start();
    let (multiplier, unit) = match split_number(rest) {
        Some((n, unit)) => (n?, unit.trim_start()),
        None => (1, rest),
    };
    if unit.is_empty() || !unit.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(
            if unit.is_empty() || unit.bytes().any(|b| !b.is_ascii_alphanumeric()) {
                QuotaErrorKind::Malformed
            } else {
                QuotaErrorKind::UnknownUnit
            },
        );
    }
    let unit_ns = unit_nanos(unit).ok_or(QuotaErrorKind::UnknownUnit)?;
    let period_ns = u128::from(unit_ns) * u128::from(multiplier);
    let period =
        Duration::from_nanos(u64::try_from(period_ns).map_err(|_| QuotaErrorKind::Overflow)?);
    Ok(Quota::new(count, period))
}

/// Splits a leading run of ASCII digits: `Some((Ok(n) | Err(Overflow), rest))`, or `None`
/// when `s` does not start with a digit.
fn split_number(s: &str) -> Option<(Result<u32, QuotaErrorKind>, &str)> {
    let end = s
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(s.len());
    if end == 0 {
        return None;
    }
    let n = s[..end]
        .parse::<u32>()
        .map_err(|_| QuotaErrorKind::Overflow);
    Some((n, &s[end..]))
}

fn unit_nanos(unit: &str) -> Option<u64> {
    const S: u64 = 1_000_000_000;
    let u = unit.to_ascii_lowercase();
    let u = u.as_str();
    let singular = if u.len() > 2 {
        u.strip_suffix('s').unwrap_or(u)
    } else {
        u
    };
    Some(match singular {
        "nanosecond" | "ns" => 1,
        "millisecond" | "ms" => 1_000_000,
        "second" | "s" | "sec" => S,
        "minute" | "m" | "min" => 60 * S,
        "hour" | "h" | "hr" => 3_600 * S,
        "day" | "d" => 86_400 * S,
        "month" => 30 * 86_400 * S,
        "year" => 365 * 86_400 * S,
        _ => return None,
    })
}

impl fmt::Display for Quota {
    /// The canonical spec, parseable back: `5/minute`, `10/2 seconds`, `3/250 milliseconds`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(u128, &str); 6] = [
            (86_400_000_000_000, "day"),
            (3_600_000_000_000, "hour"),
            (60_000_000_000, "minute"),
            (1_000_000_000, "second"),
            (1_000_000, "millisecond"),
            (1, "nanosecond"),
        ];
        let ns = self.period.as_nanos();
        write!(f, "{}/", self.count)?;
        if ns == 0 {
            return f.write_str("0 seconds");
        }
        for (size, name) in UNITS {
            if ns.is_multiple_of(size) {
                let n = ns / size;
                return if n == 1 {
                    f.write_str(name)
                } else {
                    write!(f, "{n} {name}s")
                };
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &Result<Vec<Quota>, QuotaErrorKind>) {
        let got = Quota::parse_many(input).map_err(|e| match e {
            Error::InvalidQuota(q) => q.kind(),
            other => panic!("unexpected error {other:?}"),
        });
        assert_eq!(&got, expected, "input {input:?}");
    }

    #[test]
    fn parses_slowapi_strings() {
        use QuotaErrorKind::*;
        let secs = Duration::from_secs;
        check("5/minute", &Ok(vec![Quota::per_minute(5)]));
        check("5/minutes", &Ok(vec![Quota::per_minute(5)]));
        check("100 per hour", &Ok(vec![Quota::per_hour(100)]));
        check("100 PER Hour", &Ok(vec![Quota::per_hour(100)]));
        check("  10 / second ", &Ok(vec![Quota::per_second(10)]));
        check(
            "10/second;1000/day",
            &Ok(vec![Quota::per_second(10), Quota::per_day(1000)]),
        );
        check(
            "10/second, 1000/day",
            &Ok(vec![Quota::per_second(10), Quota::per_day(1000)]),
        );
        check("10/2 seconds", &Ok(vec![Quota::new(10, secs(2))]));
        check("10/2seconds", &Ok(vec![Quota::new(10, secs(2))]));
        check("1 per 1 day", &Ok(vec![Quota::per_day(1)]));
        check("3/s", &Ok(vec![Quota::per_second(3)]));
        check("3/m", &Ok(vec![Quota::per_minute(3)]));
        check("3/h", &Ok(vec![Quota::per_hour(3)]));
        check("3/d", &Ok(vec![Quota::per_day(3)]));
        check("3/month", &Ok(vec![Quota::new(3, secs(30 * 86_400))]));
        check("3/years", &Ok(vec![Quota::new(3, secs(365 * 86_400))]));
        check(
            "3/250ms",
            &Ok(vec![Quota::new(3, Duration::from_millis(250))]),
        );

        check("", &Err(Empty));
        check("   ", &Err(Empty));
        check("1/second;", &Err(Empty));
        check(";1/second", &Err(Empty));
        check("five/minute", &Err(Malformed));
        check("5 minute", &Err(Malformed));
        check("5 perminute", &Err(Malformed));
        check("5/", &Err(Malformed));
        check("5//minute", &Err(Malformed));
        check("-5/minute", &Err(Malformed));
        check("5.5/minute", &Err(Malformed));
        check("5/minute/extra", &Err(Malformed));
        check("5/fortnight", &Err(UnknownUnit));
        check("5/minutez", &Err(UnknownUnit));
        check("0/minute", &Err(ZeroCount));
        check("5/0 seconds", &Err(ZeroPeriod));
        check("4294967296/second", &Err(Overflow));
        check("1/99999999999 years", &Err(Overflow));
        check("1/4294967295 years", &Err(Overflow));
        check("2000000000/second", &Err(TooFine));
        check("2/1 nanosecond", &Err(TooFine));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_specs_never_panic(spec in "\\PC{0,40}") {
            let _ = Quota::parse_many(&spec);
        }

        #[test]
        fn valid_specs_round_trip(count in 1u32..100_000, n in 1u32..100, unit in 0usize..6) {
            let units = ["second", "minute", "hour", "day", "month", "year"];
            let spec = format!("{count}/{n} {}", units[unit]);
            let q: Quota = spec.parse().unwrap();
            proptest::prop_assert_eq!(q.to_string().parse::<Quota>().unwrap(), q);
        }
    }

    #[test]
    fn display_round_trips() {
        for q in [
            Quota::per_second(10),
            Quota::per_minute(5),
            Quota::per_hour(100),
            Quota::per_day(7),
            Quota::new(3, Duration::from_secs(90)),
            Quota::new(3, Duration::from_millis(1500)),
            Quota::new(3, Duration::from_nanos(1_000_000_007)),
        ] {
            let s = q.to_string();
            assert_eq!(s.parse::<Quota>().ok(), Some(q), "{s}");
        }
        assert_eq!(
            Quota::new(3, Duration::from_secs(90)).to_string(),
            "3/90 seconds"
        );
    }

    #[test]
    fn validation_and_gcra_parameters() {
        assert!(Quota::per_second(1).burst(u32::MAX).validate().is_ok());
        assert!(Quota::per_day(1).burst(1_000_000).validate().is_err());
        assert_eq!(
            Quota::per_minute(5).gcra_ns(),
            (12_000_000_000, 48_000_000_000)
        );
        assert_eq!(Quota::per_minute(5).burst(1).gcra_ns(), (12_000_000_000, 0));
        assert_eq!(Quota::per_minute(5).window_secs(), 60);
        assert_eq!(Quota::per_minute(5).burst(10).window_secs(), 120);
        assert_eq!(Quota::new(3, Duration::from_millis(10)).window_secs(), 1);
        let long = "9".repeat(500);
        let Err(Error::InvalidQuota(e)) = Quota::parse_many(&long) else {
            panic!()
        };
        assert!(e.input().len() <= 132);
    }
}
