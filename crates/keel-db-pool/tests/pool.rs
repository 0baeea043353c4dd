//! Integration tests against the shared PostgreSQL (`KEEL_TEST_DATABASE_URL`); each
//! test works in its own schema.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use keel_db_pool::{
    Config, ConfigBuilder, Error, Pool, Recycling, RetryPolicy, SessionSetup, TransactionOptions,
};

struct Db {
    pool: Pool,
    schema: String,
}

impl Db {
    async fn cleanup(self) {
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema);
        self.pool
            .get()
            .await
            .unwrap()
            .batch_execute(&sql)
            .await
            .unwrap();
    }
}

/// A pool whose `search_path` is a fresh schema, configured by `f`.
async fn db(f: impl FnOnce(ConfigBuilder) -> ConfigBuilder) -> Option<Db> {
    let url = keel_testkit::database_url()?;
    let schema = keel_testkit::unique_name("dbpool");
    let builder = Config::builder()
        .url(&url)
        .max_size(4)
        .search_path(schema.clone())
        .application_name("keel-db-pool-test");
    let pool = Pool::new(f(builder).build().unwrap()).unwrap();
    pool.get()
        .await
        .unwrap()
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .unwrap();
    Some(Db { pool, schema })
}

async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn check_session(pool: &Pool, expected_search_path: &str) {
    // Hold every connection at once so each one is checked.
    let mut conns = Vec::new();
    for _ in 0..pool.config().max_size() {
        conns.push(pool.get().await.unwrap());
    }
    let mut pids = std::collections::HashSet::new();
    for c in &conns {
        let show = |name: &'static str| async move {
            let rows = c.simple_query(&format!("SHOW {name}")).await.unwrap();
            rows.iter()
                .find_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
                    _ => None,
                })
                .unwrap()
        };
        assert_eq!(show("statement_timeout").await, "30s");
        assert_eq!(show("TimeZone").await, "UTC");
        assert_eq!(show("idle_in_transaction_session_timeout").await, "1min");
        assert_eq!(show("application_name").await, "keel-db-pool-test");
        assert_eq!(show("search_path").await, expected_search_path);
        let pid: i32 = c
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .unwrap()
            .get(0);
        pids.insert(pid);
    }
    assert_eq!(pids.len(), conns.len(), "connections must be distinct");
}

#[tokio::test]
async fn session_settings_are_in_effect_on_every_connection() {
    let Some(db) = db(|b| b).await else { return };
    check_session(&db.pool, &db.schema).await;
    db.cleanup().await;
}

#[tokio::test]
async fn session_settings_via_set_commands() {
    let Some(db) = db(|b| b.session_setup(SessionSetup::SetCommands)).await else {
        return;
    };
    assert!(db.pool.config().pg_config().get_options().is_none());
    check_session(&db.pool, &db.schema).await;
    db.cleanup().await;
}

#[tokio::test]
async fn on_connect_hook_runs_on_new_connections() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let Some(db) = db(move |b| {
        b.max_size(2).on_connect(move |client| {
            let c = Arc::clone(&c);
            Box::pin(async move {
                c.fetch_add(1, Ordering::SeqCst);
                client.batch_execute("SET work_mem = '8MB'").await?;
                Ok(())
            })
        })
    })
    .await
    else {
        return;
    };
    let a = db.pool.get().await.unwrap();
    let b = db.pool.get().await.unwrap();
    let wm: String = b
        .query_one("SELECT current_setting('work_mem')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(wm, "8MB");
    drop((a, b));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    db.cleanup().await;
}

