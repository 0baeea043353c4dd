//! GCRA through governor: governor computes each decision, keel owns the state.
//!
//! governor's `RateLimiter` is generic over its state store; here the store is a single
//! scratch cell ([`Slot`]) that keel fills with the key's theoretical arrival time (TAT)
//! before the call and reads back after it. That keeps governor's arithmetic (including
//! its `check_key_n` for costs and its `StateSnapshot` for the remaining burst) while keel
//! adds what governor's keyed stores lack: several quotas per key committed atomically,
//! peeking, eviction and a hard cap.

use std::cell::Cell;
use std::hash::{Hash, Hasher};
use std::num::NonZeroU32;
use std::time::Duration;

use governor::middleware::StateInformationMiddleware;
use governor::nanos::Nanos;
use governor::state::StateStore;

use crate::Quota;
use crate::clock::DecisionClock;

/// A scratch TAT cell handed to governor as the "key" (0 = no state yet).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Slot(Cell<u64>);

impl Hash for Slot {
    fn hash<H: Hasher>(&self, _: &mut H) {}
}

/// governor state store that reads and writes the [`Slot`] it is given.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SlotStore;

impl StateStore for SlotStore {
    type Key = Slot;

    #[inline]
    fn measure_and_replace<T, F, E>(&self, key: &Slot, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let tat = key.0.get();
        let (out, next) = f((tat != 0).then(|| Nanos::from(tat)))?;
        key.0.set(next.as_u64());
        Ok(out)
    }
}

type Governor = governor::RateLimiter<Slot, SlotStore, DecisionClock, StateInformationMiddleware>;

/// One validated quota and its governor GCRA.
#[derive(Debug)]
pub(crate) struct Engine {
    pub(crate) quota: Quota,
    governor: Governor,
    pub(crate) t: u64,
    pub(crate) tau: u64,
    pub(crate) burst: u32,
}

/// The outcome of one quota for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Admitted; the key's new TAT and the burst left afterwards.
    Allowed { tat: u64, remaining: u32 },
    /// Denied; how long until this cost would pass.
    Denied { retry_after: Duration },
}

impl Engine {
    /// Builds the engine of a quota.
    ///
    /// # Errors
    /// The quota's validation error.
    pub(crate) fn new(quota: Quota) -> Result<Self, crate::Error> {
        quota.validate()?;
        let (t, tau) = quota.gcra_ns();
        let burst = quota.burst_size();
        let gq = governor::Quota::with_period(Duration::from_nanos(t))
            .ok_or(crate::Error::InvalidConfig("zero emission interval"))?
            .allow_burst(NonZeroU32::new(burst).ok_or(crate::Error::InvalidConfig("zero burst"))?);
        // governor anchors its time frame at `clock.now()` during construction: publishing 0
        // makes that frame the limiter's own, so TATs are comparable across quotas.
        DecisionClock::set(0);
        let governor = Governor::new(gq, SlotStore, DecisionClock);
        Ok(Self {
            quota,
            governor,
            t,
            tau,
            burst,
        })
    }

    /// Runs GCRA for `cost` (≤ burst) against `tat` at the published instant `now`.
    #[inline]
    pub(crate) fn eval(&self, tat: u64, now: u64, cost: NonZeroU32) -> Outcome {
        DecisionClock::set(now);
        let slot = Slot(Cell::new(tat));
        match self.governor.check_key_n(&slot, cost) {
            Ok(Ok(snapshot)) => Outcome::Allowed {
                tat: slot.0.get(),
                remaining: snapshot.remaining_burst_capacity(),
            },
            Ok(Err(not_until)) => Outcome::Denied {
                retry_after: not_until.wait_time_from(Nanos::from(now)),
            },
            // Costs above the burst are rejected before reaching governor; should governor
            // still refuse, the request can never pass: report the longest wait.
            Err(_) => Outcome::Denied {
                retry_after: Duration::from_nanos(self.tau + self.t),
            },
        }
    }

    /// The burst left at `now` for a key at `tat`, without consuming.
    #[inline]
    pub(crate) fn remaining(&self, tat: u64, now: u64) -> u32 {
        let tat = if tat == 0 { now } else { tat };
        let full = self.tau + self.t;
        let avail = (now + full).saturating_sub(tat).min(full);
        u32::try_from(avail / self.t).unwrap_or(u32::MAX)
    }

    /// Time until a key at `tat` is back to a full burst.
    #[inline]
    pub(crate) fn reset_after(tat: u64, now: u64) -> Duration {
        Duration::from_nanos(tat.saturating_sub(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    #[test]
    fn governor_runs_in_our_time_frame() {
        let e = Engine::new(Quota::per_second(2)).unwrap();
        let now = 5_000_000_000;
        DecisionClock::set(now);
        // Fresh key: TAT becomes now + t.
        let Outcome::Allowed { tat, remaining } = e.eval(0, now, nz(1)) else {
            panic!()
        };
        assert_eq!(tat, now + 500_000_000);
        assert_eq!(remaining, 1);
        let Outcome::Allowed { tat, remaining } = e.eval(tat, now, nz(1)) else {
            panic!()
        };
        assert_eq!((tat, remaining), (now + 1_000_000_000, 0));
        assert_eq!(
            e.eval(tat, now, nz(1)),
            Outcome::Denied {
                retry_after: Duration::from_millis(500)
            }
        );
        assert_eq!(e.remaining(tat, now), 0);
        assert_eq!(e.remaining(tat, now + 500_000_000), 1);
        assert_eq!(e.remaining(0, now), 2);
        assert_eq!(Engine::reset_after(tat, now), Duration::from_secs(1));
    }

    #[test]
    fn cost_n_uses_governors_check_key_n() {
        let e = Engine::new(Quota::per_second(10)).unwrap();
        let now = 1_000_000_000;
        DecisionClock::set(now);
        let Outcome::Allowed { tat, remaining } = e.eval(0, now, nz(7)) else {
            panic!()
        };
        assert_eq!(remaining, 3);
        // 4 more need 1 more token: 100 ms.
        assert_eq!(
            e.eval(tat, now, nz(4)),
            Outcome::Denied {
                retry_after: Duration::from_millis(100)
            }
        );
        assert!(matches!(
            e.eval(tat, now, nz(3)),
            Outcome::Allowed { remaining: 0, .. }
        ));
    }
}
