//! [`ConfigBuilder::from_env`]: `DATABASE_URL` and the `DATABASE_POOL_*` overrides
//! ([`ConfigBuilder::env_overrides`] alone, with [`EnvVarError`] per variable).

use std::fmt;
use std::time::Duration;

use tracing::level_filters::LevelFilter;

use super::builder::ConfigBuilder;
use super::options::PgBouncer;

impl ConfigBuilder {
    /// Reads the environment:
    ///
    /// | Variable | Setting |
    /// |---|---|
    /// | `DATABASE_URL` (required) | [`url`](Self::url) |
    /// | `DATABASE_POOL_MAX_SIZE` | [`max_size`](Self::max_size) |
    /// | `DATABASE_POOL_MIN_IDLE` | [`min_idle`](Self::min_idle) |
    /// | `DATABASE_POOL_WAIT_TIMEOUT` | [`wait_timeout`](Self::wait_timeout) |
    /// | `DATABASE_POOL_CONNECT_TIMEOUT` | [`connect_timeout`](Self::connect_timeout) |
    /// | `DATABASE_POOL_MAX_LIFETIME` | [`max_lifetime`](Self::max_lifetime) (`0` = none) |
    /// | `DATABASE_POOL_IDLE_TIMEOUT` | [`idle_timeout`](Self::idle_timeout) (`0` = none) |
    /// | `DATABASE_STATEMENT_TIMEOUT` | [`statement_timeout`](Self::statement_timeout) (`0` = none) |
    /// | `DATABASE_SLOW_STATEMENT_THRESHOLD` | [`log_slow_statements`](Self::log_slow_statements) at `WARN` (`0` = log every statement) |
    /// | `DATABASE_POOL_PGBOUNCER` | [`pgbouncer`](Self::pgbouncer): `transaction`, `session` or `off` (default); see [`PgBouncer`](crate::PgBouncer) |
    ///
    /// TLS comes from the URL: `?sslmode=verify-full&sslrootcert=/path/ca.pem`.
    ///
    /// Durations are `250ms`, `5s`, `10m`, `1h`, or bare seconds. Errors (missing URL,
    /// bad number) surface from [`build`](Self::build).
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub(crate) fn from_lookup(mut get: impl FnMut(&str) -> Option<String>) -> Self {
        let b = match get("DATABASE_URL") {
            Some(url) if !url.trim().is_empty() => Self::default().url(url.trim()),
            _ => Self {
                pg: Err("DATABASE_URL is not set".to_owned()),
                ..Self::default()
            },
        };
        b.env_overrides(get).unwrap_or_else(|problems| {
            let joined: Vec<String> = problems.iter().map(ToString::to_string).collect();
            Self {
                env_error: Some(joined.join("; ")),
                ..Self::default()
            }
        })
    }

