//! [`BatchedWriter`]: log lines batched in memory, written by a background thread.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// Default flush interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(10);

/// Default buffer limit (bytes) before the writing thread flushes itself.
pub const DEFAULT_LIMIT: usize = 1024 * 1024;

/// Options of a [`BatchedWriter`].
#[derive(Debug, Clone, Copy)]
pub struct BatchedWriterBuilder {
    interval: Duration,
    limit: usize,
    thread_name: &'static str,
}

impl Default for BatchedWriterBuilder {
    fn default() -> Self {
        Self {
            interval: DEFAULT_INTERVAL,
            limit: DEFAULT_LIMIT,
            thread_name: "log-writer",
        }
    }
}

impl BatchedWriterBuilder {
    /// How often the background thread writes the buffer out (default 10 ms; at least
    /// 1 ms): the longest a line waits in memory.
    #[must_use]
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Bytes buffered before the writing thread flushes the batch itself (default
    /// 1 MiB; at least 4 KiB): the bound on the writer's memory.
    #[must_use]
    pub fn limit(mut self, bytes: usize) -> Self {
        self.limit = bytes.max(4096);
        self
    }

    /// Name of the background thread (default `log-writer`).
    #[must_use]
    pub fn thread_name(mut self, name: &'static str) -> Self {
        self.thread_name = name;
        self
    }

    /// The writer over `out`, and the guard that flushes and stops it on drop.
    ///
    /// If the background thread cannot be started, every line is written at once
    /// (the writer still works, unbatched).
    pub fn build<W: Write + Send + 'static>(self, out: W) -> (BatchedWriter, WorkerGuard) {
        let shared = Arc::new(Shared {
            buf: Mutex::new(Vec::new()),
            out: Mutex::new(Box::new(out)),
            stop: AtomicBool::new(false),
            limit: self.limit,
            batched: AtomicBool::new(true),
        });
        let worker = Arc::clone(&shared);
        let interval = self.interval;
        let thread = std::thread::Builder::new()
            .name(self.thread_name.to_owned())
            .spawn(move || worker.run(interval));
        let thread = match thread {
            Ok(t) => Some(t),
            Err(_) => {
                shared.batched.store(false, Ordering::Relaxed);
                None
            }
        };
        (
            BatchedWriter {
                shared: Arc::clone(&shared),
            },
            WorkerGuard { shared, thread },
        )
    }
}

struct Shared {
    /// Lines not yet written.
    buf: Mutex<Vec<u8>>,
    /// The destination. Lock order: `out`, then `buf` (a flush holds both briefly, so
    /// batches reach `out` in the order their lines were appended).
    out: Mutex<Box<dyn Write + Send>>,
    stop: AtomicBool,
    limit: usize,
    /// `false` when no background thread runs: lines are written at once.
    batched: AtomicBool,
}

fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves bytes, not broken invariants.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn run(&self, interval: Duration) {
        let mut spare = Vec::new();
        while !self.stop.load(Ordering::Acquire) {
            std::thread::park_timeout(interval);
            // Write errors (a closed stdout) cannot be logged; the next batch tries again.
            let _ = self.flush_with(&mut spare);
        }
        let _ = self.flush_with(&mut spare);
    }

    /// Writes the buffer out, swapping it with `spare` (so neither side reallocates).
    fn flush_with(&self, spare: &mut Vec<u8>) -> io::Result<()> {
        let mut out = lock(&self.out);
        std::mem::swap(&mut *lock(&self.buf), spare);
        let result = if spare.is_empty() {
            Ok(())
        } else {
            out.write_all(spare).and_then(|()| out.flush())
        };
        spare.clear();
        result
    }

    fn append(&self, line: &[u8]) -> io::Result<()> {
        if self.batched.load(Ordering::Relaxed) {
            let mut buf = lock(&self.buf);
            if buf.len() + line.len() <= self.limit {
                buf.extend_from_slice(line);
                return Ok(());
            }
        }
        // Full (or no background thread): this thread writes the batch and its line,
        // in order, before returning.
        let mut out = lock(&self.out);
        let pending = std::mem::take(&mut *lock(&self.buf));
        out.write_all(&pending)?;
        out.write_all(line)?;
        out.flush()
    }
}

/// A log writer that batches lines in memory and writes them out from a background
/// thread every few milliseconds: one `write` system call per batch instead of one per
/// line, and no thread wake-up per line.
///
/// Under load, a writer with one system call per line (stdout is line-buffered), or a
/// channel to a writer thread that is woken for each line, costs more CPU than formatting
/// the line: on a 2-core machine, 18 % of a trivial endpoint's CPU went to the writer
/// thread and its wake-ups (`perf`, see docs/benchmarks.md). Here a line is appended to a
/// shared buffer under a short lock; the background thread swaps the buffer out every
/// [`interval`](BatchedWriterBuilder::interval) (10 ms by default) and writes it in one
/// call.
///
/// **Never drops a line**: when the buffer reaches its
/// [`limit`](BatchedWriterBuilder::limit) (1 MiB by default) the thread that wrote the
/// line flushes the batch itself (back-pressure, as a blocking writer would), so memory
/// stays bounded and the log complete. Lines are never interleaved or reordered: every
/// line is appended whole, and batches are written in order. Keep the
/// [`WorkerGuard`] alive until exit: dropping it writes what is buffered and stops
/// the thread. A process that ends without dropping it loses at most one interval of
/// lines.
///
/// ```
/// use keel_http::json_log::BatchedWriter;
///
/// let (writer, guard) = BatchedWriter::builder().build(std::io::stdout());
/// let _ = tracing_subscriber::fmt().json().with_writer(writer).try_init();
/// tracing::info!(user = 7, "hello");
/// drop(guard); // flushes
/// ```
///
/// A [`MakeWriter`]; cheap to clone.
#[derive(Clone)]
pub struct BatchedWriter {
    shared: Arc<Shared>,
}

