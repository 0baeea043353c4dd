//! Turns `docs/benchmarks.json` into the generated parts of `docs/benchmarks.md` and the
//! SVG charts under `docs/img/`.
//!
//! The bar charts are drawn by [`bar_chart`], not plotters: plotters' `svg_backend`
//! without `ttf` needs no system fonts, but the chart is one list of bars with a reference
//! line that still needs our own layout, and plotters would put four more crates in front
//! of every `cargo xtask` command (CI's cold run included) for it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

const START: &str =
    "<!-- generated:start (cargo xtask bench / load rewrite this block; do not edit) -->";
const END: &str = "<!-- generated:end -->";

/// `docs/benchmarks.json`. Fields are declared in alphabetical order, the order the file
/// has always been written in, so a rewrite only shows changed figures in a diff.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Summary {
    /// The last criterion run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) bench_run: Option<BenchRun>,
    /// The per-layer table of `--bench http_stack`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) http_stack: Option<HttpStack>,
    /// `cargo xtask load`'s results: typed, read and rendered by [`crate::load`].
    #[serde(default)]
    pub(crate) load: Map<String, Value>,
    /// Where the figures were taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) machine: Option<Machine>,
    /// Criterion medians per bench target (`--bench <target>`).
    #[serde(default)]
    pub(crate) targets: BTreeMap<String, Vec<Measurement>>,
}

impl Summary {
    /// Reads `docs/benchmarks.json` (an empty summary when there is none yet).
    pub(crate) fn read(root: &Path) -> Result<Self, String> {
        let path = root.join("docs").join("benchmarks.json");
        match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }
}

/// How the criterion figures were produced.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct BenchRun {
    pub(crate) command: String,
    pub(crate) date: String,
    /// `short` or `full` (`KEEL_BENCH_FULL`).
    pub(crate) mode: String,
    pub(crate) targets: Vec<String>,
}

/// The machine the figures come from.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Machine {
    pub(crate) cores: usize,
    pub(crate) cpu: String,
    pub(crate) rustc: String,
}

/// One criterion benchmark: its median and the median's confidence interval.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Measurement {
    pub(crate) ci_high_ns: f64,
    pub(crate) ci_low_ns: f64,
    /// `None` for a benchmark outside a group's functions (`bench_function` alone).
    #[serde(default)]
    pub(crate) function: Option<String>,
    pub(crate) group: String,
    pub(crate) id: String,
    pub(crate) median_ns: f64,
    /// The input parameter (`BenchmarkId::new(_, parameter)`), if any.
    #[serde(default)]
    pub(crate) parameter: Option<String>,
}

/// `target/criterion/http_stack_layers.json`, written by `--bench http_stack`, plus the
/// date `cargo xtask bench` read it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct HttpStack {
    /// Requests per round.
    pub(crate) batch: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) date: Option<String>,
    pub(crate) endpoint: String,
    pub(crate) rounds: u64,
    pub(crate) rows: Vec<LayerRow>,
}

/// One row of the per-layer table: the stack up to and including one layer.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct LayerRow {
    pub(crate) allocs: f64,
    pub(crate) bytes: f64,
    pub(crate) delta_allocs: f64,
    pub(crate) delta_ns: f64,
    pub(crate) ns: f64,
    pub(crate) row: String,
}

/// `YYYY-MM-DD HH:MM UTC`, now.
pub(crate) fn utc_now() -> String {
    format_utc(time::OffsetDateTime::now_utc())
}

