//! The Redis backend against a real Redis: exactness, two replicas, outage and recovery.
#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use keel_ratelimit::redis::{FailMode, RedisLimiter, RedisTarget};
use keel_ratelimit::{Error, Key, Quota, Source};

async fn limiter(url: &str, prefix: &str, quotas: &str) -> RedisLimiter {
    RedisLimiter::builder()
        .quotas(Quota::parse_many(quotas).unwrap())
        .prefix(prefix)
        .timeout(Duration::from_millis(200))
        .connect(url)
        .await
        .unwrap()
}

#[tokio::test]
async fn burst_then_rate_on_the_server_clock() {
    let Some(url) = keel_testkit::redis_url() else {
        return;
    };
    let prefix = keel_testkit::unique_name("rl_exact");
    let l = limiter(&url, &prefix, "10/second").await;
    let key = Key::from("k");
    let start = Instant::now();
    let mut admitted = 0u64;
    for _ in 0..200 {
        let d = l.check_key(&key, 1).await.unwrap();
        assert_eq!(d.source(), Source::Redis);
        if d.is_allowed() {
            admitted += 1;
        } else {
            let retry = d.retry_after().unwrap();
            assert!(retry <= Duration::from_millis(100), "{retry:?}");
        }
    }
    let elapsed = start.elapsed();
    // GCRA bound: burst + rate × elapsed (+1 for the boundary).
    let bound = 10 + u64::try_from(elapsed.as_millis() / 100).unwrap() + 1;
    assert!(
        admitted >= 10 && admitted <= bound,
        "admitted {admitted}, bound {bound}"
    );

    // Steady traffic below the rate is never denied.
    let key = Key::from("steady");
    for _ in 0..8 {
        assert!(l.check_key(&key, 1).await.unwrap().is_allowed());
        tokio::time::sleep(Duration::from_millis(110)).await;
    }
}

#[tokio::test]
async fn decisions_match_the_in_memory_limiter() {
    let Some(url) = keel_testkit::redis_url() else {
        return;
    };
    let prefix = keel_testkit::unique_name("rl_same");
    let l = limiter(&url, &prefix, "5/minute; 100/day").await;
    let key = Key::from("alice");
    let d = l.check_key(&key, 2).await.unwrap();
    assert!(d.is_allowed());
    assert_eq!((d.limit(), d.remaining()), (5, 3));
    assert_eq!(d.quotas()[1].remaining(), 98);
    // Peek consumes nothing.
    assert_eq!(l.peek_key(&key, 3).await.unwrap().remaining(), 3);
    assert!(l.check_key(&key, 3).await.unwrap().is_allowed());
    let d = l.check_key(&key, 1).await.unwrap();
    assert!(d.is_denied());
    let retry = d.retry_after().unwrap();
    assert!(
        retry > Duration::from_secs(11) && retry <= Duration::from_secs(12),
        "{retry:?}"
    );
    let day_reset = d.quotas()[1].reset_after();
    let day_secs = day_reset.as_secs() + u64::from(day_reset.subsec_nanos() > 0);
    assert_eq!(
        d.ratelimit(),
        format!(r#""5/minute";r=0;t=60, "100/day";r=95;t={day_secs}"#)
    );
    // The denial consumed nothing from the day quota.
    assert_eq!(d.quotas()[1].remaining(), 95);
    assert!(matches!(
        l.check_key(&key, 6).await,
        Err(Error::CostExceedsBurst { cost: 6, burst: 5 })
    ));

    // The key expires on its own once idle.
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}:k:alice"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(ttl > 0 && ttl <= 86_400_000 / 100 * 5 + 1, "{ttl}");
}

