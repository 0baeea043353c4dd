use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::*;
use crate::token::{Authenticator, Key, KeySet};
use crate::{Clock, Error, MemoryTokenVersions, Revocations};

const SECRET: &[u8] = b"q8Zk3vN1yP0cW7tR5sL2xJ9gH4fD6bM8nV3aE1uK0oI";

fn tokens(clock: &Clock) -> AccessTokens {
    AccessTokens::builder(
        "iss-1",
        KeySet::new(Key::hs256("k1", SECRET).unwrap()).unwrap(),
    )
    .audience("api")
    .ttl(Duration::from_secs(60))
    .leeway(Duration::from_secs(10))
    .clock(clock.clone())
    .build()
    .unwrap()
}

fn issue(t: &AccessTokens, sub: &str) -> String {
    t.issue(Claims::<()>::new(sub).roles(["member"]).session("s-1"))
        .unwrap()
        .into_string()
}

fn cache(entries: usize, bytes: usize) -> VerifiedTokens {
    VerifiedTokens::new(TokenCacheLimits::new(entries, bytes)).unwrap()
}

/// Whether `token` is answered from the cache right now (without verifying it).
fn cached(c: &VerifiedTokens, t: &AccessTokens, token: &str) -> bool {
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let key: [u8; 32] = Sha256::digest(signature.as_bytes()).into();
    let shard = &c.shards[shard_of(&key, c.shards.len())];
    let now = t.clock().unix_secs();
    VerifiedTokens::get::<()>(shard, &key, signed, t.key_generation(), now).is_some()
}

#[test]
fn a_verified_token_is_answered_from_the_cache_with_the_same_claims() {
    let clock = Clock::manual();
    let t = tokens(&clock);
    let c = cache(1_000, 1 << 20);
    let token = issue(&t, "u1");
    assert!(!cached(&c, &t, &token));
    let first = c.verify::<()>(&t, &token).unwrap();
    assert!(cached(&c, &t, &token));
    let second = c.verify::<()>(&t, &token).unwrap();
    assert_eq!(first, second);
    assert_eq!(*first, t.verify::<()>(&token).unwrap());
    // The hit is the cached claims themselves, not a copy.
    assert!(Arc::ptr_eq(&first, &second));
    assert_eq!(c.usage().0, 1);
}

#[test]
fn bad_tokens_are_rejected_the_same_and_never_cached() {
    let clock = Clock::manual();
    let t = tokens(&clock);
    let c = cache(1_000, 1 << 20);
    let good = issue(&t, "u1");
    let mut tampered = good.clone();
    tampered.pop();
    tampered.push(if good.ends_with('A') { 'B' } else { 'A' });
    let other_key = AccessTokens::builder(
        "iss-1",
        KeySet::new(Key::hs256("k1", b"another-secret-another-secret-32b").unwrap()).unwrap(),
    )
    .audience("api")
    .clock(clock)
    .build()
    .unwrap();
    let forged = issue(&other_key, "u1");
    let too_long = "a".repeat(t.max_token_len() + 1);
    for bad in [
        tampered.as_str(),
        forged.as_str(),
        "x.y.z",
        "",
        too_long.as_str(),
    ] {
        for _ in 0..3 {
            assert!(matches!(c.verify::<()>(&t, bad), Err(Error::InvalidToken)));
        }
    }
    assert_eq!(c.usage(), (0, 0));
    // The genuine token is still accepted afterwards.
    assert!(c.verify::<()>(&t, &good).is_ok());
}

#[test]
fn a_cached_signature_with_another_header_or_payload_is_verified_in_full_and_refused() {
    let clock = Clock::manual();
    let t = tokens(&clock);
    let c = cache(1_000, 1 << 20);
    let user = issue(&t, "u1");
    let admin = t
        .issue(Claims::<()>::new("u2").roles(["admin"]))
        .unwrap()
        .into_string();
    assert!(c.verify::<()>(&t, &user).is_ok());
    assert!(c.verify::<()>(&t, &admin).is_ok());
    assert!(cached(&c, &t, &user) && cached(&c, &t, &admin));
    let (user_signed, user_signature) = user.rsplit_once('.').unwrap();
    let (admin_signed, _) = admin.rsplit_once('.').unwrap();
    let (header, _) = user_signed.split_once('.').unwrap();
    // The admin's claims under the user's (cached) signature; an edited header; an extra
    // segment; the signature alone: none is the token that was verified.
    let spliced = format!("{admin_signed}.{user_signature}");
    let other_header = format!("{header}x.{}", &user[header.len() + 1..]);
    let extra_segment = format!("{user_signed}.x.{user_signature}");
    let bare = format!(".{user_signature}");
    for forged in [&spliced, &other_header, &extra_segment, &bare] {
        assert!(!cached(&c, &t, forged), "{forged}");
        assert!(
            matches!(c.verify::<()>(&t, forged), Err(Error::InvalidToken)),
            "{forged}"
        );
    }
    // Still cached, still answered with their own claims.
    assert_eq!(c.verify::<()>(&t, &user).unwrap().sub, "u1");
    assert_eq!(c.verify::<()>(&t, &admin).unwrap().sub, "u2");
    assert_eq!(c.usage().0, 2);
}

