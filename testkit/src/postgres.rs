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
        let mut pg = Self::init(parent)?;
        pg.start()?;
        Ok(pg)
    }

    /// As [`start_new`](Self::start_new), with TLS on (`ssl = on`) using `cert` (for
    /// example from [`TestCa::server_cert`](crate::TestCa::server_cert) for
    /// `["localhost", "127.0.0.1"]`). The key file is written with mode 0600, owned by
    /// the server's user, as PostgreSQL demands. Plain-text connections are still
    /// accepted, so tests can check that a client really negotiated TLS
    /// (`SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()`).
    ///
    /// # Errors
    /// As [`start_new`](Self::start_new), or when the certificate files cannot be written.
    pub fn start_with_tls(parent: &Path, cert: &crate::ServerCert) -> Result<Self, String> {
        let mut pg = Self::init(parent)?;
        pg.write_owned("server.crt", cert.cert_pem(), 0o644)?;
        pg.write_owned("server.key", cert.key_pem(), 0o600)?;
        let conf = pg.data.join("postgresql.conf");
        let mut text =
            std::fs::read_to_string(&conf).map_err(|e| format!("read {}: {e}", conf.display()))?;
        text.push_str(
            "\n# keel-testkit: TLS with a throwaway CA\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n",
        );
        std::fs::write(&conf, text).map_err(|e| format!("write {}: {e}", conf.display()))?;
        pg.start()?;
        Ok(pg)
    }

    /// initdb into a fresh directory under `parent`, not started.
    fn init(parent: &Path) -> Result<Self, String> {
        let bindir = Self::find_bindir()
            .ok_or("PostgreSQL server binaries (initdb, pg_ctl) not found: install Debian's `postgresql` package")?;
        std::fs::create_dir_all(parent).map_err(|e| format!("create {}: {e}", parent.display()))?;
        let data = parent.join(crate::unique_name("pg"));
        std::fs::create_dir_all(&data).map_err(|e| format!("create {}: {e}", data.display()))?;
        let as_user = is_root().then(|| "postgres".to_owned());
        let pg = Self {
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
        Ok(pg)
    }

    /// Writes `name` into the data directory with `mode`, owned by the server's user.
    fn write_owned(&self, name: &str, contents: &str, mode: u32) -> Result<(), String> {
        use std::os::unix::fs::PermissionsExt;
        let path = self.data.join(name);
        std::fs::write(&path, contents).map_err(|e| format!("write {}: {e}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| format!("chmod {}: {e}", path.display()))?;
        if let Some(user) = &self.as_user {
            run(Command::new("chown")
                .arg(format!("{user}:{user}"))
                .arg(&path))?;
        }
        Ok(())
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
