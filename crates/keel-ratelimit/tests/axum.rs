//! The tower layer through axum routers (`oneshot`) and over a real socket.
#![cfg(feature = "axum")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::routing::{get, post};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use keel_ratelimit::axum::{
    KeyExtractor, MissingKey, PlainTextRenderer, RateLimitLayer, TrustedProxies,
};
use keel_ratelimit::{Clock, HeaderStyle, KeyedLimiter, Quota};
use tower::ServiceExt;

fn memory(quota: Quota, clock: &Clock) -> KeyedLimiter {
    KeyedLimiter::builder()
        .quota(quota)
        .clock(clock.clone())
        .build()
        .unwrap()
}

fn req(path: &str, peer: Option<&str>, headers: &[(&str, &str)]) -> Request<Body> {
    let mut b = Request::builder().uri(path);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let mut r = b.body(Body::empty()).unwrap();
    if let Some(p) = peer {
        r.extensions_mut()
            .insert(ConnectInfo(p.parse::<SocketAddr>().unwrap()));
    }
    r
}

async fn send(app: &Router, r: Request<Body>) -> (StatusCode, http::HeaderMap, String) {
    let res = app.clone().oneshot(r).await.unwrap();
    let (parts, body) = res.into_parts();
    let body = String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap();
    (parts.status, parts.headers, body)
}

fn app(layer: RateLimitLayer) -> Router {
    Router::new()
        .route("/", get(|| async { "ok" }))
        .route("/health", get(|| async { "healthy" }))
        .layer(layer)
}

