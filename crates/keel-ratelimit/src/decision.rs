//! [`Decision`]: the answer for one request, and the headers that describe it.

use std::time::Duration;

use http::HeaderMap;

use crate::Quota;
use crate::headers::{RateHeaders, write_policy, write_ratelimit};

/// The state of one quota after a decision.
///
/// ```
/// use keel_ratelimit::{KeyedLimiter, Quota};
/// let limiter = KeyedLimiter::builder().quota(Quota::per_minute(5)).build()?;
/// let d = limiter.check_key(&"k".into(), 2)?;
/// let q = &d.quotas()[0];
/// assert_eq!((q.quota(), q.limit(), q.remaining()), (&Quota::per_minute(5), 5, 3));
/// # Ok::<(), keel_ratelimit::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaState {
    pub(crate) quota: Quota,
    pub(crate) remaining: u32,
    pub(crate) reset_after: Duration,
    pub(crate) retry_after: Option<Duration>,
}

impl QuotaState {
    /// The quota.
    pub fn quota(&self) -> &Quota {
        &self.quota
    }

    /// The burst: the most this quota admits at once.
    pub fn limit(&self) -> u32 {
        self.quota.burst_size()
    }

    /// Requests (cost units) this quota would still admit right now.
    pub fn remaining(&self) -> u32 {
        self.remaining
    }

    /// Time until this quota is back to a full burst.
    pub fn reset_after(&self) -> Duration {
        self.reset_after
    }

    /// When this quota denied the request: how long until it would admit it.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

/// Where a decision was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Source {
    /// An in-memory limiter.
    Memory,
    /// The shared Redis backend.
    Redis,
    /// The local fallback limiter, because Redis failed or timed out (fail-open).
    Fallback,
    /// The local cache of keys known to be over the limit (Redis was not asked).
    DenyCache,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum States {
    One(QuotaState),
    Many(Vec<QuotaState>),
}

/// The answer for one request: allowed or denied, for a cost, with the state of every
/// quota. The "binding" quota — the one closest to denying — gives [`limit`](Self::limit),
/// [`remaining`](Self::remaining) and [`reset_after`](Self::reset_after).
///
/// ```
/// use std::time::Duration;
/// use keel_ratelimit::{Clock, KeyedLimiter, Quota};
///
/// let clock = Clock::manual();
/// let limiter = KeyedLimiter::builder()
///     .quota(Quota::per_minute(5))
///     .clock(clock.clone())
///     .build()?;
/// let key = "alice".into();
/// let d = limiter.check_key(&key, 5)?;
/// assert!(d.is_allowed());
/// assert_eq!((d.limit(), d.remaining()), (5, 0));
/// assert_eq!(d.reset_after(), Duration::from_secs(60));
///
/// let d = limiter.check_key(&key, 1)?;
/// assert!(d.is_denied());
/// assert_eq!(d.retry_after(), Some(Duration::from_secs(12)));
/// # Ok::<(), keel_ratelimit::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    allowed: bool,
    cost: u32,
    binding: usize,
    retry_after: Option<Duration>,
    source: Source,
    states: States,
}

impl Decision {
    /// Builds a decision from per-quota states (at least one).
    pub(crate) fn from_states(
        allowed: bool,
        cost: u32,
        source: Source,
        mut states: Vec<QuotaState>,
    ) -> Self {
        let retry_after = if allowed {
            None
        } else {
            states
                .iter()
                .filter_map(|s| s.retry_after)
                .max()
                .or(Some(Duration::from_secs(1)))
        };
        let binding = binding_index(&states, allowed);
        let states = if states.len() == 1 {
            match states.pop() {
                Some(s) => States::One(s),
                None => States::Many(states),
            }
        } else {
            States::Many(states)
        };
        Self {
            allowed,
            cost,
            binding,
            retry_after,
            source,
            states,
        }
    }

    /// A decision with one quota (the common case; no allocation).
    pub(crate) fn single(allowed: bool, cost: u32, source: Source, state: QuotaState) -> Self {
        Self {
            allowed,
            cost,
            binding: 0,
            retry_after: if allowed {
                None
            } else {
                state.retry_after.or(Some(Duration::from_secs(1)))
            },
            source,
            states: States::One(state),
        }
    }

    #[cfg(feature = "redis")]
    pub(crate) fn with_source(mut self, source: Source) -> Self {
        self.source = source;
        self
    }

