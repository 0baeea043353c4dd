//! `cargo xtask load [--smoke]`: HTTP load against the reference service over loopback
//! with `wrk`, next to a bare axum baseline, bounded in time. Results go to
//! `docs/benchmarks.json` / `docs/benchmarks.md` / `docs/img/` (not in `--smoke` mode,
//! which only proves the harness works and is part of `cargo xtask test`).
//!
//! Scenarios (release builds; every service instance runs against the same throwaway
//! PostgreSQL, and Redis when installed):
//!
//! 1. **Like for like**, one interleaved group: bare axum's `/health/live`; the service's
//!    `/health/live` on the same bytes (the public, status-only body: the harness fails
//!    if the bodies differ) with the shipped defaults (global per-IP limit on, access log
//!    at `info`) and with the global limit off; the authenticated `GET /api/v1/users/{id}`
//!    (JWT verification with the revocation check, AES-GCM decryption of the phone, JSON)
//!    with the user cache on and off (global limit off there: at its shipped 100/s per IP
//!    one load generator would measure 429s), and the cache hit once more with the
//!    `Accept-Encoding: gzip` every real client sends (the body stays under the stack's
//!    compression minimum, so the bytes are the same). All six run in turn for `ROUNDS` rounds,
//!    so a build starting elsewhere on the machine slows every row alike; every row gets
//!    its ratio to the baseline of the same rounds.
//! 2. **Login saturation**: Argon2id logins from a crowd of `X-Forwarded-For` addresses
//!    (the service trusts loopback as its proxy, `KEEL_TRUSTED_PROXIES=127.0.0.1/32`, so
//!    each simulated client is its own network, as behind a load balancer), with
//!    `/health/live` probed at the same time: its p99 is the "liveness stays fast while
//!    the CPU hashes passwords" figure.
//! 3. **Mixed**: signup, login, profile change and reads, from the same crowd.

mod table;
mod wrk;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub(crate) use table::LoadReport;
use table::{Liveness, Login, Mixed, RunInfo, UserRead, ratio};
use wrk::{Target, WrkStats};

use crate::cmd::{Profile, build_bins, works, workspace_root};
use crate::services::{RedisNeed, Services, apt_install};

/// A child process killed on drop.
struct Server {
    name: &'static str,
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Unrecorded seconds of load per target before an interleaved group's rounds (full
/// runs; the smoke run only proves the harness works).
pub(crate) const WARM_UP_SECS: u64 = 1;

/// How long and how often.
#[derive(Debug, Clone, Copy)]
struct Mode {
    /// Seconds per round of an interleaved scenario.
    round_secs: u64,
    /// Rounds of the interleaved group.
    rounds: u32,
    /// Seconds of the login and mixed scenarios.
    secs: u64,
    /// Users seeded.
    users: usize,
    /// Unrecorded seconds per target before the interleaved rounds (0: none).
    warm_up_secs: u64,
}

const FULL: Mode = Mode {
    round_secs: 5,
    rounds: 3,
    secs: 15,
    users: 8,
    warm_up_secs: WARM_UP_SECS,
};

const SMOKE: Mode = Mode {
    round_secs: 2,
    rounds: 1,
    secs: 2,
    users: 2,
    warm_up_secs: 0,
};

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let smoke = args.iter().any(|a| a == "--smoke");
    if let Some(a) = args.iter().find(|a| *a != "--smoke") {
        return Err(format!(
            "unknown argument `{a}` (usage: cargo xtask load [--smoke])"
        ));
    }
    let mode = if smoke { SMOKE } else { FULL };
    if !works("wrk", &["-v"]) && Command::new("wrk").arg("-v").output().is_err() {
        apt_install(&["wrk"], "the load generator `wrk` is missing")?;
    }
    let root = workspace_root();
    // Debug builds share the test build's (`cargo xtask test` runs this smoke).
    let profile = if smoke {
        Profile::Debug
    } else {
        Profile::Release
    };
    let bins = build_bins(
        profile,
        &["reference-service", "keel-benches"],
        &["reference-service", "bare-axum"],
    )?;
    let bin = |name: &str| bins.get(name).cloned().unwrap_or_default();
    let work = root.join("target").join("keel-load");
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    // The servers' logs hold an access line per request (≈ 0.5 GB per full run): only the
    // current run's are kept, and only when it fails.
    remove_logs(&work);

    println!("\n==> starting throwaway PostgreSQL and Redis");
    let services = Services::start(RedisNeed::IfAvailable)?;
    let service =
        |opts: ServiceOpts| start_service(&bin("reference-service"), &services, opts, &work);

