//! Leak / long-hold detection: each connection has a lease slot recording when and
//! where (`#[track_caller]`) it was checked out; the maintenance task scans the slots.

use std::panic::Location;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
struct Lease {
    since: Instant,
    location: &'static Location<'static>,
    warned: bool,
}

/// The lease of one connection (empty while idle).
#[derive(Debug, Default)]
pub(crate) struct LeaseSlot {
    state: Mutex<Option<Lease>>,
}

/// A connection held past the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Leak {
    pub(crate) held: Duration,
    pub(crate) location: &'static Location<'static>,
}

impl LeaseSlot {
    pub(crate) fn begin(&self, since: Instant, location: &'static Location<'static>) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = Some(Lease {
            since,
            location,
            warned: false,
        });
    }

    /// Ends the lease; returns the hold if it had been reported as a leak.
    pub(crate) fn end(&self, now: Instant) -> Option<Leak> {
        let lease = self
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()?;
        lease.warned.then(|| Leak {
            held: now.saturating_duration_since(lease.since),
            location: lease.location,
        })
    }
}

/// Every connection's lease slot.
#[derive(Debug, Default)]
pub(crate) struct Leases {
    slots: Mutex<Vec<Weak<LeaseSlot>>>,
}

impl Leases {
    pub(crate) fn register(&self) -> Arc<LeaseSlot> {
        let slot = Arc::new(LeaseSlot::default());
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
            let mut state = slot.state.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(lease) = state.as_mut() {
                let held = now.saturating_duration_since(lease.since);
                if !lease.warned && held >= threshold {
                    lease.warned = true;
                    leaks.push(Leak {
                        held,
                        location: lease.location,
                    });
                }
            }
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
        assert_eq!(leaks[0].held, Duration::from_secs(31));
        assert_eq!(leaks[0].location.file(), file!());
        // Reported once only.
        assert!(
            leases
                .scan(t0 + Duration::from_secs(40), Duration::from_secs(30))
                .is_empty()
        );
        // The returned leak reports its total hold; a normal return reports nothing.
        assert_eq!(
            a.end(t0 + Duration::from_secs(45)).map(|l| l.held),
            Some(Duration::from_secs(45))
        );
        assert_eq!(b.end(t0 + Duration::from_secs(45)), None);
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
