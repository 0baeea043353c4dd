//! Single-flight loads: one loader call per cold key, however callers come and go.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use keel_cache::{Cache, CacheStatus, Error};
use tokio::sync::{Barrier, Notify};

fn counting_loader(
    calls: &Arc<AtomicUsize>,
    gate: &Arc<Notify>,
    value: u64,
) -> impl FnOnce() -> std::pin::Pin<Box<dyn Future<Output = Result<u64, std::io::Error>> + Send>>
+ Send
+ 'static {
    let calls = Arc::clone(calls);
    let gate = Arc::clone(gate);
    move || {
        Box::pin(async move {
            calls.fetch_add(1, Ordering::SeqCst);
            gate.notified().await;
            Ok(value)
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thousand_concurrent_callers_one_loader_call() {
    let cache: Cache<u64, u64> = Cache::builder("sf").build();
    let calls = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(1000));
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let cache = cache.clone();
            let calls = Arc::clone(&calls);
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                cache
                    .get_or_load(1, move || async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok::<_, std::io::Error>(42)
                    })
                    .await
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().into_value(), 42);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let s = cache.stats();
    assert_eq!(s.loads, 1);
    assert_eq!(s.hits + s.misses, 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dropping_the_first_caller_mid_load_does_not_strand_the_others() {
    let cache: Cache<u64, u64> = Cache::builder("sf").build();
    let calls = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Notify::new());

    // The first caller starts the load, then is cancelled while the loader runs.
    let first = {
        let cache = cache.clone();
        let loader = counting_loader(&calls, &gate, 7);
        tokio::spawn(async move { cache.get_or_load(1, loader).await })
    };
    while calls.load(Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    let waiters: Vec<_> = (0..999)
        .map(|_| {
            let cache = cache.clone();
            let loader = counting_loader(&calls, &gate, 8);
            tokio::spawn(async move { cache.get_or_load(1, loader).await })
        })
        .collect();
    // Let the waiters join the flight, then cancel the first caller.
    while cache.stats().coalesced < 999 {
        tokio::task::yield_now().await;
    }
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    gate.notify_waiters();

    let all = async {
        for w in waiters {
            let got = w.await.unwrap().unwrap();
            assert_eq!(got.into_parts(), (7, CacheStatus::Miss));
        }
    };
    // "Within one loader time": the loader is released immediately, so this is prompt.
    tokio::time::timeout(Duration::from_secs(5), all)
        .await
        .expect("waiters stranded");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(cache.get(&1).await, Some(7));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_whose_callers_all_left_still_completes_and_is_cached() {
    let cache: Cache<u64, u64> = Cache::builder("sf").build();
    let calls = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Notify::new());
    let caller = {
        let cache = cache.clone();
        let loader = counting_loader(&calls, &gate, 9);
        tokio::spawn(async move { cache.get_or_load(5, loader).await })
    };
    while calls.load(Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    caller.abort();
    let _ = caller.await;
    gate.notify_one();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while cache.get(&5).await.is_none() {
        assert!(tokio::time::Instant::now() < deadline, "value never cached");
        tokio::task::yield_now().await;
    }
    // The next caller hits without loading again.
    let again = cache
        .get_or_load(5, || async { Ok::<_, std::io::Error>(0) })
        .await
        .unwrap();
    assert_eq!(again.into_parts(), (9, CacheStatus::Hit));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[derive(Debug, thiserror::Error)]
#[error("db down")]
struct DbDown;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_loader_error_reaches_every_waiter_and_is_not_cached() {
    let cache: Cache<u64, u64> = Cache::builder("sf").build();
    let calls = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Notify::new());
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let cache = cache.clone();
            let calls = Arc::clone(&calls);
            let gate = Arc::clone(&gate);
            tokio::spawn(async move {
                cache
                    .get_or_load(1, move || async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        gate.notified().await;
                        Err::<u64, _>(DbDown)
                    })
                    .await
            })
        })
        .collect();
    while cache.stats().misses < 50 || calls.load(Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    gate.notify_waiters();
    for t in tasks {
        let err = t.await.unwrap().unwrap_err();
        let Error::Load(e) = &err else {
            panic!("{err:?}")
        };
        assert!(e.downcast_ref::<DbDown>().is_some());
        assert!(err.is_retryable());
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(cache.stats().load_errors, 1);
    // Not cached: the next call loads again.
    let ok = cache
        .get_or_load(1, || async { Ok::<_, DbDown>(3) })
        .await
        .unwrap();
    assert_eq!(ok.into_parts(), (3, CacheStatus::Miss));
}

#[tokio::test(start_paused = true)]
async fn a_slow_loader_times_out_for_every_waiter_and_is_not_cached() {
    let cache: Cache<u64, u64> = Cache::builder("sf")
        .load_timeout(Duration::from_millis(100))
        .build();
    let slow = || async {
        tokio::time::sleep(Duration::from_secs(10)).await;
        Ok::<_, std::io::Error>(1)
    };
    let (a, b) = tokio::join!(cache.get_or_load(1, slow), cache.get_or_load(1, slow));
    assert!(matches!(a, Err(Error::LoadTimeout(d)) if d == Duration::from_millis(100)));
    assert!(matches!(b, Err(Error::LoadTimeout(_))));
    assert_eq!(cache.stats().load_timeouts, 1);
    assert_eq!(cache.get(&1).await, None);
}

#[tokio::test]
async fn a_panicking_loader_answers_load_aborted_and_does_not_wedge_the_key() {
    let cache: Cache<u64, u64> = Cache::builder("sf").build();
    let err = cache
        .get_or_load(1, || async {
            if true {
                panic!("loader bug");
            }
            Ok::<u64, std::io::Error>(0)
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::LoadAborted));
    let ok = cache
        .get_or_load(1, || async { Ok::<_, std::io::Error>(2) })
        .await
        .unwrap();
    assert_eq!(ok.into_value(), 2);
}

#[tokio::test]
async fn invalidating_during_a_load_answers_waiters_but_caches_nothing() {
    let cache: Cache<u64, u64> = Cache::builder("sf").build();
    let calls = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Notify::new());
    let caller = {
        let cache = cache.clone();
        let loader = counting_loader(&calls, &gate, 1);
        tokio::spawn(async move { cache.get_or_load(3, loader).await })
    };
    while calls.load(Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    cache.invalidate(&3).await;
    gate.notify_one();
    assert_eq!(caller.await.unwrap().unwrap().into_value(), 1);
    assert_eq!(cache.get(&3).await, None);

    // Same for a whole-cache invalidation.
    let caller = {
        let cache = cache.clone();
        let loader = counting_loader(&calls, &gate, 2);
        tokio::spawn(async move { cache.get_or_load(4, loader).await })
    };
    while calls.load(Ordering::SeqCst) == 1 {
        tokio::task::yield_now().await;
    }
    cache.invalidate_all().await;
    gate.notify_one();
    assert_eq!(caller.await.unwrap().unwrap().into_value(), 2);
    assert_eq!(cache.get(&4).await, None);
}

#[test]
fn outside_a_runtime_a_miss_is_a_typed_error() {
    let cache: Cache<u64, u64> = Cache::builder("sf").build();
    let rt = futures_executor();
    let err = rt(Box::pin(
        cache.get_or_load(1, || async { Ok::<_, std::io::Error>(1) }),
    ));
    assert!(matches!(err, Err(Error::NoRuntime)));
}

/// Polls a future to completion on the current thread without a Tokio runtime.
fn futures_executor<T>() -> impl Fn(std::pin::Pin<Box<dyn Future<Output = T> + '_>>) -> T {
    |mut fut| {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        loop {
            if let std::task::Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }
}
