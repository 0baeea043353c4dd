//! The value stored in memory: the user's value (or a cached "not found") and its
//! freshness deadlines on the cache's [`Clock`](crate::Clock).

use std::cell::Cell;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use crate::clock::duration_nanos;

/// Deadline meaning "never".
pub(crate) const NEVER: u64 = u64::MAX;

/// 32 bytes of bookkeeping per entry at most (with a `u64` value): the deadlines are
/// one absolute instant plus a relative stale window, and refresh-ahead is derived from
/// the cache's configuration instead of being stored.
#[derive(Clone)]
pub(crate) struct Entry<V> {
    /// `None` is a cached "not found" (negative caching).
    pub(crate) value: Option<V>,
    /// Fresh (a `Hit`) strictly before this instant. [`NEVER`] means no deadline of our
    /// own: either no TTL, or moka's `time_to_live` enforces it (the fast path).
    pub(crate) fresh_until: u64,
    /// After `fresh_until`, servable as `Stale` for this many milliseconds.
    pub(crate) stale_ms: u32,
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

/// The freshness policy applied at lookup time.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Policy {
    /// Refresh-ahead: refresh when at most this much fresh time is left (`ttl - refresh_after`).
    pub(crate) refresh_lead: Option<u64>,
    /// XFetch β.
    pub(crate) beta: Option<f64>,
}

pub(crate) fn millis_u32(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

impl<V> Entry<V> {
    /// An entry fresh for `ttl` (forever with `None`) and then stale for `stale`.
    pub(crate) fn new(
        value: Option<V>,
        now: u64,
        ttl: Option<Duration>,
        stale: Duration,
        load_micros: u32,
    ) -> Self {
        Self {
            value,
            fresh_until: ttl.map_or(NEVER, |t| now.saturating_add(duration_nanos(t))),
            stale_ms: millis_u32(stale),
            load_micros,
        }
    }

    /// Servable (as `Stale`) strictly before this instant.
    #[inline]
    pub(crate) fn stale_until(&self) -> u64 {
        if self.fresh_until == NEVER {
            NEVER
        } else {
            self.fresh_until
                .saturating_add(u64::from(self.stale_ms) * 1_000_000)
        }
    }

    #[inline]
    pub(crate) fn freshness(&self, now: u64, policy: Policy) -> Freshness {
        if now < self.fresh_until {
            if self.fresh_until == NEVER {
                return Freshness::Fresh;
            }
            if let Some(lead) = policy.refresh_lead
                && now.saturating_add(lead) >= self.fresh_until
            {
                return Freshness::FreshRefresh;
            }
            if let Some(beta) = policy.beta
                && self.load_micros > 0
                && xfetch(now, self.fresh_until, self.load_micros, beta, rand_unit())
            {
                return Freshness::FreshRefresh;
            }
            Freshness::Fresh
        } else if now < self.stale_until() {
            Freshness::Stale
        } else {
            Freshness::Expired
        }
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

    fn entry(now: u64, ttl: u64, stale: u64) -> Entry<u8> {
        Entry::new(
            Some(1),
            now,
            Some(Duration::from_secs(ttl)),
            Duration::from_secs(stale),
            0,
        )
    }

    fn check(e: &Entry<u8>, at: u64, policy: Policy, expected: Freshness) {
        assert_eq!(e.freshness(at, policy), expected, "at {at}");
    }

    #[test]
    fn deadlines_follow_ttl_stale_window_and_refresh_ahead() {
        let e = entry(100 * SEC, 10, 5);
        // refresh_after 8 s of a 10 s TTL: refresh when ≤ 2 s are left.
        let p = Policy {
            refresh_lead: Some(2 * SEC),
            beta: None,
        };
        check(&e, 100 * SEC, p, Freshness::Fresh);
        check(&e, 108 * SEC - 1, p, Freshness::Fresh);
        check(&e, 108 * SEC, p, Freshness::FreshRefresh);
        check(&e, 110 * SEC - 1, p, Freshness::FreshRefresh);
        check(&e, 110 * SEC, p, Freshness::Stale);
        check(&e, 115 * SEC - 1, p, Freshness::Stale);
        check(&e, 115 * SEC, p, Freshness::Expired);
        assert_eq!(e.stale_until(), 115 * SEC);
        check(&e, 109 * SEC, Policy::default(), Freshness::Fresh);
    }

    #[test]
    fn no_deadline_means_fresh_forever() {
        let e = Entry::new(Some(1u8), 5, None, Duration::from_secs(9), 0);
        check(
            &e,
            u64::MAX - 1,
            Policy {
                refresh_lead: Some(SEC),
                beta: Some(1e9),
            },
            Freshness::Fresh,
        );
        assert_eq!(e.stale_until(), NEVER);
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
