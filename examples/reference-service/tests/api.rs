//! End-to-end tests of the HTTP contract against real PostgreSQL (and Redis where noted).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use common::{Opts, PASSWORD, TestApp, assert_security_headers, spawn};
use http::{Method, Request, StatusCode};
use reference_service::AppState;
use reference_service::domain::Role;
use serde_json::json;

fn email(tag: &str) -> String {
    format!("{}@example.org", keel_testkit::unique_name(tag))
}

async fn boom() -> &'static str {
    panic!("boom")
}

fn test_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/test/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(400)).await;
                "slow"
            }),
        )
        .route(
            "/test/hang",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "never"
            }),
        )
        .route("/test/panic", get(boom))
        .route("/test/drain", get(drain_handler))
}

/// `/test/drain` (the graceful-shutdown test's alone): set when its request is in the
/// handler, and when the test has asked the server to stop.
static DRAIN_ENTERED: AtomicBool = AtomicBool::new(false);
static DRAIN_STOP_SENT: AtomicBool = AtomicBool::new(false);

/// Answers only once shutdown was requested, so the request is in flight when it begins
/// however slowly a loaded machine schedules either side.
async fn drain_handler() -> &'static str {
    DRAIN_ENTERED.store(true, Ordering::SeqCst);
    wait_for(&DRAIN_STOP_SENT).await;
    // Still running while the server starts draining.
    tokio::time::sleep(Duration::from_millis(200)).await;
    "slow"
}

/// Polls `flag` until it is set (at most 10 s).
async fn wait_for(flag: &AtomicBool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !flag.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "flag never set");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn app_with_test_routes() -> Option<TestApp> {
    spawn(Opts {
        extra: Some(test_routes),
        ..Opts::default()
    })
    .await
}

