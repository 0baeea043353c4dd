//! The production log format: one JSON object per event, with the current span's fields
//! (the request's method, route and id from [`TelemetryLayer`](crate::TelemetryLayer)),
//! written in batches by a background thread.
//!
//! [`non_blocking_stdout`] takes the `write` system call per line off the request's
//! thread and batches it: lines are appended to a buffer that a background thread writes
//! every 10 ms in one call ([`BatchedWriter`]), so a busy service makes ~100 `write`s a
//! second instead of one per request, and wakes no thread per line (a `write` per line
//! cost ~28 % of a trivial endpoint's throughput on a 2-core machine, and a channel to a
//! writer thread woken per line still 18 % of its CPU). When the buffer is full the
//! logging thread writes the batch itself rather than dropping lines, so an access log
//! is never silently incomplete. Keep the guard alive until exit: dropping it flushes.
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

mod batched;
mod filter;
mod format;
mod init;

pub use batched::{
    BatchedWriter, BatchedWriterBuilder, DEFAULT_INTERVAL, DEFAULT_LIMIT, WorkerGuard,
};
pub use filter::LogFilter;
pub use format::{JsonFormat, JsonSpanFields};
pub use init::{LogFormat, ParseLogFormatError, init};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::{MakeWriter, SubscriberBuilder};

/// A subscriber builder writing one JSON object per event to `writer`, filtered by
/// `filter`: [`JsonFormat`] (the shape of tracing-subscriber's `json()` with the current
/// span's fields as `span` and without the span list, written without serde_json).
pub fn json_subscriber<W>(
    writer: W,
    filter: EnvFilter,
) -> SubscriberBuilder<JsonSpanFields, JsonFormat, EnvFilter, W>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .fmt_fields(JsonSpanFields)
        .event_format(JsonFormat)
        .with_writer(writer)
}

/// A [`BatchedWriter`] to stdout (background thread `log-writer`, 10 ms batches, 1 MiB
/// bound) that never drops lines. Keep the guard alive until exit: dropping it flushes
/// what is buffered.
pub fn non_blocking_stdout() -> (BatchedWriter, WorkerGuard) {
    BatchedWriter::builder().build(std::io::stdout())
}