    /// Applies the pool settings of the environment table of [`from_env`](Self::from_env)
    /// that are set (every one but `DATABASE_URL`), read through `lookup` (`None` or an
    /// empty value: unset), over what this builder holds. For a service that reads its
    /// own settings and its server URL, and takes the pool's from here: its own
    /// defaults first, then these.
    ///
    /// Each value is checked against the bounds [`build`](Self::build) enforces, so a
    /// problem names its variable.
    ///
    /// # Errors
    /// Every malformed or out-of-range variable, one [`EnvVarError`] each, in table
    /// order. Values are quoted only for `DATABASE_POOL_PGBOUNCER` (none is a secret).
    ///
    /// ```
    /// use std::time::Duration;
    /// use keel_db_pool::{Config, PgBouncer};
    ///
    /// let env = |var: &str| match var {
    ///     "DATABASE_POOL_MAX_SIZE" => Some("8".to_owned()),
    ///     "DATABASE_POOL_PGBOUNCER" => Some("transaction".to_owned()),
    ///     _ => None,
    /// };
    /// let config = Config::builder()
    ///     .wait_timeout(Duration::from_secs(2)) // the service's default
    ///     .env_overrides(env)
    ///     .unwrap()
    ///     .url("postgres://app@db.internal/app")
    ///     .build()?;
    /// assert_eq!((config.max_size(), config.wait_timeout()), (8, Duration::from_secs(2)));
    /// assert_eq!(config.pgbouncer(), PgBouncer::Transaction);
    ///
    /// let bad = |var: &str| (var == "DATABASE_POOL_WAIT_TIMEOUT").then(|| "2 weeks".to_owned());
    /// let problems = Config::builder().env_overrides(bad).unwrap_err();
    /// assert_eq!(problems[0].var(), "DATABASE_POOL_WAIT_TIMEOUT");
    /// assert_eq!(
    ///     problems[0].to_string(),
    ///     "DATABASE_POOL_WAIT_TIMEOUT must be a duration (`250ms`, `5s`, `10m`, `1h` or seconds) in 1ms..=1h"
    /// );
    /// # Ok::<(), keel_db_pool::Error>(())
    /// ```
    pub fn env_overrides(
        mut self,
        mut lookup: impl FnMut(&str) -> Option<String>,
    ) -> Result<Self, Vec<EnvVarError>> {
        let mut errors = Vec::new();
        let mut get = |var: &'static str| {
            lookup(var)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .map(|v| (var, v))
        };
        let mut number = |var: &'static str, min: usize| -> Option<usize> {
            let (var, v) = get(var)?;
            match v.parse() {
                Ok(n) if (min..=MAX_SIZE).contains(&n) => Some(n),
                _ => {
                    errors.push(EnvVarError::new(
                        var,
                        format!("must be a whole number in {min}..={MAX_SIZE}"),
                    ));
                    None
                }
            }
        };
        let max_size = number("DATABASE_POOL_MAX_SIZE", 1);
        let min_idle = number("DATABASE_POOL_MIN_IDLE", 0);
        let (ms, hour, day) = (
            Duration::from_millis(1),
            Duration::from_secs(60 * 60),
            Duration::from_secs(24 * 60 * 60),
        );
        // `(variable, smallest, largest, "0" means none)`: the bounds `build` checks.
        let durations = [
            ("DATABASE_POOL_WAIT_TIMEOUT", ms, hour, false),
            ("DATABASE_POOL_CONNECT_TIMEOUT", ms, hour, false),
            ("DATABASE_POOL_MAX_LIFETIME", 10 * ms, 365 * day, true),
            ("DATABASE_POOL_IDLE_TIMEOUT", ms, 365 * day, true),
            ("DATABASE_STATEMENT_TIMEOUT", ms, day, true),
            (
                "DATABASE_SLOW_STATEMENT_THRESHOLD",
                Duration::ZERO,
                day,
                false,
            ),
        ];
        let mut parsed = [None; 6];
        for ((var, min, max, zero_is_none), slot) in durations.into_iter().zip(&mut parsed) {
            let Some((var, v)) = get(var) else { continue };
            match parse_duration(&v) {
                Some(d) if zero_is_none && d.is_zero() => *slot = Some(None),
                Some(d) if (min..=max).contains(&d) => *slot = Some(Some(d)),
                _ => {
                    let none = if zero_is_none { ", or 0 for none" } else { "" };
                    errors.push(EnvVarError::new(
                        var,
                        format!(
                            "must be a duration (`250ms`, `5s`, `10m`, `1h` or seconds) in {}..={}{none}",
                            short(min),
                            short(max)
                        ),
                    ));
                }
            }
        }
        let pgbouncer = get("DATABASE_POOL_PGBOUNCER").and_then(|(var, v)| {
            v.parse::<PgBouncer>()
                .map_err(|_| {
                    let shown: String = v.chars().take(64).collect();
                    errors.push(EnvVarError::new(
                        var,
                        format!("`{shown}` must be transaction, session or off"),
                    ));
                })
                .ok()
        });
        if !errors.is_empty() {
            return Err(errors);
        }
        if let Some(n) = max_size {
            self.max_size = Some(n);
        }
        if let Some(n) = min_idle {
            self.min_idle = n;
        }
        let [wait, connect, lifetime, idle, statement, slow] = parsed;
        if let Some(d) = wait.flatten() {
            self.wait_timeout = d;
        }
        if let Some(d) = connect.flatten() {
            self.connect_timeout = d;
        }
        if let Some(d) = lifetime {
            self.max_lifetime = d;
        }
        if let Some(d) = idle {
            self.idle_timeout = d;
        }
        if let Some(d) = statement {
            self.statement_timeout = d;
        }
        if let Some(d) = slow.flatten() {
            self.slow_statements.level = LevelFilter::WARN;
            self.slow_statements.threshold = d;
        }
        Ok(match pgbouncer {
            Some(mode) => self.pgbouncer(mode),
            None => self,
        })
    }
}

/// The largest pool [`ConfigBuilder::build`] accepts.
const MAX_SIZE: usize = 10_000;

