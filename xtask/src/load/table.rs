//! The typed result of `cargo xtask load` (stored under `"load"` in
//! `docs/benchmarks.json`) and its part of `docs/benchmarks.md` and `docs/img/`.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::wrk::WrkStats;

/// Everything one `cargo xtask load` run measured. Every field has a default, so results
/// written by older versions of the harness still load (their missing rows are skipped).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct LoadReport {
    /// How and when.
    pub(crate) run: RunInfo,
    /// `/proc/loadavg` (1, 5, 15 min) when the run ended.
    pub(crate) uptime: String,
    /// Middleware cost on `/health/live`.
    pub(crate) liveness: Liveness,
    /// The authenticated `GET /api/v1/users/{id}`.
    pub(crate) user_read: UserRead,
    /// Login saturation and liveness meanwhile.
    pub(crate) login: Login,
    /// Signup, login, profile change and reads.
    pub(crate) mixed: Mixed,
}

/// How the run was made.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct RunInfo {
    /// `cargo xtask load`.
    pub(crate) command: String,
    /// `YYYY-MM-DD HH:MM UTC`.
    pub(crate) date: String,
    /// Measured seconds per scenario (all rounds).
    pub(crate) seconds_per_scenario: u64,
    /// Interleaved rounds per scenario.
    pub(crate) rounds: u32,
    /// The load generator.
    pub(crate) generator: String,
    /// `/proc/loadavg` when the measurements started.
    pub(crate) load_average_start: String,
}

/// `/health/live` on the same bytes: bare axum, the shipped defaults, the global limit off.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Liveness {
    pub(crate) bare_axum: Option<WrkStats>,
    /// Shipped defaults: global per-IP limit on, access log at `info`.
    pub(crate) service: Option<WrkStats>,
    pub(crate) service_limit_off: Option<WrkStats>,
    /// `service` ÷ `bare_axum`, requests/s.
    pub(crate) throughput_ratio: Option<f64>,
    /// `service_limit_off` ÷ `bare_axum`.
    pub(crate) limit_off_ratio: Option<f64>,
    /// The body both answered.
    pub(crate) body: String,
}

/// The authenticated user read, cache on and off.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct UserRead {
    pub(crate) cache_hit: Option<WrkStats>,
    pub(crate) cache_disabled: Option<WrkStats>,
    /// `cache_hit` again, the client sending `Accept-Encoding: gzip` as real clients do
    /// (the body is under the stack's compression minimum: same bytes, negotiation paid).
    pub(crate) cache_hit_gzip_client: Option<WrkStats>,
    /// `cache_hit` ÷ `cache_disabled`.
    pub(crate) throughput_ratio: Option<f64>,
    /// `cache_hit` ÷ the bare baseline of the same run.
    pub(crate) hit_vs_bare: Option<f64>,
    /// `cache_disabled` ÷ the bare baseline.
    pub(crate) miss_vs_bare: Option<f64>,
}

/// Login saturation (Argon2id) with `/health/live` probed meanwhile.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Login {
    pub(crate) login: Option<WrkStats>,
    pub(crate) liveness_during_login: Option<WrkStats>,
    pub(crate) liveness_during_login_vs_bare: Option<f64>,
}

/// The mixed profile.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Mixed {
    pub(crate) mixed: Option<WrkStats>,
}

/// `a ÷ b` of requests/s, two decimals.
pub(crate) fn ratio(a: Option<&WrkStats>, b: Option<&WrkStats>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b.rps > 0.0 => Some((a.rps / b.rps * 100.0).round() / 100.0),
        _ => None,
    }
}

impl LoadReport {
    /// The report stored under `"load"` of `docs/benchmarks.json`, if it parses.
    pub(crate) fn from_json(load: &Map<String, Value>) -> Result<Self, String> {
        serde_json::from_value(Value::Object(load.clone()))
            .map_err(|e| format!("docs/benchmarks.json `load`: {e}"))
    }

    /// The report as stored in `docs/benchmarks.json`.
    pub(crate) fn to_json(&self) -> Result<Value, String> {
        serde_json::to_value(self).map_err(|e| e.to_string())
    }