fn format_utc(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
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

/// A measurement without a peer in its group: `(target: group, function, median ns)`.
type Unpaired = (String, String, f64);

/// Pairs, within each criterion group (and parameter), every function whose name
/// contains `keel` with every other function (the peers).
pub(crate) fn ratios(summary: &Summary) -> (Vec<Ratio>, Vec<Unpaired>) {
    let mut ratios = Vec::new();
    let mut unpaired = Vec::new();
    for (target, rows) in &summary.targets {
        let mut groups: BTreeMap<String, Vec<(String, f64)>> = BTreeMap::new();
        for r in rows {
            let key = match &r.parameter {
                Some(p) => format!("{} [{p}]", r.group),
                None => r.group.clone(),
            };
            let f = r.function.clone().unwrap_or_default();
            groups.entry(key).or_default().push((f, r.median_ns));
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

fn markdown(summary: &Summary) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "{START}\n");
    let _ = writeln!(md, "## Latest results (generated)\n");
    match &summary.machine {
        Some(m) => {
            let _ = writeln!(md, "Machine: {} ({} cores), {}.\n", m.cpu, m.cores, m.rustc);
        }
        None => {
            let _ = writeln!(md, "Machine: ? (? cores), ?.\n");
        }
    }
    if let Some(run) = &summary.bench_run {
        let _ = writeln!(
            md,
            "Criterion run: `{}` ({} mode) on {}. Medians; **keel ÷ peer** is the time ratio \
             (below 1.00 = Keel is faster; its inverse is the throughput ratio).\n",
            run.command, run.mode, run.date
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
    if let Some(t) = &summary.http_stack {
        http_stack(&mut md, t);
    }
    if !summary.load.is_empty() {
        crate::load::markdown(&mut md, &summary.load);
    }
    let _ = writeln!(md, "\n{END}");
    md
}

/// The per-layer table of `--bench http_stack`.
fn http_stack(md: &mut String, t: &HttpStack) {
    let _ = writeln!(
        md,
        "\n### Middleware stack, layer by layer (`--bench http_stack`)\n"
    );
    let _ = writeln!(
        md,
        "`{}` through the reference service's stack built one layer at a time (outermost \
         first), in process; median of {} interleaved rounds of {} requests ({}). \
         Allocations are counted per request.\n",
        t.endpoint,
        t.rounds,
        t.batch,
        t.date.as_deref().unwrap_or("?")
    );
    let _ = writeln!(
        md,
        "| row | ns/request | Δ ns | allocations | Δ allocations | bytes allocated |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|");
    for r in &t.rows {
        let _ = writeln!(
            md,
            "| {} | {:.0} | {:+.0} | {:.1} | {:+.1} | {:.0} |",
            r.row, r.ns, r.delta_ns, r.allocs, r.delta_allocs, r.bytes
        );
    }
}

/// [`write_summary`] for a summary held as JSON (`cargo xtask load` hands its results
/// over this way).
pub(crate) fn write(root: &Path, summary: &Value) -> Result<(), String> {
    let summary = Summary::deserialize(summary)
        .map_err(|e| format!("docs/benchmarks.json as written by load: {e}"))?;
    write_summary(root, &summary)
}

/// Writes `docs/benchmarks.json`, regenerates the block of `docs/benchmarks.md`, and
/// the charts.
pub(crate) fn write_summary(root: &Path, summary: &Summary) -> Result<(), String> {
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
    if !summary.load.is_empty() {
        crate::load::charts(&img, &summary.load)?;
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::{Measurement, Summary, format_utc, markdown, ratios};

    #[test]
    fn timestamps_are_utc_minutes() {
        for (unix, expected) in [
            (0, "1970-01-01 00:00 UTC"),
            // A leap day, one second before the minute turns.
            (951_782_459, "2000-02-29 00:00 UTC"),
            (1_796_297_639, "2026-12-03 11:33 UTC"),
        ] {
            let t = time::OffsetDateTime::from_unix_timestamp(unix).unwrap();
            assert_eq!(format_utc(t), expected, "{unix}");
        }
        // Another offset is converted, not relabelled.
        let t = time::OffsetDateTime::from_unix_timestamp(0)
            .unwrap()
            .to_offset(time::UtcOffset::from_hms(2, 0, 0).unwrap());
        assert_eq!(format_utc(t), "1970-01-01 00:00 UTC");
    }

    #[test]
    fn the_published_summary_reads_and_writes_back_unchanged() {
        let path = crate::cmd::workspace_root()
            .join("docs")
            .join("benchmarks.json");
        let text = std::fs::read_to_string(&path).unwrap();
        let summary: Summary = serde_json::from_str(&text).unwrap();
        assert!(!summary.targets.is_empty());
        let original: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(serde_json::to_value(&summary).unwrap(), original);
    }

    fn m(group: &str, function: &str, parameter: Option<&str>, median_ns: f64) -> Measurement {
        Measurement {
            ci_high_ns: median_ns,
            ci_low_ns: median_ns,
            function: Some(function.to_owned()),
            group: group.to_owned(),
            id: format!("{group}/{function}"),
            median_ns,
            parameter: parameter.map(str::to_owned),
        }
    }

    #[test]
    fn keel_is_paired_with_each_peer_of_its_group_and_parameter() {
        let mut targets = BTreeMap::new();
        targets.insert(
            "crypto".to_owned(),
            vec![
                m("crypto/open", "keel_open", Some("64"), 300.0),
                m("crypto/open", "ring", Some("64"), 150.0),
                m("crypto/open", "keel_open", Some("1024"), 900.0),
                m("crypto/open", "ring", Some("1024"), 1000.0),
                m("crypto/alone", "keel_only", None, 42.0),
            ],
        );
        let summary = Summary {
            targets,
            ..Summary::default()
        };
        let (pairs, unpaired) = ratios(&summary);
        let got: Vec<(&str, f64)> = pairs
            .iter()
            .map(|r| (r.label.as_str(), r.keel_ns / r.peer_ns))
            .collect();
        assert_eq!(
            got,
            [("crypto/open [1024]", 0.9), ("crypto/open [64]", 2.0)]
        );
        assert_eq!(
            unpaired,
            [(
                "crypto: crypto/alone".to_owned(),
                "keel_only".to_owned(),
                42.0
            )]
        );
        let summary = Summary {
            bench_run: Some(super::BenchRun {
                command: "cargo xtask bench crypto".to_owned(),
                date: "2026-12-03 12:00 UTC".to_owned(),
                mode: "short".to_owned(),
                targets: vec!["crypto".to_owned()],
            }),
            ..summary
        };
        let md = markdown(&summary);
        assert!(
            md.contains("| crypto/open [64] | keel_open | ring | 300.0 ns | 150.0 ns | 2.00 |"),
            "{md}"
        );
        assert!(
            md.contains("| crypto: crypto/alone | keel_only | 42.0 ns |"),
            "{md}"
        );
    }
}
