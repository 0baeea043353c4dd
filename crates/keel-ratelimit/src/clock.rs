//! [`Clock`]: the time source of in-memory limiters; [`ManualClock`] for tests.

use std::cell::Cell;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock as _, QuantaClock, QuantaInstant, Reference as _};
use governor::nanos::Nanos;

/// A monotonic time source for in-memory limiters, read once per decision.
///
/// [`Clock::default`] is governor's TSC-based `QuantaClock` (a few nanoseconds per
/// read); [`Clock::manual`] is a clock only tests move, for exact, sleep-free tests.
///
/// ```
/// use std::time::Duration;
/// use keel_ratelimit::{Clock, KeyedLimiter, ManualClock, Quota};
///
/// let clock = ManualClock::new();
/// let limiter = KeyedLimiter::builder()
///     .quota(Quota::per_second(1))
///     .clock(Clock::manual(&clock))
///     .build()?;
/// let key = "k".into();
/// assert!(limiter.check_key(&key, 1)?.is_allowed());
/// assert!(!limiter.check_key(&key, 1)?.is_allowed());
/// clock.advance(Duration::from_secs(1));
/// assert!(limiter.check_key(&key, 1)?.is_allowed());
/// # Ok::<(), keel_ratelimit::Error>(())
/// ```
#[derive(Clone)]
pub struct Clock(Kind);

#[derive(Clone)]
enum Kind {
    Quanta {
        clock: QuantaClock,
        base: QuantaInstant,
    },
    Manual(ManualClock),
}

impl Default for Clock {
    fn default() -> Self {
        let clock = QuantaClock::default();
        let base = clock.now();
        Self(Kind::Quanta { clock, base })
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Kind::Quanta { .. } => f.write_str("Clock::Monotonic"),
            Kind::Manual(m) => f.debug_tuple("Clock::Manual").field(&m.elapsed()).finish(),
        }
    }
}

impl Clock {
    /// The monotonic default clock (governor's `QuantaClock`).
    ///
    /// ```
    /// let c = keel_ratelimit::Clock::monotonic();
    /// assert!(format!("{c:?}").contains("Monotonic"));
    /// ```
    pub fn monotonic() -> Self {
        Self::default()
    }

    /// A clock driven by `manual`: it only moves when the test advances it.
    ///
    /// ```
    /// let m = keel_ratelimit::ManualClock::new();
    /// let c = keel_ratelimit::Clock::manual(&m);
    /// # let _ = c;
    /// ```
    pub fn manual(manual: &ManualClock) -> Self {
        Self(Kind::Manual(manual.clone()))
    }

    /// Nanoseconds since this clock's origin. Starts at 1 s so that 0 can mean "never".
    #[inline]
    pub(crate) fn now_ns(&self) -> u64 {
        const ORIGIN: u64 = 1_000_000_000;
        ORIGIN
            + match &self.0 {
                Kind::Quanta { clock, base } => clock.now().duration_since(*base).as_u64(),
                Kind::Manual(m) => m.0.load(Ordering::Acquire),
            }
    }
}

/// A clock that only moves when told to: share it between a test and its limiters.
///
/// ```
/// use std::time::Duration;
/// let m = keel_ratelimit::ManualClock::new();
/// m.advance(Duration::from_millis(1500));
/// assert_eq!(m.elapsed(), Duration::from_millis(1500));
/// ```
#[derive(Clone, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock at its origin.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let ns = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX / 4);
        self.0.fetch_add(ns, Ordering::AcqRel);
    }

    /// Time advanced since creation.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.0.load(Ordering::Acquire))
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ManualClock").field(&self.elapsed()).finish()
    }
}

thread_local! {
    /// The instant of the decision being made on this thread. Each decision reads the
    /// limiter's [`Clock`] once and publishes the reading here, so every quota of a key —
    /// and the eviction logic — sees the same "now", and governor's GCRA runs in the
    /// limiter's own time frame.
    static DECISION_NOW: Cell<u64> = const { Cell::new(0) };
}

/// governor's view of time: the instant published for the current decision.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DecisionClock;

impl DecisionClock {
    #[inline]
    pub(crate) fn set(now_ns: u64) {
        DECISION_NOW.with(|c| c.set(now_ns));
    }
}

impl governor::clock::Clock for DecisionClock {
    type Instant = Nanos;

    #[inline]
    fn now(&self) -> Nanos {
        Nanos::from(DECISION_NOW.with(Cell::get))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_moves_forward_and_manual_only_when_told() {
        let c = Clock::default();
        let a = c.now_ns();
        std::thread::sleep(Duration::from_millis(2));
        assert!(c.now_ns() > a);
        let m = ManualClock::new();
        let c = Clock::manual(&m);
        let a = c.now_ns();
        assert_eq!(c.now_ns(), a);
        m.advance(Duration::from_nanos(5));
        assert_eq!(c.now_ns(), a + 5);
    }
}
