use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::*;
use crate::token::Key;

const SECRET: &[u8] = b"q8Zk3vN1yP0cW7tR5sL2xJ9gH4fD6bM8nV3aE1uK0oI";

fn clock() -> Clock {
    Clock::manual()
}

fn tokens(clock: &Clock) -> AccessTokens {
    AccessTokens::builder(
        "iss-1",
        KeySet::new(Key::hs256("k1", SECRET).unwrap()).unwrap(),
    )
    .audience("api")
    .clock(clock.clone())
    .build()
    .unwrap()
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

fn hs256(message: &str, secret: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(keel_crypto::hmac_sha256(secret, message.as_bytes()))
}

/// A token signed with `secret` over a hand-built header and payload.
fn forge(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let message = format!("{}.{}", b64(header), b64(claims));
    let sig = hs256(&message, secret);
    format!("{message}.{sig}")
}

fn good_claims(now: u64) -> Value {
    json!({"sub": "u1", "jti": "j1", "iat": now, "exp": now + 600, "iss": "iss-1", "aud": "api", "ver": 0})
}

fn header() -> Value {
    json!({"alg": "HS256", "typ": "at+jwt", "kid": "k1"})
}

fn check(t: &AccessTokens, token: &str, expected: std::result::Result<(), Reject>) {
    let got = t.verify_reason::<()>(token).map(drop);
    assert_eq!(got, expected, "{token}");
    if expected.is_err() {
        assert!(matches!(t.verify::<()>(token), Err(Error::InvalidToken)));
    }
}

#[test]
fn hand_built_token_verifies() {
    // Proves the forging helpers build valid tokens, so each rejection below is for its
    // own reason.
    let c = clock();
    let t = tokens(&c);
    check(
        &t,
        &forge(&header(), &good_claims(c.unix_secs()), SECRET),
        Ok(()),
    );
}

#[test]
fn forged_tokens_are_rejected_for_their_reason() {
    let c = clock();
    let t = tokens(&c);
    let now = c.unix_secs();
    let claims = good_claims(now);
    let with = |k: &str, v: Value| {
        let mut c = claims.clone();
        c[k] = v;
        c
    };
    let without = |k: &str| {
        let mut c = claims.clone();
        c.as_object_mut().unwrap().remove(k);
        c
    };
    let hdr = |k: &str, v: Value| {
        let mut h = header();
        h[k] = v;
        h
    };
    let good = forge(&header(), &claims, SECRET);

    // alg: none, with and without a signature.
    let none = format!("{}.{}.", b64(&hdr("alg", json!("none"))), b64(&claims));
    check(&t, &none, Err(Reject::AlgMismatch));
    check(
        &t,
        &forge(&hdr("alg", json!("none")), &claims, SECRET),
        Err(Reject::AlgMismatch),
    );
    // HS384 with the same secret: the key pins HS256.
    check(
        &t,
        &forge(&hdr("alg", json!("HS384")), &claims, SECRET),
        Err(Reject::AlgMismatch),
    );
    // Wrong key.
    check(
        &t,
        &forge(&header(), &claims, b"another-secret-another-secret-xyz!"),
        Err(Reject::Signature),
    );
    // Wrong / missing kid.
    check(
        &t,
        &forge(&hdr("kid", json!("k2")), &claims, SECRET),
        Err(Reject::UnknownKid),
    );
    let mut no_kid = header();
    no_kid.as_object_mut().unwrap().remove("kid");
    check(
        &t,
        &forge(&no_kid, &claims, SECRET),
        Err(Reject::UnknownKid),
    );
    check(
        &t,
        &forge(&hdr("kid", json!("../../etc")), &claims, SECRET),
        Err(Reject::UnknownKid),
    );
    // Tampered claims: payload swapped, signature kept.
    let parts: Vec<&str> = good.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(&with("sub", json!("admin"))),
        parts[2]
    );
    check(&t, &tampered, Err(Reject::Signature));
    // Tampered signature (flip one character).
    let mut sig = parts[2].to_owned();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    sig.replace_range(0..1, flipped);
    check(
        &t,
        &format!("{}.{}.{sig}", parts[0], parts[1]),
        Err(Reject::Signature),
    );
    // Time.
    check(
        &t,
        &forge(&header(), &with("exp", json!(now - 11)), SECRET),
        Err(Reject::Expired),
    );
    check(
        &t,
        &forge(&header(), &with("nbf", json!(now + 60)), SECRET),
        Err(Reject::NotYetValid),
    );
    check(
        &t,
        &forge(&header(), &with("iat", json!(now + 60)), SECRET),
        Err(Reject::IssuedInFuture),
    );
    // Issuer and audience.
    check(
        &t,
        &forge(&header(), &with("iss", json!("evil")), SECRET),
        Err(Reject::Issuer),
    );
    check(
        &t,
        &forge(&header(), &without("iss"), SECRET),
        Err(Reject::Issuer),
    );
    check(
        &t,
        &forge(&header(), &with("aud", json!("other")), SECRET),
        Err(Reject::Audience),
    );
    check(
        &t,
        &forge(&header(), &without("aud"), SECRET),
        Err(Reject::Audience),
    );
    check(
        &t,
        &forge(&header(), &with("aud", json!(["x", "api"])), SECRET),
        Ok(()),
    );
    // Missing registered claims.
    for k in ["exp", "iat", "sub", "jti"] {
        check(
            &t,
            &forge(&header(), &without(k), SECRET),
            Err(Reject::Claims),
        );
    }
    check(
        &t,
        &forge(&header(), &with("exp", json!(1.5e9)), SECRET),
        Err(Reject::Claims),
    );
    check(
        &t,
        &forge(&header(), &with("exp", json!("soon")), SECRET),
        Err(Reject::Claims),
    );
    // Header shape.
    check(
        &t,
        &forge(&hdr("typ", json!("JWT")), &claims, SECRET),
        Err(Reject::Typ),
    );
    check(
        &t,
        &forge(&hdr("crit", json!(["exp"])), &claims, SECRET),
        Err(Reject::Critical),
    );
    // Shape and size.
    check(&t, "", Err(Reject::Malformed));
    check(&t, "a.b", Err(Reject::Malformed));
    check(&t, &format!("{good}.x"), Err(Reject::Malformed));
    check(&t, "!!!.b.c", Err(Reject::Header));
    check(
        &t,
        &"a".repeat(DEFAULT_MAX_TOKEN_LEN + 1),
        Err(Reject::TooLong),
    );
    let roles: Vec<String> = (0..65).map(|i| format!("r{i}")).collect();
    check(
        &t,
        &forge(&header(), &with("roles", json!(roles)), SECRET),
        Err(Reject::TooManyEntries),
    );
}

