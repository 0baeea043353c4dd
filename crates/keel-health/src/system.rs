//! Built-in checks of the process and its host: memory, disk space, load average and
//! tokio runtime responsiveness.
//!
//! They read `/proc` and `/sys/fs/cgroup` directly (Linux) and disk space through
//! `statvfs(3)` via [`rustix`](https://docs.rs/rustix), a safe syscall wrapper that on
//! Linux needs neither libc nor `unsafe` in this crate. `sysinfo` was the alternative: it
//! needs Rust 1.95, enumerates every process, disk and network interface at refresh,
//! and does not see cgroup memory limits, which is what a container is killed by.
//!
//! Each check compares its figure to a warn threshold (and an optional fail threshold)
//! and reports the figure as `observedValue`. A figure that cannot be read (another OS,
//! a hardened `/proc`) gives `warn` with the reason: a blind spot in monitoring is worth
//! seeing, but not worth taking the instance out of rotation.
//!
//! All of them belong to the full report only by default ([`Probes::NONE`], non-critical,
//! see their `options()`); register them all with
//! [`HealthBuilder::system_checks`](crate::HealthBuilder::system_checks).
//!
//! ```
//! use keel_health::system::{DiskCheck, LoadCheck, MemoryCheck, RuntimeCheck};
//! use std::time::Duration;
//!
//! let memory = MemoryCheck::new().warn_above(85.0).fail_above(97.0);
//! let disk = DiskCheck::new("/var/lib/app").warn_above(80.0);
//! let load = LoadCheck::new().warn_above(1.5);
//! let runtime = RuntimeCheck::new().warn_above(Duration::from_millis(20));
//! let health = keel_health::Health::builder()
//!     .check(memory.options(), memory)
//!     .check(disk.options(), disk)
//!     .check(load.options(), load)
//!     .check(runtime.options(), runtime)
//!     .build()?;
//! # let _ = health;
//! # Ok::<(), keel_health::Error>(())
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{Check, CheckOptions, CheckOptionsBuilder, Observation, Probes, Status};

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

fn grade(value: f64, warn_above: f64, fail_above: Option<f64>) -> Status {
    if fail_above.is_some_and(|f| value > f) {
        Status::Fail
    } else if value > warn_above {
        Status::Warn
    } else {
        Status::Pass
    }
}

fn round(x: f64, decimals: i32) -> f64 {
    let p = 10f64.powi(decimals);
    (x * p).round() / p
}

fn system_options(name: &str) -> CheckOptionsBuilder {
    CheckOptions::builder(name)
        .probes(Probes::NONE)
        .non_critical()
        .component_type("system")
}

/// Memory in use, in percent: of the container's cgroup limit when there is one (that
/// is what the OOM killer enforces), else of the host's RAM (`MemTotal - MemAvailable`).
///
/// Cgroup usage is the working set (`memory.current` minus `inactive_file`), as the
/// kubelet computes it, so reclaimable page cache does not look like pressure.
/// Default: warn above 90 %, no fail threshold.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use keel_health::{Check, system::MemoryCheck};
/// let observation = MemoryCheck::new().check().await;
/// assert_eq!(MemoryCheck::new().options().build().name(), "memory:utilization");
/// # if cfg!(target_os = "linux") { assert_eq!(observation.observed_unit(), Some("percent")); }
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct MemoryCheck {
    warn_above: f64,
    fail_above: Option<f64>,
}

impl Default for MemoryCheck {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryCheck {
    /// The conventional name, `memory:utilization`.
    pub const NAME: &'static str = "memory:utilization";

