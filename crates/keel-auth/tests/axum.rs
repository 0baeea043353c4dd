//! The axum extractors through a real `Router` (`tower::ServiceExt::oneshot`): RFC 6750
//! challenges, one opaque 401 for every bad token, guards, revocation, token responses.
#![cfg(feature = "axum")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, SystemTime};

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{StatusCode, header};
use http_body_util::BodyExt as _;
use keel_auth::axum::{AuthRejection, Authenticated, RequirePermission, RequireRole};
use keel_auth::{
    AccessTokens, Authenticator, Claims, Clock, Key, KeySet, MemoryTokenVersions, RevocationState,
    Revocations, StoreFuture, TokenVersions,
};
use serde_json::{Value, json};
use support::http::Answer;

const SECRET: &[u8] = b"q8Zk3vN1yP0cW7tR5sL2xJ9gH4fD6bM8nV3aE1uK0oI";

keel_auth::role!(Admin = "admin");
keel_auth::permission!(ReportsRead = "reports:read");

struct Fixture {
    clock: Clock,
    auth: Authenticator,
    app: Router,
}

fn fixture() -> Fixture {
    let clock = Clock::manual();
    let tokens = AccessTokens::builder(
        "https://issuer.test",
        KeySet::new(Key::hs256("k1", SECRET).unwrap()).unwrap(),
    )
    .audience("api")
    .clock(clock.clone())
    .build()
    .unwrap();
    let revocations = Revocations::builder(MemoryTokenVersions::new())
        .clock(clock.clone())
        .build();
    let auth = Authenticator::new(tokens).with_revocations(revocations);
    Fixture {
        clock,
        auth: auth.clone(),
        app: app(auth),
    }
}

fn app(auth: Authenticator) -> Router {
    Router::new()
        .route(
            "/me",
            get(|user: Authenticated| async move { user.sub.clone() }),
        )
        .route(
            "/maybe",
            get(|user: Option<Authenticated>| async move {
                user.map_or_else(|| "anonymous".to_owned(), |u| u.sub.clone())
            }),
        )
        .route(
            "/admin",
            get(|a: RequireRole<Admin>| async move { a.sub.clone() }),
        )
        .route(
            "/reports",
            get(|r: RequirePermission<ReportsRead>| async move { r.sub.clone() }),
        )
        .route(
            "/helper",
            get(|user: Authenticated| async move {
                user.require_role("admin").map_err(AuthRejection::from)?;
                Ok::<_, AuthRejection>("ok")
            }),
        )
        .with_state(auth)
}

async fn call(app: &Router, path: &str, authorization: &[&str]) -> Answer {
    let headers: Vec<_> = authorization
        .iter()
        .map(|a| ("authorization", *a))
        .collect();
    support::http::get(app, path, &headers).await
}

