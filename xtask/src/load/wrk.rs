//! Running `wrk` and reading its output into [`WrkStats`]; the Lua scripts of the
//! scripted scenarios (login crowd, mixed profile).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

/// One `wrk` run (or several rounds of one scenario, merged by [`WrkStats::merge`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct WrkStats {
    /// Requests per second.
    pub(crate) rps: f64,
    /// Median latency.
    pub(crate) p50_ms: Option<f64>,
    /// 99th percentile latency.
    pub(crate) p99_ms: Option<f64>,
    /// Requests completed.
    pub(crate) requests: u64,
    /// Answers that are not 2xx/3xx (wrk's count).
    pub(crate) non_2xx: u64,
    /// Connect, read, write and timeout errors.
    pub(crate) socket_errors: u64,
    /// Answers the scenario did not expect (scripted scenarios count them in Lua; the
    /// plain scenarios expect only 2xx, so there it is `non_2xx`).
    pub(crate) unexpected: u64,
    /// `503`/`429` of a saturated service shedding on purpose (scripted scenarios).
    pub(crate) shed: u64,
    /// Seconds measured.
    pub(crate) seconds: f64,
    /// Rounds merged into this figure.
    pub(crate) rounds: u32,
}

impl WrkStats {
    /// Rounds of one scenario as one figure: requests and errors add up, requests/s is
    /// the total over the total time, p50 is the median of the rounds' p50s and p99
    /// the worst round's (conservative).
    pub(crate) fn merge(rounds: &[Self]) -> Self {
        let seconds: f64 = rounds.iter().map(|r| r.seconds).sum();
        let requests: u64 = rounds.iter().map(|r| r.requests).sum();
        let mut p50: Vec<f64> = rounds.iter().filter_map(|r| r.p50_ms).collect();
        p50.sort_by(f64::total_cmp);
        Self {
            rps: if seconds > 0.0 {
                round1(requests as f64 / seconds)
            } else {
                0.0
            },
            p50_ms: p50.get(p50.len() / 2).copied(),
            p99_ms: rounds
                .iter()
                .filter_map(|r| r.p99_ms)
                .max_by(f64::total_cmp),
            requests,
            non_2xx: rounds.iter().map(|r| r.non_2xx).sum(),
            socket_errors: rounds.iter().map(|r| r.socket_errors).sum(),
            unexpected: rounds.iter().map(|r| r.unexpected).sum(),
            shed: rounds.iter().map(|r| r.shed).sum(),
            seconds,
            rounds: rounds.iter().map(|r| r.rounds).sum(),
        }
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// What one `wrk` invocation drives.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// `http://127.0.0.1:port`.
    pub(crate) base: String,
    /// Path, or the Lua script that builds the requests.
    pub(crate) what: What,
    /// wrk threads and connections.
    pub(crate) threads: u32,
    pub(crate) conns: u32,
}

/// A plain `GET` (with optional headers) or a script.
#[derive(Debug, Clone)]
pub(crate) enum What {
    Get { path: String, headers: Vec<String> },
    Script(PathBuf),
}

impl Target {
    /// `GET base+path` with `-t2 -c32` (the baseline's shape).
    pub(crate) fn get(base: &str, path: &str, headers: &[String]) -> Self {
        Self {
            base: base.to_owned(),
            what: What::Get {
                path: path.to_owned(),
                headers: headers.to_vec(),
            },
            threads: 2,
            conns: 32,
        }
    }

    /// The scenario of `script` with `-t2 -c16`.
    pub(crate) fn script(base: &str, script: &Path) -> Self {
        Self {
            base: base.to_owned(),
            what: What::Script(script.to_path_buf()),
            threads: 2,
            conns: 16,
        }
    }

    /// `base` + path (or script name), for progress lines.
    pub(crate) fn label(&self) -> String {
        match &self.what {
            What::Get { path, headers } if headers.is_empty() => format!("{}{path}", self.base),
            What::Get { path, .. } => format!("{}{path} (+headers)", self.base),
            What::Script(s) => format!("{} {}", self.base, s.display()),
        }
    }

