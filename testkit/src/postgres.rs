use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{find_binary, free_port, is_root};

/// A private, throwaway PostgreSQL cluster on loopback: `initdb` into a fresh
/// directory, a free port, trust auth for user `postgres`, durability off for speed.
/// Stopped and deleted on drop.
///
/// As root, the server runs as the `postgres` system user (PostgreSQL refuses root).
#[derive(Debug)]
pub struct TempPostgres {
    bindir: PathBuf,
    data: PathBuf,
    port: u16,
    as_user: Option<String>,
    running: bool,
}

const PG_DIRS: [&str; 4] = [
    "/usr/lib/postgresql/17/bin",
    "/usr/lib/postgresql/16/bin",
    "/usr/lib/postgresql/15/bin",
    "/usr/lib/postgresql/14/bin",
];

impl TempPostgres {
    /// Finds `initdb`/`pg_ctl` (`KEEL_TEST_PG_BINDIR`, `PATH`, `/usr/lib/postgresql/*/bin`),
    /// creates a cluster under `parent` and starts it.
    ///
    /// # Errors
    /// When the binaries are missing or initdb/start fails.
    pub fn start_new(parent: &Path) -> Result<Self, String> {
        let bindir = Self::find_bindir()
            .ok_or("PostgreSQL server binaries (initdb, pg_ctl) not found: install Debian's `postgresql` package")?;
        std::fs::create_dir_all(parent).map_err(|e| format!("create {}: {e}", parent.display()))?;
        let data = parent.join(crate::unique_name("pg"));
        std::fs::create_dir_all(&data).map_err(|e| format!("create {}: {e}", data.display()))?;
        let as_user = is_root().then(|| "postgres".to_owned());
        let mut pg = Self {
            bindir,
            data,
            port: free_port(),
            as_user,
            running: false,
        };
        if let Some(user) = &pg.as_user {
            run(Command::new("chown")
                .args(["-R", &format!("{user}:{user}")])
                .arg(&pg.data))?;
            // The postgres user must be able to reach the data directory.
            let mut p = pg.data.parent();
            while let Some(dir) = p {
                let _ = Command::new("chmod").arg("o+x").arg(dir).status();
                p = dir.parent();
            }
        }
        pg.run_pg(
            "initdb",
            &[
                "-D",
                &pg.data_str(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        )?;
        pg.start()?;
        Ok(pg)
    }

    /// The directory holding `initdb`, `pg_ctl` and `pgbench`.
    pub fn find_bindir() -> Option<PathBuf> {
        if let Ok(d) = std::env::var("KEEL_TEST_PG_BINDIR") {
            let d = PathBuf::from(d);
            if d.join("initdb").is_file() {
                return Some(d);
            }
        }
        find_binary("initdb", "KEEL_TEST_INITDB", &PG_DIRS)
            .and_then(|p| p.parent().map(Path::to_path_buf))
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// The binaries directory.
    pub fn bindir(&self) -> &Path {
        &self.bindir
    }

    fn data_str(&self) -> String {
        self.data.display().to_string()
    }

    fn options(&self) -> String {
        format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c full_page_writes=off \
             -c synchronous_commit=off -c max_connections=200",
            self.port,
            self.data_str()
        )
    }

    fn run_pg(&self, tool: &str, args: &[&str]) -> Result<(), String> {
        let bin = self.bindir.join(tool);
        let mut cmd = match &self.as_user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        cmd.args(args);
        run(&mut cmd)
    }

    /// Starts the server and waits until it accepts connections.
    ///
    /// # Errors
    /// When `pg_ctl start` fails.
    pub fn start(&mut self) -> Result<(), String> {
        let log = self.data.join("server.log").display().to_string();
        self.run_pg(
            "pg_ctl",
            &[
                "start",
                "-w",
                "-t",
                "30",
                "-D",
                &self.data_str(),
                "-l",
                &log,
                "-o",
                &self.options(),
            ],
        )?;
        self.running = true;
        Ok(())
    }

    /// Stops the server with `pg_ctl stop -m fast`.
    ///
    /// # Errors
    /// When `pg_ctl stop` fails.
    pub fn stop(&mut self) -> Result<(), String> {
        self.run_pg(
            "pg_ctl",
            &["stop", "-w", "-m", "fast", "-D", &self.data_str()],
        )?;
        self.running = false;
        Ok(())
    }

    /// `pg_ctl restart -m fast`: terminates every session, then accepts again.
    ///
    /// # Errors
    /// When `pg_ctl restart` fails.
    pub fn restart_fast(&mut self) -> Result<(), String> {
        let log = self.data.join("server.log").display().to_string();
        self.run_pg(
            "pg_ctl",
            &[
                "restart",
                "-w",
                "-t",
                "30",
                "-m",
                "fast",
                "-D",
                &self.data_str(),
                "-l",
                &log,
                "-o",
                &self.options(),
            ],
        )?;
        self.running = true;
        Ok(())
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        if self.running {
            let _ = self.run_pg(
                "pg_ctl",
                &["stop", "-w", "-m", "immediate", "-D", &self.data_str()],
            );
        }
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("spawn {cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
