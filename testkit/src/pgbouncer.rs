//! [`TempPgBouncer`]: a private PgBouncer on loopback in front of a PostgreSQL server.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{find_binary, free_port, is_root, wait_for_port};

/// PgBouncer's pooling mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PoolMode {
    /// A server connection per client for the client's whole session.
    Session,
    /// A server connection per transaction: no session state (named prepared
    /// statements before PgBouncer 1.21, `SET`, temporary tables) survives a transaction.
    Transaction,
}

impl PoolMode {
    fn as_str(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::Transaction => "transaction",
        }
    }
}

/// A throwaway PgBouncer (Debian's `pgbouncer` package) on a free loopback port,
/// forwarding every database name to one PostgreSQL server, `auth_type = trust` for
/// the backend URL's user. Killed and its directory deleted on drop. As root it runs
/// as the `postgres` system user (PgBouncer refuses root).
///
/// ```no_run
/// use keel_testkit::{PoolMode, TempPgBouncer};
///
/// let backend = keel_testkit::database_url().unwrap();
/// let bouncer = TempPgBouncer::start_new(&std::env::temp_dir(), &backend, PoolMode::Transaction, 2)?;
/// let url = bouncer.url(); // postgres://postgres@127.0.0.1:<port>/postgres
/// # Ok::<(), String>(())
/// ```
pub struct TempPgBouncer {
    dir: PathBuf,
    port: u16,
    user: String,
    dbname: String,
    child: Child,
}

impl fmt::Debug for TempPgBouncer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TempPgBouncer")
            .field("dir", &self.dir)
            .field("port", &self.port)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// The parts of `postgres://user[:password]@host[:port]/dbname[?…]` PgBouncer needs.
#[derive(Debug, PartialEq, Eq)]
struct Backend {
    user: String,
    password: Option<String>,
    host: String,
    port: u16,
    dbname: String,
}

fn parse_backend(url: &str) -> Result<Backend, String> {
    let bad = || format!("not a postgres://user@host:port/db URL: {}", redact(url));
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .ok_or_else(bad)?;
    let rest = rest.split('?').next().unwrap_or(rest);
    let (auth, hostpart) = rest.rsplit_once('@').ok_or_else(bad)?;
    let (user, password) = match auth.split_once(':') {
        Some((u, p)) => (u.to_owned(), Some(p.to_owned())),
        None => (auth.to_owned(), None),
    };
    let (hostport, dbname) = hostpart.split_once('/').unwrap_or((hostpart, ""));
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h.to_owned(), p.parse().map_err(|_| bad())?),
        None => (hostport.to_owned(), 5432),
    };
    if user.is_empty() || host.is_empty() {
        return Err(bad());
    }
    Ok(Backend {
        user,
        password,
        host,
        port,
        dbname: if dbname.is_empty() {
            "postgres".to_owned()
        } else {
            dbname.to_owned()
        },
    })
}

/// The URL without its password, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let auth = &url[s + 3..at];
            match auth.split_once(':') {
                Some((u, _)) => format!("{}{u}:[REDACTED]{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

impl TempPgBouncer {
    /// Finds `pgbouncer` (`KEEL_TEST_PGBOUNCER`, `PATH`, `/usr/sbin`), writes its
    /// configuration under `parent` and starts it in front of `backend_url` with at
    /// most `server_pool_size` server connections per database and user.
    ///
    /// # Errors
    /// When the binary is missing, the URL is not a `postgres://` URL, or PgBouncer
    /// does not start listening within 10 s.
    pub fn start_new(
        parent: &Path,
        backend_url: &str,
        mode: PoolMode,
        server_pool_size: u32,
    ) -> Result<Self, String> {
        let bin = find_binary(
            "pgbouncer",
            "KEEL_TEST_PGBOUNCER",
            &["/usr/sbin", "/usr/bin"],
        )
        .ok_or("pgbouncer not found: install Debian's `pgbouncer` package")?;
        let backend = parse_backend(backend_url)?;
        let dir = parent.join(crate::unique_name("pgbouncer"));
        std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        let port = free_port();
        let quote = |s: &str| s.replace('"', "\"\"");
        let password = backend
            .password
            .as_deref()
            .map(|p| format!(" password={p}"))
            .unwrap_or_default();
        let ini = format!(
            "[databases]\n\
             * = host={host} port={bport}{password}\n\
             [pgbouncer]\n\
             listen_addr = 127.0.0.1\n\
             listen_port = {port}\n\
             unix_socket_dir =\n\
             auth_type = trust\n\
             auth_file = {dir}/userlist.txt\n\
             pool_mode = {mode}\n\
             default_pool_size = {server_pool_size}\n\
             min_pool_size = 0\n\
             reserve_pool_size = 0\n\
             max_client_conn = 1000\n\
             logfile = {dir}/pgbouncer.log\n\
             ignore_startup_parameters = extra_float_digits\n",
            host = backend.host,
            bport = backend.port,
            dir = dir.display(),
            mode = mode.as_str(),
        );
        let ini_path = dir.join("pgbouncer.ini");
        std::fs::write(&ini_path, ini).map_err(|e| format!("write pgbouncer.ini: {e}"))?;
        std::fs::write(
            dir.join("userlist.txt"),
            format!("\"{}\" \"\"\n", quote(&backend.user)),
        )
        .map_err(|e| format!("write userlist.txt: {e}"))?;
        let mut cmd = if is_root() {
            // PgBouncer refuses to run as root; setpriv execs (no intermediate process),
            // so the child's pid is PgBouncer's.
            let _ = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status();
            let mut p = dir.parent();
            while let Some(d) = p {
                let _ = Command::new("chmod").arg("o+x").arg(d).status();
                p = d.parent();
            }
            let mut c = Command::new("setpriv");
            c.args([
                "--reuid=postgres",
                "--regid=postgres",
                "--clear-groups",
                "--",
            ])
            .arg(&bin);
            c
        } else {
            Command::new(&bin)
        };
        let child = cmd
            .arg(&ini_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", bin.display()))?;
        let bouncer = Self {
            dir,
            port,
            user: backend.user,
            dbname: backend.dbname,
            child,
        };
        if !wait_for_port(port, Duration::from_secs(10)) {
            let log =
                std::fs::read_to_string(bouncer.dir.join("pgbouncer.log")).unwrap_or_default();
            return Err(format!(
                "pgbouncer did not start listening on port {port}: {log}"
            ));
        }
        Ok(bouncer)
    }

    /// `postgres://<user>@127.0.0.1:<port>/<dbname>` (the backend URL's user and database).
    pub fn url(&self) -> String {
        format!(
            "postgres://{}@127.0.0.1:{}/{}",
            self.user, self.port, self.dbname
        )
    }

    /// The port PgBouncer listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// PgBouncer's log so far (for assertions and failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("pgbouncer.log")).unwrap_or_default()
    }
}

impl Drop for TempPgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_urls() {
        assert_eq!(
            parse_backend("postgres://postgres@127.0.0.1:55432/postgres").unwrap(),
            Backend {
                user: "postgres".into(),
                password: None,
                host: "127.0.0.1".into(),
                port: 55432,
                dbname: "postgres".into(),
            }
        );
        let b = parse_backend("postgresql://app:s3cret@db/app?sslmode=disable").unwrap();
        assert_eq!(
            (b.password.as_deref(), b.port, b.dbname.as_str()),
            (Some("s3cret"), 5432, "app")
        );
        let err = parse_backend("postgres://app:s3cret@").unwrap_err();
        assert!(!err.contains("s3cret"), "{err}");
        assert!(parse_backend("mysql://x@y/z").is_err());
    }
}
