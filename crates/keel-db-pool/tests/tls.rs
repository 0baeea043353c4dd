//! TLS to a real PostgreSQL with `ssl = on` and a throwaway CA (keel-testkit): what
//! each `sslmode` accepts and rejects, typed errors for a wrong CA and a wrong host
//! name, proof from the server (`pg_stat_ssl`) that the connection is encrypted, and
//! `Pool::check_tls` (the startup check of a lazy pool).
#![cfg(feature = "rustls")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use keel_db_pool::{Config, ConfigBuilder, Error, Pool, SslMode, TlsFailure};
use keel_testkit::{TempPostgres, TestCa};

struct TlsServer {
    pg: TempPostgres,
    ca: TestCa,
    ca_file: PathBuf,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.ca_file);
    }
}

/// A private server whose certificate, signed by a fresh CA, names `localhost` and
/// `127.0.0.1`.
fn tls_server() -> Option<TlsServer> {
    let ca = TestCa::new("keel-db-pool test CA").unwrap();
    let cert = ca.server_cert(&["localhost", "127.0.0.1"]).unwrap();
    let pg = match TempPostgres::start_with_tls(&std::env::temp_dir(), &cert) {
        Ok(pg) => pg,
        Err(e) => {
            assert!(
                !keel_testkit::services_required(),
                "cannot start PostgreSQL with TLS: {e}"
            );
            eprintln!("\n!!! SKIPPED: cannot start a private PostgreSQL: {e} !!!\n");
            return None;
        }
    };
    let ca_file = std::env::temp_dir().join(format!("{}.pem", keel_testkit::unique_name("ca")));
    std::fs::write(&ca_file, ca.cert_pem()).unwrap();
    Some(TlsServer { pg, ca, ca_file })
}

fn builder(url: &str) -> ConfigBuilder {
    Config::builder()
        .url(url)
        .max_size(1)
        .connect_timeout(Duration::from_secs(5))
        .startup_timeout(Duration::from_secs(5))
}

/// Whether the server says this session is encrypted.
async fn encrypted(pool: &Pool) -> Result<bool, Error> {
    let row = pool
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await?;
    Ok(row.get(0))
}

async fn connect(b: ConfigBuilder) -> Result<Pool, Error> {
    Pool::connect(b.build()?).await
}

#[tokio::test]
async fn verify_full_with_the_right_ca_is_encrypted() {
    let Some(s) = tls_server() else { return };
    let port = s.pg.port();
    let ca = s.ca_file.display();

    // sslrootcert in the URL makes verify-full the default.
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres?sslrootcert={ca}");
    let pool = connect(builder(&url)).await.unwrap();
    assert_eq!(pool.config().ssl_mode(), SslMode::VerifyFull);
    assert!(encrypted(&pool).await.unwrap());

    // A DNS name in the certificate, with the address given separately.
    let url = format!(
        "postgres://postgres@localhost:{port}/postgres?hostaddr=127.0.0.1&sslmode=verify-full"
    );
    let pool = connect(builder(&url).ssl_root_cert_pem(s.ca.cert_pem()))
        .await
        .unwrap();
    assert!(encrypted(&pool).await.unwrap());

    // verify-ca, and require with a root certificate (= verify-ca, as libpq).
    for mode in ["verify-ca", "require"] {
        let url = format!(
            "postgres://postgres@127.0.0.1:{port}/postgres?sslmode={mode}&sslrootcert={ca}"
        );
        let pool = connect(builder(&url)).await.unwrap();
        assert_eq!(pool.config().ssl_mode(), SslMode::VerifyCa, "{mode}");
        assert!(encrypted(&pool).await.unwrap(), "{mode}");
    }

    // Encryption without verification: require and prefer without roots.
    for mode in ["require", "prefer"] {
        let url = format!("postgres://postgres@127.0.0.1:{port}/postgres?sslmode={mode}");
        let pool = connect(builder(&url)).await.unwrap();
        assert!(encrypted(&pool).await.unwrap(), "{mode}");
    }

    // The check can tell: disable is plain text on the same server.
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres?sslmode=disable");
    let pool = connect(builder(&url)).await.unwrap();
    assert!(!encrypted(&pool).await.unwrap());
}

