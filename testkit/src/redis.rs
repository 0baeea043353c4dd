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
}

impl TempRedis {
    /// Finds `redis-server` (`KEEL_TEST_REDIS_SERVER`, `PATH`, `/usr/bin`) and starts it.
    ///
    /// # Errors
    /// When the binary is missing or the server does not accept connections in 10 s.
    pub fn start_new() -> Result<Self, String> {
        let binary = find_binary(
            "redis-server",
            "KEEL_TEST_REDIS_SERVER",
            &["/usr/bin", "/usr/local/bin"],
        )
        .ok_or("redis-server not found: install Debian's `redis-server` package")?;
        let mut r = Self {
            binary,
            port: free_port(),
            child: None,
        };
        r.start()?;
        Ok(r)
    }

    /// The `redis://127.0.0.1:<port>` URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
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
        let child = Command::new(&self.binary)
            .args([
                "--port",
                &self.port.to_string(),
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
    }
}
