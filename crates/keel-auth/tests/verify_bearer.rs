//! `VerifyBearerLayer` through a real `Router`: a valid, unrevoked token is recorded in the
//! extensions; no token, a bad one, a revoked one or a store outage let the request through
//! unmarked (never a rejection); the extractors reuse what the layer verified.
#![cfg(feature = "axum")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use axum::routing::get;
use axum::{Extension, Router};
use http::StatusCode;
use keel_auth::axum::{Authenticated, VerifyBearerLayer};
use keel_auth::{
    AccessTokens, Authenticator, Claims, Clock, Key, KeySet, MemoryTokenVersions, RevocationState,
    Revocations, StoreFuture, TokenVersions,
};

/// Counts version lookups (every verification makes one: the cache is off).
#[derive(Debug)]
struct Counting {
    inner: MemoryTokenVersions,
    gets: Arc<AtomicUsize>,
    down: Arc<AtomicBool>,
}

impl TokenVersions for Counting {
    fn get<'a>(&'a self, subject: &'a str, now: SystemTime) -> StoreFuture<'a, RevocationState> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Box::pin(async {
                Err(keel_auth::Error::store(std::io::Error::other("refused")))
            });
        }
        self.inner.get(subject, now)
    }
    fn bump<'a>(&'a self, subject: &'a str, now: SystemTime) -> StoreFuture<'a, u64> {
        self.inner.bump(subject, now)
    }
    fn revoke_session<'a>(
        &'a self,
        subject: &'a str,
        session: &'a str,
        until: SystemTime,
        now: SystemTime,
    ) -> StoreFuture<'a, ()> {
        self.inner.revoke_session(subject, session, until, now)
    }
}

struct Fixture {
    auth: Authenticator,
    gets: Arc<AtomicUsize>,
    down: Arc<AtomicBool>,
    app: Router,
}

impl Fixture {
    /// Version lookups so far (issuing a token makes one too).
    fn lookups(&self) -> usize {
        self.gets.load(Ordering::SeqCst)
    }
}

fn fixture() -> Fixture {
    let clock = Clock::manual();
    let keys = KeySet::new(Key::generate_hs256("k1").unwrap()).unwrap();
    let tokens = AccessTokens::builder("https://issuer.test", keys)
        .clock(clock.clone())
        .build()
        .unwrap();
    let (gets, down) = (Arc::default(), Arc::default());
    let store = Counting {
        inner: MemoryTokenVersions::new(),
        gets: Arc::clone(&gets),
        down: Arc::clone(&down),
    };
    let revocations = Revocations::builder(store)
        .cache_ttl(Duration::ZERO)
        .clock(clock)
        .build();
    let auth = Authenticator::new(tokens).with_revocations(revocations);
    let app = Router::new()
        .route(
            "/who",
            get(|user: Option<Extension<Authenticated>>| async move {
                user.map_or_else(
                    || "anonymous".to_owned(),
                    |Extension(u)| format!("{} {:?}", u.sub, u.roles),
                )
            }),
        )
        .route(
            "/me",
            get(|user: Authenticated| async move { user.sub.clone() }),
        )
        .layer(VerifyBearerLayer::new(auth.clone()))
        .with_state(auth.clone());
    Fixture {
        auth,
        gets,
        down,
        app,
    }
}

async fn who(app: &Router, authorization: Option<&str>) -> (StatusCode, String) {
    let headers: Vec<_> = authorization
        .map(|a| ("authorization", a))
        .into_iter()
        .collect();
    let a = support::http::get(app, "/who", &headers).await;
    (a.status, a.body)
}

fn check((status, body): (StatusCode, String), expected: &str) {
    assert_eq!((status, body.as_str()), (StatusCode::OK, expected));
}

#[tokio::test]
async fn records_a_valid_token_and_lets_everything_else_through() {
    let f = fixture();
    let admin = f
        .auth
        .issue(Claims::<()>::new("ada").roles(["admin"]))
        .await
        .unwrap();
    let bearer = format!("Bearer {}", admin.as_str());
    let before = f.lookups();
    check(who(&f.app, Some(&bearer)).await, r#"ada ["admin"]"#);
    check(who(&f.app, None).await, "anonymous");
    for bad in [
        "Bearer forged.token.here",
        "Bearer ",
        "Bearer a b",
        "Basic YWRhOnB3",
    ] {
        check(who(&f.app, Some(bad)).await, "anonymous");
    }
    // Never a lookup without a well-formed, correctly signed token.
    assert_eq!(f.lookups() - before, 1);
}

#[tokio::test]
async fn a_revoked_token_is_not_recorded() {
    let f = fixture();
    let t = f
        .auth
        .issue(Claims::<()>::new("bob").session("s1"))
        .await
        .unwrap();
    let bearer = format!("Bearer {}", t.as_str());
    check(who(&f.app, Some(&bearer)).await, "bob []");
    f.auth.revoke_all("bob").await.unwrap();
    check(who(&f.app, Some(&bearer)).await, "anonymous");
}

#[tokio::test]
async fn a_store_outage_is_not_a_rejection() {
    let f = fixture();
    let t = f.auth.issue(Claims::<()>::new("carol")).await.unwrap();
    f.down.store(true, Ordering::SeqCst);
    check(
        who(&f.app, Some(&format!("Bearer {}", t.as_str()))).await,
        "anonymous",
    );
    // The extractor behind the layer still fails closed.
    let headers = [("authorization", format!("Bearer {}", t.as_str()))];
    let headers: Vec<_> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let a = support::http::get(&f.app, "/me", &headers).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn the_extractor_reuses_what_the_layer_verified() {
    let f = fixture();
    let t = f.auth.issue(Claims::<()>::new("dave")).await.unwrap();
    let before = f.lookups();
    let headers = [("authorization", format!("Bearer {}", t.as_str()))];
    let headers: Vec<_> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let a = support::http::get(&f.app, "/me", &headers).await;
    assert_eq!((a.status, a.body.as_str()), (StatusCode::OK, "dave"));
    assert_eq!(f.lookups() - before, 1, "verified once, not twice");
    // Without the layer's record the extractor verifies (and rejects) as always.
    let a = support::http::get(&f.app, "/me", &[("authorization", "Bearer x.y.z")]).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
}
