//! The login and signup policy: lockout resistance, failure-only limits, bounded keys.
//! In memory with a manual clock, and against a real Redis shared by two "replicas".
#![cfg(feature = "ratelimit")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::IpAddr;
use std::time::Duration;

use keel_auth::Error;
use keel_auth::login::{KEY_TEXT_LEN, LoginPolicy, Quota};
use keel_crypto::SecretKey;
use keel_ratelimit::Clock;
use support::login::{SECRET, attacker, begin, email, fail, ip, is_limited, policy, succeed};

/// The headline: an attacker's wrong passwords from many addresses lock the
/// account for unknown devices, but never stop the owner's correct login from a device
/// the owner has used.
#[tokio::test]
async fn attacker_from_many_addresses_cannot_lock_the_owner_out() {
    let clock = Clock::manual();
    let p = policy(&clock);
    let owner_ip = ip("198.51.100.20");

    // The owner logged in last week from their laptop: it holds a device token.
    let device = succeed(&p, "owner@example.org", owner_ip, None).await;

    // 500 wrong passwords from 500 addresses.
    let mut limited = 0;
    for n in 0..500 {
        match begin(&p, "owner@example.org", attacker(n), None).await {
            Ok(attempt) => attempt.failed().await,
            Err(Error::RateLimited { .. }) => limited += 1,
            Err(e) => panic!("{e:?}"),
        }
    }
    // The account budget (burst 10) let ten guesses through, then stopped the rest.
    assert_eq!(limited, 490);

    // The owner's correct login from the known device goes through, every time.
    for _ in 0..3 {
        let attempt = begin(&p, "owner@example.org", owner_ip, Some(&device))
            .await
            .unwrap();
        assert!(attempt.is_known_device());
        assert!(attempt.succeeded().await.is_some());
        // The attacker keeps going between the owner's logins.
        for n in 500..520 {
            if let Ok(a) = begin(&p, "owner@example.org", attacker(n), None).await {
                a.failed().await;
            }
        }
    }
    // … also from another network (travelling): the device token is what counts.
    let hotel = ip("203.0.113.99");
    let attempt = begin(&p, "owner@example.org", hotel, Some(&device))
        .await
        .unwrap();
    assert!(attempt.succeeded().await.is_some());

    // The owner's typos on the known device land in the (account, device) budget only.
    for _ in 0..5 {
        begin(&p, "owner@example.org", owner_ip, Some(&device))
            .await
            .unwrap()
            .failed()
            .await;
    }
    assert!(is_limited(
        &begin(&p, "owner@example.org", owner_ip, Some(&device)).await
    ));

    // Documented limit: a device the owner never used is subject to the account lock
    // while the attack lasts (see docs/auth.md).
    let p2 = policy(&Clock::manual());
    for n in 0..50 {
        if let Ok(a) = begin(&p2, "victim@example.org", attacker(n), None).await {
            a.failed().await;
        }
    }
    assert!(is_limited(
        &begin(&p2, "victim@example.org", ip("198.51.100.77"), None).await
    ));
}

#[tokio::test]
async fn device_tokens_only_exempt_their_own_account() {
    let clock = Clock::manual();
    let p = policy(&clock);
    let home = ip("198.51.100.20");
    let ada_device = succeed(&p, "ada@example.org", home, None).await;
    // Lock bob's account.
    for n in 0..10 {
        fail(&p, "bob@example.org", attacker(n)).await;
    }
    // Ada's token does not unlock bob's account …
    let a = begin(&p, "bob@example.org", home, Some(&ada_device)).await;
    assert!(is_limited(&a), "{a:?}");
    // … nor does a tampered or foreign token, nor junk.
    let other = LoginPolicy::builder(SecretKey::from_bytes([7; 32]))
        .build()
        .unwrap();
    let foreign = succeed(&other, "bob@example.org", home, None).await;
    for token in [
        foreign.as_str().to_owned(),
        format!("{}x", ada_device.as_str()),
        "A".repeat(100_000),
    ] {
        let r = p
            .check_login(&email("bob@example.org"), home, Some(&token))
            .await;
        assert!(is_limited(&r), "{r:?}");
    }
}

