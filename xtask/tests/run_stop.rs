//! `cargo xtask run` stopped by a signal sent to xtask alone (a supervisor, an IDE's stop
//! button): the service must drain at once, not after xtask's 30 s kill deadline, and
//! nothing may be left listening.
//!
//! Runs the real thing: xtask builds the reference service (a no-op after the test build
//! of `cargo xtask test`, which uses the same feature resolution), starts a throwaway
//! PostgreSQL, migrates, creates the dev admin and serves on a free port.
#![allow(clippy::print_stderr, clippy::expect_used, clippy::unwrap_used)]

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Building a cold service can take minutes; after the test build it takes a second.
const READY_WITHIN: Duration = Duration::from_secs(900);
/// The service has no in-flight requests and `KEEL_SHUTDOWN_DELAY_SECS` is 0: it stops in
/// well under a second once signalled; 5 s leaves room for a loaded machine.
const SERVICE_STOPS_WITHIN: Duration = Duration::from_secs(5);
/// Then xtask removes PostgreSQL and Redis (a fast shutdown each).
const XTASK_EXITS_WITHIN: Duration = Duration::from_secs(20);
/// What `cargo xtask run` prints once the service answers.
const BANNER: &str = "Keel reference service is running";

fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

fn wait_exit(child: &mut Child, within: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

#[test]
fn sigterm_to_xtask_alone_stops_the_service_at_once() {
    if keel_testkit::TempPostgres::find_bindir().is_none() {
        assert!(
            !keel_testkit::services_required(),
            "PostgreSQL server binaries (initdb) not found but KEEL_REQUIRE_SERVICES=1"
        );
        eprintln!("skipping: PostgreSQL server binaries (initdb) not found");
        return;
    }
    let addr: SocketAddr = ([127, 0, 0, 1], keel_testkit::free_port()).into();
    let dir = std::env::temp_dir().join(keel_testkit::unique_name("xtask_run_stop"));
    std::fs::create_dir_all(&dir).unwrap();
    let log_path = dir.join("xtask-run.log");
    let log = std::fs::File::create(&log_path).unwrap();
    // Its own process group: the signal reaches xtask and nothing else, as when a
    // supervisor signals one pid.
    let mut xtask = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["run", "--bind", &addr.to_string()])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .process_group(0)
        .spawn()
        .expect("start xtask");

    // Ready, and xtask has printed its banner: it is waiting on the service.
    let started = Instant::now();
    while !(http_status(addr, "/health/ready") == Some(200)
        && std::fs::read_to_string(&log_path).is_ok_and(|l| l.contains(BANNER)))
    {
        if let Some(status) = xtask.try_wait().unwrap() {
            panic!(
                "xtask run exited before the service was ready ({status}):\n{}",
                log_tail(&log_path)
            );
        }
        if started.elapsed() > READY_WITHIN {
            let _ = xtask.kill();
            panic!(
                "the service was not ready within {READY_WITHIN:?}:\n{}",
                log_tail(&log_path)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }

    let xtask_pid = Pid::from_raw(i32::try_from(xtask.id()).unwrap());
    let signalled = Instant::now();
    kill(xtask_pid, Signal::SIGTERM).unwrap();

    // The service is gone when its port refuses connections.
    let mut service_stopped = None;
    while signalled.elapsed() < SERVICE_STOPS_WITHIN {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            service_stopped = Some(signalled.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = wait_exit(&mut xtask, XTASK_EXITS_WITHIN);
    let xtask_exited = signalled.elapsed();
    if status.is_none() {
        let _ = xtask.kill();
        let _ = xtask.wait();
    }
    let log = log_tail(&log_path);
    let service_stopped = service_stopped.unwrap_or_else(|| {
        panic!("the service still listened {SERVICE_STOPS_WITHIN:?} after SIGTERM to xtask:\n{log}")
    });
    let status = status.unwrap_or_else(|| {
        panic!("xtask did not exit within {XTASK_EXITS_WITHIN:?} of SIGTERM:\n{log}")
    });
    assert!(
        status.success(),
        "xtask run exited with {status} after SIGTERM:\n{log}"
    );
    assert!(
        log.contains("throwaway servers removed"),
        "xtask did not clean up its servers:\n{log}"
    );
    eprintln!(
        "SIGTERM to xtask: service stopped after {service_stopped:.2?}, xtask exited after {xtask_exited:.2?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