    /// Whether the request may proceed.
    pub fn is_allowed(&self) -> bool {
        self.allowed
    }

    /// Whether the request must be rejected.
    pub fn is_denied(&self) -> bool {
        !self.allowed
    }

    /// The cost the request was checked for.
    pub fn cost(&self) -> u32 {
        self.cost
    }

    /// Where the decision was made (memory, Redis, fallback, deny cache).
    pub fn source(&self) -> Source {
        self.source
    }

    /// The state of every quota, in the limiter's order.
    pub fn quotas(&self) -> &[QuotaState] {
        match &self.states {
            States::One(s) => std::slice::from_ref(s),
            States::Many(v) => v,
        }
    }

    /// The binding quota's state: the one that denied (longest wait), or the one with the
    /// least remaining.
    pub fn binding(&self) -> &QuotaState {
        let all = self.quotas();
        &all[self.binding.min(all.len().saturating_sub(1))]
    }

    /// The binding quota's burst.
    pub fn limit(&self) -> u32 {
        self.binding().limit()
    }

    /// Cost units the binding quota would still admit.
    pub fn remaining(&self) -> u32 {
        self.binding().remaining
    }

    /// Time until the binding quota is back to a full burst.
    pub fn reset_after(&self) -> Duration {
        self.binding().reset_after
    }

    /// For a denial: how long until the same request (same cost) would pass.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The IETF `RateLimit-Policy` value (draft-ietf-httpapi-ratelimit-headers-11): one
    /// item per quota, `"<name>";q=<burst>;w=<seconds to refill the burst>`.
    ///
    /// ```
    /// use keel_ratelimit::{KeyedLimiter, Quota};
    /// let limiter = KeyedLimiter::builder()
    ///     .quota(Quota::per_second(10))
    ///     .quota(Quota::per_day(1000).named("daily"))
    ///     .build()?;
    /// let d = limiter.check_key(&"k".into(), 1)?;
    /// assert_eq!(d.ratelimit_policy(), r#""10/second";q=10;w=1, "daily";q=1000;w=86400"#);
    /// # Ok::<(), keel_ratelimit::Error>(())
    /// ```
    pub fn ratelimit_policy(&self) -> String {
        let mut out = String::new();
        for (i, s) in self.quotas().iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            write_policy(&mut out, std::slice::from_ref(&s.quota));
        }
        out
    }

    /// The IETF `RateLimit` value (draft -11): one item per quota,
    /// `"<name>";r=<remaining>;t=<seconds until full>`.
    ///
    /// ```
    /// use keel_ratelimit::{KeyedLimiter, Quota};
    /// let limiter = KeyedLimiter::builder().quota(Quota::per_minute(5)).build()?;
    /// let d = limiter.check_key(&"k".into(), 1)?;
    /// assert_eq!(d.ratelimit(), r#""5/minute";r=4;t=12"#);
    /// # Ok::<(), keel_ratelimit::Error>(())
    /// ```
    pub fn ratelimit(&self) -> String {
        let mut out = String::new();
        write_ratelimit(&mut out, self.quotas(), None);
        out
    }

    /// Writes the rate limit headers of `style` into `headers`, and `Retry-After` (whole
    /// seconds, rounded up) when denied. Existing values are replaced.
    ///
    /// ```
    /// use http::HeaderMap;
    /// use keel_ratelimit::{HeaderStyle, KeyedLimiter, Quota};
    /// let limiter = KeyedLimiter::builder().quota(Quota::per_minute(5)).build()?;
    /// let d = limiter.check_key(&"k".into(), 1)?;
    /// let mut h = HeaderMap::new();
    /// d.write_headers(&mut h, HeaderStyle::Legacy);
    /// assert_eq!(h["x-ratelimit-limit"], "5");
    /// assert_eq!(h["x-ratelimit-remaining"], "4");
    /// assert_eq!(h["x-ratelimit-reset"], "12");
    /// assert!(h.get("retry-after").is_none());
    /// # Ok::<(), keel_ratelimit::Error>(())
    /// ```
    pub fn write_headers(&self, headers: &mut HeaderMap, style: HeaderStyle) {
        RateHeaders::new(self, style, None).apply(headers);
    }
}