/// A device token is a known device only for its lifetime (renewed at every login).
#[tokio::test]
async fn device_tokens_expire() {
    let wall = keel_auth::Clock::manual();
    let p = LoginPolicy::builder(SecretKey::from_bytes(SECRET))
        .device_ttl(Duration::from_secs(7 * 86_400))
        .clock(wall.clone())
        .limiter_clock(Clock::manual())
        .build()
        .unwrap();
    let home = ip("198.51.100.20");
    let device = succeed(&p, "ada@example.org", home, None).await;
    assert_eq!(device.max_age(), Duration::from_secs(7 * 86_400));
    wall.advance(Duration::from_secs(6 * 86_400));
    let attempt = begin(&p, "ada@example.org", home, Some(&device))
        .await
        .unwrap();
    assert!(attempt.is_known_device());
    // Renewed: the new token is valid a week from now, the old one expires tomorrow.
    let renewed = attempt.succeeded().await.unwrap();
    wall.advance(Duration::from_secs(2 * 86_400));
    assert!(
        !begin(&p, "ada@example.org", home, Some(&device))
            .await
            .unwrap()
            .is_known_device()
    );
    assert!(
        begin(&p, "ada@example.org", home, Some(&renewed))
            .await
            .unwrap()
            .is_known_device()
    );
}

/// Failures only: successes never consume the network budget, and a success clears the
/// owner's own (account, network) failures.
#[tokio::test]
async fn only_failures_count_and_a_success_clears_the_account_budgets() {
    let clock = Clock::manual();
    let p = policy(&clock);
    let office = ip("192.0.2.1");

    // 300 colleagues behind one NAT log in successfully: nobody is throttled.
    for n in 0..300 {
        let who = format!("user{n}@example.org");
        succeed(&p, &who, office, None).await;
    }

    // The owner mistypes four times (pair burst 5), succeeds, and can mistype again.
    for _round in 0..3 {
        for _ in 0..4 {
            fail(&p, "typo@example.org", office).await;
        }
        succeed(&p, "typo@example.org", office, None).await;
    }

    // Without the success the fifth failure exhausts the pair budget.
    for _ in 0..5 {
        fail(&p, "slow@example.org", office).await;
    }
    match begin(&p, "slow@example.org", office, None).await {
        Err(Error::RateLimited { retry_after }) => {
            // 12 per hour: one more every 5 minutes.
            assert!(
                retry_after <= Duration::from_secs(300) && retry_after > Duration::from_secs(290),
                "{retry_after:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    clock.advance(Duration::from_secs(300));
    assert!(begin(&p, "slow@example.org", office, None).await.is_ok());
}

/// One client spraying guesses over many accounts hits the network budget (burst 20),
/// and a success on its own account does not reset it.
#[tokio::test]
async fn spraying_many_accounts_hits_the_network_budget() {
    let clock = Clock::manual();
    let p = policy(&clock);
    let sprayer = ip("203.0.113.5");
    succeed(&p, "mine@example.org", sprayer, None).await;
    for n in 0..20 {
        fail(&p, &format!("target{n}@example.org"), sprayer).await;
    }
    assert!(is_limited(
        &begin(&p, "target99@example.org", sprayer, None).await
    ));
    // Logging into its own account is refused too (the network budget is spent), and
    // even once admitted, a success would not reset the network budget.
    assert!(is_limited(
        &begin(&p, "mine@example.org", sprayer, None).await
    ));
    clock.advance(Duration::from_secs(36)); // 100 per hour: one every 36 s
    succeed(&p, "mine@example.org", sprayer, None).await;
    fail(&p, "target100@example.org", sprayer).await;
    assert!(is_limited(
        &begin(&p, "target101@example.org", sprayer, None).await
    ));

    // A whole IPv6 /64 counts as one client.
    let p = policy(&Clock::manual());
    for n in 0..20u16 {
        let addr = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 7, 7, n, 1, 2, 3));
        fail(&p, &format!("t{n}@example.org"), addr).await;
    }
    let next = IpAddr::V6(std::net::Ipv6Addr::new(
        0x2001, 0xdb8, 7, 7, 0xffff, 9, 9, 9,
    ));
    assert!(is_limited(&begin(&p, "t99@example.org", next, None).await));
    let other_64 = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 7, 8, 0, 0, 0, 1));
    assert!(begin(&p, "t99@example.org", other_64, None).await.is_ok());
}

