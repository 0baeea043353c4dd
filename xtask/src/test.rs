//! `cargo xtask test`: the gate CI runs on every change.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::cmd::{Profile, build_bins, cargo, run_step, works};
use crate::services::{RedisNeed, Services, interrupted};

const PYTHON_MODULES: &str = "import cryptography, argon2";
const PYTHON_PACKAGES: [&str; 2] = ["cryptography", "argon2-cffi"];

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if let Some(a) = args.first() {
        return Err(format!("`cargo xtask test` takes no arguments (got `{a}`)"));
    }
    let started = Instant::now();
    let mut phases = Phases::default();
    let result = gate(&mut phases);
    phases.print();
    result?;
    println!(
        "\nxtask test: all checks passed in {:.0?}",
        started.elapsed()
    );
    Ok(())
}

/// Every check, in order. Builds are arranged so nothing compiles twice: clippy's check
/// of the dependencies is reused by rustdoc, and every debug binary the end-to-end steps
/// run comes from the test build's feature resolution (see [`crate::cmd::build_bins`]).
fn gate(phases: &mut Phases) -> Result<(), String> {
    phases.time("rustfmt", || {
        run_step("rustfmt", cargo().args(["fmt", "--all", "--check"]))
    })?;
    phases.time("clippy", || {
        run_step(
            "clippy",
            cargo().args([
                "clippy",
                "--workspace",
                "--all-targets",
                "--all-features",
                "--",
                "-D",
                "warnings",
            ]),
        )
    })?;
    phases.time("msrv", crate::msrv::run)?;

    let python = phases.time("python interop peers", ensure_python)?;
    println!("\n==> starting throwaway PostgreSQL and Redis");
    let services = phases.time("start servers", || Services::start(RedisNeed::Required))?;
    let mut env = services.test_env();
    let python_for_fuzz = python.clone();
    env.push(("KEEL_TEST_PYTHON".into(), python));
    let env = &env;

    let with_env = |mut c: Command| {
        c.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        c
    };
    let result = (|| {
        phases.time("tests (build + run)", || {
            if works("cargo", &["nextest", "--version"]) {
                let mut c = with_env(cargo());
                c.args([
                    "nextest",
                    "run",
                    "--workspace",
                    "--all-features",
                    "--no-fail-fast",
                ]);
                run_step("tests (nextest)", &mut c)
            } else {
                let mut c = with_env(cargo());
                c.args([
                    "test",
                    "--workspace",
                    "--all-features",
                    "--lib",
                    "--bins",
                    "--tests",
                    "--examples",
                ]);
                run_step("tests", &mut c)
            }
        })?;
        check_interrupt()?;
        phases.time("doctests", || {
            let mut c = with_env(cargo());
            c.args(["test", "--workspace", "--all-features", "--doc"]);
            run_step("doctests", &mut c)
        })?;
        check_interrupt()?;
        phases.time("OpenAPI fuzzing", || fuzz_api(&services, &python_for_fuzz))?;
        check_interrupt()?;
        phases.time("rustdoc", rustdoc)
    })();
    drop(services);
    println!("\n==> servers stopped and removed");
    result?;
    // The load harness must not rot: a few seconds per scenario, debug builds, no report.
    println!("\n==> load harness smoke test");
    phases.time("load smoke", || crate::load::run(&["--smoke".to_owned()]))?;
    // Likewise the fault drills: a few seconds each, debug build, verdicts enforced.
    println!("\n==> fault drills smoke test");
    phases.time("drill smoke", || crate::drill::run(&["--smoke".to_owned()]))
}

/// `cargo doc` of every workspace library and binary, warnings denied.
///
/// The selection is the one plain `cargo doc` makes (libraries, and binaries not named
/// like their package's library), plus `--examples`: it selects nothing (the workspace
/// has no examples) but resolves features with dev-dependencies as clippy's
/// `--all-targets` check did, so the dependencies' check builds are reused instead of
/// being redone under a second feature set.
fn rustdoc() -> Result<(), String> {
    let mut c = cargo();
    c.env("RUSTDOCFLAGS", "-D warnings").args([
        "doc",
        "--workspace",
        "--all-features",
        "--no-deps",
        "--lib",
        "--examples",
    ]);
    for bin in documented_bins()? {
        c.args(["--bin", &bin]);
    }
    run_step("rustdoc", &mut c)
}

