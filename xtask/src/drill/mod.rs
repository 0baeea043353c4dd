//! `cargo xtask drill [--smoke]`: fault drills against builds of the reference service,
//! two replicas sharing throwaway PostgreSQL and Redis, each drill a bounded scenario with
//! a verdict and figures. The full run writes the generated block of `docs/reliability.md`;
//! `--smoke` runs a few-second version of every drill (debug build, no report) inside
//! `cargo xtask test`.
//!
//! What each drill does and what it asserts is documented in `docs/reliability.md`; the
//! verdict rules live in [`scenarios`].

mod client;
mod replica;
mod report;
mod scenarios;
mod traffic;

use std::time::Instant;

use crate::cmd::{Profile, build_bins, workspace_root};
use crate::services::{RedisNeed, Services};

/// How long each phase of a drill lasts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    pub(crate) smoke: bool,
}

impl Timing {
    /// `full` seconds normally, `smoke` seconds in `--smoke` mode.
    pub(crate) fn secs(self, full: f64, smoke: f64) -> std::time::Duration {
        std::time::Duration::from_secs_f64(if self.smoke { smoke } else { full })
    }
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let smoke = args.iter().any(|a| a == "--smoke");
    let only: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| *a != "--smoke")
        .collect();
    if let Some(a) = only.iter().find(|a| !scenarios::NAMES.contains(a)) {
        return Err(format!(
            "unknown argument `{a}` (usage: cargo xtask drill [--smoke] [{}…])",
            scenarios::NAMES.join("|")
        ));
    }
    let started = Instant::now();
    let timing = Timing { smoke };
    let root = workspace_root();
    // Debug builds share the test build's (`cargo xtask test` runs this smoke).
    let profile = if smoke {
        Profile::Debug
    } else {
        Profile::Release
    };
    let bins = build_bins(profile, &["reference-service"], &["reference-service"])?;
    let bin = bins
        .get("reference-service")
        .cloned()
        .ok_or("no reference-service binary")?;
    let work = root.join("target").join("keel-drill");
    std::fs::create_dir_all(&work).map_err(|e| format!("create {}: {e}", work.display()))?;

    println!("\n==> starting throwaway PostgreSQL and Redis");
    let mut services = Services::start(RedisNeed::Required)?;
    let outcomes = scenarios::run_all(&bin, &work, &mut services, timing, &only)?;
    drop(services);

    println!("\n{}", report::table(&outcomes));
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| !o.pass)
        .map(|o| o.name.as_str())
        .collect();
    // A partial run prints its figures but leaves the published table alone.
    if !smoke && only.is_empty() {
        report::write(&root, &outcomes, started.elapsed())?;
        println!("    wrote docs/reliability.md");
    }
    println!("    drills took {:.0?}", started.elapsed());
    if failed.is_empty() {
        println!("\n==> drill: every verdict passed");
        Ok(())
    } else {
        Err(format!(
            "drill: failed verdicts: {} (logs under {})",
            failed.join(", "),
            work.display()
        ))
    }
}
