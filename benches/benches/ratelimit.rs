//! keel-ratelimit next to raw governor and a typical FastAPI service's sliding-window log.
//!
//! Targets (issue #5): keyed check on 10k and 1M keys, 1 and 2 threads, ≤ 1.3× raw
//! governor `check_key`; the tower layer adds ≤ 1 µs per request over an unlimited router;
//! memory per key ≤ 128 B; eviction of 1M idle keys ≤ 50 ms; the sliding-window log peer
//! compared in time and memory at 100 requests per key; the Redis backend's decisions/s
//! and p99 on loopback (`KEEL_TEST_REDIS_URL`, else a private `redis-server`, else skipped).
#![allow(
    clippy::print_stderr,
    clippy::cast_precision_loss,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use keel_ratelimit::axum::{KeyExtractor, RateLimitLayer};
use keel_ratelimit::{Clock, Key, KeyedLimiter, KeyedLimiterBuilder, Quota};
use tower::ServiceExt;

/// A cheap deterministic key sequence (xorshift), the same for every contender.
struct Keys(u64);
impl Keys {
    #[inline]
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn governor_limiter() -> governor::DefaultKeyedRateLimiter<u64> {
    governor::RateLimiter::dashmap(governor::Quota::per_second(NonZeroU32::new(100).unwrap()))
}

fn keel_limiter(max_keys: usize) -> KeyedLimiter<u64> {
    KeyedLimiterBuilder::new()
        .quota(Quota::per_second(100))
        .max_keys(max_keys)
        .build()
        .unwrap()
}

/// Runs `per_thread(iters / threads)` on `threads` threads and returns the wall time.
fn threaded(threads: u64, iters: u64, f: impl Fn(u64, u64) + Sync) -> Duration {
    let per = iters.div_ceil(threads);
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let f = &f;
            s.spawn(move || f(t, per));
        }
    });
    start.elapsed()
}

fn keyed_check(c: &mut Criterion) {
    for n in [10_000u64, 1_000_000] {
        let gov = governor_limiter();
        let keel = keel_limiter(2_000_000);
        for k in 0..n {
            let _ = gov.check_key(&k);
            let _ = keel.check_key(&k, 1);
        }
        for threads in [1u64, 2] {
            let mut g =
                c.benchmark_group(format!("ratelimit/keyed_check/{n}_keys/{threads}_threads"));
            g.bench_function("governor_check_key", |b| {
                b.iter_custom(|iters| {
                    threaded(threads, iters, |t, per| {
                        let mut keys = Keys(0x9E37_79B9 + t);
                        for _ in 0..per {
                            black_box(gov.check_key(&keys.next(n)).is_ok());
                        }
                    })
                });
            });
            g.bench_function("keel_check_key", |b| {
                b.iter_custom(|iters| {
                    threaded(threads, iters, |t, per| {
                        let mut keys = Keys(0x9E37_79B9 + t);
                        for _ in 0..per {
                            black_box(
                                keel.check_key(&keys.next(n), 1)
                                    .map(|d| d.is_allowed())
                                    .ok(),
                            );
                        }
                    })
                });
            });
            g.finish();
        }
    }
}

fn app() -> Router {
    Router::new().route("/", get(|| async { "ok" }))
}

/// Converts handlers (and the layers on them) into services once, as `axum::serve` does;
/// without it axum re-applies the layers to the handler on every call.
fn served(router: Router) -> Router {
    router.with_state(())
}

fn request(i: u32) -> axum::http::Request<Body> {
    let mut r = axum::http::Request::builder()
        .uri("/")
        .body(Body::empty())
        .unwrap();
    let peer = SocketAddr::new(IpAddr::V4(Ipv4Addr::from(0x0A00_0000 | (i % 10_000))), 4000);
    r.extensions_mut().insert(ConnectInfo(peer));
    r
}

