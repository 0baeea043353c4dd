//! [`Clock`]: the time source of in-memory limiters (the system clock, or a manual one in tests).

use std::cell::Cell;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock as _, QuantaClock, QuantaInstant, Reference as _};
use governor::nanos::Nanos;

/// A monotonic time source for in-memory limiters, read once per decision.
///
/// [`Clock::system`] (the default) is governor's TSC-based `QuantaClock` (a few nanoseconds
/// per read); [`Clock::manual`] is a clock only tests move, with [`advance`](Clock::advance),
/// for exact, sleep-free tests. Clones share the same time, so keep one in the test and give
/// a clone to the limiter (the same design as `keel_cache::Clock`).
///
/// ```
/// use std::time::Duration;
/// use keel_ratelimit::{Clock, KeyedLimiter, Quota};
///
/// let clock = Clock::manual();
/// let limiter = KeyedLimiter::builder()
///     .quota(Quota::per_second(1))
///     .clock(clock.clone())
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
    System {
        clock: QuantaClock,
        base: QuantaInstant,
    },
    /// Nanoseconds advanced since creation; clones share it.
    Manual(Arc<AtomicU64>),
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Kind::System { .. } => f.write_str("Clock::System"),
            Kind::Manual(_) => write!(f, "Clock::Manual({}ns)", self.now_ns()),
        }
    }
}

/// Where every clock starts: 1 s, so that 0 can mean "never".
const ORIGIN_NS: u64 = 1_000_000_000;

impl Clock {
    /// The monotonic system clock (governor's `QuantaClock`), the default.
    ///
    /// ```
    /// assert!(!keel_ratelimit::Clock::system().is_manual());
    /// ```
    pub fn system() -> Self {
        let clock = QuantaClock::default();
        let base = clock.now();
        Self(Kind::System { clock, base })
    }

    /// A clock that moves only with [`advance`](Self::advance). Clones share the same time.
    ///
    /// ```
    /// use std::time::Duration;
    /// let clock = keel_ratelimit::Clock::manual();
    /// let t0 = clock.now();
    /// clock.clone().advance(Duration::from_millis(1500));
    /// assert_eq!(clock.now() - t0, Duration::from_millis(1500));
    /// ```
    pub fn manual() -> Self {
        Self(Kind::Manual(Arc::new(AtomicU64::new(0))))
    }

    /// Time since this clock's origin (an arbitrary instant; only differences mean anything).
    ///
    /// ```
    /// let clock = keel_ratelimit::Clock::system();
    /// assert!(clock.now() <= clock.now());
    /// ```
    pub fn now(&self) -> Duration {
        Duration::from_nanos(self.now_ns())
    }

    /// Moves a manual clock forward by `by`; does nothing on the system clock.
    ///
    /// ```
    /// use std::time::Duration;
    /// let clock = keel_ratelimit::Clock::system();
    /// let before = clock.now();
    /// clock.advance(Duration::from_secs(3600));
    /// assert!(clock.now() - before < Duration::from_secs(3600));
    /// ```
    pub fn advance(&self, by: Duration) {
        if let Kind::Manual(t) = &self.0 {
            // Saturate well below u64::MAX so that `ORIGIN_NS + t` and the GCRA's sums
            // cannot overflow.
            let ns = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX / 4);
            t.fetch_add(ns, Ordering::AcqRel);
        }
    }

    /// Whether this is a manual clock.
    ///
    /// ```
    /// assert!(keel_ratelimit::Clock::manual().is_manual());
    /// ```
    pub fn is_manual(&self) -> bool {
        matches!(self.0, Kind::Manual(_))
    }

    /// Nanoseconds since this clock's origin. Starts at 1 s so that 0 can mean "never".
    #[inline]
    pub(crate) fn now_ns(&self) -> u64 {
        ORIGIN_NS
            + match &self.0 {
                Kind::System { clock, base } => clock.now().duration_since(*base).as_u64(),
                Kind::Manual(t) => t.load(Ordering::Acquire),
            }
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
    fn system_moves_forward_and_ignores_advance() {
        let c = Clock::default();
        assert!(!c.is_manual());
        let a = c.now_ns();
        std::thread::sleep(Duration::from_millis(2));
        assert!(c.now_ns() > a);
        let before = c.now();
        c.advance(Duration::from_secs(3600));
        assert!(c.now() - before < Duration::from_secs(3600));
        assert_eq!(format!("{c:?}"), "Clock::System");
    }

    #[test]
    fn manual_moves_only_when_advanced_and_clones_share_time() {
        let c = Clock::manual();
        assert!(c.is_manual());
        let a = c.now_ns();
        assert_eq!(a, ORIGIN_NS);
        assert_eq!(c.now_ns(), a);
        let shared = c.clone();
        shared.advance(Duration::from_nanos(5));
        assert_eq!(c.now_ns(), a + 5);
        assert_eq!(format!("{c:?}"), "Clock::Manual(1000000005ns)");
    }

    #[test]
    fn huge_advances_saturate_without_overflow() {
        let c = Clock::manual();
        c.advance(Duration::MAX);
        assert_eq!(c.now_ns(), ORIGIN_NS + u64::MAX / 4);
    }
}