async fn bearer(app: &Router, path: &str, token: &str) -> Answer {
    call(app, path, &[&format!("Bearer {token}")]).await
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

fn forge(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let message = format!("{}.{}", b64(header), b64(claims));
    let sig = URL_SAFE_NO_PAD.encode(keel_crypto::hmac_sha256(secret, message.as_bytes()));
    format!("{message}.{sig}")
}

const INVALID: &str = r#"Bearer realm="api", error="invalid_token""#;

#[tokio::test]
async fn missing_or_foreign_credentials_get_a_bare_challenge() {
    let f = fixture();
    for auth in [&[][..], &["Basic dXNlcjpwYXNz"], &["Digest x"]] {
        let a = call(&f.app, "/me", auth).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(
            a.challenge.as_deref(),
            Some(r#"Bearer realm="api""#),
            "{auth:?}"
        );
    }
}

#[tokio::test]
async fn valid_token_is_accepted_with_any_scheme_case() {
    let f = fixture();
    let t = f.auth.issue(Claims::<()>::new("alice")).await.unwrap();
    let a = bearer(&f.app, "/me", t.as_str()).await;
    assert_eq!((a.status, a.body.as_str()), (StatusCode::OK, "alice"));
    let a = call(&f.app, "/me", &[&format!("bearer {}", t.as_str())]).await;
    assert_eq!((a.status, a.body.as_str()), (StatusCode::OK, "alice"));
}

#[tokio::test]
async fn every_bad_token_gets_the_same_opaque_401() {
    let f = fixture();
    let now = f.clock.unix_secs();
    let claims = json!({"sub": "alice", "jti": "j", "iat": now, "exp": now + 600,
                        "iss": "https://issuer.test", "aud": "api", "roles": ["admin"]});
    let header = json!({"alg": "HS256", "typ": "at+jwt", "kid": "k1"});
    let with = |k: &str, v: Value| {
        let mut c = claims.clone();
        c[k] = v;
        c
    };
    let hdr = |k: &str, v: Value| {
        let mut h = header.clone();
        h[k] = v;
        h
    };
    // The baseline forgery is valid: every case below differs from it in one way.
    let good = forge(&header, &claims, SECRET);
    assert_eq!(bearer(&f.app, "/me", &good).await.status, StatusCode::OK);
    let parts: Vec<&str> = good.split('.').collect();

    let issued = f.auth.issue(Claims::<()>::new("bob")).await.unwrap();
    let expired_later = issued.as_str().to_owned();

    let cases: Vec<(&str, String)> = vec![
        (
            "alg none",
            format!("{}.{}.", b64(&hdr("alg", json!("none"))), b64(&claims)),
        ),
        (
            "wrong key",
            forge(&header, &claims, b"a-different-secret-of-enough-length!!"),
        ),
        (
            "wrong kid",
            forge(&hdr("kid", json!("k9")), &claims, SECRET),
        ),
        (
            "tampered claims",
            format!(
                "{}.{}.{}",
                parts[0],
                b64(&with("sub", json!("root"))),
                parts[2]
            ),
        ),
        (
            "expired",
            forge(&header, &with("exp", json!(now - 3600)), SECRET),
        ),
        (
            "not yet valid",
            forge(&header, &with("nbf", json!(now + 3600)), SECRET),
        ),
        (
            "wrong audience",
            forge(&header, &with("aud", json!("other-api")), SECRET),
        ),
        (
            "wrong issuer",
            forge(&header, &with("iss", json!("https://evil.test")), SECRET),
        ),
        (
            "wrong typ",
            forge(&hdr("typ", json!("JWT")), &claims, SECRET),
        ),
        ("garbage", "not.a.jwt".to_owned()),
        ("too long", "a".repeat(9000)),
    ];
    let reference = bearer(&f.app, "/me", &cases[0].1).await;
    assert_eq!(reference.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reference.challenge.as_deref(), Some(INVALID));
    assert!(!reference.body.is_empty());
    for (name, token) in &cases {
        let a = bearer(&f.app, "/me", token).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{name}");
        assert_eq!(a.challenge.as_deref(), Some(INVALID), "{name}");
        assert_eq!(a.body, reference.body, "{name}: the body must not say why");
    }
    // Malformed headers: empty token, two tokens, two Authorization headers.
    for auth in [
        &["Bearer "][..],
        &["Bearer a b"],
        &[&format!("Bearer {good}"), "Bearer x"],
    ] {
        let a = call(&f.app, "/me", auth).await;
        assert_eq!(
            (a.status, a.challenge.as_deref()),
            (StatusCode::UNAUTHORIZED, Some(INVALID))
        );
        assert_eq!(a.body, reference.body);
    }
    // A token of ours, once expired (paused clock, no sleeping).
    f.clock.advance(Duration::from_secs(15 * 60 + 10));
    let a = bearer(&f.app, "/me", &expired_later).await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (StatusCode::UNAUTHORIZED, reference.body.as_str())
    );
}

#[tokio::test]
async fn guards_answer_403_insufficient_scope() {
    let f = fixture();
    let user = f
        .auth
        .issue(Claims::<()>::new("u").roles(["user"]))
        .await
        .unwrap();
    let admin = f
        .auth
        .issue(
            Claims::<()>::new("a")
                .roles(["admin"])
                .permissions(["reports:read"]),
        )
        .await
        .unwrap();
    for path in ["/admin", "/reports", "/helper"] {
        let a = bearer(&f.app, path, user.as_str()).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(
            a.challenge.as_deref(),
            Some(r#"Bearer realm="api", error="insufficient_scope""#),
            "{path}"
        );
        assert_eq!(
            bearer(&f.app, path, admin.as_str()).await.status,
            StatusCode::OK,
            "{path}"
        );
        // No token: still 401, never 403.
        assert_eq!(
            call(&f.app, path, &[]).await.status,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
    }
}

#[tokio::test]
async fn optional_extractor() {
    let f = fixture();
    let a = call(&f.app, "/maybe", &[]).await;
    assert_eq!((a.status, a.body.as_str()), (StatusCode::OK, "anonymous"));
    let a = bearer(&f.app, "/maybe", "forged.token.here").await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let t = f.auth.issue(Claims::<()>::new("carol")).await.unwrap();
    assert_eq!(bearer(&f.app, "/maybe", t.as_str()).await.body, "carol");
}

#[tokio::test]
async fn revoked_tokens_get_the_same_401() {
    let f = fixture();
    let reference = bearer(&f.app, "/me", "x.y.z").await;
    let s1 = f
        .auth
        .issue(Claims::<()>::new("dave").session("s1"))
        .await
        .unwrap();
    let s2 = f
        .auth
        .issue(Claims::<()>::new("dave").session("s2"))
        .await
        .unwrap();
    assert_eq!(
        bearer(&f.app, "/me", s1.as_str()).await.status,
        StatusCode::OK
    );

    f.auth.revoke_session("dave", "s1").await.unwrap();
    let a = bearer(&f.app, "/me", s1.as_str()).await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (StatusCode::UNAUTHORIZED, reference.body.as_str())
    );
    assert_eq!(
        bearer(&f.app, "/me", s2.as_str()).await.status,
        StatusCode::OK
    );

    f.auth.revoke_all("dave").await.unwrap();
    let a = bearer(&f.app, "/me", s2.as_str()).await;
    assert_eq!(
        (a.status, a.challenge.as_deref()),
        (StatusCode::UNAUTHORIZED, Some(INVALID))
    );
    // New tokens carry the new version and work again.
    let fresh = f
        .auth
        .issue(Claims::<()>::new("dave").session("s1"))
        .await
        .unwrap();
    let a = bearer(&f.app, "/me", fresh.as_str()).await;
    assert_eq!(
        a.status,
        StatusCode::UNAUTHORIZED,
        "s1 stays revoked until its tokens expired"
    );
    f.clock.advance(Duration::from_secs(15 * 60 + 12));
    let fresh = f
        .auth
        .issue(Claims::<()>::new("dave").session("s1"))
        .await
        .unwrap();
    assert_eq!(
        bearer(&f.app, "/me", fresh.as_str()).await.status,
        StatusCode::OK
    );
}

/// A store that is down.
#[derive(Debug)]
struct Down;

impl TokenVersions for Down {
    fn get<'a>(&'a self, _: &'a str, _: SystemTime) -> StoreFuture<'a, RevocationState> {
        Box::pin(async {
            Err(keel_auth::Error::store(std::io::Error::other(
                "connection refused",
            )))
        })
    }
    fn bump<'a>(&'a self, _: &'a str, _: SystemTime) -> StoreFuture<'a, u64> {
        Box::pin(async {
            Err(keel_auth::Error::store(std::io::Error::other(
                "connection refused",
            )))
        })
    }
    fn revoke_session<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        _: SystemTime,
        _: SystemTime,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async {
            Err(keel_auth::Error::store(std::io::Error::other(
                "connection refused",
            )))
        })
    }
}