fn tower_layer(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let plain = served(app());
    let limiter = KeyedLimiter::builder()
        .quota(Quota::per_second(1_000_000))
        .build()
        .unwrap();
    let limited = served(app().layer(RateLimitLayer::new(
        limiter.clone(),
        KeyExtractor::peer_ip(),
    )));
    let no_headers = served(app().layer(
        RateLimitLayer::new(limiter.clone(), KeyExtractor::peer_ip()).headers_on_success(false),
    ));
    // The layer around the whole router (no per-route boxing by `Router::layer`).
    let around = tower::Layer::layer(
        &RateLimitLayer::new(limiter, KeyExtractor::peer_ip()),
        plain.clone(),
    );
    let mut g = c.benchmark_group("ratelimit/tower_layer");
    g.bench_function("keel_rate_limit_layer_around_router", |b| {
        let mut i = 0u32;
        b.iter(|| {
            i = i.wrapping_add(1);
            let res = rt.block_on(around.clone().oneshot(request(i))).unwrap();
            black_box(res.status())
        });
    });
    for (name, router) in [
        ("unlimited_router", &plain),
        ("keel_rate_limit_layer", &limited),
        ("keel_rate_limit_layer_no_success_headers", &no_headers),
    ] {
        g.bench_function(name, |b| {
            let mut i = 0u32;
            b.iter(|| {
                i = i.wrapping_add(1);
                let res = rt.block_on(router.clone().oneshot(request(i))).unwrap();
                black_box(res.status())
            });
        });
    }
    g.finish();
}

/// A typical FastAPI service: a sliding-window log per key (every admitted timestamp is kept for
/// the window), sharded like keel's table so only the algorithm differs.
struct SlidingLog {
    shards: Vec<Mutex<HashMap<u64, VecDeque<u64>>>>,
    hasher: RandomState,
    limit: usize,
    window_ns: u64,
    origin: Instant,
}

impl SlidingLog {
    fn new(limit: usize, window: Duration) -> Self {
        Self {
            shards: (0..16).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            limit,
            window_ns: u64::try_from(window.as_nanos()).unwrap(),
            origin: Instant::now(),
        }
    }

    fn check(&self, key: u64, cost: usize) -> bool {
        let now = u64::try_from(self.origin.elapsed().as_nanos()).unwrap();
        let shard = usize::try_from(self.hasher.hash_one(key) % 16).unwrap();
        let mut map = self.shards[shard].lock().unwrap();
        let log = map.entry(key).or_default();
        while log
            .front()
            .is_some_and(|&t| now.saturating_sub(t) >= self.window_ns)
        {
            log.pop_front();
        }
        if log.len() + cost <= self.limit {
            for _ in 0..cost {
                log.push_back(now);
            }
            true
        } else {
            false
        }
    }
}

impl SlidingLog {
    /// Bytes held: map buckets plus every log's ring buffer.
    fn memory_bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let m = s.lock().unwrap();
                m.capacity() * (size_of::<(u64, VecDeque<u64>)>() + 1)
                    + m.values().map(|v| v.capacity() * 8).sum::<usize>()
            })
            .sum()
    }
}

fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn rss_growth(f: impl FnOnce()) -> Option<u64> {
    let before = rss_bytes()?;
    f();
    Some(rss_bytes()?.saturating_sub(before))
}

/// Memory per key (RSS growth and keel's own accounting), first so freed memory of other
/// benches does not hide growth.
fn memory(_c: &mut Criterion) {
    // At 100 requests per key (window 1 h): the sliding-window log keeps every timestamp.
    const K: u64 = 10_000;
    let log = SlidingLog::new(100, Duration::from_secs(3600));
    let log_rss = rss_growth(|| {
        for k in 0..K {
            for _ in 0..100 {
                log.check(k, 1);
            }
        }
    });
    let keel2 = keel_limiter(2_000_000);
    let keel2_rss = rss_growth(|| {
        for k in 0..K {
            for _ in 0..100 {
                let _ = keel2.check_key(&k, 1);
            }
        }
    });
    eprintln!(
        "memory per key at 100 requests/key ({K} keys): sliding-window log {:.0} B (RSS growth; accounting {:.0} B), keel {:.0} B (RSS growth; accounting {:.0} B)",
        per_k(log_rss, K),
        log.memory_bytes() as f64 / K as f64,
        per_k(keel2_rss, K),
        keel2.memory_bytes() as f64 / K as f64,
    );

    const N: u32 = 1_000_000;
    let keel: KeyedLimiter = KeyedLimiter::builder()
        .quota(Quota::per_hour(100))
        .max_keys(2_000_000)
        .build()
        .unwrap();
    let keel_rss = rss_growth(|| {
        for i in 0..N {
            let _ = keel.check_key(&Key::ip(IpAddr::V4(Ipv4Addr::from(i))), 1);
        }
    });
    let gov =
        governor::RateLimiter::dashmap(governor::Quota::per_hour(NonZeroU32::new(100).unwrap()));
    let gov_rss = rss_growth(|| {
        for i in 0..N {
            let _ = gov.check_key(&IpAddr::V4(Ipv4Addr::from(i)));
        }
    });
    let per = |b: Option<u64>| b.map_or(f64::NAN, |b| b as f64 / f64::from(N));
    eprintln!(
        "memory per IP key, {N} keys: keel {:.0} B (RSS growth; table accounting {:.0} B), governor dashmap {:.0} B (RSS growth)",
        per(keel_rss),
        keel.memory_bytes() as f64 / f64::from(N),
        per(gov_rss),
    );
    drop((keel, gov, log, keel2));
}