#[tokio::test]
async fn statement_timeout_is_typed_and_the_connection_survives() {
    let Some(db) = db(|b| b.statement_timeout(Some(Duration::from_millis(100)))).await else {
        return;
    };
    let conn = db.pool.get().await.unwrap();
    let err = conn.query("SELECT pg_sleep(2)", &[]).await.unwrap_err();
    assert!(matches!(err, Error::StatementTimeout { .. }), "{err:?}");
    assert!(err.is_timeout() && !err.is_unavailable());
    #[cfg(feature = "errors")]
    assert_eq!(keel_errors::ApiError::from(err).status().as_u16(), 504);
    let one: i32 = conn.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1);
    drop(conn);
    assert_eq!(db.pool.stats().closed.broken, 0);
    db.cleanup().await;
}

#[tokio::test]
async fn constraint_violations_are_typed() {
    let Some(db) = db(|b| b).await else { return };
    let pool = &db.pool;
    pool.get()
        .await
        .unwrap()
        .batch_execute(
            "CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL CONSTRAINT users_email_key UNIQUE, \
             age int CONSTRAINT users_age_check CHECK (age >= 0));
             CREATE TABLE posts (id int PRIMARY KEY, user_id int CONSTRAINT posts_user_fk REFERENCES users(id));",
        )
        .await
        .unwrap();
    let insert = "INSERT INTO users (id, email, age) VALUES ($1, $2, $3)";
    pool.execute(insert, &[&1, &"a@example.com", &30])
        .await
        .unwrap();

    let err = pool
        .execute(insert, &[&2, &"a@example.com", &30])
        .await
        .unwrap_err();
    assert!(err.is_unique_violation(), "{err:?}");
    assert_eq!(err.constraint(), Some("users_email_key"));
    assert_eq!(
        err.sqlstate(),
        Some(&keel_db_pool::SqlState::UNIQUE_VIOLATION)
    );
    #[cfg(feature = "errors")]
    {
        let api = keel_errors::ApiError::from(err);
        assert_eq!(api.status().as_u16(), 409);
        let body = format!("{:?}", api.to_envelope());
        assert!(
            !body.contains("users_email_key") && !body.contains("INSERT"),
            "{body}"
        );
    }

    let err = pool
        .execute(insert, &[&3, &"b@example.com", &-1])
        .await
        .unwrap_err();
    assert!(err.is_check_violation(), "{err:?}");
    assert_eq!(err.constraint(), Some("users_age_check"));

    let err = pool
        .execute("INSERT INTO posts (id, user_id) VALUES (1, 99)", &[])
        .await
        .unwrap_err();
    assert!(err.is_foreign_key_violation(), "{err:?}");
    assert_eq!(err.constraint(), Some("posts_user_fk"));

    let err = pool
        .execute("INSERT INTO users (id, email) VALUES (4, NULL)", &[])
        .await
        .unwrap_err();
    assert!(err.is_not_null_violation(), "{err:?}");

    let err = pool.execute("SELEC 1", &[]).await.unwrap_err();
    assert!(matches!(err, Error::Database { .. }), "{err:?}");
    db.cleanup().await;
}

#[derive(Debug)]
enum AppError {
    Db(Error),
    Boom,
}

impl From<Error> for AppError {
    fn from(e: Error) -> Self {
        Self::Db(e)
    }
}