#[test]
fn hs_eddsa_confusion_is_rejected() {
    // The classic attack: sign HS256 with the *public* Ed25519 key as the HMAC secret.
    let c = clock();
    let ed = Key::generate_ed25519("ed1").unwrap();
    let public = ed.public_key().unwrap();
    let t = AccessTokens::builder("iss-1", KeySet::new(ed).unwrap())
        .audience("api")
        .clock(c.clone())
        .build()
        .unwrap();
    let forged = forge(
        &hdr_kid("HS256", "ed1"),
        &good_claims(c.unix_secs()),
        &public,
    );
    check(&t, &forged, Err(Reject::AlgMismatch));
    let issued = t.issue(Claims::<()>::new("u")).unwrap();
    check(&t, issued.as_str(), Ok(()));
}

fn hdr_kid(alg: &str, kid: &str) -> Value {
    json!({"alg": alg, "typ": "at+jwt", "kid": kid})
}

#[test]
fn leeway_boundaries() {
    let c = clock();
    let t = tokens(&c);
    let issued = t.issue(Claims::<()>::new("u")).unwrap();
    c.advance(DEFAULT_TTL + DEFAULT_LEEWAY - Duration::from_secs(1));
    check(&t, issued.as_str(), Ok(()));
    c.advance(Duration::from_secs(1));
    check(&t, issued.as_str(), Err(Reject::Expired));
}

