//! `keel_auth::axum::SessionRoutes` through a `Router` (`oneshot`, with `ConnectInfo` for the
//! client address) over the PostgreSQL stores and an account table in the same schema,
//! against a real server (`KEEL_TEST_DATABASE_URL`), each test in its own schema: every
//! route's answer (status, code, `Cache-Control`, `Set-Cookie`, `WWW-Authenticate`), refresh
//! reuse, logout, the password rule, API keys refused, and junk input answered 422 before
//! any limiter is charged.
#![cfg(all(
    feature = "postgres",
    feature = "ratelimit",
    feature = "axum",
    feature = "errors"
))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::result_large_err
)]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt as _;
use keel_auth::admission::{HashPurpose, PasswordAdmission};
use keel_auth::axum::{SessionPaths, SessionRoute, SessionRoutes, default_password_rule};
use keel_auth::flow::{Account, AccountStore, AuthComponents, SessionFlow};
use keel_auth::login::{LoginEmail, LoginPolicy};
use keel_auth::{Clock, Error, Key, KeySet, NewApiKey, StoreFuture, migrations};
use keel_crypto::{Argon2Params, AsyncPasswordHasher, KeyRing, PasswordHasher, SecretKey, Totp};
use keel_db_pool::{Config, Pool};
use keel_errors::ApiError;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use tower::ServiceExt as _;

const PASSWORD: &str = "correct horse battery staple";
const MAIL: &str = "ada@example.org";

/// `<schema>.accounts`: subject, e-mail, hash, role, last name (a context word).
struct PgAccounts {
    pool: Pool,
    schema: String,
}

impl PgAccounts {
    fn account(row: &tokio_postgres::Row) -> Account {
        Account::new(
            row.get::<_, String>(0),
            row.get::<_, String>(1),
            row.get::<_, String>(2),
        )
        .roles([row.get::<_, String>(3)])
        .context([row.get::<_, String>(4)])
    }

    fn find<'a>(
        &'a self,
        column: &'static str,
        value: &'a str,
    ) -> StoreFuture<'a, Option<Account>> {
        let sql = format!(
            "SELECT subject, email, hash, role, last_name FROM {}.accounts WHERE {column} = $1",
            self.schema
        );
        Box::pin(async move {
            let row = self.pool.query_opt(&sql, &[&value]).await;
            Ok(row.map_err(Error::store)?.as_ref().map(Self::account))
        })
    }
}

impl AccountStore for PgAccounts {
    fn find_by_login<'a>(&'a self, login: &'a LoginEmail) -> StoreFuture<'a, Option<Account>> {
        self.find("email", login.as_str())
    }

    fn find_by_subject<'a>(&'a self, subject: &'a str) -> StoreFuture<'a, Option<Account>> {
        self.find("subject", subject)
    }

    fn set_password_hash<'a>(&'a self, subject: &'a str, hash: &'a str) -> StoreFuture<'a, bool> {
        let sql = format!(
            "UPDATE {}.accounts SET hash = $2 WHERE subject = $1",
            self.schema
        );
        Box::pin(async move {
            let n = self.pool.execute(&sql, &[&subject, &hash]).await;
            Ok(n.map_err(Error::store)? == 1)
        })
    }
}

struct Setup {
    flow: SessionFlow,
    app: Router,
    clock: Clock,
}