/// `1ms`, `10ms`, `1h`, `1d`, `365d`: a bound, as the messages print it.
fn short(d: Duration) -> String {
    let s = d.as_secs();
    match (d.subsec_millis(), s) {
        (0, 0) => "0".to_owned(),
        (ms, 0) => format!("{ms}ms"),
        (_, s) if s % 86_400 == 0 => format!("{}d", s / 86_400),
        (_, s) if s % 3_600 == 0 => format!("{}h", s / 3_600),
        (_, s) => format!("{s}s"),
    }
}

/// One malformed or out-of-range variable found by
/// [`ConfigBuilder::env_overrides`]: `Display` is "`VARIABLE` `detail`", e.g.
/// "DATABASE_POOL_MAX_SIZE must be a whole number in 1..=10000".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVarError {
    var: &'static str,
    detail: String,
}

impl EnvVarError {
    fn new(var: &'static str, detail: String) -> Self {
        Self { var, detail }
    }

    /// The variable's name.
    pub fn var(&self) -> &'static str {
        self.var
    }

    /// What is wrong, worded to follow the variable's name ("must be …").
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl fmt::Display for EnvVarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.var, self.detail)
    }
}

impl std::error::Error for EnvVarError {}

/// `250ms`, `5s`, `10m`, `1h`, or bare seconds.
fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    match unit.trim() {
        "" | "s" => Some(Duration::from_secs(n)),
        "ms" => Some(Duration::from_millis(n)),
        "m" | "min" => n.checked_mul(60).map(Duration::from_secs),
        "h" => n.checked_mul(3600).map(Duration::from_secs),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Error, SessionSetup, StatementMode};

    const URL: &str = "postgres://app:secret@localhost:5432/app";

    fn check_err(b: ConfigBuilder, expected: &str) {
        match b.build() {
            Err(Error::Config(m)) => assert!(m.contains(expected), "{m:?} lacks {expected:?}"),
            other => panic!("expected a config error containing {expected:?}, got {other:?}"),
        }
    }

    #[test]
    fn env_lookup() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let c = ConfigBuilder::from_lookup(env(&[
            ("DATABASE_URL", URL),
            ("DATABASE_POOL_MAX_SIZE", "7"),
            ("DATABASE_POOL_MIN_IDLE", "2"),
            ("DATABASE_POOL_WAIT_TIMEOUT", "250ms"),
            ("DATABASE_POOL_MAX_LIFETIME", "0"),
            ("DATABASE_POOL_IDLE_TIMEOUT", "5m"),
            ("DATABASE_STATEMENT_TIMEOUT", "10s"),
            ("DATABASE_SLOW_STATEMENT_THRESHOLD", "200ms"),
            ("DATABASE_POOL_PGBOUNCER", "transaction"),
        ]))
        .build()
        .unwrap();
        assert_eq!(c.max_size(), 7);
        assert_eq!(c.min_idle(), 2);
        assert_eq!(c.wait_timeout(), Duration::from_millis(250));
        assert_eq!(c.max_lifetime(), None);
        assert_eq!(c.idle_timeout(), Some(Duration::from_secs(300)));
        assert_eq!(c.statement_timeout(), Some(Duration::from_secs(10)));
        assert_eq!(c.slow_statement_threshold(), Duration::from_millis(200));
        assert_eq!(c.statement_mode(), StatementMode::Unnamed);
        assert_eq!(c.session_setup(), SessionSetup::SetLocal);
        check_err(
            ConfigBuilder::from_lookup(env(&[
                ("DATABASE_URL", URL),
                ("DATABASE_POOL_PGBOUNCER", "statement"),
            ])),
            "DATABASE_POOL_PGBOUNCER",
        );
        check_err(
            ConfigBuilder::from_lookup(env(&[])),
            "DATABASE_URL is not set",
        );
        check_err(
            ConfigBuilder::from_lookup(env(&[
                ("DATABASE_URL", URL),
                ("DATABASE_POOL_MAX_SIZE", "ten"),
            ])),
            "DATABASE_POOL_MAX_SIZE",
        );
        check_err(
            ConfigBuilder::from_lookup(env(&[
                ("DATABASE_URL", URL),
                ("DATABASE_POOL_WAIT_TIMEOUT", "5 parsecs"),
            ])),
            "DATABASE_POOL_WAIT_TIMEOUT",
        );
    }

    /// `vars` (over nothing) give exactly the problems `expected`.
    fn check_problems(vars: &[(&str, &str)], expected: &[&str]) {
        let lookup = |k: &str| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        };
        let got = ConfigBuilder::default().env_overrides(lookup).unwrap_err();
        let got: Vec<String> = got.iter().map(ToString::to_string).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn env_overrides_name_every_problem_and_keep_what_is_unset() {
        check_problems(
            &[
                ("DATABASE_POOL_MAX_SIZE", "0"),
                ("DATABASE_POOL_MIN_IDLE", "ten"),
                ("DATABASE_POOL_WAIT_TIMEOUT", "2h"),
                ("DATABASE_POOL_CONNECT_TIMEOUT", "0"),
                ("DATABASE_POOL_MAX_LIFETIME", "5ms"),
                ("DATABASE_POOL_IDLE_TIMEOUT", "1 fortnight"),
                ("DATABASE_STATEMENT_TIMEOUT", "25h"),
                ("DATABASE_SLOW_STATEMENT_THRESHOLD", "-1"),
                ("DATABASE_POOL_PGBOUNCER", "statement"),
            ],
            &[
                "DATABASE_POOL_MAX_SIZE must be a whole number in 1..=10000",
                "DATABASE_POOL_MIN_IDLE must be a whole number in 0..=10000",
                "DATABASE_POOL_WAIT_TIMEOUT must be a duration (`250ms`, `5s`, `10m`, `1h` or seconds) in 1ms..=1h",
                "DATABASE_POOL_CONNECT_TIMEOUT must be a duration (`250ms`, `5s`, `10m`, `1h` or seconds) in 1ms..=1h",
                "DATABASE_POOL_MAX_LIFETIME must be a duration (`250ms`, `5s`, `10m`, `1h` or seconds) in 10ms..=365d, or 0 for none",
                "DATABASE_POOL_IDLE_TIMEOUT must be a duration (`250ms`, `5s`, `10m`, `1h` or seconds) in 1ms..=365d, or 0 for none",
                "DATABASE_STATEMENT_TIMEOUT must be a duration (`250ms`, `5s`, `10m`, `1h` or seconds) in 1ms..=1d, or 0 for none",
                "DATABASE_SLOW_STATEMENT_THRESHOLD must be a duration (`250ms`, `5s`, `10m`, `1h` or seconds) in 0..=1d",
                "DATABASE_POOL_PGBOUNCER `statement` must be transaction, session or off",
            ],
        );
        check_problems(
            &[("DATABASE_POOL_MAX_SIZE", "10001")],
            &["DATABASE_POOL_MAX_SIZE must be a whole number in 1..=10000"],
        );
        // Unset and empty variables leave the builder's values alone.
        let lookup = |k: &str| (k == "DATABASE_POOL_IDLE_TIMEOUT").then(|| " ".to_owned());
        let c = ConfigBuilder::default()
            .url(URL)
            .max_size(3)
            .wait_timeout(Duration::from_secs(2))
            .env_overrides(lookup)
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(c.max_size(), 3);
        assert_eq!(c.wait_timeout(), Duration::from_secs(2));
        assert_eq!(c.idle_timeout(), Some(Duration::from_secs(600)));
        assert_eq!(c.pgbouncer(), PgBouncer::Off);
        // Bounds at both ends are accepted; `0` is "none" where the table says so.
        let vars = [
            ("DATABASE_POOL_MAX_SIZE", "10000"),
            ("DATABASE_POOL_WAIT_TIMEOUT", "1ms"),
            ("DATABASE_POOL_CONNECT_TIMEOUT", "1h"),
            ("DATABASE_POOL_MAX_LIFETIME", "0"),
            ("DATABASE_STATEMENT_TIMEOUT", "0"),
            ("DATABASE_SLOW_STATEMENT_THRESHOLD", "0"),
            ("DATABASE_POOL_PGBOUNCER", "session"),
        ];
        let lookup = |k: &str| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        };
        let c = ConfigBuilder::default()
            .url(URL)
            .env_overrides(lookup)
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(c.max_size(), 10_000);
        assert_eq!(c.wait_timeout(), Duration::from_millis(1));
        assert_eq!(c.connect_timeout(), Duration::from_secs(3600));
        assert_eq!((c.max_lifetime(), c.statement_timeout()), (None, None));
        assert_eq!(c.slow_statement_threshold(), Duration::ZERO);
        assert_eq!(c.pgbouncer(), PgBouncer::Session);
        assert_eq!(c.session_setup(), SessionSetup::SetCommands);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("5"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("-1s"), None);
        assert_eq!(parse_duration("1d"), None);
        assert_eq!(parse_duration(""), None);
    }
}
