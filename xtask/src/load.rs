//! `cargo xtask load [--smoke]`: HTTP load against the reference service over loopback
//! with `wrk`, next to a bare axum baseline, bounded in time. Results go to
//! `docs/benchmarks.json` / `docs/benchmarks.md` / `docs/img/` (not in `--smoke` mode,
//! which only proves the harness works and is part of `cargo xtask test`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::cmd::{cargo, run_step, works, workspace_root};
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

#[derive(Debug, Clone, Copy)]
struct Mode {
    secs: u64,
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let smoke = args.iter().any(|a| a == "--smoke");
    if let Some(a) = args.iter().find(|a| *a != "--smoke") {
        return Err(format!(
            "unknown argument `{a}` (usage: cargo xtask load [--smoke])"
        ));
    }
    let mode = Mode {
        secs: if smoke { 2 } else { 15 },
    };
    if !works("wrk", &["-v"]) && Command::new("wrk").arg("-v").output().is_err() {
        apt_install(&["wrk"], "the load generator `wrk` is missing")?;
    }
    let root = workspace_root();
    let profile = if smoke { "debug" } else { "release" };
    let mut build = cargo();
    build.args([
        "build",
        "-p",
        "reference-service",
        "-p",
        "keel-benches",
        "--bin",
        "reference-service",
        "--bin",
        "bare-axum",
    ]);
    if !smoke {
        build.arg("--release");
    }
    run_step(&format!("build ({profile})"), &mut build)?;
    let bin = |name: &str| root.join("target").join(profile).join(name);
    let work = root.join("target").join("keel-load");
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;

    println!("\n==> starting throwaway PostgreSQL and Redis");
    let services = Services::start(RedisNeed::IfAvailable)?;
    let mut results = Map::new();

    // 1. Middleware cost: /health/live on the service vs the bare axum baseline, on the
    //    same bytes (the public, status-only body), with the shipped defaults (global
    //    per-IP limit on, access log at info) and with the global limit off.
    let bare = start(&bin("bare-axum"), "bare-axum", &[], &work)?;
    let bare_body = curl(&["-fsS", &format!("{}/health/live", bare.url)])?;
    let base = wrk(&bare.url, "/health/live", 2, 32, mode, None)?;
    drop(bare);
    let shipped = ServiceOpts {
        cache: true,
        global_limit: true,
    };
    let svc = start_service(&bin("reference-service"), &services, shipped, &work)?;
    same_body(&svc.url, &bare_body)?;
    let defaults = wrk(&svc.url, "/health/live", 2, 32, mode, None)?;
    drop(svc);
    let no_limit = ServiceOpts {
        cache: true,
        global_limit: false,
    };
    let svc = start_service(&bin("reference-service"), &services, no_limit, &work)?;
    same_body(&svc.url, &bare_body)?;
    let limit_off = wrk(&svc.url, "/health/live", 2, 32, mode, None)?;
    results.insert(
        "liveness".into(),
        json!({ "bare_axum": base, "service": defaults, "service_limit_off": limit_off,
                "throughput_ratio": ratio(&defaults, &base, "rps"),
                "limit_off_ratio": ratio(&limit_off, &base, "rps"),
                "body": bare_body }),
    );

    // 2. Cache value: the authenticated GET /users/{id} (JWT verify, AES-GCM decrypt, JSON)
    //    with the cache on vs off. The global limit is off here: at its shipped 100/s per
    //    IP, one load generator would measure 429s.
    let seeded = seed(&svc.url, if smoke { 2 } else { 8 })?;
    let (id, token) = seeded.users.first().cloned().ok_or("no user seeded")?;
    let path = format!("/api/v1/users/{id}");
    let auth = format!("Authorization: Bearer {token}");
    let hit = wrk(&svc.url, &path, 2, 32, mode, Some(&auth))?;
    drop(svc);
    let uncached = ServiceOpts {
        cache: false,
        global_limit: false,
    };
    let svc = start_service(&bin("reference-service"), &services, uncached, &work)?;
    let miss = wrk(&svc.url, &path, 2, 32, mode, Some(&auth))?;
    results.insert(
        "user_read".into(),
        json!({ "cache_hit": hit, "cache_disabled": miss, "throughput_ratio": ratio(&hit, &miss, "rps"),
                "hit_vs_bare": ratio(&hit, &base, "rps"), "miss_vs_bare": ratio(&miss, &base, "rps") }),
    );
    drop(svc);