    /// Runs wrk for `secs` with latency percentiles and a 5 s request timeout.
    pub(crate) fn run(&self, secs: u64) -> Result<WrkStats, String> {
        let mut c = Command::new("wrk");
        c.args(["-t", &self.threads.to_string()])
            .args(["-c", &self.conns.to_string()])
            .args(["-d", &format!("{secs}s"), "--latency", "--timeout", "5s"]);
        let plain = match &self.what {
            What::Get { path, headers } => {
                for h in headers {
                    c.args(["-H", h]);
                }
                c.arg(format!("{}{path}", self.base));
                true
            }
            What::Script(script) => {
                c.arg("-s").arg(script).arg(&self.base);
                false
            }
        };
        let out = c.output().map_err(|e| format!("wrk: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            return Err(format!(
                "wrk failed: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let mut stats = parse(&text)?;
        #[allow(clippy::cast_precision_loss)]
        {
            stats.seconds = secs as f64;
        }
        if plain {
            // A plain scenario expects 2xx only: a ratio over 401s or 429s means nothing.
            stats.unexpected = stats.non_2xx;
        }
        Ok(stats)
    }
}

fn parse_duration_ms(s: &str) -> Option<f64> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic())?);
    let v: f64 = num.parse().ok()?;
    Some(match unit {
        "us" => v / 1000.0,
        "ms" => v,
        "s" => v * 1000.0,
        "m" => v * 60_000.0,
        _ => return None,
    })
}

/// Reads wrk's text output (and the `KEEL_*` lines our scripts print in `done`).
pub(crate) fn parse(text: &str) -> Result<WrkStats, String> {
    let mut s = WrkStats {
        rounds: 1,
        ..WrkStats::default()
    };
    let mut rps = None;
    for line in text.lines() {
        let l = line.trim();
        if let Some(v) = l.strip_prefix("Requests/sec:") {
            rps = v.trim().parse::<f64>().ok();
        } else if let Some(v) = l.strip_prefix("50%") {
            s.p50_ms = parse_duration_ms(v);
        } else if let Some(v) = l.strip_prefix("99%") {
            s.p99_ms = parse_duration_ms(v);
        } else if let Some(v) = l.strip_prefix("Non-2xx or 3xx responses:") {
            s.non_2xx = v.trim().parse().unwrap_or(0);
        } else if let Some(v) = l.strip_prefix("Socket errors:") {
            s.socket_errors = v
                .split(',')
                .filter_map(|p| p.split_whitespace().last()?.parse::<u64>().ok())
                .sum();
        } else if let Some(v) = l.strip_prefix("KEEL_UNEXPECTED") {
            s.unexpected = v.trim().parse().unwrap_or(0);
        } else if let Some(v) = l.strip_prefix("KEEL_SHED") {
            s.shed = v.trim().parse().unwrap_or(0);
        } else if l.contains("requests in") {
            s.requests = l
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
        }
    }
    s.rps = round1(rps.ok_or_else(|| format!("could not parse wrk output:\n{text}"))?);
    Ok(s)
}

/// Counts the answers of the scripts and gives each thread an id (`tid`), so generated
/// e-mails and forwarded addresses are unique; read back in `done`. A saturated service
/// sheds on purpose — `503` when the password-hash queue is full, `429` when one client
/// network has too many logins in flight — so those are counted as shed; anything else
/// that is not a 2xx is unexpected.
const COUNT_UNEXPECTED: &str = r#"
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end
function init(args) unexpected = 0; shed = 0; sent = 0 end
response = function(status, headers, body)
  if status == 503 or status == 429 then shed = shed + 1
  elseif status < 200 or status >= 300 then unexpected = unexpected + 1 end
end
function done(summary, latency, requests)
  local n, s = 0, 0
  for _, t in ipairs(threads) do n = n + t:get("unexpected"); s = s + t:get("shed") end
  io.write(string.format("KEEL_UNEXPECTED %d\n", n))
  io.write(string.format("KEEL_SHED %d\n", s))
end
-- An X-Forwarded-For address of its own per request (10.tid.x.y): behind the service's
-- trusted-proxy setting every simulated client is its own network, as real clients
-- behind a load balancer are, so the per-network login limits see a crowd, not one
-- address.
function crowd()
  sent = sent + 1
  return string.format("10.%d.%d.%d", tid % 256, math.floor(sent / 256) % 256, sent % 256)
end
"#;

