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

    // Only the Redis tier reads freshness off an `Entry`; memory reads it off a `Slot`.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    #[inline]
    pub(crate) fn freshness(&self, now: u64, policy: Policy) -> Freshness {
        freshness(
            now,
            self.fresh_until,
            self.stale_until(),
            self.load_micros,
            policy,
        )
    }
}

/// What a lookup at `now` makes of an entry with these deadlines.
#[inline]
fn freshness(
    now: u64,
    fresh_until: u64,
    stale_until: u64,
    load_micros: u32,
    policy: Policy,
) -> Freshness {
    if now < fresh_until {
        if fresh_until == NEVER {
            return Freshness::Fresh;
        }
        if let Some(lead) = policy.refresh_lead
            && now.saturating_add(lead) >= fresh_until
        {
            return Freshness::FreshRefresh;
        }
        if let Some(beta) = policy.beta
            && load_micros > 0
            && xfetch(now, fresh_until, load_micros, beta, rand_unit())
        {
            return Freshness::FreshRefresh;
        }
        Freshness::Fresh
    } else if now < stale_until {
        Freshness::Stale
    } else {
        Freshness::Expired
    }
}

/// The fresh deadline of a [`Slot`] meaning "never": the largest 40-bit millisecond count.
const NEVER_MS: u64 = (1 << 40) - 1;
const NANOS_PER_MS: u64 = 1_000_000;

/// The bookkeeping of a [`Slot`] in 8 bytes: the fresh deadline in whole milliseconds
/// since the clock's origin (40 bits: 34 years of uptime), the load time as a 16-bit
/// float, and whether the cache's stale window applies. The `bool` also gives `Slot`
/// a niche, so its two variants need no tag of their own.
#[derive(Clone, Copy)]
pub(crate) struct Meta {
    deadline_lo: u32,
    load: u16,
    deadline_hi: u8,
    stale: bool,
}

/// What moka stores per key: 8 bytes of bookkeeping next to the value (a `u64 → u64`
/// entry is 16 bytes, against 32 for [`Entry`]), which keeps moka's per-entry
/// allocation in the same size class as with a bare `u64` value.
///
/// [`Entry`] stays the exchange form (loads, the Redis tier); a slot is made from it
/// when stored in memory. The conversion rounds the fresh deadline up to the next
/// millisecond, keeps load times to 0.1 %, and replaces a per-entry stale window by the
/// cache's own (see [`Slot::new`]).
#[derive(Clone)]
pub(crate) enum Slot<V> {
    /// A value.
    Value(V, Meta),
    /// A cached "not found".
    Negative(Meta),
}

/// `micros` as a 16-bit float: 5-bit exponent, 11-bit mantissa, rounded down (exact
/// below 2,048 µs, within 0.1 % above).
fn encode_micros(micros: u32) -> u16 {
    let shift = (32 - micros.leading_zeros()).saturating_sub(11);
    let code = (shift << 11) | (micros >> shift);
    u16::try_from(code).unwrap_or(u16::MAX)
}

fn decode_micros(code: u16) -> u32 {
    let shift = u32::from(code >> 11);
    (u32::from(code) & 0x7ff) << shift
}

impl<V> Slot<V> {
    /// The slot for `entry` in a cache whose stale window is `stale_ms`.
    ///
    /// An entry's own stale window is kept when it is the cache's or zero. Any other
    /// window (a Redis hit near the end of its life, or written by a replica configured
    /// differently) keeps its final deadline: the fresh deadline moves earlier so that
    /// fresh deadline + the cache's window ends where the entry's window ends; when that
    /// cannot be expressed, the entry keeps its fresh deadline without a stale window.
    pub(crate) fn new(entry: Entry<V>, stale_ms: u32) -> Self {
        let window = u64::from(stale_ms) * NANOS_PER_MS;
        let (fresh_until, stale) = if entry.fresh_until == NEVER || entry.stale_ms == 0 {
            (entry.fresh_until, false)
        } else if entry.stale_ms == stale_ms {
            (entry.fresh_until, true)
        } else if stale_ms > 0 && entry.stale_until() >= window {
            let end = entry
                .stale_until()
                .min(entry.fresh_until.saturating_add(window));
            (end - window, true)
        } else {
            (entry.fresh_until, false)
        };
        let ms = if fresh_until == NEVER {
            NEVER_MS
        } else {
            fresh_until.div_ceil(NANOS_PER_MS).min(NEVER_MS - 1)
        };
        let meta = Meta {
            deadline_lo: u32::try_from(ms & 0xffff_ffff).unwrap_or(u32::MAX),
            deadline_hi: u8::try_from(ms >> 32).unwrap_or(u8::MAX),
            load: encode_micros(entry.load_micros),
            stale,
        };
        match entry.value {
            Some(v) => Self::Value(v, meta),
            None => Self::Negative(meta),
        }
    }

    fn meta(&self) -> Meta {
        match self {
            Self::Value(_, m) | Self::Negative(m) => *m,
        }
    }

    /// The value; `None` for a cached "not found".
    pub(crate) fn value(&self) -> Option<&V> {
        match self {
            Self::Value(v, _) => Some(v),
            Self::Negative(_) => None,
        }
    }

    /// The value, by move.
    pub(crate) fn into_value(self) -> Option<V> {
        match self {
            Self::Value(v, _) => Some(v),
            Self::Negative(_) => None,
        }
    }

