//! The Redis backend on a real 3-master Redis Cluster that testkit starts: keys on every
//! master, one limit shared by two replicas, and a master killed mid-test (fallback with
//! the replica's share, no flapping, recovery).
#![cfg(feature = "redis-cluster")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::time::{Duration, Instant};

use keel_ratelimit::redis::{FailMode, RedisLimiter, RedisLimiterBuilder, RedisTarget};
use keel_ratelimit::{Clock, Key, Quota, Source};
use keel_testkit::TempRedisCluster;

/// A fresh cluster, or `None` (a loud skip) when redis-server is missing — a failure
/// under `KEEL_REQUIRE_SERVICES=1`.
fn cluster() -> Option<TempRedisCluster> {
    let start = Instant::now();
    match TempRedisCluster::start_new(3) {
        Ok(c) => {
            eprintln!("cluster of 3 masters ready in {:?}", start.elapsed());
            Some(c)
        }
        Err(e) => {
            assert!(!keel_testkit::services_required(), "Redis Cluster: {e}");
            eprintln!("\n!!! SKIPPED: cannot start a Redis Cluster: {e} !!!\n");
            None
        }
    }
}

fn builder(prefix: &str, quotas: &str) -> RedisLimiterBuilder {
    RedisLimiter::builder()
        .quotas(Quota::parse_many(quotas).unwrap())
        .prefix(prefix)
        // Generous: two busy cores, and a timed-out call would (correctly) fall back.
        .timeout(Duration::from_millis(500))
}

/// One key per master: `keys[i]` lives on node `i`.
fn key_per_node(c: &TempRedisCluster, prefix: &str) -> Vec<Key> {
    let mut keys: Vec<Option<Key>> = vec![None; c.len()];
    for n in 0.. {
        let k = Key::from(format!("user-{n}").as_str());
        // The Redis key is `<prefix>:<Key's display>`.
        let node = c.node_for_key(&format!("{prefix}:{k}")).unwrap();
        keys[node].get_or_insert(k);
        if keys.iter().all(Option::is_some) {
            break;
        }
    }
    keys.into_iter().map(Option::unwrap).collect()
}