fn per_k(b: Option<u64>, k: u64) -> f64 {
    b.map_or(f64::NAN, |b| b as f64 / k as f64)
}

fn sliding_log_time(c: &mut Criterion) {
    // 10k keys, each at ~100 requests in its window: the log's steady state.
    const K: u64 = 10_000;
    let log = SlidingLog::new(100, Duration::from_secs(3600));
    let keel: KeyedLimiter<u64> = KeyedLimiterBuilder::new()
        .quota(Quota::per_hour(100))
        .max_keys(100_000)
        .build()
        .unwrap();
    for k in 0..K {
        for _ in 0..100 {
            log.check(k, 1);
            let _ = keel.check_key(&k, 1);
        }
    }
    let mut g = c.benchmark_group("ratelimit/at_100_requests_per_key");
    g.bench_function("sliding_window_log", |b| {
        let mut keys = Keys(7);
        b.iter(|| black_box(log.check(keys.next(K), 1)));
    });
    g.bench_function("keel_gcra", |b| {
        let mut keys = Keys(7);
        b.iter(|| {
            black_box(
                keel.check_key(&keys.next(K), 1)
                    .map(|d| d.is_allowed())
                    .ok(),
            )
        });
    });
    g.finish();
}

fn eviction(c: &mut Criterion) {
    const N: u32 = 1_000_000;
    let mut g = c.benchmark_group("ratelimit/evict_1m_idle_keys");
    g.sample_size(10);
    g.bench_function("keel_evict_idle", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let clock = Clock::manual();
                let l: KeyedLimiter = KeyedLimiter::builder()
                    .quota(Quota::per_second(10))
                    .max_keys(2_000_000)
                    .clock(clock.clone())
                    .build()
                    .unwrap();
                for i in 0..N {
                    let _ = l.check_key(&Key::ip(IpAddr::V4(Ipv4Addr::from(i))), 1);
                }
                clock.advance(Duration::from_secs(1));
                let start = Instant::now();
                let removed = l.evict_idle();
                total += start.elapsed();
                assert_eq!(removed, N as usize);
            }
            total
        });
    });
    g.bench_function("governor_retain_recent_and_shrink", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let clock = governor::clock::FakeRelativeClock::default();
                let l: governor::RateLimiter<_, _, _, governor::middleware::NoOpMiddleware<_>> =
                    governor::RateLimiter::new(
                        governor::Quota::per_second(NonZeroU32::new(10).unwrap()),
                        governor::state::keyed::DashMapStateStore::<IpAddr>::default(),
                        clock.clone(),
                    );
                for i in 0..N {
                    let _ = l.check_key(&IpAddr::V4(Ipv4Addr::from(i)));
                }
                clock.advance(Duration::from_secs(1));
                let start = Instant::now();
                l.retain_recent();
                l.shrink_to_fit();
                total += start.elapsed();
                assert!(l.is_empty());
            }
            total
        });
    });
    g.finish();

    // Key spraying: 1M fresh keys against a 100k cap stays at the cap.
    let l: KeyedLimiter = KeyedLimiter::builder()
        .quota(Quota::per_hour(10))
        .max_keys(100_000)
        .build()
        .unwrap();
    let start = Instant::now();
    for i in 0..N {
        let _ = l.check_key(&Key::ip(IpAddr::V4(Ipv4Addr::from(i))), 1);
    }
    let took = start.elapsed();
    assert!(l.len() <= l.max_keys());
    eprintln!(
        "key spraying: 1M fresh keys, cap {}: {} keys tracked, {:.0} ns per request, table {:.1} MB",
        l.max_keys(),
        l.len(),
        took.as_nanos() as f64 / f64::from(N),
        l.memory_bytes() as f64 / 1e6
    );
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The shared bench machine's load drifts over seconds, which skews groups measured one
/// after the other. Here each round times both contenders back to back and the median of
/// the per-round figures is reported: the robust ratio.
fn interleaved(_c: &mut Criterion) {
    const N: u64 = 10_000;
    let gov = governor_limiter();
    let keel = keel_limiter(2_000_000);
    for k in 0..N {
        let _ = gov.check_key(&k);
        let _ = keel.check_key(&k, 1);
    }
    for threads in [1u64, 2] {
        let ops = 200_000u64;
        let (mut g, mut k, mut r) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..40u64 {
            let gt = threaded(threads, ops, |t, per| {
                let mut keys = Keys(0x9E37_79B9 + t + round);
                for _ in 0..per {
                    black_box(gov.check_key(&keys.next(N)).is_ok());
                }
            });
            let kt = threaded(threads, ops, |t, per| {
                let mut keys = Keys(0x9E37_79B9 + t + round);
                for _ in 0..per {
                    black_box(
                        keel.check_key(&keys.next(N), 1)
                            .map(|d| d.is_allowed())
                            .ok(),
                    );
                }
            });
            g.push(gt.as_nanos() as f64 / ops as f64);
            k.push(kt.as_nanos() as f64 / ops as f64);
            r.push(kt.as_secs_f64() / gt.as_secs_f64());
        }
        eprintln!(
            "interleaved keyed check, {N} keys, {threads} thread(s): governor {:.1} ns/op, keel {:.1} ns/op (wall time per op over all threads), median ratio {:.2}",
            median(g),
            median(k),
            median(r)
        );
    }

    interleaved_layer();
}