    /// Warn above 90 %, never fail.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            warn_above: 90.0,
            fail_above: None,
        }
    }

    /// Warn when more than `percent` is in use.
    #[must_use]
    pub const fn warn_above(mut self, percent: f64) -> Self {
        self.warn_above = percent;
        self
    }

    /// Fail when more than `percent` is in use.
    #[must_use]
    pub const fn fail_above(mut self, percent: f64) -> Self {
        self.fail_above = Some(percent);
        self
    }

    /// Default registration: [`Self::NAME`], full report only, non-critical, `system`.
    pub fn options(&self) -> CheckOptionsBuilder {
        system_options(Self::NAME)
    }

    fn observe(&self) -> Observation {
        let (used, total, scope) = match read_cgroup_memory() {
            Some((used, limit)) => (used, limit, "cgroup limit"),
            None => match std::fs::read_to_string("/proc/meminfo") {
                Ok(text) => match parse_meminfo(&text) {
                    Some((total, available)) => {
                        (total.saturating_sub(available), total, "host memory")
                    }
                    None => return Observation::warn("cannot parse /proc/meminfo"),
                },
                Err(e) => return Observation::warn(format!("cannot read /proc/meminfo: {e}")),
            },
        };
        if total == 0 {
            return Observation::warn("memory total reported as zero");
        }
        let percent = round(used as f64 * 100.0 / total as f64, 1);
        let status = grade(percent, self.warn_above, self.fail_above);
        let mut observation = Observation::new(status).with_value(percent, "percent");
        if status != Status::Pass {
            observation = observation.with_output(format!(
                "memory {percent}% used: {:.1} GiB of {:.1} GiB ({scope})",
                used as f64 / GIB,
                total as f64 / GIB
            ));
        }
        observation
    }
}

impl Check for MemoryCheck {
    async fn check(&self) -> Observation {
        self.observe()
    }
}

/// `(MemTotal, MemAvailable)` in bytes.
fn parse_meminfo(text: &str) -> Option<(u64, u64)> {
    let field = |name: &str| {
        text.lines().find_map(|line| {
            let rest = line.strip_prefix(name)?.strip_prefix(':')?;
            let kib: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
            kib.checked_mul(1024)
        })
    };
    Some((field("MemTotal")?, field("MemAvailable")?))
}

/// The value of `key` in a cgroup `memory.stat`.
fn parse_stat_field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        if k == key {
            v.trim().parse().ok()
        } else {
            None
        }
    })
}

/// The cgroup v2 path of this process (`0::/path` in `/proc/self/cgroup`).
fn parse_cgroup_v2_path(text: &str) -> Option<&str> {
    text.lines().find_map(|line| line.strip_prefix("0::"))
}

/// `(working set, limit)` of this process's cgroup, when it has a memory limit.
fn read_cgroup_memory() -> Option<(u64, u64)> {
    let read = |p: &Path| std::fs::read_to_string(p).ok();
    let mut dirs = Vec::with_capacity(2);
    if let Some(own) = read(Path::new("/proc/self/cgroup"))
        .as_deref()
        .and_then(parse_cgroup_v2_path)
    {
        dirs.push(Path::new("/sys/fs/cgroup").join(own.trim_start_matches('/')));
    }
    dirs.push(PathBuf::from("/sys/fs/cgroup"));
    for dir in dirs {
        // cgroup v2
        if let Some(max) = read(&dir.join("memory.max")) {
            let Ok(limit) = max.trim().parse::<u64>() else {
                return None;
            }; // "max": no limit
            let current: u64 = read(&dir.join("memory.current"))?.trim().parse().ok()?;
            let inactive = read(&dir.join("memory.stat"))
                .and_then(|s| parse_stat_field(&s, "inactive_file"))
                .unwrap_or(0);
            return Some((current.saturating_sub(inactive), limit));
        }
    }
    // cgroup v1: an absent limit reads as a huge number, so compare with the host.
    let v1 = Path::new("/sys/fs/cgroup/memory");
    let limit: u64 = read(&v1.join("memory.limit_in_bytes"))?
        .trim()
        .parse()
        .ok()?;
    let host = read(Path::new("/proc/meminfo"))
        .as_deref()
        .and_then(parse_meminfo)
        .map(|(t, _)| t)?;
    if limit >= host {
        return None;
    }
    let usage: u64 = read(&v1.join("memory.usage_in_bytes"))?
        .trim()
        .parse()
        .ok()?;
    let inactive = read(&v1.join("memory.stat"))
        .and_then(|s| parse_stat_field(&s, "total_inactive_file"))
        .unwrap_or(0);
    Some((usage.saturating_sub(inactive), limit))
}

/// Disk space in use on the filesystem holding a path, in percent of the space
/// available to unprivileged users (as `df` computes `Use%`).
///
/// `statvfs` runs on tokio's blocking pool, so a hung network mount costs a blocking
/// thread and a timed-out check, not a runtime worker. Unix only. Default: warn above
/// 90 %, no fail threshold.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use keel_health::{Check, Status, system::DiskCheck};
/// let observation = DiskCheck::new("/").warn_above(100.0).check().await;
/// assert_eq!(observation.status(), Status::Pass);
/// assert_eq!(observation.observed_unit(), Some("percent"));
/// # }
/// ```
#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
#[derive(Debug, Clone)]
pub struct DiskCheck {
    path: PathBuf,
    warn_above: f64,
    fail_above: Option<f64>,
}