/// The routes over a fresh schema with one account (`ada@example.org`, last name
/// Lovelace); `None` when no server is configured (a failure under
/// `KEEL_REQUIRE_SERVICES=1`).
async fn setup(routes: impl FnOnce(SessionRoutes) -> SessionRoutes) -> Option<Setup> {
    let url = keel_testkit::database_url()?;
    let config = Config::builder().url(&url).max_size(8).build().unwrap();
    let pool = Pool::connect(config).await.expect("connect to PostgreSQL");
    let schema = keel_testkit::unique_name("keel_auth_routes");
    migrations::apply(&pool, &schema).await.unwrap();
    pool.execute(
        &format!(
            "CREATE TABLE {schema}.accounts (subject text PRIMARY KEY, email text UNIQUE NOT NULL, \
             hash text NOT NULL, role text NOT NULL, last_name text NOT NULL)"
        ),
        &[],
    )
    .await
    .unwrap();
    let clock = Clock::manual();
    let hasher = PasswordHasher::new().with_params(Argon2Params::new(64, 1, 1).unwrap());
    let mut parts = AuthComponents::postgres(pool.clone(), &schema, "routes-test")
        .keys(KeySet::new(Key::generate_hs256("k1").unwrap()).unwrap())
        .mfa_key_ring(Arc::new(KeyRing::generate(1).unwrap()))
        .login_policy(LoginPolicy::builder(SecretKey::from_bytes([7; 32])))
        .admission(PasswordAdmission::new(AsyncPasswordHasher::new(hasher)))
        .build()
        .unwrap();
    parts.mfa = parts.mfa.clone().with_clock(clock.clone());
    let hash = parts
        .admission
        .hash(HashPurpose::Signup, &SecretString::from(PASSWORD))
        .await
        .unwrap();
    let sql = format!("INSERT INTO {schema}.accounts VALUES ('u1', $1, $2, 'user', 'Lovelace')");
    pool.execute(&sql, &[&MAIL, &hash]).await.unwrap();
    let flow = SessionFlow::new(parts, PgAccounts { pool, schema });
    let app = routes(SessionRoutes::new(flow.clone())).into_router();
    Some(Setup { flow, app, clock })
}

/// What the tests look at in an answer.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// An error envelope with `status` and `code`, never cached.
    fn error(&self, status: u16, code: &str) -> &Self {
        assert_eq!(self.status.as_u16(), status, "{self:?}");
        assert_eq!(self.body["error"]["code"], code, "{self:?}");
        assert_eq!(self.header(header::CACHE_CONTROL), Some("no-store"));
        self
    }

    fn data(&self, field: &str) -> String {
        assert_eq!(self.status, StatusCode::OK, "{self:?}");
        assert_eq!(self.header(header::CACHE_CONTROL), Some("no-store"));
        assert_eq!(self.header(header::PRAGMA), Some("no-cache"));
        self.body["data"][field].as_str().unwrap().to_owned()
    }
}

/// A request to `path` from `peer`, with a bearer token and a JSON body if given.
struct Call<'a> {
    method: Method,
    path: &'a str,
    peer: &'a str,
    headers: Vec<(header::HeaderName, String)>,
    body: Option<String>,
}

fn call(method: Method, path: &str) -> Call<'_> {
    Call {
        method,
        path,
        peer: "192.0.2.1:4000",
        headers: Vec::new(),
        body: None,
    }
}

impl<'a> Call<'a> {
    fn json(mut self, body: &Value) -> Self {
        self.body = Some(body.to_string());
        self.headers
            .push((header::CONTENT_TYPE, "application/json".into()));
        self
    }

    fn raw(mut self, body: String) -> Self {
        self.body = Some(body);
        self
    }

    fn bearer(self, token: &str) -> Self {
        self.header(header::AUTHORIZATION, format!("Bearer {token}"))
    }

    fn header(mut self, name: header::HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn from(mut self, peer: &'a str) -> Self {
        self.peer = peer;
        self
    }

    async fn send(self, app: &Router) -> Answer {
        let mut req = Request::builder().method(self.method).uri(self.path);
        for (name, value) in self.headers {
            req = req.header(name, value);
        }
        let mut req = req
            .body(self.body.map_or_else(Body::empty, Body::from))
            .unwrap();
        let peer: SocketAddr = self.peer.parse().unwrap();
        req.extensions_mut().insert(ConnectInfo(peer));
        let res = app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
        }
    }
}

const LOGIN: &str = "/api/v1/auth/login";
const REFRESH: &str = "/api/v1/auth/refresh";
const LOGOUT: &str = "/api/v1/auth/logout";
const LOGOUT_ALL: &str = "/api/v1/auth/logout-all";
const PASSWORD_PATH: &str = "/api/v1/auth/password";
const TOTP: &str = "/api/v1/auth/mfa/totp";

