//! Turns `docs/benchmarks.json` into the generated parts of `docs/benchmarks.md` and the
//! SVG charts under `docs/img/`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

const START: &str =
    "<!-- generated:start (cargo xtask bench / load rewrite this block; do not edit) -->";
const END: &str = "<!-- generated:end -->";

/// `YYYY-MM-DD HH:MM UTC`.
pub(crate) fn utc_now() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// One keel-vs-peer comparison.
#[derive(Debug)]
pub(crate) struct Ratio {
    pub(crate) target: String,
    pub(crate) label: String,
    pub(crate) keel: String,
    pub(crate) peer: String,
    pub(crate) keel_ns: f64,
    pub(crate) peer_ns: f64,
}

/// Pairs, within each criterion group (and parameter), every function whose name
/// contains `keel` with every other function (the peers).
pub(crate) fn ratios(summary: &Value) -> (Vec<Ratio>, Vec<(String, String, f64)>) {
    let mut ratios = Vec::new();
    let mut unpaired = Vec::new();
    let Some(targets) = summary["targets"].as_object() else {
        return (ratios, unpaired);
    };
    for (target, rows) in targets {
        let mut groups: BTreeMap<String, Vec<(String, f64)>> = BTreeMap::new();
        for r in rows.as_array().into_iter().flatten() {
            let group = r["group"].as_str().unwrap_or_default();
            let key = match r["parameter"].as_str() {
                Some(p) => format!("{group} [{p}]"),
                None => group.to_owned(),
            };
            let f = r["function"].as_str().unwrap_or_default().to_owned();
            let Some(ns) = r["median_ns"].as_f64() else {
                continue;
            };
            groups.entry(key).or_default().push((f, ns));
        }
        for (group, fns) in groups {
            let (keel, peers): (Vec<_>, Vec<_>) = fns.iter().partition(|(f, _)| f.contains("keel"));
            if keel.is_empty() || peers.is_empty() {
                for (f, ns) in fns {
                    unpaired.push((format!("{target}: {group}"), f, ns));
                }
                continue;
            }
            for (k, kns) in &keel {
                for (p, pns) in &peers {
                    ratios.push(Ratio {
                        target: target.clone(),
                        label: group.clone(),
                        keel: k.clone(),
                        peer: p.clone(),
                        keel_ns: *kns,
                        peer_ns: *pns,
                    });
                }
            }
        }
    }
    (ratios, unpaired)
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

fn markdown(summary: &Value) -> String {
    let mut md = String::new();
    let m = &summary["machine"];
    let run = &summary["bench_run"];
    let _ = writeln!(md, "{START}\n");
    let _ = writeln!(md, "## Latest results (generated)\n");
    let _ = writeln!(
        md,
        "Machine: {} ({} cores), {}.\n",
        m["cpu"].as_str().unwrap_or("?"),
        m["cores"],
        m["rustc"].as_str().unwrap_or("?")
    );
    if run.is_object() {
        let _ = writeln!(
            md,
            "Criterion run: `{}` ({} mode) on {}. Medians; **keel ÷ peer** is the time ratio \
             (below 1.00 = Keel is faster; its inverse is the throughput ratio).\n",
            run["command"].as_str().unwrap_or("?"),
            run["mode"].as_str().unwrap_or("?"),
            run["date"].as_str().unwrap_or("?")
        );
        let (ratios, unpaired) = ratios(summary);
        if !ratios.is_empty() {
            let _ = writeln!(md, "![keel ÷ peer time ratios](img/bench-ratios.svg)\n");
        }
        let mut current = String::new();
        for r in &ratios {
            if r.target != current {
                current.clone_from(&r.target);
                let _ = writeln!(md, "\n### `--bench {}`\n", r.target);
                let _ = writeln!(
                    md,
                    "| benchmark | keel | peer | keel median | peer median | keel ÷ peer |"
                );
                let _ = writeln!(md, "|---|---|---|---:|---:|---:|");
            }
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {:.2} |",
                r.label,
                r.keel,
                r.peer,
                fmt_ns(r.keel_ns),
                fmt_ns(r.peer_ns),
                r.keel_ns / r.peer_ns
            );
        }
        if !unpaired.is_empty() {
            let _ = writeln!(md, "\n### Measurements without a peer in their group\n");
            let _ = writeln!(md, "| target: group | function | median |");
            let _ = writeln!(md, "|---|---|---:|");
            for (g, f, ns) in unpaired {
                let _ = writeln!(md, "| {g} | {f} | {} |", fmt_ns(ns));
            }
        }
    }
    if summary["http_stack"]["rows"].is_array() {
        http_stack(&mut md, &summary["http_stack"]);
    }
    if let Some(load) = summary["load"].as_object().filter(|o| !o.is_empty()) {
        crate::load::markdown(&mut md, load);
    }
    let _ = writeln!(md, "\n{END}");
    md
}

