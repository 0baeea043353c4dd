//! TTL, per-entry TTL, TTI, negative caching, stale-while-revalidate, refresh-ahead and
//! early refresh — on a manual clock, so nothing depends on timing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use keel_cache::{Cache, CacheStatus, Clock};

const S: Duration = Duration::from_secs(1);

fn ok(v: u64) -> impl FnOnce() -> std::future::Ready<Result<u64, std::io::Error>> + Send + 'static {
    move || std::future::ready(Ok(v))
}

fn counted(
    calls: &Arc<AtomicUsize>,
    result: Result<u64, &'static str>,
) -> impl FnOnce() -> std::future::Ready<Result<u64, std::io::Error>> + Send + 'static {
    let calls = Arc::clone(calls);
    move || {
        calls.fetch_add(1, Ordering::SeqCst);
        std::future::ready(result.map_err(std::io::Error::other))
    }
}

/// Waits (bounded) until `cond` holds: for background refreshes to land.
async fn eventually<F: AsyncFn() -> bool>(cond: F) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !cond().await {
        assert!(std::time::Instant::now() < deadline, "condition never held");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test]
async fn ttl_and_per_entry_ttl_on_a_manual_clock() {
    let clock = Clock::manual();
    let cache: Cache<u64, u64> = Cache::builder("exp")
        .ttl(10 * S)
        .clock(clock.clone())
        .build();
    cache.insert(1, 1).await.unwrap();
    cache.insert_with_ttl(2, 2, 3 * S).await.unwrap();
    clock.advance(3 * S - Duration::from_nanos(1));
    assert_eq!(cache.get(&2).await, Some(2));
    clock.advance(Duration::from_nanos(1));
    assert_eq!(cache.get(&2).await, None, "per-entry TTL");
    assert_eq!(cache.get(&1).await, Some(1));
    clock.advance(7 * S);
    assert_eq!(cache.get(&1).await, None, "default TTL");
    let again = cache.get_or_load(1, ok(10)).await.unwrap();
    assert_eq!(again.into_parts(), (10, CacheStatus::Miss));
}

#[tokio::test]
async fn moka_reclaims_expired_entries_on_the_real_clock() {
    let cache: Cache<u64, u64> = Cache::builder("exp").ttl(Duration::from_millis(50)).build();
    cache.insert(1, 1).await.unwrap();
    eventually(async || {
        cache.run_pending_tasks().await;
        cache.stats().entries == 0
    })
    .await;
    assert!(cache.stats().evictions.expired >= 1);
}

