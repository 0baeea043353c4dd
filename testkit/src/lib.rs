//! Integration-test support used by every Keel crate, usable by yours.
//!
//! Service-backed tests read `KEEL_TEST_DATABASE_URL` / `KEEL_TEST_REDIS_URL` through
//! [`database_url`] and [`redis_url`]: when a URL is missing they print a loud notice
//! and the test returns early, except under `KEEL_REQUIRE_SERVICES=1` (set by
//! `cargo xtask test` and CI), where a missing URL fails the test.
//!
//! Tests that must stop, kill or restart a server (failover tests) start their own
//! private one with [`TempPostgres`], [`TempRedis`] or [`TempRedisCluster`], so they
//! never disturb the shared servers other tests use in parallel. `cargo xtask test` uses the same types.
//!
//! Scaffolding shared by the crates' tests, each behind a feature so a crate pulls only
//! what it uses: `axum` ([`TestServer`]: a router on a free loopback port), `metrics`
//! ([`TestRecorder`]: a recorder that keeps every series) and `tracing` ([`LogCapture`]:
//! what was logged, as text).
//!
//! ```no_run
//! #[tokio::test]
//! async fn round_trip() {
//!     let Some(url) = keel_testkit::redis_url() else { return };
//!     // ... connect to `url`
//! }
//! ```
#![allow(clippy::print_stderr, clippy::expect_used)]

#[cfg(feature = "axum")]
mod http;
#[cfg(feature = "tracing")]
mod logs;
mod pgbouncer;
mod postgres;
#[cfg(feature = "metrics")]
mod recorder;
mod redis;
mod redis_cluster;
mod tls;

use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};

pub use pgbouncer::{PoolMode, TempPgBouncer};
pub use postgres::TempPostgres;
pub use redis::TempRedis;
pub use redis_cluster::{TempRedisCluster, key_slot};
pub use tls::{ServerCert, TestCa};

#[cfg(feature = "axum")]
pub use http::TestServer;
#[cfg(feature = "tracing")]
pub use logs::LogCapture;
#[cfg(feature = "metrics")]
pub use recorder::TestRecorder;

/// Whether missing services must fail tests (`KEEL_REQUIRE_SERVICES=1`).
pub fn services_required() -> bool {
    std::env::var("KEEL_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

fn service_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                !services_required(),
                "{var} is not set but KEEL_REQUIRE_SERVICES=1: run the tests with `cargo xtask test`"
            );
            eprintln!(
                "\n!!! SKIPPED: {var} is not set; this test needs a real server. \
                 Run `cargo xtask test` to start one. !!!\n"
            );
            None
        }
    }
}

/// `KEEL_TEST_DATABASE_URL`, or `None` (with a loud notice) when absent.
///
/// # Panics
/// When absent and `KEEL_REQUIRE_SERVICES=1`.
pub fn database_url() -> Option<String> {
    service_url("KEEL_TEST_DATABASE_URL")
}

/// `KEEL_TEST_REDIS_URL`, or `None` (with a loud notice) when absent.
///
/// # Panics
/// When absent and `KEEL_REQUIRE_SERVICES=1`.
pub fn redis_url() -> Option<String> {
    service_url("KEEL_TEST_REDIS_URL")
}

/// A name unique within this machine run: `prefix_<pid>_<n>_<nanos>`, lowercase
/// ASCII, usable as a PostgreSQL schema or a Redis key prefix.
pub fn unique_name(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}_{}_{n}_{nanos}", std::process::id()).to_ascii_lowercase()
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
///
/// # Panics
/// When no port can be bound at all.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port on loopback");
    l.local_addr().expect("local address").port()
}

/// Finds an executable: `$env_var` if set, then `PATH`, then the given directories.
pub fn find_binary(name: &str, env_var: &str, extra_dirs: &[&str]) -> Option<std::path::PathBuf> {
    if let Ok(p) = std::env::var(env_var) {
        let p = std::path::PathBuf::from(p);
        if p.is_file() {
            return Some(p);
        }
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(extra_dirs.iter().map(std::path::PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn wait_for_port(port: u16, timeout: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    false
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