#[cfg(unix)]
impl DiskCheck {
    /// The conventional name, `disk:utilization`.
    pub const NAME: &'static str = "disk:utilization";

    /// Checks the filesystem holding `path`; warn above 90 %, never fail.
    #[must_use]
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            warn_above: 90.0,
            fail_above: None,
        }
    }

    /// Warn when more than `percent` is used.
    #[must_use]
    pub const fn warn_above(mut self, percent: f64) -> Self {
        self.warn_above = percent;
        self
    }

    /// Fail when more than `percent` is used (e.g. 98 for a service that writes files).
    #[must_use]
    pub const fn fail_above(mut self, percent: f64) -> Self {
        self.fail_above = Some(percent);
        self
    }

    /// Default registration: [`Self::NAME`] with the path as component id, full report
    /// only, non-critical, `system`.
    ///
    /// ```
    /// let disk = keel_health::system::DiskCheck::new("/data");
    /// assert_eq!(disk.options().build().component_id(), Some("/data"));
    /// ```
    pub fn options(&self) -> CheckOptionsBuilder {
        system_options(Self::NAME).component_id(self.path.display().to_string())
    }

    fn grade(&self, blocks: u64, free: u64, available: u64, fragment: u64) -> Observation {
        let used = blocks.saturating_sub(free);
        let usable = used.saturating_add(available);
        if usable == 0 {
            return Observation::warn(format!("{} reports a size of zero", self.path.display()));
        }
        let percent = round(used as f64 * 100.0 / usable as f64, 1);
        let status = grade(percent, self.warn_above, self.fail_above);
        let mut observation = Observation::new(status).with_value(percent, "percent");
        if status != Status::Pass {
            let avail = available.saturating_mul(fragment) as f64 / GIB;
            observation = observation.with_output(format!(
                "{} is {percent}% full, {avail:.1} GiB available",
                self.path.display()
            ));
        }
        observation
    }
}

#[cfg(unix)]
impl Check for DiskCheck {
    async fn check(&self) -> Observation {
        let path = self.path.clone();
        match tokio::task::spawn_blocking(move || rustix::fs::statvfs(&path)).await {
            Ok(Ok(s)) => self.grade(s.f_blocks, s.f_bfree, s.f_bavail, s.f_frsize),
            Ok(Err(e)) => {
                Observation::warn(format!("statvfs({}) failed: {e}", self.path.display()))
            }
            Err(e) => Observation::warn(format!(
                "statvfs({}) did not complete: {e}",
                self.path.display()
            )),
        }
    }
}

/// The 1-minute load average per CPU available to the process (`/proc/loadavg` divided
/// by [`std::thread::available_parallelism`], which honours cgroup CPU quotas).
///
/// Default: warn above 2.0 per CPU (runnable tasks wait on average as long as they
/// run), no fail threshold: load is a symptom shared by every process on the host,
/// rarely a reason to take one instance out. Linux only; elsewhere it reports `warn`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use keel_health::{Check, system::LoadCheck};
/// let observation = LoadCheck::new().check().await;
/// # if cfg!(target_os = "linux") { assert_eq!(observation.observed_unit(), Some("per cpu")); }
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct LoadCheck {
    warn_above: f64,
    fail_above: Option<f64>,
}

impl Default for LoadCheck {
    fn default() -> Self {
        Self::new()
    }
}

impl LoadCheck {
    /// The conventional name, `cpu:load`.
    pub const NAME: &'static str = "cpu:load";

