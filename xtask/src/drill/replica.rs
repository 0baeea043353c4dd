//! Replicas of the reference service as child processes: started with the drill's
//! environment, probed until live, killed on drop, their memory read from `/proc`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::client::Client;
use crate::services::Services;

/// The 32-byte token secret and encryption key every replica shares (random enough for the
/// service's startup checks; throwaway like the servers).
const JWT_SECRET: &str = "drill-jwt-Vq3mZ8xR1tK6wP9sL2nB7cY4fH0dJ5gA";
const ENCRYPTION_KEYS: &str = "1:kX9m2Qv7T1pZ4rW8yB3nC6fH0jL5sD2gA9eK7uM1oR4=";

/// One running replica.
#[derive(Debug)]
pub(crate) struct Replica {
    pub(crate) name: String,
    pub(crate) url: String,
    child: Child,
    pub(crate) log: PathBuf,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What differs between replica configurations.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    /// `KEEL_REQUEST_TIMEOUT_SECS`.
    pub(crate) request_timeout_secs: u64,
    /// `KEEL_HEADER_READ_TIMEOUT_MS`.
    pub(crate) header_timeout: Duration,
}

impl Replica {
    /// Starts `bin` as replica `name` and waits (≤ 60 s) until `/health/live` answers.
    pub(crate) fn start(
        bin: &Path,
        name: &str,
        services: &Services,
        settings: Settings,
        work: &Path,
    ) -> Result<Self, String> {
        let port = keel_testkit::free_port();
        let log = work.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let mut cmd = Command::new(bin);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KEEL_BIND", format!("127.0.0.1:{port}"))
            .env("DATABASE_URL", services.postgres.url())
            .env("KEEL_JWT_SECRET", JWT_SECRET)
            .env("KEEL_ENCRYPTION_KEYS", ENCRYPTION_KEYS)
            // Every drill request carries an X-Forwarded-For address of its own (a crowd of
            // clients, not one), so the shipped per-address limits stay on and do not bind.
            .env("KEEL_TRUSTED_PROXIES", "127.0.0.1/32")
            .env(
                "KEEL_REQUEST_TIMEOUT_SECS",
                settings.request_timeout_secs.to_string(),
            )
            .env(
                "KEEL_HEADER_READ_TIMEOUT_MS",
                settings.header_timeout.as_millis().to_string(),
            )
            .env("KEEL_USER_CACHE", "true")
            .env("KEEL_LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(file.try_clone().map_err(|e| e.to_string())?))
            .stderr(Stdio::from(file));
        if let Some(r) = &services.redis {
            cmd.env("REDIS_URL", r.url());
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("start {}: {e}", bin.display()))?;
        let mut replica = Self {
            name: name.to_owned(),
            url: format!("http://127.0.0.1:{port}"),
            child,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut client = Client::new(&replica.url, Duration::from_secs(2))?;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = replica.child.try_wait() {
                return Err(format!(
                    "{name} exited ({status}); see {}",
                    replica.log.display()
                ));
            }
            if client
                .send("GET", "/health/live", &[], None)
                .is_ok_and(|r| r.status == 200)
            {
                println!("    {name} on {}", replica.url);
                return Ok(replica);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        replica.kill();
        Err(format!(
            "{name} did not become live in 60 s; see {}",
            replica.log.display()
        ))
    }

    /// Resident memory in KiB (`VmRSS` of `/proc/<pid>/status`).
    pub(crate) fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
    }

    /// Whether the process is still running.
    pub(crate) fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
