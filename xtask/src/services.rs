//! Throwaway PostgreSQL and Redis for tests, runs and benches: found or installed,
//! started on loopback with free ports, removed on drop (also after Ctrl-C).

use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use keel_testkit::{TempPostgres, TempRedis};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::cmd::{run_step, works, workspace_root};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// The pid of the child xtask is waiting on (0: none); it gets the stop signal too.
static FOREGROUND: AtomicU32 = AtomicU32::new(0);

/// On Ctrl-C, SIGTERM or SIGHUP, xtask forwards SIGTERM to the child it is waiting on (a
/// build, the test runner, the reference service) so it stops at once even when the
/// signal was sent to xtask alone (a supervisor, an IDE's stop button). A terminal's
/// Ctrl-C reaches the whole process group anyway; a second stop signal is harmless to
/// cargo, nextest and the service. xtask itself keeps running just long enough to drop
/// [`Services`], which stops the servers and deletes their data.
pub(crate) fn install_interrupt_handler() {
    let _ = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            // Second stop signal: the user insists.
            std::process::exit(130);
        }
        eprintln!("\nxtask: interrupted; stopping servers and cleaning up (Ctrl-C again to force)");
        forward_stop();
    });
}

/// Sends SIGTERM to the registered foreground child, if any.
fn forward_stop() {
    let pid = FOREGROUND.load(Ordering::SeqCst);
    if let Ok(pid) = i32::try_from(pid)
        && pid > 0
    {
        // ESRCH (it has just exited) is fine: there is nothing left to stop.
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    }
}

/// Whether a stop signal (Ctrl-C, SIGTERM, SIGHUP) arrived.
pub(crate) fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Registers `child` as the one that receives xtask's stop signal, until dropped.
///
/// Drop it right after the child is reaped, so a later signal cannot reach a process
/// that reused the pid. If a stop signal came before the registration (the child was
/// being spawned), the child gets it now.
#[derive(Debug)]
pub(crate) struct Foreground {
    pid: u32,
}

impl Foreground {
    pub(crate) fn new(child: &Child) -> Self {
        let pid = child.id();
        FOREGROUND.store(pid, Ordering::SeqCst);
        if interrupted() {
            forward_stop();
        }
        Self { pid }
    }
}

impl Drop for Foreground {
    fn drop(&mut self) {
        let _ = FOREGROUND.compare_exchange(self.pid, 0, Ordering::SeqCst, Ordering::SeqCst);
    }
}

/// Runs `cmd` to completion as the foreground child (it gets xtask's stop signal).
pub(crate) fn status_of(cmd: &mut Command) -> std::io::Result<ExitStatus> {
    let mut child = cmd.spawn()?;
    let fg = Foreground::new(&child);
    let status = child.wait();
    drop(fg);
    status
}

/// Running throwaway servers; dropping this stops them and removes their data.
#[derive(Debug)]
pub(crate) struct Services {
    pub(crate) postgres: TempPostgres,
    pub(crate) redis: Option<TempRedis>,
}

/// What [`Services::start`] must provide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RedisNeed {
    Required,
    /// `cargo xtask run`, `bench` and `load` work without Redis.
    IfAvailable,
}

impl Services {
    /// Starts PostgreSQL (installing Debian's package as root if missing) and Redis.
    pub(crate) fn start(redis: RedisNeed) -> Result<Self, String> {
        ensure_postgres()?;
        let redis_ok = match redis {
            RedisNeed::Required => {
                ensure_redis()?;
                // The test suites also start a Redis Cluster (redis-cli) and PgBouncer.
                ensure_pgbouncer()?;
                true
            }
            RedisNeed::IfAvailable => ensure_redis().is_ok(),
        };
        let dir = workspace_root().join("target").join("keel-services");
        let postgres = TempPostgres::start_new(&dir)?;
        println!("    PostgreSQL: {}", postgres.url());
        let redis = if redis_ok {
            let r = TempRedis::start_new()?;
            println!("    Redis:      {}", r.url());
            Some(r)
        } else {
            println!("    Redis:      not available (in-memory backends only)");
            None
        };
        Ok(Self { postgres, redis })
    }

    /// `KEEL_TEST_*` variables for test processes.
    pub(crate) fn test_env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("KEEL_TEST_DATABASE_URL".into(), self.postgres.url()),
            (
                "KEEL_TEST_PG_BINDIR".into(),
                self.postgres.bindir().display().to_string(),
            ),
            ("KEEL_REQUIRE_SERVICES".into(), "1".into()),
        ];
        if let Some(r) = &self.redis {
            env.push(("KEEL_TEST_REDIS_URL".into(), r.url()));
        }
        env
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Installs Debian packages when running as root with apt-get; otherwise explains.
pub(crate) fn apt_install(packages: &[&str], why: &str) -> Result<(), String> {
    if !(is_root() && works("apt-get", &["--version"])) {
        return Err(format!(
            "{why}: install the Debian package(s) {} (e.g. `sudo apt-get install {}`)",
            packages.join(", "),
            packages.join(" ")
        ));
    }
    let mut update = Command::new("apt-get");
    update.args(["update", "-qq"]);
    // A stale package index is the usual reason an install fails; failure here is not fatal.
    let _ = run_step("apt-get update", &mut update);
    let mut cmd = Command::new("apt-get");
    cmd.env("DEBIAN_FRONTEND", "noninteractive")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(packages);
    run_step(&format!("install {}", packages.join(" ")), &mut cmd)
}

fn ensure_postgres() -> Result<(), String> {
    if TempPostgres::find_bindir().is_some() {
        return Ok(());
    }
    apt_install(
        &["postgresql"],
        "PostgreSQL server binaries (initdb, pg_ctl) not found",
    )?;
    TempPostgres::find_bindir()
        .map(|_| ())
        .ok_or_else(|| "PostgreSQL installed but initdb still not found".to_owned())
}

fn ensure_redis() -> Result<(), String> {
    if keel_testkit::find_binary("redis-server", "KEEL_TEST_REDIS_SERVER", &["/usr/bin"]).is_some()
    {
        return Ok(());
    }
    apt_install(&["redis-server"], "redis-server not found")
}

fn ensure_pgbouncer() -> Result<(), String> {
    if keel_testkit::find_binary(
        "pgbouncer",
        "KEEL_TEST_PGBOUNCER",
        &["/usr/sbin", "/usr/bin"],
    )
    .is_some()
    {
        return Ok(());
    }
    apt_install(&["pgbouncer"], "pgbouncer not found")
}
