//! Access tokens through the public API: key rotation, Ed25519 + JWKS interoperability,
//! algorithm pinning, one opaque error for every forged token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keel_auth::token::{AccessTokens, Claims, Key, KeySet};
use keel_auth::{Clock, Error};
use serde_json::{Value, json};

fn clock() -> Clock {
    Clock::manual()
}

fn issuer(keys: KeySet, clock: &Clock) -> AccessTokens {
    AccessTokens::builder("https://issuer.test", keys)
        .audience("api")
        .clock(clock.clone())
        .build()
        .unwrap()
}

fn invalid(r: &keel_auth::Result<Claims>) -> bool {
    matches!(r, Err(Error::InvalidToken))
}

#[test]
fn rotation_keeps_old_tokens_valid_until_their_key_is_removed() {
    let c = clock();
    let t = issuer(
        KeySet::new(Key::generate_hs256("2026-11").unwrap()).unwrap(),
        &c,
    );
    let old = t.issue(Claims::<()>::new("u")).unwrap();

    // Step 1: add the next key; step 2: make it primary.
    t.update_keys(|k| k.insert(Key::generate_hs256("2026-12")?))
        .unwrap();
    t.update_keys(|k| k.set_primary("2026-12")).unwrap();
    let new = t.issue(Claims::<()>::new("u")).unwrap();
    let kid = |tok: &str| jsonwebtoken::decode_header(tok).unwrap().kid.unwrap();
    assert_eq!(kid(old.as_str()), "2026-11");
    assert_eq!(kid(new.as_str()), "2026-12");
    assert!(
        t.verify::<()>(old.as_str()).is_ok(),
        "old key still verifies"
    );
    assert!(t.verify::<()>(new.as_str()).is_ok());

    // A clone shares the keys (what every handler holds).
    let clone = t.clone();
    // Step 3: remove the old key after the token lifetime.
    t.update_keys(|k| k.remove("2026-11").map(drop)).unwrap();
    assert!(
        invalid(&clone.verify(old.as_str())),
        "removed key: rejected"
    );
    assert!(clone.verify::<()>(new.as_str()).is_ok());

    // A failed update leaves the keys as they were.
    assert!(t.update_keys(|k| k.remove("2026-12").map(drop)).is_err());
    assert!(t.update_keys(|k| k.set_primary("nope")).is_err());
    assert_eq!(t.keys().primary().kid(), "2026-12");
    assert!(t.verify::<()>(new.as_str()).is_ok());
}

#[test]
fn eddsa_tokens_verify_from_the_published_jwks_only() {
    let c = clock();
    let signer = issuer(
        KeySet::new(Key::generate_ed25519("ed-1").unwrap()).unwrap(),
        &c,
    );
    let token = signer
        .issue(Claims::<()>::new("svc").permissions(["orders:read"]))
        .unwrap();

    // Another service: only the JWKS document, as JSON over the wire.
    let doc = serde_json::to_string(&signer.jwks()).unwrap();
    assert!(!doc.contains("\"d\""), "no private part in the JWKS: {doc}");
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&doc).unwrap();
    let keys = KeySet::verify_only(jwks.keys.iter().map(|j| Key::from_jwk(j).unwrap())).unwrap();
    let verifier = issuer(keys, &c);
    let claims: Claims = verifier.verify(token.as_str()).unwrap();
    assert_eq!(claims.permissions, ["orders:read"]);
    assert!(
        verifier.issue(Claims::<()>::new("x")).is_err(),
        "verify-only"
    );

    // Plain jsonwebtoken agrees (interoperability), with the key from the JWKS.
    let jwk = jwks.find("ed-1").unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    v.set_audience(&["api"]);
    let raw = jsonwebtoken::decode::<Value>(
        token.as_str(),
        &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
        &v,
    )
    .unwrap();
    assert_eq!(raw.claims["sub"], "svc");

    // HS256 secrets are never published.
    let hs = issuer(KeySet::new(Key::generate_hs256("h").unwrap()).unwrap(), &c);
    assert!(hs.jwks().keys.is_empty());
    let hs_jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(
        &jsonwebtoken::EncodingKey::from_secret(&[1; 32]),
        jsonwebtoken::Algorithm::HS256,
    )
    .unwrap();
    assert!(
        Key::from_jwk(&hs_jwk).is_err(),
        "symmetric keys are not taken from a JWK"
    );
}