    // 3. Login saturation, and liveness latency measured at the same time.
    let svc = start_service(&bin("reference-service"), &services, no_limit, &work)?;
    let seeded = seed(&svc.url, if smoke { 2 } else { 8 })?;
    let login_lua = login_script(&work, &seeded)?;
    let probe_url = svc.url.clone();
    let probe = std::thread::spawn(move || wrk(&probe_url, "/health/live", 1, 2, mode, None));
    let login = wrk_script(&svc.url, &login_lua, 2, 16, mode)?;
    let during = probe
        .join()
        .map_err(|_| "liveness probe thread panicked".to_owned())??;
    results.insert(
        "login".into(),
        json!({ "login": login, "liveness_during_login": during,
                "liveness_during_login_vs_bare": ratio(&during, &base, "rps") }),
    );

    // 4. Mixed read/write profile: signup, login, get, patch.
    let mixed_lua = mixed_script(&work, &seeded)?;
    let mixed = wrk_script(&svc.url, &mixed_lua, 2, 16, mode)?;
    results.insert("mixed".into(), json!({ "mixed": mixed }));
    results.insert("uptime".into(), json!(uptime()));
    drop(svc);
    drop(services);

    let unexpected =
        mixed["unexpected"].as_u64().unwrap_or(0) + login["unexpected"].as_u64().unwrap_or(0);
    if smoke {
        for (name, v) in &results {
            println!("    {name}: {v}");
        }
        println!("\n==> load smoke: harness works ({unexpected} unexpected responses)");
        return if unexpected == 0 {
            Ok(())
        } else {
            Err(format!("load smoke: {unexpected} unexpected responses"))
        };
    }
    let mut summary = crate::bench::load_summary(&root)?;
    results.insert(
        "run".into(),
        json!({ "command": "cargo xtask load", "date": crate::report::utc_now(), "seconds_per_scenario": mode.secs,
                "generator": "wrk 4 (loopback, client and server share the 2 cores)" }),
    );
    summary["load"] = Value::Object(results);
    crate::report::write(&root, &summary)?;
    if unexpected > 0 {
        return Err(format!(
            "{unexpected} unexpected responses in the login/mixed scenarios"
        ));
    }
    Ok(())
}

fn ratio(a: &Value, b: &Value, key: &str) -> Value {
    match (a[key].as_f64(), b[key].as_f64()) {
        (Some(x), Some(y)) if y > 0.0 => json!((x / y * 100.0).round() / 100.0),
        _ => Value::Null,
    }
}

fn start(
    bin: &Path,
    name: &'static str,
    env: &[(&str, String)],
    work: &Path,
) -> Result<Server, String> {
    let port = keel_testkit::free_port();
    let log = std::fs::File::create(work.join(format!("{name}.log"))).map_err(|e| e.to_string())?;
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
        work.join(format!("{name}.log")).display()
    ))
}