    /// Warn above 2.0 per CPU, never fail.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            warn_above: 2.0,
            fail_above: None,
        }
    }

    /// Warn above this 1-minute load per CPU.
    #[must_use]
    pub const fn warn_above(mut self, per_cpu: f64) -> Self {
        self.warn_above = per_cpu;
        self
    }

    /// Fail above this 1-minute load per CPU.
    #[must_use]
    pub const fn fail_above(mut self, per_cpu: f64) -> Self {
        self.fail_above = Some(per_cpu);
        self
    }

    /// Default registration: [`Self::NAME`], full report only, non-critical, `system`.
    pub fn options(&self) -> CheckOptionsBuilder {
        system_options(Self::NAME)
    }

    fn grade(&self, loads: [f64; 3], cpus: usize) -> Observation {
        let per_cpu = round(loads[0] / cpus.max(1) as f64, 2);
        let status = grade(per_cpu, self.warn_above, self.fail_above);
        let mut observation = Observation::new(status).with_value(per_cpu, "per cpu");
        if status != Status::Pass {
            observation = observation.with_output(format!(
                "load average {} {} {} (1, 5, 15 min) on {cpus} CPUs",
                loads[0], loads[1], loads[2]
            ));
        }
        observation
    }
}

impl Check for LoadCheck {
    async fn check(&self) -> Observation {
        let text = match std::fs::read_to_string("/proc/loadavg") {
            Ok(text) => text,
            Err(e) => return Observation::warn(format!("cannot read /proc/loadavg: {e}")),
        };
        let Some(loads) = parse_loadavg(&text) else {
            return Observation::warn("cannot parse /proc/loadavg");
        };
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        self.grade(loads, cpus)
    }
}

fn parse_loadavg(text: &str) -> Option<[f64; 3]> {
    let mut it = text.split_whitespace().map(str::parse::<f64>);
    Some([it.next()?.ok()?, it.next()?.ok()?, it.next()?.ok()?])
}

/// Responsiveness of the tokio runtime: how long a freshly spawned task waits before
/// it runs. Blocking code on a worker thread shows up here first.
///
/// A wedged runtime never runs the task: the check then times out and fails, which is
/// the reason to register it with a short timeout. Default: warn above 50 ms, no fail
/// threshold.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use keel_health::{Check, Status, system::RuntimeCheck};
/// let observation = RuntimeCheck::new().check().await;
/// assert_eq!(observation.observed_unit(), Some("ms"));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct RuntimeCheck {
    warn_above: Duration,
    fail_above: Option<Duration>,
}

impl Default for RuntimeCheck {
    fn default() -> Self {
        Self::new()
    }
}

impl RuntimeCheck {
    /// The conventional name, `runtime:schedulingDelay`.
    pub const NAME: &'static str = "runtime:schedulingDelay";

    /// Warn above 50 ms, never fail (the timeout is the fail threshold).
    #[must_use]
    pub const fn new() -> Self {
        Self {
            warn_above: Duration::from_millis(50),
            fail_above: None,
        }
    }

    /// Warn when the delay exceeds this.
    #[must_use]
    pub const fn warn_above(mut self, delay: Duration) -> Self {
        self.warn_above = delay;
        self
    }

    /// Fail when the delay exceeds this.
    ///
    /// ```
    /// let check = keel_health::system::RuntimeCheck::new().fail_above(std::time::Duration::from_millis(250));
    /// # let _ = check;
    /// ```
    #[must_use]
    pub const fn fail_above(mut self, delay: Duration) -> Self {
        self.fail_above = Some(delay);
        self
    }

    /// Default registration: [`Self::NAME`], full report only, non-critical, `runtime`
    /// component type, 1 s timeout.
    pub fn options(&self) -> CheckOptionsBuilder {
        system_options(Self::NAME)
            .component_type("runtime")
            .timeout(Duration::from_secs(1))
    }

    fn grade(&self, delay: Duration) -> Observation {
        let ms = round(delay.as_secs_f64() * 1000.0, 3);
        let status = grade(
            delay.as_secs_f64(),
            self.warn_above.as_secs_f64(),
            self.fail_above.map(|d| d.as_secs_f64()),
        );
        let mut observation = Observation::new(status).with_value(ms, "ms");
        if status != Status::Pass {
            observation =
                observation.with_output(format!("a spawned task waited {delay:?} before running"));
        }
        observation
    }
}