#[test]
fn expiry_follows_the_clock_exactly_as_without_the_cache() {
    let clock = Clock::manual();
    let t = tokens(&clock);
    let c = cache(1_000, 1 << 20);
    let token = issue(&t, "u1");
    assert!(c.verify::<()>(&t, &token).is_ok());
    // ttl 60 s + leeway 10 s: valid up to 69 s after issue, rejected from 70 s on.
    clock.advance(Duration::from_secs(69));
    assert!(t.verify::<()>(&token).is_ok());
    assert!(c.verify::<()>(&t, &token).is_ok());
    assert!(cached(&c, &t, &token));
    clock.advance(Duration::from_secs(1));
    assert!(t.verify::<()>(&token).is_err());
    assert!(!cached(&c, &t, &token));
    assert!(matches!(
        c.verify::<()>(&t, &token),
        Err(Error::InvalidToken)
    ));
}

#[test]
fn a_clock_set_back_before_issue_rejects_the_cached_token_too() {
    let clock = Clock::manual();
    let t = tokens(&clock);
    let c = cache(1_000, 1 << 20);
    let token = issue(&t, "u1");
    assert!(c.verify::<()>(&t, &token).is_ok());
    // Within the leeway: still valid; beyond it: "issued in the future", cached or not.
    clock.set(std::time::UNIX_EPOCH + Duration::from_secs(Clock::MANUAL_START_UNIX - 10));
    assert!(t.verify::<()>(&token).is_ok());
    assert!(c.verify::<()>(&t, &token).is_ok());
    clock.set(std::time::UNIX_EPOCH + Duration::from_secs(Clock::MANUAL_START_UNIX - 11));
    assert!(t.verify::<()>(&token).is_err());
    assert!(!cached(&c, &t, &token));
    assert!(c.verify::<()>(&t, &token).is_err());
}

