//! The Redis tier over TLS (`rediss://`) with a private CA (keel-testkit's throwaway CA):
//! two instances share a value and an invalidation through the TLS Redis; another CA is
//! refused (the tier stays memory-only).
#![cfg(feature = "rustls")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::time::{Duration, Instant};

use keel_cache::redis::{RedisTier, Topology};
use keel_cache::{Cache, CacheStatus};
use keel_testkit::{TempRedis, TestCa};

/// The one-call constructor a service uses for its settings: a node's URL and a CA PEM.
fn tier(url: &str, prefix: &str, ca: &TestCa) -> RedisTier {
    RedisTier::from_urls(Topology::Node, [url], Some(ca.cert_pem().as_bytes()))
        .unwrap()
        .key_prefix(prefix)
        .op_timeout(Duration::from_secs(2))
        .retry_interval(Duration::from_millis(50))
}

async fn cache(tier: RedisTier) -> Cache<String, String> {
    Cache::builder("tls")
        .ttl(Duration::from_secs(30))
        .build_with_redis(tier)
        .await
        .unwrap()
}

#[tokio::test]
async fn values_and_invalidations_cross_a_tls_redis_with_a_private_ca() {
    let ca = TestCa::new("keel-cache test CA").unwrap();
    let server = match TempRedis::start_with_tls(&ca) {
        Ok(s) => s,
        Err(e) => {
            assert!(!keel_testkit::services_required(), "TLS redis-server: {e}");
            eprintln!("\n!!! SKIPPED: cannot start a TLS redis-server: {e} !!!\n");
            return;
        }
    };
    let url = server.url();
    let prefix = keel_testkit::unique_name("cache_tls");
    let a = cache(tier(&url, &prefix, &ca)).await;
    let b = cache(tier(&url, &prefix, &ca)).await;
    let k = "user:1".to_owned();
    let load = |v: &'static str| move || std::future::ready(Ok::<_, std::io::Error>(v.to_owned()));
    let got = a.get_or_load(k.clone(), load("ada")).await.unwrap();
    assert_eq!(got.status(), CacheStatus::Miss);
    // B reads A's value from the TLS Redis: its loader is never called.
    let got = b.get_or_load(k.clone(), load("never")).await.unwrap();
    assert_eq!(got.into_parts().0, "ada");
    assert_eq!(b.stats().l2.hits, 1, "{:?}", b.stats());
    // An invalidation on A reaches B over the TLS Pub/Sub connection.
    a.invalidate(&k).await;
    let start = Instant::now();
    while b.stats().l2.invalidations_received == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no invalidation over TLS"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Another CA: no TLS session, so the tier is down and the cache serves from memory.
    let other = TestCa::new("someone else's CA").unwrap();
    let c = cache(tier(&url, &prefix, &other)).await;
    let got = c.get_or_load(k.clone(), load("local")).await.unwrap();
    assert_eq!(got.into_parts().0, "local");
    assert!(c.stats().l2.errors >= 1, "{:?}", c.stats());
}

#[test]
fn root_certificates_are_checked_when_configured() {
    let err = |url: &str, pem: &str| {
        RedisTier::new(redis::Client::open(url).unwrap())
            .tls_root_certificates(pem)
            .unwrap_err()
            .to_string()
    };
    let ca = TestCa::new("keel-cache test CA").unwrap();
    assert!(err("rediss://127.0.0.1:1", "junk").contains("no PEM certificate"));
    assert!(err("redis://127.0.0.1:1", ca.cert_pem()).contains("rediss://"));
}

#[test]
fn from_urls_checks_the_settings() {
    let err = |topology, urls: &[&str], pem: Option<&str>| {
        RedisTier::from_urls(topology, urls, pem.map(str::as_bytes))
            .unwrap_err()
            .to_string()
    };
    let ca = TestCa::new("keel-cache test CA").unwrap();
    assert!(err(Topology::Node, &[], None).contains("exactly one URL, not 0"));
    let two = ["rediss://a:6380", "rediss://b:6380"];
    assert!(err(Topology::Node, &two, None).contains("exactly one URL, not 2"));
    assert!(RedisTier::from_urls(Topology::Node, ["http://a"], None).is_err());
    // A private CA for a plaintext URL, on a node and on every cluster seed.
    assert!(err(Topology::Node, &["redis://a:6379"], Some(ca.cert_pem())).contains("rediss://"));
    #[cfg(feature = "redis-cluster")]
    {
        let mixed = ["rediss://a:6380", "redis://b:6379"];
        assert!(err(Topology::Cluster, &mixed, Some(ca.cert_pem())).contains("rediss://"));
        assert!(err(Topology::Cluster, &[], None).contains("at least one seed"));
        RedisTier::from_urls(Topology::Cluster, two, Some(ca.cert_pem().as_bytes())).unwrap();
    }
}