/// The per-layer table of `--bench http_stack`.
fn http_stack(md: &mut String, t: &Value) {
    let _ = writeln!(
        md,
        "\n### Middleware stack, layer by layer (`--bench http_stack`)\n"
    );
    let _ = writeln!(
        md,
        "`{}` through the reference service's stack built one layer at a time (outermost \
         first), in process; median of {} interleaved rounds of {} requests ({}). \
         Allocations are counted per request.\n",
        t["endpoint"].as_str().unwrap_or("?"),
        t["rounds"],
        t["batch"],
        t["date"].as_str().unwrap_or("?")
    );
    let _ = writeln!(
        md,
        "| row | ns/request | Δ ns | allocations | Δ allocations | bytes allocated |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|");
    for r in t["rows"].as_array().into_iter().flatten() {
        let _ = writeln!(
            md,
            "| {} | {:.0} | {:+.0} | {:.1} | {:+.1} | {:.0} |",
            r["row"].as_str().unwrap_or("?"),
            r["ns"].as_f64().unwrap_or(0.0),
            r["delta_ns"].as_f64().unwrap_or(0.0),
            r["allocs"].as_f64().unwrap_or(0.0),
            r["delta_allocs"].as_f64().unwrap_or(0.0),
            r["bytes"].as_f64().unwrap_or(0.0)
        );
    }
}

/// Writes `docs/benchmarks.json`, regenerates the block of `docs/benchmarks.md`, and
/// the charts.
pub(crate) fn write(root: &Path, summary: &Value) -> Result<(), String> {
    let docs = root.join("docs");
    let json = serde_json::to_string_pretty(summary).map_err(|e| e.to_string())?;
    std::fs::write(docs.join("benchmarks.json"), format!("{json}\n")).map_err(|e| e.to_string())?;
    let md_path = docs.join("benchmarks.md");
    let current = std::fs::read_to_string(&md_path).unwrap_or_else(|_| "# Benchmarks\n".into());
    let block = markdown(summary);
    let updated = match (current.find(START), current.find(END)) {
        (Some(s), Some(e)) if e > s => format!(
            "{}{}{}",
            &current[..s],
            block.trim_end(),
            &current[e + END.len()..]
        ),
        _ => {
            // First run: put the generated block after the introduction (before the first `<!--`).
            let at = current.find("<!-- section").unwrap_or(current.len());
            format!(
                "{}{}\n\n{}",
                &current[..at],
                block.trim_end(),
                &current[at..]
            )
        }
    };
    std::fs::write(&md_path, updated).map_err(|e| e.to_string())?;
    let img = docs.join("img");
    std::fs::create_dir_all(&img).map_err(|e| e.to_string())?;
    let (ratios, _) = ratios(summary);
    if !ratios.is_empty() {
        let bars: Vec<(String, f64)> = ratios
            .iter()
            .map(|r| {
                (
                    format!("{}: {} — {} vs {}", r.target, r.label, r.keel, r.peer),
                    r.keel_ns / r.peer_ns,
                )
            })
            .collect();
        let svg = bar_chart(
            "Keel ÷ peer, median time (lower is better; 1.0 = parity)",
            &bars,
            Some(1.0),
        );
        std::fs::write(img.join("bench-ratios.svg"), svg).map_err(|e| e.to_string())?;
    }
    if let Some(load) = summary["load"].as_object().filter(|o| !o.is_empty()) {
        crate::load::charts(&img, load)?;
    }
    println!("\n==> wrote docs/benchmarks.json, docs/benchmarks.md and docs/img/");
    Ok(())
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A horizontal bar chart as a standalone SVG (no fonts or system libraries needed).
pub(crate) fn bar_chart(title: &str, bars: &[(String, f64)], reference: Option<f64>) -> String {
    let label_w = 560.0;
    let plot_w = 360.0;
    let row_h = 20.0;
    let top = 40.0;
    let height = top + row_h * bars.len() as f64 + 30.0;
    let width = label_w + plot_w + 80.0;
    let max = bars
        .iter()
        .map(|(_, v)| *v)
        .chain(reference)
        .fold(0.0_f64, f64::max)
        .max(f64::MIN_POSITIVE)
        * 1.1;
    let x = |v: f64| label_w + plot_w * (v / max);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="10" y="22" font-size="15" font-weight="bold">{}</text>"#,
        escape(title)
    );
    for (i, (label, v)) in bars.iter().enumerate() {
        let y = top + row_h * i as f64;
        let color = match reference {
            Some(r) if *v <= r => "#2e7d32",
            Some(_) => "#c62828",
            None => "#1565c0",
        };
        let _ = writeln!(
            s,
            r#"<text x="{:.0}" y="{:.0}" text-anchor="end">{}</text>"#,
            label_w - 8.0,
            y + 14.0,
            escape(label)
        );
        let _ = writeln!(
            s,
            r#"<rect x="{label_w:.0}" y="{:.0}" width="{:.1}" height="{:.0}" fill="{color}"/>"#,
            y + 3.0,
            (x(*v) - label_w).max(1.0),
            row_h - 6.0
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.0}">{v:.2}</text>"#,
            x(*v) + 4.0,
            y + 14.0
        );
    }
    if let Some(r) = reference {
        let _ = writeln!(
            s,
            "<line x1=\"{0:.1}\" y1=\"{1:.0}\" x2=\"{0:.1}\" y2=\"{2:.0}\" stroke=\"#333\" stroke-dasharray=\"4 3\"/>",
            x(r),
            top - 4.0,
            top + row_h * bars.len() as f64
        );
    }
    let _ = writeln!(s, "</svg>");
    s
}
