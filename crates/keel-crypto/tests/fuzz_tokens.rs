//! Property tests: random and mutated tokens never decrypt, never panic, and all fail the
//! same way (one opaque `DecryptError`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

use std::sync::LazyLock;
use std::time::Duration;

use keel_crypto::{
    ApiKey, DecryptError, KeyRing, PasswordEncryptor, PasswordHasher, SecretKey, Signer, Totp,
};
use proptest::prelude::*;

static RING: LazyLock<KeyRing> = LazyLock::new(|| {
    let mut ring = KeyRing::new(1, SecretKey::from_bytes([1; 32]));
    ring.add(2, SecretKey::from_bytes([2; 32])).unwrap();
    ring
});
static SIGNER: LazyLock<Signer> = LazyLock::new(|| Signer::new(1, SecretKey::from_bytes([3; 32])));
static PBE: LazyLock<PasswordEncryptor> =
    LazyLock::new(|| PasswordEncryptor::new().with_iterations(1_000).unwrap());

/// A mutation of a valid token.
#[derive(Debug, Clone)]
enum Mutation {
    FlipBit { at: usize, bit: u8 },
    Truncate { len: usize },
    Append { bytes: Vec<u8> },
    Insert { at: usize, byte: u8 },
    Remove { at: usize },
    SwapChunks { a: usize, b: usize, len: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        any::<usize>().prop_map(|len| Mutation::Truncate { len }),
        prop::collection::vec(any::<u8>(), 1..20).prop_map(|bytes| Mutation::Append { bytes }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert { at, byte }),
        any::<usize>().prop_map(|at| Mutation::Remove { at }),
        (any::<usize>(), any::<usize>(), 1usize..8).prop_map(|(a, b, len)| Mutation::SwapChunks {
            a,
            b,
            len
        }),
    ]
}

fn apply(token: &[u8], m: &Mutation) -> Vec<u8> {
    let mut t = token.to_vec();
    let n = t.len();
    match m {
        Mutation::FlipBit { at, bit } => t[at % n] ^= 1 << bit,
        Mutation::Truncate { len } => t.truncate(len % n),
        Mutation::Append { bytes } => t.extend_from_slice(bytes),
        Mutation::Insert { at, byte } => t.insert(at % (n + 1), *byte),
        Mutation::Remove { at } => {
            t.remove(at % n);
        }
        Mutation::SwapChunks { a, b, len } => {
            let len = (*len).min(n / 2);
            let (a, b) = (a % (n - len + 1), b % (n - len + 1));
            let (lo, hi) = if a < b { (a, b) } else { (b, a) };
            if hi >= lo + len {
                let (left, right) = t.split_at_mut(hi);
                left[lo..lo + len].swap_with_slice(&mut right[..len]);
            }
        }
    }
    t
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn keyring_rejects_every_mutation(plaintext in prop::collection::vec(any::<u8>(), 0..64), m in mutation()) {
        let token = RING.encrypt("p", &plaintext, b"").unwrap();
        let mutated = apply(&token, &m);
        prop_assume!(mutated != token);
        prop_assert_eq!(RING.decrypt("p", &mutated, b""), Err(DecryptError::new()));
    }

    #[test]
    fn keyring_rejects_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..128), version in any::<bool>()) {
        let mut bytes = bytes;
        // Half the time give it a plausible header (right version, known key id).
        if version && bytes.len() >= 5 {
            bytes[0] = keel_crypto::TOKEN_VERSION;
            bytes[1..5].copy_from_slice(&1u32.to_be_bytes());
        }
        prop_assert_eq!(RING.decrypt("p", &bytes, b""), Err(DecryptError::new()));
    }

    #[test]
    fn keyring_rejects_random_text(text in "\\PC{0,120}") {
        prop_assert!(RING.decrypt_str("p", &text, b"").is_err());
    }

    #[test]
    fn keyring_rejects_wrong_purpose_and_aad(purpose in "[a-z.]{0,12}", aad in prop::collection::vec(any::<u8>(), 0..8)) {
        let token = RING.encrypt("user.email", b"x", b"row:1").unwrap();
        prop_assume!(purpose != "user.email" || aad != b"row:1");
        prop_assert!(RING.decrypt(&purpose, &token, &aad).is_err());
    }

    #[test]
    fn signed_tokens_reject_every_mutation(payload in prop::collection::vec(any::<u8>(), 0..32), m in mutation()) {
        let token = SIGNER.issue_at("p", &payload, Duration::from_secs(60), 1_000).unwrap();
        let bytes = base64url_decode(&token);
        let mutated = apply(&bytes, &m);
        prop_assume!(mutated != bytes);
        prop_assert!(SIGNER.verify_token_at("p", &base64url_encode(&mutated), 1_010).is_err());
    }

    #[test]
    fn parsers_never_panic_on_garbage(text in "\\PC{0,100}") {
        let _ = SIGNER.verify_token("p", &text);
        let _ = SIGNER.verify_str(b"x", &text);
        let _ = ApiKey::parse(&text);
        let _ = Totp::new(&[9; 20]).unwrap().verify_at(&text, 1_000, None);
        let _ = Totp::from_base32(&text);
        let _ = text.parse::<KeyRing>();
        let _ = PasswordHasher::new().needs_rehash(&text);
        prop_assert!(PasswordHasher::new().verify(b"pw", &text).is_err());
        #[cfg(feature = "legacy")]
        {
            let _ = keel_crypto::legacy::decrypt_unauthenticated_for_migration(b"pw", &text, 1);
        }
    }
}

proptest! {
    // PBKDF2 runs on every attempt with a plausible header: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn password_tokens_reject_every_mutation(plaintext in prop::collection::vec(any::<u8>(), 0..32), m in mutation()) {
        let token = PBE.encrypt(b"pw", &plaintext).unwrap();
        let mutated = apply(&token, &m);
        prop_assume!(mutated != token);
        prop_assert_eq!(PBE.decrypt(b"pw", &mutated), Err(DecryptError::new()));
    }
}

fn base64url_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'-' => 62,
        b'_' => 63,
        _ => panic!("not base64url"),
    };
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes() {
        acc = (acc << 6) | u32::from(value(c));
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn base64url_encode(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    let (mut acc, mut bits) = (0u32, 0);
    for b in bytes {
        acc = (acc << 8) | u32::from(*b);
        bits += 8;
        while bits >= 6 {
            bits -= 6;
            out.push(char::from(A[((acc >> bits) & 63) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(A[((acc << (6 - bits)) & 63) as usize]));
    }
    out
}
