//! The Redis second tier against real servers: two replicas sharing values and
//! invalidations, a Redis killed mid-test, undecodable data, TTL propagation.
#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use keel_cache::redis::RedisTier;
use keel_cache::{Cache, CacheStatus, Key};

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct User {
    id: u64,
    name: String,
}

fn user(id: u64, name: &str) -> User {
    User {
        id,
        name: name.to_owned(),
    }
}

/// Generous operation timeout: CI runs these tests on two busy cores, and a timed-out
/// read is (correctly) a miss, which would fail the assertions on shared values.
fn tier(url: &str, prefix: &str) -> RedisTier {
    RedisTier::new(redis::Client::open(url).unwrap())
        .key_prefix(prefix)
        .op_timeout(Duration::from_secs(2))
        .retry_interval(Duration::from_millis(50))
}

async fn cache(url: &str, prefix: &str) -> Cache<Key, User> {
    Cache::builder("users")
        .ttl(Duration::from_secs(30))
        .build_with_redis(tier(url, prefix))
        .await
        .unwrap()
}

fn loader(
    calls: &Arc<AtomicUsize>,
    u: User,
) -> impl FnOnce() -> std::future::Ready<Result<User, std::io::Error>> + Send + 'static {
    let calls = Arc::clone(calls);
    move || {
        calls.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Ok(u))
    }
}

