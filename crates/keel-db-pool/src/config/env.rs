//! [`ConfigBuilder::from_env`]: `DATABASE_URL` and the `DATABASE_POOL_*` overrides.

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

    pub(crate) fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let mut b = match get("DATABASE_URL") {
            Some(url) if !url.trim().is_empty() => Self::default().url(url.trim()),
            _ => Self {
                pg: Err("DATABASE_URL is not set".to_owned()),
                ..Self::default()
            },
        };
        let mut errors = Vec::new();
        let mut usize_var = |name: &str| -> Option<usize> {
            let v = get(name)?;
            match v.trim().parse() {
                Ok(n) => Some(n),
                Err(_) => {
                    errors.push(format!("{name}={v:?} is not a whole number"));
                    None
                }
            }
        };
        if let Some(n) = usize_var("DATABASE_POOL_MAX_SIZE") {
            b.max_size = Some(n);
        }
        if let Some(n) = usize_var("DATABASE_POOL_MIN_IDLE") {
            b.min_idle = n;
        }
        let mut dur_var = |name: &str| -> Option<Duration> {
            let v = get(name)?;
            match parse_duration(&v) {
                Some(d) => Some(d),
                None => {
                    errors.push(format!(
                        "{name}={v:?} is not a duration (e.g. `250ms`, `5s`, `10m`)"
                    ));
                    None
                }
            }
        };
        let nonzero = |d: Duration| (!d.is_zero()).then_some(d);
        if let Some(d) = dur_var("DATABASE_POOL_WAIT_TIMEOUT") {
            b.wait_timeout = d;
        }
        if let Some(d) = dur_var("DATABASE_POOL_CONNECT_TIMEOUT") {
            b.connect_timeout = d;
        }
        if let Some(d) = dur_var("DATABASE_POOL_MAX_LIFETIME") {
            b.max_lifetime = nonzero(d);
        }
        if let Some(d) = dur_var("DATABASE_POOL_IDLE_TIMEOUT") {
            b.idle_timeout = nonzero(d);
        }
        if let Some(d) = dur_var("DATABASE_STATEMENT_TIMEOUT") {
            b.statement_timeout = nonzero(d);
        }
        if let Some(d) = dur_var("DATABASE_SLOW_STATEMENT_THRESHOLD") {
            b.slow_statements.level = LevelFilter::WARN;
            b.slow_statements.threshold = d;
        }
        match get("DATABASE_POOL_PGBOUNCER").as_deref().map(str::trim) {
            None | Some("") => {}
            Some(value) => match value.parse::<PgBouncer>() {
                Ok(mode) => b = b.pgbouncer(mode),
                Err(_) => errors.push(format!(
                    "DATABASE_POOL_PGBOUNCER={value:?} is not one of transaction, session, off"
                )),
            },
        }
        if !errors.is_empty() {
            b.env_error = Some(errors.join("; "));
        }
        b
    }
}

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