    /// (label, figure) of every row measured, in table order.
    fn rows(&self) -> Vec<(&'static str, &WrkStats)> {
        let rows: [(&'static str, Option<&WrkStats>); 9] = [
            (
                "`/health/live`, bare axum baseline",
                self.liveness.bare_axum.as_ref(),
            ),
            (
                "`/health/live`, service, shipped defaults (global limit on, access log at info)",
                self.liveness.service.as_ref(),
            ),
            (
                "`/health/live`, service, global limit off",
                self.liveness.service_limit_off.as_ref(),
            ),
            (
                "`GET /users/{id}` with a JWT, cache hit",
                self.user_read.cache_hit.as_ref(),
            ),
            (
                "`GET /users/{id}` with a JWT, cache hit, client sends `Accept-Encoding: gzip`",
                self.user_read.cache_hit_gzip_client.as_ref(),
            ),
            (
                "`GET /users/{id}` with a JWT, cache disabled",
                self.user_read.cache_disabled.as_ref(),
            ),
            (
                "`POST /auth/login` (Argon2id), a crowd of forwarded addresses",
                self.login.login.as_ref(),
            ),
            (
                "`/health/live` during login saturation",
                self.login.liveness_during_login.as_ref(),
            ),
            ("mixed signup/login/get/patch", self.mixed.mixed.as_ref()),
        ];
        rows.into_iter()
            .filter_map(|(label, v)| v.map(|v| (label, v)))
            .collect()
    }

    /// The load section of `docs/benchmarks.md`.
    pub(crate) fn markdown(&self, md: &mut String) {
        let run = &self.run;
        let _ = writeln!(md, "\n## HTTP load (generated)\n");
        let rounds = if run.rounds > 1 {
            format!(
                " ({} interleaved rounds after {} s of unrecorded warm-up per scenario: every scenario of a group runs in turn, so machine load hits all alike)",
                run.rounds,
                super::WARM_UP_SECS
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            md,
            "`{}` on {}; {} s per scenario{rounds}; {}; load average (1, 5, 15 min) {} at the start, {} at the end.\n",
            or(&run.command, "cargo xtask load"),
            or(&run.date, "?"),
            run.seconds_per_scenario,
            or(&run.generator, "wrk"),
            or(&run.load_average_start, "?"),
            or(&self.uptime, "?"),
        );
        let _ = writeln!(md, "![load scenarios](img/load-throughput.svg)\n");
        let _ = writeln!(
            md,
            "| scenario | requests/s | ÷ bare axum | p50 | p99 | non-2xx | shed (429/503) | unexpected |"
        );
        let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|");
        let bare = self.liveness.bare_axum.as_ref();
        for (name, v) in self.rows() {
            let to_bare =
                ratio(Some(v), bare).map_or_else(|| "-".to_owned(), |r| format!("{r:.2}×"));
            let _ = writeln!(
                md,
                "| {name} | {:.0} | {to_bare} | {} | {} | {} | {} | {} |",
                v.rps,
                ms(v.p50_ms),
                ms(v.p99_ms),
                v.non_2xx,
                v.shed,
                v.unexpected
            );
        }
        let x = |r: Option<f64>| r.map_or_else(|| "-".to_owned(), |x| format!("{x:.2}×"));
        let p99 = self
            .login
            .liveness_during_login
            .as_ref()
            .and_then(|v| v.p99_ms);
        let _ = writeln!(md, "\n| target | measured | goal |");
        let _ = writeln!(md, "|---|---:|---|");
        let _ = writeln!(
            md,
            "| shipped stack vs bare axum, `/health/live` (same body) throughput | {} | ≥ 0.60× (aim 0.75×) |",
            x(self.liveness.throughput_ratio)
        );
        let _ = writeln!(
            md,
            "| same, global limit off | {} | — |",
            x(self.liveness.limit_off_ratio)
        );
        let _ = writeln!(
            md,
            "| authenticated cached `GET /users/{{id}}` vs bare axum | {} | ≥ 0.5× |",
            x(self.user_read.hit_vs_bare)
        );
        let _ = writeln!(
            md,
            "| cache-hit user read vs cache disabled | {} | ≥ 3× |",
            x(self.user_read.throughput_ratio)
        );
        let _ = writeln!(
            md,
            "| `/health/live` p99 during login saturation | {} | ≤ 10 ms |",
            ms(p99)
        );
    }

    /// Throughput and p99 charts of the load scenarios.
    pub(crate) fn charts(&self, img: &Path) -> Result<(), String> {
        let rows = self.rows();
        let rps: Vec<(String, f64)> = rows
            .iter()
            .map(|(n, v)| (n.replace('`', ""), v.rps))
            .collect();
        let p99: Vec<(String, f64)> = rows
            .iter()
            .map(|(n, v)| (n.replace('`', ""), v.p99_ms.unwrap_or(0.0)))
            .collect();
        std::fs::write(
            img.join("load-throughput.svg"),
            crate::report::bar_chart("Requests per second (higher is better)", &rps, None),
        )
        .map_err(|e| e.to_string())?;
        std::fs::write(
            img.join("load-p99.svg"),
            crate::report::bar_chart("p99 latency, ms (lower is better)", &p99, None),
        )
        .map_err(|e| e.to_string())
    }
}

fn or<'a>(s: &'a str, default: &'a str) -> &'a str {
    if s.is_empty() { default } else { s }
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |x| format!("{x:.2} ms"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_of_older_harnesses_still_load_and_render() {
        // The shape written on 2026-11-22: no limit-off row, no rounds, no load average.
        let old = serde_json::json!({
            "liveness": { "bare_axum": { "rps": 100.0, "p50_ms": 0.1, "p99_ms": 4.0, "requests": 1500,
                                         "non_2xx": 0, "socket_errors": 0, "unexpected": 0 },
                          "service": { "rps": 40.0, "p99_ms": 2.0 }, "throughput_ratio": 0.4 },
            "run": { "command": "cargo xtask load", "date": "2026-11-22 05:00 UTC", "seconds_per_scenario": 15 }
        });
        let report = old
            .as_object()
            .map(LoadReport::from_json)
            .unwrap_or_else(|| Err("not an object".into()))
            .unwrap_or_default();
        assert_eq!(report.liveness.throughput_ratio, Some(0.4));
        assert!(report.user_read.cache_hit.is_none());
        let mut md = String::new();
        report.markdown(&mut md);
        assert!(md.contains("| `/health/live`, bare axum baseline | 100 | 1.00× | 0.10 ms | 4.00 ms | 0 | 0 | 0 |"), "{md}");
        assert!(md.contains("| `/health/live`, service, shipped defaults (global limit on, access log at info) | 40 | 0.40× | - | 2.00 ms |"), "{md}");
        assert!(!md.contains("cache hit |"), "{md}");
        assert!(
            md.contains(
                "| shipped stack vs bare axum, `/health/live` (same body) throughput | 0.40× |"
            ),
            "{md}"
        );
    }

    #[test]
    fn ratio_needs_both_sides() {
        let s = |rps| WrkStats {
            rps,
            ..WrkStats::default()
        };
        assert_eq!(ratio(Some(&s(50.0)), Some(&s(200.0))), Some(0.25));
        assert_eq!(ratio(Some(&s(50.0)), Some(&s(0.0))), None);
        assert_eq!(ratio(None, Some(&s(1.0))), None);
    }
}