impl Check for RuntimeCheck {
    async fn check(&self) -> Observation {
        // The wall clock, not tokio's: a paused test clock must not hide a real delay.
        let spawned = std::time::Instant::now();
        match tokio::spawn(async move { spawned.elapsed() }).await {
            Ok(delay) => self.grade(delay),
            Err(e) => Observation::fail(format!("probe task did not run: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_grade(value: f64, warn: f64, fail: Option<f64>, expected: Status) {
        assert_eq!(
            grade(value, warn, fail),
            expected,
            "{value} {warn} {fail:?}"
        );
    }

    #[test]
    fn thresholds() {
        check_grade(89.9, 90.0, None, Status::Pass);
        check_grade(90.0, 90.0, None, Status::Pass);
        check_grade(90.1, 90.0, None, Status::Warn);
        check_grade(99.0, 90.0, None, Status::Warn);
        check_grade(99.0, 90.0, Some(98.0), Status::Fail);
        check_grade(50.0, 90.0, Some(40.0), Status::Fail);
    }

    #[test]
    fn meminfo() {
        let text = "MemTotal:       16318480 kB\nMemFree:         1000000 kB\nMemAvailable:    8159240 kB\n";
        assert_eq!(
            parse_meminfo(text),
            Some((16_318_480 * 1024, 8_159_240 * 1024))
        );
        assert_eq!(parse_meminfo("MemTotal: 1 kB\n"), None);
        assert_eq!(parse_meminfo("garbage"), None);
    }

    #[test]
    fn cgroup_files() {
        assert_eq!(
            parse_cgroup_v2_path("0::/kubepods/pod1/ctr\n"),
            Some("/kubepods/pod1/ctr")
        );
        assert_eq!(parse_cgroup_v2_path("12:memory:/docker/abc\n"), None);
        let stat = "anon 100\nfile 2000\ninactive_file 1500\nactive_file 500\n";
        assert_eq!(parse_stat_field(stat, "inactive_file"), Some(1500));
        assert_eq!(parse_stat_field(stat, "missing"), None);
    }

    #[test]
    fn loadavg() {
        assert_eq!(
            parse_loadavg("0.52 0.40 0.35 2/345 12345\n"),
            Some([0.52, 0.40, 0.35])
        );
        assert_eq!(parse_loadavg("0.52 x"), None);
        let o = LoadCheck::new().grade([4.4, 3.0, 2.0], 2);
        assert_eq!(
            (o.status(), o.observed_value()),
            (Status::Warn, Some(&serde_json::json!(2.2)))
        );
        assert_eq!(
            o.output(),
            Some("load average 4.4 3 2 (1, 5, 15 min) on 2 CPUs")
        );
        assert_eq!(
            LoadCheck::new().grade([1.0, 1.0, 1.0], 2).status(),
            Status::Pass
        );
    }

    #[cfg(unix)]
    #[test]
    fn disk_percent_like_df() {
        let disk = DiskCheck::new("/data");
        // 1000 blocks, 100 free of which 50 reserved for root: used 900 of 950 usable.
        let o = disk.grade(1000, 100, 50, 4096);
        assert_eq!(o.observed_value(), Some(&serde_json::json!(94.7)));
        assert_eq!(o.status(), Status::Warn);
        assert!(
            o.output()
                .is_some_and(|s| s.starts_with("/data is 94.7% full"))
        );
        assert_eq!(disk.grade(0, 0, 0, 4096).status(), Status::Warn);
        assert_eq!(
            DiskCheck::new("/")
                .fail_above(94.0)
                .grade(1000, 100, 50, 4096)
                .status(),
            Status::Fail
        );
    }

    #[test]
    fn runtime_grading() {
        let rt = RuntimeCheck::new();
        assert_eq!(rt.grade(Duration::from_millis(1)).status(), Status::Pass);
        assert_eq!(rt.grade(Duration::from_millis(60)).status(), Status::Warn);
        let strict = rt.fail_above(Duration::from_millis(100));
        assert_eq!(
            strict.grade(Duration::from_millis(150)).status(),
            Status::Fail
        );
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn real_figures_on_linux() {
        let m = MemoryCheck::new().warn_above(100.0).check().await;
        assert_eq!(m.status(), Status::Pass, "{m:?}");
        let v = m
            .observed_value()
            .and_then(serde_json::Value::as_f64)
            .unwrap();
        assert!((0.0..=100.0).contains(&v), "{v}");
        let l = LoadCheck::new().warn_above(f64::MAX).check().await;
        assert_eq!(l.status(), Status::Pass, "{l:?}");
        let d = DiskCheck::new("/definitely/not/here").check().await;
        assert_eq!(d.status(), Status::Warn);
        assert!(d.output().is_some_and(|o| o.contains("statvfs")));
    }
}