#[tokio::test]
async fn two_replicas_share_one_limit() {
    let Some(url) = keel_testkit::redis_url() else {
        return;
    };
    let prefix = keel_testkit::unique_name("rl_two");
    let a = limiter(&url, &prefix, "20/minute").await;
    let b = limiter(&url, &prefix, "20/minute").await;
    let key = Key::from("shared");
    let mut tasks = Vec::new();
    for i in 0..8 {
        let l = if i % 2 == 0 { a.clone() } else { b.clone() };
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            for _ in 0..10 {
                n += u32::from(l.check_key(&key, 1).await.unwrap().is_allowed());
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    // 80 attempts within well under 3 s (one token per 3 s): exactly the burst.
    assert_eq!(total, 20);
}

#[tokio::test]
async fn deny_cache_spares_redis() {
    let Some(url) = keel_testkit::redis_url() else {
        return;
    };
    let prefix = keel_testkit::unique_name("rl_cache");
    let l = RedisLimiter::builder()
        .quota(Quota::per_minute(2))
        .prefix(prefix)
        .deny_cache(1000)
        .connect(&url)
        .await
        .unwrap();
    let key = Key::from("flood");
    for _ in 0..100 {
        l.check_key(&key, 1).await.unwrap();
    }
    let s = l.stats();
    // 2 admitted + 1 denial learned from Redis; the rest answered locally.
    assert_eq!(s.redis_decisions, 3);
    assert_eq!(s.deny_cache_hits, 97);
    let d = l.check_key(&key, 1).await.unwrap();
    assert_eq!(d.source(), Source::DenyCache);
    assert!(d.retry_after().unwrap() <= Duration::from_secs(30));
    // Other keys still go to Redis.
    assert_eq!(
        l.check_key(&Key::from("other"), 1).await.unwrap().source(),
        Source::Redis
    );
}

#[tokio::test]
async fn redis_killed_mid_test_falls_back_and_returns() {
    let Ok(mut server) = keel_testkit::TempRedis::start_new() else {
        assert!(
            !keel_testkit::services_required(),
            "redis-server is required"
        );
        eprintln!("SKIPPED: redis-server not installed");
        return;
    };
    let l = RedisLimiter::builder()
        .quota(Quota::per_second(1000))
        .prefix("rl_kill")
        .timeout(Duration::from_millis(50))
        .retry_interval(Duration::from_millis(100))
        .connect(&server.url())
        .await
        .unwrap();
    let key = Key::from("k");
    assert_eq!(l.check_key(&key, 1).await.unwrap().source(), Source::Redis);

    server.kill();
    let t = Instant::now();
    let d = l.check_key(&key, 1).await.unwrap();
    // The first failing call is bounded by the timeout (plus scheduling slack).
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    assert!(d.is_allowed());
    assert_eq!(d.source(), Source::Fallback);
    assert!(l.is_degraded());
    // Requests keep flowing, locally and without waiting for Redis.
    let t = Instant::now();
    for _ in 0..50 {
        assert!(l.check_key(&key, 1).await.unwrap().is_allowed());
    }
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    assert!(l.stats().errors >= 1);
    assert!(l.stats().fallback_decisions >= 51);

    server.start().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let d = l.check_key(&key, 1).await.unwrap();
        if d.source() == Source::Redis {
            break;
        }
        assert!(Instant::now() < deadline, "did not return to Redis");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!l.is_degraded());
}

#[tokio::test]
async fn fail_closed_reports_unavailable() {
    let Ok(mut server) = keel_testkit::TempRedis::start_new() else {
        assert!(
            !keel_testkit::services_required(),
            "redis-server is required"
        );
        return;
    };
    let l = RedisLimiter::builder()
        .quota(Quota::per_second(10))
        .timeout(Duration::from_millis(50))
        .retry_interval(Duration::from_secs(60))
        .fail_mode(FailMode::Closed)
        .connect(&server.url())
        .await
        .unwrap();
    let key = Key::from("k");
    assert!(l.check_key(&key, 1).await.is_ok());
    server.kill();
    let e = l.check_key(&key, 1).await.unwrap_err();
    assert!(e.is_retryable(), "{e}");
    assert!(matches!(
        l.check_key(&key, 1).await,
        Err(Error::Unavailable)
    ));
    assert_eq!(l.stats().unavailable, 2);
}

#[tokio::test]
async fn reset_key_forgets_the_key_in_redis() {
    let Some(url) = keel_testkit::redis_url() else {
        return;
    };
    let prefix = keel_testkit::unique_name("rl_reset");
    let l = limiter(&url, &prefix, "2/hour").await;
    let key = Key::from("k");
    assert!(!l.reset_key(&key).await.unwrap(), "nothing stored yet");
    assert!(l.check_key(&key, 1).await.unwrap().is_allowed());
    assert!(l.check_key(&key, 1).await.unwrap().is_allowed());
    assert!(l.check_key(&key, 1).await.unwrap().is_denied());
    assert!(l.reset_key(&key).await.unwrap());
    let d = l.check_key(&key, 1).await.unwrap();
    assert!(d.is_allowed());
    assert_eq!(d.source(), Source::Redis);
    assert_eq!(d.remaining(), 1);
}

// current_thread: every decision runs on this thread, under the capturing subscriber.
#[tokio::test(flavor = "current_thread")]
async fn the_fallback_enforces_this_replicas_share_and_counts_the_switches() {
    let Ok(mut server) = keel_testkit::TempRedis::start_new() else {
        assert!(
            !keel_testkit::services_required(),
            "redis-server is required"
        );
        return;
    };
    let logs = keel_testkit::LogCapture::new();
    let _guard = logs.set_default(tracing::Level::INFO);
    let clock = keel_ratelimit::Clock::manual();
    let l = RedisLimiter::builder()
        .quota(Quota::per_minute(6))
        .replicas(3)
        .timeout(Duration::from_millis(200))
        .retry_interval(Duration::from_secs(1))
        .clock(clock.clone())
        .connect(&server.url())
        .await
        .unwrap();
    // 6 per minute among 3 replicas: 6 per 3 minutes each, burst 2.
    assert_eq!(
        l.fallback().quotas(),
        [Quota::new(6, Duration::from_secs(180)).burst(2)]
    );
    let key = Key::from("k");
    assert_eq!(l.check_key(&key, 1).await.unwrap().source(), Source::Redis);

    server.kill();
    let d = l.check_key(&key, 1).await.unwrap();
    assert_eq!((d.source(), d.is_allowed()), (Source::Fallback, true));
    assert!(l.check_key(&key, 1).await.unwrap().is_allowed());
    let d = l.check_key(&key, 1).await.unwrap();
    assert!(d.is_denied(), "this replica's share is spent");
    assert_eq!(d.retry_after(), Some(Duration::from_secs(30)));
    // A cost the shared quota allows but the share cannot: a denial until Redis may be
    // back, not an error.
    let d = l.check_key(&Key::from("big"), 3).await.unwrap();
    assert_eq!((d.source(), d.is_denied()), (Source::Fallback, true));
    assert_eq!(d.retry_after(), Some(Duration::from_secs(1)));
    let s = l.stats();
    assert_eq!((s.fallback_entered, s.fallback_exited), (1, 0), "{s:?}");

    server.start().unwrap();
    // The first due probe that reaches the restarted server ends the outage.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        clock.advance(Duration::from_secs(1));
        if l.check_key(&key, 1).await.unwrap().source() == Source::Redis {
            break;
        }
        assert!(Instant::now() < deadline, "did not return to Redis");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!l.is_degraded());
    let s = l.stats();
    assert_eq!((s.fallback_entered, s.fallback_exited), (1, 1), "{s:?}");
    // Each switch is logged once, however many decisions and probes the outage saw.
    assert_eq!(logs.count("using the fallback until it recovers"), 1);
    assert_eq!(logs.count("leaving the fallback"), 1);
}