fn binding_index(states: &[QuotaState], allowed: bool) -> usize {
    let mut best = 0;
    for (i, s) in states.iter().enumerate() {
        let b = &states[best];
        let better = if allowed {
            (s.remaining, std::cmp::Reverse(s.reset_after))
                < (b.remaining, std::cmp::Reverse(b.reset_after))
        } else {
            s.retry_after > b.retry_after
        };
        if better {
            best = i;
        }
    }
    best
}

/// Which rate limit headers to send.
///
/// ```
/// assert_eq!(keel_ratelimit::HeaderStyle::default(), keel_ratelimit::HeaderStyle::Both);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HeaderStyle {
    /// IETF `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers-11).
    Ietf,
    /// `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (seconds from now).
    Legacy,
    /// Both sets (default: clients written against either keep working).
    #[default]
    Both,
    /// Neither (`Retry-After` is still sent on denials).
    None,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(q: Quota, remaining: u32, reset: u64, retry: Option<u64>) -> QuotaState {
        QuotaState {
            quota: q,
            remaining,
            reset_after: Duration::from_millis(reset),
            retry_after: retry.map(Duration::from_millis),
        }
    }

    fn check(d: &Decision, style: HeaderStyle, expected: &[(&str, &str)]) {
        let mut h = HeaderMap::new();
        d.write_headers(&mut h, style);
        let mut got: Vec<(String, String)> = h
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("<bin>").to_owned()))
            .collect();
        got.sort();
        let mut want: Vec<(String, String)> = expected
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        want.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn golden_headers_single_quota() {
        let d = Decision::single(
            true,
            1,
            Source::Memory,
            state(Quota::per_minute(5), 4, 12_000, None),
        );
        check(
            &d,
            HeaderStyle::Both,
            &[
                ("ratelimit-policy", r#""5/minute";q=5;w=60"#),
                ("ratelimit", r#""5/minute";r=4;t=12"#),
                ("x-ratelimit-limit", "5"),
                ("x-ratelimit-remaining", "4"),
                ("x-ratelimit-reset", "12"),
            ],
        );
        check(&d, HeaderStyle::None, &[]);
        let d = Decision::single(
            false,
            1,
            Source::Memory,
            state(Quota::per_minute(5), 0, 60_000, Some(11_001)),
        );
        check(
            &d,
            HeaderStyle::Ietf,
            &[
                ("ratelimit-policy", r#""5/minute";q=5;w=60"#),
                ("ratelimit", r#""5/minute";r=0;t=60"#),
                ("retry-after", "12"),
            ],
        );
        check(&d, HeaderStyle::None, &[("retry-after", "12")]);
    }

    #[test]
    fn golden_headers_several_quotas_and_escaping() {
        let d = Decision::from_states(
            false,
            2,
            Source::Redis,
            vec![
                state(Quota::per_second(10).burst(20), 1, 1_900, Some(100)),
                state(
                    Quota::per_hour(100).named(r#"my "hourly" \ quota"#),
                    0,
                    3_600_000,
                    Some(36_000),
                ),
                state(Quota::per_day(1000).named("dåily"), 900, 8_640_000, None),
            ],
        );
        assert_eq!(d.retry_after(), Some(Duration::from_secs(36)));
        assert_eq!(d.binding().quota().count(), 100);
        check(
            &d,
            HeaderStyle::Both,
            &[
                (
                    "ratelimit-policy",
                    r#""10/second";q=20;w=2, "my \"hourly\" \\ quota";q=100;w=3600, "d?ily";q=1000;w=86400"#,
                ),
                (
                    "ratelimit",
                    r#""10/second";r=1;t=2, "my \"hourly\" \\ quota";r=0;t=3600, "d?ily";r=900;t=8640"#,
                ),
                ("x-ratelimit-limit", "100"),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "3600"),
                ("retry-after", "36"),
            ],
        );
    }

    #[test]
    fn binding_quota_is_the_one_with_least_remaining() {
        let d = Decision::from_states(
            true,
            1,
            Source::Memory,
            vec![
                state(Quota::per_second(10), 9, 100, None),
                state(Quota::per_hour(100), 3, 3_600_000, None),
                state(Quota::per_day(5), 3, 9_000_000, None),
            ],
        );
        assert_eq!(d.limit(), 5);
        assert_eq!(d.remaining(), 3);
        assert_eq!(d.retry_after(), None);
    }
}
