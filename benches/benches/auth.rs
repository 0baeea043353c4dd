//! keel-auth: access-token verification next to raw `jsonwebtoken::decode` with the same
//! token and key, in one process.
//!
//! Target (issue #13): the extractor path — bearer header parsing, signature, claims
//! validation, and the revocation check (token version + session) answered from the cache —
//! at most 1.3× `jsonwebtoken::decode` into an equivalent plain claims struct.
//!
//! The verified-token cache (on by default): `auth/token_cache_*` pairs the extractor with
//! the cache (a repeated token: SHA-256 of the token, a map lookup, a clone of the claims)
//! against the same extractor with `without_token_cache()` (base64, signature, claims JSON
//! on every request); both run the revocation check.
//!
//! API keys: the extractor (`X-API-Key`) and `ApiKeys::verify` over the memory store, next to
//! the keel-crypto primitives they are built on (parse with checksum + constant-time hash
//! comparison), i.e. what a service would hand-roll around its own lookup.
//!
//! The extractor's future never waits on a cache hit, so it is polled once with a no-op waker
//! instead of going through a runtime (which would add its own cost to one side only).

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use axum::extract::FromRequestParts;
use axum::http::{Request, header, request::Parts};
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use keel_auth::axum::{ApiKeyAuth, Authenticated};
use keel_auth::{
    AccessTokens, ApiKeys, ApiKeysConfig, Authenticator, Claims, Key, KeySet, MemoryApiKeyStore,
    MemoryTokenVersions, NewApiKey, Revocations,
};
use keel_crypto::ApiKey;
use serde::Deserialize;

const SECRET: &[u8] = b"q8Zk3vN1yP0cW7tR5sL2xJ9gH4fD6bM8nV3aE1uK0oI";
const ISSUER: &str = "https://auth.example.com";
const AUDIENCE: &str = "orders-api";

/// The claims struct a user of plain jsonwebtoken would write for the same token.
#[derive(Debug, Deserialize)]
#[allow(dead_code)] // fields are read by serde only: the bench measures decoding them
struct PlainClaims {
    sub: String,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    ver: u64,
    jti: String,
    sid: Option<String>,
    iat: u64,
    exp: u64,
    iss: String,
    aud: String,
}

/// Polls a future that is expected to be ready at once (a cache hit).
fn ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the benchmarked path waited: not a cache hit"),
    }
}

struct Setup {
    auth: Authenticator,
    uncached: Authenticator,
    token: String,
    parts: Parts,
    raw_key: DecodingKey,
    raw_validation: Validation,
}

fn setup(key: Key, raw_key: DecodingKey, alg: Algorithm) -> Setup {
    let tokens = AccessTokens::builder(ISSUER, KeySet::new(key).unwrap_or_else(|e| panic!("{e}")))
        .audience(AUDIENCE)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    // The default revocation cache (500 ms TTL) over the memory store: over a measurement
    // of a second, all but a couple of lookups are cache hits.
    let auth =
        Authenticator::new(tokens).with_revocations(Revocations::new(MemoryTokenVersions::new()));
    let claims = Claims::<()>::new("user-4242")
        .roles(["admin"])
        .permissions(["orders:read", "orders:write"])
        .session("sess-0123456789");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let token = rt
        .block_on(auth.issue(claims))
        .unwrap_or_else(|e| panic!("{e}"))
        .into_string();
    let (parts, ()) = Request::get("/orders")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(())
        .unwrap_or_else(|e| panic!("{e}"))
        .into_parts();
    let mut raw_validation = Validation::new(alg);
    raw_validation.set_audience(&[AUDIENCE]);
    raw_validation.set_issuer(&[ISSUER]);
    raw_validation.leeway = 10;
    let uncached = auth.clone().without_token_cache();
    Setup {
        auth,
        uncached,
        token,
        parts,
        raw_key,
        raw_validation,
    }
}

