//! Export of [`CacheStats`] through the `metrics` crate (feature `metrics`).

use metrics::{counter, gauge};

use crate::{Cache, CacheKey, CacheStats};

impl CacheStats {
    /// Records this snapshot through the `metrics` facade, labelled `cache = name`:
    /// counters `keel_cache_{hits,stale_hits,negative_hits,misses,coalesced,loads,
    /// load_errors,load_timeouts,refreshes,refresh_errors,oversized}_total`,
    /// `keel_cache_evictions_total{cause}`, `keel_cache_l2_{hits,misses,writes,errors,
    /// skipped,undecodable,outages}_total`, and gauges `keel_cache_entries`,
    /// `keel_cache_weighted_size`, `keel_cache_load_seconds_total`, `keel_cache_hit_ratio`,
    /// `keel_cache_l2_up`. Counters are set to absolute values, so call it as often as
    /// you like (e.g. before each scrape).
    ///
    /// ```
    /// keel_cache::CacheStats::default().record_metrics("users"); // no recorder: a no-op
    /// ```
    #[allow(clippy::cast_precision_loss)]
    pub fn record_metrics(&self, name: &str) {
        let c = |metric: &'static str, v: u64| {
            counter!(metric, "cache" => name.to_owned()).absolute(v);
        };
        c("keel_cache_hits_total", self.hits);
        c("keel_cache_stale_hits_total", self.stale_hits);
        c("keel_cache_negative_hits_total", self.negative_hits);
        c("keel_cache_misses_total", self.misses);
        c("keel_cache_coalesced_total", self.coalesced);
        c("keel_cache_loads_total", self.loads);
        c("keel_cache_load_errors_total", self.load_errors);
        c("keel_cache_load_timeouts_total", self.load_timeouts);
        c("keel_cache_refreshes_total", self.refreshes);
        c("keel_cache_refresh_errors_total", self.refresh_errors);
        c("keel_cache_oversized_total", self.oversized);
        for (cause, v) in [
            ("size", self.evictions.size),
            ("expired", self.evictions.expired),
            ("explicit", self.evictions.explicit),
            ("replaced", self.evictions.replaced),
        ] {
            counter!("keel_cache_evictions_total", "cache" => name.to_owned(), "cause" => cause)
                .absolute(v);
        }
        if self.l2.enabled {
            c("keel_cache_l2_hits_total", self.l2.hits);
            c("keel_cache_l2_misses_total", self.l2.misses);
            c("keel_cache_l2_writes_total", self.l2.writes);
            c("keel_cache_l2_errors_total", self.l2.errors);
            c("keel_cache_l2_skipped_total", self.l2.skipped);
            c("keel_cache_l2_undecodable_total", self.l2.undecodable);
            c("keel_cache_l2_outages_total", self.l2.outages);
            gauge!("keel_cache_l2_up", "cache" => name.to_owned()).set(if self.l2.up {
                1.0
            } else {
                0.0
            });
        }
        gauge!("keel_cache_entries", "cache" => name.to_owned()).set(self.entries as f64);
        gauge!("keel_cache_weighted_size", "cache" => name.to_owned())
            .set(self.weighted_size as f64);
        gauge!("keel_cache_load_seconds_total", "cache" => name.to_owned())
            .set(self.total_load_time.as_secs_f64());
        gauge!("keel_cache_hit_ratio", "cache" => name.to_owned()).set(self.hit_ratio());
    }
}

impl<K, V> Cache<K, V>
where
    K: CacheKey,
    V: Clone + Send + Sync + 'static,
{
    /// Records [`stats`](Self::stats) through the `metrics` crate under this cache's name
    /// (see [`CacheStats::record_metrics`]).
    ///
    /// ```
    /// let cache: keel_cache::Cache<u8, u8> = keel_cache::Cache::builder("n").build();
    /// cache.record_metrics();
    /// ```
    pub fn record_metrics(&self) {
        self.stats().record_metrics(self.name());
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use metrics::{
        Counter, CounterFn, Gauge, GaugeFn, Histogram, Key, KeyName, Metadata, Recorder,
        SharedString, Unit,
    };

    use super::*;

    /// Records the last value per `name{labels}`.
    #[derive(Default)]
    struct Capture(Arc<Mutex<BTreeMap<String, f64>>>);

    struct Cell(String, Arc<Mutex<BTreeMap<String, f64>>>);

    #[allow(clippy::cast_precision_loss)]
    impl CounterFn for Cell {
        fn increment(&self, v: u64) {
            *self.1.lock().unwrap().entry(self.0.clone()).or_default() += v as f64;
        }
        fn absolute(&self, v: u64) {
            self.1.lock().unwrap().insert(self.0.clone(), v as f64);
        }
    }

    impl GaugeFn for Cell {
        fn increment(&self, v: f64) {
            *self.1.lock().unwrap().entry(self.0.clone()).or_default() += v;
        }
        fn decrement(&self, v: f64) {
            *self.1.lock().unwrap().entry(self.0.clone()).or_default() -= v;
        }
        fn set(&self, v: f64) {
            self.1.lock().unwrap().insert(self.0.clone(), v);
        }
    }

    impl Capture {
        fn cell(&self, key: &Key) -> Arc<Cell> {
            let labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            Arc::new(Cell(
                format!("{}{{{}}}", key.name(), labels.join(",")),
                Arc::clone(&self.0),
            ))
        }
    }

    impl Recorder for Capture {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            Counter::from_arc(self.cell(key))
        }
        fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::from_arc(self.cell(key))
        }
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::noop()
        }
    }

    #[test]
    fn stats_are_exported_with_the_cache_label() {
        let rec = Capture::default();
        let mut s = CacheStats {
            hits: 3,
            misses: 1,
            ..CacheStats::default()
        };
        s.evictions.size = 2;
        metrics::with_local_recorder(&rec, || s.record_metrics("users"));
        let got = rec.0.lock().unwrap();
        assert_eq!(got["keel_cache_hits_total{cache=users}"], 3.0);
        assert_eq!(got["keel_cache_misses_total{cache=users}"], 1.0);
        assert_eq!(
            got["keel_cache_evictions_total{cache=users,cause=size}"],
            2.0
        );
        assert_eq!(got["keel_cache_hit_ratio{cache=users}"], 0.75);
        assert!(
            !got.contains_key("keel_cache_l2_up{cache=users}"),
            "no Redis tier"
        );
    }
}
