//! Slow statements are logged with their duration and SQL text, never their
//! parameters, and counted; against the shared PostgreSQL, with a log capture.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use keel_db_pool::{Config, LevelFilter, Pool};
use keel_testkit::LogCapture;

/// The slow lines only (connection logs are not what is tested here).
fn slow_lines(logs: &LogCapture) -> Vec<String> {
    logs.lines_with("slow database statement")
}

fn capture() -> (LogCapture, tracing::subscriber::DefaultGuard) {
    let logs = LogCapture::new();
    let guard = logs.set_default(tracing::Level::TRACE);
    (logs, guard)
}

const SECRET: &str = "hunter2-never-logged";

// current_thread: every statement runs on this thread, under the capturing subscriber.
#[tokio::test(flavor = "current_thread")]
async fn slow_statements_are_logged_without_parameters_and_counted() {
    let Some(url) = keel_testkit::database_url() else {
        return;
    };
    let (logs, _guard) = capture();
    let config = Config::builder()
        .url(&url)
        .max_size(1)
        .log_slow_statements(LevelFilter::WARN, Duration::from_millis(40))
        .build()
        .unwrap();
    let pool = Pool::new(config).unwrap();

    // Fast: neither logged nor counted.
    let fast: String = pool
        .query_one("SELECT $1::text", &[&"fast-parameter"])
        .await
        .unwrap()
        .get(0);
    assert_eq!(fast, "fast-parameter");
    assert!(slow_lines(&logs).is_empty(), "{}", logs.text());

    // Slow, with a secret parameter.
    let sql = "SELECT pg_sleep(0.06)::text || $1::text AS echoed";
    let echoed: String = pool.query_one(sql, &[&SECRET]).await.unwrap().get(0);
    assert!(echoed.ends_with(SECRET));
    let lines = slow_lines(&logs);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("pg_sleep(0.06)"), "{line}");
    assert!(line.contains("ok=true"), "{line}");
    let ms: f64 = line
        .split("duration_ms=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no duration in {line}"));
    assert!(ms >= 40.0, "{line}");
    assert_eq!(pool.stats().slow_statements, 1);

    // A slow statement that fails (here: cancelled by statement_timeout) is logged as
    // such, without its parameters.
    {
        let conn = pool.get().await.unwrap();
        conn.batch_execute("SET statement_timeout = '50ms'")
            .await
            .unwrap();
        let err = conn
            .query_one("SELECT pg_sleep(1)::text || $1::text", &[&SECRET])
            .await
            .unwrap_err();
        assert!(err.is_timeout(), "{err}");
        conn.batch_execute("RESET statement_timeout").await.unwrap();
    }
    // Slow simple-protocol batches count too, cut to 2 KiB of SQL.
    let long_tail = "x".repeat(3000);
    pool.get()
        .await
        .unwrap()
        .batch_execute(&format!("SELECT pg_sleep(0.06); -- {long_tail}END"))
        .await
        .unwrap();
    let lines = slow_lines(&logs);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[1].contains("ok=false"), "{}", lines[1]);
    assert!(!lines[2].contains("END"), "the statement text was not cut");
    assert_eq!(pool.stats().slow_statements, 3);
    let all = logs.text();
    assert!(!all.contains(SECRET), "a parameter reached the log: {all}");
    assert!(
        !all.contains("fast-parameter"),
        "a parameter reached the log: {all}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn level_off_counts_without_logging_and_transactions_are_timed() {
    let Some(url) = keel_testkit::database_url() else {
        return;
    };
    let (logs, _guard) = capture();
    let config = Config::builder()
        .url(&url)
        .max_size(1)
        .log_slow_statements(LevelFilter::OFF, Duration::from_millis(40))
        .build()
        .unwrap();
    let pool = Pool::new(config).unwrap();
    pool.transaction(|tx| {
        Box::pin(async move {
            tx.query_one("SELECT pg_sleep(0.05)::text || $1::text", &[&SECRET])
                .await?;
            tx.execute("SELECT 1", &[]).await?;
            Ok::<(), keel_db_pool::Error>(())
        })
    })
    .await
    .unwrap();
    assert_eq!(pool.stats().slow_statements, 1);
    assert!(slow_lines(&logs).is_empty(), "{}", logs.text());
}