/// The workspace binaries plain `cargo doc` documents: those whose crate name differs
/// from their package's library (a same-named binary would overwrite the library's docs).
fn documented_bins() -> Result<Vec<String>, String> {
    #[derive(serde::Deserialize)]
    struct Metadata {
        packages: Vec<Package>,
    }
    #[derive(serde::Deserialize)]
    struct Package {
        targets: Vec<Target>,
    }
    #[derive(serde::Deserialize)]
    struct Target {
        name: String,
        kind: Vec<String>,
    }
    let out = cargo()
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .map_err(|e| format!("cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let meta: Metadata =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("cargo metadata output: {e}"))?;
    Ok(doc_bins(
        &meta
            .packages
            .iter()
            .map(|p| {
                p.targets
                    .iter()
                    .map(|t| {
                        (
                            t.name.as_str(),
                            t.kind.iter().any(|k| k == "lib"),
                            t.kind.iter().any(|k| k == "bin"),
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>(),
    ))
}

/// Per package, `(target name, is a library, is a binary)` → the binaries to document.
fn doc_bins(packages: &[Vec<(&str, bool, bool)>]) -> Vec<String> {
    let crate_name = |n: &str| n.replace('-', "_");
    let mut out = Vec::new();
    for targets in packages {
        let lib = targets
            .iter()
            .find(|(_, is_lib, _)| *is_lib)
            .map(|(n, _, _)| crate_name(n));
        for (name, _, is_bin) in targets {
            if *is_bin && lib.as_deref() != Some(crate_name(name).as_str()) {
                out.push((*name).to_owned());
            }
        }
    }
    out.sort();
    out
}

/// How long each phase of the gate took, printed at the end (also after a failure), so a
/// slow CI run shows where its time went.
#[derive(Debug, Default)]
struct Phases {
    done: Vec<(&'static str, Duration, bool)>,
}

impl Phases {
    fn time<T>(
        &mut self,
        name: &'static str,
        f: impl FnOnce() -> Result<T, String>,
    ) -> Result<T, String> {
        let started = Instant::now();
        let result = f();
        self.done.push((name, started.elapsed(), result.is_ok()));
        result
    }

    fn print(&self) {
        println!("\n==> phase durations");
        for (name, took, ok) in &self.done {
            let mark = if *ok { "" } else { "  (failed)" };
            println!("    {name:<22} {:>6.1} s{mark}", took.as_secs_f64());
        }
        let total: Duration = self.done.iter().map(|(_, d, _)| *d).sum();
        println!("    {:<22} {:>6.1} s", "total", total.as_secs_f64());
    }
}

fn check_interrupt() -> Result<(), String> {
    if interrupted() {
        Err("interrupted".into())
    } else {
        Ok(())
    }
}

/// A python3 with `cryptography` and `argon2-cffi` (keel-crypto's interop tests),
/// installed with pip when missing.
fn ensure_python() -> Result<String, String> {
    let python = std::env::var("KEEL_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    if works(&python, &["-c", PYTHON_MODULES]) {
        return Ok(python);
    }
    if !works(&python, &["--version"]) {
        crate::services::apt_install(&["python3", "python3-pip"], "python3 not found")?;
    }
    let mut pip = Command::new(&python);
    pip.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ])
    .args(PYTHON_PACKAGES);
    if run_step("pip install (interop test peers)", &mut pip).is_err() {
        // Debian's externally-managed python needs the flag; other pythons reject it.
        let mut pip = Command::new(&python);
        pip.args(["-m", "pip", "install", "--quiet", "--break-system-packages"])
            .args(PYTHON_PACKAGES);
        run_step("pip install --break-system-packages", &mut pip)?;
    }
    if works(&python, &["-c", PYTHON_MODULES]) {
        Ok(python)
    } else {
        Err(format!(
            "{python} still cannot import {}",
            PYTHON_PACKAGES.join(", ")
        ))
    }
}

/// Examples per operation and the wall-clock bound of the OpenAPI fuzzing step.
const FUZZ_EXAMPLES: &str = "25";
const FUZZ_BUDGET: Duration = Duration::from_secs(90);
const FUZZ_ADMIN: &str = "fuzz-admin@example.org";
const FUZZ_USER: &str = "fuzz-user@example.org";
/// The routes that end the caller's sessions (their own phase, their own token).
const SESSION_ENDING: &str = "^/api/v1/auth/(logout|logout-all|password)$";

/// Which operations a schemathesis run covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Every operation but the session-ending ones, with the admin's token.
    Main,
    /// Logout, logout everywhere and the password change, with a user's token: after
    /// the first success the token is revoked and the rest are documented 401s.
    SessionEnding,
}

/// Property-based fuzzing of the reference service's OpenAPI document (schemathesis from
/// PyPI, deterministic generation): every check on, with an admin token. Fails on a server
/// error, a schema-violating request accepted, a response that does not match the
/// document, or a schema-valid request rejected other than by documented policy.
fn fuzz_api(services: &Services, python: &str) -> Result<(), String> {
    ensure_pip_package(python, "import schemathesis", "schemathesis")?;
    let bins = build_bins(
        Profile::Debug,
        &["reference-service"],
        &["reference-service"],
    )?;
    let bin = bins
        .get("reference-service")
        .ok_or("no reference-service binary")?;
    let addr: SocketAddr = ([127, 0, 0, 1], keel_testkit::free_port()).into();
    let admin_password = crate::run::token(18)?;
    let env: Vec<(&str, String)> = vec![
        ("DATABASE_URL", services.postgres.url()),
        ("KEEL_JWT_SECRET", crate::run::token(48)?),
        ("KEEL_ENCRYPTION_KEYS", crate::run::encryption_keys()?),
        ("KEEL_BIND", addr.to_string()),
        ("KEEL_AUTH_SCHEMA", "fuzz_auth".to_owned()),
        // The global per-IP limit would answer most of the run 429 (documented, but it
        // hides everything else); login/signup policy limits stay on.
        ("KEEL_RATE_LIMIT_GLOBAL", "off".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ];
    let service = |args: &[&str]| crate::run::service_command(bin, args, &env);
    let mut admin = service(&["create-admin", "--email", FUZZ_ADMIN]);
    admin.env("KEEL_ADMIN_PASSWORD", &admin_password);
    run_step("migrate and create the fuzzing admin", &mut admin)?;
    let mut child = service(&["serve"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("could not start reference-service: {e}"))?;
    let result = crate::run::wait_ready(addr, &mut child).and_then(|()| {
        let since = Instant::now();
        let token = login(addr, FUZZ_ADMIN, &admin_password)?;
        // The routes that end the caller's sessions get a token of their own: an account
        // made for that phase (logging out or changing the password of the admin would
        // revoke the main phase's token). It signs up and logs in before the main phase,
        // whose fuzzed signups and failed logins use up the loopback network's signup
        // quota and login-failure budget (policy limits stay on while fuzzing).
        let password = crate::run::token(18)?;
        signup(addr, FUZZ_USER, &password)?;
        let user_token = login(addr, FUZZ_USER, &password)?;
        run_schemathesis(python, addr, &token, Phase::Main, since)?;
        run_schemathesis(python, addr, &user_token, Phase::SessionEnding, since)
    });
    let _ = child.kill();
    let _ = child.wait();
    result
}

/// Field-error codes of the documented rules a schema cannot express: a schema-valid
/// request may be refused for them (422), and nothing else.
const UNEXPRESSIBLE_RULES: [&str; 4] = [
    "password_too_common",
    "password_contains_context",
    "invalid_phone",
    "invalid_email",
];

fn run_schemathesis(
    python: &str,
    addr: SocketAddr,
    token: &str,
    phase: Phase,
    since: Instant,
) -> Result<(), String> {
    let (what, filter, log_name) = match phase {
        Phase::Main => (
            "every route but the session-ending ones",
            "--exclude-path-regex",
            "schemathesis.log",
        ),
        Phase::SessionEnding => (
            "logout, logout-all, password",
            "--include-path-regex",
            "schemathesis-sessions.log",
        ),
    };
    println!(
        "\n==> OpenAPI fuzzing, {what} (schemathesis, {FUZZ_EXAMPLES} examples per operation, \
         at most {FUZZ_BUDGET:?} for both phases)"
    );
    let auth = format!("Authorization: Bearer {token}");
    let log = crate::cmd::workspace_root().join("target").join(log_name);
    let out = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let mut c = Command::new(python);
    c.args(["-m", "schemathesis.cli", "run"])
        .arg(format!("http://{addr}/openapi.json"))
        .args([
            "-H",
            &auth,
            "--checks",
            "all",
            "--max-examples",
            FUZZ_EXAMPLES,
        ])
        .arg("--generation-deterministic")
        .args([filter, SESSION_ENDING])
        .stdout(out.try_clone().map_err(|e| e.to_string())?)
        .stderr(out);
    let started = Instant::now();
    let mut child: Child = c
        .spawn()
        .map_err(|e| format!("could not start schemathesis: {e}"))?;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if since.elapsed() > FUZZ_BUDGET || interrupted() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "schemathesis did not finish within {FUZZ_BUDGET:?} (both phases)"
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let summary = text
        .lines()
        .rev()
        .find(|l| l.contains("generated"))
        .unwrap_or("");
    println!(
        "OpenAPI fuzzing: {} in {:.1?} (log: {})",
        summary.trim(),
        started.elapsed(),
        log.display()
    );
    if status.success() {
        return Ok(());
    }
    // Failures are acceptable only when every one is a schema-valid request refused by a
    // documented, unexpressible rule.
    let kinds: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("- ST"))
        .collect();
    let only_st202 = !kinds.is_empty() && kinds.iter().all(|k| k.starts_with("- ST202"));
    let bodies: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("\"success\":false"))
        .collect();
    let documented = bodies.len() >= kinds.len()
        && bodies.iter().all(|b| {
            UNEXPRESSIBLE_RULES
                .iter()
                .any(|r| b.contains(&format!("\"code\":\"{r}\"")))
        });
    if only_st202 && documented {
        println!("OpenAPI fuzzing: only documented rules refused schema-valid requests");
        Ok(())
    } else {
        Err(format!(
            "schemathesis found problems ({status}); see {}",
            log.display()
        ))
    }
}

/// Signs up over HTTP/1.1.
fn signup(addr: SocketAddr, email: &str, password: &str) -> Result<(), String> {
    let body = format!(
        "{{\"email\":\"{email}\",\"password\":\"{password}\",\"first_name\":\"Fuzz\",\"last_name\":\"User\"}}"
    );
    let answer = post(addr, "/api/v1/auth/signup", &body)?;
    if answer.starts_with("HTTP/1.1 201") {
        Ok(())
    } else {
        Err(format!(
            "the fuzzing user could not sign up: {}",
            answer.lines().next().unwrap_or("")
        ))
    }
}

/// Logs in over HTTP/1.1 and returns the access token.
fn login(addr: SocketAddr, email: &str, password: &str) -> Result<String, String> {
    let body = format!("{{\"email\":\"{email}\",\"password\":\"{password}\"}}");
    post(addr, "/api/v1/auth/login", &body)?
        .split("\"access_token\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(str::to_owned)
        .ok_or_else(|| format!("{email} could not log in"))
}

/// A JSON `POST` over HTTP/1.1; the whole answer, head included.
fn post(addr: SocketAddr, path: &str, body: &str) -> Result<String, String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("{path}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| format!("{path}: {e}"))?;
    let mut answer = String::new();
    s.read_to_string(&mut answer)
        .map_err(|e| format!("{path}: {e}"))?;
    Ok(answer)
}

/// `module` importable by `python`, installing `package` with pip when it is not.
fn ensure_pip_package(python: &str, import: &str, package: &str) -> Result<(), String> {
    if works(python, &["-c", import]) {
        return Ok(());
    }
    let mut pip = Command::new(python);
    pip.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        package,
    ]);
    if run_step(&format!("pip install {package}"), &mut pip).is_err() {
        let mut pip = Command::new(python);
        pip.args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--break-system-packages",
            package,
        ]);
        run_step(
            &format!("pip install --break-system-packages {package}"),
            &mut pip,
        )?;
    }
    if works(python, &["-c", import]) {
        Ok(())
    } else {
        Err(format!("{python} still cannot `{import}`"))
    }
}

#[cfg(test)]
mod tests {
    use super::doc_bins;

    #[test]
    fn binaries_named_like_their_library_are_left_to_the_library() {
        let packages = vec![
            // reference-service: lib `reference_service`, bin `reference-service`.
            vec![
                ("reference_service", true, false),
                ("reference-service", false, true),
            ],
            // keel-benches: lib `keel_benches`, bin `bare-axum`, benches (neither).
            vec![
                ("keel_benches", true, false),
                ("bare-axum", false, true),
                ("cache", false, false),
            ],
            // xtask: a binary only.
            vec![("xtask", false, true)],
            vec![("keel_errors", true, false)],
        ];
        assert_eq!(doc_bins(&packages), ["bare-axum", "xtask"]);
    }
}
