//! Keel's automation, run as `cargo xtask <command>` (alias in `.cargo/config.toml`).
//!
//! - `test`: the whole gate CI runs: fmt, clippy, tests against real PostgreSQL and Redis,
//!   doctests, rustdoc, MSRV claims. Servers are throwaway and always cleaned up.
//! - `run`: the reference service against throwaway local servers.
//! - `msrv`: checks each crate's `rust-version` against its dependency tree.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod cmd;
mod msrv;
mod run;
mod services;
mod test;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  test     fmt + clippy + tests (real PostgreSQL and Redis) + doctests + rustdoc + msrv
  run      start the reference service against throwaway PostgreSQL (+ Redis)
  msrv     check every crate's rust-version against its dependency tree
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