    /// Fresh strictly before this instant (nanoseconds on the cache's clock); [`NEVER`]
    /// for no deadline of our own.
    #[inline]
    pub(crate) fn fresh_until(&self) -> u64 {
        let m = self.meta();
        let ms = (u64::from(m.deadline_hi) << 32) | u64::from(m.deadline_lo);
        if ms == NEVER_MS {
            NEVER
        } else {
            ms * NANOS_PER_MS
        }
    }

    /// What a lookup at `now` makes of this slot, in a cache whose stale window is
    /// `stale_ms`.
    #[inline]
    pub(crate) fn freshness(&self, now: u64, policy: Policy, stale_ms: u32) -> Freshness {
        let m = self.meta();
        let fresh_until = self.fresh_until();
        let stale_until = if fresh_until == NEVER {
            NEVER
        } else if m.stale {
            fresh_until.saturating_add(u64::from(stale_ms) * NANOS_PER_MS)
        } else {
            fresh_until
        };
        freshness(now, fresh_until, stale_until, decode_micros(m.load), policy)
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

    fn slot(e: Entry<u8>, stale_ms: u32) -> Slot<u8> {
        Slot::new(e, stale_ms)
    }

    #[test]
    fn a_u64_slot_is_value_plus_eight_bytes() {
        assert_eq!(size_of::<Slot<u64>>(), 16);
        assert_eq!(size_of::<Slot<String>>(), 32);
    }

    #[test]
    fn slots_keep_entry_deadlines_at_millisecond_resolution() {
        let p = Policy::default();
        // Aligned deadlines are exact: fresh until 110 s, stale until 115 s.
        let s = slot(entry(100 * SEC, 10, 5), 5_000);
        assert_eq!(s.fresh_until(), 110 * SEC);
        assert_eq!(s.freshness(110 * SEC - 1, p, 5_000), Freshness::Fresh);
        assert_eq!(s.freshness(110 * SEC, p, 5_000), Freshness::Stale);
        assert_eq!(s.freshness(115 * SEC - 1, p, 5_000), Freshness::Stale);
        assert_eq!(s.freshness(115 * SEC, p, 5_000), Freshness::Expired);
        // Unaligned deadlines round up to the next millisecond.
        let s = slot(entry(100 * SEC + 1, 10, 0), 0);
        assert_eq!(s.fresh_until(), 110 * SEC + 1_000_000);
        assert_eq!(s.freshness(110 * SEC + 1, p, 0), Freshness::Fresh);
        assert_eq!(s.freshness(110 * SEC + 1_000_000, p, 0), Freshness::Expired);
        // No deadline stays no deadline; a negative entry keeps its deadline.
        let s = slot(
            Entry::new(Some(1), 5, None, Duration::from_secs(9), 0),
            9_000,
        );
        assert_eq!(s.fresh_until(), NEVER);
        assert_eq!(s.freshness(u64::MAX - 1, p, 9_000), Freshness::Fresh);
        let n = slot(
            Entry::new(
                None,
                100 * SEC,
                Some(Duration::from_secs(1)),
                Duration::ZERO,
                0,
            ),
            0,
        );
        assert!(n.value().is_none());
        assert_eq!(n.freshness(101 * SEC, p, 0), Freshness::Expired);
        // Deadlines beyond 34 years saturate below "never".
        let far = slot(entry(u64::MAX / 2, 1, 0), 0);
        assert_ne!(far.fresh_until(), NEVER);
    }

    #[test]
    fn slots_map_a_foreign_stale_window_onto_the_caches() {
        let p = Policy::default();
        let foreign = |stale_ms: u32| Entry {
            value: Some(1u8),
            fresh_until: 100 * SEC,
            stale_ms,
            load_micros: 0,
        };
        // Shorter than the cache's 5 s window: the end (102 s) is kept, freshness ends
        // 3 s earlier.
        let s = slot(foreign(2_000), 5_000);
        assert_eq!(s.freshness(97 * SEC - 1, p, 5_000), Freshness::Fresh);
        assert_eq!(s.freshness(97 * SEC, p, 5_000), Freshness::Stale);
        assert_eq!(s.freshness(102 * SEC - 1, p, 5_000), Freshness::Stale);
        assert_eq!(s.freshness(102 * SEC, p, 5_000), Freshness::Expired);
        // Longer: cut to the cache's window.
        let s = slot(foreign(9_000), 5_000);
        assert_eq!(s.freshness(100 * SEC - 1, p, 5_000), Freshness::Fresh);
        assert_eq!(s.freshness(105 * SEC, p, 5_000), Freshness::Expired);
        // A cache without a stale window serves none.
        let s = slot(foreign(2_000), 0);
        assert_eq!(s.freshness(100 * SEC, p, 0), Freshness::Expired);
        // A window ending before the cache's window could start: no stale serving.
        let early = Entry {
            value: Some(1u8),
            fresh_until: SEC,
            stale_ms: 1_000,
            load_micros: 0,
        };
        let s = slot(early, 5_000);
        assert_eq!(s.freshness(SEC - 1, p, 5_000), Freshness::Fresh);
        assert_eq!(s.freshness(SEC, p, 5_000), Freshness::Expired);
    }

    #[test]
    fn load_times_survive_within_a_thousandth() {
        for us in [0u32, 1, 2_047, 2_048, 2_049, 123_456, 4_000_000, u32::MAX] {
            let back = decode_micros(encode_micros(us));
            assert!(
                back <= us && u64::from(us - back) * 1_000 <= u64::from(us),
                "{us} -> {back}"
            );
        }
        assert_eq!(decode_micros(encode_micros(1_500)), 1_500);
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