    // 1. The like-for-like group: every server up at once, scenarios in turn.
    let bare = start(&bin("bare-axum"), "bare-axum", &[], &work)?;
    let bare_body = curl(&["-fsS", &format!("{}/health/live", bare.url)])?;
    let shipped = service(ServiceOpts::SHIPPED)?;
    let limit_off = service(ServiceOpts::LIMIT_OFF)?;
    let uncached = service(ServiceOpts {
        cache: false,
        ..ServiceOpts::LIMIT_OFF
    })?;
    for s in [&shipped, &limit_off, &uncached] {
        same_body(&s.url, &bare_body)?;
    }
    let seeded = seed(&limit_off.url, mode.users)?;
    let (id, token) = seeded.users.first().cloned().ok_or("no user seeded")?;
    let path = format!("/api/v1/users/{id}");
    let auth = vec![format!("Authorization: Bearer {token}")];
    let auth_gzip = vec![auth[0].clone(), "Accept-Encoding: gzip".to_owned()];
    let group = [
        Target::get(&bare.url, "/health/live", &[]),
        Target::get(&shipped.url, "/health/live", &[]),
        Target::get(&limit_off.url, "/health/live", &[]),
        Target::get(&limit_off.url, &path, &auth),
        Target::get(&uncached.url, &path, &auth),
        Target::get(&limit_off.url, &path, &auth_gzip),
    ];
    let load_average_start = load_average();
    println!(
        "\n==> like-for-like group: {} rounds of {} s per scenario (load average {load_average_start})",
        mode.rounds, mode.round_secs
    );
    let [base, defaults, no_limit, hit, miss, hit_gzip] = interleaved(&group, mode)?;
    drop((bare, shipped, limit_off, uncached));
    let liveness = Liveness {
        throughput_ratio: ratio(Some(&defaults), Some(&base)),
        limit_off_ratio: ratio(Some(&no_limit), Some(&base)),
        bare_axum: Some(base.clone()),
        service: Some(defaults),
        service_limit_off: Some(no_limit),
        body: bare_body,
    };
    let user_read = UserRead {
        throughput_ratio: ratio(Some(&hit), Some(&miss)),
        hit_vs_bare: ratio(Some(&hit), Some(&base)),
        miss_vs_bare: ratio(Some(&miss), Some(&base)),
        cache_hit: Some(hit),
        cache_disabled: Some(miss),
        cache_hit_gzip_client: Some(hit_gzip),
    };

    // 2. Login saturation from a crowd, and liveness latency measured at the same time.
    let crowd = service(ServiceOpts {
        trusted_loopback_proxy: true,
        ..ServiceOpts::LIMIT_OFF
    })?;
    let seeded = seed(&crowd.url, mode.users)?;
    let login_lua = wrk::login_script(&work, &seeded.tag, seeded.users.len())?;
    println!(
        "\n==> login saturation ({} s) with liveness probed meanwhile",
        mode.secs
    );
    let probe = Target {
        threads: 1,
        conns: 2,
        ..Target::get(&crowd.url, "/health/live", &[])
    };
    let probe = std::thread::spawn(move || probe.run(mode.secs));
    let login_stats = Target::script(&crowd.url, &login_lua).run(mode.secs)?;
    let during = probe
        .join()
        .map_err(|_| "liveness probe thread panicked".to_owned())??;
    let login = Login {
        liveness_during_login_vs_bare: ratio(Some(&during), Some(&base)),
        login: Some(login_stats),
        liveness_during_login: Some(during),
    };

    // 3. Mixed read/write profile: signup, login, get, patch.
    let (id, token) = seeded.users.first().cloned().ok_or("no user seeded")?;
    let mixed_lua = wrk::mixed_script(&work, &seeded.tag, &id, &token)?;
    println!("\n==> mixed profile ({} s)", mode.secs);
    let mixed = Mixed {
        mixed: Some(Target::script(&crowd.url, &mixed_lua).run(mode.secs)?),
    };
    drop(crowd);
    drop(services);

    let report = LoadReport {
        run: RunInfo {
            command: format!("cargo xtask load{}", if smoke { " --smoke" } else { "" }),
            date: crate::report::utc_now(),
            seconds_per_scenario: mode.round_secs * u64::from(mode.rounds),
            rounds: mode.rounds,
            generator: "wrk 4 (loopback, client and server share the 2 cores)".to_owned(),
            load_average_start,
        },
        uptime: load_average(),
        liveness,
        user_read,
        login,
        mixed,
    };
    let unexpected = unexpected(&report);
    let mut md = String::new();
    report.markdown(&mut md);
    println!("{md}");
    if smoke {
        println!("\n==> load smoke: harness works ({unexpected} unexpected responses)");
    } else {
        let mut summary = crate::bench::load_summary(&root)?;
        summary["load"] = report.to_json()?;
        crate::report::write(&root, &summary)?;
    }
    if unexpected > 0 {
        return Err(format!(
            "{unexpected} unexpected responses (non-2xx in the plain scenarios, other than 429/503 in the scripted ones); server logs in {}",
            work.display()
        ));
    }
    remove_logs(&work);
    Ok(())
}

