//! [`TestRecorder`]: a `metrics` recorder that keeps every series for assertions.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};

/// A `metrics` recorder that keeps every counter, gauge and histogram sample in memory.
///
/// Series are named `name{label=value,...}` with the labels sorted by key (`name{}` when
/// there are none), so a test asserts on exactly what an exporter would publish. Clones
/// share the same series: install one clone (globally with [`install_global`](Self::install_global)
/// or for a closure with `metrics::with_local_recorder`) and read through another.
///
/// ```
/// let recorder = keel_testkit::TestRecorder::new();
/// metrics::with_local_recorder(&recorder, || {
///     metrics::counter!("requests_total", "route" => "/a").increment(2);
///     metrics::gauge!("in_flight").set(3.0);
///     metrics::histogram!("latency_seconds").record(0.25);
/// });
/// assert_eq!(recorder.counter("requests_total{route=/a}"), 2);
/// assert_eq!(recorder.gauge("in_flight{}"), Some(3.0));
/// assert_eq!(recorder.histogram("latency_seconds{}"), vec![0.25]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct TestRecorder(Arc<Series>);

#[derive(Debug, Default)]
struct Series {
    counters: Mutex<HashMap<String, Arc<AtomicU64>>>,
    gauges: Mutex<HashMap<String, Arc<AtomicU64>>>,
    histograms: Mutex<HashMap<String, Arc<Samples>>>,
}

#[derive(Debug, Default)]
struct Samples(Mutex<Vec<f64>>);

impl HistogramFn for Samples {
    fn record(&self, value: f64) {
        lock(&self.0).push(value);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `name{k=v,...}` with the labels sorted.
fn series(key: &Key) -> String {
    let mut labels: Vec<String> = key
        .labels()
        .map(|l| format!("{}={}", l.key(), l.value()))
        .collect();
    labels.sort();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

fn cell<V: Default>(map: &Mutex<HashMap<String, Arc<V>>>, name: String) -> Arc<V> {
    Arc::clone(lock(map).entry(name).or_default())
}

impl TestRecorder {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Installs a clone as the process-wide recorder and returns `self`.
    ///
    /// # Panics
    /// If a global recorder is already installed (one per test binary: put the tests that
    /// need it in one test, or use `metrics::with_local_recorder`).
    pub fn install_global(self) -> Self {
        metrics::set_global_recorder(self.clone())
            .expect("a global metrics recorder is already installed in this test binary");
        self
    }

    /// The counter's value, 0 if it was never registered.
    pub fn counter(&self, series: &str) -> u64 {
        lock(&self.0.counters)
            .get(series)
            .map_or(0, |c| c.load(Ordering::SeqCst))
    }

    /// The gauge's value, `None` if it was never registered.
    pub fn gauge(&self, series: &str) -> Option<f64> {
        lock(&self.0.gauges)
            .get(series)
            .map(|g| f64::from_bits(g.load(Ordering::SeqCst)))
    }

    /// Every sample recorded in the histogram, in order (empty if never registered).
    pub fn histogram(&self, series: &str) -> Vec<f64> {
        lock(&self.0.histograms)
            .get(series)
            .map(|h| lock(&h.0).clone())
            .unwrap_or_default()
    }

    /// The names of every registered series (counters, gauges, histograms), sorted.
    pub fn series(&self) -> Vec<String> {
        let mut all: Vec<String> = lock(&self.0.counters).keys().cloned().collect();
        all.extend(lock(&self.0.gauges).keys().cloned());
        all.extend(lock(&self.0.histograms).keys().cloned());
        all.sort();
        all
    }
}

impl Recorder for TestRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(cell(&self.0.counters, series(key)))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        // `metrics` implements `GaugeFn` for `AtomicU64` holding the f64's bits.
        Gauge::from_arc(cell(&self.0.gauges, series(key)))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(cell(&self.0.histograms, series(key)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauges_move_and_labels_are_sorted() {
        let recorder = TestRecorder::new();
        metrics::with_local_recorder(&recorder, || {
            let g = metrics::gauge!("g", "z" => "1", "a" => "2");
            g.set(1.5);
            g.increment(1.0);
            g.decrement(0.5);
            metrics::counter!("c").increment(1);
            metrics::counter!("c").increment(1);
        });
        assert_eq!(recorder.gauge("g{a=2,z=1}"), Some(2.0));
        assert_eq!(recorder.gauge("missing{}"), None);
        assert_eq!(recorder.counter("c{}"), 2);
        assert_eq!(recorder.counter("missing{}"), 0);
        assert_eq!(recorder.series(), vec!["c{}", "g{a=2,z=1}"]);
    }
}