#[test]
fn issue_sets_registered_claims_and_bounds_input() {
    let c = clock();
    let t = tokens(&c);
    let issued = t
        .issue(
            Claims::<()>::new("u")
                .roles(["admin"])
                .permissions(["a:b"])
                .session("s1"),
        )
        .unwrap();
    let claims: Claims = t.verify(issued.as_str()).unwrap();
    let now = c.unix_secs();
    assert_eq!((claims.iat, claims.exp), (now, now + 900));
    assert_eq!(claims.iss.as_deref(), Some("iss-1"));
    assert_eq!(claims.aud, ["api"]);
    assert_eq!(claims.sid.as_deref(), Some("s1"));
    assert_eq!(claims.jti.len(), 22);
    assert_eq!(claims.jti, issued.jti());
    let header = jsonwebtoken::decode_header(issued.as_str()).unwrap();
    assert_eq!(
        (header.kid.as_deref(), header.typ.as_deref()),
        (Some("k1"), Some("at+jwt"))
    );

    for bad in [
        Claims::<()>::new(""),
        Claims::<()>::new("u".repeat(257)),
        Claims::<()>::new("u").permissions(["a b"]),
        Claims::<()>::new("u").roles((0..65).map(|i| i.to_string())),
    ] {
        assert!(matches!(t.issue(bad), Err(Error::InvalidInput(_))));
    }
}

#[test]
fn custom_claims_round_trip() {
    #[derive(Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Extra {
        tenant: String,
        level: u8,
    }
    let c = clock();
    let t = tokens(&c);
    let issued = t
        .issue(Claims::with_custom(
            "u",
            Extra {
                tenant: "acme".into(),
                level: 3,
            },
        ))
        .unwrap();
    let claims: Claims<Extra> = t.verify(issued.as_str()).unwrap();
    assert_eq!(
        claims.custom,
        Extra {
            tenant: "acme".into(),
            level: 3
        }
    );
    // Custom claims that are missing make the token invalid for that claims type.
    let plain = t.issue(Claims::<()>::new("u")).unwrap();
    assert!(t.verify::<Extra>(plain.as_str()).is_err());
}

#[test]
fn builder_rejects_bad_configuration() {
    let keys = || KeySet::new(Key::hs256("k1", SECRET).unwrap()).unwrap();
    assert!(AccessTokens::builder("", keys()).build().is_err());
    assert!(
        AccessTokens::builder("i", keys())
            .ttl(Duration::ZERO)
            .build()
            .is_err()
    );
    assert!(
        AccessTokens::builder("i", keys())
            .leeway(Duration::from_secs(301))
            .build()
            .is_err()
    );
    assert!(
        AccessTokens::builder("i", keys())
            .max_token_len(10)
            .build()
            .is_err()
    );
    let verify_only = KeySet::verify_only([Key::ed25519_public("e", &[7; 32]).unwrap()]).unwrap();
    let t = AccessTokens::builder("i", verify_only).build().unwrap();
    assert!(matches!(
        t.issue(Claims::<()>::new("u")),
        Err(Error::Config(_))
    ));
}

#[test]
fn duplicate_claims_and_header_fields_are_rejected() {
    // A parser that keeps the first or the last duplicate would read another subject than we
    // do: reject them outright.
    let c = clock();
    let t = tokens(&c);
    let now = c.unix_secs();
    let forge_raw = |header: &str, claims: &str| {
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let sig = hs256(&message, SECRET);
        format!("{message}.{sig}")
    };
    let header = r#"{"alg":"HS256","typ":"at+jwt","kid":"k1"}"#;
    let claims = format!(
        r#"{{"sub":"u1","jti":"j","iat":{now},"exp":{},"iss":"iss-1","aud":"api"}}"#,
        now + 60
    );
    check(&t, &forge_raw(header, &claims), Ok(()));
    let dup_sub = claims.replacen(r#""sub":"u1","#, r#""sub":"u1","sub":"admin","#, 1);
    check(&t, &forge_raw(header, &dup_sub), Err(Reject::Claims));
    let dup_kid = r#"{"alg":"HS256","typ":"at+jwt","kid":"k1","kid":"k1"}"#;
    check(&t, &forge_raw(dup_kid, &claims), Err(Reject::Header));
    // Control characters in the subject are refused at issue time.
    assert!(matches!(
        t.issue(Claims::<()>::new("a\nb")),
        Err(Error::InvalidInput(_))
    ));
}
