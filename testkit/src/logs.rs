//! [`LogCapture`]: what `tracing` logged during a test, as text.

use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use tracing::Level;
use tracing_subscriber::fmt::MakeWriter;

/// A log sink for `tracing_subscriber::fmt`: every line the code under test logs, as plain
/// text (no ANSI colours), for assertions on what is — and is not — logged.
///
/// Install it for a scope with [`LogCapture::set_default`] (across `.await`s on a
/// current-thread runtime), run a closure under it with [`LogCapture::capture`], or build
/// the subscriber with [`LogCapture::subscriber`].
///
/// ```
/// let logs = keel_testkit::LogCapture::new();
/// logs.capture(tracing::Level::INFO, || {
///     tracing::warn!(user = "ada", "login failed");
///     tracing::debug!("not captured: below INFO");
/// });
/// assert_eq!(logs.count("login failed"), 1);
/// assert!(logs.text().contains("user=\"ada\""));
/// assert!(!logs.text().contains("not captured"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// An empty capture.
    pub fn new() -> Self {
        Self::default()
    }

    /// A `fmt` subscriber writing into this capture: events at `max_level` and above, no
    /// ANSI colours.
    pub fn subscriber(&self, max_level: Level) -> impl tracing::Subscriber + Send + Sync + use<> {
        tracing_subscriber::fmt()
            .with_writer(self.clone())
            .with_ansi(false)
            .with_max_level(max_level)
            .finish()
    }

    /// Makes this capture the thread's default subscriber until the guard is dropped; on a
    /// current-thread runtime it sees everything logged across `.await`s, spawned tasks
    /// included.
    #[must_use = "the capture stops when the guard is dropped"]
    pub fn set_default(&self, max_level: Level) -> tracing::subscriber::DefaultGuard {
        tracing::subscriber::set_default(self.subscriber(max_level))
    }

    /// Runs `f` with this capture as the thread's default subscriber and returns its result.
    pub fn capture<R>(&self, max_level: Level, f: impl FnOnce() -> R) -> R {
        tracing::subscriber::with_default(self.subscriber(max_level), f)
    }

    /// Everything captured so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buffer()).into_owned()
    }

    /// The captured lines that contain `needle`.
    pub fn lines_with(&self, needle: &str) -> Vec<String> {
        self.text()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect()
    }

    /// How many captured lines contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.lines_with(needle).len()
    }

    fn buffer(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.buffer().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogCapture {
    type Writer = Self;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
