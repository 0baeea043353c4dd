//! `RedisTarget` against a real TLS Redis (`rediss://`) whose certificate is signed by a
//! throwaway private CA (keel-testkit): the CA is trusted, another CA is refused, and the
//! limiter decides in the TLS Redis.
#![cfg(feature = "rustls")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::time::Duration;

use keel_ratelimit::redis::{RedisLimiter, RedisTarget};
use keel_ratelimit::{Key, Quota, Source};
use keel_testkit::{TempRedis, TestCa};

const WAIT: Duration = Duration::from_secs(2);

#[tokio::test]
async fn a_private_ca_is_trusted_and_another_is_refused() {
    let ca = TestCa::new("keel-ratelimit test CA").unwrap();
    let server = match TempRedis::start_with_tls(&ca) {
        Ok(s) => s,
        Err(e) => {
            assert!(!keel_testkit::services_required(), "TLS redis-server: {e}");
            eprintln!("\n!!! SKIPPED: cannot start a TLS redis-server: {e} !!!\n");
            return;
        }
    };
    let url = server.url();
    assert!(url.starts_with("rediss://"), "{url}");

    let target = RedisTarget::node(&url)
        .unwrap()
        .tls_root_certificates(ca.cert_pem())
        .unwrap();
    assert_eq!(
        target.tls_root_certificates_pem(),
        Some(ca.cert_pem().as_bytes())
    );
    assert!(!format!("{target:?}").contains("BEGIN"), "{target:?}");
    let mut conn = target.connect(WAIT).await.unwrap();
    let pong: String = redis::cmd("PING").query_async(&mut conn).await.unwrap();
    assert_eq!(pong, "PONG");

    // The limiter decides in the TLS Redis, over the shared lazy connection.
    let limiter = RedisLimiter::builder()
        .quota(Quota::per_minute(2))
        .prefix(keel_testkit::unique_name("rl_tls"))
        .timeout(WAIT)
        .build(target.connect_lazy(WAIT).unwrap())
        .unwrap();
    let key = Key::from("k");
    for allowed in [true, true, false] {
        let d = limiter.check_key(&key, 1).await.unwrap();
        assert_eq!((d.is_allowed(), d.source()), (allowed, Source::Redis));
    }

    // A CA that did not sign the server's certificate: the handshake fails.
    let other = TestCa::new("someone else's CA").unwrap();
    let wrong = RedisTarget::node(&url)
        .unwrap()
        .tls_root_certificates(other.cert_pem())
        .unwrap();
    let err = wrong.connect(WAIT).await.unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "expected a certificate error, got {err}"
    );
    // Without the private CA, the system roots do not know it either.
    assert!(
        RedisTarget::node(&url)
            .unwrap()
            .connect(WAIT)
            .await
            .is_err()
    );
}

#[test]
fn root_certificates_are_checked_before_anything_connects() {
    let ca = TestCa::new("keel-ratelimit test CA").unwrap();
    let err = |r: Result<RedisTarget, keel_ratelimit::Error>| r.unwrap_err().to_string();
    let node = || RedisTarget::node("rediss://127.0.0.1:1").unwrap();
    assert!(err(node().tls_root_certificates("not a certificate")).contains("no PEM certificate"));
    // A private CA for a plaintext URL is a configuration mistake.
    let plain = RedisTarget::node("redis://127.0.0.1:1").unwrap();
    assert!(err(plain.tls_root_certificates(ca.cert_pem())).contains("rediss://"));

    let dir = std::env::temp_dir().join(keel_testkit::unique_name("rl_ca"));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("ca.pem");
    std::fs::write(&good, ca.cert_pem()).unwrap();
    assert!(node().tls_root_certificates_file(&good).is_ok());
    let missing = dir.join("missing.pem");
    assert!(err(node().tls_root_certificates_file(&missing)).contains("missing.pem"));
    let big = dir.join("big.pem");
    let len = usize::try_from(keel_ratelimit::redis::MAX_ROOT_CERTIFICATES_FILE).unwrap() + 1;
    std::fs::write(&big, vec![b'a'; len]).unwrap();
    assert!(err(node().tls_root_certificates_file(&big)).contains("larger than"));
    let _ = std::fs::remove_dir_all(&dir);
}
