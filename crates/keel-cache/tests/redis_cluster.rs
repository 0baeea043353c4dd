//! The Redis second tier on a real 3-master Redis Cluster that testkit starts: values on
//! every master, invalidations reaching subscribers on other nodes, prefix invalidation
//! across masters, and a master killed mid-test (memory-only, no flapping, recovery).
#![cfg(feature = "redis-cluster")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use keel_cache::redis::RedisTier;
use keel_cache::{Cache, CacheStatus, Key};
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

/// The seed URLs starting at node `first` (the instance subscribes on that node).
fn seeds_from(c: &TempRedisCluster, first: usize) -> Vec<String> {
    (0..c.len()).map(|i| c.url((first + i) % c.len())).collect()
}

async fn cache(seeds: &[String], prefix: &str, retry: Duration) -> Cache<Key, String> {
    let tier = RedisTier::cluster(seeds)
        .unwrap()
        .key_prefix(prefix)
        // Generous: two busy cores, and a timed-out read is (correctly) a miss.
        .op_timeout(Duration::from_millis(500))
        .retry_interval(retry);
    Cache::builder("users")
        .ttl(Duration::from_secs(60))
        .build_with_redis(tier)
        .await
        .unwrap()
}

/// Waits (bounded) until `cond` holds; returns how long it took.
async fn eventually<F: AsyncFn() -> bool>(what: &str, cond: F) -> Duration {
    let start = Instant::now();
    while !cond().await {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{what}: never happened"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    start.elapsed()
}

/// `Key`s `{stem}:{n}` and the node holding each one's Redis key (namespace version 0).
fn keys_on_nodes(c: &TempRedisCluster, prefix: &str, stem: &str) -> Vec<(Key, usize)> {
    (0..30u64)
        .map(|n| {
            let k = Key::new(stem).arg(n);
            let node = c
                .node_for_key(&format!("{prefix}users:0:{}", k.as_str()))
                .unwrap();
            (k, node)
        })
        .collect()
}

async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn keys_matching(url: &str, pattern: &str) -> Vec<String> {
    redis::cmd("KEYS")
        .arg(pattern)
        .query_async(&mut raw(url).await)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_and_invalidations_reach_every_node() {
    let Some(c) = cluster() else { return };
    let prefix = format!("{}:", keel_testkit::unique_name("kcc"));
    let channel = format!("{prefix}users:__invalidate");
    // PUBLISH goes to the master serving the channel's slot; B subscribes elsewhere.
    let owner = c.node_for_key(&channel).unwrap();
    let a = cache(&seeds_from(&c, owner), &prefix, Duration::from_millis(50)).await;
    let b = cache(
        &seeds_from(&c, (owner + 1) % 3),
        &prefix,
        Duration::from_millis(50),
    )
    .await;
    // A plain subscriber on every node: classic PUBLISH reaches all of them.
    let mut listeners = Vec::new();
    for i in 0..c.len() {
        let mut ps = redis::Client::open(c.url(i))
            .unwrap()
            .get_async_pubsub()
            .await
            .unwrap();
        ps.subscribe(&channel).await.unwrap();
        listeners.push(ps);
    }

    // Values land on every master; B reads each one from Redis without loading.
    let keys = keys_on_nodes(&c, &prefix, "user");
    for (k, _) in &keys {
        a.insert(k.clone(), format!("v{}", k.as_str()))
            .await
            .unwrap();
    }
    for i in 0..c.len() {
        let stored = keys_matching(&c.url(i), &format!("{prefix}users:0:user:*")).await;
        assert!(!stored.is_empty(), "node {i} holds none of the keys");
    }
    for (k, _) in &keys {
        let r = b
            .get_or_load(k.clone(), || async {
                Ok::<_, std::io::Error>("WRONG".into())
            })
            .await
            .unwrap();
        assert_eq!(
            r.into_parts(),
            (format!("v{}", k.as_str()), CacheStatus::Hit)
        );
    }
    assert_eq!(b.stats().l2.hits, 30);

    // An invalidation published by A (through the channel's master) reaches B, which
    // subscribes on another node, and the plain subscriber on every node.
    let (k, _) = &keys[0];
    assert!(b.contains_local(k));
    a.invalidate(k).await;
    let took = eventually("B drops its copy", async || !b.contains_local(k)).await;
    eprintln!("invalidation reached the instance on another node in {took:?}");
    assert!(took < Duration::from_secs(1));
    for (i, ps) in listeners.iter_mut().enumerate() {
        let msg = tokio::time::timeout(Duration::from_secs(2), ps.on_message().next())
            .await
            .unwrap_or_else(|_| panic!("node {i} heard nothing"))
            .unwrap();
        assert_eq!(msg.get_channel_name(), channel);
    }

    // A prefix invalidation scans every master and reaches B.
    let seen = b.stats().l2.invalidations_received;
    a.invalidate_prefix("user:").await;
    eventually("B hears the prefix invalidation", async || {
        b.stats().l2.invalidations_received > seen
    })
    .await;
    for i in 0..c.len() {
        let left = keys_matching(&c.url(i), &format!("{prefix}users:0:user:*")).await;
        assert!(left.is_empty(), "node {i} still holds {left:?}");
    }
    assert!(keys.iter().all(|(k, _)| !b.contains_local(k)));
    assert_eq!(b.get(&keys[1].0).await, None);

    // A namespace bump reaches A from B.
    a.insert(keys[2].0.clone(), "again".into()).await.unwrap();
    let seen = a.stats().l2.invalidations_received;
    b.invalidate_all().await;
    eventually("A hears the bump", async || {
        a.stats().l2.invalidations_received > seen
    })
    .await;
    assert!(!a.contains_local(&keys[2].0));
    assert_eq!(a.get(&keys[2].0).await, None);
    let s = a.stats().l2;
    assert_eq!((s.errors, s.outages), (0, 0), "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_killed_mid_test_degrades_to_memory_then_resumes() {
    let Some(mut c) = cluster() else { return };
    let prefix = format!("{}:", keel_testkit::unique_name("kcck"));
    let channel = format!("{prefix}users:__invalidate");
    let owner = c.node_for_key(&channel).unwrap();
    // The victim is B's subscription node, not the channel's master.
    let victim = (owner + 1) % 3;
    let retry = Duration::from_millis(100);
    let a = cache(&seeds_from(&c, owner), &prefix, retry).await;
    let b = cache(&seeds_from(&c, victim), &prefix, retry).await;
    let keys = keys_on_nodes(&c, &prefix, "u");
    let on = |node: usize| -> Vec<Key> {
        keys.iter()
            .filter(|(_, n)| *n == node)
            .map(|(k, _)| k.clone())
            .collect()
    };
    let (live, dead) = (on(owner), on(victim));
    assert!(live.len() >= 2 && dead.len() >= 2);

    c.kill(victim);

    // B's subscriber moves to another node: A's invalidations reach B again (counted
    // once applied, so the flush on resubscription cannot fake it).
    let k = &live[0];
    let seen = b.stats().l2.invalidations_received;
    let took = eventually("B resubscribes on a live node", async || {
        a.invalidate(k).await;
        b.stats().l2.invalidations_received > seen
    })
    .await;
    eprintln!("B resubscribed on another node within {took:?}");
    assert!(a.stats().l2.up, "A touched only live masters so far");

    // A key on the dead master: the caller gets the loaded value, bounded in time, and
    // the tier switches to memory-only once.
    let calls = Arc::new(AtomicUsize::new(0));
    let load = |v: &'static str| {
        let calls = Arc::clone(&calls);
        move || {
            calls.fetch_add(1, Ordering::SeqCst);
            std::future::ready(Ok::<_, std::io::Error>(v.to_owned()))
        }
    };
    let t = Instant::now();
    let r = a.get_or_load(dead[0].clone(), load("down")).await.unwrap();
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert_eq!(r.into_parts(), ("down".to_owned(), CacheStatus::Miss));
    let s = a.stats().l2;
    assert!(!s.up && s.outages == 1 && s.errors >= 1, "{s:?}");
    // Memory hits keep working.
    let r = a.get_or_load(dead[0].clone(), load("x")).await.unwrap();
    assert_eq!(r.status(), CacheStatus::Hit);

    // Probes (one per retry interval) check the dead master first: operations on live
    // masters' keys do not flip the tier back up while it is down.
    let until = Instant::now() + retry * 5;
    let mut n = 0;
    while Instant::now() < until {
        a.get_or_load(Key::new("other").arg(n), load("m"))
            .await
            .unwrap();
        n += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let s = a.stats().l2;
    assert!(!s.up && s.outages == 1, "{s:?}");
    assert!(
        s.skipped >= 1 && s.errors >= 2,
        "probes ran and failed: {s:?}"
    );

    c.restart(victim).unwrap();
    // Back up: a new value on the restarted master is written through again.
    let i = AtomicUsize::new(0);
    eventually("writes to the restarted master resume", async || {
        let k = dead[i.fetch_add(1, Ordering::SeqCst) % dead.len()].clone();
        a.invalidate(&k).await;
        a.get_or_load(k.clone(), load("back")).await.unwrap();
        let stored =
            keys_matching(&c.url(victim), &format!("{prefix}users:0:{}", k.as_str())).await;
        !stored.is_empty()
    })
    .await;
    let s = a.stats().l2;
    assert!(s.up && s.outages == 1, "{s:?}");
    assert!(calls.load(Ordering::SeqCst) >= 2);
}

#[tokio::test]
async fn a_cache_built_while_the_cluster_is_down_starts_memory_only() {
    let seeds: Vec<String> = (0..3)
        .map(|_| format!("redis://127.0.0.1:{}", keel_testkit::free_port()))
        .collect();
    let start = Instant::now();
    let a = cache(&seeds, "kccdown:", Duration::from_millis(50)).await;
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    let k = Key::new("u").arg(1u64);
    let r = a
        .get_or_load(k.clone(), || async {
            Ok::<_, std::io::Error>("one".into())
        })
        .await
        .unwrap();
    assert_eq!(r.into_parts(), ("one".to_owned(), CacheStatus::Miss));
    assert_eq!(a.get(&k).await, Some("one".to_owned()));
    a.invalidate_prefix("u:").await;
    assert_eq!(a.get(&k).await, None);
    assert!(!a.stats().l2.up);
}

#[test]
fn cluster_seed_lists_are_checked() {
    let none: [&str; 0] = [];
    for r in [
        RedisTier::cluster(none),
        RedisTier::cluster(["not a url"]),
        RedisTier::cluster(["redis://127.0.0.1:1", "http://127.0.0.1:2"]),
    ] {
        assert!(matches!(r, Err(keel_cache::Error::Redis(_))));
    }
    // Debug shows the addresses, never a password.
    let t = RedisTier::cluster(["redis://:hunter2@127.0.0.1:7000"]).unwrap();
    let debug = format!("{t:?}");
    assert!(
        debug.contains("127.0.0.1:7000") && !debug.contains("hunter2"),
        "{debug}"
    );
}
