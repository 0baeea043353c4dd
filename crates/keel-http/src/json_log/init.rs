//! One call for the process's subscriber: JSON in production, human-readable locally.

use std::str::FromStr;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use super::{JsonFormat, JsonSpanFields, LogFilter, WorkerGuard, non_blocking_stdout};

/// The format [`init`] writes log lines in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One JSON object per line ([`JsonFormat`](super::JsonFormat)): production.
    #[default]
    Json,
    /// tracing-subscriber's human-readable format, coloured: local development.
    Pretty,
}

/// A [`LogFormat`] name other than `json` or `pretty`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("log format must be `json` or `pretty`")]
pub struct ParseLogFormatError;

impl FromStr for LogFormat {
    type Err = ParseLogFormatError;

    /// `json` or `pretty`, ASCII case-insensitive (an environment variable's value).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("json") {
            Ok(Self::Json)
        } else if s.eq_ignore_ascii_case("pretty") {
            Ok(Self::Pretty)
        } else {
            Err(ParseLogFormatError)
        }
    }
}

/// Installs the global subscriber writing `format` to stdout through
/// [`non_blocking_stdout`], filtered by `RUST_LOG` (default `info`; an invalid
/// `RUST_LOG` also means `info`) through a [`LogFilter`] (the `EnvFilter` without its
/// per-span locks when `RUST_LOG` names no span or field). Idempotent: when a subscriber is already set (tests
/// start several services in one process) it is kept.
///
/// Keep the guard alive until exit (bind it in `main`): dropping it flushes.
///
/// ```
/// use keel_http::json_log::{self, LogFormat};
///
/// let _flush_on_exit = json_log::init(LogFormat::Json);
/// tracing::info!(user = 7, "hello");
/// ```
pub fn init(format: LogFormat) -> WorkerGuard {
    let (writer, guard) = non_blocking_stdout();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let filter = LogFilter::new(filter);
    // The shape `fmt().with_env_filter(..).finish()` builds (the filter outermost), with
    // the `LogFilter` in the `EnvFilter`'s place.
    let registry = tracing_subscriber::registry();
    // `try_init` fails only when a subscriber is already set: keep that one.
    let _already_set = match format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .fmt_fields(JsonSpanFields)
                    .event_format(JsonFormat)
                    .with_writer(writer),
            )
            .with(filter)
            .try_init(),
        LogFormat::Pretty => registry
            .with(tracing_subscriber::fmt::layer().with_writer(writer))
            .with(filter)
            .try_init(),
    };
    guard
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Option<LogFormat>) {
        assert_eq!(input.parse::<LogFormat>().ok(), expected, "{input}");
    }

    #[test]
    fn parses_names() {
        check("json", Some(LogFormat::Json));
        check("JSON", Some(LogFormat::Json));
        check("pretty", Some(LogFormat::Pretty));
        check("", None);
        check("text", None);
        check("json ", None);
    }
}
