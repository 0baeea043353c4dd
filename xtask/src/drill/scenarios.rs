//! The drills. Each one runs traffic against the replicas, injects its fault at a known
//! moment, and judges the recording: which answers are documented for the fault window,
//! whether every acknowledged write survived, and how long recovery took.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::Timing;
use super::client::Client;
use super::replica::{Replica, Settings};
use super::report::{Outcome, statuses};
use super::traffic::{self, Account, Event, Mix, Recording};
use crate::services::Services;

/// Handler timeout of the drill replicas: a stuck request must end (504) within it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// Header-read timeout of the drill replicas: half-sent requests are dropped within it.
const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
/// Slack on top of a configured bound for scheduling on a loaded 2-core machine.
const SLACK: Duration = Duration::from_millis(750);
/// How long after a fault ends a documented 503/504 may still be seen.
const GRACE: Duration = Duration::from_secs(1);
/// Traffic threads per drill.
const WORKERS: usize = 4;

/// Everything the drills share.
struct Rig<'a> {
    services: &'a mut Services,
    a: Replica,
    b: Replica,
    accounts: Vec<Account>,
    tag: String,
    timing: Timing,
}

impl Rig<'_> {
    fn urls(&self) -> Vec<String> {
        vec![self.a.url.clone(), self.b.url.clone()]
    }

    /// Runs traffic while `fault` runs on this thread; `fault` returns the fault's window
    /// (start, end) as offsets from the traffic's origin.
    fn with_traffic(
        &mut self,
        mix: Mix,
        fault: impl FnOnce(&mut Self, Instant) -> Result<Window, String>,
    ) -> Result<(Recording, Window), String> {
        let origin = Instant::now();
        let stop = AtomicBool::new(false);
        let urls = self.urls();
        let accounts = self.accounts.clone();
        let tag = format!("{}-{}", self.tag, origin.elapsed().as_nanos() % 1_000_000);
        std::thread::scope(|s| {
            let h = s.spawn(|| traffic::run(&urls, &accounts, WORKERS, mix, &tag, origin, &stop));
            let window = fault(self, origin);
            stop.store(true, Ordering::Relaxed);
            let rec = h.join().map_err(|_| "traffic thread panicked".to_owned())?;
            Ok((rec?, window?))
        })
    }
}

/// When a fault was in force, as offsets from the traffic's origin.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: Duration,
    end: Duration,
}

impl Window {
    fn overlaps(&self, e: &Event) -> bool {
        e.started <= self.end + GRACE && e.ended >= self.start
    }
}

/// The drills' short names, for `cargo xtask drill <name>…`.
pub(super) const NAMES: [&str; 6] = ["pg-restart", "pg-kill", "pg-slow", "redis", "abuse", "soak"];

