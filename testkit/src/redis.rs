use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{find_binary, free_port, wait_for_port};

/// A private, throwaway `redis-server` on loopback: no persistence, a free port,
/// killed on drop. [`kill`](Self::kill) and [`start`](Self::start) simulate an outage
/// on the same port.
#[derive(Debug)]
pub struct TempRedis {
    binary: PathBuf,
    port: u16,
    child: Option<Child>,
    /// With TLS: the directory holding the certificate files (deleted on drop).
    tls_dir: Option<PathBuf>,
}

impl TempRedis {
    /// Finds `redis-server` (`KEEL_TEST_REDIS_SERVER`, `PATH`, `/usr/bin`) and starts it.
    ///
    /// # Errors
    /// When the binary is missing or the server does not accept connections in 10 s.
    pub fn start_new() -> Result<Self, String> {
        let mut r = Self {
            binary: Self::binary()?,
            port: free_port(),
            child: None,
            tls_dir: None,
        };
        r.start()?;
        Ok(r)
    }

    /// As [`start_new`](Self::start_new), but the port speaks only TLS (`--port 0
    /// --tls-port <port>`), with a server certificate for `localhost` and `127.0.0.1`
    /// signed by `ca`; clients are not asked for certificates. Connect with
    /// [`url`](Self::url) (`rediss://127.0.0.1:<port>`) and trust
    /// [`TestCa::cert_pem`](crate::TestCa::cert_pem).
    ///
    /// ```no_run
    /// let ca = keel_testkit::TestCa::new("redis test CA")?;
    /// let redis = keel_testkit::TempRedis::start_with_tls(&ca)?;
    /// assert!(redis.url().starts_with("rediss://127.0.0.1:"));
    /// # Ok::<(), String>(())
    /// ```
    ///
    /// # Errors
    /// As [`start_new`](Self::start_new), when the certificate cannot be made or
    /// written, or when this `redis-server` was built without TLS (it then exits
    /// instead of listening).
    pub fn start_with_tls(ca: &crate::TestCa) -> Result<Self, String> {
        let cert = ca.server_cert(&["localhost", "127.0.0.1"])?;
        let dir = std::env::temp_dir().join(crate::unique_name("keel-redis-tls"));
        std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        let mut r = Self {
            binary: Self::binary()?,
            port: free_port(),
            child: None,
            tls_dir: Some(dir.clone()),
        };
        for (name, pem) in [
            ("server.crt", cert.cert_pem()),
            ("server.key", cert.key_pem()),
            ("ca.crt", ca.cert_pem()),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, pem).map_err(|e| format!("write {}: {e}", path.display()))?;
        }
        r.start()?;
        Ok(r)
    }

    fn binary() -> Result<PathBuf, String> {
        find_binary(
            "redis-server",
            "KEEL_TEST_REDIS_SERVER",
            &["/usr/bin", "/usr/local/bin"],
        )
        .ok_or_else(|| "redis-server not found: install Debian's `redis-server` package".into())
    }

    /// The URL: `redis://127.0.0.1:<port>`, or `rediss://127.0.0.1:<port>` with TLS.
    pub fn url(&self) -> String {
        if self.tls_dir.is_some() {
            format!("rediss://127.0.0.1:{}", self.port)
        } else {
            format!("redis://127.0.0.1:{}", self.port)
        }
    }

    /// Whether the server speaks TLS ([`start_with_tls`](Self::start_with_tls)).
    pub fn is_tls(&self) -> bool {
        self.tls_dir.is_some()
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// (Re)starts the server on the same port.
    ///
    /// # Errors
    /// When it cannot be spawned or does not accept connections in 10 s.
    pub fn start(&mut self) -> Result<(), String> {
        if self.child.is_some() {
            return Ok(());
        }
        let mut cmd = Command::new(&self.binary);
        let port = self.port.to_string();
        match &self.tls_dir {
            None => cmd.args(["--port", &port]),
            Some(dir) => cmd
                .args([
                    "--port",
                    "0",
                    "--tls-port",
                    &port,
                    "--tls-auth-clients",
                    "no",
                ])
                .arg("--tls-cert-file")
                .arg(dir.join("server.crt"))
                .arg("--tls-key-file")
                .arg(dir.join("server.key"))
                .arg("--tls-ca-cert-file")
                .arg(dir.join("ca.crt")),
        };
        let child = cmd
            .args([
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
                "--daemonize",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn redis-server: {e}"))?;
        self.child = Some(child);
        if wait_for_port(self.port, Duration::from_secs(10)) {
            Ok(())
        } else {
            self.kill();
            Err(format!("redis-server did not listen on port {}", self.port))
        }
    }

    /// Kills the server (SIGKILL) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for TempRedis {
    fn drop(&mut self) {
        self.kill();
        if let Some(dir) = &self.tls_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