#[test]
fn tokens_of_another_algorithm_or_issuer_key_set_are_rejected() {
    let c = clock();
    let ed = issuer(
        KeySet::new(Key::generate_ed25519("shared-kid").unwrap()).unwrap(),
        &c,
    );
    let hs = issuer(
        KeySet::new(Key::generate_hs256("shared-kid").unwrap()).unwrap(),
        &c,
    );
    let from_ed = ed.issue(Claims::<()>::new("u")).unwrap();
    let from_hs = hs.issue(Claims::<()>::new("u")).unwrap();
    // Same kid, other algorithm: the key pins its algorithm.
    assert!(invalid(&hs.verify(from_ed.as_str())));
    assert!(invalid(&ed.verify(from_hs.as_str())));
}

#[test]
fn forged_tokens_are_all_the_same_opaque_error() {
    let c = clock();
    let secret = b"q8Zk3vN1yP0cW7tR5sL2xJ9gH4fD6bM8nV3aE1uK0oI";
    let t = issuer(KeySet::new(Key::hs256("k1", secret).unwrap()).unwrap(), &c);
    let now = c.unix_secs();
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    let forge = |h: &Value, p: &Value, key: &[u8]| {
        let m = format!("{}.{}", b64(h), b64(p));
        let s = URL_SAFE_NO_PAD.encode(keel_crypto::hmac_sha256(key, m.as_bytes()));
        format!("{m}.{s}")
    };
    let h = json!({"alg": "HS256", "typ": "at+jwt", "kid": "k1"});
    let p = json!({"sub": "u", "jti": "j", "iat": now, "exp": now + 60, "iss": "https://issuer.test", "aud": "api"});
    assert!(t.verify::<()>(&forge(&h, &p, secret)).is_ok());
    let mut errors = Vec::new();
    for (hk, hv, pk, pv, key) in [
        ("alg", json!("none"), "", json!(null), &secret[..]),
        ("alg", json!("EdDSA"), "", json!(null), &secret[..]),
        ("kid", json!("k2"), "", json!(null), &secret[..]),
        (
            "",
            json!(null),
            "",
            json!(null),
            &b"wrong-secret-wrong-secret-wrong-secret"[..],
        ),
        ("", json!(null), "exp", json!(now - 60), &secret[..]),
        ("", json!(null), "nbf", json!(now + 60), &secret[..]),
        ("", json!(null), "aud", json!("billing"), &secret[..]),
        (
            "",
            json!(null),
            "iss",
            json!("https://evil.test"),
            &secret[..],
        ),
    ] {
        let (mut h, mut p) = (h.clone(), p.clone());
        if !hk.is_empty() {
            h[hk] = hv;
        }
        if !pk.is_empty() {
            p[pk] = pv;
        }
        let r = t.verify::<()>(&forge(&h, &p, key));
        assert!(invalid(&r), "{hk}{pk}");
        errors.push(r.unwrap_err().to_string());
    }
    errors.dedup();
    assert_eq!(errors, ["the token is invalid or expired"]);
}

#[test]
fn claims_are_bounded_on_issue_and_verify() {
    let c = clock();
    let t = AccessTokens::builder(
        "https://issuer.test",
        KeySet::new(Key::generate_hs256("k").unwrap()).unwrap(),
    )
    .max_claim_entries(3)
    .clock(c)
    .build()
    .unwrap();
    assert!(
        t.issue(Claims::<()>::new("u").roles(["a", "b", "c"]))
            .is_ok()
    );
    assert!(matches!(
        t.issue(Claims::<()>::new("u").roles(["a", "b", "c", "d"])),
        Err(Error::InvalidInput(_))
    ));
    // A token bigger than the bound is refused at issue time rather than minted unusable.
    let big = AccessTokens::builder(
        "https://issuer.test",
        KeySet::new(Key::generate_hs256("k").unwrap()).unwrap(),
    )
    .max_token_len(512)
    .build()
    .unwrap();
    let roles: Vec<String> = (0..40).map(|i| format!("role-{i}")).collect();
    assert!(matches!(
        big.issue(Claims::<()>::new("u").roles(roles)),
        Err(Error::InvalidInput(_))
    ));
}
