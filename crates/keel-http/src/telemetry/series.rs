//! Pre-registered metric handles per (method, route) and per status.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use metrics::{Counter, Histogram};

use super::{METHODS, REQUEST_DURATION_SECONDS, REQUESTS_TOTAL};

/// Latency buckets in seconds for [`REQUEST_DURATION_SECONDS`]: sub-millisecond cache
/// hits up to a 10 s handler timeout. Pass them to the exporter (Prometheus:
/// `PrometheusBuilder::set_buckets_for_metric`).
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Most distinct (method, route) series cached; routes are the router's own patterns, so
/// this only bounds a misconfiguration (beyond it, handles are registered per request).
const MAX_CACHED_SERIES: usize = 1024;

/// Most distinct status codes cached per series.
const MAX_CACHED_STATUSES: usize = 32;

/// Describes the metrics of [`TelemetryLayer`](super::TelemetryLayer) (and the shed
/// counter of [`serve`](mod@crate::serve)) to the installed recorder: their help text and
/// units. Call it once after installing the recorder.
pub fn describe_metrics() {
    metrics::describe_counter!(
        REQUESTS_TOTAL,
        "HTTP requests by method, matched route and status"
    );
    metrics::describe_histogram!(
        REQUEST_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "HTTP request latency by method and matched route"
    );
    metrics::describe_counter!(
        super::CONNECTIONS_SHED_TOTAL,
        "Connections answered with 503 (or closed) because the connection cap was reached"
    );
}

/// The metric handles of one (method, route): registered once, then recorded into
/// without label formatting or registry lookups.
pub(super) struct Series {
    method: &'static str,
    route: Arc<str>,
    latency: Histogram,
    /// The request counters by status, filled in order of first use and never changed:
    /// a request reads them without a lock (a shared lock's counter is written by every
    /// request, and that cache line moves between the cores).
    requests: [OnceLock<(u16, Counter)>; MAX_CACHED_STATUSES],
}

impl fmt::Debug for Series {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Series")
            .field("method", &self.method)
            .field("route", &self.route)
            .finish_non_exhaustive()
    }
}

impl Series {
    /// The matched route (or [`UNMATCHED`](super::UNMATCHED)) these handles are for.
    pub(super) fn route(&self) -> &str {
        &self.route
    }

    pub(super) fn record(&self, status: u16, seconds: f64) {
        self.latency.record(seconds);
        for slot in &self.requests {
            match slot.get() {
                Some((s, counter)) if *s == status => return counter.increment(1),
                Some(_) => {}
                None => {
                    let counter = self.register(status);
                    counter.increment(1);
                    self.remember(status, counter);
                    return;
                }
            }
        }
        // More distinct statuses than slots: registered (a registry lookup) each time.
        self.register(status).increment(1);
    }

    /// Puts `counter` into the first free slot, unless another request cached `status`
    /// first (a slot taken meanwhile by another status is skipped).
    fn remember(&self, status: u16, counter: Counter) {
        let mut entry = (status, counter);
        for slot in &self.requests {
            match slot.set(entry) {
                Ok(()) => return,
                Err(back) if slot.get().is_some_and(|(s, _)| *s == status) => {
                    drop(back);
                    return;
                }
                Err(back) => entry = back,
            }
        }
    }

    fn register(&self, status: u16) -> Counter {
        metrics::counter!(REQUESTS_TOTAL, "method" => self.method, "route" => self.route.to_string(), "status" => status.to_string())
    }
}

type Slots = [Option<Arc<Series>>; METHODS.len() + 1];

/// FNV-1a: the keys are the router's own route patterns (never client input), so a
/// hash-flooding-resistant hasher would only cost time on every request.
#[derive(Debug, Clone, Copy)]
pub(super) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// The cache of [`Series`] by route and method.
#[derive(Default)]
pub(super) struct SeriesCache {
    routes: RwLock<HashMap<Box<str>, Slots, BuildHasherDefault<Fnv>>>,
    len: AtomicUsize,
}

impl fmt::Debug for SeriesCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeriesCache")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl SeriesCache {
    pub(super) fn get(&self, method: (usize, &'static str), route: &str) -> Arc<Series> {
        if let Some(s) = self
            .routes
            .read()
            .ok()
            .and_then(|m| m.get(route).and_then(|a| a[method.0].clone()))
        {
            return s;
        }
        let series = Arc::new(Series {
            method: method.1,
            route: Arc::from(route),
            latency: metrics::histogram!(REQUEST_DURATION_SECONDS, "method" => method.1, "route" => route.to_owned()),
            requests: std::array::from_fn(|_| OnceLock::new()),
        });
        if self.len.load(Ordering::Relaxed) >= MAX_CACHED_SERIES {
            return series;
        }
        if let Ok(mut m) = self.routes.write() {
            let slots = m.entry(Box::from(route)).or_default();
            if let Some(existing) = &slots[method.0] {
                return Arc::clone(existing);
            }
            slots[method.0] = Some(Arc::clone(&series));
            self.len.fetch_add(1, Ordering::Relaxed);
        }
        series
    }
}
