//! A request repeating an access token the verified-token cache holds costs no heap
//! allocation: `Authenticator::authenticate`, `Authenticated`, `Principal` and the guards
//! hand out the cached claims (`Arc`) instead of copying their strings, and the
//! revocation check, still run on every request, answers from its in-memory cache. The
//! same requests still see expiry (by the clock, on every hit) and revocation at once.
//!
//! Counted with a counting global allocator, so this binary holds one test: libtest runs
//! the tests of a binary on parallel threads, whose allocations would be counted too.
#![cfg(feature = "axum")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::alloc::System;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::extract::{FromRef, FromRequestParts};
use http::header::AUTHORIZATION;
use http::request::Parts;
use keel_auth::axum::{AuthRejectionKind, Authenticated, Principal, RequireRole};
use keel_auth::{
    AccessTokens, ApiKeys, ApiKeysConfig, Authenticator, Claims, Clock, Key, KeySet,
    MemoryApiKeyStore, MemoryTokenVersions, Revocations,
};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const SECRET: &[u8] = b"q8Zk3vN1yP0cW7tR5sL2xJ9gH4fD6bM8nV3aE1uK0oI";
const TTL: Duration = Duration::from_secs(60);

keel_auth::role!(Member = "member");

#[derive(Clone, FromRef)]
struct State {
    auth: Authenticator,
    keys: ApiKeys,
}

/// Polls `future` once: every hit path is synchronous underneath (no I/O), so it must be
/// ready at once.
fn ready<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a cache hit waited"),
    }
}

/// `f`'s result and the heap allocations (including reallocations) it made.
fn counted<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let region = Region::new(GLOBAL);
    let out = f();
    let stats = region.change();
    (out, stats.allocations + stats.reallocations)
}

fn parts(authorization: &str) -> Parts {
    http::Request::get("/users/1")
        .header(AUTHORIZATION, authorization)
        .body(())
        .unwrap()
        .into_parts()
        .0
}

#[test]
fn a_verified_token_cache_hit_allocates_nothing_and_still_sees_expiry_and_revocation() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // The counter counts (or every "0" below would be vacuous).
    let (boxed, n) = counted(|| std::hint::black_box(Box::new(7_u64)));
    assert_eq!((*boxed, n), (7, 1));
    let clock = Clock::manual();
    let tokens = AccessTokens::builder(
        "https://issuer.test",
        KeySet::new(Key::hs256("k1", SECRET).unwrap()).unwrap(),
    )
    .audience("api")
    .ttl(TTL)
    .leeway(Duration::ZERO)
    .clock(clock.clone())
    .build()
    .unwrap();
    let revocations = Revocations::builder(MemoryTokenVersions::new())
        .clock(clock.clone())
        .build();
    let auth = Authenticator::new(tokens).with_revocations(revocations);
    let state = State {
        auth: auth.clone(),
        keys: ApiKeys::new(
            MemoryApiKeyStore::new(),
            ApiKeysConfig::builder("kl_test").build().unwrap(),
        ),
    };
    let claims = Claims::<()>::new("user-1")
        .roles(["member"])
        .permissions(["users:read"])
        .session("sess-1");
    let token = rt.block_on(auth.issue(claims)).unwrap();
    let mut parts = parts(&format!("Bearer {}", token.as_str()));

    // The miss verifies and caches; what it answers is what the token says.
    let first = rt
        .block_on(auth.authenticate::<()>(token.as_str()))
        .unwrap();
    assert_eq!(
        first,
        Arc::new(auth.tokens().verify::<()>(token.as_str()).unwrap())
    );
    assert_eq!(
        (first.sub.as_str(), first.sid.as_deref()),
        ("user-1", Some("sess-1"))
    );

    // Hits: the cached claims themselves, no allocation, through every entry point.
    let (hit, n) = counted(|| ready(auth.authenticate::<()>(token.as_str())));
    assert_eq!(n, 0, "Authenticator::authenticate on a hit allocated");
    assert!(Arc::ptr_eq(&hit.unwrap(), &first));

    let (hit, n) = counted(|| ready(Authenticated::<()>::from_request_parts(&mut parts, &state)));
    assert_eq!(n, 0, "Authenticated on a hit allocated");
    assert!(Arc::ptr_eq(&hit.unwrap().0, &first));

    let (hit, n) = counted(|| ready(Principal::<()>::from_request_parts(&mut parts, &state)));
    assert_eq!(n, 0, "Principal on a hit allocated");
    match hit.unwrap() {
        Principal::Token(claims) => assert!(Arc::ptr_eq(&claims, &first)),
        Principal::ApiKey(_) => panic!("a bearer token read as an API key"),
    }

    let (hit, n) = counted(|| {
        ready(RequireRole::<Member>::from_request_parts(
            &mut parts, &state,
        ))
    });
    assert_eq!(n, 0, "RequireRole on a hit allocated");
    assert!(Arc::ptr_eq(&hit.unwrap().into_inner(), &first));

    // Expiry is checked against the clock on every hit: not a second past `exp`.
    clock.advance(TTL - Duration::from_secs(1));
    assert!(ready(Authenticated::<()>::from_request_parts(&mut parts, &state)).is_ok());
    clock.advance(Duration::from_secs(1));
    let expired = rt.block_on(Authenticated::<()>::from_request_parts(&mut parts, &state));
    assert_eq!(expired.unwrap_err().kind(), AuthRejectionKind::InvalidToken);

    // Revocation is checked on every hit: the next request after it is refused.
    let token = rt
        .block_on(auth.issue(Claims::<()>::new("user-1").session("sess-2")))
        .unwrap();
    let mut parts = self::parts(&format!("Bearer {}", token.as_str()));
    assert!(
        rt.block_on(Principal::<()>::from_request_parts(&mut parts, &state))
            .is_ok()
    );
    let (_, n) = counted(|| ready(Principal::<()>::from_request_parts(&mut parts, &state)));
    assert_eq!(n, 0, "the second token's hit allocated");
    rt.block_on(auth.revoke_session("user-1", "sess-2"))
        .unwrap();
    let revoked = rt.block_on(Principal::<()>::from_request_parts(&mut parts, &state));
    assert_eq!(
        revoked.unwrap_err().status(),
        http::StatusCode::UNAUTHORIZED
    );
}