#[tokio::test]
async fn a_probe_cancelled_midway_does_not_stop_later_probes() {
    // A "Redis" that accepts connections and never answers: every call times out.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            sockets.push(s);
        }
    });
    let clock = keel_ratelimit::Clock::manual();
    let l = RedisLimiter::builder()
        .quota(Quota::per_second(100))
        .timeout(Duration::from_millis(50))
        .retry_interval(Duration::from_secs(1))
        .clock(clock.clone())
        .connect(&format!("redis://127.0.0.1:{port}"))
        .await
        .unwrap();
    let key = Key::from("k");
    assert_eq!(
        l.check_key(&key, 1).await.unwrap().source(),
        Source::Fallback
    );
    assert_eq!(l.stats().errors, 1);

    // The due probe's caller goes away before the probe's 50 ms timeout…
    clock.advance(Duration::from_secs(1));
    let cancelled = tokio::time::timeout(Duration::from_millis(5), l.check_key(&key, 1)).await;
    assert!(cancelled.is_err());
    // …and the next due request still probes (and fails: one more error).
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        l.check_key(&key, 1).await.unwrap().source(),
        Source::Fallback
    );
    assert_eq!(l.stats().errors, 2, "a later request probed again");
    held.abort();
}

#[tokio::test]
async fn ping_measures_the_round_trip_and_reports_an_outage() {
    let Some(url) = keel_testkit::redis_url() else {
        return;
    };
    let conn = RedisTarget::node(&url)
        .unwrap()
        .connect_lazy(Duration::from_secs(1))
        .unwrap();
    let start = Instant::now();
    let rtt = conn.ping().await.unwrap();
    assert!(rtt > Duration::ZERO && rtt <= start.elapsed(), "{rtt:?}");

    // Nothing listens there: an error within the connection's timeout, not a hang.
    let down = format!("redis://127.0.0.1:{}", keel_testkit::free_port());
    let conn = RedisTarget::node(&down)
        .unwrap()
        .connect_lazy(Duration::from_millis(200))
        .unwrap();
    let start = Instant::now();
    assert!(matches!(conn.ping().await, Err(Error::Redis(_))));
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn build_or_memory_shares_the_limit_on_redis_and_stays_local_without_it() {
    let Some(url) = keel_testkit::redis_url() else {
        return;
    };
    let prefix = keel_testkit::unique_name("rl_either");
    let conn = RedisTarget::node_or_cluster(Some(&url), &[] as &[&str], None::<&str>)
        .unwrap()
        .unwrap()
        .connect_lazy(Duration::from_secs(1))
        .unwrap();
    let builder = RedisLimiter::builder()
        .quotas(Quota::parse_many("2/minute").unwrap())
        .prefix(prefix)
        .timeout(Duration::from_millis(500));
    // Two replicas on Redis: one limit between them.
    let a = builder.clone().build_or_memory(Some(conn.clone())).unwrap();
    let b = builder.clone().build_or_memory(Some(conn)).unwrap();
    assert!(a.as_redis().is_some() && a.as_keyed().is_none());
    let key = Key::from("k");
    assert!(a.check_key(&key, 1).await.unwrap().is_allowed());
    let d = b.check_key(&key, 1).await.unwrap();
    assert!(d.is_allowed() && d.source() == Source::Redis);
    assert!(b.check_key(&key, 1).await.unwrap().is_denied());
    assert!(a.check_key(&key, 1).await.unwrap().is_denied());

    // Without a connection: in memory, each limiter on its own.
    let c = builder.clone().build_or_memory(None).unwrap();
    let d = builder.build_or_memory(None).unwrap();
    assert!(c.as_keyed().is_some() && c.as_redis().is_none());
    assert_eq!(c.quotas(), [Quota::per_minute(2)]);
    for limiter in [&c, &c, &d, &d] {
        assert!(limiter.check_key(&key, 1).await.unwrap().is_allowed());
    }
    assert!(c.check_key(&key, 1).await.unwrap().is_denied());
    // No quota is an error either way.
    assert!(matches!(
        RedisLimiter::builder().build_or_memory(None),
        Err(Error::NoQuota)
    ));
}