/// Concurrent attempts cannot all pass the check before the first failure is counted.
#[tokio::test]
async fn concurrent_attempts_from_one_network_are_capped() {
    let p = policy(&Clock::manual());
    let from = ip("203.0.113.8");
    let mut held = Vec::new();
    let mut refused = 0;
    for n in 0..10 {
        match begin(&p, &format!("c{n}@example.org"), from, None).await {
            Ok(a) => held.push(a),
            Err(Error::RateLimited { retry_after }) => {
                assert_eq!(retry_after, Duration::from_secs(1));
                refused += 1;
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!((held.len(), refused), (4, 6));
    for a in held {
        a.failed().await;
    }
    assert!(begin(&p, "c0@example.org", from, None).await.is_ok());
}

#[tokio::test]
async fn signup_quota_per_network() {
    let clock = Clock::manual();
    let p = LoginPolicy::builder(SecretKey::from_bytes(SECRET))
        .signups([Quota::per_minute(5)])
        .limiter_clock(clock.clone())
        .build()
        .unwrap();
    let from = ip("198.51.100.1");
    for _ in 0..5 {
        p.check_signup(from).await.unwrap();
    }
    match p.check_signup(from).await {
        Err(Error::RateLimited { retry_after }) => assert_eq!(retry_after, Duration::from_secs(12)),
        other => panic!("{other:?}"),
    }
    assert!(p.check_signup(ip("198.51.100.2")).await.is_ok());
    clock.advance(Duration::from_secs(12));
    assert!(p.check_signup(from).await.is_ok());
    assert!(p.check_signup(from).await.is_err());
}

/// Oversized or malformed input is refused before any limiter sees it.
#[tokio::test]
async fn input_is_checked_before_any_limiter_work() {
    let p = policy(&Clock::manual());
    let huge = format!("{}@example.org", "a".repeat(65_536));
    for (e, pw) in [
        (huge.as_str(), "pw"),
        ("no-at-sign", "pw"),
        ("a@example.org", ""),
        ("a@example.org", &"p".repeat(2_000)),
    ] {
        assert!(
            matches!(p.check_input(e, pw), Err(Error::InvalidInput(_))),
            "{e:.20} / {}",
            pw.len()
        );
    }
    let l = p.limiters();
    for limiter in [&l.address, &l.pair, &l.account, &l.signup] {
        assert_eq!(limiter.as_keyed().unwrap().len(), 0);
    }
}

/// Whatever the input, every in-memory limiter holds a fixed-size entry per key: the
/// table's bytes per key stay under one bound for short and maximal addresses alike, and
/// every key's text has the same length (so the key's own heap is fixed too).
#[tokio::test]
async fn limiter_memory_per_key_does_not_depend_on_the_input() {
    async fn fill(local_len: usize) -> Vec<(usize, usize)> {
        let p = policy(&Clock::manual());
        for n in 0..400u32 {
            let who = format!(
                "{n:04}{}@{}.org",
                "x".repeat(local_len - 4),
                "d".repeat(185)
            );
            assert!(who.len() >= 190 && who.len() <= 254);
            if let Ok(a) = begin(&p, &who, attacker(n), None).await {
                a.failed().await;
            }
        }
        let l = p.limiters();
        [&l.address, &l.pair, &l.account]
            .iter()
            .map(|limiter| {
                let k = limiter.as_keyed().unwrap();
                (k.len(), k.memory_bytes())
            })
            .collect()
    }
    for (keys, bytes) in fill(4).await.into_iter().chain(fill(64).await) {
        assert_eq!(keys, 400);
        // One (Key, state) slot plus control byte per bucket, at most 2 buckets per key
        // (hashbrown keeps at least 1/2 load after growth, the shards add a little slack).
        assert!(bytes / keys <= 2 * 40 + 16, "{bytes} bytes for {keys} keys");
    }
    let p = policy(&Clock::manual());
    for e in [
        "a@b.c",
        &format!("{}@{}.org", "l".repeat(64), "d".repeat(185)),
    ] {
        assert_eq!(p.account_key(&email(e)).to_string().len(), KEY_TEXT_LEN);
    }
}

/// Against a real Redis: two replicas share the limits, every key has the same fixed
/// size and carries no e-mail or IP address, and a success clears the account budgets.
#[cfg(feature = "redis")]
#[tokio::test]
async fn redis_limits_are_shared_bounded_and_free_of_personal_data() {
    let Some(url) = keel_testkit::redis_url() else {
        return;
    };
    let prefix = keel_testkit::unique_name("auth_login");
    let replica = || async {
        LoginPolicy::builder(SecretKey::from_bytes(SECRET))
            .connect_redis(&url, &prefix)
            .await
            .unwrap()
    };
    let (r1, r2) = (replica().await, replica().await);
    let owner_ip = ip("198.51.100.20");
    let long_owner = format!("{}@example.org", "owner".repeat(12));

    // One failure each for a short and a maximal address: same footprint in Redis.
    let short_owner = "o@e.io".to_owned();
    let maximal = format!("{}@{}.org", "m".repeat(64), "d".repeat(185));
    for who in [&short_owner, &maximal] {
        fail(&r1, who, ip("192.0.2.200")).await;
    }
    let device = succeed(&r1, &long_owner, owner_ip, None).await;
    // The attack alternates between the replicas; the account budget is shared.
    let mut limited = 0;
    for n in 0..40 {
        let r = if n % 2 == 0 { &r1 } else { &r2 };
        match begin(r, &long_owner, attacker(n), None).await {
            Ok(a) => a.failed().await,
            Err(Error::RateLimited { .. }) => limited += 1,
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(limited, 30);
    // The owner gets in through either replica with the device token.
    for r in [&r1, &r2] {
        succeed(r, &long_owner, owner_ip, Some(&device)).await;
    }
    // That success cleared the account budget in Redis: unknown devices may try again.
    assert!(
        begin(&r2, &long_owner, ip("198.51.100.21"), None)
            .await
            .is_ok()
    );
    for n in 0..3 {
        r1.check_signup(attacker(n)).await.unwrap();
    }

    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(keys.len() > 40, "{keys:?}");
    for key in &keys {
        let rest = key.strip_prefix(&format!("{prefix}:")).unwrap();
        let (scope, tail) = rest.rsplit_once(":k:").unwrap_or_else(|| panic!("{key}"));
        assert!(
            [
                "login:address",
                "login:pair",
                "login:account",
                "signup:address"
            ]
            .contains(&scope),
            "{key}"
        );
        assert_eq!(tail.len(), KEY_TEXT_LEN, "{key}");
        assert!(
            !key.contains('@')
                && !key.contains("owner")
                && !key.contains("203.0.113")
                && !key.contains("198.51"),
            "{key}"
        );
        let bytes: i64 = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(bytes <= 256, "{key}: {bytes} bytes");
        let ttl: i64 = redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(ttl > 0, "{key} never expires");
    }
    let account_keys: Vec<&String> = keys
        .iter()
        .filter(|k| k.contains(":login:account:"))
        .collect();
    assert_eq!(account_keys.len(), 3, "{account_keys:?}");
    let mut usage = Vec::new();
    for key in &account_keys {
        let bytes: i64 = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(key.as_str())
            .query_async(&mut conn)
            .await
            .unwrap();
        usage.push(bytes);
    }
    assert!(usage.windows(2).all(|w| w[0] == w[1]), "{usage:?}");
    let _: () = redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut conn)
        .await
        .unwrap();
}

/// Limiters built elsewhere: their own quotas apply, and a limiter that fails closed turns
/// a Redis outage into `Error::Store` (503), never into an open door.
#[cfg(feature = "redis")]
#[tokio::test]
async fn limiters_built_elsewhere_and_failing_closed() {
    use keel_auth::login::LoginLimiters;
    use keel_ratelimit::Limiter;
    use keel_ratelimit::redis::{FailMode, RedisLimiter};

    let memory = |spec: &str| Limiter::memory_from_spec(spec).unwrap();
    let p = LoginPolicy::builder(SecretKey::from_bytes(SECRET)).build_with(LoginLimiters::new(
        memory("50/hour"),
        memory("2/hour"),
        memory("10/hour"),
        memory("1/minute"),
    ));
    let from = ip("192.0.2.9");
    for _ in 0..2 {
        fail(&p, "ada@example.org", from).await;
    }
    assert!(is_limited(&begin(&p, "ada@example.org", from, None).await));
    p.check_signup(from).await.unwrap();
    assert!(p.check_signup(from).await.is_err());

    // Nothing listens on this port: the closed limiter answers an error at once.
    let port = keel_testkit::free_port();
    let closed = RedisLimiter::builder()
        .quota(Quota::per_hour(10))
        .prefix("unreachable")
        .timeout(Duration::from_millis(50))
        .fail_mode(FailMode::Closed)
        .connect(&format!("redis://127.0.0.1:{port}"))
        .await
        .unwrap();
    let closed = Limiter::from(closed);
    let p = LoginPolicy::builder(SecretKey::from_bytes(SECRET)).build_with(LoginLimiters::new(
        closed.clone(),
        closed.clone(),
        closed.clone(),
        closed,
    ));
    assert!(matches!(
        begin(&p, "ada@example.org", from, None).await,
        Err(Error::Store(_))
    ));
    assert!(matches!(p.check_signup(from).await, Err(Error::Store(_))));
}

/// On a Redis Cluster, through a connection built by keel-ratelimit's `RedisTarget`
/// (what a deployment with a cluster or a private CA uses): two replicas share one
/// signup quota, and its keys live in the cluster.
#[cfg(feature = "redis")]
#[tokio::test]
async fn build_redis_shares_limits_over_a_redis_cluster() {
    use keel_ratelimit::redis::RedisTarget;
    let cluster = match keel_testkit::TempRedisCluster::start_new(3) {
        Ok(c) => c,
        Err(e) => {
            assert!(!keel_testkit::services_required(), "Redis Cluster: {e}");
            return;
        }
    };
    let prefix = keel_testkit::unique_name("auth_cluster");
    let conn = RedisTarget::cluster(cluster.urls())
        .unwrap()
        .connect_lazy(Duration::from_secs(2))
        .unwrap();
    let replica = || {
        LoginPolicy::builder(SecretKey::from_bytes(SECRET))
            .signups([Quota::per_minute(2)])
            .build_redis(&conn, &prefix)
            .unwrap()
    };
    let (r1, r2) = (replica(), replica());
    let client = ip("203.0.113.9");
    r1.check_signup(client).await.unwrap();
    r2.check_signup(client).await.unwrap();
    for r in [&r1, &r2] {
        assert!(matches!(
            r.check_signup(client).await,
            Err(Error::RateLimited { .. })
        ));
    }
    let mut keys = 0;
    for url in cluster.urls() {
        let mut c = redis::Client::open(url)
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let found: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}:signup:*"))
            .query_async(&mut c)
            .await
            .unwrap();
        keys += found.len();
    }
    assert_eq!(keys, 1, "one keyed-hash key for the client's network");
}
