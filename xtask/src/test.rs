//! `cargo xtask test`: the gate CI runs on every change.

use std::process::Command;

use crate::cmd::{cargo, run_step, works};
use crate::services::{RedisNeed, Services, interrupted};

const PYTHON_MODULES: &str = "import cryptography, argon2";
const PYTHON_PACKAGES: [&str; 2] = ["cryptography", "argon2-cffi"];

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if let Some(a) = args.first() {
        return Err(format!("`cargo xtask test` takes no arguments (got `{a}`)"));
    }
    let started = std::time::Instant::now();
    run_step("rustfmt", cargo().args(["fmt", "--all", "--check"]))?;
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
    )?;
    crate::msrv::run()?;

    let python = ensure_python()?;
    println!("\n==> starting throwaway PostgreSQL and Redis");
    let services = Services::start(RedisNeed::Required)?;
    let mut env = services.test_env();
    env.push(("KEEL_TEST_PYTHON".into(), python));
    let env = &env;

    let with_env = |mut c: Command| {
        c.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        c
    };
    let result = (|| {
        if works("cargo", &["nextest", "--version"]) {
            let mut c = with_env(cargo());
            c.args([
                "nextest",
                "run",
                "--workspace",
                "--all-features",
                "--no-fail-fast",
            ]);
            run_step("tests (nextest)", &mut c)?;
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
            run_step("tests", &mut c)?;
        }
        check_interrupt()?;
        let mut c = with_env(cargo());
        c.args(["test", "--workspace", "--all-features", "--doc"]);
        run_step("doctests", &mut c)?;
        check_interrupt()?;
        let mut c = cargo();
        c.env("RUSTDOCFLAGS", "-D warnings").args([
            "doc",
            "--workspace",
            "--all-features",
            "--no-deps",
        ]);
        run_step("rustdoc", &mut c)
    })();
    drop(services);
    println!("\n==> servers stopped and removed");
    result?;
    // The load harness must not rot: a few seconds per scenario, debug builds, no report.
    println!("\n==> load harness smoke test");
    crate::load::run(&["--smoke".to_owned()])?;
    // Likewise the fault drills: a few seconds each, debug build, verdicts enforced.
    println!("\n==> fault drills smoke test");
    crate::drill::run(&["--smoke".to_owned()])?;
    println!(
        "\nxtask test: all checks passed in {:.0?}",
        started.elapsed()
    );
    Ok(())
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
