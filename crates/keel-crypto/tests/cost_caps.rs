//! Crafted hashes and tokens that demand huge work are refused with a typed error before
//! any hashing, so a planted password hash or a forged token cannot pin a CPU or allocate
//! gigabytes. "Fast" is checked against a bound the real work would exceed by orders of
//! magnitude (seconds to days), so a loaded machine does not make these tests flaky.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use keel_crypto::{DecryptError, Error, PasswordEncryptor, PasswordHasher};

const FAST: Duration = Duration::from_secs(1);
const SALT: &str = "c29tZXNhbHRzb21lc2FsdA";
const HASH: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

fn check_refused(phc: &str) {
    let start = Instant::now();
    let result = PasswordHasher::new().verify(b"password", phc);
    assert!(
        matches!(result, Err(Error::InvalidHash)),
        "{phc}: {result:?}"
    );
    assert!(start.elapsed() < FAST, "{phc}: took {:?}", start.elapsed());
}

#[test]
fn argon2_hashes_demanding_too_much_work_are_refused_fast() {
    // 256 MiB × 64 passes: within the separate memory and pass caps, ~1 minute of work.
    check_refused(&format!("$argon2id$v=19$m=262144,t=64,p=1${SALT}${HASH}"));
    // 256 MiB × 2 passes: twice the work cap.
    check_refused(&format!("$argon2id$v=19$m=262144,t=2,p=1${SALT}${HASH}"));
    // 4 GiB × 1, and 19 MiB × 1000 passes: over the separate caps.
    check_refused(&format!("$argon2id$v=19$m=4194304,t=1,p=1${SALT}${HASH}"));
    check_refused(&format!("$argon2i$v=19$m=19456,t=1000,p=1${SALT}${HASH}"));
    // Huge parallelism does not get around the caps either.
    check_refused(&format!("$argon2d$v=19$m=262144,t=2,p=16${SALT}${HASH}"));
}

#[test]
fn pbkdf2_hashes_demanding_too_many_iterations_are_refused_fast() {
    check_refused(&format!("$pbkdf2-sha256$i=4294967295,l=32${SALT}${HASH}"));
    check_refused(&format!("$pbkdf2-sha256$i=10000001,l=32${SALT}${HASH}"));
}

#[cfg(feature = "legacy")]
#[test]
fn bcrypt_hashes_with_a_huge_cost_are_refused_fast() {
    check_refused("$2b$31$EGdrhbKUv8Oc9vGiXX0HQOxSg445d458Muh7DAHskb6QbtCvdxcie");
    check_refused("$2y$20$EGdrhbKUv8Oc9vGiXX0HQOxSg445d458Muh7DAHskb6QbtCvdxcie");
}

#[test]
fn the_owasp_hash_shape_is_still_accepted() {
    // Same shape as the refused ones, OWASP parameters: verifies (to false) instead.
    let phc = format!("$argon2id$v=19$m=19456,t=2,p=1${SALT}${HASH}");
    assert!(!PasswordHasher::new().verify(b"password", &phc).unwrap());
}

#[test]
fn password_tokens_demanding_too_many_iterations_are_refused_fast() {
    let pbe = PasswordEncryptor::new(); // the default cap
    let fast = PasswordEncryptor::new().with_iterations(1_000).unwrap();
    let mut token = fast.encrypt(b"pw", b"data").unwrap();
    for iterations in [u32::MAX, 10_000_000, 1_200_001] {
        token[1..5].copy_from_slice(&iterations.to_be_bytes());
        let start = Instant::now();
        assert_eq!(pbe.decrypt(b"pw", &token), Err(DecryptError::new()));
        assert!(
            start.elapsed() < FAST,
            "{iterations}: {:?}",
            start.elapsed()
        );
    }
}