async fn count(pool: &Pool) -> i64 {
    pool.query_one("SELECT count(*) FROM items", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn transactions_commit_and_roll_back() {
    let Some(db) = db(|b| b).await else { return };
    let pool = &db.pool;
    pool.get()
        .await
        .unwrap()
        .batch_execute("CREATE TABLE items (id serial PRIMARY KEY, name text)")
        .await
        .unwrap();

    // Ok commits.
    let id: i32 = pool
        .transaction(|tx| {
            Box::pin(async move {
                let row = tx
                    .query_one("INSERT INTO items (name) VALUES ('a') RETURNING id", &[])
                    .await?;
                Ok::<_, AppError>(row.get(0))
            })
        })
        .await
        .unwrap();
    assert!(id > 0);
    assert_eq!(count(pool).await, 1);

    // Err rolls back.
    let res: Result<(), AppError> = pool
        .transaction(|tx| {
            Box::pin(async move {
                tx.execute("INSERT INTO items (name) VALUES ('b')", &[])
                    .await?;
                Err(AppError::Boom)
            })
        })
        .await;
    assert!(matches!(res, Err(AppError::Boom)));
    assert_eq!(count(pool).await, 1);

    // Panic rolls back, and the panic continues.
    let p = pool.clone();
    let joined = tokio::spawn(async move {
        p.transaction(|tx| {
            Box::pin(async move {
                tx.execute("INSERT INTO items (name) VALUES ('c')", &[])
                    .await?;
                let bug = true;
                if bug {
                    panic!("handler bug");
                }
                Ok::<(), Error>(())
            })
        })
        .await
    })
    .await;
    assert!(joined.unwrap_err().is_panic());
    assert_eq!(count(pool).await, 1);

    // Cancellation (the future is dropped mid-transaction) rolls back.
    let cancelled = tokio::time::timeout(
        Duration::from_millis(200),
        pool.transaction(|tx| {
            Box::pin(async move {
                tx.execute("INSERT INTO items (name) VALUES ('d')", &[])
                    .await?;
                tokio::time::sleep(Duration::from_secs(30)).await;
                Ok::<(), Error>(())
            })
        }),
    )
    .await;
    assert!(cancelled.is_err());
    assert_eq!(count(pool).await, 1);
    // The connection that was cancelled is healthy and outside any transaction.
    for _ in 0..pool.config().max_size() {
        let c = pool.get().await.unwrap();
        // SAVEPOINT fails outside a transaction block.
        assert!(c.batch_execute("SAVEPOINT probe").await.is_err());
    }
    assert_eq!(pool.status().in_use, 0);

    // A closure that swallows a statement error cannot report a commit that
    // PostgreSQL turned into a rollback.
    let err = pool
        .transaction(|tx| {
            Box::pin(async move {
                tx.execute("INSERT INTO items (name) VALUES ('f')", &[])
                    .await?;
                let _ignored = tx
                    .execute("INSERT INTO items (id) VALUES (NULL)", &[])
                    .await;
                Ok::<(), Error>(())
            })
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.sqlstate(),
        Some(&keel_db_pool::SqlState::IN_FAILED_SQL_TRANSACTION),
        "{err:?}"
    );
    assert_eq!(count(pool).await, 1);
    // ... but one recovered through a savepoint commits.
    pool.transaction(|tx| {
        Box::pin(async move {
            tx.execute("INSERT INTO items (name) VALUES ('g')", &[])
                .await?;
            tx.batch_execute("SAVEPOINT s").await?;
            let _ignored = tx
                .execute("INSERT INTO items (id) VALUES (NULL)", &[])
                .await;
            tx.batch_execute("ROLLBACK TO SAVEPOINT s").await?;
            Ok::<(), Error>(())
        })
    })
    .await
    .unwrap();
    assert_eq!(count(pool).await, 2);

    // Read-only transactions reject writes.
    let err = pool
        .transaction_with(TransactionOptions::new().read_only(), |tx| {
            Box::pin(async move {
                tx.execute("INSERT INTO items (name) VALUES ('e')", &[])
                    .await?;
                Ok::<(), Error>(())
            })
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.sqlstate(),
        Some(&keel_db_pool::SqlState::READ_ONLY_SQL_TRANSACTION)
    );
    db.cleanup().await;
}

const FORCE_SERIALIZATION_FAILURE: &str =
    "DO $$ BEGIN RAISE EXCEPTION 'forced' USING ERRCODE = 'serialization_failure'; END $$";

#[tokio::test]
async fn forced_serialization_failure_is_retried() {
    let Some(db) = db(|b| b).await else { return };
    let pool = &db.pool;
    pool.get()
        .await
        .unwrap()
        .batch_execute("CREATE TABLE items (id serial PRIMARY KEY, name text)")
        .await
        .unwrap();

    // Without a retry policy: one attempt, typed retryable error.
    let attempts = Arc::new(AtomicUsize::new(0));
    let err = pool
        .transaction(|tx| {
            let attempts = Arc::clone(&attempts);
            Box::pin(async move {
                attempts.fetch_add(1, Ordering::SeqCst);
                tx.batch_execute(FORCE_SERIALIZATION_FAILURE).await?;
                Ok::<(), Error>(())
            })
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::SerializationFailure { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(attempts.load(Ordering::SeqCst), 1);

    // With one: the first attempt fails and is rolled back, the second commits.
    let attempts = Arc::new(AtomicUsize::new(0));
    let opts = TransactionOptions::new().serializable().retry(
        RetryPolicy::new(3).with_backoff(Duration::from_millis(1), Duration::from_millis(5)),
    );
    pool.transaction_with(opts, |tx| {
        let attempts = Arc::clone(&attempts);
        Box::pin(async move {
            let n = attempts.fetch_add(1, Ordering::SeqCst) + 1;
            tx.execute(
                "INSERT INTO items (name) VALUES ($1)",
                &[&format!("attempt {n}")],
            )
            .await?;
            if n == 1 {
                tx.batch_execute(FORCE_SERIALIZATION_FAILURE).await?;
            }
            Ok::<(), AppError>(())
        })
    })
    .await
    .unwrap();
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    let names: Vec<String> = pool
        .query("SELECT name FROM items", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(names, ["attempt 2"]);

    // A non-retryable error is not retried even with a policy.
    let attempts = Arc::new(AtomicUsize::new(0));
    let res = pool
        .transaction_with(TransactionOptions::new().retry(RetryPolicy::new(5)), |tx| {
            let attempts = Arc::clone(&attempts);
            Box::pin(async move {
                attempts.fetch_add(1, Ordering::SeqCst);
                tx.execute("SELEC 1", &[]).await?;
                Ok::<(), AppError>(())
            })
        })
        .await;
    assert!(matches!(res, Err(AppError::Db(Error::Database { .. }))));
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
    db.cleanup().await;
}

#[tokio::test]
async fn real_write_skew_is_detected_and_retried() {
    let Some(db) = db(|b| b).await else { return };
    let pool = &db.pool;
    pool.get()
        .await
        .unwrap()
        .batch_execute("CREATE TABLE oncall (doctor text, kind text); INSERT INTO oncall VALUES ('x', 'a'), ('y', 'b');")
        .await
        .unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let total_attempts = Arc::new(AtomicUsize::new(0));
    let run = |mine: &'static str, other: &'static str| {
        let pool = pool.clone();
        let barrier = Arc::clone(&barrier);
        let total = Arc::clone(&total_attempts);
        async move {
            let attempt = Arc::new(AtomicUsize::new(0));
            let opts = TransactionOptions::new().serializable().retry(
                RetryPolicy::new(5)
                    .with_backoff(Duration::from_millis(1), Duration::from_millis(10)),
            );
            pool.transaction_with(opts, |tx| {
                let barrier = Arc::clone(&barrier);
                let attempt = Arc::clone(&attempt);
                let total = Arc::clone(&total);
                Box::pin(async move {
                    total.fetch_add(1, Ordering::SeqCst);
                    let first = attempt.fetch_add(1, Ordering::SeqCst) == 0;
                    let n: i64 = tx
                        .query_one("SELECT count(*) FROM oncall WHERE kind = $1", &[&other])
                        .await?
                        .get(0);
                    if first {
                        barrier.wait().await;
                    }
                    tx.execute(
                        "INSERT INTO oncall VALUES ($1, $2)",
                        &[&format!("{n}"), &mine],
                    )
                    .await?;
                    Ok::<(), Error>(())
                })
            })
            .await
        }
    };
    let (a, b) = tokio::join!(run("a", "b"), run("b", "a"));
    a.unwrap();
    b.unwrap();
    assert_eq!(
        total_attempts.load(Ordering::SeqCst),
        3,
        "exactly one side retried"
    );
    db.cleanup().await;
}

#[tokio::test]
async fn saturated_pool_times_out_with_a_typed_error() {
    let Some(db) = db(|b| b.max_size(2).wait_timeout(Duration::from_millis(300))).await else {
        return;
    };
    let pool = &db.pool;
    let held = (pool.get().await.unwrap(), pool.get().await.unwrap());
    let start = Instant::now();
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let p = pool.clone();
            tokio::spawn(async move {
                let t = Instant::now();
                (p.get().await.map(drop), t.elapsed())
            })
        })
        .collect();
    for w in waiters {
        let (res, waited) = w.await.unwrap();
        let err = res.unwrap_err();
        assert!(matches!(err, Error::PoolTimeout { .. }), "{err:?}");
        assert!(err.is_unavailable());
        assert!(waited >= Duration::from_millis(300), "{waited:?}");
        assert!(waited < Duration::from_millis(900), "{waited:?}");
    }
    assert!(start.elapsed() < Duration::from_millis(1500));
    assert_eq!(pool.stats().timeouts, 3);
    drop(held);
    pool.get().await.unwrap();
    db.cleanup().await;
}

// current_thread: the maintenance task runs on this thread, under the capturing
// subscriber.
#[tokio::test(flavor = "current_thread")]
async fn leak_warning_names_the_call_site() {
    let logs = keel_testkit::LogCapture::new();
    let _guard = logs.set_default(tracing::Level::INFO);
    let Some(db) = db(|b| {
        b.leak_threshold(Some(Duration::from_millis(100)))
            .maintenance_interval(Duration::from_millis(20))
    })
    .await
    else {
        return;
    };
    let pool = &db.pool;
    let line = line!() + 1;
    let conn = pool.get().await.unwrap();
    wait_until("the leak warning", || pool.stats().leaks == 1).await;
    let text = logs.text();
    assert!(
        text.contains("held longer than the leak threshold"),
        "{text}"
    );
    assert!(text.contains(&format!("tests/pool.rs:{line}")), "{text}");
    // Reported once, and its return is logged.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(pool.stats().leaks, 1);
    drop(conn);
    assert!(
        logs.text()
            .contains("reported as possibly leaked was returned")
    );
    // A short hold is never reported.
    let quick = pool.get().await.unwrap();
    drop(quick);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(pool.stats().leaks, 1);
    db.cleanup().await;
}

#[tokio::test]
async fn stale_cached_plan_is_cleared_and_rerun() {
    let Some(db) = db(|b| b.max_size(1)).await else {
        return;
    };
    let pool = &db.pool;
    pool.get()
        .await
        .unwrap()
        .batch_execute("CREATE TABLE t (a int); INSERT INTO t VALUES (1)")
        .await
        .unwrap();
    assert_eq!(
        pool.query_one("SELECT * FROM t", &[]).await.unwrap().len(),
        1
    );
    pool.get()
        .await
        .unwrap()
        .batch_execute("ALTER TABLE t ADD COLUMN b int")
        .await
        .unwrap();
    // The cached statement's result type changed: cleared and re-prepared.
    assert_eq!(
        pool.query_one("SELECT * FROM t", &[]).await.unwrap().len(),
        2
    );
    db.cleanup().await;
}

#[tokio::test]
async fn killed_backend_is_typed_and_the_pool_recovers() {
    let Some(db) = db(|b| b.max_size(3)).await else {
        return;
    };
    let pool = &db.pool;
    let victim = pool.get().await.unwrap();
    let idle = pool.get().await.unwrap();
    let pid: i32 = victim
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    drop(idle); // one idle connection, opened before the kill
    let killer = pool.get().await.unwrap();
    let _: bool = killer
        .query_one("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .unwrap()
        .get(0);
    drop(killer);
    // Wait for the driver to see the termination.
    let err = loop {
        match victim.query_one("SELECT 1", &[]).await {
            Ok(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            Err(e) => break e,
        }
    };
    assert!(err.is_connection_error(), "{err:?}");
    #[cfg(feature = "errors")]
    {
        let api = keel_errors::ApiError::from(err);
        assert_eq!(api.status().as_u16(), 503);
        assert!(api.retry_after().is_some());
    }
    drop(victim);
    let m = pool.stats();
    assert_eq!(m.invalidations, 1);
    assert!(m.closed.invalidated >= 1, "{m:?}");
    // Everything after works, on fresh connections.
    for _ in 0..20 {
        pool.query_one("SELECT 1", &[]).await.unwrap();
    }
    db.cleanup().await;
}

#[tokio::test]
async fn lifetime_idle_timeout_and_min_idle() {
    let Some(db) = db(|b| {
        b.max_size(4)
            .min_idle(2)
            .max_lifetime(Some(Duration::from_millis(300)))
            .max_lifetime_jitter(Duration::from_millis(50))
            .idle_timeout(Some(Duration::from_millis(100)))
            .maintenance_interval(Duration::from_millis(20))
    })
    .await
    else {
        return;
    };
    let pool = &db.pool;
    wait_until("min_idle connections", || pool.status().size >= 2).await;
    // Burst to 4, then idle back down to min_idle.
    let burst: Vec<_> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(pool.get().await.unwrap());
        }
        v
    };
    assert_eq!(pool.status().size, 4);
    drop(burst);
    wait_until("idle connections closed", || pool.stats().closed.idle >= 2).await;
    wait_until("expired connections closed", || {
        pool.stats().closed.lifetime >= 1
    })
    .await;
    // min_idle is refilled after expiry.
    wait_until("min_idle refilled", || pool.status().size >= 2).await;
    assert!(pool.status().size <= 4);
    db.cleanup().await;
}

#[tokio::test]
async fn verify_recycling_and_metrics() {
    let Some(db) = db(|b| b.max_size(1).recycling(Recycling::Verified)).await else {
        return;
    };
    let pool = &db.pool;
    for _ in 0..5 {
        pool.query_one("SELECT 1", &[]).await.unwrap();
    }
    let rtt = pool.ping().await.unwrap();
    assert!(rtt < Duration::from_secs(1));
    let m = pool.stats();
    assert_eq!(m.created, 1);
    assert!(m.verified >= 6, "{m:?}");
    assert!(m.recycled >= 6, "{m:?}");
    assert_eq!(m.checkouts, m.wait.count());
    assert_eq!(m.status.size, 1);
    assert_eq!(m.status.in_use, 0);
    db.cleanup().await;
}

#[tokio::test]
async fn database_down_at_startup_does_not_crash() {
    let url = format!(
        "postgres://postgres@127.0.0.1:{}/postgres",
        keel_testkit::free_port()
    );
    let config = Config::builder()
        .url(&url)
        .startup_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    // Lazy: builds fine, get() fails fast and typed.
    let pool = Pool::new(config.clone()).unwrap();
    let t = Instant::now();
    let err = pool.get().await.unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_eq!(pool.stats().connect_errors, 1);
    // Bounded retry at startup, then the typed error.
    let t = Instant::now();
    let err = Pool::connect(config.clone()).await.unwrap_err();
    assert!(err.is_connection_error(), "{err:?}");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    // Fail fast.
    let err = Pool::connect(
        config
            .to_builder()
            .startup_timeout(Duration::ZERO)
            .build()
            .unwrap(),
    )
    .await
    .unwrap_err();
    assert!(err.is_connection_error());
    pool.close();
    assert!(matches!(pool.get().await.unwrap_err(), Error::PoolClosed));
}

#[test]
fn new_outside_a_runtime_is_a_config_error() {
    let config = Config::from_url("postgres://app@localhost/app").unwrap();
    assert!(matches!(Pool::new(config), Err(Error::Config(_))));
}
