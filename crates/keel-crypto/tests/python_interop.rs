//! Interop with implementations nobody here wrote: Python's `cryptography` (OpenSSL's
//! AES-GCM, PBKDF2 and AES-CBC) and `argon2-cffi` (the Argon2 reference C code).
//!
//! `cargo xtask test` installs both with pip and exports `KEEL_TEST_PYTHON`. Without them the
//! tests print a loud SKIPPED notice and pass, except under `KEEL_REQUIRE_SERVICES=1` where
//! they fail (same policy as `keel_testkit`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    clippy::cast_possible_truncation
)]

use std::process::Command;
use std::time::Duration;

use keel_crypto::{Argon2Params, KeyRing, PasswordEncryptor, PasswordHasher, SecretKey, Signer};

fn python() -> Option<String> {
    let python = std::env::var("KEEL_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let ok = Command::new(&python)
        .args(["-c", "import cryptography, argon2"])
        .output()
        .is_ok_and(|out| out.status.success());
    if ok {
        return Some(python);
    }
    assert!(
        !keel_testkit::services_required(),
        "{python} lacks the `cryptography` / `argon2-cffi` modules but KEEL_REQUIRE_SERVICES=1: \
         run `pip install cryptography argon2-cffi` or `cargo xtask test`"
    );
    eprintln!(
        "\n!!! SKIPPED: {python} with `cryptography` and `argon2-cffi` is not available; \
         run `pip install cryptography argon2-cffi` or `cargo xtask test`. !!!\n"
    );
    None
}

/// Runs `script` with `args`; returns trimmed stdout, panics with stderr on failure.
fn run(python: &str, script: &str, args: &[&str]) -> String {
    let out = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const PY_COMMON: &str = r#"
import sys, base64, struct, os
def b64u_dec(s): return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
def b64u_enc(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
"#;

const KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

fn ring() -> KeyRing {
    let mut bytes = [0u8; 32];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = i as u8;
    }
    KeyRing::new(0x0102_0304, SecretKey::from_bytes(bytes))
}

#[test]
fn python_decrypts_keyring_tokens() {
    let Some(py) = python() else { return };
    let script = format!(
        r#"{PY_COMMON}
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
key, token, purpose, aad = bytes.fromhex(sys.argv[1]), b64u_dec(sys.argv[2]), sys.argv[3].encode(), bytes.fromhex(sys.argv[4])
version, key_id = token[0], struct.unpack(">I", token[1:5])[0]
assert version == 0x4b, version
assert key_id == 0x01020304, key_id
nonce, body = token[5:17], token[17:]
ad = token[:5] + struct.pack(">I", len(purpose)) + purpose + aad
print(AESGCM(key).decrypt(nonce, body, ad).hex())
"#
    );
    let ring = ring();
    for (plaintext, purpose, aad) in [
        (&b"ada@example.com"[..], "user.email", &b""[..]),
        (b"", "empty", b"row:7"),
        (&[0xffu8; 1000][..], "binary", b"\x00\x01"),
    ] {
        let token = ring.encrypt_str(purpose, plaintext, aad).unwrap();
        let out = run(&py, &script, &[KEY_HEX, &token, purpose, &hex(aad)]);
        assert_eq!(out, hex(plaintext), "{purpose}");
    }
}

#[test]
fn keel_decrypts_python_tokens() {
    let Some(py) = python() else { return };
    let script = format!(
        r#"{PY_COMMON}
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
key, plaintext, purpose, aad = bytes.fromhex(sys.argv[1]), bytes.fromhex(sys.argv[2]), sys.argv[3].encode(), bytes.fromhex(sys.argv[4])
header = bytes([0x4b]) + struct.pack(">I", 0x01020304)
nonce = os.urandom(12)
ad = header + struct.pack(">I", len(purpose)) + purpose + aad
print(b64u_enc(header + nonce + AESGCM(key).encrypt(nonce, plaintext, ad)))
"#
    );
    let ring = ring();
    let token = run(
        &py,
        &script,
        &[KEY_HEX, &hex(b"from python"), "notes", &hex(b"ctx")],
    );
    assert_eq!(
        ring.decrypt_str("notes", &token, b"ctx").unwrap(),
        b"from python"
    );
    assert!(ring.decrypt_str("other", &token, b"ctx").is_err());
    assert!(ring.decrypt_str("notes", &token, b"").is_err());
}

const PY_PBE: &str = r#"
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives import hashes
def derive(password, salt, iterations):
    return PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=iterations).derive(password)
"#;

#[test]
fn password_tokens_round_trip_with_python() {
    let Some(py) = python() else { return };
    let pbe = PasswordEncryptor::new().with_iterations(10_000).unwrap();

    let decrypt = format!(
        r#"{PY_COMMON}{PY_PBE}
password, token = sys.argv[1].encode(), b64u_dec(sys.argv[2])
assert token[0] == 0x50
iterations = struct.unpack(">I", token[1:5])[0]
salt, nonce, header = token[5:21], token[21:33], token[:33]
print(AESGCM(derive(password, salt, iterations)).decrypt(nonce, token[33:], header).decode())
"#
    );
    let token = pbe.encrypt_str(b"hunter2", b"diary entry").unwrap();
    assert_eq!(run(&py, &decrypt, &["hunter2", &token]), "diary entry");

    let encrypt = format!(
        r#"{PY_COMMON}{PY_PBE}
password, plaintext, iterations = sys.argv[1].encode(), sys.argv[2].encode(), int(sys.argv[3])
salt, nonce = os.urandom(16), os.urandom(12)
header = bytes([0x50]) + struct.pack(">I", iterations) + salt + nonce
print(b64u_enc(header + AESGCM(derive(password, salt, iterations)).encrypt(nonce, plaintext, header)))
"#
    );
    let token = run(&py, &encrypt, &["hunter2", "written in python", "12000"]);
    assert_eq!(
        pbe.decrypt_str(b"hunter2", &token).unwrap(),
        b"written in python"
    );
    assert!(pbe.decrypt_str(b"hunter3", &token).is_err());
}

#[test]
fn derived_keys_match_python_pbkdf2() {
    let Some(py) = python() else { return };
    let script = format!(
        r#"{PY_COMMON}{PY_PBE}
print(derive(sys.argv[1].encode(), bytes.fromhex(sys.argv[2]), int(sys.argv[3])).hex())
"#
    );
    let salt = [0x5au8; 16];
    let key = SecretKey::derive_from_password(b"correct horse", &salt, 5_000).unwrap();
    assert_eq!(
        run(&py, &script, &["correct horse", &hex(&salt), "5000"]),
        hex(key.expose_secret())
    );
}

#[test]
fn argon2_cffi_and_keel_verify_each_other() {
    let Some(py) = python() else { return };
    let hasher = PasswordHasher::new().with_params(Argon2Params::new(1024, 2, 1).unwrap());

    let verify = r#"
import sys
from argon2 import PasswordHasher
from argon2.exceptions import VerifyMismatchError
ph = PasswordHasher()
try:
    print(ph.verify(sys.argv[1], sys.argv[2]))
except VerifyMismatchError:
    print("mismatch")
"#;
    let phc = hasher.hash("pässwörd 🔑".as_bytes()).unwrap();
    assert_eq!(run(&py, verify, &[&phc, "pässwörd 🔑"]), "True");
    assert_eq!(run(&py, verify, &[&phc, "passwort"]), "mismatch");

    let hash = r#"
import sys
from argon2 import PasswordHasher
print(PasswordHasher(time_cost=2, memory_cost=2048, parallelism=2).hash(sys.argv[1]))
"#;
    let theirs = run(&py, hash, &["from argon2-cffi"]);
    assert!(
        theirs.starts_with("$argon2id$v=19$m=2048,t=2,p=2$"),
        "{theirs}"
    );
    assert!(hasher.verify(b"from argon2-cffi", &theirs).unwrap());
    assert!(!hasher.verify(b"from argon2-cffj", &theirs).unwrap());
    assert!(hasher.needs_rehash(&theirs));
}

#[test]
fn python_verifies_signed_tokens() {
    let Some(py) = python() else { return };
    let signer = Signer::new(7, SecretKey::from_bytes([0x42; 32]));
    let token = signer
        .issue_at(
            "verify-email",
            b"user:42",
            Duration::from_secs(3600),
            1_700_000_000,
        )
        .unwrap();
    let script = format!(
        r#"{PY_COMMON}
import hmac, hashlib
key, token, purpose = bytes.fromhex(sys.argv[1]), b64u_dec(sys.argv[2]), sys.argv[3].encode()
body, tag = token[:-32], token[-32:]
k_tok = hmac.new(key, b"keel-crypto/v1/Signer/signed-token", hashlib.sha256).digest()
expected = hmac.new(k_tok, struct.pack(">I", len(purpose)) + purpose + body, hashlib.sha256).digest()
assert hmac.compare_digest(tag, expected), "bad tag"
version, key_id, iat, exp = struct.unpack(">BIQQ", body[:21])
print(version, key_id, iat, exp, body[21:].decode())
"#
    );
    let out = run(&py, &script, &[&hex(&[0x42; 32]), &token, "verify-email"]);
    assert_eq!(out, "83 7 1700000000 1700003600 user:42");
}

#[test]
fn python_verifies_detached_signatures_under_their_own_subkey() {
    let Some(py) = python() else { return };
    let signer = Signer::new(7, SecretKey::from_bytes([0x42; 32]));
    let signature = signer.sign(b"order:17:paid").to_string();
    let script = format!(
        r#"{PY_COMMON}
import hmac, hashlib
key, text, data = bytes.fromhex(sys.argv[1]), sys.argv[2], sys.argv[3].encode()
key_id, tag = text.split(".")
k_sig = hmac.new(key, b"keel-crypto/v1/Signer/detached-signature", hashlib.sha256).digest()
assert hmac.compare_digest(b64u_dec(tag), hmac.new(k_sig, data, hashlib.sha256).digest()), "bad tag"
assert not hmac.compare_digest(b64u_dec(tag), hmac.new(key, data, hashlib.sha256).digest())
print(key_id)
"#
    );
    let out = run(
        &py,
        &script,
        &[&hex(&[0x42; 32]), &signature, "order:17:paid"],
    );
    assert_eq!(out, "7");
}

#[cfg(feature = "legacy")]
#[test]
fn keel_reads_legacy_python_tokens() {
    let Some(py) = python() else { return };
    // The old PBKDF2-per-call AES-CBC scheme, written with `cryptography`.
    let script = r#"
import sys, os, base64
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
password, data, iterations = sys.argv[1].encode(), sys.argv[2].encode(), int(sys.argv[3])
salt, iv = os.urandom(32), os.urandom(16)
key = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=iterations).derive(password)
padder = padding.PKCS7(128).padder()
padded = padder.update(data) + padder.finalize()
enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
print(base64.b64encode(salt + iv + enc.update(padded) + enc.finalize()).decode())
"#;
    for data in [
        "",
        "x",
        "exactly sixteen!",
        "a longer secret spanning several AES blocks",
    ] {
        let token = run(&py, script, &["s3cret", data, "2000"]);
        assert!(keel_crypto::legacy::is_legacy_token(&token));
        let plain =
            keel_crypto::legacy::decrypt_unauthenticated_for_migration(b"s3cret", &token, 2_000)
                .unwrap();
        assert_eq!(plain, data.as_bytes());
    }
}
