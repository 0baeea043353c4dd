//! `pg_ctl restart -m fast` under load, on a private throwaway server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use keel_db_pool::{Config, Pool};

#[derive(Debug)]
struct Event {
    at: Instant,
    get_time: Duration,
    error: Option<keel_db_pool::Error>,
}

const TASKS: usize = 8;
const WAIT_TIMEOUT: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_under_load_costs_only_in_flight_queries() {
    let mut pg = match keel_testkit::TempPostgres::start_new(&std::env::temp_dir()) {
        Ok(pg) => pg,
        Err(e) => {
            assert!(
                !keel_testkit::services_required(),
                "cannot start PostgreSQL: {e}"
            );
            eprintln!("\n!!! SKIPPED: cannot start a private PostgreSQL: {e} !!!\n");
            return;
        }
    };
    let config = Config::builder()
        .url(pg.url())
        .max_size(TASKS)
        .wait_timeout(WAIT_TIMEOUT)
        .connect_timeout(Duration::from_secs(1))
        .maintenance_interval(Duration::from_millis(50))
        .build()
        .unwrap();
    let pool = Pool::connect(config).await.unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..TASKS)
        .map(|_| {
            let pool = pool.clone();
            let stop = Arc::clone(&stop);
            tokio::spawn(async move {
                let mut events = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let start = Instant::now();
                    let got = pool.get().await;
                    let get_time = start.elapsed();
                    let res = match got {
                        Ok(conn) => conn.query_one("SELECT 1", &[]).await.map(drop),
                        Err(e) => Err(e),
                    };
                    let failed = res.is_err();
                    events.push(Event {
                        at: Instant::now(),
                        get_time,
                        error: res.err(),
                    });
                    if failed {
                        // A client backing off a little, as a service would.
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
                events
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(300)).await;
    let restart_began = Instant::now();
    let pg_back = tokio::task::spawn_blocking(move || {
        pg.restart_fast().unwrap();
        pg
    });
    let pg = pg_back.await.unwrap();
    let accepting = Instant::now();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    stop.store(true, Ordering::Relaxed);

    let mut events = Vec::new();
    for w in workers {
        events.extend(w.await.unwrap());
    }
    events.sort_by_key(|e| e.at);

    let errors: Vec<_> = events.iter().filter(|e| e.error.is_some()).collect();
    assert!(
        !errors.is_empty(),
        "the restart must have cost something; no errors seen"
    );
    for e in &errors {
        let err = e.error.as_ref().unwrap();
        assert!(
            err.is_connection_error(),
            "untyped failure during restart: {err:?}"
        );
    }
    let slowest_get = events.iter().map(|e| e.get_time).max().unwrap();
    assert!(
        slowest_get <= WAIT_TIMEOUT + Duration::from_millis(200),
        "a get() waited {slowest_get:?}"
    );
    let outage_start = errors[0].at;
    assert!(outage_start >= restart_began);
    let last_error = errors[errors.len() - 1].at;
    // Queries succeed again within 1 s of the server accepting connections...
    let first_success = events
        .iter()
        .find(|e| e.error.is_none() && e.at > accepting)
        .expect("a success after the restart")
        .at;
    assert!(
        first_success <= accepting + Duration::from_secs(1),
        "first success {:?} after the server accepted again",
        first_success.saturating_duration_since(accepting)
    );
    // ... and no stale connection fails later on.
    assert!(
        last_error <= accepting + Duration::from_secs(1),
        "an error {:?} after the server accepted again",
        last_error.saturating_duration_since(accepting)
    );
    let recovered = events
        .iter()
        .find(|e| e.error.is_none() && e.at > last_error)
        .expect("a success after the last error")
        .at;
    eprintln!(
        "restart: {} queries, {} failed, failures from first error to recovery {:?}, \
         pg_ctl restart took {:?}, first success {:?} after it, slowest get {:?}",
        events.len(),
        errors.len(),
        recovered - outage_start,
        accepting - restart_began,
        first_success - accepting,
        slowest_get
    );

    // No stale connection remains.
    let mut failures = 0;
    for _ in 0..1000 {
        if pool.query_one("SELECT 1", &[]).await.is_err() {
            failures += 1;
        }
    }
    assert_eq!(failures, 0, "stale connections after the restart");
    let m = pool.stats();
    assert!(m.invalidations >= 1, "{m:?}");
    drop(pool);
    drop(pg);
}