async fn admitted(l: &RedisLimiter, key: &Key, attempts: u32, source: Source) -> u32 {
    let mut n = 0;
    for _ in 0..attempts {
        let d = l.check_key(key, 1).await.unwrap();
        assert_eq!(d.source(), source, "{key}");
        n += u32::from(d.is_allowed());
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_limits_on_every_master() {
    let Some(c) = cluster() else { return };
    let urls = c.urls();
    let prefix = keel_testkit::unique_name("rlc");
    // Two replicas with different seed lists: each discovers the whole cluster.
    let a = builder(&prefix, "10/minute; 100/day")
        .connect_cluster(&urls)
        .await
        .unwrap();
    let b = builder(&prefix, "10/minute; 100/day")
        .connect_cluster(urls.iter().rev())
        .await
        .unwrap();

    // A health check's PING reaches the cluster.
    let conn = RedisTarget::cluster(&urls)
        .unwrap()
        .connect_lazy(Duration::from_millis(500))
        .unwrap();
    assert!(conn.ping().await.unwrap() > Duration::ZERO);

    let keys = key_per_node(&c, &prefix);
    for (node, key) in keys.iter().enumerate() {
        // 20 attempts alternating between the replicas, well within one emission
        // interval (6 s): exactly the burst passes, whichever master holds the key.
        let mut total = 0;
        for _ in 0..10 {
            total += admitted(&a, key, 1, Source::Redis).await;
            total += admitted(&b, key, 1, Source::Redis).await;
        }
        assert_eq!(total, 10, "key {key} on node {node}");
        let d = b.peek_key(key, 1).await.unwrap();
        assert!(d.is_denied());
        assert_eq!(d.quotas()[1].remaining(), 90, "the day quota is shared too");

        // The state lives on that master, and expires once idle.
        let mut conn = redis::Client::open(c.url(node))
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let ttl: i64 = redis::cmd("PTTL")
            .arg(format!("{prefix}:{key}"))
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(ttl > 0 && ttl <= 86_400_000, "{ttl}");
    }

    // A key with braces picks its slot by the braces' content: still one key, one slot.
    let braces = Key::from("tenant{7}:alice");
    assert_eq!(admitted(&a, &braces, 12, Source::Redis).await, 10);
    assert_eq!(a.stats().errors, 0);
    assert_eq!(b.stats().fallback_entered, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_killed_mid_test_falls_back_to_the_share_then_recovers() {
    let Some(mut c) = cluster() else { return };
    let urls = c.urls();
    let prefix = keel_testkit::unique_name("rlck");
    let clock = Clock::manual();
    let retry = Duration::from_secs(1);
    // 30 per minute shared by 3 replicas: each replica's fallback admits 10 at once.
    let l = builder(&prefix, "30/minute")
        .replicas(3)
        .retry_interval(retry)
        .clock(clock.clone())
        .connect_cluster(&urls)
        .await
        .unwrap();
    let closed = builder(&prefix, "30/minute")
        .fail_mode(FailMode::Closed)
        .retry_interval(retry)
        .clock(clock.clone())
        .connect_cluster(&urls)
        .await
        .unwrap();
    assert_eq!(
        l.fallback().quotas(),
        [Quota::new(30, Duration::from_secs(180)).burst(10)]
    );

    let keys = key_per_node(&c, &prefix);
    let victim = 1;
    let (dead_key, live_key) = (&keys[victim], &keys[0]);
    for k in &keys {
        assert_eq!(admitted(&l, k, 1, Source::Redis).await, 1);
    }
    assert!(closed.check_key(dead_key, 1).await.is_ok());

    c.kill(victim);

    // The first call on the dead master is bounded by the timeout and falls back.
    let t = Instant::now();
    let d = l.check_key(dead_key, 1).await.unwrap();
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert_eq!(d.source(), Source::Fallback);
    assert!(l.is_degraded());
    assert_eq!(l.stats().fallback_entered, 1);
    // Fail-closed answers a retryable error instead.
    assert!(
        closed
            .check_key(dead_key, 1)
            .await
            .unwrap_err()
            .is_retryable()
    );

    // The whole limiter is on the fallback, live masters' keys included, and each key
    // gets this replica's share: 10 (already 1 used above for dead_key), not 30.
    assert_eq!(admitted(&l, live_key, 30, Source::Fallback).await, 10);
    assert_eq!(admitted(&l, dead_key, 30, Source::Fallback).await, 9);
    let d = l.check_key(live_key, 1).await.unwrap();
    assert_eq!(d.retry_after(), Some(Duration::from_secs(6)), "one per 6 s");

    // Probes (one per retry interval) go to the dead master first: a request for a
    // live master's key does not flip the limiter back while the victim is down.
    for _ in 0..3 {
        clock.advance(retry);
        let d = l.check_key(live_key, 1).await.unwrap();
        assert_eq!(d.source(), Source::Fallback);
    }
    let s = l.stats();
    assert_eq!((s.fallback_entered, s.fallback_exited), (1, 0), "{s:?}");
    assert!(s.errors >= 4, "{s:?}");

    c.restart(victim).unwrap();
    // The first due probe after the master is back returns to Redis, where the shared
    // state survived nothing (no persistence): the key starts afresh.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        clock.advance(retry);
        let d = l.check_key(dead_key, 1).await.unwrap();
        if d.source() == Source::Redis {
            assert!(d.is_allowed());
            break;
        }
        assert!(Instant::now() < deadline, "never returned to Redis");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!l.is_degraded());
    let s = l.stats();
    assert_eq!((s.fallback_entered, s.fallback_exited), (1, 1), "{s:?}");
    // Keys on every master are decided by Redis again.
    for k in &keys {
        assert_eq!(
            l.check_key(k, 1).await.unwrap().source(),
            Source::Redis,
            "{k}"
        );
    }
}

#[tokio::test]
async fn a_cluster_down_at_startup_is_an_outage_not_an_error() {
    let seeds: Vec<String> = (0..3)
        .map(|_| format!("redis://127.0.0.1:{}", keel_testkit::free_port()))
        .collect();
    let l = RedisLimiter::builder()
        .quota(Quota::per_minute(6))
        .replicas(2)
        .timeout(Duration::from_millis(100))
        .connect_cluster(&seeds)
        .await
        .unwrap();
    let key = Key::from("k");
    let t = Instant::now();
    assert_eq!(admitted(&l, &key, 5, Source::Fallback).await, 3);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert_eq!(l.stats().fallback_entered, 1);
    // A health check's PING fails, bounded by the timeout.
    let conn = RedisTarget::cluster(&seeds)
        .unwrap()
        .connect_lazy(Duration::from_millis(100))
        .unwrap();
    let t = Instant::now();
    assert!(conn.ping().await.is_err());
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());

    let none: [&str; 0] = [];
    for nodes in [&none[..], &["not a url"][..]] {
        let r = RedisLimiter::builder()
            .quota(Quota::per_minute(6))
            .connect_cluster(nodes)
            .await;
        assert!(
            matches!(r, Err(keel_ratelimit::Error::Redis(_))),
            "{nodes:?}"
        );
    }
}