/// Deletes the servers' `*.log` files in `work` (best effort).
fn remove_logs(work: &Path) {
    let Ok(entries) = std::fs::read_dir(work) else {
        return;
    };
    for path in entries.flatten().map(|e| e.path()) {
        if path.extension().is_some_and(|x| x == "log") {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Unexpected answers over every scenario.
fn unexpected(r: &LoadReport) -> u64 {
    [
        r.liveness.bare_axum.as_ref(),
        r.liveness.service.as_ref(),
        r.liveness.service_limit_off.as_ref(),
        r.user_read.cache_hit.as_ref(),
        r.user_read.cache_disabled.as_ref(),
        r.user_read.cache_hit_gzip_client.as_ref(),
        r.login.login.as_ref(),
        r.login.liveness_during_login.as_ref(),
        r.mixed.mixed.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(|s| s.unexpected)
    .sum()
}

/// Runs every target of `group` for `mode.round_secs`, in turn, `mode.rounds` times
/// (the order rotates each round), and merges each target's rounds.
fn interleaved<const N: usize>(group: &[Target; N], mode: Mode) -> Result<[WrkStats; N], String> {
    // One unrecorded second per target first, so no round pays for a fresh server's
    // connection setup, allocator growth and cold caches. (The first round still often
    // runs below the next ones on this 2-core machine, warm-up or not: machine noise.)
    if mode.warm_up_secs > 0 {
        for target in group {
            target.run(mode.warm_up_secs)?;
        }
    }
    let mut runs: [Vec<WrkStats>; N] = std::array::from_fn(|_| Vec::new());
    for round in 0..mode.rounds as usize {
        for k in 0..N {
            let i = (k + round) % N;
            let stats = group[i].run(mode.round_secs)?;
            println!(
                "    round {} {:>30}: {:>9.0} req/s, p99 {:?} ms",
                round + 1,
                group[i].label(),
                stats.rps,
                stats.p99_ms
            );
            runs[i].push(stats);
        }
    }
    Ok(std::array::from_fn(|i| WrkStats::merge(&runs[i])))
}

fn start(
    bin: &Path,
    name: &'static str,
    env: &[(&str, String)],
    work: &Path,
) -> Result<Server, String> {
    let port = keel_testkit::free_port();
    let log = std::fs::File::create(work.join(format!("{name}-{port}.log")))
        .map_err(|e| e.to_string())?;
    let child = Command::new(bin)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("KEEL_BIND", format!("127.0.0.1:{port}"))
        .stdout(Stdio::from(log.try_clone().map_err(|e| e.to_string())?))
        .stderr(Stdio::from(log))
        .spawn()
        .map_err(|e| format!("start {}: {e}", bin.display()))?;
    let server = Server {
        name,
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if curl(&["-fsS", &format!("{}/health/live", server.url)]).is_ok() {
            println!("    {} on {}", server.name, server.url);
            return Ok(server);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!(
        "{name} did not become live; see {}",
        work.join(format!("{name}-{port}.log")).display()
    ))
}

/// How a scenario runs the service.
#[derive(Debug, Clone, Copy)]
struct ServiceOpts {
    /// `KEEL_USER_CACHE`.
    cache: bool,
    /// The global per-IP limit at its shipped default (`false`: `KEEL_RATE_LIMIT_GLOBAL=off`).
    global_limit: bool,
    /// `KEEL_TRUSTED_PROXIES=127.0.0.1/32`: the load generator's `X-Forwarded-For` is
    /// believed, so each forwarded address is a client network of its own.
    trusted_loopback_proxy: bool,
}

impl ServiceOpts {
    /// What the service ships with.
    const SHIPPED: Self = Self {
        cache: true,
        global_limit: true,
        trusted_loopback_proxy: false,
    };
    /// The global per-IP limit off (one load generator would otherwise measure 429s).
    const LIMIT_OFF: Self = Self {
        global_limit: false,
        ..Self::SHIPPED
    };
}

/// Fails unless the service's `/health/live` answers exactly `expected` (the baseline's
/// bytes): the comparison is like for like only on the same body.
fn same_body(base: &str, expected: &str) -> Result<(), String> {
    let got = curl(&["-fsS", &format!("{base}/health/live")])?;
    if got == expected {
        Ok(())
    } else {
        Err(format!(
            "/health/live answers {got:?}, the baseline {expected:?}: not like for like"
        ))
    }
}

/// The load average (1, 5, 15 min): the machine is shared and the figures depend on it.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn start_service(
    bin: &Path,
    services: &Services,
    opts: ServiceOpts,
    work: &Path,
) -> Result<Server, String> {
    let mut env = vec![
        ("DATABASE_URL", services.postgres.url()),
        (
            "KEEL_JWT_SECRET",
            // Random-looking: the service refuses low-entropy secrets outside development mode.
            "q7Vx2LmP9sTz4RkW8eNb3HyJ6cFd1GuA5oXi0QwEjKrYtZvBnMhSgUaClDpOfI".to_owned(),
        ),
        (
            "KEEL_ENCRYPTION_KEYS",
            "1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".to_owned(),
        ),
        // Seeding and the mixed profile sign up many accounts; the crowd spreads them over
        // many networks, seeding does not.
        ("KEEL_RATE_LIMIT_SIGNUP", "100000/second".to_owned()),
        ("KEEL_USER_CACHE", opts.cache.to_string()),
        ("RUST_LOG", "info".to_owned()),
        // The public, status-only health answers (what the baseline writes).
        ("KEEL_HEALTH_DETAILS_LOOPBACK", "false".to_owned()),
    ];
    if !opts.global_limit {
        env.push(("KEEL_RATE_LIMIT_GLOBAL", "off".to_owned()));
    }
    if opts.trusted_loopback_proxy {
        env.push(("KEEL_TRUSTED_PROXIES", "127.0.0.1/32".to_owned()));
    }
    if let Some(r) = &services.redis {
        env.push(("REDIS_URL", r.url()));
    }
    start(bin, "reference-service", &env, work)
}

fn curl(args: &[&str]) -> Result<String, String> {
    let out = Command::new("curl")
        .args(args)
        .output()
        .map_err(|e| format!("curl: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "curl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Users created by [`seed`]: emails are `<tag>-<i>@example.com`.
struct Seeded {
    tag: String,
    /// (id, access token)
    users: Vec<(String, String)>,
}

#[derive(Serialize)]
struct Signup<'a> {
    email: &'a str,
    password: &'a str,
    first_name: &'a str,
    last_name: &'a str,
    /// Stored encrypted: every read of the user decrypts it (AES-GCM).
    phone: &'a str,
}

#[derive(Serialize)]
struct Credentials<'a> {
    email: &'a str,
    password: &'a str,
}

/// The `data` of a success envelope.
#[derive(Deserialize)]
struct Data<T> {
    data: T,
}

#[derive(Deserialize)]
struct Created {
    id: String,
}

#[derive(Deserialize)]
struct Tokens {
    access_token: String,
}

const PASSWORD: &str = "load-test-Passw0rd!";

fn post_json<T: for<'de> Deserialize<'de>>(url: &str, body: &impl Serialize) -> Result<T, String> {
    let body = serde_json::to_string(body).map_err(|e| e.to_string())?;
    let answer = curl(&[
        "-fsS",
        "-H",
        "content-type: application/json",
        "-d",
        &body,
        url,
    ])?;
    serde_json::from_str::<Data<T>>(&answer)
        .map(|d| d.data)
        .map_err(|e| format!("{url}: {e}: {answer}"))
}

/// Signs up and logs in `n` users.
fn seed(base: &str, n: usize) -> Result<Seeded, String> {
    let mut users = Vec::new();
    let tag = keel_testkit::unique_name("load");
    for i in 0..n {
        let email = format!("{tag}-{i}@example.com");
        let created: Created = post_json(
            &format!("{base}/api/v1/auth/signup"),
            &Signup {
                email: &email,
                password: PASSWORD,
                first_name: "Load",
                last_name: "Tester",
                phone: "+44 20 7183 8750",
            },
        )?;
        let tokens: Tokens = post_json(
            &format!("{base}/api/v1/auth/login"),
            &Credentials {
                email: &email,
                password: PASSWORD,
            },
        )?;
        users.push((created.id, tokens.access_token));
    }
    Ok(Seeded { tag, users })
}

/// The load section of `docs/benchmarks.md` from `docs/benchmarks.json`'s `load`
/// (results the harness cannot read are reported as such, not guessed).
pub(crate) fn markdown(md: &mut String, load: &Map<String, Value>) {
    match LoadReport::from_json(load) {
        Ok(report) => report.markdown(md),
        Err(e) => {
            use std::fmt::Write as _;
            let _ = writeln!(
                md,
                "\n## HTTP load (generated)\n\nUnreadable results: {e}. Rerun `cargo xtask load`."
            );
        }
    }
}

/// Throughput and p99 charts of the load scenarios.
pub(crate) fn charts(img: &Path, load: &Map<String, Value>) -> Result<(), String> {
    LoadReport::from_json(load)?.charts(img)
}
