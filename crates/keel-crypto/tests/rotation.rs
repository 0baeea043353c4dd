//! Key rotation as an operator runs it: configuration strings, several "instances",
//! retire, re-encrypt, remove.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

use keel_crypto::{DecryptError, Error, KeyRing, KeyState, SecretKey};

fn key(byte: u8) -> String {
    SecretKey::from_bytes([byte; 32]).to_base64().to_string()
}

#[test]
fn add_roll_out_promote_retire_reencrypt_remove() {
    let (k1, k2) = (key(1), key(2));
    // Day 0: one key everywhere.
    let day0: KeyRing = format!("1:{k1}").parse().unwrap();
    let stored: Vec<Vec<u8>> = (0..5u8)
        .map(|i| day0.encrypt("doc", &[i; 10], b"").unwrap())
        .collect();

    // Step 1, roll-out: key 2 is added but not primary. Instances still on the old config and
    // instances on the new one interoperate because nobody encrypts with key 2 yet.
    let rolled_out: KeyRing = format!("*1:{k1},2:{k2}").parse().unwrap();
    let t = rolled_out.encrypt("doc", b"during roll-out", b"").unwrap();
    assert_eq!(KeyRing::key_id_of(&t), Some(1));
    assert_eq!(day0.decrypt("doc", &t, b"").unwrap(), b"during roll-out");

    // Step 2, promote everywhere: new data uses key 2, old data still reads.
    let promoted: KeyRing = format!("1:{k1},*2:{k2}").parse().unwrap();
    let fresh = promoted.encrypt("doc", b"new", b"").unwrap();
    assert_eq!(KeyRing::key_id_of(&fresh), Some(2));
    for (i, token) in stored.iter().enumerate() {
        assert_eq!(
            promoted.decrypt("doc", token, b"").unwrap(),
            vec![i as u8; 10]
        );
    }

    // Step 3, retire key 1 (kept, decrypt only) and move stored data to key 2.
    let mut ring = promoted;
    ring.retire(1).unwrap();
    assert_eq!(ring.state(1), Some(KeyState::Retired));
    let migrated: Vec<Vec<u8>> = stored
        .iter()
        .map(|t| {
            ring.reencrypt("doc", t, b"")
                .unwrap()
                .expect("was under key 1")
        })
        .collect();
    assert!(migrated.iter().all(|t| KeyRing::key_id_of(t) == Some(2)));
    assert!(
        ring.reencrypt("doc", &fresh, b"").unwrap().is_none(),
        "already on the primary"
    );
    // Retired keys still decrypt until removed.
    assert!(ring.decrypt("doc", &stored[0], b"").is_ok());

    // Step 4, remove key 1: old tokens fail cleanly with the opaque error, migrated ones read.
    ring.remove(1).unwrap();
    for (i, (old, new)) in stored.iter().zip(&migrated).enumerate() {
        assert_eq!(ring.decrypt("doc", old, b""), Err(DecryptError::new()));
        assert_eq!(ring.decrypt("doc", new, b"").unwrap(), vec![i as u8; 10]);
    }
    assert!(matches!(
        ring.reencrypt("doc", &stored[0], b""),
        Err(Error::Decrypt(_))
    ));
    let only_k2: KeyRing = format!("2:{k2}").parse().unwrap();
    assert_eq!(
        only_k2.decrypt("doc", &migrated[0], b"").unwrap(),
        vec![0u8; 10]
    );
}

#[test]
fn a_removed_key_is_indistinguishable_from_garbage() {
    let mut ring = KeyRing::generate(1).unwrap();
    let old = ring.encrypt_str("p", b"x", b"").unwrap();
    ring.add(2, SecretKey::generate().unwrap()).unwrap();
    ring.promote(2).unwrap();
    ring.remove(1).unwrap();
    let from_removed = ring.decrypt_str("p", &old, b"").unwrap_err();
    let from_garbage = ring.decrypt_str("p", "garbage", b"").unwrap_err();
    assert_eq!(from_removed, from_garbage);
    assert_eq!(from_removed.to_string(), from_garbage.to_string());
}

#[test]
fn configuration_errors_name_the_key_id_or_variable_never_the_key() {
    let secret = key(9);
    let truncated = &secret[..20];
    let err = format!("1:{truncated}")
        .parse::<KeyRing>()
        .unwrap_err()
        .to_string();
    assert!(err.contains("key 1"), "{err}");
    assert!(!err.contains(truncated), "{err}");
    // A variable name no test sets (edition 2024 makes `set_var` unsafe, so no test sets any).
    let var = "KEEL_CRYPTO_TEST_UNSET_RING";
    let err = KeyRing::from_env(var).unwrap_err().to_string();
    assert!(err.contains(var), "{err}");
}