/// Logins of the seeded users (`<tag>-<i>@example.com`), round robin, from a crowd.
pub(crate) fn login_script(work: &Path, tag: &str, users: usize) -> Result<PathBuf, String> {
    let mut lua = String::from(COUNT_UNEXPECTED);
    let _ = write!(
        lua,
        r#"
local i = 0
local prefix = "{tag}"
request = function()
  i = (i % {users}) + 1
  local body = string.format('{{"email":"%s-%d@example.com","password":"load-test-Passw0rd!"}}', prefix, i - 1)
  return wrk.format("POST", "/api/v1/auth/login", {{["Content-Type"] = "application/json", ["X-Forwarded-For"] = crowd()}}, body)
end
"#
    );
    let path = work.join("login.lua");
    std::fs::write(&path, lua).map_err(|e| e.to_string())?;
    Ok(path)
}

/// One signup, one login, one profile change and seven reads in ten requests, from a crowd.
pub(crate) fn mixed_script(
    work: &Path,
    tag: &str,
    id: &str,
    token: &str,
) -> Result<PathBuf, String> {
    let mut lua = String::from(COUNT_UNEXPECTED);
    let _ = write!(
        lua,
        r#"
local n = 0
local id = "{id}"
local auth = "Bearer {token}"
local prefix = "{tag}"
request = function()
  n = n + 1
  local step = n % 10
  local xff = crowd()
  if step == 0 then
    local body = string.format('{{"email":"mixed-%s-%d-%d@example.com","password":"load-test-Passw0rd!","first_name":"Mixed","last_name":"Load"}}', prefix, tid, n)
    return wrk.format("POST", "/api/v1/auth/signup", {{["Content-Type"] = "application/json", ["X-Forwarded-For"] = xff}}, body)
  elseif step == 1 then
    local body = string.format('{{"email":"%s-0@example.com","password":"load-test-Passw0rd!"}}', prefix)
    return wrk.format("POST", "/api/v1/auth/login", {{["Content-Type"] = "application/json", ["X-Forwarded-For"] = xff}}, body)
  elseif step == 2 then
    return wrk.format("PATCH", "/api/v1/users/" .. id, {{["Content-Type"] = "application/json", ["Authorization"] = auth, ["X-Forwarded-For"] = xff}}, '{{"first_name":"Patched"}}')
  else
    return wrk.format("GET", "/api/v1/users/" .. id, {{["Authorization"] = auth, ["X-Forwarded-For"] = xff}})
  end
end
"#
    );
    let path = work.join("mixed.lua");
    std::fs::write(&path, lua).map_err(|e| e.to_string())?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Running 2s test @ http://127.0.0.1:1/health/live
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   422.39us  1.02ms  30.11ms   95.12%
    Req/Sec    44.02k     3.11k   50.21k    71.00%
  Latency Distribution
     50%  250.00us
     75%  331.00us
     90%  512.00us
     99%    4.24ms
  175318 requests in 2.00s, 25.10MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 7
Requests/sec:  87612.34
Transfer/sec:     12.54MB
KEEL_UNEXPECTED 3
KEEL_SHED 4
";

    #[test]
    fn parses_wrk_output() {
        let s = parse(SAMPLE).unwrap_or_default();
        assert_eq!(s.rps, 87612.3);
        assert_eq!(s.p50_ms, Some(0.25));
        assert_eq!(s.p99_ms, Some(4.24));
        assert_eq!(s.requests, 175_318);
        assert_eq!(s.non_2xx, 7);
        assert_eq!(s.socket_errors, 3);
        assert_eq!(s.unexpected, 3);
        assert_eq!(s.shed, 4);
        assert!(parse("garbage").is_err());
    }

    #[test]
    fn merged_rounds_add_requests_and_keep_the_worst_p99() {
        let round = |requests: u64, p50: f64, p99: f64| WrkStats {
            rps: 0.0,
            p50_ms: Some(p50),
            p99_ms: Some(p99),
            requests,
            seconds: 5.0,
            rounds: 1,
            non_2xx: 1,
            ..WrkStats::default()
        };
        let m = WrkStats::merge(&[
            round(500, 1.0, 9.0),
            round(1000, 3.0, 4.0),
            round(1500, 2.0, 5.0),
        ]);
        assert_eq!(m.requests, 3000);
        assert_eq!(m.rps, 200.0);
        assert_eq!(m.p50_ms, Some(2.0));
        assert_eq!(m.p99_ms, Some(9.0));
        assert_eq!(m.non_2xx, 3);
        assert_eq!(m.rounds, 3);
        assert_eq!(m.seconds, 15.0);
    }
}
