//! `cargo xtask bench [target…] [--full]`: runs the criterion targets in `benches/`,
//! writes `docs/benchmarks.json`, and regenerates the tables and charts of
//! `docs/benchmarks.md` from it. Figures are never typed by hand.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use serde_json::{Value, json};

use crate::cmd::{cargo, run_step, workspace_root};
use crate::report;
use crate::services::{RedisNeed, Services};

pub(crate) fn run(args: &[String]) -> Result<(), String> {
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
    let criterion_dir = root.join("target").join("criterion");
    let mut summary = load_summary(&root)?;
    for target in &selected {
        let started = SystemTime::now();
        let mut c = cargo();
        c.args(["bench", "-p", "keel-benches", "--bench", target])
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("KEEL_BENCH_FULL", if full { "1" } else { "0" });
        run_step(&format!("bench {target}"), &mut c)?;
        let rows = collect(&criterion_dir, started)?;
        println!("    {} measurements", rows.len());
        summary["targets"][target] = Value::Array(rows);
        if target == "http_stack" {
            // The per-layer table the bench writes next to criterion's results.
            let path = criterion_dir.join("http_stack_layers.json");
            let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let mut layers: Value =
                serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
            layers["date"] = json!(report::utc_now());
            summary["http_stack"] = layers;
        }
    }
    drop(services);

    let mode = if full { "full" } else { "short" };
    summary["machine"] = machine();
    summary["bench_run"] = json!({
        "command": format!("cargo xtask bench{}{}", if full { " --full" } else { "" },
            if args.iter().any(|a| !a.starts_with("--")) { format!(" {}", selected.join(" ")) } else { String::new() }),
        "mode": mode,
        "date": report::utc_now(),
        "targets": selected,
    });
    report::write(&root, &summary)
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

pub(crate) fn load_summary(root: &Path) -> Result<Value, String> {
    let path = root.join("docs").join("benchmarks.json");
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display())),
        Err(_) => Ok(json!({ "targets": {}, "load": {} })),
    }
}

/// Criterion results written since `since`: one row per benchmark with its median.
fn collect(dir: &Path, since: SystemTime) -> Result<Vec<Value>, String> {
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
            let read = |f: &Path| -> Result<Value, String> {
                let bytes = std::fs::read(f).map_err(|e| format!("{}: {e}", f.display()))?;
                serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", f.display()))
            };
            let est = read(&p)?;
            let meta = read(&bench_json)?;
            let full_id = meta["full_id"].as_str().unwrap_or_default().to_owned();
            rows.insert(
                full_id.clone(),
                json!({
                    "id": full_id,
                    "group": meta["group_id"],
                    "function": meta["function_id"],
                    "parameter": meta["value_str"],
                    "median_ns": est["median"]["point_estimate"],
                    "ci_low_ns": est["median"]["confidence_interval"]["lower_bound"],
                    "ci_high_ns": est["median"]["confidence_interval"]["upper_bound"],
                }),
            );
        }
    }
    Ok(rows.into_values().collect())
}

fn machine() -> Value {
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
    json!({ "cpu": cpu, "cores": cores, "rustc": rustc })
}