async fn login(app: &Router, password: &str) -> Answer {
    call(Method::POST, LOGIN)
        .json(&json!({"email": MAIL, "password": password}))
        .send(app)
        .await
}

/// `(access, refresh)` of a successful login.
async fn tokens(app: &Router) -> (String, String) {
    let a = login(app, PASSWORD).await;
    (a.data("access_token"), a.data("refresh_token"))
}

/// Whether `access` is still accepted (what every bearer route's extractor asks).
async fn works(s: &Setup, access: &str) -> bool {
    let auth = &s.flow.components().authenticator;
    auth.authenticate::<()>(access).await.is_ok()
}

async fn refresh(app: &Router, token: &str) -> Answer {
    call(Method::POST, REFRESH)
        .json(&json!({"refresh_token": token}))
        .send(app)
        .await
}

#[tokio::test]
async fn login_sets_the_device_cookie_and_refresh_rotates_with_reuse_detection() {
    let Some(s) = setup(|r| r).await else { return };
    let l = login(&s.app, PASSWORD).await;
    assert_eq!(l.data("token_type"), "Bearer");
    assert!(l.body["data"]["expires_in"].as_u64().unwrap() > 0);
    let cookie = l.header(header::SET_COOKIE).unwrap();
    assert!(cookie.starts_with("keel_device="), "{cookie}");
    assert!(
        cookie.ends_with("; Path=/api/v1/auth/login; HttpOnly; Secure; SameSite=Strict"),
        "{cookie}"
    );
    assert!(cookie.contains("; Max-Age="), "{cookie}");
    let first = l.data("refresh_token");
    let access = l.data("access_token");
    assert!(works(&s, &access).await);

    let r = refresh(&s.app, &first).await;
    let second = r.data("refresh_token");
    assert_ne!(second, first);
    assert!(r.header(header::SET_COOKIE).is_none());
    // Replaying the spent token ends the whole session, the newest token included.
    refresh(&s.app, &first).await.error(401, "UNAUTHENTICATED");
    refresh(&s.app, &second).await.error(401, "UNAUTHENTICATED");
    // Shapes outside the schema: 422 before the store is asked.
    for bad in [json!(""), json!("a\u{7}b"), json!("x".repeat(257))] {
        let a = call(Method::POST, REFRESH)
            .json(&json!({ "refresh_token": bad }))
            .send(&s.app)
            .await;
        a.error(422, "VALIDATION_ERROR");
        assert_eq!(a.body["error"]["fields"][0]["field"], "refresh_token");
    }
}