/// The layer's own cost, paired: rounds of 2,000 requests through each variant in turn
/// (40 rounds, medians), so machine load hits every variant alike.
///
/// - `Router::layer` rows: axum wraps each route in the layer and boxes it (a cloned,
///   boxed service and a boxed future per request), so their peer is the same router with
///   an identity layer added the same way, not the bare router.
/// - "around the router" rows: the layer wraps the whole router (`layer.layer(router)`),
///   as `ServiceBuilder` stacks in front of `axum::serve` do; peer = the bare router.
fn interleaved_layer() {
    use tower::Layer as _;
    use tower::util::MapResponseLayer;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let limiter = KeyedLimiter::builder()
        .quota(Quota::per_second(1_000_000))
        .build()
        .unwrap();
    let layer = RateLimitLayer::new(limiter, KeyExtractor::peer_ip());
    let quiet = layer.clone().headers_on_success(false);
    let plain = served(app());
    let identity = served(app().layer(MapResponseLayer::new(|r: axum::response::Response| r)));
    let routed = served(app().layer(layer.clone()));
    let routed_quiet = served(app().layer(quiet.clone()));
    let around = layer.layer(plain.clone());
    let around_quiet = quiet.layer(plain.clone());

    let mut i = 0u32;
    let mut time = |call: &mut dyn FnMut(u32) -> axum::http::StatusCode| {
        let start = Instant::now();
        for _ in 0..2_000 {
            i = i.wrapping_add(1);
            black_box(call(i));
        }
        start.elapsed().as_nanos() as f64 / 2_000.0
    };
    let mut rows: [Vec<f64>; 6] = Default::default();
    let mut added: [Vec<f64>; 4] = Default::default();
    for _ in 0..40 {
        let t = [
            time(&mut |i| {
                rt.block_on(plain.clone().oneshot(request(i)))
                    .unwrap()
                    .status()
            }),
            time(&mut |i| {
                rt.block_on(identity.clone().oneshot(request(i)))
                    .unwrap()
                    .status()
            }),
            time(&mut |i| {
                rt.block_on(routed.clone().oneshot(request(i)))
                    .unwrap()
                    .status()
            }),
            time(&mut |i| {
                rt.block_on(routed_quiet.clone().oneshot(request(i)))
                    .unwrap()
                    .status()
            }),
            time(&mut |i| {
                rt.block_on(around.clone().oneshot(request(i)))
                    .unwrap()
                    .status()
            }),
            time(&mut |i| {
                rt.block_on(around_quiet.clone().oneshot(request(i)))
                    .unwrap()
                    .status()
            }),
        ];
        for (row, v) in rows.iter_mut().zip(t) {
            row.push(v);
        }
        added[0].push(t[2] - t[1]);
        added[1].push(t[3] - t[1]);
        added[2].push(t[4] - t[0]);
        added[3].push(t[5] - t[0]);
    }
    let [p, id, r, rq, a, aq] = rows.map(median);
    let [dr, drq, da, daq] = added.map(median);
    eprintln!(
        "interleaved tower layer (median ns/request over 40 rounds): bare router {p:.0}, \
         + identity layer via Router::layer {id:.0}, + RateLimitLayer via Router::layer {r:.0} \
         (no success headers {rq:.0}), RateLimitLayer around the router {a:.0} (no success \
         headers {aq:.0}); median added by the layer: via Router::layer {dr:.0} ns with all \
         headers, {drq:.0} ns without success headers; around the router {da:.0} ns with all \
         headers, {daq:.0} ns without success headers"
    );
}