fn bench_pair(c: &mut Criterion, group: &str, cache_group: &str, mut s: Setup) {
    // Both sides must accept the token, or the comparison is meaningless.
    let raw = jsonwebtoken::decode::<PlainClaims>(&s.token, &s.raw_key, &s.raw_validation);
    assert!(raw.is_ok(), "raw decode rejected the token: {raw:?}");
    let ours = ready(Authenticated::<()>::from_request_parts(
        &mut s.parts,
        &s.auth,
    ));
    assert!(ours.is_ok(), "extractor rejected the token");

    let mut g = c.benchmark_group(group);
    g.bench_function("jsonwebtoken_decode", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<PlainClaims>(black_box(&s.token), &s.raw_key, &s.raw_validation)
                .map(|d| d.claims.exp)
        });
    });
    g.bench_function("keel_verify_signature_and_claims", |b| {
        b.iter(|| {
            s.auth
                .tokens()
                .verify::<()>(black_box(&s.token))
                .map(|c| c.exp)
        });
    });
    g.bench_function("keel_extractor_with_revocation_check", |b| {
        b.iter(|| {
            ready(Authenticated::<()>::from_request_parts(
                black_box(&mut s.parts),
                &s.auth,
            ))
            .map(|a| a.exp)
        });
    });
    g.finish();

    // The same extractor with and without the verified-token cache, same token.
    assert!(s.auth.token_cache_limits().is_some() && s.uncached.token_cache_limits().is_none());
    let mut g = c.benchmark_group(cache_group);
    g.bench_function("keel_extractor_token_cache", |b| {
        b.iter(|| {
            ready(Authenticated::<()>::from_request_parts(
                black_box(&mut s.parts),
                &s.auth,
            ))
            .map(|a| a.exp)
        });
    });
    g.bench_function("extractor_without_token_cache", |b| {
        b.iter(|| {
            ready(Authenticated::<()>::from_request_parts(
                black_box(&mut s.parts),
                &s.uncached,
            ))
            .map(|a| a.exp)
        });
    });
    g.finish();
}

fn hs256(c: &mut Criterion) {
    let key = Key::hs256("k1", SECRET).unwrap_or_else(|e| panic!("{e}"));
    bench_pair(
        c,
        "auth/verify_hs256",
        "auth/token_cache_hs256",
        setup(key, DecodingKey::from_secret(SECRET), Algorithm::HS256),
    );
}

fn eddsa(c: &mut Criterion) {
    let key = Key::generate_ed25519("ed1").unwrap_or_else(|e| panic!("{e}"));
    let public = key.public_key().unwrap_or_else(|| panic!("no public key"));
    bench_pair(
        c,
        "auth/verify_eddsa",
        "auth/token_cache_eddsa",
        setup(key, DecodingKey::from_ed_der(&public), Algorithm::EdDSA),
    );
}

fn api_key(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let config = ApiKeysConfig::builder("kl_live")
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let keys = ApiKeys::new(MemoryApiKeyStore::new(), config);
    let created = rt
        .block_on(keys.create(NewApiKey::new("billing-service", "bench").scope("events:write")))
        .unwrap_or_else(|e| panic!("{e}"));
    let presented = created.key().expose_secret().to_owned();
    let stored_hash = created.key().hash();
    // First use records `last_used_at`; later ones within the interval do not write.
    ready(keys.verify(&presented)).unwrap_or_else(|e| panic!("{e}"));
    let (mut parts, ()) = Request::get("/events")
        .header("x-api-key", presented.as_str())
        .body(())
        .unwrap_or_else(|e| panic!("{e}"))
        .into_parts();
    assert!(ready(ApiKeyAuth::from_request_parts(&mut parts, &keys)).is_ok());

    let mut g = c.benchmark_group("auth/api_key");
    g.bench_function("keel_crypto_parse_and_verify_hash", |b| {
        b.iter(|| ApiKey::parse(black_box(&presented)).map(|k| stored_hash.verify(&k)));
    });
    g.bench_function("keel_auth_api_keys_verify", |b| {
        b.iter(|| ready(keys.verify(black_box(&presented))).map(|p| p.scopes().len()));
    });
    g.bench_function("keel_auth_extractor", |b| {
        b.iter(|| {
            ready(ApiKeyAuth::from_request_parts(black_box(&mut parts), &keys))
                .map(|a| a.scopes().len())
        });
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = keel_benches::criterion_config();
    targets = hs256, eddsa, api_key
}
criterion_main!(benches);
