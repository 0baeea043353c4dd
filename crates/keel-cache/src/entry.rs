//! The value stored in memory: the user's value (or a cached "not found") and its
//! freshness deadlines on the cache's [`Clock`](crate::Clock).

use std::cell::Cell;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use crate::clock::duration_nanos;

/// Deadline meaning "never".
pub(crate) const NEVER: u64 = u64::MAX;

#[derive(Clone)]
pub(crate) struct Entry<V> {
    /// `None` is a cached "not found" (negative caching).
    pub(crate) value: Option<V>,
    /// Fresh (a `Hit`) strictly before this instant.
    pub(crate) fresh_until: u64,
    /// Servable as `Stale` strictly before this instant; absent from then on.
    pub(crate) stale_until: u64,
    /// A hit at or after this instant starts a background refresh (refresh-ahead).
    pub(crate) refresh_at: u64,
    /// How long the load took, in microseconds (the Δ of probabilistic early refresh).
    pub(crate) load_micros: u32,
}

/// What a lookup at one instant makes of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Freshness {
    /// Fresh and nothing to do.
    Fresh,
    /// Fresh, but a background refresh should start (refresh-ahead or early refresh).
    FreshRefresh,
    /// Past its TTL, within the stale window.
    Stale,
    /// Past the stale window: absent.
    Expired,
}

/// The deadlines of a new entry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lifetimes {
    pub(crate) ttl: Option<Duration>,
    pub(crate) stale_window: Duration,
    pub(crate) refresh_after: Option<Duration>,
}

impl<V> Entry<V> {
    pub(crate) fn new(value: Option<V>, now: u64, life: Lifetimes, load_micros: u32) -> Self {
        let (fresh_until, stale_until, refresh_at) = match life.ttl {
            None => (NEVER, NEVER, NEVER),
            Some(ttl) => {
                let fresh = now.saturating_add(duration_nanos(ttl));
                let stale = fresh.saturating_add(duration_nanos(life.stale_window));
                let refresh = life.refresh_after.map_or(NEVER, |r| {
                    if r < ttl {
                        now.saturating_add(duration_nanos(r))
                    } else {
                        NEVER
                    }
                });
                (fresh, stale, refresh)
            }
        };
        Self {
            value,
            fresh_until,
            stale_until,
            refresh_at,
            load_micros,
        }
    }

    /// `beta`: the XFetch factor (`None` disables early refresh).
    #[inline]
    pub(crate) fn freshness(&self, now: u64, beta: Option<f64>) -> Freshness {
        if now < self.fresh_until {
            if now >= self.refresh_at {
                return Freshness::FreshRefresh;
            }
            if let Some(beta) = beta
                && self.fresh_until != NEVER
                && self.load_micros > 0
                && xfetch(now, self.fresh_until, self.load_micros, beta, rand_unit())
            {
                return Freshness::FreshRefresh;
            }
            Freshness::Fresh
        } else if now < self.stale_until {
            Freshness::Stale
        } else {
            Freshness::Expired
        }
    }

    /// Time left before the entry is gone for good (`None`: never).
    pub(crate) fn remaining(&self, now: u64) -> Option<Duration> {
        (self.stale_until != NEVER)
            .then(|| Duration::from_nanos(self.stale_until.saturating_sub(now)))
    }
}

/// XFetch (Vattani, Chierichetti, Lowenstein, "Optimal Probabilistic Cache Stampede
/// Prevention", VLDB 2015): refresh early when `now - Δ·β·ln(r) ≥ expiry`, `r ∈ (0, 1]`.
/// The closer the expiry and the slower the load (Δ), the likelier an early refresh.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss
)]
pub(crate) fn xfetch(now: u64, expiry: u64, load_micros: u32, beta: f64, r: f64) -> bool {
    let delta_nanos = f64::from(load_micros) * 1_000.0;
    let gap = delta_nanos * beta * -r.ln();
    if !gap.is_finite() || gap >= (u64::MAX as f64) {
        return true;
    }
    now.saturating_add(gap as u64) >= expiry
}

/// A uniform number in (0, 1] from a per-thread xorshift64* generator (no dependency,
/// no lock; quality is ample for jittering refreshes).
#[allow(clippy::cast_precision_loss)]
pub(crate) fn rand_unit() -> f64 {
    thread_local! {
        static STATE: Cell<u64> = Cell::new(
            std::collections::hash_map::RandomState::new().build_hasher().finish() | 1,
        );
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        let bits = x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
        (bits + 1) as f64 / (1u64 << 53) as f64
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    fn life(ttl: u64, stale: u64, refresh: Option<u64>) -> Lifetimes {
        Lifetimes {
            ttl: Some(Duration::from_secs(ttl)),
            stale_window: Duration::from_secs(stale),
            refresh_after: refresh.map(Duration::from_secs),
        }
    }

    fn check(e: &Entry<u8>, at: u64, expected: Freshness) {
        assert_eq!(e.freshness(at, None), expected, "at {at}");
    }

    #[test]
    fn deadlines_follow_ttl_stale_window_and_refresh_ahead() {
        let e = Entry::new(Some(1u8), 100 * SEC, life(10, 5, Some(8)), 0);
        check(&e, 100 * SEC, Freshness::Fresh);
        check(&e, 108 * SEC - 1, Freshness::Fresh);
        check(&e, 108 * SEC, Freshness::FreshRefresh);
        check(&e, 110 * SEC - 1, Freshness::FreshRefresh);
        check(&e, 110 * SEC, Freshness::Stale);
        check(&e, 115 * SEC - 1, Freshness::Stale);
        check(&e, 115 * SEC, Freshness::Expired);
        assert_eq!(e.remaining(110 * SEC), Some(Duration::from_secs(5)));
    }

    #[test]
    fn no_ttl_means_forever() {
        let e = Entry::new(
            Some(1u8),
            5,
            Lifetimes {
                ttl: None,
                stale_window: Duration::ZERO,
                refresh_after: None,
            },
            0,
        );
        check(&e, u64::MAX - 1, Freshness::Fresh);
        assert_eq!(e.remaining(0), None);
    }

    #[test]
    fn refresh_after_at_or_beyond_ttl_is_ignored() {
        let e = Entry::new(Some(1u8), 0, life(10, 0, Some(10)), 0);
        assert_eq!(e.refresh_at, NEVER);
        check(&e, 10 * SEC, Freshness::Expired);
    }

    #[test]
    fn xfetch_refreshes_earlier_for_slow_loads_and_near_expiry() {
        // r = 1/e → -ln r = 1: gap = Δ·β.
        let r = (-1.0f64).exp();
        // Δ = 1 s, β = 1: refresh iff now + 1 s ≥ expiry.
        assert!(!xfetch(0, 2 * SEC, 1_000_000, 1.0, r));
        assert!(xfetch(SEC, 2 * SEC, 1_000_000, 1.0, r));
        // β = 2 doubles the horizon.
        assert!(xfetch(0, 2 * SEC, 1_000_000, 2.0, r));
        // r → 0 means an unbounded gap: always refresh.
        assert!(xfetch(0, u64::MAX, 1, 1.0, 0.0));
        // r = 1 means no gap.
        assert!(!xfetch(0, 1, 1_000_000, 1.0, 1.0));
    }

    #[test]
    fn rand_unit_is_in_range_and_varies() {
        let xs: Vec<f64> = (0..1000).map(|_| rand_unit()).collect();
        assert!(xs.iter().all(|x| *x > 0.0 && *x <= 1.0));
        let mean = xs.iter().sum::<f64>() / 1000.0;
        assert!((0.4..0.6).contains(&mean), "mean {mean}");
    }
}
