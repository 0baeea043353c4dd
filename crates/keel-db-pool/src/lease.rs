//! Leak / long-hold detection: each connection has a lease slot recording when and
//! where (`#[track_caller]`) it was checked out; the maintenance task scans the slots.

use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

/// The lease of one connection. Checkout stores the time (atomically) and the call
/// site (one uncontended lock); return is a single atomic swap unless the lease had
/// been reported.
#[derive(Debug)]
pub(crate) struct LeaseSlot {
    /// When the lease began, in ns since `epoch`; 0 while idle.
    since_ns: AtomicU64,
    warned: AtomicBool,
    location: Mutex<&'static Location<'static>>,
    epoch: Instant,
}

/// A connection held past the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Leak {
    pub(crate) held: Duration,
    pub(crate) location: &'static Location<'static>,
}

impl LeaseSlot {
    fn new(epoch: Instant) -> Self {
        Self {
            since_ns: AtomicU64::new(0),
            warned: AtomicBool::new(false),
            location: Mutex::new(Location::caller()),
            epoch,
        }
    }

    fn ns(&self, at: Instant) -> u64 {
        // +1 so that a lease starting exactly at the epoch is not "idle".
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX - 1)
            + 1
    }

    pub(crate) fn begin(&self, since: Instant, location: &'static Location<'static>) {
        *self.location.lock().unwrap_or_else(PoisonError::into_inner) = location;
        self.warned.store(false, Ordering::Relaxed);
        self.since_ns.store(self.ns(since), Ordering::Release);
    }

    /// Ends the lease; returns the hold if it had been reported as a leak.
    pub(crate) fn end(&self, now: impl FnOnce() -> Instant) -> Option<Leak> {
        let since = self.since_ns.swap(0, Ordering::AcqRel);
        if since == 0 || !self.warned.swap(false, Ordering::Relaxed) {
            return None;
        }
        let held = Duration::from_nanos(self.ns(now()).saturating_sub(since));
        let location = *self.location.lock().unwrap_or_else(PoisonError::into_inner);
        Some(Leak { held, location })
    }

    /// Reports this lease if it is older than `threshold` and not reported yet.
    fn check(&self, now: Instant, threshold: Duration) -> Option<Leak> {
        let since = self.since_ns.load(Ordering::Acquire);
        if since == 0 {
            return None;
        }
        let held = Duration::from_nanos(self.ns(now).saturating_sub(since));
        if held < threshold || self.warned.swap(true, Ordering::Relaxed) {
            return None;
        }
        let location = *self.location.lock().unwrap_or_else(PoisonError::into_inner);
        Some(Leak { held, location })
    }
}

/// Every connection's lease slot.
#[derive(Debug)]
pub(crate) struct Leases {
    slots: Mutex<Vec<Weak<LeaseSlot>>>,
    epoch: Instant,
}

impl Default for Leases {
    fn default() -> Self {
        Self {
            slots: Mutex::default(),
            epoch: Instant::now(),
        }
    }
}

impl Leases {
    pub(crate) fn register(&self) -> Arc<LeaseSlot> {
        let slot = Arc::new(LeaseSlot::new(self.epoch));
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::downgrade(&slot));
        slot
    }

    /// Leases older than `threshold` at `now` not reported yet (each is reported once).
    /// Forgets the slots of closed connections.
    pub(crate) fn scan(&self, now: Instant, threshold: Duration) -> Vec<Leak> {
        let mut leaks = Vec::new();
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.retain(|weak| {
            let Some(slot) = weak.upgrade() else {
                return false;
            };
            leaks.extend(slot.check(now, threshold));
            true
        });
        leaks
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_each_leak_once_with_its_location() {
        let leases = Leases::default();
        let a = leases.register();
        let b = leases.register();
        let t0 = Instant::now();
        let here = Location::caller();
        a.begin(t0, here);
        b.begin(t0 + Duration::from_secs(20), here);

        assert!(
            leases
                .scan(t0 + Duration::from_secs(29), Duration::from_secs(30))
                .is_empty()
        );
        let leaks = leases.scan(t0 + Duration::from_secs(31), Duration::from_secs(30));
        assert_eq!(leaks.len(), 1);
        assert_eq!(leaks[0].held.as_secs(), 31);
        assert_eq!(leaks[0].location.file(), file!());
        // Reported once only.
        assert!(
            leases
                .scan(t0 + Duration::from_secs(40), Duration::from_secs(30))
                .is_empty()
        );
        // The returned leak reports its total hold; a normal return reports nothing.
        let t45 = t0 + Duration::from_secs(45);
        assert_eq!(a.end(|| t45).map(|l| l.held), Some(Duration::from_secs(45)));
        assert_eq!(b.end(|| t45), None);
        assert_eq!(b.end(|| t45), None, "ending twice is harmless");
        // A new lease starts fresh.
        a.begin(t0 + Duration::from_secs(50), here);
        assert!(
            leases
                .scan(t0 + Duration::from_secs(60), Duration::from_secs(30))
                .is_empty()
        );
    }

    #[test]
    fn forgets_closed_connections() {
        let leases = Leases::default();
        let a = leases.register();
        drop(leases.register());
        assert_eq!(leases.len(), 2);
        let _ = leases.scan(Instant::now(), Duration::from_secs(1));
        assert_eq!(leases.len(), 1);
        drop(a);
    }
}