#[tokio::test]
async fn wrong_ca_and_wrong_host_name_are_typed_errors() {
    let Some(s) = tls_server() else { return };
    let port = s.pg.port();
    let other_ca = TestCa::new("some other CA").unwrap();

    // A CA that did not sign the server's certificate: rejected in every verifying
    // mode, at once (Pool::connect does not retry a certificate problem).
    for mode in ["verify-full", "verify-ca", "require"] {
        let url = format!("postgres://postgres@127.0.0.1:{port}/postgres?sslmode={mode}");
        let started = Instant::now();
        let err = connect(builder(&url).ssl_root_cert_pem(other_ca.cert_pem()))
            .await
            .unwrap_err();
        assert_eq!(
            err.tls_failure(),
            Some(TlsFailure::UnknownIssuer),
            "{mode}: {err}"
        );
        assert!(err.is_unavailable() && err.is_connection_error(), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{mode}: retried"
        );
        assert!(
            err.to_string().contains("not signed by a trusted root"),
            "{err}"
        );
    }

    // The right CA, but the certificate does not name the host connected to.
    let wrong_host = format!(
        "postgres://postgres@db.wrong.example:{port}/postgres?hostaddr=127.0.0.1&sslmode=verify-full"
    );
    let err = connect(builder(&wrong_host).ssl_root_cert_pem(s.ca.cert_pem()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Tls {
                failure: TlsFailure::HostnameMismatch,
                ..
            }
        ),
        "{err}"
    );
    // verify-ca does not check the name, so the same connection works there.
    let pool = connect(
        builder(&wrong_host)
            .ssl_mode(SslMode::VerifyCa)
            .ssl_root_cert_pem(s.ca.cert_pem()),
    )
    .await
    .unwrap();
    assert!(encrypted(&pool).await.unwrap());
}

#[tokio::test]
async fn check_tls_refuses_a_certificate_problem_but_not_an_outage() {
    let Some(s) = tls_server() else { return };
    let url =
        |port: u16| format!("postgres://postgres@127.0.0.1:{port}/postgres?sslmode=verify-full");
    let lazy = |b: ConfigBuilder| Pool::new(b.build().unwrap()).unwrap();

    // A certificate from another CA can never work: refused, typed.
    let other_ca = TestCa::new("some other CA").unwrap();
    let pool = lazy(builder(&url(s.pg.port())).ssl_root_cert_pem(other_ca.cert_pem()));
    let err = pool.check_tls().await.unwrap_err();
    assert_eq!(err.tls_failure(), Some(TlsFailure::UnknownIssuer), "{err}");

    // The right CA: accepted, and the connection it opened is encrypted.
    let pool = lazy(builder(&url(s.pg.port())).ssl_root_cert_pem(s.ca.cert_pem()));
    pool.check_tls().await.unwrap();
    assert_eq!(pool.status().size, 1);
    assert!(encrypted(&pool).await.unwrap());

    // Nothing listening is an outage, not a TLS problem: left to readiness.
    let pool = lazy(
        builder(&url(keel_testkit::free_port()))
            .ssl_root_cert_pem(s.ca.cert_pem())
            .wait_timeout(Duration::from_millis(500)),
    );
    pool.check_tls().await.unwrap();
    assert!(pool.ping().await.unwrap_err().is_unavailable());

    // `prefer` never refuses a server, so nothing connects.
    let prefer = format!(
        "postgres://postgres@127.0.0.1:{}/postgres?sslmode=prefer",
        s.pg.port()
    );
    let pool = lazy(builder(&prefer));
    pool.check_tls().await.unwrap();
    assert_eq!(pool.status().size, 0);
}

#[tokio::test]
async fn a_server_without_tls() {
    let Some(url) = keel_testkit::database_url() else {
        return;
    };
    let sep = if url.contains('?') { '&' } else { '?' };
    let plain = connect(builder(&url)).await.unwrap();
    if encrypted(&plain).await.unwrap() {
        eprintln!("the shared server has TLS on; nothing to check here");
        return;
    }
    // require never falls back to plain text …
    let err = connect(builder(&format!("{url}{sep}sslmode=require")))
        .await
        .unwrap_err();
    assert_eq!(
        err.tls_failure(),
        Some(TlsFailure::NotSupportedByServer),
        "{err}"
    );
    // … and a lazy pool's startup check says so.
    let lazy = Pool::new(
        builder(&format!("{url}{sep}sslmode=require"))
            .build()
            .unwrap(),
    )
    .unwrap();
    let err = lazy.check_tls().await.unwrap_err();
    assert_eq!(
        err.tls_failure(),
        Some(TlsFailure::NotSupportedByServer),
        "{err}"
    );
    // … prefer does, as documented (no root certificate was given).
    let pool = connect(builder(&format!("{url}{sep}sslmode=prefer")))
        .await
        .unwrap();
    assert!(!encrypted(&pool).await.unwrap());
    // A root certificate means verification was asked for: prefer is refused.
    let ca = TestCa::new("unused").unwrap();
    let err = builder(&format!("{url}{sep}sslmode=prefer"))
        .ssl_root_cert_pem(ca.cert_pem())
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("plain text"), "{err}");
}