#[test]
fn removing_a_key_rejects_its_cached_tokens_at_once() {
    let clock = Clock::manual();
    let t = tokens(&clock);
    let c = cache(1_000, 1 << 20);
    let old = issue(&t, "u1");
    assert!(c.verify::<()>(&t, &old).is_ok());
    t.update_keys(|keys| {
        keys.insert(Key::generate_hs256("k2")?)?;
        keys.set_primary("k2")
    })
    .unwrap();
    // Any key change drops what was verified before; k1 still verifies, so it comes back.
    assert!(!cached(&c, &t, &old));
    assert!(c.verify::<()>(&t, &old).is_ok());
    assert!(cached(&c, &t, &old));
    t.update_keys(|keys| keys.remove("k1").map(drop)).unwrap();
    assert!(matches!(c.verify::<()>(&t, &old), Err(Error::InvalidToken)));
    assert!(!cached(&c, &t, &old));
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
struct Tenant {
    #[serde(default)]
    tenant: String,
}

#[test]
fn one_token_read_as_two_claim_types_gets_each_type() {
    let clock = Clock::manual();
    let t = tokens(&clock);
    let c = cache(1_000, 1 << 20);
    let token = t
        .issue(Claims::with_custom(
            "u1",
            Tenant {
                tenant: "acme".into(),
            },
        ))
        .unwrap()
        .into_string();
    for _ in 0..2 {
        assert_eq!(
            c.verify::<Tenant>(&t, &token).unwrap().custom.tenant,
            "acme"
        );
        assert_eq!(c.verify::<()>(&t, &token).unwrap().sub, "u1");
    }
}

#[test]
fn zero_limits_mean_no_cache() {
    assert!(VerifiedTokens::new(TokenCacheLimits::new(0, 1 << 20)).is_none());
    assert!(VerifiedTokens::new(TokenCacheLimits::new(1_000, 0)).is_none());
    let t = tokens(&Clock::manual());
    let auth = Authenticator::new(t);
    assert_eq!(auth.token_cache_limits(), Some(TokenCacheLimits::default()));
    assert_eq!(auth.without_token_cache().token_cache_limits(), None);
}

#[test]
fn many_distinct_tokens_never_exceed_the_entry_bound() {
    let clock = Clock::manual();
    let t = tokens(&clock);
    // 4 shards of 256 entries.
    let c = cache(1_024, 64 << 20);
    assert_eq!(c.shards.len(), 4);
    for i in 0..3_000 {
        let token = issue(&t, &format!("attacker-{i}"));
        assert!(c.verify::<()>(&t, &token).is_ok());
        let (entries, _) = c.usage();
        assert!(entries <= 1_024, "{entries} entries after {i}");
    }
    // One-off tokens are swept, so new ones keep getting in.
    let fresh = issue(&t, "late");
    c.verify::<()>(&t, &fresh).unwrap();
    assert!(cached(&c, &t, &fresh));
}

#[test]
fn many_distinct_tokens_never_exceed_the_memory_bound() {
    let clock = Clock::manual();
    let t = tokens(&clock);
    let bytes = 64 * 1024;
    let c = cache(100_000, bytes);
    let token = issue(&t, "u1");
    c.verify::<()>(&t, &token).unwrap();
    let one = c.usage().1;
    assert!(one > 200, "an entry is counted at {one} B");
    for i in 0..3_000 {
        // Long subjects: bigger entries.
        let token = issue(&t, &format!("attacker-{i}-{}", "x".repeat(200)));
        c.verify::<()>(&t, &token).unwrap();
        let (_, used) = c.usage();
        assert!(used <= bytes, "{used} B after {i}");
    }
}

#[test]
fn a_token_in_use_survives_a_flood_of_one_off_tokens() {
    let clock = Clock::manual();
    let t = tokens(&clock);
    let c = cache(256, 64 << 20); // one shard: every token competes
    assert_eq!(c.shards.len(), 1);
    let users: Vec<String> = (0..8).map(|i| issue(&t, &format!("user-{i}"))).collect();
    for u in &users {
        c.verify::<()>(&t, u).unwrap();
    }
    for i in 0..5_000 {
        let token = issue(&t, &format!("attacker-{i}"));
        c.verify::<()>(&t, &token).unwrap();
        if i % 100 == 0 {
            // The users keep making requests; each must be a cache hit.
            for u in &users {
                assert!(cached(&c, &t, u), "a user's token was evicted at {i}");
                c.verify::<()>(&t, u).unwrap();
            }
        }
    }
    assert!(c.usage().0 <= 256);
}

#[test]
fn a_full_cache_of_tokens_in_use_keeps_them_and_verifies_new_tokens_uncached() {
    let clock = Clock::manual();
    let t = tokens(&clock);
    let c = cache(256, 64 << 20);
    let users: Vec<String> = (0..256).map(|i| issue(&t, &format!("user-{i}"))).collect();
    for u in &users {
        c.verify::<()>(&t, u).unwrap();
    }
    // Every entry used between two new tokens: the new one is verified (accepted), not
    // cached, and no user loses its entry.
    for i in 0..20 {
        for u in &users {
            c.verify::<()>(&t, u).unwrap();
        }
        let extra = issue(&t, &format!("extra-{i}"));
        assert!(c.verify::<()>(&t, &extra).is_ok());
        assert!(!cached(&c, &t, &extra));
    }
    assert!(users.iter().all(|u| cached(&c, &t, u)));
    assert_eq!(c.usage().0, 256);
    // Once the users stop, the next sweep makes room again.
    let late = issue(&t, "late");
    c.verify::<()>(&t, &late).unwrap();
    c.verify::<()>(&t, &late).unwrap();
    assert!(cached(&c, &t, &late));
}

#[tokio::test]
async fn revocation_is_still_checked_on_every_cached_request() {
    let clock = Clock::manual();
    let t = tokens(&clock);
    let revocations = Revocations::builder(MemoryTokenVersions::new())
        .clock(clock.clone())
        .build();
    let auth = Authenticator::new(t).with_revocations(revocations);
    let a = auth
        .issue(Claims::<()>::new("u1").session("s-1"))
        .await
        .unwrap();
    let b = auth
        .issue(Claims::<()>::new("u1").session("s-2"))
        .await
        .unwrap();
    for _ in 0..3 {
        assert!(auth.authenticate::<()>(a.as_str()).await.is_ok());
        assert!(auth.authenticate::<()>(b.as_str()).await.is_ok());
    }
    auth.revoke_session("u1", "s-1").await.unwrap();
    assert!(auth.authenticate::<()>(a.as_str()).await.is_err());
    assert!(auth.authenticate::<()>(b.as_str()).await.is_ok());
    auth.revoke_all("u1").await.unwrap();
    assert!(auth.authenticate::<()>(b.as_str()).await.is_err());
    // A token issued after the bump carries the new version and is accepted.
    let c = auth.issue(Claims::<()>::new("u1")).await.unwrap();
    assert!(auth.authenticate::<()>(c.as_str()).await.is_ok());
}

#[test]
fn digest_hasher_spreads_the_keys_of_one_shard() {
    use std::collections::HashSet;
    use std::hash::BuildHasher;

    let build = BuildHasherDefault::<DigestHasher>::default();
    // Keys that all land in shard 0 of 16: the map's hash must not be the shard's bytes.
    let keys: Vec<[u8; 32]> = (0u32..20_000)
        .map(|i| Sha256::digest(i.to_le_bytes()).into())
        .filter(|k| shard_of(k, 16) == 0)
        .collect();
    assert!(keys.len() > 1_000);
    let low_bits: HashSet<u64> = keys.iter().map(|k| build.hash_one(k) & 0x3ff).collect();
    // 1,024 buckets: a uniform hash fills most of them.
    assert!(
        low_bits.len() > 600,
        "{} of 1024 buckets used",
        low_bits.len()
    );
    let top_bits: HashSet<u64> = keys.iter().map(|k| build.hash_one(k) >> 57).collect();
    assert!(
        top_bits.len() > 100,
        "{} of 128 control values",
        top_bits.len()
    );
}