#[tokio::test]
async fn a_store_outage_fails_closed_with_503() {
    let f = fixture();
    let token = f.auth.issue(Claims::<()>::new("erin")).await.unwrap();
    let down = Authenticator::new(f.auth.tokens().clone()).with_revocations(Revocations::new(Down));
    let a = bearer(&app(down), "/me", token.as_str()).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(a.challenge.is_none());
    assert!(!a.body.contains("refused"), "{}", a.body);
}

#[tokio::test]
async fn realm_is_configurable_and_sanitized() {
    let f = fixture();
    let auth = f.auth.clone().with_realm("orders \"v2\"\r\n");
    assert_eq!(auth.realm(), "orders v2");
    let a = call(&app(auth), "/me", &[]).await;
    assert_eq!(a.challenge.as_deref(), Some(r#"Bearer realm="orders v2""#));
}

#[tokio::test]
async fn token_response_is_rfc6749_and_not_cached() {
    let f = fixture();
    let body = f
        .auth
        .issue(Claims::<()>::new("frank"))
        .await
        .unwrap()
        .into_token_response()
        .with_refresh_token("r-opaque");
    let res = body.into_response();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
    assert_eq!(res.headers()[header::PRAGMA], "no-cache");
    assert_eq!(res.headers()[header::CONTENT_TYPE], "application/json");
    let json: Value =
        serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(json["token_type"], "Bearer");
    assert_eq!(json["expires_in"], 900);
    assert_eq!(json["refresh_token"], "r-opaque");
    assert!(json["access_token"].as_str().unwrap().split('.').count() == 3);
    // An AccessToken is a response by itself (no refresh token).
    let alone = f
        .auth
        .issue(Claims::<()>::new("frank"))
        .await
        .unwrap()
        .into_response();
    assert_eq!(alone.headers()[header::CACHE_CONTROL], "no-store");
    let json: Value =
        serde_json::from_slice(&alone.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert!(json.get("refresh_token").is_none());
    assert_eq!(json["token_type"], "Bearer");
}

#[cfg(feature = "errors")]
#[tokio::test]
async fn with_errors_the_bodies_are_envelopes() {
    let f = fixture();
    let a = bearer(&f.app, "/me", "x.y.z").await;
    let json: Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(json["success"], false);
    assert_eq!(json["error"]["code"], "UNAUTHENTICATED");
    let user = f.auth.issue(Claims::<()>::new("u")).await.unwrap();
    let a = bearer(&f.app, "/admin", user.as_str()).await;
    let json: Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(json["error"]["code"], "FORBIDDEN");
    // `?` on keel_auth::Error in a handler returning ApiError.
    let h = Router::new()
        .route(
            "/h",
            get(|u: Authenticated| async move {
                u.require_permission("x")?;
                Ok::<_, keel_errors::ApiError>("ok")
            }),
        )
        .with_state(f.auth.clone());
    let a = bearer(&h, "/h", user.as_str()).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(
        a.challenge.as_deref(),
        Some(r#"Bearer realm="api", error="insufficient_scope""#)
    );
}