/// Waits (bounded) until `cond` holds; returns how long it took.
async fn eventually<F: AsyncFn() -> bool>(what: &str, cond: F) -> Duration {
    let start = Instant::now();
    while !cond().await {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{what}: never happened"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    start.elapsed()
}

async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_values_and_invalidations() {
    let Some(url) = keel_testkit::redis_url() else {
        return;
    };
    let prefix = format!("{}:", keel_testkit::unique_name("kc2"));
    let a = cache(&url, &prefix).await;
    let b = cache(&url, &prefix).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let k = Key::new("user").arg(1u64);

    // A loads and writes through; B finds it in Redis without calling the loader.
    let r = a
        .get_or_load(k.clone(), loader(&calls, user(1, "Ada")))
        .await
        .unwrap();
    assert_eq!(r.status(), CacheStatus::Miss);
    let r = b
        .get_or_load(k.clone(), loader(&calls, user(1, "WRONG")))
        .await
        .unwrap();
    assert_eq!(r.into_parts(), (user(1, "Ada"), CacheStatus::Hit));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(b.stats().l2.hits, 1);
    assert!(b.contains_local(&k));

    // A memory hit makes no network call.
    let before = b.stats().l2;
    let r = b
        .get_or_load(k.clone(), loader(&calls, user(1, "WRONG")))
        .await
        .unwrap();
    assert_eq!(r.status(), CacheStatus::Hit);
    let after = b.stats().l2;
    assert_eq!((before.hits, before.misses), (after.hits, after.misses));

    // An invalidation on A is observed by B within milliseconds.
    a.invalidate(&k).await;
    let took = eventually("B drops its copy", async || !b.contains_local(&k)).await;
    eprintln!("invalidation reached the other instance in {took:?}");
    assert!(took < Duration::from_secs(1));
    assert_eq!(b.get(&k).await, None, "deleted from Redis too");
    assert!(b.stats().l2.invalidations_received >= 1);

    // An insert on one instance replaces the other's memory copy. (Wait on the message
    // counter, not on `contains_local`: a message still in flight from an earlier step
    // must not be mistaken for this one.)
    let received = |c: &Cache<Key, User>| c.stats().l2.invalidations_received;
    let a_seen = received(&a);
    b.insert(k.clone(), user(1, "Old")).await.unwrap();
    eventually("A hears B's insert", async || received(&a) > a_seen).await;
    assert_eq!(a.get(&k).await, Some(user(1, "Old")));
    assert!(a.contains_local(&k));
    let b_seen = received(&b);
    a.insert(k.clone(), user(1, "New")).await.unwrap();
    eventually("B hears A's insert", async || received(&b) > b_seen).await;
    assert!(!b.contains_local(&k));
    assert_eq!(b.get(&k).await, Some(user(1, "New")));

    // Prefix invalidation reaches Redis and B.
    let orders = Key::new("user").arg(1u64).arg("orders");
    let b_seen = received(&b);
    a.insert(orders.clone(), user(1, "orders")).await.unwrap();
    eventually("B hears A's insert", async || received(&b) > b_seen).await;
    assert_eq!(b.get(&orders).await, Some(user(1, "orders")));
    assert!(b.contains_local(&orders));
    a.invalidate_prefix(Key::new("user").arg(1u64).prefix().as_str())
        .await;
    eventually("B drops prefixed keys", async || !b.contains_local(&orders)).await;
    assert_eq!(b.get(&orders).await, None);
    assert_eq!(
        b.get(&k).await,
        Some(user(1, "New")),
        "not under the prefix"
    );

    // Namespace bump: O(1) for Redis, and the other instance's memory is cleared.
    assert_eq!(a.get(&k).await, Some(user(1, "New")));
    let a_seen = received(&a);
    b.invalidate_all().await;
    eventually("A hears the bump", async || received(&a) > a_seen).await;
    assert!(!a.contains_local(&k));
    assert_eq!(a.get(&k).await, None);
    assert_eq!(b.get(&k).await, None);
    let r = a
        .get_or_load(k.clone(), loader(&calls, user(1, "Reloaded")))
        .await
        .unwrap();
    assert_eq!(r.status(), CacheStatus::Miss);
    assert_eq!(b.get(&k).await, Some(user(1, "Reloaded")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_mid_test_degrades_to_memory_then_resumes() {
    if keel_testkit::redis_url().is_none() {
        return;
    }
    let mut server = keel_testkit::TempRedis::start_new().unwrap();
    let url = server.url();
    let prefix = format!("{}:", keel_testkit::unique_name("kckill"));
    // A short operation timeout: how long a caller may wait on a dead server.
    let a: Cache<Key, User> = Cache::builder("users")
        .ttl(Duration::from_secs(30))
        .build_with_redis(tier(&url, &prefix).op_timeout(Duration::from_millis(300)))
        .await
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let k1 = Key::new("u").arg(1u64);
    a.get_or_load(k1.clone(), loader(&calls, user(1, "one")))
        .await
        .unwrap();
    assert_eq!(a.stats().l2.writes, 1);
    assert!(a.stats().l2.up);

    server.kill();

    // Memory hits keep working; misses go to the loader; nobody sees an error and no
    // call waits long on the dead server.
    let r = a
        .get_or_load(k1.clone(), loader(&calls, user(1, "x")))
        .await
        .unwrap();
    assert_eq!(r.into_parts(), (user(1, "one"), CacheStatus::Hit));
    for i in 2..20u64 {
        let start = Instant::now();
        let r = a
            .get_or_load(Key::new("u").arg(i), loader(&calls, user(i, "down")))
            .await
            .unwrap();
        assert_eq!(r.into_parts(), (user(i, "down"), CacheStatus::Miss));
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "blocked on the dead Redis"
        );
    }
    let r = a
        .get_or_load(Key::new("u").arg(2u64), loader(&calls, user(2, "x")))
        .await
        .unwrap();
    assert_eq!(r.into_parts(), (user(2, "down"), CacheStatus::Hit));
    let s = a.stats();
    assert!(!s.l2.up);
    assert!(s.l2.errors >= 1, "{s:?}");
    assert_eq!(s.l2.outages, 1, "one switch to memory-only: {s:?}");
    assert!(s.l2.skipped >= 1, "{s:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 19);

    server.start().unwrap();

    // Redis is used again: a new load is written through. (A load that overlaps the
    // subscriber's post-gap flush is deliberately not cached, so retry with new keys.)
    let next = std::sync::atomic::AtomicU64::new(100);
    let conn = raw(&url).await;
    eventually("writes resume", async || {
        let i = next.fetch_add(1, Ordering::SeqCst) + 1;
        a.get_or_load(Key::new("u").arg(i), loader(&calls, user(i, "back")))
            .await
            .unwrap();
        let stored: Option<Vec<u8>> = redis::cmd("GET")
            .arg(format!("{prefix}users:0:u:{i}"))
            .query_async(&mut conn.clone())
            .await
            .unwrap();
        stored.is_some()
    })
    .await;
    assert!(a.stats().l2.writes > 1);
    assert_eq!(a.stats().l2.outages, 1, "recovered without another outage");
    let i = next.load(Ordering::SeqCst);

    // And the invalidation channel is back: another instance's invalidation arrives
    // (counted as received, so a flush on resubscription cannot fake it).
    let b = cache(&url, &prefix).await;
    let k = Key::new("u").arg(i);
    let received = a.stats().l2.invalidations_received;
    let resubscribed = eventually("A receives invalidations again", async || {
        b.invalidate(&k).await;
        a.stats().l2.invalidations_received > received
    })
    .await;
    assert!(!a.contains_local(&k));
    eprintln!("resubscribed after restart within {resubscribed:?}");
}

#[tokio::test]
async fn undecodable_or_old_schema_data_is_a_miss_and_deleted() {
    let Some(url) = keel_testkit::redis_url() else {
        return;
    };
    let prefix = format!("{}:", keel_testkit::unique_name("kcbad"));
    let mut conn = raw(&url).await;
    // The key layout: {prefix}{name}:{namespace version}:{key}.
    let redis_key = format!("{prefix}users:0:u:1");
    let _: () = redis::cmd("SET")
        .arg(&redis_key)
        .arg(b"\x80\x04pickle".as_slice())
        .query_async(&mut conn)
        .await
        .unwrap();
    let a = cache(&url, &prefix).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let k = Key::new("u").arg(1u64);
    let r = a
        .get_or_load(k.clone(), loader(&calls, user(1, "fresh")))
        .await
        .unwrap();
    assert_eq!(r.into_parts(), (user(1, "fresh"), CacheStatus::Miss));
    assert_eq!(a.stats().l2.undecodable, 1);
    // Replaced by a valid value.
    let stored: Vec<u8> = redis::cmd("GET")
        .arg(&redis_key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(stored.starts_with(b"kc\x01"));

    // A deploy with a new schema version reads the old value as a miss.
    let v2: Cache<Key, User> = Cache::builder("users")
        .ttl(Duration::from_secs(30))
        .build_with_redis(tier(&url, &prefix).schema_version(2))
        .await
        .unwrap();
    let r = v2
        .get_or_load(k.clone(), loader(&calls, user(1, "v2")))
        .await
        .unwrap();
    assert_eq!(r.into_parts(), (user(1, "v2"), CacheStatus::Miss));
    assert_eq!(v2.stats().l2.undecodable, 1);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn ttl_and_stale_window_are_propagated_to_redis() {
    let Some(url) = keel_testkit::redis_url() else {
        return;
    };
    let prefix = format!("{}:", keel_testkit::unique_name("kcttl"));
    let a: Cache<u64, User> = Cache::builder("users")
        .ttl(Duration::from_secs(30))
        .stale_while_revalidate(Duration::from_secs(10))
        .negative_ttl(Duration::from_secs(5))
        .build_with_redis(tier(&url, &prefix))
        .await
        .unwrap();
    a.get_or_load(7, || async { Ok::<_, std::io::Error>(user(7, "ttl")) })
        .await
        .unwrap();
    a.get_or_load_optional(8, || async { Ok::<_, std::io::Error>(None) })
        .await
        .unwrap();
    let mut conn = raw(&url).await;
    let pttl: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}users:0:7"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!((39_000..=40_000).contains(&pttl), "{pttl}");
    let pttl: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}users:0:8"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!((4_000..=5_000).contains(&pttl), "negative entry {pttl}");
    // Another instance shares the cached "not found".
    let b: Cache<u64, User> = Cache::builder("users")
        .ttl(Duration::from_secs(30))
        .negative_ttl(Duration::from_secs(5))
        .build_with_redis(tier(&url, &prefix))
        .await
        .unwrap();
    let r = b
        .get_or_load_optional(8, || async { Ok::<_, std::io::Error>(Some(user(8, "x"))) })
        .await
        .unwrap();
    assert_eq!(r.into_parts(), (None, CacheStatus::Hit));
}

#[tokio::test]
async fn a_cache_built_while_redis_is_down_starts_memory_only() {
    let port = keel_testkit::free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let start = Instant::now();
    let a: Cache<u64, u64> = Cache::builder("down")
        .build_with_redis(tier(&url, "kcdown:").op_timeout(Duration::from_millis(300)))
        .await
        .unwrap();
    assert!(start.elapsed() < Duration::from_secs(3));
    let r = a
        .get_or_load(1, || async { Ok::<_, std::io::Error>(1) })
        .await
        .unwrap();
    assert_eq!(r.into_parts(), (1, CacheStatus::Miss));
    assert_eq!(a.get(&1).await, Some(1));
    a.invalidate(&1).await;
    assert_eq!(a.get(&1).await, None);
    assert!(!a.stats().l2.up);
}

#[tokio::test]
async fn cache_names_that_could_collide_in_redis_are_rejected() {
    let client = redis::Client::open("redis://127.0.0.1:1").unwrap();
    for name in ["", "a:b", "users 2", "ü"] {
        let r: Result<Cache<u64, u64>, _> = Cache::builder(name)
            .build_with_redis(RedisTier::new(client.clone()))
            .await;
        assert!(matches!(r, Err(keel_cache::Error::Redis(_))), "{name:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_value_in_redis_is_served_stale_while_it_is_refreshed() {
    let Some(url) = keel_testkit::redis_url() else {
        return;
    };
    let prefix = format!("{}:", keel_testkit::unique_name("kcswr"));
    // A writes a value that is fresh for 1 ms, then servable stale for 30 s.
    let a: Cache<u64, User> = Cache::builder("users")
        .ttl(Duration::from_millis(1))
        .stale_while_revalidate(Duration::from_secs(30))
        .build_with_redis(tier(&url, &prefix))
        .await
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    a.get_or_load(1, loader(&calls, user(1, "old")))
        .await
        .unwrap();
    // Well past the 1 ms of freshness (no upper bound matters: the window is 30 s).
    tokio::time::sleep(Duration::from_millis(5)).await;
    let b: Cache<u64, User> = Cache::builder("users")
        .ttl(Duration::from_secs(60))
        .stale_while_revalidate(Duration::from_secs(30))
        .build_with_redis(tier(&url, &prefix))
        .await
        .unwrap();
    let r = b
        .get_or_load(1, loader(&calls, user(1, "new")))
        .await
        .unwrap();
    assert_eq!(r.into_parts(), (user(1, "old"), CacheStatus::Stale));
    eventually("B refreshed", async || {
        b.get(&1).await == Some(user(1, "new"))
    })
    .await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(b.stats().refreshes, 1);
    // The refreshed value went back to Redis for everyone.
    let c: Cache<u64, User> = Cache::builder("users")
        .ttl(Duration::from_secs(60))
        .build_with_redis(tier(&url, &prefix))
        .await
        .unwrap();
    assert_eq!(c.get(&1).await, Some(user(1, "new")));
}

/// The answer of a load that served a stale value from Redis is that stale value, however
/// late the caller looks at it: the refresh that follows in the same task must not
/// replace it. (Under machine load the caller of the test above was sometimes scheduled
/// after the refresh had finished and got `("new", Miss)`.) A current-thread runtime and
/// a manual poll make that late caller deterministic.
#[tokio::test]
async fn a_caller_served_stale_from_redis_keeps_that_answer_however_late_it_looks() {
    let Some(url) = keel_testkit::redis_url() else {
        return;
    };
    let prefix = format!("{}:", keel_testkit::unique_name("kcswr2"));
    let a: Cache<u64, User> = Cache::builder("users")
        .ttl(Duration::from_millis(1))
        .stale_while_revalidate(Duration::from_secs(30))
        .build_with_redis(tier(&url, &prefix))
        .await
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    a.get_or_load(1, loader(&calls, user(1, "old")))
        .await
        .unwrap();
    // Redis's clock cannot be paused; only a lower bound matters (the window is 30 s).
    tokio::time::sleep(Duration::from_millis(5)).await;
    let b: Cache<u64, User> = Cache::builder("users")
        .ttl(Duration::from_secs(60))
        .stale_while_revalidate(Duration::from_secs(30))
        .build_with_redis(tier(&url, &prefix))
        .await
        .unwrap();
    let mut lookup = std::pin::pin!(b.get_or_load(1, loader(&calls, user(1, "new"))));
    // One poll starts the load task; the caller then looks away.
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(lookup.as_mut().poll(&mut cx).is_pending());
    // The load task serves "old" as stale, runs the refresh and writes "new" through to
    // Redis. On this one thread it runs only while we yield, and nothing in it yields
    // between counting the write and answering, so once the write is counted the task
    // has finished.
    eventually("the refresh is written to Redis", async || {
        b.stats().l2.writes == 1
    })
    .await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(
        lookup.await.unwrap().into_parts(),
        (user(1, "old"), CacheStatus::Stale)
    );
    // The refresh itself was not lost.
    assert_eq!(b.get(&1).await, Some(user(1, "new")));
}
