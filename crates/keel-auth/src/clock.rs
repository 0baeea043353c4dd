//! [`Clock`]: where keel-auth reads wall-clock time (the system clock, or a manual one in tests).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The wall-clock time source of expiry decisions (refresh-token lifetimes, MFA challenges,
/// TOTP steps, API-key expiry and last-used throttling).
///
/// keel-auth needs *wall-clock* time, not a monotonic instant: deadlines are stored in
/// databases and compared across processes. The default is [`SystemTime::now`];
/// [`Clock::manual`] gives a clock that only moves when a test advances it, so expiry tests
/// are exact and sleep-free — also against PostgreSQL, because the stores take "now" from
/// the clock instead of calling SQL `now()`.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use keel_auth::Clock;
///
/// let clock = Clock::manual(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
/// let t0 = clock.now();
/// clock.advance(Duration::from_secs(90));
/// assert_eq!(clock.now().duration_since(t0).unwrap(), Duration::from_secs(90));
/// assert_eq!(clock.unix_secs(), 1_700_000_090);
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
    /// The system wall clock (the default).
    ///
    /// ```
    /// assert!(!keel_auth::Clock::system().is_manual());
    /// ```
    #[must_use]
    pub fn system() -> Self {
        Self(Source::System)
    }

    /// A clock that starts at `start` and moves only with [`advance`](Self::advance).
    /// Clones share the same time. Times before the Unix epoch are clamped to it.
    ///
    /// ```
    /// use std::time::UNIX_EPOCH;
    /// let clock = keel_auth::Clock::manual(UNIX_EPOCH);
    /// assert_eq!(clock.now(), UNIX_EPOCH);
    /// ```
    #[must_use]
    pub fn manual(start: SystemTime) -> Self {
        let nanos = start.duration_since(UNIX_EPOCH).map_or(0, duration_nanos);
        Self(Source::Manual(Arc::new(AtomicU64::new(nanos))))
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
    /// let clock = keel_auth::Clock::manual(UNIX_EPOCH + Duration::from_millis(1_500));
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
    /// use std::time::{Duration, UNIX_EPOCH};
    /// let clock = keel_auth::Clock::manual(UNIX_EPOCH);
    /// clock.clone().advance(Duration::from_secs(1));
    /// assert_eq!(clock.unix_secs(), 1);
    /// ```
    pub fn advance(&self, by: Duration) {
        if let Source::Manual(t) = &self.0 {
            t.fetch_add(duration_nanos(by), Ordering::SeqCst);
        }
    }

    /// Whether this is a manual clock.
    ///
    /// ```
    /// assert!(keel_auth::Clock::manual(std::time::UNIX_EPOCH).is_manual());
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
    fn manual_clock_moves_only_when_advanced_and_clones_share_time() {
        let c = Clock::manual(UNIX_EPOCH + Duration::from_secs(10));
        let c2 = c.clone();
        assert_eq!(c.unix_secs(), 10);
        c2.advance(Duration::from_secs(5));
        assert_eq!(c.unix_secs(), 15);
        assert!(c.is_manual());
        assert!(format!("{c:?}").starts_with("Clock::Manual"));
    }

    #[test]
    fn system_clock_ignores_advance() {
        let c = Clock::system();
        let a = c.now();
        c.advance(Duration::from_secs(3600));
        let b = c.now();
        assert!(b.duration_since(a).unwrap_or_default() < Duration::from_secs(3600));
        assert!(!c.is_manual());
    }
}
