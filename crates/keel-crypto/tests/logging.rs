//! What reaches the logs: the usage-limit warning fires once at 75 %, refusals are logged,
//! rejected tokens are logged at `debug` with a reason, and no key, password or plaintext
//! ever appears.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use keel_crypto::{Error, KeyRing, PasswordEncryptor, PasswordHasher, SecretKey, Signer};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn captured(f: impl FnOnce()) -> String {
    let capture = Capture::default();
    let sink = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    let bytes = capture.0.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

#[test]
fn usage_limit_warns_once_at_three_quarters_then_refuses_logging_once() {
    let logs = captured(|| {
        let ring = KeyRing::generate(5).unwrap().with_usage_limit(8).unwrap();
        for _ in 0..8 {
            ring.encrypt("p", b"x", b"").unwrap();
        }
        for _ in 0..3 {
            assert!(matches!(
                ring.encrypt("p", b"x", b""),
                Err(Error::KeyExhausted {
                    key_id: 5,
                    limit: 8
                })
            ));
        }
        assert_eq!(ring.usage(5), Some(8));
    });
    let warnings: Vec<&str> = logs.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 1, "{logs}");
    assert!(
        warnings[0].contains("75%")
            && warnings[0].contains("key_id=5")
            && warnings[0].contains("used=7"),
        "{logs}"
    );
    assert_eq!(
        logs.lines()
            .filter(|l| l.contains("ERROR") && l.contains("usage limit reached"))
            .count(),
        1,
        "{logs}"
    );
}

#[test]
fn secrets_never_reach_the_logs() {
    let key = SecretKey::from_bytes([0x41; 32]);
    let key_b64 = key.to_base64().to_string();
    let logs = captured(|| {
        let mut ring: KeyRing = format!("1:{key_b64}").parse().unwrap();
        let token = ring.encrypt("p", b"PLAINTEXT-MARKER", b"").unwrap();
        let mut bad = token.clone();
        bad[20] ^= 1;
        assert!(ring.decrypt("p", &bad, b"").is_err());
        assert!(ring.decrypt("q", &token, b"").is_err());
        ring.add(2, SecretKey::generate().unwrap()).unwrap();
        ring.promote(2).unwrap();
        ring.retire(1).unwrap();
        assert_eq!(ring.decrypt("p", &token, b"").unwrap(), b"PLAINTEXT-MARKER");
        assert!(format!("3:{}", &key_b64[..30]).parse::<KeyRing>().is_err());

        let pbe = PasswordEncryptor::new().with_iterations(1_000).unwrap();
        let t = pbe
            .encrypt(b"PASSWORD-MARKER", b"PLAINTEXT-MARKER")
            .unwrap();
        assert!(pbe.decrypt(b"wrong", &t).is_err());
        let hasher = PasswordHasher::new();
        assert!(
            hasher
                .verify(b"PASSWORD-MARKER", "$2b$04$notavalidbcrypthash")
                .is_err()
        );
        let mut signer = Signer::new(1, SecretKey::from_bytes([0x41; 32]));
        assert!(signer.verify_token("p", "garbage").is_err());
        let old = signer.sign(b"PLAINTEXT-MARKER");
        signer.add(2, SecretKey::generate().unwrap()).unwrap();
        signer.promote(2).unwrap();
        signer.retire(1).unwrap();
        assert!(signer.verify(b"PLAINTEXT-MARKER", &old).is_ok());
    });
    // Rejections and rotation events are logged…
    assert!(logs.contains("authentication failed"), "{logs}");
    assert!(
        logs.contains("retired key used") && logs.contains("keys=\"KeyRing\""),
        "{logs}"
    );
    assert!(logs.contains("key promoted to primary"), "{logs}");
    // Signer rotation is logged like KeyRing's.
    for event in [
        "key added",
        "key promoted to primary",
        "key retired",
        "retired key used",
    ] {
        assert!(
            logs.lines()
                .any(|l| l.contains(event) && l.contains("keys=\"Signer\"")),
            "{event}: {logs}"
        );
    }
    // …but never secrets.
    for secret in [
        "PLAINTEXT-MARKER",
        "PASSWORD-MARKER",
        &key_b64[..20],
        "QUFBQUFB",
        "65, 65, 65",
    ] {
        assert!(!logs.contains(secret), "{secret} leaked into:\n{logs}");
    }
}