/// How a scenario runs the service.
#[derive(Debug, Clone, Copy)]
struct ServiceOpts {
    /// `KEEL_USER_CACHE`.
    cache: bool,
    /// The global per-IP limit at its shipped default (`false`: `KEEL_RATE_LIMIT_GLOBAL=off`).
    global_limit: bool,
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

/// The load average when the run ends (the machine is shared: the figures depend on it).
fn uptime() -> String {
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
        // Login limits stay on (they are part of the login path) but cannot bind.
        ("KEEL_RATE_LIMIT_LOGIN_IP", "100000/second".to_owned()),
        ("KEEL_RATE_LIMIT_LOGIN_EMAIL", "100000/second".to_owned()),
        // Seeding and the mixed profile sign up many accounts from one address.
        ("KEEL_RATE_LIMIT_SIGNUP", "100000/second".to_owned()),
        ("KEEL_USER_CACHE", opts.cache.to_string()),
        ("RUST_LOG", "info".to_owned()),
        // The public, status-only health answers (what the baseline writes).
        ("KEEL_HEALTH_DETAILS_LOOPBACK", "false".to_owned()),
    ];
    if !opts.global_limit {
        env.push(("KEEL_RATE_LIMIT_GLOBAL", "off".to_owned()));
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

/// Signs up and logs in `n` users.
fn seed(base: &str, n: usize) -> Result<Seeded, String> {
    let mut out = Vec::new();
    let tag = keel_testkit::unique_name("load");
    for i in 0..n {
        let email = format!("{tag}-{i}@example.com");
        let body = json!({ "email": email, "password": "load-test-Passw0rd!", "first_name": "Load", "last_name": "Tester" });
        let created = curl(&[
            "-fsS",
            "-H",
            "content-type: application/json",
            "-d",
            &body.to_string(),
            &format!("{base}/api/v1/auth/signup"),
        ])?;
        let created: Value =
            serde_json::from_str(&created).map_err(|e| format!("signup response: {e}"))?;
        let id = created["data"]["id"]
            .as_str()
            .ok_or("signup response has no data.id")?
            .to_owned();
        let login = json!({ "email": email, "password": "load-test-Passw0rd!" });
        let token = curl(&[
            "-fsS",
            "-H",
            "content-type: application/json",
            "-d",
            &login.to_string(),
            &format!("{base}/api/v1/auth/login"),
        ])?;
        let token: Value =
            serde_json::from_str(&token).map_err(|e| format!("login response: {e}"))?;
        let token = token["data"]["access_token"]
            .as_str()
            .ok_or("login response has no access_token")?
            .to_owned();
        out.push((id, token));
    }
    Ok(Seeded { tag, users: out })
}

/// Counts the answers of these scripts and gives each thread an id, so generated e-mails
/// are unique; read back in `done`. A saturated service sheds on purpose — `503` when the
/// password-hash queue is full, `429` when one client network has too many logins in
/// flight — so those are counted as shed; anything else that is not a 2xx is unexpected.
const COUNT_UNEXPECTED: &str = r#"
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end
function init(args) unexpected = 0; shed = 0 end
response = function(status, headers, body)
  if status == 503 or status == 429 then shed = shed + 1
  elseif status < 200 or status >= 300 then unexpected = unexpected + 1 end
end
function done(summary, latency, requests)
  local n, s = 0, 0
  for _, t in ipairs(threads) do n = n + t:get("unexpected"); s = s + t:get("shed") end
  io.write(string.format("KEEL_UNEXPECTED %d\n", n))
  io.write(string.format("KEEL_SHED %d\n", s))
end
"#;

fn login_script(work: &Path, seeded: &Seeded) -> Result<PathBuf, String> {
    let n = seeded.users.len();
    let mut lua = String::from(COUNT_UNEXPECTED);
    let _ = write!(
        lua,
        r#"
local i = 0
local prefix = "{}"
request = function()
  i = (i % {n}) + 1
  local body = string.format('{{"email":"%s-%d@example.com","password":"load-test-Passw0rd!"}}', prefix, i - 1)
  return wrk.format("POST", "/api/v1/auth/login", {{["Content-Type"] = "application/json"}}, body)
end
"#,
        seeded.tag
    );
    let path = work.join("login.lua");
    std::fs::write(&path, lua).map_err(|e| e.to_string())?;
    Ok(path)
}

fn mixed_script(work: &Path, seeded: &Seeded) -> Result<PathBuf, String> {
    let (id, token) = seeded.users.first().ok_or("no users")?;
    let mut lua = String::from(COUNT_UNEXPECTED);
    let _ = write!(
        lua,
        r#"
local n = 0
local id = "{id}"
local auth = "Bearer {token}"
local prefix = "{}"
request = function()
  n = n + 1
  local step = n % 10
  if step == 0 then
    local body = string.format('{{"email":"mixed-%s-%d-%d@example.com","password":"load-test-Passw0rd!","first_name":"Mixed","last_name":"Load"}}', prefix, tid, n)
    return wrk.format("POST", "/api/v1/auth/signup", {{["Content-Type"] = "application/json"}}, body)
  elseif step == 1 then
    local body = string.format('{{"email":"%s-0@example.com","password":"load-test-Passw0rd!"}}', prefix)
    return wrk.format("POST", "/api/v1/auth/login", {{["Content-Type"] = "application/json"}}, body)
  elseif step == 2 then
    return wrk.format("PATCH", "/api/v1/users/" .. id, {{["Content-Type"] = "application/json", ["Authorization"] = auth}}, '{{"first_name":"Patched"}}')
  else
    return wrk.format("GET", "/api/v1/users/" .. id, {{["Authorization"] = auth}})
  end
end
"#,
        seeded.tag
    );
    let path = work.join("mixed.lua");
    std::fs::write(&path, lua).map_err(|e| e.to_string())?;
    Ok(path)
}

/// `wrk` with the common options: `threads`, `conns`, the scenario length, latency
/// percentiles, a 5 s timeout.
fn wrk_command(threads: u32, conns: u32, mode: Mode) -> Command {
    let mut c = Command::new("wrk");
    c.args(["-t", &threads.to_string(), "-c", &conns.to_string()])
        .args([
            "-d",
            &format!("{}s", mode.secs),
            "--latency",
            "--timeout",
            "5s",
        ]);
    c
}

fn wrk(
    base: &str,
    path: &str,
    threads: u32,
    conns: u32,
    mode: Mode,
    header: Option<&str>,
) -> Result<Value, String> {
    let mut c = wrk_command(threads, conns, mode);
    if let Some(h) = header {
        c.args(["-H", h]);
    }
    run_wrk(c.arg(format!("{base}{path}")))
}

fn wrk_script(
    base: &str,
    script: &Path,
    threads: u32,
    conns: u32,
    mode: Mode,
) -> Result<Value, String> {
    run_wrk(
        wrk_command(threads, conns, mode)
            .arg("-s")
            .arg(script)
            .arg(base),
    )
}

fn run_wrk(c: &mut Command) -> Result<Value, String> {
    let out = c.output().map_err(|e| format!("wrk: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!(
            "wrk failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    parse_wrk(&text)
}

fn parse_duration_ms(s: &str) -> Option<f64> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic())?);
    let v: f64 = num.parse().ok()?;
    Some(match unit {
        "us" => v / 1000.0,
        "ms" => v,
        "s" => v * 1000.0,
        "m" => v * 60_000.0,
        _ => return None,
    })
}

fn parse_wrk(text: &str) -> Result<Value, String> {
    let mut rps = None;
    let mut p50 = None;
    let mut p99 = None;
    let mut non2xx = 0u64;
    let mut socket_errors = 0u64;
    let mut unexpected = 0u64;
    let mut shed = 0u64;
    let mut requests = 0u64;
    for line in text.lines() {
        let l = line.trim();
        if let Some(v) = l.strip_prefix("Requests/sec:") {
            rps = v.trim().parse::<f64>().ok();
        } else if let Some(v) = l.strip_prefix("50%") {
            p50 = parse_duration_ms(v);
        } else if let Some(v) = l.strip_prefix("99%") {
            p99 = parse_duration_ms(v);
        } else if let Some(v) = l.strip_prefix("Non-2xx or 3xx responses:") {
            non2xx = v.trim().parse().unwrap_or(0);
        } else if let Some(v) = l.strip_prefix("Socket errors:") {
            socket_errors = v
                .split(',')
                .filter_map(|p| p.split_whitespace().last()?.parse::<u64>().ok())
                .sum();
        } else if let Some(v) = l.strip_prefix("KEEL_UNEXPECTED") {
            unexpected = v.trim().parse().unwrap_or(0);
        } else if let Some(v) = l.strip_prefix("KEEL_SHED") {
            shed = v.trim().parse().unwrap_or(0);
        } else if l.contains("requests in") {
            requests = l
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
        }
    }
    let rps = rps.ok_or_else(|| format!("could not parse wrk output:\n{text}"))?;
    Ok(json!({
        "rps": (rps * 10.0).round() / 10.0,
        "p50_ms": p50, "p99_ms": p99,
        "requests": requests, "non_2xx": non2xx, "socket_errors": socket_errors, "unexpected": unexpected, "shed": shed,
    }))
}

/// The load section of `docs/benchmarks.md`.
pub(crate) fn markdown(md: &mut String, load: &Map<String, Value>) {
    let run = &load["run"];
    let _ = writeln!(md, "\n## HTTP load (generated)\n");
    let _ = writeln!(
        md,
        "`{}` on {}; {} s per scenario; {}; load average at the end {}.\n",
        run["command"].as_str().unwrap_or("cargo xtask load"),
        run["date"].as_str().unwrap_or("?"),
        run["seconds_per_scenario"],
        run["generator"].as_str().unwrap_or("wrk"),
        load["uptime"].as_str().unwrap_or("?")
    );
    let _ = writeln!(md, "![load scenarios](img/load-throughput.svg)\n");
    let _ = writeln!(
        md,
        "| scenario | requests/s | ÷ bare axum | p50 | p99 | non-2xx | unexpected |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|");
    let bare = load["liveness"]["bare_axum"]["rps"].as_f64();
    for (name, v) in rows(load) {
        let ms = |k: &str| {
            v[k].as_f64()
                .map_or_else(|| "-".to_owned(), |x| format!("{x:.2} ms"))
        };
        let rps = v["rps"].as_f64().unwrap_or(0.0);
        let to_bare = bare
            .filter(|b| *b > 0.0)
            .map_or_else(|| "-".to_owned(), |b| format!("{:.2}×", rps / b));
        let _ = writeln!(
            md,
            "| {name} | {rps:.0} | {to_bare} | {} | {} | {} | {} |",
            ms("p50_ms"),
            ms("p99_ms"),
            v["non_2xx"],
            v["unexpected"]
        );
    }
    let r = |a: &str, k: &str| {
        load[a][k]
            .as_f64()
            .map_or_else(|| "-".to_owned(), |x| format!("{x:.2}×"))
    };
    let p99 = load["login"]["liveness_during_login"]["p99_ms"].as_f64();
    let _ = writeln!(md, "\n| target | measured | goal |");
    let _ = writeln!(md, "|---|---:|---|");
    let _ = writeln!(
        md,
        "| shipped stack vs bare axum, `/health/live` (same body) throughput | {} | ≥ 0.60× (aim 0.75×) |",
        r("liveness", "throughput_ratio")
    );
    let _ = writeln!(
        md,
        "| same, global limit off | {} | — |",
        r("liveness", "limit_off_ratio")
    );
    let _ = writeln!(
        md,
        "| authenticated cached `GET /users/{{id}}` vs bare axum | {} | ≥ 0.5× |",
        r("user_read", "hit_vs_bare")
    );
    let _ = writeln!(
        md,
        "| cache-hit user read vs cache disabled | {} | ≥ 3× |",
        r("user_read", "throughput_ratio")
    );
    let _ = writeln!(
        md,
        "| `/health/live` p99 during login saturation | {} | ≤ 10 ms |",
        p99.map_or_else(|| "-".to_owned(), |x| format!("{x:.2} ms"))
    );
}

fn rows(load: &Map<String, Value>) -> Vec<(String, Value)> {
    let pick = |a: &str, b: &str, label: &str| (label.to_owned(), load[a][b].clone());
    vec![
        pick(
            "liveness",
            "bare_axum",
            "`/health/live`, bare axum baseline",
        ),
        pick(
            "liveness",
            "service",
            "`/health/live`, service, shipped defaults (global limit on, access log at info)",
        ),
        pick(
            "liveness",
            "service_limit_off",
            "`/health/live`, service, global limit off",
        ),
        pick(
            "user_read",
            "cache_hit",
            "`GET /users/{id}` with a JWT, cache hit",
        ),
        pick(
            "user_read",
            "cache_disabled",
            "`GET /users/{id}` with a JWT, cache disabled",
        ),
        pick("login", "login", "`POST /auth/login` (Argon2id)"),
        pick(
            "login",
            "liveness_during_login",
            "`/health/live` during login load",
        ),
        pick("mixed", "mixed", "mixed signup/login/get/patch"),
    ]
    .into_iter()
    .filter(|(_, v)| v.is_object())
    .collect()
}

/// Throughput and p99 charts of the load scenarios.
pub(crate) fn charts(img: &Path, load: &Map<String, Value>) -> Result<(), String> {
    let rows = rows(load);
    let rps: Vec<(String, f64)> = rows
        .iter()
        .map(|(n, v)| (n.replace('`', ""), v["rps"].as_f64().unwrap_or(0.0)))
        .collect();
    let p99: Vec<(String, f64)> = rows
        .iter()
        .map(|(n, v)| (n.replace('`', ""), v["p99_ms"].as_f64().unwrap_or(0.0)))
        .collect();
    std::fs::write(
        img.join("load-throughput.svg"),
        crate::report::bar_chart("Requests per second (higher is better)", &rps, None),
    )
    .map_err(|e| e.to_string())?;
    std::fs::write(
        img.join("load-p99.svg"),
        crate::report::bar_chart("p99 latency, ms (lower is better)", &p99, None),
    )
    .map_err(|e| e.to_string())
}