#[tokio::test]
async fn time_to_idle_keeps_read_entries_and_drops_idle_ones() {
    // moka measures idleness on the system clock: a short TTI with generous bounds.
    let cache: Cache<u64, u64> = Cache::builder("tti")
        .tti(Duration::from_millis(300))
        .build();
    cache.insert(1, 1).await.unwrap();
    cache.insert(2, 2).await.unwrap();
    let start = std::time::Instant::now();
    let mut last_read = start;
    // Read key 1 every 20 ms for well over one TTI.
    while start.elapsed() < Duration::from_millis(600) {
        let gap = last_read.elapsed();
        let got = cache.get(&1).await;
        last_read = std::time::Instant::now();
        if gap < Duration::from_millis(150) {
            assert_eq!(
                got,
                Some(1),
                "read entry expired {gap:?} after its last read"
            );
        } else if got.is_none() {
            // A loaded machine did not run this task for half a TTI: the entry was idle,
            // so it may have gone. Put it back; the rule is checked on the next reads.
            cache.insert(1, 1).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(cache.get(&2).await, None, "idle entry survived 2×TTI");
}

#[tokio::test]
async fn negative_results_are_cached_for_the_negative_ttl_only() {
    let clock = Clock::manual();
    let cache: Cache<u64, u64> = Cache::builder("neg")
        .ttl(60 * S)
        .negative_ttl(5 * S)
        .clock(clock.clone())
        .build();
    let calls = Arc::new(AtomicUsize::new(0));
    let loader = |v: Option<u64>| {
        let calls = Arc::clone(&calls);
        move || {
            calls.fetch_add(1, Ordering::SeqCst);
            std::future::ready(Ok::<_, std::io::Error>(v))
        }
    };
    let a = cache.get_or_load_optional(1, loader(None)).await.unwrap();
    assert_eq!(a.into_parts(), (None, CacheStatus::Miss));
    let b = cache
        .get_or_load_optional(1, loader(Some(1)))
        .await
        .unwrap();
    assert_eq!(b.into_parts(), (None, CacheStatus::Hit));
    assert_eq!(cache.stats().negative_hits, 1);
    clock.advance(5 * S);
    let c = cache
        .get_or_load_optional(1, loader(Some(1)))
        .await
        .unwrap();
    assert_eq!(c.into_parts(), (Some(1), CacheStatus::Miss));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    // `get_or_load` promises a value: a cached "not found" is a miss there.
    cache.insert_not_found(2).await.unwrap();
    assert_eq!(cache.get(&2).await, None);
    let d = cache.get_or_load(2, ok(22)).await.unwrap();
    assert_eq!(d.into_parts(), (22, CacheStatus::Miss));
}

#[tokio::test]
async fn without_a_negative_ttl_not_found_is_not_cached() {
    let cache: Cache<u64, u64> = Cache::builder("neg").build();
    let calls = Arc::new(AtomicUsize::new(0));
    for _ in 0..2 {
        let calls = Arc::clone(&calls);
        let r = cache
            .get_or_load_optional(1, move || {
                calls.fetch_add(1, Ordering::SeqCst);
                std::future::ready(Ok::<_, std::io::Error>(None))
            })
            .await
            .unwrap();
        assert_eq!(r.status(), CacheStatus::Miss);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn stale_while_revalidate_serves_stale_and_refreshes_once() {
    let clock = Clock::manual();
    let cache: Cache<u64, u64> = Cache::builder("swr")
        .ttl(10 * S)
        .stale_while_revalidate(60 * S)
        .clock(clock.clone())
        .build();
    cache.get_or_load(1, ok(1)).await.unwrap();
    clock.advance(11 * S);

    let calls = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(tokio::sync::Notify::new());
    let slow = |v: u64| {
        let calls = Arc::clone(&calls);
        let gate = Arc::clone(&gate);
        move || async move {
            calls.fetch_add(1, Ordering::SeqCst);
            gate.notified().await;
            Ok::<_, std::io::Error>(v)
        }
    };
    // Many stale reads while the refresh runs: all served stale, one refresh.
    for _ in 0..20 {
        let r = cache.get_or_load(1, slow(2)).await.unwrap();
        assert_eq!(r.into_parts(), (1, CacheStatus::Stale));
    }
    eventually(async || calls.load(Ordering::SeqCst) == 1).await;
    gate.notify_one();
    eventually(async || cache.get(&1).await == Some(2)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let s = cache.stats();
    assert_eq!((s.stale_hits, s.refreshes), (20, 1));
    let r = cache.get_or_load(1, ok(3)).await.unwrap();
    assert_eq!(r.into_parts(), (2, CacheStatus::Hit));
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_stale_value_until_max_staleness() {
    let clock = Clock::manual();
    let cache: Cache<u64, u64> = Cache::builder("swr")
        .ttl(10 * S)
        .stale_while_revalidate(30 * S)
        .clock(clock.clone())
        .build();
    cache.get_or_load(1, ok(1)).await.unwrap();
    clock.advance(15 * S);
    let calls = Arc::new(AtomicUsize::new(0));
    let r = cache
        .get_or_load(1, counted(&calls, Err("db down")))
        .await
        .unwrap();
    assert_eq!(r.into_parts(), (1, CacheStatus::Stale));
    eventually(async || cache.stats().refresh_errors == 1).await;
    // Still served stale after the failure.
    clock.advance(20 * S);
    let r = cache
        .get_or_load(1, counted(&calls, Err("db down")))
        .await
        .unwrap();
    assert_eq!(r.into_parts(), (1, CacheStatus::Stale));
    eventually(async || cache.stats().refresh_errors == 2).await;
    // Past TTL + max staleness: gone, and the error reaches the caller.
    clock.advance(5 * S);
    let err = cache
        .get_or_load(1, counted(&calls, Err("db down")))
        .await
        .unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn refresh_ahead_reloads_hot_keys_before_they_expire() {
    let clock = Clock::manual();
    let cache: Cache<u64, u64> = Cache::builder("ra")
        .ttl(10 * S)
        .refresh_after(8 * S)
        .clock(clock.clone())
        .build();
    cache.get_or_load(1, ok(1)).await.unwrap();
    clock.advance(7 * S);
    let calls = Arc::new(AtomicUsize::new(0));
    let r = cache.get_or_load(1, counted(&calls, Ok(2))).await.unwrap();
    assert_eq!(r.into_parts(), (1, CacheStatus::Hit));
    tokio::task::yield_now().await;
    assert_eq!(calls.load(Ordering::SeqCst), 0, "refreshed too early");
    clock.advance(S);
    let r = cache.get_or_load(1, counted(&calls, Ok(2))).await.unwrap();
    assert_eq!(
        r.into_parts(),
        (1, CacheStatus::Hit),
        "served the current value"
    );
    eventually(async || cache.get(&1).await == Some(2)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // The refreshed value has a new TTL: fresh at the old expiry.
    clock.advance(3 * S);
    assert_eq!(cache.get(&1).await, Some(2));
}

#[tokio::test]
async fn early_refresh_triggers_near_expiry_for_slow_loads() {
    let clock = Clock::manual();
    let cache: Cache<u64, u64> = Cache::builder("xfetch")
        .ttl(10 * S)
        // A huge beta makes the probabilistic refresh certain once the load time is known.
        .early_refresh(1e9)
        .clock(clock.clone())
        .build();
    cache
        .get_or_load(1, || async {
            // The XFetch Δ is the measured load time.
            tokio::time::sleep(Duration::from_millis(2)).await;
            Ok::<_, std::io::Error>(1)
        })
        .await
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let r = cache.get_or_load(1, counted(&calls, Ok(2))).await.unwrap();
    assert_eq!(r.status(), CacheStatus::Hit);
    eventually(async || cache.get(&1).await == Some(2)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(cache.stats().refreshes, 1);
}

#[tokio::test]
async fn without_early_refresh_fresh_hits_never_reload() {
    let clock = Clock::manual();
    let cache: Cache<u64, u64> = Cache::builder("plain")
        .ttl(10 * S)
        .clock(clock.clone())
        .build();
    cache.get_or_load(1, ok(1)).await.unwrap();
    clock.advance(9 * S);
    let calls = Arc::new(AtomicUsize::new(0));
    for _ in 0..100 {
        cache.get_or_load(1, counted(&calls, Ok(2))).await.unwrap();
    }
    tokio::task::yield_now().await;
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(cache.stats().refreshes, 0);
}