#[tokio::test]
async fn bodies_are_checked_before_anything_else() {
    let Some(s) = setup(|r| r.body_limit(1024)).await else {
        return;
    };
    let post = |body: String| call(Method::POST, LOGIN).raw(body);
    // No JSON content type: 415; malformed: 400; unknown field or array: 422.
    post(json!({"email": MAIL, "password": PASSWORD}).to_string())
        .send(&s.app)
        .await
        .error(415, "UNSUPPORTED_MEDIA_TYPE");
    let json_post =
        |body: &str| post(body.to_owned()).header(header::CONTENT_TYPE, "application/json");
    assert_eq!(json_post("{\"email\":").send(&s.app).await.status, 400);
    json_post(r#"{"email":"a@b.c","password":"x","admin":true}"#)
        .send(&s.app)
        .await
        .error(422, "VALIDATION_ERROR");
    json_post(r#"["a@b.c","x"]"#)
        .send(&s.app)
        .await
        .error(422, "VALIDATION_ERROR");
    // Past the body limit: 413, never read into memory.
    let big = format!(r#"{{"email":"{MAIL}","password":"{}"}}"#, "p".repeat(2048));
    assert_eq!(
        json_post(&big).send(&s.app).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
}

#[tokio::test]
async fn junk_logins_get_422_and_never_charge_the_limits() {
    let Some(s) = setup(|r| r).await else { return };
    let junk = [
        json!({"email": "", "password": PASSWORD}),
        json!({"email": "a@", "password": PASSWORD}),
        json!({"email": format!("{}@example.org", "a".repeat(250)), "password": PASSWORD}),
        json!({"email": MAIL, "password": ""}),
        json!({"email": MAIL, "password": "p".repeat(1025)}),
    ];
    for _ in 0..3 {
        for body in &junk {
            let a = call(Method::POST, LOGIN).json(body).send(&s.app).await;
            a.error(422, "VALIDATION_ERROR");
            assert!(a.header(header::SET_COOKIE).is_none());
        }
    }
    // 15 junk requests spent nothing: the (account, client) budget still allows its 5
    // failures (burst 5) before the limit answers.
    for _ in 0..5 {
        let a = login(&s.app, "not the password").await;
        a.error(401, "UNAUTHENTICATED");
        assert!(a.header(header::SET_COOKIE).is_none());
    }
    let mut limited = false;
    for _ in 0..3 {
        let a = login(&s.app, "not the password").await;
        if a.status == StatusCode::TOO_MANY_REQUESTS {
            a.error(429, "RATE_LIMITED");
            assert!(a.header(header::RETRY_AFTER).is_some());
            limited = true;
            break;
        }
    }
    assert!(limited, "failures are limited");
}

#[tokio::test]
async fn the_owners_device_cookie_gets_in_while_strangers_lock_the_account() {
    let Some(s) = setup(|r| r).await else { return };
    let owner = call(Method::POST, LOGIN)
        .from("198.51.100.1:4000")
        .json(&json!({"email": MAIL, "password": PASSWORD}))
        .send(&s.app)
        .await;
    let cookie = owner.header(header::SET_COOKIE).unwrap().to_owned();
    let device = cookie.split(';').next().unwrap().to_owned();
    let mut locked = false;
    for n in 0..20u8 {
        let peer = format!("203.0.113.{n}:4000");
        let a = call(Method::POST, LOGIN)
            .from(&peer)
            .json(&json!({"email": MAIL, "password": "not the password"}))
            .send(&s.app)
            .await;
        if a.status == StatusCode::TOO_MANY_REQUESTS {
            locked = true;
            break;
        }
        a.error(401, "UNAUTHENTICATED");
    }
    assert!(locked, "distributed guessing is stopped");
    let right = json!({"email": MAIL, "password": PASSWORD});
    // A stranger with the right password, or with a forged or injected cookie, waits.
    for cookie in [
        None,
        Some("keel_device=forged"),
        Some("keel_device=\"x\"; keel_device=;"),
    ] {
        let mut c = call(Method::POST, LOGIN)
            .from("198.51.100.77:4000")
            .json(&right);
        if let Some(v) = cookie {
            c = c.header(header::COOKIE, v);
        }
        c.send(&s.app).await.error(429, "RATE_LIMITED");
    }
    // The owner's browser, its cookie among others and in a second Cookie header, gets in.
    let a = call(Method::POST, LOGIN)
        .from("198.51.100.1:4000")
        .header(header::COOKIE, "theme=dark")
        .header(header::COOKIE, format!("lang=en; {device}"))
        .json(&right)
        .send(&s.app)
        .await;
    a.data("access_token");
}

#[tokio::test]
async fn logout_ends_this_session_and_logout_all_every_session() {
    let Some(s) = setup(|r| r).await else { return };
    let (a1, r1) = tokens(&s.app).await;
    let (a2, r2) = tokens(&s.app).await;
    // The bearer is required; the body is checked.
    let a = call(Method::POST, LOGOUT)
        .json(&json!({"refresh_token": r1}))
        .send(&s.app)
        .await;
    a.error(401, "UNAUTHENTICATED");
    assert_eq!(
        a.header(header::WWW_AUTHENTICATE),
        Some(r#"Bearer realm="api""#)
    );
    call(Method::POST, LOGOUT)
        .bearer(&a1)
        .json(&json!({"refresh_token": ""}))
        .send(&s.app)
        .await
        .error(422, "VALIDATION_ERROR");
    assert!(works(&s, &a1).await, "a refused logout revokes nothing");

    let out = call(Method::POST, LOGOUT)
        .bearer(&a1)
        .json(&json!({"refresh_token": r1}))
        .send(&s.app)
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert_eq!(out.header(header::CACHE_CONTROL), Some("no-store"));
    assert!(!works(&s, &a1).await);
    refresh(&s.app, &r1).await.error(401, "UNAUTHENTICATED");
    // The other session lives on...
    assert!(works(&s, &a2).await);
    let (a3, r3) = tokens(&s.app).await;
    // ...until logout everywhere.
    let all = call(Method::POST, LOGOUT_ALL)
        .bearer(&a2)
        .send(&s.app)
        .await;
    assert_eq!(all.status, StatusCode::NO_CONTENT);
    for (access, token) in [(&a2, &r2), (&a3, &r3)] {
        assert!(!works(&s, access).await);
        refresh(&s.app, token).await.error(401, "UNAUTHENTICATED");
    }
    let a = call(Method::POST, LOGOUT_ALL)
        .bearer(&a2)
        .send(&s.app)
        .await;
    a.error(401, "UNAUTHENTICATED");
    assert_eq!(
        a.header(header::WWW_AUTHENTICATE),
        Some(r#"Bearer realm="api", error="invalid_token""#)
    );
}

#[tokio::test]
async fn api_keys_cannot_manage_sessions() {
    let Some(s) = setup(|r| r).await else { return };
    let keys = &s.flow.components().api_keys;
    let key = keys.create(NewApiKey::new("u1", "svc")).await.unwrap();
    let key = key.key().expose_secret().to_owned();
    let routes = [
        (Method::POST, LOGOUT, Some(json!({"refresh_token": "x"}))),
        (Method::POST, LOGOUT_ALL, None),
        (
            Method::PUT,
            PASSWORD_PATH,
            Some(json!({"current_password": PASSWORD, "new_password": "whatever it is now"})),
        ),
        (Method::POST, TOTP, None),
        (
            Method::POST,
            "/api/v1/auth/mfa/totp/confirm",
            Some(json!({"code": "123456"})),
        ),
    ];
    for (method, path, body) in routes {
        for (name, value, status) in [
            (
                header::HeaderName::from_static("x-api-key"),
                key.clone(),
                403,
            ),
            (header::AUTHORIZATION, format!("ApiKey {key}"), 403),
            (
                header::HeaderName::from_static("x-api-key"),
                format!("{key}x"),
                401,
            ),
        ] {
            let mut c = call(method.clone(), path).header(name, value);
            if let Some(b) = &body {
                c = c.json(b);
            }
            let a = c.send(&s.app).await;
            let code = if status == 403 {
                "FORBIDDEN"
            } else {
                "UNAUTHENTICATED"
            };
            a.error(status, code);
            let challenge = a.header(header::WWW_AUTHENTICATE).unwrap();
            assert!(challenge.starts_with("ApiKey "), "{challenge}");
        }
    }
    // The refused password change changed nothing.
    login(&s.app, PASSWORD).await.data("access_token");
}

#[tokio::test]
async fn password_change_checks_the_current_one_then_the_rule_then_ends_every_session() {
    let rule = |account: &Account, new: &SecretString| {
        default_password_rule(account, new)?;
        if new.expose_secret().contains("acme") {
            return Err(ApiError::bad_request("no company names"));
        }
        Ok(())
    };
    let Some(s) = setup(|r| r.password_rule(rule)).await else {
        return;
    };
    let (access, refresh_token) = tokens(&s.app).await;
    let change = |current: &str, new: &str| {
        call(Method::PUT, PASSWORD_PATH)
            .bearer(&access)
            .json(&json!({"current_password": current, "new_password": new}))
            .send(&s.app)
    };
    let new = "an entirely different passphrase";
    change("not the password", new)
        .await
        .error(401, "UNAUTHENTICATED");
    // The account's context words and the e-mail address, case-insensitively.
    for weak in ["LOVELACE", "Ada@Example.org", "short"] {
        let a = change(PASSWORD, weak).await;
        a.error(422, "VALIDATION_ERROR");
        assert_eq!(a.body["error"]["fields"][0]["field"], "new_password");
    }
    change(PASSWORD, "acme passphrase rules")
        .await
        .error(400, "BAD_REQUEST");
    // Junk is refused before the current password is even hashed.
    change(&"p".repeat(1025), new)
        .await
        .error(422, "VALIDATION_ERROR");
    assert!(works(&s, &access).await, "nothing changed so far");

    let ok = change(PASSWORD, new).await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT, "{ok:?}");
    assert!(!works(&s, &access).await);
    refresh(&s.app, &refresh_token)
        .await
        .error(401, "UNAUTHENTICATED");
    login(&s.app, PASSWORD).await.error(401, "UNAUTHENTICATED");
    login(&s.app, new).await.data("access_token");
}

#[tokio::test]
async fn totp_enrollment_and_the_login_step_up() {
    let Some(s) = setup(|r| r).await else { return };
    let (access, _) = tokens(&s.app).await;
    let e = call(Method::POST, TOTP).bearer(&access).send(&s.app).await;
    let secret = e.data("secret");
    assert!(e.data("otpauth_uri").starts_with("otpauth://totp/"));
    let app = Totp::from_base32(&secret).unwrap();
    let confirm = |code: Value| {
        call(Method::POST, "/api/v1/auth/mfa/totp/confirm")
            .bearer(&access)
            .json(&json!({ "code": code }))
            .send(&s.app)
    };
    confirm(json!("")).await.error(422, "VALIDATION_ERROR");
    let c = confirm(json!(app.code_at(s.clock.unix_secs()))).await;
    assert_eq!(c.status, StatusCode::OK, "{c:?}");
    assert_eq!(
        c.body["data"]["recovery_codes"].as_array().unwrap().len(),
        10
    );

    // The password alone now yields a challenge, no tokens and no cookie.
    let l = login(&s.app, PASSWORD).await;
    let challenge = l.data("mfa_token");
    assert_eq!(l.body["data"]["mfa_required"], true);
    assert!(l.body["data"].get("access_token").is_none());
    assert!(l.header(header::SET_COOKIE).is_none());
    let step = |token: &str, code: &str| {
        call(Method::POST, "/api/v1/auth/login/mfa")
            .json(&json!({"mfa_token": token, "code": code}))
            .send(&s.app)
    };
    step(&"t".repeat(257), "123456")
        .await
        .error(422, "VALIDATION_ERROR");
    step(&challenge, &"1".repeat(65))
        .await
        .error(422, "VALIDATION_ERROR");
    s.clock.advance(std::time::Duration::from_secs(30));
    let code = app.code_at(s.clock.unix_secs());
    let wrong = if code == "000000" { "111111" } else { "000000" };
    step(&challenge, wrong).await.error(401, "UNAUTHENTICATED");
    let t = step(&challenge, &code).await;
    assert!(works(&s, &t.data("access_token")).await);
    // The challenge is single use.
    step(&challenge, &code).await.error(401, "UNAUTHENTICATED");
}

#[tokio::test]
async fn paths_are_configurable_and_the_cookie_follows_the_login_path() {
    let paths = SessionPaths::new()
        .path(SessionRoute::Login, "/auth/sign-in")
        .disable(SessionRoute::TotpEnroll);
    let Some(s) = setup(|r| r.paths(paths).unwrap()).await else {
        return;
    };
    let l = call(Method::POST, "/auth/sign-in")
        .json(&json!({"email": MAIL, "password": PASSWORD}))
        .send(&s.app)
        .await;
    let cookie = l.header(header::SET_COOKIE).unwrap();
    assert!(cookie.contains("; Path=/auth/sign-in;"), "{cookie}");
    assert_eq!(login(&s.app, PASSWORD).await.status, StatusCode::NOT_FOUND);
    let access = l.data("access_token");
    let a = call(Method::POST, TOTP).bearer(&access).send(&s.app).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    // A wrong method on a served path: 405.
    let a = call(Method::GET, REFRESH).send(&s.app).await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
    // Invalid paths are refused when the router is built, never a panic.
    let bad = SessionPaths::new().path(SessionRoute::Refresh, LOGOUT);
    let err = SessionRoutes::new(s.flow.clone()).paths(bad);
    assert!(matches!(err, Err(Error::Config(_))));
}
