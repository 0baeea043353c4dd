//! Shared settings for Keel's criterion benches.
//!
//! Benches are short by default (seconds per target) so contributors run them often;
//! set `KEEL_BENCH_FULL=1` (what `cargo xtask bench --full` does) for longer runs.

use std::time::Duration;

/// A criterion configuration: short by default, longer under `KEEL_BENCH_FULL=1`.
pub fn criterion_config() -> criterion::Criterion {
    let full = std::env::var("KEEL_BENCH_FULL").is_ok_and(|v| v == "1");
    let (warm, measure, samples) = if full {
        (Duration::from_secs(2), Duration::from_secs(5), 100)
    } else {
        (Duration::from_millis(300), Duration::from_secs(1), 30)
    };
    criterion::Criterion::default()
        .warm_up_time(warm)
        .measurement_time(measure)
        .sample_size(samples)
        .configure_from_args()
}
