//! Keel's automation, run as `cargo xtask <command>` (alias in `.cargo/config.toml`).
//!
//! - `test`: the whole gate CI runs: fmt, clippy, MSRV claims, tests against real
//!   PostgreSQL, Redis, a Redis Cluster and PgBouncer, doctests, OpenAPI fuzzing, rustdoc,
//!   and the smoke versions of `load` and `drill`; prints each phase's duration. Servers
//!   are throwaway and always cleaned up.
//! - `run`: the reference service against throwaway local servers; a stop signal to
//!   xtask reaches the service, which drains at once.
//! - `msrv`: checks each crate's `rust-version` against its dependency tree.
//! - `bench`: criterion benches next to their peers; writes `docs/benchmarks.md`.
//! - `load`: HTTP load (wrk) on the reference service next to bare axum.
//! - `drill`: fault drills and a soak on two replicas; writes `docs/reliability.md`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod bench;
mod cmd;
mod drill;
mod load;
mod msrv;
mod report;
mod run;
mod services;
mod test;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  test     the CI gate: fmt, clippy, msrv, tests (real servers), doctests, OpenAPI fuzzing,
           rustdoc, load and drill smokes; prints each phase's duration
  run      start the reference service against throwaway PostgreSQL (+ Redis)
  msrv     check every crate's rust-version against its dependency tree
  bench    [target…] [--full]  criterion benches vs peers; writes docs/benchmarks.{json,md}, docs/img/
  load     [--smoke]  HTTP load on the reference service vs bare axum (wrk); --smoke: a few seconds, no report
  drill    [--smoke] [name…]  fault drills and a soak on two replicas; writes docs/reliability.md
           (all drills only); names: pg-restart pg-kill pg-slow redis abuse soak; --smoke: seconds, no report
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = args.first() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    services::install_interrupt_handler();
    let rest = &args[1..];
    let result = match command.as_str() {
        "test" => test::run(rest),
        "run" => run::run(rest),
        "msrv" => msrv::run(),
        "bench" => bench::run(rest),
        "load" => load::run(rest),
        "drill" => drill::run(rest),
        "-h" | "--help" | "help" => {
            print!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
