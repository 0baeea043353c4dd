//! [`Clock`]: where keel-auth reads wall-clock time (the system clock, or a manual one in tests).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The wall-clock time source of expiry decisions (access and refresh-token lifetimes, MFA
/// challenges, TOTP steps, API-key expiry and last-used throttling).
///
/// The same design as `keel_cache::Clock` and `keel_ratelimit::Clock`: [`Clock::system`]
/// (the default) and [`Clock::manual`], a clock that only moves when a test moves it, with
/// [`advance`](Self::advance); clones share the same time, so keep one in the test and give
/// clones to what you test. Unlike theirs, this clock tells *wall-clock* time
/// ([`SystemTime`], not a monotonic offset): deadlines are stored in databases, written into
/// JWTs and compared across processes. So a manual clock starts at a fixed, documented
/// instant ([`MANUAL_START_UNIX`](Self::MANUAL_START_UNIX)) and can also be
/// [`set`](Self::set) to any instant, backwards included (clock skew between replicas).
///
/// Expiry tests are exact and sleep-free — also against PostgreSQL, because the stores take
/// "now" from the clock instead of calling SQL `now()`.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use keel_auth::Clock;
///
/// let clock = Clock::manual();
/// assert_eq!(clock.unix_secs(), Clock::MANUAL_START_UNIX); // 2027-01-15T08:00:00Z
/// let t0 = clock.now();
/// clock.advance(Duration::from_secs(90));
/// assert_eq!(clock.now().duration_since(t0)?, Duration::from_secs(90));
/// clock.set(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
/// assert_eq!(clock.unix_secs(), 1_700_000_000);
/// # Ok::<(), std::time::SystemTimeError>(())
/// ```
#[derive(Clone, Default)]
pub struct Clock(Source);

#[derive(Clone, Default)]
enum Source {
    #[default]
    System,
    /// Nanoseconds since the Unix epoch; clones share it.
    Manual(Arc<AtomicU64>),
}

impl Clock {
    /// Where a [`manual`](Self::manual) clock starts, in seconds since the Unix epoch:
    /// 1 800 000 000, that is 2027-01-15T08:00:00Z. Fixed, so that tests (and the JWTs they
    /// issue) are the same on every run.
    pub const MANUAL_START_UNIX: u64 = 1_800_000_000;

    /// The system wall clock (the default).
    ///
    /// ```
    /// assert!(!keel_auth::Clock::system().is_manual());
    /// ```
    #[must_use]
    pub fn system() -> Self {
        Self(Source::System)
    }

    /// A clock that starts at [`MANUAL_START_UNIX`](Self::MANUAL_START_UNIX) and moves only
    /// with [`advance`](Self::advance) and [`set`](Self::set). Clones share the same time.
    ///
    /// ```
    /// let clock = keel_auth::Clock::manual();
    /// assert_eq!(clock.unix_secs(), 1_800_000_000);
    /// assert_eq!(clock.now(), clock.now());
    /// ```
    #[must_use]
    pub fn manual() -> Self {
        let start = Self::MANUAL_START_UNIX.saturating_mul(1_000_000_000);
        Self(Source::Manual(Arc::new(AtomicU64::new(start))))
    }

    /// The current time.
    ///
    /// ```
    /// let now = keel_auth::Clock::system().now();
    /// assert!(now > std::time::UNIX_EPOCH);
    /// ```
    #[must_use]
    pub fn now(&self) -> SystemTime {
        match &self.0 {
            Source::System => SystemTime::now(),
            Source::Manual(t) => UNIX_EPOCH + Duration::from_nanos(t.load(Ordering::SeqCst)),
        }
    }

    /// Whole seconds since the Unix epoch (0 for a system clock set before 1970).
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// let clock = keel_auth::Clock::manual();
    /// clock.set(UNIX_EPOCH + Duration::from_millis(1_500));
    /// assert_eq!(clock.unix_secs(), 1);
    /// ```
    #[must_use]
    pub fn unix_secs(&self) -> u64 {
        self.now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    /// Moves a manual clock forward by `by`; does nothing on the system clock.
    ///
    /// ```
    /// use std::time::Duration;
    /// let clock = keel_auth::Clock::manual();
    /// clock.clone().advance(Duration::from_secs(1));
    /// assert_eq!(clock.unix_secs(), keel_auth::Clock::MANUAL_START_UNIX + 1);
    /// ```
    pub fn advance(&self, by: Duration) {
        if let Source::Manual(t) = &self.0 {
            // Saturating, like the reading: a huge step pins the clock at its end instead of
            // wrapping around to 1970.
            let by = duration_nanos(by);
            let _ = t.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |now| {
                Some(now.saturating_add(by))
            });
        }
    }

    /// Sets a manual clock to `to`, forwards or backwards; does nothing on the system clock.
    /// Times before the Unix epoch are clamped to it, times after 2554 to that year.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// let clock = keel_auth::Clock::manual();
    /// clock.clone().set(UNIX_EPOCH + Duration::from_secs(60));
    /// assert_eq!(clock.unix_secs(), 60);
    /// ```
    pub fn set(&self, to: SystemTime) {
        if let Source::Manual(t) = &self.0 {
            let nanos = to.duration_since(UNIX_EPOCH).map_or(0, duration_nanos);
            t.store(nanos, Ordering::SeqCst);
        }
    }

    /// Whether this is a manual clock.
    ///
    /// ```
    /// assert!(keel_auth::Clock::manual().is_manual());
    /// ```
    #[must_use]
    pub fn is_manual(&self) -> bool {
        matches!(self.0, Source::Manual(_))
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Source::System => f.write_str("Clock::System"),
            Source::Manual(t) => write!(f, "Clock::Manual({}ns)", t.load(Ordering::SeqCst)),
        }
    }
}

/// A duration in nanoseconds, saturating at `u64::MAX` (584 years).
fn duration_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_starts_at_the_documented_instant() {
        let c = Clock::manual();
        assert_eq!(
            c.now(),
            UNIX_EPOCH + Duration::from_secs(Clock::MANUAL_START_UNIX)
        );
        assert_eq!(c.unix_secs(), 1_800_000_000);
        assert!(c.is_manual());
        assert_eq!(format!("{c:?}"), "Clock::Manual(1800000000000000000ns)");
    }

    #[test]
    fn manual_clock_moves_only_when_told_and_clones_share_time() {
        let c = Clock::manual();
        let c2 = c.clone();
        c2.advance(Duration::from_secs(5));
        assert_eq!(c.unix_secs(), Clock::MANUAL_START_UNIX + 5);
        c2.set(UNIX_EPOCH + Duration::from_secs(10));
        assert_eq!(c.unix_secs(), 10); // backwards too
        assert_eq!(c.now(), c.now());
    }

    #[test]
    fn manual_clock_saturates_at_both_ends() {
        let c = Clock::manual();
        c.set(UNIX_EPOCH - Duration::from_secs(1));
        assert_eq!(c.now(), UNIX_EPOCH);
        c.advance(Duration::MAX);
        let end = c.now();
        c.advance(Duration::from_secs(1));
        assert_eq!(c.now(), end);
        assert_eq!(c.now(), UNIX_EPOCH + Duration::from_nanos(u64::MAX));
    }

    #[test]
    fn system_clock_ignores_advance_and_set() {
        let c = Clock::system();
        let a = c.now();
        c.advance(Duration::from_secs(3600));
        c.set(UNIX_EPOCH);
        let b = c.now();
        assert!(b.duration_since(a).unwrap_or_default() < Duration::from_secs(3600));
        assert!(!c.is_manual());
        assert_eq!(format!("{c:?}"), "Clock::System");
    }
}
