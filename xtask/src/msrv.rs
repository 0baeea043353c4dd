//! `cargo xtask msrv`: no publishable crate may claim a `rust-version` lower than the
//! highest `rust-version` declared anywhere in its (normal + build, all-features)
//! dependency tree.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::Value;

use crate::cmd::cargo;

type Version = (u64, u64, u64);

fn parse(v: &str) -> Option<Version> {
    let mut it = v.split('.').map(|p| p.parse::<u64>().ok());
    Some((
        it.next()??,
        it.next().flatten().unwrap_or(0),
        it.next().flatten().unwrap_or(0),
    ))
}

pub(crate) fn run() -> Result<(), String> {
    println!("\n==> msrv: rust-version claims vs dependency trees");
    let out = cargo()
        .args([
            "metadata",
            "--format-version",
            "1",
            "--all-features",
            "--locked",
        ])
        .output()
        .map_err(|e| format!("cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let meta: Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("cargo metadata output: {e}"))?;
    let packages: HashMap<&str, &Value> = meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p["id"].as_str()?, p)))
        .collect();
    let mut edges: HashMap<&str, Vec<&str>> = HashMap::new();
    for node in meta["resolve"]["nodes"].as_array().into_iter().flatten() {
        let Some(id) = node["id"].as_str() else {
            continue;
        };
        let deps = node["deps"].as_array().into_iter().flatten().filter(|d| {
            d["dep_kinds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|k| k["kind"].as_str() != Some("dev"))
        });
        edges.insert(id, deps.filter_map(|d| d["pkg"].as_str()).collect());
    }
    let mut report = BTreeMap::new();
    let mut failures = Vec::new();
    for member in meta["workspace_members"].as_array().into_iter().flatten() {
        let Some(id) = member.as_str() else { continue };
        let Some(pkg) = packages.get(id) else {
            continue;
        };
        if pkg["publish"].as_array().is_some_and(Vec::is_empty) {
            continue; // publish = false
        }
        let name = pkg["name"].as_str().unwrap_or("?");
        let claimed = pkg["rust_version"].as_str().and_then(parse);
        let mut seen = HashSet::new();
        let mut stack = vec![id];
        let mut needed: (Version, &str) = ((0, 0, 0), "-");
        while let Some(cur) = stack.pop() {
            if !seen.insert(cur) {
                continue;
            }
            if cur != id
                && let Some(p) = packages.get(cur)
                && let Some(v) = p["rust_version"].as_str().and_then(parse)
                && v > needed.0
            {
                needed = (v, p["name"].as_str().unwrap_or("?"));
            }
            stack.extend(edges.get(cur).into_iter().flatten().copied());
        }
        let fmt = |v: Version| format!("{}.{}.{}", v.0, v.1, v.2);
        match claimed {
            Some(c) if c >= needed.0 => {
                report.insert(
                    name.to_owned(),
                    format!("{} (tree needs {} via {})", fmt(c), fmt(needed.0), needed.1),
                );
            }
            Some(c) => failures.push(format!(
                "{name} claims rust-version {} but {} needs {}",
                fmt(c),
                needed.1,
                fmt(needed.0)
            )),
            None => failures.push(format!("{name} declares no rust-version")),
        }
    }
    for (name, line) in &report {
        println!("    {name:<24} {line}");
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("msrv: {}", failures.join("; ")))
    }
}