fn redis_url() -> (Option<String>, Option<keel_testkit::TempRedis>) {
    if let Ok(url) = std::env::var("KEEL_TEST_REDIS_URL") {
        if !url.is_empty() {
            return (Some(url), None);
        }
    }
    match keel_testkit::TempRedis::start_new() {
        Ok(r) => (Some(r.url()), Some(r)),
        Err(e) => {
            eprintln!("SKIPPED ratelimit/redis: no KEEL_TEST_REDIS_URL and no redis-server ({e})");
            (None, None)
        }
    }
}

fn redis_backend(c: &mut Criterion) {
    let (Some(url), _guard) = redis_url() else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let prefix = format!("bench:rl:{}", std::process::id());
    let limiter = match rt.block_on(
        keel_ratelimit::redis::RedisLimiter::builder()
            .quota(Quota::per_second(1_000_000))
            .prefix(prefix)
            .timeout(Duration::from_millis(500))
            .connect(&url),
    ) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("SKIPPED ratelimit/redis: {e}");
            return;
        }
    };
    let probe = rt.block_on(limiter.check_key(&Key::from("probe"), 1));
    if !matches!(
        probe.as_ref().map(keel_ratelimit::Decision::source),
        Ok(keel_ratelimit::Source::Redis)
    ) {
        eprintln!("SKIPPED ratelimit/redis: Redis did not answer ({probe:?})");
        return;
    }
    let mut g = c.benchmark_group("ratelimit/redis");
    g.bench_function("check_key_sequential", |b| {
        let mut keys = Keys(3);
        b.iter(|| {
            rt.block_on(limiter.check_key(&Key::from(format!("k{}", keys.next(10_000))), 1))
                .ok()
        });
    });
    g.finish();

    // Latency distribution (sequential) and throughput (32 concurrent tasks).
    let mut lat: Vec<Duration> = Vec::with_capacity(20_000);
    let mut keys = Keys(11);
    for _ in 0..20_000 {
        let key = Key::from(format!("k{}", keys.next(10_000)));
        let t = Instant::now();
        let _ = rt.block_on(limiter.check_key(&key, 1));
        lat.push(t.elapsed());
    }
    lat.sort();
    let pct = |per_mille: usize| lat[(lat.len() * per_mille / 1000).min(lat.len() - 1)];
    let total = 100_000u64;
    let start = Instant::now();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for t in 0..32u64 {
            let l = limiter.clone();
            tasks.push(tokio::spawn(async move {
                let mut keys = Keys(100 + t);
                for _ in 0..total / 32 {
                    let _ = l
                        .check_key(&Key::from(format!("k{}", keys.next(10_000))), 1)
                        .await;
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    });
    let secs = start.elapsed().as_secs_f64();
    let st = limiter.stats();
    eprintln!(
        "redis backend on loopback: sequential p50 {:?}, p99 {:?}; 32 tasks: {:.0} decisions/s (errors {}, fallback {})",
        pct(500),
        pct(990),
        total as f64 / secs,
        st.errors,
        st.fallback_decisions,
    );
}

criterion_group! {
    name = benches;
    config = keel_benches::criterion_config();
    targets = memory, interleaved, keyed_check, tower_layer, sliding_log_time, eviction, redis_backend
}
criterion_main!(benches);