#[tokio::test]
async fn headers_on_success_and_429_with_retry_after() {
    let clock = Clock::manual();
    let app = app(RateLimitLayer::new(
        memory(Quota::per_minute(2), &clock),
        KeyExtractor::peer_ip(),
    )
    .renderer(PlainTextRenderer));
    let peer = Some("192.0.2.1:1000");
    let (s, h, body) = send(&app, req("/", peer, &[])).await;
    assert_eq!((s, body.as_str()), (StatusCode::OK, "ok"));
    assert_eq!(h["ratelimit-policy"], r#""2/minute";q=2;w=60"#);
    assert_eq!(h["ratelimit"], r#""2/minute";r=1;t=30"#);
    assert_eq!(h["x-ratelimit-limit"], "2");
    assert_eq!(h["x-ratelimit-remaining"], "1");
    assert_eq!(h["x-ratelimit-reset"], "30");
    assert!(h.get("retry-after").is_none());
    send(&app, req("/", peer, &[])).await;
    let (s, h, body) = send(&app, req("/", peer, &[])).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body, "Too many requests\n");
    assert_eq!(h["content-type"], "text/plain; charset=utf-8");
    assert_eq!(h["retry-after"], "30");
    assert_eq!(h["ratelimit"], r#""2/minute";r=0;t=60"#);
    // Another client is unaffected; time heals.
    assert_eq!(
        send(&app, req("/", Some("192.0.2.2:1"), &[])).await.0,
        StatusCode::OK
    );
    clock.advance(Duration::from_secs(30));
    assert_eq!(send(&app, req("/", peer, &[])).await.0, StatusCode::OK);
}

#[tokio::test]
async fn spoofed_forwarded_for_from_untrusted_peer_is_ignored() {
    let clock = Clock::manual();
    let key = KeyExtractor::client_ip(TrustedProxies::cidrs(["10.0.0.0/8"]).unwrap());
    let app = app(RateLimitLayer::new(
        memory(Quota::per_minute(1), &clock),
        key,
    ));
    let attacker = Some("203.0.113.66:1");
    assert_eq!(
        send(&app, req("/", attacker, &[("x-forwarded-for", "1.1.1.1")]))
            .await
            .0,
        StatusCode::OK
    );
    // Rotating the spoofed header does not buy a new bucket.
    for i in 2..10 {
        let xff = format!("1.1.1.{i}");
        let (s, ..) = send(&app, req("/", attacker, &[("x-forwarded-for", &xff)])).await;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    }
    // Through the trusted proxy, clients are told apart, and their own spoofed prefix is ignored.
    let proxy = Some("10.0.0.5:1");
    assert_eq!(
        send(
            &app,
            req("/", proxy, &[("x-forwarded-for", "9.9.9.9, 198.51.100.1")])
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(
        send(
            &app,
            req("/", proxy, &[("x-forwarded-for", "8.8.8.8, 198.51.100.1")])
        )
        .await
        .0,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        send(
            &app,
            req("/", proxy, &[("x-forwarded-for", "198.51.100.2")])
        )
        .await
        .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn exempt_shadow_and_missing_keys() {
    let clock = Clock::manual();
    let limiter = memory(Quota::per_minute(1), &clock);
    let exempt = app(
        RateLimitLayer::new(limiter.clone(), KeyExtractor::peer_ip())
            .exempt(|p| p.uri.path() == "/health"),
    );
    let peer = Some("192.0.2.1:1");
    for _ in 0..5 {
        assert_eq!(
            send(&exempt, req("/health", peer, &[])).await.0,
            StatusCode::OK
        );
    }
    assert_eq!(limiter.stats().allowed, 0);

    // The built-in path rule: `/health` and below pass uncounted, the rest is limited.
    let by_path = Router::new()
        .route("/", get(|| async { "ok" }))
        .route("/health", get(|| async { "healthy" }))
        .route("/health/live", get(|| async { "live" }))
        .route("/healthz", get(|| async { "not exempt" }))
        .layer(
            RateLimitLayer::new(limiter.clone(), KeyExtractor::peer_ip())
                .exempt_path_prefix("/health"),
        );
    for _ in 0..5 {
        for path in ["/health", "/health/live"] {
            let (s, h, _) = send(&by_path, req(path, peer, &[])).await;
            assert_eq!(s, StatusCode::OK, "{path}");
            assert!(h.get("ratelimit").is_none(), "{path}: exempt, no headers");
        }
    }
    assert_eq!(limiter.stats().allowed, 0);
    assert_eq!(
        send(&by_path, req("/healthz", peer, &[])).await.0,
        StatusCode::OK
    );
    assert_eq!(
        send(&by_path, req("/", peer, &[])).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    let limiter = memory(Quota::per_minute(1), &clock);

    let shadow = app(RateLimitLayer::new(limiter.clone(), KeyExtractor::peer_ip()).shadow(true));
    for _ in 0..5 {
        let (s, h, _) = send(&shadow, req("/", peer, &[])).await;
        assert_eq!(s, StatusCode::OK);
        assert!(h.get("ratelimit").is_none());
    }
    let st = limiter.stats();
    assert_eq!((st.allowed, st.denied), (1, 4));

    // No ConnectInfo: one shared bucket by default, or no limit with Skip.
    let limiter = memory(Quota::per_minute(1), &clock);
    let shared = app(RateLimitLayer::new(
        limiter.clone(),
        KeyExtractor::peer_ip(),
    ));
    assert_eq!(send(&shared, req("/", None, &[])).await.0, StatusCode::OK);
    assert_eq!(
        send(&shared, req("/", None, &[])).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    let skip =
        app(RateLimitLayer::new(limiter, KeyExtractor::peer_ip()).on_missing_key(MissingKey::Skip));
    assert_eq!(send(&skip, req("/", None, &[])).await.0, StatusCode::OK);
}

#[tokio::test]
async fn per_route_layers_cost_and_styles() {
    let clock = Clock::manual();
    let login = RateLimitLayer::new(
        memory(Quota::per_minute(10), &clock),
        KeyExtractor::header("x-api-key"),
    )
    .cost(|p| if p.uri.query() == Some("bulk") { 5 } else { 1 })
    .header_style(HeaderStyle::Legacy);
    let app = Router::new()
        .route("/login", post(|| async { "in" }).route_layer(login))
        .route("/free", get(|| async { "free" }));
    let key = [("x-api-key", "k1")];
    let post = |q: &str| {
        Request::builder()
            .method("POST")
            .uri(format!("/login{q}"))
            .header("x-api-key", "k1")
            .body(Body::empty())
            .unwrap()
    };
    let (s, h, _) = send(&app, post("?bulk")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["x-ratelimit-remaining"], "5");
    assert!(h.get("ratelimit").is_none());
    send(&app, post("?bulk")).await;
    assert_eq!(send(&app, post("")).await.0, StatusCode::TOO_MANY_REQUESTS);
    for _ in 0..20 {
        assert_eq!(send(&app, req("/free", None, &key)).await.0, StatusCode::OK);
    }
    // A cost above the burst can never pass: 429 without Retry-After.
    let huge = RateLimitLayer::new(memory(Quota::per_minute(3), &clock), KeyExtractor::global())
        .cost(|_| 4);
    let (s, h, body) = send(&app_with(huge), req("/", None, &[])).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert!(h.get("retry-after").is_none());
    let expected = if cfg!(feature = "errors") {
        r#"{"success":false,"error":{"code":"RATE_LIMITED","message":"This request exceeds the rate limit"}}"#
    } else {
        "This request exceeds the rate limit\n"
    };
    assert_eq!(body, expected);
}

#[tokio::test]
async fn per_key_quotas_through_limiter_for() {
    #[derive(Clone)]
    struct Plan(&'static str);
    let clock = Clock::manual();
    let free = memory(Quota::per_minute(1), &clock);
    let pro = keel_ratelimit::Limiter::from(memory(Quota::per_minute(3), &clock));
    let layer =
        RateLimitLayer::new(free, KeyExtractor::header("x-api-key")).limiter_for(move |p| match p
            .extensions
            .get::<Plan>()
        {
            Some(Plan("pro")) => Some(pro.clone()),
            _ => None,
        });
    let app = app_with(layer);
    let with_plan = |key: &str, plan: Option<&'static str>| {
        let mut r = req("/", None, &[("x-api-key", key)]);
        if let Some(p) = plan {
            r.extensions_mut().insert(Plan(p));
        }
        r
    };
    let (s, h, _) = send(&app, with_plan("a", Some("pro"))).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["ratelimit-policy"], r#""3/minute";q=3;w=60"#);
    assert_eq!(h["x-ratelimit-remaining"], "2");
    assert_eq!(
        send(&app, with_plan("a", Some("pro"))).await.0,
        StatusCode::OK
    );
    assert_eq!(
        send(&app, with_plan("a", Some("pro"))).await.0,
        StatusCode::OK
    );
    assert_eq!(
        send(&app, with_plan("a", Some("pro"))).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    let (s, h, _) = send(&app, with_plan("b", None)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["ratelimit-policy"], r#""1/minute";q=1;w=60"#);
    assert_eq!(
        send(&app, with_plan("b", None)).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
}

fn app_with(layer: RateLimitLayer) -> Router {
    app(layer)
}

/// With the `errors` feature the default 429 is the keel envelope, no `.renderer(..)` needed.
#[cfg(feature = "errors")]
#[tokio::test]
async fn envelope_is_the_default_with_the_errors_feature() {
    let clock = Clock::manual();
    let layer = RateLimitLayer::new(memory(Quota::per_minute(1), &clock), KeyExtractor::global());
    let app = app(layer);
    send(&app, req("/", None, &[])).await;
    let (s, h, body) = send(&app, req("/", None, &[("x-request-id", "req-1")])).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(h["content-type"], "application/json");
    assert_eq!(h["retry-after"], "60");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["success"], false);
    assert_eq!(v["error"]["code"], "RATE_LIMITED");
    assert_eq!(v["error"]["details"]["retry_after"], 60);
    assert_eq!(v["meta"]["request_id"], "req-1");
    // The rate limit headers ride along; like every keel error, it is never cached.
    assert_eq!(h["ratelimit"], r#""1/minute";r=0;t=60"#);
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(
        body,
        r#"{"success":false,"error":{"code":"RATE_LIMITED","message":"Too many requests","details":{"retry_after":60}},"meta":{"request_id":"req-1"}}"#
    );
}

/// Serving without `into_make_service_with_connect_info` makes a per-IP limit one shared
/// bucket: the layer says so once, loudly, and only when the peer address is what is missing.
#[tokio::test]
async fn a_missing_connect_info_is_warned_about_once_per_layer() {
    use keel_testkit::LogCapture;
    let logs = LogCapture::new();
    let _guard = logs.set_default(tracing::Level::WARN);
    let needle = "into_make_service_with_connect_info";
    let clock = Clock::manual();

    let by_ip = app(RateLimitLayer::new(
        memory(Quota::per_minute(100), &clock),
        KeyExtractor::peer_ip(),
    ));
    // With ConnectInfo: nothing to say.
    send(&by_ip, req("/", Some("192.0.2.1:1"), &[])).await;
    assert_eq!(logs.count(needle), 0, "{}", logs.text());
    for _ in 0..3 {
        assert_eq!(send(&by_ip, req("/", None, &[])).await.0, StatusCode::OK);
    }
    assert_eq!(logs.count(needle), 1, "{}", logs.text());
    assert_eq!(logs.count("WARN"), 1, "{}", logs.text());

    // Another layer warns on its own; a proxy-aware key needs the peer too.
    let trusted = TrustedProxies::cidrs(["10.0.0.0/8"]).unwrap();
    let by_client = app(RateLimitLayer::new(
        memory(Quota::per_minute(100), &clock),
        KeyExtractor::header("x-api-key").or(KeyExtractor::client_ip(trusted)),
    ));
    send(&by_client, req("/", None, &[])).await;
    send(&by_client, req("/", None, &[])).await;
    assert_eq!(logs.count(needle), 2, "{}", logs.text());

    // A key that does not need the peer (a missing API key) is not a misconfiguration.
    let by_header = app(RateLimitLayer::new(
        memory(Quota::per_minute(100), &clock),
        KeyExtractor::header("x-api-key"),
    ));
    send(&by_header, req("/", None, &[])).await;
    // Nor is `Skip`.
    let skip = app(RateLimitLayer::new(
        memory(Quota::per_minute(100), &clock),
        KeyExtractor::peer_ip(),
    )
    .on_missing_key(MissingKey::Skip));
    send(&skip, req("/", None, &[])).await;
    assert_eq!(logs.count(needle), 2, "{}", logs.text());
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn redis_backed_layer_and_fail_closed() {
    use keel_ratelimit::redis::{FailMode, RedisLimiter};
    let Some(url) = keel_testkit::redis_url() else {
        return;
    };
    let limiter = RedisLimiter::builder()
        .quota(Quota::per_minute(2))
        .prefix(keel_testkit::unique_name("rl_layer"))
        .connect(&url)
        .await
        .unwrap();
    let app = app(RateLimitLayer::new(limiter, KeyExtractor::peer_ip()));
    let peer = Some("192.0.2.1:1");
    let (s, h, _) = send(&app, req("/", peer, &[])).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["x-ratelimit-remaining"], "1");
    send(&app, req("/", peer, &[])).await;
    let (s, h, _) = send(&app, req("/", peer, &[])).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert!(h.contains_key("retry-after"));

    // Nothing listens on port 1: fail-closed answers 503 within the timeout.
    let closed = RedisLimiter::builder()
        .quota(Quota::per_minute(2))
        .timeout(Duration::from_millis(50))
        .fail_mode(FailMode::Closed)
        .connect("redis://127.0.0.1:1")
        .await
        .unwrap();
    let app = app_with(RateLimitLayer::new(
        keel_ratelimit::Limiter::from(closed),
        KeyExtractor::peer_ip(),
    ));
    let (s, _, body) = send(&app, req("/", peer, &[])).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert!(!body.contains("127.0.0.1"), "{body}");
}

#[tokio::test]
async fn end_to_end_over_a_socket_with_connect_info() {
    let limiter = KeyedLimiter::builder()
        .quota(Quota::per_hour(1))
        .build()
        .unwrap();
    let app = app(RateLimitLayer::new(limiter, KeyExtractor::peer_ip()));
    let server = keel_testkit::TestServer::start(app).await;
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let out = server.get("/").await;
        statuses.push(out.lines().next().unwrap_or_default().to_owned());
        if statuses.len() == 1 {
            assert!(
                out.to_ascii_lowercase()
                    .contains("ratelimit-policy: \"1/hour\";q=1;w=3600"),
                "{out}"
            );
        }
    }
    drop(server);
    assert_eq!(
        statuses,
        ["HTTP/1.1 200 OK", "HTTP/1.1 429 Too Many Requests"]
    );
}

/// The layer keys common configurations by borrowing the request and splits it into
/// `Parts` only when a closure needs them; both paths must answer byte for byte alike.
#[tokio::test]
async fn borrowed_and_split_request_paths_answer_identically() {
    type Configure = fn(RateLimitLayer) -> RateLimitLayer;
    let configs: [(&str, Configure); 8] = [
        ("default", |l| l),
        ("ietf", |l| l.header_style(HeaderStyle::Ietf)),
        ("legacy", |l| l.header_style(HeaderStyle::Legacy)),
        ("none", |l| l.header_style(HeaderStyle::None)),
        ("no success headers", |l| l.headers_on_success(false)),
        ("shadow", |l| l.shadow(true)),
        ("skip missing", |l| l.on_missing_key(MissingKey::Skip)),
        ("plain text", |l| l.renderer(PlainTextRenderer)),
    ];
    let extractors = [
        KeyExtractor::peer_ip(),
        KeyExtractor::header("x-api-key").or(KeyExtractor::peer_ip()),
        KeyExtractor::client_ip(TrustedProxies::cidrs(["10.0.0.0/8"]).unwrap()),
    ];
    type Sample = (
        Option<&'static str>,
        &'static [(&'static str, &'static str)],
    );
    let requests: &[Sample] = &[
        (Some("192.0.2.1:1"), &[]),
        (Some("192.0.2.1:2"), &[("x-request-id", "req-1")]),
        (Some("192.0.2.1:3"), &[("x-api-key", "k1")]),
        (Some("10.0.0.1:4"), &[("x-forwarded-for", "192.0.2.1")]),
        (
            Some("10.0.0.1:5"),
            &[("x-forwarded-for", "garbage, 10.0.0.2")],
        ),
        (None, &[]),
        (None, &[("x-api-key", "k1")]),
        (Some("[2001:db8::1]:6"), &[]),
    ];
    for (name, configure) in configs {
        for key in &extractors {
            let clock = Clock::manual();
            let quota = Quota::per_minute(3).named("three");
            let borrowed = app(configure(RateLimitLayer::new(
                memory(quota, &clock),
                key.clone(),
            )));
            // A closure (that exempts nothing) forces the split path.
            let split = app(configure(
                RateLimitLayer::new(memory(quota, &clock), key.clone()).exempt(|_| false),
            ));
            let mut statuses = Vec::new();
            for round in 0..4 {
                for (peer, headers) in requests {
                    let a = send(&borrowed, req("/", *peer, headers)).await;
                    let b = send(&split, req("/", *peer, headers)).await;
                    assert_eq!(a, b, "{name}, {key:?}, round {round}, {peer:?} {headers:?}");
                    statuses.push(a.0);
                }
                clock.advance(Duration::from_secs(7));
            }
            // Both admitted and limited requests were compared (shadow never limits).
            assert!(statuses.contains(&StatusCode::OK), "{name}");
            assert_eq!(
                statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
                name != "shadow",
                "{name}, {key:?}"
            );
        }
    }
}