impl BatchedWriter {
    /// Options: interval, limit, thread name.
    pub fn builder() -> BatchedWriterBuilder {
        BatchedWriterBuilder::default()
    }
}

impl std::fmt::Debug for BatchedWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchedWriter")
            .field("limit", &self.shared.limit)
            .finish_non_exhaustive()
    }
}

impl Write for &BatchedWriter {
    /// Appends `buf` whole (a formatter writes one event per call).
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.shared.append(buf)?;
        Ok(buf.len())
    }

    /// Writes everything buffered so far.
    fn flush(&mut self) -> io::Result<()> {
        self.shared.flush_with(&mut Vec::new())
    }
}

impl<'a> MakeWriter<'a> for BatchedWriter {
    type Writer = &'a Self;

    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

/// Stops the background thread of a [`BatchedWriter`] and writes what is buffered, on
/// drop.
pub struct WorkerGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for WorkerGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerGuard").finish_non_exhaustive()
    }
}

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        // Later lines (other threads still logging) are written at once.
        self.shared.batched.store(false, Ordering::Relaxed);
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
        let _ = self.shared.flush_with(&mut Vec::new());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An in-memory destination that counts the `write_all` batches it receives.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<(Vec<u8>, usize)>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let mut s = lock(&self.0);
            s.0.extend_from_slice(buf);
            s.1 += 1;
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Sink {
        fn text(&self) -> String {
            String::from_utf8_lossy(&lock(&self.0).0).into_owned()
        }
        fn writes(&self) -> usize {
            lock(&self.0).1
        }
    }

    fn line(w: &BatchedWriter, s: &str) {
        let mut h = w.make_writer();
        assert!(h.write_all(s.as_bytes()).is_ok());
    }

    #[test]
    fn lines_are_batched_and_written_by_the_guard() {
        let sink = Sink::default();
        // An interval longer than the test: only the guard writes.
        let (w, guard) = BatchedWriter::builder()
            .interval(Duration::from_secs(3600))
            .build(sink.clone());
        for i in 0..100 {
            line(&w, &format!("line {i}\n"));
        }
        assert_eq!(sink.text(), "", "nothing written before a flush");
        drop(guard);
        let expected: String = (0..100).map(|i| format!("line {i}\n")).collect();
        assert_eq!(sink.text(), expected);
        assert_eq!(sink.writes(), 1, "one write for the whole batch");
        // After the guard, lines go out at once (no thread to write them).
        line(&w, "late\n");
        assert!(sink.text().ends_with("line 99\nlate\n"));
    }

    #[test]
    fn a_full_buffer_is_flushed_by_the_writer_in_order() {
        let sink = Sink::default();
        let (w, guard) = BatchedWriter::builder()
            .interval(Duration::from_secs(3600))
            .limit(4096)
            .build(sink.clone());
        let long = "x".repeat(1000);
        for i in 0..10 {
            line(&w, &format!("{i}{long}\n"));
        }
        // 4 lines fit, the 5th flushed them with itself, and again for 6..=9 at 10.
        assert_eq!(sink.writes(), 2 * 2, "{}", sink.writes());
        drop(guard);
        let got = sink.text();
        let firsts: String = got.lines().map(|l| &l[..1]).collect();
        assert_eq!(firsts, "0123456789");
        assert_eq!(got.len(), 10 * 1002);
    }

    #[test]
    fn the_background_thread_writes_without_a_guard_drop() {
        let sink = Sink::default();
        let (w, _guard) = BatchedWriter::builder()
            .interval(Duration::from_millis(1))
            .build(sink.clone());
        line(&w, "hello\n");
        // Bounded wait for the thread (a real thread, so no paused clock applies).
        for _ in 0..2000 {
            if sink.text() == "hello\n" {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        panic!("not written within 2 s: {:?}", sink.text());
    }

    #[test]
    fn concurrent_lines_never_interleave() {
        let sink = Sink::default();
        let (w, guard) = BatchedWriter::builder()
            .interval(Duration::from_millis(1))
            .limit(4096)
            .build(sink.clone());
        std::thread::scope(|s| {
            for t in 0..4 {
                let w = &w;
                s.spawn(move || {
                    for i in 0..500 {
                        line(w, &format!("{t}:{i}:{}\n", "y".repeat(40)));
                    }
                });
            }
        });
        drop(guard);
        let text = sink.text();
        let mut next = [0usize; 4];
        for l in text.lines() {
            let mut parts = l.split(':');
            let t: usize = parts.next().and_then(|p| p.parse().ok()).unwrap_or(99);
            let i: usize = parts.next().and_then(|p| p.parse().ok()).unwrap_or(99);
            assert_eq!(parts.next().map(str::len), Some(40), "{l}");
            assert_eq!(i, next[t], "thread {t} out of order");
            next[t] += 1;
        }
        assert_eq!(next, [500; 4]);
    }

    #[test]
    fn tracing_events_arrive_one_line_each() {
        let sink = Sink::default();
        let (w, guard) = BatchedWriter::builder().build(sink.clone());
        let subscriber = tracing_subscriber::fmt().json().with_writer(w).finish();
        tracing::subscriber::with_default(subscriber, || {
            for i in 0..3 {
                tracing::info!(i, "event");
            }
        });
        drop(guard);
        let text = sink.text();
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(
            text.lines()
                .all(|l| l.starts_with('{') && l.contains("\"event\""))
        );
    }
}
