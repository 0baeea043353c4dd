//! `cargo xtask bench [target…] [--full]`: runs the criterion targets in `benches/`,
//! writes `docs/benchmarks.json`, and regenerates the tables and charts of
//! `docs/benchmarks.md` from it. Figures are never typed by hand.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use serde::Deserialize;
use serde_json::Value;

use crate::cmd::{cargo, run_step, target_dir, workspace_root};
use crate::report::{self, BenchRun, HttpStack, Machine, Measurement, Summary};
use crate::services::{RedisNeed, Services};

const USAGE: &str = "usage: cargo xtask bench [target…] [--full]
  target  a file of benches/benches/ (default: all); --full: criterion's full measurement times";

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}\n  targets: {}", targets()?.join(", "));
        return Ok(());
    }
    if let Some(a) = args.iter().find(|a| a.starts_with('-') && *a != "--full") {
        return Err(format!("unknown option `{a}`\n{USAGE}"));
    }
    let full = args.iter().any(|a| a == "--full");
    let available = targets()?;
    let mut selected: Vec<String> = args
        .iter()
        .filter(|a| !a.starts_with("--"))
        .map(|a| a.replace('-', "_"))
        .collect();
    for s in &selected {
        if !available.contains(s) {
            return Err(format!(
                "no bench target `{s}`; available: {}",
                available.join(", ")
            ));
        }
    }
    if selected.is_empty() {
        selected.clone_from(&available);
    }
    println!("\n==> starting throwaway PostgreSQL and Redis for service-backed benches");
    let services = Services::start(RedisNeed::IfAvailable)?;
    let env = services.test_env();

    let root = workspace_root();
    let criterion_dir = target_dir().join("criterion");
    let mut summary = Summary::read(&root)?;
    for target in &selected {
        let started = SystemTime::now();
        let mut c = cargo();
        c.args(["bench", "-p", "keel-benches", "--bench", target])
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("KEEL_BENCH_FULL", if full { "1" } else { "0" });
        run_step(&format!("bench {target}"), &mut c)?;
        let rows = collect(&criterion_dir, started)?;
        println!("    {} measurements", rows.len());
        summary.targets.insert(target.clone(), rows);
        if target == "http_stack" {
            // The per-layer table the bench writes next to criterion's results.
            let path = criterion_dir.join("http_stack_layers.json");
            let mut layers: HttpStack = read_json(&path)?;
            layers.date = Some(report::utc_now());
            summary.http_stack = Some(layers);
        }
    }
    drop(services);

    let named = if args.iter().any(|a| !a.starts_with("--")) {
        format!(" {}", selected.join(" "))
    } else {
        String::new()
    };
    summary.machine = Some(machine());
    summary.bench_run = Some(BenchRun {
        command: format!(
            "cargo xtask bench{}{named}",
            if full { " --full" } else { "" }
        ),
        mode: if full { "full" } else { "short" }.to_owned(),
        date: report::utc_now(),
        targets: selected,
    });
    report::write_summary(&root, &summary)
}