pub(super) fn run_all(
    bin: &Path,
    work: &Path,
    services: &mut Services,
    timing: Timing,
    only: &[&str],
) -> Result<Vec<Outcome>, String> {
    let settings = Settings {
        request_timeout_secs: REQUEST_TIMEOUT.as_secs(),
        header_timeout: HEADER_TIMEOUT,
    };
    // testkit's PostgreSQL runs with synchronous_commit=off for test speed, which by design
    // forgets the last ~200 ms of commits on a crash; production runs with it on, and so do
    // the drills (per-database default, read by every new session).
    psql(
        services,
        "ALTER DATABASE postgres SET synchronous_commit = on",
    )?;
    println!("\n==> starting two replicas");
    let a = Replica::start(bin, "replica-a", services, settings, work)?;
    let b = Replica::start(bin, "replica-b", services, settings, work)?;
    let tag = keel_testkit::unique_name("drill");
    let accounts = traffic::seed(&a.url, &tag, WORKERS)?;
    let mut rig = Rig {
        services,
        a,
        b,
        accounts,
        tag,
        timing,
    };
    let mut out = Vec::new();
    let drills = [
        (
            "postgres restart -m fast",
            pg_restart as fn(&mut Rig<'_>) -> Result<Outcome, String>,
        ),
        ("postgres kill -9", pg_kill),
        ("postgres slowed by a lock", pg_slow),
        ("redis killed and restarted", redis_restart),
        ("client abuse", abuse),
        ("soak", soak),
    ];
    for (short, (name, drill)) in NAMES.iter().zip(drills) {
        if !only.is_empty() && !only.contains(short) {
            continue;
        }
        println!("\n==> drill: {name}");
        let mut o = drill(&mut rig)?;
        o.name = name.to_owned();
        println!("    {}", o.summary());
        out.push(o);
        for r in [&mut rig.a, &mut rig.b] {
            if !r.alive() {
                return Err(format!("{} died; see {}", r.name, r.log.display()));
            }
        }
    }
    Ok(out)
}

// ---- PostgreSQL ----------------------------------------------------------------------

fn pg_restart(rig: &mut Rig<'_>) -> Result<Outcome, String> {
    pg_outage(rig, "pg_ctl restart -m fast", |pg| pg.restart_fast())
}

fn pg_kill(rig: &mut Rig<'_>) -> Result<Outcome, String> {
    pg_outage(rig, "kill -9 postmaster, then start", |pg| {
        let pid = std::fs::read_to_string(pg.data_dir().join("postmaster.pid"))
            .map_err(|e| format!("postmaster.pid: {e}"))?;
        let pid = pid.lines().next().unwrap_or_default().trim().to_owned();
        run(Command::new("kill").args(["-9", &pid]))?;
        // The backends notice their postmaster is gone and exit; until they have, a new
        // postmaster refuses the old shared memory. Retry for up to 20 s.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match pg.start() {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() > deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    })
}

fn pg_outage(
    rig: &mut Rig<'_>,
    fault: &str,
    inject: impl FnOnce(&mut keel_testkit::TempPostgres) -> Result<(), String>,
) -> Result<Outcome, String> {
    let (pre, post) = (rig.timing.secs(4.0, 1.5), rig.timing.secs(5.0, 2.5));
    let (rec, window) = rig.with_traffic(Mix::WRITES, |rig, origin| {
        std::thread::sleep(pre);
        let start = origin.elapsed();
        inject(&mut rig.services.postgres)?;
        wait_accepting(&rig.services.postgres)?;
        let end = origin.elapsed();
        std::thread::sleep(post);
        Ok(Window { start, end })
    })?;
    let stored = stored_ids(rig.services)?;
    let lost = rec.acked.iter().filter(|id| !stored.contains(*id)).count();
    let mut o = judge_window(&rec, window, &[503, 504]);
    o.load = format!("{WORKERS} clients, signup/patch/read 1:1:8, 2 replicas");
    o.faults = format!(
        "{fault} ({:.1} s down)",
        (window.end - window.start).as_secs_f64()
    );
    o.acked = Some(rec.acked.len() as u64);
    o.lost = Some(lost as u64);
    o.recovery = first_write_after(&rec, window.end);
    o.check(!rec.acked.is_empty(), "no write was acknowledged");
    o.check(lost == 0, "acknowledged writes were lost");
    o.check(
        o.recovery.is_some_and(|r| r <= Duration::from_secs(1)),
        "first success more than 1 s after PostgreSQL accepted again",
    );
    Ok(o)
}

fn pg_slow(rig: &mut Rig<'_>) -> Result<Outcome, String> {
    let (pre, hold, post) = (
        rig.timing.secs(3.0, 1.0),
        rig.timing.secs(6.0, 3.0),
        rig.timing.secs(4.0, 2.0),
    );
    let (rec, window) = rig.with_traffic(Mix::WRITES, |rig, origin| {
        std::thread::sleep(pre);
        let start = origin.elapsed();
        let sql = format!(
            "BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep({}); COMMIT;",
            hold.as_secs_f64()
        );
        psql(rig.services, &sql)?;
        let end = origin.elapsed();
        std::thread::sleep(post);
        Ok(Window { start, end })
    })?;
    let mut o = judge_window(&rec, window, &[503, 504]);
    o.load = format!("{WORKERS} clients, signup/patch/read 1:1:8, 2 replicas");
    o.faults = format!(
        "ACCESS EXCLUSIVE lock on users held {:.1} s",
        hold.as_secs_f64()
    );
    o.acked = Some(rec.acked.len() as u64);
    let stored = stored_ids(rig.services)?;
    o.lost = Some(rec.acked.iter().filter(|id| !stored.contains(*id)).count() as u64);
    o.recovery = first_write_after(&rec, window.end);
    let slowest = rec
        .events
        .iter()
        .map(Event::latency)
        .max()
        .unwrap_or_default();
    o.notes = format!(
        "slowest request {:.2} s (handler timeout {} s)",
        slowest.as_secs_f64(),
        REQUEST_TIMEOUT.as_secs()
    );
    o.check(
        slowest <= REQUEST_TIMEOUT + SLACK,
        "a request outlived the handler timeout",
    );
    o.check(o.lost == Some(0), "acknowledged writes were lost");
    o.check(
        o.recovery.is_some_and(|r| r <= Duration::from_secs(1)),
        "no write succeeded within 1 s of the lock's release (pool did not recover)",
    );
    Ok(o)
}

/// Waits until PostgreSQL accepts connections again (≤ 30 s).
fn wait_accepting(pg: &keel_testkit::TempPostgres) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    while Instant::now() < deadline {
        let out = Command::new(pg_tool(pg, "pg_isready"))
            .args(["-h", "127.0.0.1", "-p", &pg.port().to_string(), "-t", "1"])
            .output()
            .map_err(|e| format!("pg_isready: {e}"))?;
        if out.status.success() {
            return Ok(());
        }
        last = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        std::thread::sleep(Duration::from_millis(25));
    }
    Err(format!(
        "PostgreSQL did not accept connections within 30 s (pg_isready: {last})"
    ))
}

/// A PostgreSQL client tool next to the server's binaries (which may be symlinks into
/// the real directory), else from `PATH`.
fn pg_tool(pg: &keel_testkit::TempPostgres, name: &str) -> std::path::PathBuf {
    let real = std::fs::canonicalize(pg.bindir().join("initdb"))
        .ok()
        .and_then(|p| p.parent().map(|d| d.join(name)));
    [Some(pg.bindir().join(name)), real]
        .into_iter()
        .flatten()
        .find(|p| p.is_file())
        .unwrap_or_else(|| name.into())
}

fn psql(services: &Services, sql: &str) -> Result<String, String> {
    let out = Command::new(pg_tool(&services.postgres, "psql"))
        .args([
            &services.postgres.url(),
            "-X",
            "-q",
            "-t",
            "-A",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ])
        .output()
        .map_err(|e| format!("psql: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("psql: {}", String::from_utf8_lossy(&out.stderr)))
    }
}

fn stored_ids(services: &Services) -> Result<HashSet<String>, String> {
    Ok(psql(services, "SELECT id::text FROM users")?
        .lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect())
}

// ---- Redis ---------------------------------------------------------------------------

fn redis_restart(rig: &mut Rig<'_>) -> Result<Outcome, String> {
    let (pre, down, post) = (
        rig.timing.secs(3.0, 1.0),
        rig.timing.secs(4.0, 1.5),
        rig.timing.secs(4.0, 2.0),
    );
    let mut resumed = None;
    let (rec, window) = rig.with_traffic(Mix::MIXED, |rig, origin| {
        std::thread::sleep(pre);
        let redis = rig.services.redis.as_mut().ok_or("no Redis")?;
        let start = origin.elapsed();
        redis.kill();
        std::thread::sleep(down);
        redis.start()?;
        let end = origin.elapsed();
        resumed = Some(invalidation_resumes(rig, post)?);
        Ok(Window { start, end })
    })?;
    // Redis is a cache and a limit store: its loss is absorbed (L1 cache, local limits).
    let mut o = judge_window(&rec, window, &[]);
    o.load = format!("{WORKERS} clients, signup/patch/login/read 1:1:1:7, 2 replicas");
    o.faults = format!("SIGKILL redis, restart after {:.1} s", down.as_secs_f64());
    let (after, latency) = resumed.unwrap_or((None, None));
    o.recovery = after;
    o.notes = match (after, latency) {
        (Some(a), Some(l)) => format!(
            "cross-replica invalidation resumed {:.2} s after Redis restarted; write on A visible on B in {:.0} ms",
            a.as_secs_f64(),
            l.as_secs_f64() * 1000.0
        ),
        _ => "cross-replica invalidation did not resume".to_owned(),
    };
    o.check(
        latency.is_some_and(|l| l <= Duration::from_secs(1)),
        "a write on replica A did not become visible on replica B within 1 s after recovery",
    );
    Ok(o)
}

/// After Redis is back: repeatedly patch a user through A (after warming B's cache) and
/// poll B for up to 1 s. Returns when (after the restart) the first patch became visible on
/// B within 1 s, and how long that took.
fn invalidation_resumes(
    rig: &Rig<'_>,
    budget: Duration,
) -> Result<(Option<Duration>, Option<Duration>), String> {
    let restarted = Instant::now();
    let account = rig.accounts.first().ok_or("no account")?;
    let bearer = format!("Bearer {}", account.token);
    let path = format!("/api/v1/users/{}", account.id);
    let mut a = Client::new(&rig.a.url, Duration::from_secs(5))?;
    let mut b = Client::new(&rig.b.url, Duration::from_secs(5))?;
    let headers = [
        ("authorization", bearer.as_str()),
        ("x-forwarded-for", "10.201.0.1"),
    ];
    let mut n = 0u32;
    while restarted.elapsed() < budget.max(Duration::from_secs(3)) {
        n += 1;
        let name = format!("Inval{n}x{}", restarted.elapsed().as_millis() % 10_000);
        let _ = b.send("GET", &path, &headers, None);
        let body = serde_json::json!({ "first_name": name }).to_string();
        let patched = a.send(
            "PATCH",
            &path,
            &[headers[0], headers[1], ("content-type", "application/json")],
            Some(body.as_bytes()),
        )?;
        if patched.status != 200 {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        let acked = Instant::now();
        while acked.elapsed() <= Duration::from_secs(1) {
            let r = b.send("GET", &path, &headers, None)?;
            if r.json()["data"]["first_name"].as_str() == Some(name.as_str()) {
                return Ok((Some(acked - restarted), Some(acked.elapsed())));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    Ok((None, None))
}

// ---- Clients that misbehave ----------------------------------------------------------

fn abuse(rig: &mut Rig<'_>) -> Result<Outcome, String> {
    let length = rig.timing.secs(15.0, 4.0);
    let origin = Instant::now();
    let stop = AtomicBool::new(false);
    let account = rig.accounts.first().ok_or("no account")?.clone();
    let (a, tag) = (rig.a.url.clone(), rig.tag.clone());
    let flood_status = std::sync::Mutex::new(std::collections::BTreeMap::<u16, u64>::new());
    let oversized_status = std::sync::Mutex::new(std::collections::BTreeMap::<u16, u64>::new());
    let slow_dropped = AtomicU64::new(0);
    let slow_held = AtomicU64::new(0);
    let legit = std::thread::scope(|s| {
        // A signup flood from a crowd of addresses (each new: per-address quotas do not bind).
        for w in 0..3 {
            let (a, tag, stop, flood_status) = (&a, &tag, &stop, &flood_status);
            s.spawn(move || {
                let Ok(mut c) = Client::new(a, Duration::from_secs(15)) else { return };
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let xff = traffic::crowd_address(100 + w, n);
                    let body = serde_json::json!({ "email": format!("{tag}-flood{w}-{n}@example.com"),
                        "password": traffic::PASSWORD, "first_name": "Flood", "last_name": "Bot" });
                    let st = c
                        .send("POST", "/api/v1/auth/signup", &[("content-type", "application/json"), ("x-forwarded-for", &xff)], Some(body.to_string().as_bytes()))
                        .map_or(0, |r| r.status);
                    if let Ok(mut m) = flood_status.lock() {
                        *m.entry(st).or_insert(0) += 1;
                    }
                }
            });
        }
        // Oversized bodies (1 MiB against the 64 KiB limit).
        {
            let (a, stop, oversized_status) = (&a, &stop, &oversized_status);
            s.spawn(move || {
                let Ok(mut c) = Client::new(a, Duration::from_secs(15)) else { return };
                let big = vec![b'x'; 1 << 20];
                while !stop.load(Ordering::Relaxed) {
                    let st = c
                        .send("POST", "/api/v1/auth/signup", &[("content-type", "application/json"), ("x-forwarded-for", "10.150.0.1")], Some(&big))
                        .map_or(0, |r| r.status);
                    if let Ok(mut m) = oversized_status.lock() {
                        *m.entry(st).or_insert(0) += 1;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            });
        }
        // Half-sent requests: 100 connections that never finish their head.
        {
            let (a, stop, dropped, held) = (&a, &stop, &slow_dropped, &slow_held);
            s.spawn(move || slowloris(a, 100, stop, dropped, held));
        }
        // The legitimate client: liveness, its own reads, and a login now and then.
        let legit = s.spawn(|| {
            let mut rec = Recording::default();
            let Ok(mut c) = Client::new(&a, Duration::from_secs(15)) else { return rec };
            let bearer = format!("Bearer {}", account.token);
            let path = format!("/api/v1/users/{}", account.id);
            let mut n = 0u64;
            let mut login_client = Client::new(&a, Duration::from_secs(15)).ok();
            while origin.elapsed() < length {
                n += 1;
                let started = origin.elapsed();
                let (op, r) = if n % 10 == 0 {
                    let r = login_client
                        .as_mut()
                        .and_then(|lc| traffic::login_reply(lc, &account.email, "10.202.0.1").ok());
                    (traffic::Op::Login, r.map_or(0, |r| r.status))
                } else if n % 2 == 0 {
                    (traffic::Op::Read, c.send("GET", &path, &[("authorization", &bearer), ("x-forwarded-for", "10.202.0.1")], None).map_or(0, |r| r.status))
                } else {
                    (traffic::Op::Read, c.send("GET", "/health/live", &[], None).map_or(0, |r| r.status))
                };
                rec.events.push(Event { op, started, ended: origin.elapsed(), status: r, typed: false });
                std::thread::sleep(Duration::from_millis(20));
            }
            rec
        });
        let legit = legit.join();
        stop.store(true, Ordering::Relaxed);
        legit
    })
    .map_err(|_| "legitimate client panicked".to_owned())?;

    let reads = || legit.events.iter().filter(|e| e.op == traffic::Op::Read);
    let logins = || legit.events.iter().filter(|e| e.op == traffic::Op::Login);
    let p99 = Recording::quantile(reads(), 0.99);
    let login_p99 = Recording::quantile(logins(), 0.99);
    let flood = flood_status.into_inner().unwrap_or_default();
    let oversized = oversized_status.into_inner().unwrap_or_default();
    let bound = if rig.timing.smoke {
        Duration::from_secs(1)
    } else {
        Duration::from_millis(100)
    };
    let mut o = Outcome::default();
    o.load = "3 signup-flood clients (new address each request), 1 MiB bodies, 100 half-sent heads, 1 legitimate client".into();
    o.faults = "client abuse".into();
    o.errors = format!(
        "legit {}; flood {}; oversized {}",
        statuses(&Recording::by_status(legit.events.iter())),
        statuses(&flood),
        statuses(&oversized)
    );
    o.notes = format!(
        "legit read p99 {:.1} ms, login p99 {:.0} ms; half-sent heads dropped {} of {} opened",
        p99.as_secs_f64() * 1000.0,
        login_p99.as_secs_f64() * 1000.0,
        slow_dropped.load(Ordering::Relaxed),
        slow_held.load(Ordering::Relaxed)
    );
    o.check(
        legit.events.iter().all(Event::ok),
        "a legitimate request failed",
    );
    o.check(p99 <= bound, "legitimate read p99 above its bound");
    o.check(
        flood.keys().all(|s| [201, 429, 503].contains(s)),
        "the signup flood got an answer other than 201/429/503",
    );
    o.check(
        oversized.keys().all(|s| *s == 413),
        "an oversized body was not answered 413",
    );
    o.check(
        slow_held.load(Ordering::Relaxed) > 0
            && slow_dropped.load(Ordering::Relaxed) >= slow_held.load(Ordering::Relaxed) * 9 / 10,
        "half-sent requests were not dropped within the header timeout",
    );
    Ok(o)
}

/// Keeps `n` connections with an unfinished request head open; counts those the server
/// closes within the header timeout (+ slack) and reopens them.
fn slowloris(base: &str, n: usize, stop: &AtomicBool, dropped: &AtomicU64, held: &AtomicU64) {
    let addr = base.trim_start_matches("http://").to_owned();
    let mut conns: Vec<(TcpStream, Instant)> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        while conns.len() < n {
            let Ok(mut s) = TcpStream::connect(&addr) else {
                break;
            };
            let _ = s.write_all(b"GET /health/live HTTP/1.1\r\nhost: drill\r\nx-slow: ");
            let _ = s.set_read_timeout(Some(Duration::from_millis(1)));
            held.fetch_add(1, Ordering::Relaxed);
            conns.push((s, Instant::now()));
        }
        conns.retain_mut(|(s, opened)| {
            let mut buf = [0u8; 512];
            match s.read(&mut buf) {
                // Closed (or answered 408 and closed) by the server.
                Ok(_) => {
                    if opened.elapsed() <= HEADER_TIMEOUT + SLACK {
                        dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    false
                }
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    true
                }
                Err(_) => {
                    dropped.fetch_add(1, Ordering::Relaxed);
                    false
                }
            }
        });
        std::thread::sleep(Duration::from_millis(50));
    }
    // Connections still open at the end were opened within the last header timeout.
    let young = conns
        .iter()
        .filter(|(_, o)| o.elapsed() <= HEADER_TIMEOUT + SLACK)
        .count();
    held.fetch_sub(young as u64, Ordering::Relaxed);
}

// ---- Soak ----------------------------------------------------------------------------

fn soak(rig: &mut Rig<'_>) -> Result<Outcome, String> {
    let length = rig.timing.secs(600.0, 6.0);
    let warmup = rig.timing.secs(120.0, 2.0);
    let every = rig.timing.secs(10.0, 0.5);
    let window = rig.timing.secs(60.0, 2.0);
    let mut samples: Vec<(Duration, u64, u64)> = Vec::new();
    let (rec, _) = rig.with_traffic(Mix::MIXED, |rig, origin| {
        while origin.elapsed() < length {
            std::thread::sleep(every);
            samples.push((
                origin.elapsed(),
                rig.a.rss_kib().unwrap_or(0),
                rig.b.rss_kib().unwrap_or(0),
            ));
        }
        Ok(Window {
            start: length,
            end: length,
        })
    })?;
    let base = samples.iter().find(|(t, ..)| *t >= warmup).copied();
    let last = samples.last().copied();
    let growth = match (base, last) {
        (Some((_, a0, b0)), Some((_, a1, b1))) if a0 > 0 && b0 > 0 => {
            Some((a1 as f64 / a0 as f64 - 1.0).max(b1 as f64 / b0 as f64 - 1.0))
        }
        _ => None,
    };
    // p99 per window after warm-up.
    let mut p99s = Vec::new();
    let mut t = warmup;
    while t + window <= length + Duration::from_millis(1) {
        let in_window = rec
            .events
            .iter()
            .filter(|e| e.ended >= t && e.ended < t + window);
        p99s.push(Recording::quantile(in_window, 0.99));
        t += window;
    }
    let first = p99s.first().copied().unwrap_or_default();
    let worst = p99s.iter().max().copied().unwrap_or_default();
    let mut o = judge_window(
        &rec,
        Window {
            start: length,
            end: length,
        },
        &[],
    );
    o.load = format!(
        "{WORKERS} clients, signup/patch/login/read 1:1:1:7, 2 replicas, {:.0} s",
        length.as_secs_f64()
    );
    o.faults = "none (soak)".into();
    o.acked = Some(rec.acked.len() as u64);
    let stored = stored_ids(rig.services)?;
    o.lost = Some(rec.acked.iter().filter(|id| !stored.contains(*id)).count() as u64);
    let rss = |s: Option<(Duration, u64, u64)>| {
        s.map_or_else(
            || "-".to_owned(),
            |(_, a, b)| format!("{} / {} MiB", a / 1024, b / 1024),
        )
    };
    o.notes = format!(
        "{} requests; RSS after warm-up {} → end {} (growth {}); p99 per {:.0} s window: first {:.1} ms, worst {:.1} ms",
        rec.events.len(),
        rss(base),
        rss(last),
        growth.map_or_else(|| "-".to_owned(), |g| format!("{:+.1} %", g * 100.0)),
        window.as_secs_f64(),
        first.as_secs_f64() * 1000.0,
        worst.as_secs_f64() * 1000.0,
    );
    o.check(o.lost == Some(0), "acknowledged writes were lost");
    if !rig.timing.smoke {
        // A few seconds say nothing about leaks or drift; the full soak does.
        o.check(
            growth.is_some_and(|g| g < 0.10),
            "RSS grew by 10 % or more after warm-up",
        );
        o.check(
            worst <= first * 2 + Duration::from_millis(5),
            "p99 drifted: worst window more than twice the first",
        );
    }
    Ok(o)
}

// ---- Judging -------------------------------------------------------------------------

/// Non-2xx answers are allowed only while the fault is in force (+ [`GRACE`]), only with a
/// status in `documented`, and only as a typed envelope error.
fn judge_window(rec: &Recording, window: Window, documented: &[u16]) -> Outcome {
    let failures = || rec.events.iter().filter(|e| !e.ok());
    let unexpected: Vec<&Event> = failures()
        .filter(|e| !(window.overlaps(e) && documented.contains(&e.status) && e.typed))
        .collect();
    let mut o = Outcome::default();
    o.errors = statuses(&Recording::by_status(failures()));
    o.check(
        unexpected.is_empty(),
        &format!(
            "{} undocumented answers ({})",
            unexpected.len(),
            statuses(&Recording::by_status(unexpected.iter().copied()))
        ),
    );
    o
}

/// How long after `at` the first write succeeded.
fn first_write_after(rec: &Recording, at: Duration) -> Option<Duration> {
    rec.events
        .iter()
        .filter(|e| e.op.writes() && e.ok() && e.ended >= at)
        .map(|e| e.ended - at)
        .min()
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let st = cmd.status().map_err(|e| format!("{cmd:?}: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed ({st})"))
    }
}