#[tokio::test]
async fn whole_flow_signup_login_me_admin_list_patch_cache_delete() {
    let Some(t) = spawn(Opts::default()).await else {
        return;
    };
    // Signup: 201, Location, normalized fields, no hash.
    let mail = email("Flow");
    let s = t
        .call(
            Method::POST,
            "/api/v1/auth/signup",
            None,
            Some(json!({
                "email": format!("  {}  ", mail.to_uppercase()),
                "password": PASSWORD,
                "first_name": "  ada  ",
                "last_name": "<b>lovelace</b>",
                "phone": "+44 20 7183 8750",
            })),
        )
        .await;
    assert_eq!(s.status, StatusCode::CREATED, "{}", s.body);
    assert_security_headers(&s.headers);
    let id = s.body["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        s.headers["location"].to_str().unwrap(),
        format!("/api/v1/users/{id}")
    );
    let data = &s.body["data"];
    assert_eq!(data["email"], json!(mail.to_lowercase()));
    assert_eq!(data["first_name"], json!("Ada"));
    assert_eq!(data["last_name"], json!("Lovelace"));
    assert_eq!(data["phone"], json!("+442071838750"));
    assert_eq!(data["role"], json!("user"));
    assert!(
        data.get("password_hash").is_none() && !String::from_utf8_lossy(&s.raw).contains("argon2")
    );

    // Login (case-insensitive e-mail) and me.
    let l = t.login(&mail.to_uppercase(), PASSWORD).await;
    assert_eq!(l.status, StatusCode::OK, "{}", l.body);
    assert_eq!(l.body["data"]["token_type"], json!("Bearer"));
    assert!(l.body["data"]["expires_in"].as_u64().unwrap() > 0);
    let token = l.body["data"]["access_token"].as_str().unwrap().to_owned();
    let me = t
        .call(Method::GET, "/api/v1/users/me", Some(&token), None)
        .await;
    assert_eq!(me.status, StatusCode::OK);
    // Tokens and account data are never stored by caches.
    for res in [&s, &l, &me] {
        assert_eq!(
            res.headers["cache-control"], "no-store",
            "{:?}",
            res.headers
        );
    }
    assert_eq!(me.body["data"]["id"], json!(id));

    // Admin lists with pagination.
    let (admin_id, admin) = t.admin(&email("admin")).await;
    let (other_id, other) = t.user(&email("other")).await;
    let list = t
        .call(
            Method::GET,
            "/api/v1/users?page=2&limit=1",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        list.body["meta"]["pagination"],
        json!({"page": 2, "limit": 1, "total": 3, "total_pages": 3})
    );
    let bad_page = t
        .call(Method::GET, "/api/v1/users?limit=1000", Some(&admin), None)
        .await;
    bad_page.expect_error(422, "VALIDATION_ERROR");
    t.call(Method::GET, "/api/v1/users", Some(&token), None)
        .await
        .expect_error(403, "FORBIDDEN");

    // Get by id: MISS then HIT; other users are forbidden, admins allowed.
    let path = format!("/api/v1/users/{id}");
    let first = t.call(Method::GET, &path, Some(&token), None).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.headers["x-cache"], "MISS");
    let second = t.call(Method::GET, &path, Some(&admin), None).await;
    assert_eq!(second.headers["x-cache"], "HIT");
    assert_eq!(second.body["data"], first.body["data"]);
    t.call(Method::GET, &path, Some(&other), None)
        .await
        .expect_error(403, "FORBIDDEN");
    let own = t
        .call(
            Method::GET,
            &format!("/api/v1/users/{other_id}"),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(own.status, StatusCode::OK);

    // Patch invalidates the cache; the next read is a MISS with the new value.
    let p = t
        .call(
            Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"first_name": "augusta", "phone": null})),
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert_eq!(p.body["data"]["first_name"], json!("Augusta"));
    assert_eq!(p.body["data"]["phone"], json!(null));
    let after = t.call(Method::GET, &path, Some(&token), None).await;
    assert_eq!(after.headers["x-cache"], "MISS");
    assert_eq!(after.body["data"]["first_name"], json!("Augusta"));
    t.call(
        Method::PATCH,
        &path,
        Some(&other),
        Some(json!({"first_name": "Mallory"})),
    )
    .await
    .expect_error(403, "FORBIDDEN");
    t.call(
        Method::PATCH,
        &path,
        Some(&token),
        Some(json!({"first_name": "x"})),
    )
    .await
    .expect_error(422, "VALIDATION_ERROR");

    // Delete: admin only, 204, then 404.
    t.call(Method::DELETE, &path, Some(&token), None)
        .await
        .expect_error(403, "FORBIDDEN");
    let del = t.call(Method::DELETE, &path, Some(&admin), None).await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    assert_security_headers(&del.headers);
    t.call(Method::GET, &path, Some(&admin), None)
        .await
        .expect_error(404, "NOT_FOUND");
    t.call(Method::DELETE, &path, Some(&admin), None)
        .await
        .expect_error(404, "NOT_FOUND");
    assert_ne!(admin_id, id);

    // A malformed id: 422 naming the parameter (keel-envelope's `Path<Uuid>`), on every
    // method, without echoing what was sent; authentication still comes first.
    for method in [Method::GET, Method::PATCH, Method::DELETE] {
        let body = (method == Method::PATCH).then(|| json!({"first_name": "Ada"}));
        let bad = t
            .call(method, "/api/v1/users/zz-not-a-uuid", Some(&admin), body)
            .await;
        bad.expect_error(422, "VALIDATION_ERROR");
        assert_eq!(
            bad.body["error"]["fields"][0]["field"],
            json!("id"),
            "{}",
            bad.body
        );
        assert!(
            !String::from_utf8_lossy(&bad.raw).contains("zz"),
            "{}",
            bad.body
        );
    }
    t.call(Method::GET, "/api/v1/users/zz-not-a-uuid", None, None)
        .await
        .expect_error(401, "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_role_change_applies_with_the_profile_change_and_only_a_real_change_revokes() {
    let Some(t) = app_with_test_routes().await else {
        return;
    };
    let (_, admin) = t.admin(&email("roles-admin")).await;
    let (id, token) = t.user(&email("roles-user")).await;
    let path = format!("/api/v1/users/{id}");
    let me = |token: &str| {
        let t = &t;
        let token = token.to_owned();
        async move {
            t.call(Method::GET, "/api/v1/users/me", Some(&token), None)
                .await
                .status
        }
    };
    // The role it already has: nothing changes, the user's token stays valid (the revoking
    // replica drops its revocation cache at once, so this is not a timing question).
    let same = json!({"role": "user"});
    let p = t.call(Method::PATCH, &path, Some(&admin), Some(same)).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert_eq!(me(&token).await, StatusCode::OK);
    // A name and a promotion in one request: both stored (one statement), old tokens revoked.
    let both = json!({"first_name": "grace", "role": "admin"});
    let p = t.call(Method::PATCH, &path, Some(&admin), Some(both)).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert_eq!(p.body["data"]["first_name"], json!("Grace"));
    assert_eq!(p.body["data"]["role"], json!("admin"));
    let stored = t.call(Method::GET, &path, Some(&admin), None).await;
    assert_eq!(
        stored.body["data"]["role"],
        json!("admin"),
        "{}",
        stored.body
    );
    assert_eq!(stored.body["data"]["first_name"], json!("Grace"));
    assert_eq!(me(&token).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn create_admin_promotes_an_existing_user_sets_its_password_and_revokes_its_tokens() {
    let Some(t) = app_with_test_routes().await else {
        return;
    };
    let mail = email("promoted");
    let (id, token) = t.user(&mail).await;
    let path = format!("/api/v1/users/{id}");
    // Read once, so the user is cached with its old role.
    let cached = t.call(Method::GET, &path, Some(&token), None).await;
    assert_eq!(cached.body["data"]["role"], json!("user"));
    let new_password = "another correct horse staple";
    let admin = t
        .state
        .users
        .create_admin(mail.clone(), new_password.to_owned());
    let admin = admin.await.unwrap();
    assert_eq!((admin.id.to_string(), admin.role), (id, Role::Admin));
    assert_eq!(admin.first_name, "Ada", "the profile is kept");
    let me = t.call(Method::GET, "/api/v1/users/me", Some(&token), None);
    me.await.expect_error(401, "UNAUTHENTICATED");
    let old = t.login(&mail, PASSWORD).await;
    old.expect_error(401, "UNAUTHENTICATED");
    let l = t.login(&mail, new_password).await;
    assert_eq!(l.status, StatusCode::OK, "{}", l.body);
    let token = l.body["data"]["access_token"].as_str().unwrap();
    // The cached copy was dropped: the read shows the new role.
    let user = t.call(Method::GET, &path, Some(token), None).await;
    assert_eq!(user.body["data"]["role"], json!("admin"), "{}", user.body);
    let list = t
        .call(Method::GET, "/api/v1/users", Some(token), None)
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
}

#[tokio::test]
async fn every_error_row_has_status_code_and_security_headers() {
    let Some(t) = app_with_test_routes().await else {
        return;
    };
    t.call(Method::GET, "/nope", None, None)
        .await
        .expect_error(404, "NOT_FOUND");
    t.call(Method::PUT, "/api/v1/auth/login", None, None)
        .await
        .expect_error(405, "METHOD_NOT_ALLOWED");

    let raw = |body: &'static str, ct: &'static str| {
        Request::post("/api/v1/auth/signup")
            .header("content-type", ct)
            .body(Body::from(body))
            .unwrap()
    };
    t.send(raw("{\"email\":", "application/json"))
        .await
        .expect_error(400, "MALFORMED_JSON");
    t.send(raw("email=a", "application/x-www-form-urlencoded"))
        .await
        .expect_error(415, "UNSUPPORTED_MEDIA_TYPE");
    let big = format!("{{\"email\":\"{}\"}}", "a".repeat(70 * 1024));
    t.send(
        Request::post("/api/v1/auth/signup")
            .header("content-type", "application/json")
            .body(Body::from(big))
            .unwrap(),
    )
    .await
    .expect_error(413, "PAYLOAD_TOO_LARGE");

    // Validation: every field at once, in declaration order, never echoing the password.
    let v = t
        .call(
            Method::POST,
            "/api/v1/auth/signup",
            None,
            Some(json!({"email": "not-an-email", "password": "password", "first_name": "A", "last_name": "<i></i>", "phone": "12"})),
        )
        .await;
    v.expect_error(422, "VALIDATION_ERROR");
    let fields: Vec<&str> = v.body["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    for f in ["email", "first_name", "last_name", "password", "phone"] {
        assert!(fields.contains(&f), "{f} in {fields:?}");
    }
    assert!(!String::from_utf8_lossy(&v.raw).contains("\"password\":\"password\""));

    // Duplicate e-mail, case-insensitive.
    let mail = email("dup");
    assert_eq!(t.signup(&mail).await.status, StatusCode::CREATED);
    t.signup(&mail.to_uppercase())
        .await
        .expect_error(409, "CONFLICT");

    // Auth: missing / garbage / forged → 401 with WWW-Authenticate; wrong password 401.
    let r = t.call(Method::GET, "/api/v1/users/me", None, None).await;
    r.expect_error(401, "UNAUTHENTICATED");
    assert!(
        r.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let r = t
        .call(Method::GET, "/api/v1/users/me", Some("garbage"), None)
        .await;
    r.expect_error(401, "UNAUTHENTICATED");
    assert!(
        r.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    let other = keel_auth::Key::hs256("k1", b"another-secret-another-secret-0123456789").unwrap();
    let forged = keel_auth::AccessTokens::builder(
        reference_service::auth::ISSUER,
        keel_auth::KeySet::new(other).unwrap(),
    )
    .build()
    .unwrap()
    .issue(keel_auth::Claims::<()>::new(uuid::Uuid::new_v4().to_string()).roles(["admin"]))
    .unwrap()
    .into_string();
    t.call(Method::GET, "/api/v1/users", Some(&forged), None)
        .await
        .expect_error(401, "UNAUTHENTICATED");
    t.login(&mail, "wrong password")
        .await
        .expect_error(401, "UNAUTHENTICATED");
    t.login(&email("nobody"), PASSWORD)
        .await
        .expect_error(401, "UNAUTHENTICATED");

    // Panic → 500 envelope, and the service keeps serving.
    t.call(Method::GET, "/test/panic", None, None)
        .await
        .expect_error(500, "INTERNAL_ERROR");
    let after = t.call(Method::GET, "/test/slow", None, None).await;
    assert_eq!(after.status, StatusCode::OK);

    // Handler over the timeout (1 s in tests) → 504 envelope.
    let start = Instant::now();
    t.call(Method::GET, "/test/hang", None, None)
        .await
        .expect_error(504, "TIMEOUT");
    assert!(start.elapsed() < Duration::from_secs(5));

    // An insane request id is replaced; a sane one is echoed.
    let res = t
        .send(
            Request::get("/nope")
                .header("x-request-id", "abc-123")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(res.headers["x-request-id"], "abc-123");
    assert_eq!(res.body["meta"]["request_id"], json!("abc-123"));
    let res = t
        .send(
            Request::get("/nope")
                .header("x-request-id", "x".repeat(500))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_ne!(res.headers["x-request-id"], "x".repeat(500).as_str());
}

#[tokio::test]
async fn injection_shaped_and_unicode_input_is_stored_verbatim_and_phone_is_encrypted() {
    let Some(t) = spawn(Opts::default()).await else {
        return;
    };
    let cases = [
        ("Robert'); Drop Table Users;--", "Zoë"),
        ("Łukasz", "Ñandú-Æbelø"),
        ("Name' Or '1'='1", "\"Quoted\""),
    ];
    for (first, last) in cases {
        let mail = email("verbatim");
        let s = t
            .call(
                Method::POST,
                "/api/v1/auth/signup",
                None,
                Some(json!({"email": mail, "password": PASSWORD, "first_name": first, "last_name": last, "phone": "+14155552671"})),
            )
            .await;
        assert_eq!(s.status, StatusCode::CREATED, "{}", s.body);
        let got_first = s.body["data"]["first_name"].as_str().unwrap();
        let got_last = s.body["data"]["last_name"].as_str().unwrap();
        assert_eq!(got_first.to_lowercase(), first.to_lowercase());
        assert_eq!(got_last.to_lowercase(), last.to_lowercase());
        // Read back through the API: identical.
        let (_, token) = (
            (),
            t.login(&mail, PASSWORD).await.body["data"]["access_token"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        let me = t
            .call(Method::GET, "/api/v1/users/me", Some(&token), None)
            .await;
        assert_eq!(me.body["data"]["first_name"], json!(got_first));
        assert_eq!(me.body["data"]["last_name"], json!(got_last));
    }
    // The table survived, and no phone is stored in plaintext.
    let db = t.db().await;
    let rows = db
        .query("SELECT phone_encrypted FROM users", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    for row in rows {
        let bytes: Vec<u8> = row.get(0);
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("4155552671"), "phone stored in plaintext");
        assert!(bytes.len() > 12 + 16, "ciphertext carries nonce and tag");
    }
}

#[tokio::test]
async fn graceful_shutdown_finishes_an_in_flight_request() {
    let Some(t) = app_with_test_routes().await else {
        return;
    };
    let (addr, stop, server) = common::serve_on_socket(&t).await;
    let inflight = tokio::spawn(common::raw_get(addr, "/test/drain"));
    // Once the request is in the handler, ask for shutdown; the handler answers after.
    wait_for(&DRAIN_ENTERED).await;
    DRAIN_STOP_SENT.store(true, Ordering::SeqCst);
    stop.send(()).unwrap();
    let res = inflight.await.unwrap();
    assert!(res.starts_with("HTTP/1.1 200"), "{res}");
    assert!(res.ends_with("slow"), "{res}");
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("server stopped after draining")
        .unwrap();
    assert!(t.state.health.is_draining());
    // The listener is closed.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn metrics_and_health_endpoints() {
    let Some(t) = spawn(Opts::default()).await else {
        return;
    };
    t.call(Method::GET, "/nope", None, None).await;
    let live = t.call(Method::GET, "/health/live", None, None).await;
    assert_eq!(live.status, StatusCode::OK);
    assert_security_headers(&live.headers);
    let ready = t.call(Method::GET, "/health/ready", None, None).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);
    let m = t.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(m.status, StatusCode::OK);
    let text = String::from_utf8_lossy(&m.raw);
    assert!(text.contains("http_requests_total"), "{text}");
    assert!(text.contains("route=\"/health/ready\""), "{text}");
    assert!(text.contains("route=\"unmatched\""), "{text}");
    assert!(text.contains("keel_db_pool_max_size"), "{text}");
    assert!(text.contains("keel_cache_hit_ratio"), "{text}");
    assert!(
        text.contains("http_request_duration_seconds_bucket"),
        "{text}"
    );
}

#[tokio::test]
async fn docs_ui_and_openapi_are_served_without_network() {
    let Some(t) = spawn(Opts::default()).await else {
        return;
    };
    let spec = t.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(spec.status, StatusCode::OK);
    assert!(spec.body["openapi"].as_str().unwrap().starts_with("3.1"));
    let ui = t.call(Method::GET, "/docs/", None, None).await;
    assert_eq!(ui.status, StatusCode::OK);
    let html = String::from_utf8_lossy(&ui.raw);
    assert!(html.contains("swagger"), "{html}");
    assert!(
        !html.contains("https://"),
        "the UI loads nothing from the network"
    );
    assert!(
        ui.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("'self'")
    );
}

#[tokio::test]
async fn only_failed_logins_are_limited() {
    let Some(t) = spawn(Opts::default()).await else {
        return;
    };
    let mail = email("limited");
    assert_eq!(t.signup(&mail).await.status, StatusCode::CREATED);
    // Successes never count: an office behind one address logs in all day.
    for i in 0..8 {
        let r = t.login(&mail, PASSWORD).await;
        assert_eq!(r.status, StatusCode::OK, "attempt {i}: {}", r.body);
    }
    // Wrong passwords do: the (account, client) budget is 5 in a burst.
    for i in 0..5 {
        t.login(&mail, "wrong password")
            .await
            .expect_error(401, "UNAUTHENTICATED");
        let _ = i;
    }
    let r = t.login(&mail, "wrong password").await;
    r.expect_error(429, "RATE_LIMITED");
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1, "Retry-After {retry}");
    assert_eq!(r.body["error"]["details"]["retry_after"], json!(retry));
}

#[tokio::test]
async fn two_instances_sharing_redis_enforce_one_login_limit_and_invalidate_each_others_cache() {
    let Some(_) = keel_testkit::redis_url() else {
        return;
    };
    let prefix = keel_testkit::unique_name("refsvc");
    let Some(a) = spawn(Opts {
        redis_prefix: Some(prefix.clone()),
        ..Opts::default()
    })
    .await
    else {
        return;
    };
    let b = spawn(Opts {
        redis_prefix: Some(prefix),
        schema: Some(a.schema.clone()),
        ..Opts::default()
    })
    .await
    .unwrap();

    // Login failures are counted in Redis: 3 on A and 2 on B use up the (account,
    // client) budget of 5; the next one is refused by either instance.
    let mail = email("shared");
    assert_eq!(a.signup(&mail).await.status, StatusCode::CREATED);
    let mut tokens = Vec::new();
    for t in [&a, &b] {
        let r = t.login(&mail, PASSWORD).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        tokens.push(r.body["data"]["access_token"].as_str().unwrap().to_owned());
    }
    for i in 0..5 {
        let t = if i < 3 { &a } else { &b };
        t.login(&mail, "wrong password")
            .await
            .expect_error(401, "UNAUTHENTICATED");
    }
    b.login(&mail, "wrong password")
        .await
        .expect_error(429, "RATE_LIMITED");
    a.login(&mail, "wrong password")
        .await
        .expect_error(429, "RATE_LIMITED");

    // Readiness covers Redis (details for admins).
    let (_, admin) = a.admin(&email("healthadmin")).await;
    let health = a.call(Method::GET, "/health", Some(&admin), None).await;
    assert_eq!(health.status, StatusCode::OK, "{}", health.body);
    assert_eq!(
        health.body["checks"]["redis:responseTime"][0]["status"],
        json!("pass"),
        "{}",
        health.body
    );
    assert_eq!(
        health.body["checks"]["postgres:responseTime"][0]["status"],
        json!("pass")
    );
    let public = a.call(Method::GET, "/health", None, None).await;
    // No details for the public: the status alone (`warn` when a non-critical system
    // check such as disk usage warns on this machine).
    let keys: Vec<&String> = public.body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["status"], "{}", public.body);
    assert_ne!(public.body["status"], json!("fail"));

    // Cache: B caches the user; a PATCH on A invalidates B's copy.
    let me = a
        .call(Method::GET, "/api/v1/users/me", Some(&tokens[0]), None)
        .await;
    let id = me.body["data"]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/users/{id}");
    b.call(Method::GET, &path, Some(&tokens[0]), None).await;
    let hit = b.call(Method::GET, &path, Some(&tokens[0]), None).await;
    assert_eq!(hit.headers["x-cache"], "HIT");
    let p = a
        .call(
            Method::PATCH,
            &path,
            Some(&tokens[0]),
            Some(json!({"last_name": "byron"})),
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    // The broadcast is asynchronous (milliseconds): poll briefly.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let r = b.call(Method::GET, &path, Some(&tokens[0]), None).await;
        if r.body["data"]["last_name"] == json!("Byron") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "B still serves the stale copy: {}",
            r.body
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn postgres_stopped_gives_503_not_hangs_and_recovers_without_restart() {
    // A private server: stopping the shared one would break every other test.
    if keel_testkit::database_url().is_none() {
        return;
    }
    let mut pg = match keel_testkit::TempPostgres::start_new(&std::env::temp_dir()) {
        Ok(pg) => pg,
        Err(e) => panic!("could not start a private PostgreSQL: {e}"),
    };
    let t = spawn(Opts {
        database_url: Some(pg.url()),
        ..Opts::default()
    })
    .await
    .unwrap();
    let (_, token) = t.user(&email("failover")).await;
    assert_eq!(
        t.call(Method::GET, "/health/ready", None, None)
            .await
            .status,
        StatusCode::OK
    );

    pg.stop().unwrap();
    // Readiness is cached for about a second; poll until it reports the outage.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = t.call(Method::GET, "/health/ready", None, None).await;
        if r.status == StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        assert!(Instant::now() < deadline, "readiness never failed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let start = Instant::now();
    let r = t
        .call(Method::GET, "/api/v1/users/me", Some(&token), None)
        .await;
    // The token's revocation check is the first to find PostgreSQL down: 503 (keel-auth's
    // rejection carries no Retry-After yet; reported to its owner).
    r.expect_error(503, "SERVICE_UNAVAILABLE");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "answered in {:?}",
        start.elapsed()
    );

    pg.start().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = t
            .call(Method::GET, "/api/v1/users/me", Some(&token), None)
            .await;
        if r.status == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "no recovery: {}", r.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while t
        .call(Method::GET, "/health/ready", None, None)
        .await
        .status
        != StatusCode::OK
    {
        assert!(Instant::now() < deadline, "readiness never recovered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The cached read is the same bytes however it is answered: the miss that loaded the
/// record, a memory hit, a hit through Redis on a second replica, and `/users/me` (the
/// owned `User`): the phone decrypted per request (Redis holds only its ciphertext) and
/// `created_at` as time's RFC 3339 (fraction trimmed, `Z`), before 1970 too.
#[tokio::test]
async fn cached_read_is_byte_identical_to_a_miss_to_redis_and_to_me() {
    let Some(redis_url) = keel_testkit::redis_url() else {
        return;
    };
    let prefix = keel_testkit::unique_name("refsvc");
    let Some(a) = spawn(Opts {
        redis_prefix: Some(prefix.clone()),
        ..Opts::default()
    })
    .await
    else {
        return;
    };
    let b = spawn(Opts {
        redis_prefix: Some(prefix.clone()),
        schema: Some(a.schema.clone()),
        ..Opts::default()
    })
    .await
    .unwrap();
    let mail = email("bytes");
    let body = json!({"email": mail, "password": PASSWORD, "first_name": "Ada",
        "last_name": "Lovelace", "phone": "+44 20 7183 8750"});
    let s = a
        .call(Method::POST, "/api/v1/auth/signup", None, Some(body))
        .await;
    assert_eq!(s.status, StatusCode::CREATED, "{}", s.body);
    let id = s.body["data"]["id"].as_str().unwrap().to_owned();
    let uuid: uuid::Uuid = id.parse().unwrap();
    let at = "UPDATE users SET created_at = '1969-07-20 20:17:40.5+00' WHERE id = $1";
    a.db().await.execute(at, &[&uuid]).await.unwrap();
    let login = a.login(&mail, PASSWORD).await;
    let token = login.body["data"]["access_token"].as_str().unwrap();

    let path = format!("/api/v1/users/{id}");
    let miss = a.call(Method::GET, &path, Some(token), None).await;
    assert_eq!(miss.status, StatusCode::OK, "{}", miss.body);
    assert_eq!(miss.headers["x-cache"], "MISS");
    let expected = format!(
        r#"{{"success":true,"data":{{"id":"{id}","email":"{mail}","first_name":"Ada","last_name":"Lovelace","phone":"+442071838750","role":"user","created_at":"1969-07-20T20:17:40.5Z"}}}}"#
    );
    assert_eq!(String::from_utf8_lossy(&miss.raw), expected);
    let hit = a.call(Method::GET, &path, Some(token), None).await;
    assert_eq!(hit.headers["x-cache"], "HIT");
    assert_eq!(hit.raw, miss.raw);
    let from_redis = b.call(Method::GET, &path, Some(token), None).await;
    assert_eq!(from_redis.headers["x-cache"], "HIT");
    assert_eq!(from_redis.raw, miss.raw);
    let me = a
        .call(Method::GET, "/api/v1/users/me", Some(token), None)
        .await;
    assert_eq!(me.raw, miss.raw);
    for res in [&miss, &hit, &from_redis, &me] {
        assert_eq!(res.headers["content-type"], "application/json");
        assert_security_headers(&res.headers);
    }

    // Redis holds the record with the phone encrypted: no digit run of it in any value.
    let client = redis::Client::open(redis_url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut records = 0;
    for key in keys {
        let value: Option<Vec<u8>> = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap_or(None);
        let value = String::from_utf8_lossy(value.as_deref().unwrap_or_default()).into_owned();
        records += usize::from(value.contains(&mail));
        assert!(!value.contains("2071838750"), "{key}: {value}");
    }
    assert_eq!(records, 1, "the cached record is in Redis");
}

#[test]
fn openapi_snapshot_covers_every_route() {
    let spec = reference_service::openapi::openapi_json();
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/openapi.json");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &spec).unwrap();
    }
    let stored = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        stored == spec,
        "the OpenAPI document changed; review and refresh with UPDATE_SNAPSHOTS=1 cargo nextest run -p reference-service openapi"
    );
    let doc: serde_json::Value = serde_json::from_str(&spec).unwrap();
    assert_eq!(doc["openapi"], json!("3.1.0"));
    for (path, method) in [
        ("/api/v1/auth/signup", "post"),
        ("/api/v1/auth/login", "post"),
        ("/api/v1/auth/login/mfa", "post"),
        ("/api/v1/auth/refresh", "post"),
        ("/api/v1/auth/logout", "post"),
        ("/api/v1/auth/logout-all", "post"),
        ("/api/v1/auth/password", "put"),
        ("/api/v1/auth/mfa/totp", "post"),
        ("/api/v1/auth/mfa/totp/confirm", "post"),
        ("/api/v1/api-keys", "post"),
        ("/api/v1/users/me", "get"),
        ("/api/v1/users", "get"),
        ("/api/v1/users/{id}", "get"),
        ("/api/v1/users/{id}", "patch"),
        ("/api/v1/users/{id}", "delete"),
        ("/metrics", "get"),
        ("/health/live", "get"),
        ("/health/ready", "get"),
        ("/health", "get"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} documented"
        );
    }
    // Every route with a body documents its error envelope.
    assert!(doc["components"]["schemas"]["ErrorEnvelope"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
    // 429 and 503 on every operation but the (exempt) health probes.
    for (path, item) in doc["paths"].as_object().unwrap() {
        if path.starts_with("/health") {
            continue;
        }
        for (method, op) in item.as_object().unwrap() {
            for status in ["429", "503"] {
                assert!(
                    op["responses"][status].is_object(),
                    "{status} on {method} {path}"
                );
            }
        }
    }
}

#[tokio::test]
async fn replicas_migrating_together_apply_each_migration_once() {
    let Some(base) = keel_testkit::database_url() else {
        return;
    };
    let schema = keel_testkit::unique_name("refsvc_mig");
    common::admin_client(&base)
        .await
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .unwrap();
    let url = common::with_search_path(&base, &schema);
    let (a, b) = tokio::join!(
        reference_service::migrate::run(&url),
        reference_service::migrate::run(&url)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut applied = [a.len(), b.len()];
    applied.sort_unstable();
    assert_eq!(
        applied,
        [0, 1],
        "one replica applied V1, the other found it done"
    );
    // And again: nothing to do.
    assert!(
        reference_service::migrate::run(&url)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn stored_hash(t: &TestApp, mail: &str) -> String {
    t.db()
        .await
        .query_one("SELECT password_hash FROM users WHERE email = $1", &[&mail])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn login_upgrades_a_hash_made_with_old_parameters() {
    let Some(old) = spawn(Opts::default()).await else {
        return;
    };
    let mail = email("rehash");
    assert_eq!(old.signup(&mail).await.status, StatusCode::CREATED);
    let before = stored_hash(&old, &mail).await;
    assert!(before.contains("m=64,t=1,p=1"), "{before}");

    // A new release raises the cost; the next successful login re-hashes.
    let new = spawn(Opts {
        schema: Some(old.schema.clone()),
        env: vec![("KEEL_PASSWORD_HASH", "m=128,t=2,p=1".to_owned())],
        ..Opts::default()
    })
    .await
    .unwrap();
    new.login(&mail, "wrong password")
        .await
        .expect_error(401, "UNAUTHENTICATED");
    assert_eq!(
        stored_hash(&new, &mail).await,
        before,
        "no rehash on a failed login"
    );
    assert_eq!(new.login(&mail, PASSWORD).await.status, StatusCode::OK);
    let after = stored_hash(&new, &mail).await;
    assert!(after.contains("m=128,t=2,p=1"), "{after}");
    // And the upgraded hash still verifies.
    assert_eq!(new.login(&mail, PASSWORD).await.status, StatusCode::OK);
}

#[tokio::test]
async fn global_per_ip_limit_answers_429_envelopes_and_spares_health_probes() {
    let Some(t) = spawn(Opts {
        env: vec![("KEEL_RATE_LIMIT_GLOBAL", "3/minute".to_owned())],
        ..Opts::default()
    })
    .await
    else {
        return;
    };
    for _ in 0..3 {
        let r = t.call(Method::GET, "/api/v1/users/me", None, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(
            r.headers.contains_key("ratelimit"),
            "headers on admitted responses too"
        );
    }
    let r = t.call(Method::GET, "/api/v1/users/me", None, None).await;
    r.expect_error(429, "RATE_LIMITED");
    assert!(r.headers.contains_key("retry-after"));
    // Probes are exempt: a limited client does not take the instance out of rotation.
    for _ in 0..5 {
        assert_eq!(
            t.call(Method::GET, "/health/live", None, None).await.status,
            StatusCode::OK
        );
    }
}