/// Bench targets: the files in `benches/benches/`.
fn targets() -> Result<Vec<String>, String> {
    let dir = workspace_root().join("benches").join("benches");
    let mut out: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| {
            let p = e.ok()?.path();
            (p.extension()? == "rs").then(|| p.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect();
    out.sort();
    Ok(out)
}

/// `docs/benchmarks.json` as JSON, for `cargo xtask load`, which replaces its `load`
/// member and hands it back to [`report::write`].
pub(crate) fn load_summary(root: &Path) -> Result<Value, String> {
    serde_json::to_value(Summary::read(root)?).map_err(|e| e.to_string())
}

/// Criterion's `<bench>/new/benchmark.json`: which benchmark a result belongs to.
#[derive(Debug, Deserialize)]
struct CriterionBenchmark {
    full_id: String,
    group_id: String,
    function_id: Option<String>,
    value_str: Option<String>,
}

/// Criterion's `<bench>/new/estimates.json` (the statistics this report uses).
#[derive(Debug, Deserialize)]
struct CriterionEstimates {
    median: Estimate,
}

#[derive(Debug, Deserialize)]
struct Estimate {
    point_estimate: f64,
    confidence_interval: ConfidenceInterval,
}

#[derive(Debug, Deserialize)]
struct ConfidenceInterval {
    lower_bound: f64,
    upper_bound: f64,
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Criterion results written since `since`: one row per benchmark with its median.
fn collect(dir: &Path, since: SystemTime) -> Result<Vec<Measurement>, String> {
    let mut rows = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.file_name().is_none_or(|n| n != "estimates.json")
                || !p.parent().is_some_and(|d| d.ends_with("new"))
            {
                continue;
            }
            let fresh = e
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|m| m >= since);
            if !fresh {
                continue;
            }
            let Some(bench_json) = p.parent().map(|d| d.join("benchmark.json")) else {
                continue;
            };
            let est: CriterionEstimates = read_json(&p)?;
            let meta: CriterionBenchmark = read_json(&bench_json)?;
            rows.insert(meta.full_id.clone(), measurement(meta, &est));
        }
    }
    Ok(rows.into_values().collect())
}

fn measurement(meta: CriterionBenchmark, est: &CriterionEstimates) -> Measurement {
    Measurement {
        id: meta.full_id,
        group: meta.group_id,
        function: meta.function_id,
        parameter: meta.value_str,
        median_ns: est.median.point_estimate,
        ci_low_ns: est.median.confidence_interval.lower_bound,
        ci_high_ns: est.median.confidence_interval.upper_bound,
    }
}

fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split(':').nth(1))
        })
        .map_or_else(|| "unknown".to_owned(), |s| s.trim().to_owned());
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let rustc = std::process::Command::new("rustc")
        .arg("-V")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    Machine { cores, cpu, rustc }
}

#[cfg(test)]
mod tests {
    use super::{CriterionBenchmark, CriterionEstimates, measurement};

    #[test]
    fn criterion_files_become_one_measurement() {
        // As criterion 0.8 writes them (`target/criterion/<id>/new/`), trimmed of the
        // statistics the report does not use.
        let meta: CriterionBenchmark = serde_json::from_str(
            r#"{"group_id":"crypto/aes256gcm_open","function_id":"keel","value_str":"1024","throughput":null,"full_id":"crypto/aes256gcm_open/keel/1024","directory_name":"crypto_aes256gcm_open/keel/1024","title":"crypto/aes256gcm_open/keel/1024"}"#,
        )
        .unwrap();
        let est: CriterionEstimates = serde_json::from_str(
            r#"{"mean":{"confidence_interval":{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":3.0},"point_estimate":2.0,"standard_error":0.5},"median":{"confidence_interval":{"confidence_level":0.95,"lower_bound":540.5,"upper_bound":566.0},"point_estimate":541.0,"standard_error":4.6}}"#,
        )
        .unwrap();
        let m = measurement(meta, &est);
        assert_eq!(m.id, "crypto/aes256gcm_open/keel/1024");
        assert_eq!(m.group, "crypto/aes256gcm_open");
        assert_eq!(m.function.as_deref(), Some("keel"));
        assert_eq!(m.parameter.as_deref(), Some("1024"));
        assert_eq!(
            (m.median_ns, m.ci_low_ns, m.ci_high_ns),
            (541.0, 540.5, 566.0)
        );
        // A benchmark without a function or parameter (`bench_function` alone).
        let meta: CriterionBenchmark = serde_json::from_str(
            r#"{"group_id":"alone","function_id":null,"value_str":null,"full_id":"alone"}"#,
        )
        .unwrap();
        let m = measurement(meta, &est);
        assert_eq!((m.function, m.parameter), (None, None));
    }
}
