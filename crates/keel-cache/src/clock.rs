//! [`Clock`]: where freshness deadlines come from (the system clock, or a manual one in tests).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The time source for freshness decisions (TTL, stale window, refresh-ahead).
///
/// The default is the monotonic system clock. [`Clock::manual`] gives a clock that only
/// moves when told to, so tests of expiry and refresh are deterministic:
///
/// ```
/// use std::time::Duration;
/// use keel_cache::Clock;
///
/// let clock = Clock::manual();
/// let t0 = clock.now();
/// clock.advance(Duration::from_secs(5));
/// assert_eq!(clock.now() - t0, Duration::from_secs(5));
/// ```
///
/// Memory reclamation is still done by moka on its own clock: an entry past its
/// deadline on a manual clock is treated as absent even if moka has not dropped it yet.
#[derive(Clone)]
pub struct Clock(Source);

#[derive(Clone)]
enum Source {
    System(Instant),
    Manual(Arc<AtomicU64>),
}

impl Clock {
    /// The monotonic system clock.
    pub fn system() -> Self {
        Self(Source::System(Instant::now()))
    }

    /// A clock that starts at an arbitrary point and moves only with [`advance`](Self::advance).
    /// Clones share the same time.
    pub fn manual() -> Self {
        // Start away from zero so "deadline 0" never means "now".
        Self(Source::Manual(Arc::new(AtomicU64::new(1_000_000_000))))
    }

    /// The time elapsed since this clock's (arbitrary) origin.
    pub fn now(&self) -> Duration {
        Duration::from_nanos(self.now_nanos())
    }

    /// Moves a manual clock forward by `by`; does nothing on the system clock.
    pub fn advance(&self, by: Duration) {
        if let Source::Manual(t) = &self.0 {
            t.fetch_add(duration_nanos(by), Ordering::SeqCst);
        }
    }

    /// Whether this is a manual clock.
    pub fn is_manual(&self) -> bool {
        matches!(self.0, Source::Manual(_))
    }

    #[inline]
    pub(crate) fn now_nanos(&self) -> u64 {
        match &self.0 {
            Source::System(origin) => duration_nanos(origin.elapsed()),
            Source::Manual(t) => t.load(Ordering::SeqCst),
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Source::System(_) => f.write_str("Clock::System"),
            Source::Manual(t) => write!(f, "Clock::Manual({}ns)", t.load(Ordering::SeqCst)),
        }
    }
}

/// A duration in nanoseconds, saturating at `u64::MAX` (584 years).
#[inline]
pub(crate) fn duration_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced_and_clones_share_time() {
        let c = Clock::manual();
        let c2 = c.clone();
        let t0 = c.now();
        assert_eq!(c.now(), t0);
        c2.advance(Duration::from_millis(7));
        assert_eq!(c.now() - t0, Duration::from_millis(7));
        assert!(c.is_manual());
    }

    #[test]
    fn system_clock_is_monotonic_and_ignores_advance() {
        let c = Clock::system();
        let a = c.now();
        c.advance(Duration::from_secs(3600));
        let b = c.now();
        assert!(b >= a && b - a < Duration::from_secs(3600));
        assert!(!c.is_manual());
    }

    #[test]
    fn huge_durations_saturate() {
        assert_eq!(duration_nanos(Duration::MAX), u64::MAX);
    }
}
