//! The in-memory limiter: GCRA exactness on a fake clock, concurrency, key spraying.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use keel_ratelimit::{Clock, Key, KeyedLimiter, KeyedLimiterBuilder, Quota, WhenFull};
use proptest::prelude::*;

fn limiter(quotas: &[Quota], clock: &Clock) -> KeyedLimiter<u32> {
    KeyedLimiterBuilder::new()
        .quotas(quotas.iter().copied())
        .clock(clock.clone())
        .build()
        .unwrap()
}

/// Over every interval between two admitted requests, the admitted cost is at most
/// `burst + elapsed / T` for every quota (checked in integer nanoseconds).
fn assert_gcra_bound(quota: &Quota, admitted: &[(u64, u32)]) {
    let t = quota.emission_interval().as_nanos();
    let burst = u128::from(quota.burst_size());
    for i in 0..admitted.len() {
        let mut sum = 0u128;
        for &(at, cost) in &admitted[i..] {
            sum += u128::from(cost);
            let elapsed = u128::from(at - admitted[i].0);
            assert!(
                sum * t <= burst * t + elapsed,
                "{quota}: {sum} admitted within {elapsed} ns"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn admitted_never_exceeds_burst_plus_rate(
        count in 1u32..20,
        period_ms in 1u64..5_000,
        burst in 1u32..30,
        second in proptest::option::of((1u32..50, 1u64..20_000)),
        steps in proptest::collection::vec((0u64..400_000_000, 1u32..4), 1..200),
    ) {
        let clock = Clock::manual();
        let mut quotas = vec![Quota::new(count, Duration::from_millis(period_ms)).burst(burst)];
        if let Some((c, p)) = second {
            quotas.push(Quota::new(c, Duration::from_millis(p)));
        }
        let l = limiter(&quotas, &clock);
        let min_burst = quotas.iter().map(Quota::burst_size).min().unwrap();
        let mut now = 0u64;
        let mut admitted = Vec::new();
        for (gap, cost) in steps {
            clock.advance(Duration::from_nanos(gap));
            now += gap;
            let cost = cost.min(min_burst);
            let d = l.check_key(&1, cost).unwrap();
            if d.is_allowed() {
                admitted.push((now, cost));
            } else {
                // The retry time is exact: waiting it out admits the same request.
                let retry = d.retry_after().unwrap();
                prop_assert!(retry > Duration::ZERO);
                prop_assert!(l.peek_key(&1, cost).unwrap().is_denied());
                clock.advance(retry);
                now += u64::try_from(retry.as_nanos()).unwrap();
                prop_assert!(l.peek_key(&1, cost).unwrap().is_allowed());
            }
        }
        for q in &quotas {
            assert_gcra_bound(q, &admitted);
        }
    }

    #[test]
    fn steady_traffic_below_the_rate_is_never_denied(
        count in 1u32..100,
        period_ms in 1u64..10_000,
        slack_ns in 0u64..1_000_000,
        costs in proptest::collection::vec(1u32..4, 1..200),
    ) {
        let clock = Clock::manual();
        let q = Quota::new(count, Duration::from_millis(period_ms)).burst(3);
        let l = limiter(&[q], &clock);
        let t = u64::try_from(q.emission_interval().as_nanos()).unwrap();
        for cost in costs {
            prop_assert!(l.check_key(&7, cost).unwrap().is_allowed());
            // Wait what this request cost (or more): the rate is never exceeded.
            clock.advance(Duration::from_nanos(t * u64::from(cost) + slack_ns));
        }
    }
}

#[test]
fn concurrent_tasks_on_one_key_admit_exactly_the_burst() {
    let clock = Clock::manual();
    let l = limiter(
        &[Quota::per_minute(1000).burst(500), Quota::per_hour(2000)],
        &clock,
    );
    let admitted = Arc::new(std::sync::atomic::AtomicU64::new(0));
    std::thread::scope(|s| {
        for _ in 0..8 {
            let l = l.clone();
            let admitted = Arc::clone(&admitted);
            s.spawn(move || {
                for _ in 0..2_000 {
                    if l.check_key(&42, 1).unwrap().is_allowed() {
                        admitted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert_eq!(admitted.load(std::sync::atomic::Ordering::Relaxed), 500);
    let st = l.stats();
    assert_eq!((st.allowed, st.denied), (500, 16_000 - 500));
    // One emission interval (60 ms) later: exactly one more.
    clock.advance(Duration::from_millis(60));
    let more = (0..100)
        .filter(|_| l.check_key(&42, 1).unwrap().is_allowed())
        .count();
    assert_eq!(more, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_async_tasks_through_the_limiter_type() {
    let clock = Clock::manual();
    let keyed = KeyedLimiter::builder()
        .quota(Quota::per_second(50))
        .clock(clock.clone())
        .build()
        .unwrap();
    let l = keel_ratelimit::Limiter::from(keyed);
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let l = l.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u32;
            for _ in 0..100 {
                n += u32::from(
                    l.check_key(&Key::from("hot"), 1)
                        .await
                        .unwrap()
                        .is_allowed(),
                );
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(total, 50);
}

#[test]
fn spraying_a_million_keys_stays_under_the_cap_and_memory_bound() {
    let clock = Clock::manual();
    let max_keys = 100_000;
    let l: KeyedLimiter = KeyedLimiter::builder()
        .quota(Quota::per_hour(10))
        .max_keys(max_keys)
        .clock(clock.clone())
        .build()
        .unwrap();
    // The victim key is busy (not near idle) and must survive the flood.
    let victim = Key::from("victim");
    for _ in 0..10 {
        l.check_key(&victim, 1).unwrap();
    }
    // Two threads (CI has two cores), each spraying half of the million distinct IPs.
    std::thread::scope(|s| {
        for half in 0..2u32 {
            let (l, clock) = (l.clone(), clock.clone());
            s.spawn(move || {
                for i in (half * 500_000)..((half + 1) * 500_000) {
                    let key = Key::ip(IpAddr::V4(Ipv4Addr::from(i)));
                    assert!(l.check_key(&key, 1).unwrap().is_allowed());
                    if i % 100_000 == 0 {
                        assert!(l.len() <= max_keys);
                    }
                    if i % 1000 == 0 {
                        clock.advance(Duration::from_millis(1));
                    }
                }
            });
        }
    });
    assert!(l.len() <= max_keys, "{}", l.len());
    let bytes = l.memory_bytes();
    assert!(
        bytes <= max_keys * 128,
        "{bytes} bytes for {} keys",
        l.len()
    );
    assert!(
        l.check_key(&victim, 1).unwrap().is_denied(),
        "the busiest key was evicted"
    );
    let st = l.stats();
    assert!(st.evictions >= 900_000);
    // Once everything is idle, one sweep frees it all.
    clock.advance(Duration::from_secs(3600));
    let keys = l.len();
    assert_eq!(l.evict_idle(), keys);
    assert!(l.is_empty());
}

#[test]
fn deny_new_keys_policy_protects_tracked_keys() {
    let clock = Clock::manual();
    let l: KeyedLimiter<u32> = KeyedLimiterBuilder::new()
        .quota(Quota::per_hour(10))
        .max_keys(64)
        .when_full(WhenFull::DenyNewKeys)
        .clock(clock.clone())
        .build()
        .unwrap();
    let admitted = (0..10_000u32)
        .filter(|k| l.check_key(k, 1).unwrap().is_allowed())
        .count();
    assert_eq!(admitted, l.max_keys());
    assert!(l.len() <= 64);
    // Idle keys make room again.
    clock.advance(Duration::from_secs(3600));
    assert!(l.check_key(&1_000_000, 1).unwrap().is_allowed());
}
