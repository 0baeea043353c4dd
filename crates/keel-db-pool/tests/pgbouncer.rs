//! The pool behind a real PgBouncer (Debian's 1.18) in **transaction** pooling, in
//! front of the shared PostgreSQL: with `pgbouncer_transaction_mode()` statements with
//! parameters, transactions and many more clients than server connections all work;
//! with the default `StatementMode::Cached` the classic "prepared statement does not
//! exist" failure is reproduced deterministically, so the switch is what makes the
//! difference.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::time::Duration;

use keel_db_pool::{Config, ConfigBuilder, Error, Pool, SqlState, StatementMode};
use keel_testkit::{PoolMode, TempPgBouncer};

/// PgBouncer's server connections per database and user: far fewer than clients.
const SERVER_POOL: u32 = 2;

struct Bounced {
    // Dropped last: the pool's connections go first.
    pool: Pool,
    schema: String,
    bouncer: TempPgBouncer,
}

async fn bounced(f: impl FnOnce(ConfigBuilder) -> ConfigBuilder) -> Option<Bounced> {
    let backend = keel_testkit::database_url()?;
    let bouncer = match TempPgBouncer::start_new(
        &std::env::temp_dir(),
        &backend,
        PoolMode::Transaction,
        SERVER_POOL,
    ) {
        Ok(b) => b,
        Err(e) => {
            assert!(
                !keel_testkit::services_required(),
                "cannot start PgBouncer: {e}"
            );
            eprintln!("\n!!! SKIPPED: cannot start PgBouncer: {e} !!!\n");
            return None;
        }
    };
    let schema = keel_testkit::unique_name("bouncer");
    let builder = Config::builder()
        .url(bouncer.url())
        .max_size(16)
        .wait_timeout(Duration::from_secs(10))
        .search_path(schema.clone())
        .application_name("keel-db-pool-pgbouncer-test");
    let pool = Pool::new(f(builder).build().unwrap()).unwrap();
    pool.get()
        .await
        .unwrap()
        .batch_execute(&format!(
            "CREATE SCHEMA {schema}; CREATE TABLE {schema}.items (id bigserial PRIMARY KEY, name text NOT NULL, qty int, tags text[])"
        ))
        .await
        .unwrap();
    Some(Bounced {
        pool,
        schema,
        bouncer,
    })
}

impl Bounced {
    async fn cleanup(self) {
        self.pool
            .get()
            .await
            .unwrap()
            .batch_execute(&format!("DROP SCHEMA {} CASCADE", self.schema))
            .await
            .unwrap();
        drop(self.pool);
        drop(self.bouncer);
    }
}

#[tokio::test]
async fn statements_with_parameters_and_transactions() {
    let Some(b) = bounced(ConfigBuilder::pgbouncer_transaction_mode).await else {
        return;
    };
    let (pool, s) = (&b.pool, &b.schema);
    assert!(pool.config().pg_config().get_options().is_none());

    let insert =
        format!("INSERT INTO {s}.items (name, qty, tags) VALUES ($1, $2, $3) RETURNING id");
    let id: i64 = pool
        .query_one(
            &insert,
            &[&"bolt", &Some(3_i32), &vec!["a".to_owned(), "b".to_owned()]],
        )
        .await
        .unwrap()
        .get(0);
    let none: Option<i32> = None;
    pool.execute(&insert, &[&"nut", &none, &Vec::<String>::new()])
        .await
        .unwrap();
    let row = pool
        .query_one(
            &format!("SELECT name, qty, tags FROM {s}.items WHERE id = $1"),
            &[&id],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "bolt");
    assert_eq!(row.get::<_, Option<i32>>(1), Some(3));
    assert_eq!(row.get::<_, Vec<String>>(2), ["a", "b"]);
    let missing = pool
        .query_opt(
            &format!("SELECT name FROM {s}.items WHERE id = $1"),
            &[&-1_i64],
        )
        .await
        .unwrap();
    assert!(missing.is_none());
    match pool
        .query(&format!("SELECT name FROM {s}.items WHERE id = $1"), &[])
        .await
    {
        Err(Error::Parameters {
            expected: 1,
            got: 0,
        }) => {}
        other => panic!("expected a parameter-count error, got {other:?}"),
    }
    // The wrong count did not break the connection or drain the pool.
    assert_eq!(pool.stats().invalidations, 0);
    // Named statements are refused in this mode instead of failing later.
    let conn = pool.get().await.unwrap();
    assert!(matches!(
        conn.prepare_cached("SELECT 1").await,
        Err(Error::Config(_))
    ));
    drop(conn);

    // A transaction: its session settings are `SET LOCAL`, so they hold inside it (an
    // unqualified table name resolves through the search_path) …
    let (n, timeout): (i64, String) = pool
        .transaction(|tx| {
            Box::pin(async move {
                tx.execute(
                    "UPDATE items SET qty = qty + $1 WHERE qty IS NOT NULL",
                    &[&10_i32],
                )
                .await?;
                let n: i64 = tx
                    .query_one("SELECT sum(qty) FROM items", &[])
                    .await?
                    .get(0);
                let t: String = tx
                    .query_one("SELECT current_setting('statement_timeout')", &[])
                    .await?
                    .get(0);
                Ok::<_, Error>((n, t))
            })
        })
        .await
        .unwrap();
    assert_eq!((n, timeout.as_str()), (13, "30s"));
    // … and a failed one rolls back.
    let res: Result<(), Error> = pool
        .transaction(|tx| {
            Box::pin(async move {
                tx.execute("DELETE FROM items", &[]).await?;
                tx.execute("INSERT INTO items (name) VALUES ($1)", &[&None::<String>])
                    .await?;
                Ok(())
            })
        })
        .await;
    assert!(
        matches!(res, Err(Error::NotNullViolation { .. })),
        "{res:?}"
    );
    let count: i64 = pool
        .query_one(&format!("SELECT count(*) FROM {s}.items"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 2);
    b.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_clients_share_two_server_connections() {
    let Some(b) = bounced(ConfigBuilder::pgbouncer_transaction_mode).await else {
        return;
    };
    const TASKS: usize = 48;
    const ROUNDS: usize = 25;
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let pool = b.pool.clone();
            let s = b.schema.clone();
            tokio::spawn(async move {
                let mut errors = Vec::new();
                for r in 0..ROUNDS {
                    let name = format!("t{t}-r{r}");
                    // Distinct SQL texts per task too, so parameter types are learned
                    // under contention, not only once.
                    let lookup =
                        format!("SELECT id, {t}::int AS task FROM {s}.items WHERE name = $1");
                    let res = async {
                        if r % 3 == 0 {
                            pool.transaction(|tx| {
                                let (name, s) = (name.clone(), s.clone());
                                Box::pin(async move {
                                    tx.execute(
                                        &format!(
                                            "INSERT INTO {s}.items (name, qty) VALUES ($1, $2)"
                                        ),
                                        &[&name, &i32::try_from(r).unwrap()],
                                    )
                                    .await?;
                                    Ok::<_, Error>(())
                                })
                            })
                            .await?;
                        } else {
                            pool.execute(
                                &format!("INSERT INTO {s}.items (name, qty) VALUES ($1, $2)"),
                                &[&name, &i32::try_from(r).unwrap()],
                            )
                            .await?;
                        }
                        let row = pool.query_one(&lookup, &[&name]).await?;
                        assert_eq!(row.get::<_, i32>(1), i32::try_from(t).unwrap());
                        Ok::<_, Error>(())
                    }
                    .await;
                    if let Err(e) = res {
                        errors.push(e.to_string());
                    }
                }
                errors
            })
        })
        .collect();
    let mut errors = Vec::new();
    for t in tasks {
        errors.extend(t.await.unwrap());
    }
    assert!(
        errors.is_empty(),
        "{} errors, e.g. {:?}",
        errors.len(),
        &errors[..errors.len().min(3)]
    );
    let count: i64 = b
        .pool
        .query_one(&format!("SELECT count(*) FROM {}.items", b.schema), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, i64::try_from(TASKS * ROUNDS).unwrap());
    // More clients than PgBouncer has server connections, at once.
    assert!(b.pool.stats().created > u64::from(SERVER_POOL));
    let log = b.bouncer.log();
    assert!(!log.contains("does not exist"), "{log}");
    b.cleanup().await;
}

/// Runs one statement on client `b` after it was prepared (or its types learned)
/// with server A pinned by client `a`, and then server A freed while the other server
/// is pinned by `c`: the statement necessarily runs on another server connection than
/// the one it was prepared on.
async fn run_across_servers(pool: &Pool) -> Result<i32, Error> {
    let a = pool.get().await?;
    let b = pool.get().await?;
    let c = pool.get().await?;
    a.batch_execute("BEGIN").await?; // pins server connection A
    let sql = "SELECT $1::int + 1";
    let first: i32 = b.query_one(sql, &[&1_i32]).await?.get(0); // prepared on B
    assert_eq!(first, 2);
    c.batch_execute("BEGIN").await?; // pins B (the only free one)
    a.batch_execute("COMMIT").await?; // frees A
    let again = b.query_one(sql, &[&41_i32]).await.map(|r| r.get(0)); // must run on A
    c.batch_execute("COMMIT").await?;
    again
}

#[tokio::test]
async fn named_statements_break_and_unnamed_ones_do_not() {
    let Some(cached) = bounced(|b| b.session_setup(keel_db_pool::SessionSetup::SetCommands)).await
    else {
        return;
    };
    assert_eq!(cached.pool.config().statement_mode(), StatementMode::Cached);
    let err = run_across_servers(&cached.pool).await.unwrap_err();
    assert_eq!(
        err.sqlstate(),
        Some(&SqlState::INVALID_SQL_STATEMENT_NAME),
        "{err}"
    );
    assert!(err.to_string().contains("does not exist"), "{err}");
    cached.cleanup().await;

    let Some(unnamed) = bounced(ConfigBuilder::pgbouncer_transaction_mode).await else {
        return;
    };
    assert_eq!(run_across_servers(&unnamed.pool).await.unwrap(), 42);
    unnamed.cleanup().await;
}

#[tokio::test]
async fn learning_types_never_commits_a_raw_transaction() {
    let Some(b) = bounced(ConfigBuilder::pgbouncer_transaction_mode).await else {
        return;
    };
    let s = &b.schema;
    let conn = b.pool.get().await.unwrap();
    conn.batch_execute("BEGIN").await.unwrap();
    // A SQL text not seen before: its parameter types are learned inside the open
    // transaction, which must not be committed by that.
    conn.execute(
        &format!("INSERT INTO {s}.items (name, qty) VALUES ($1, $2)"),
        &[&"uncommitted", &1_i32],
    )
    .await
    .unwrap();
    conn.batch_execute("ROLLBACK").await.unwrap();
    let n: i64 = conn
        .query_one(&format!("SELECT count(*) FROM {s}.items"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0, "the raw transaction was committed");
    drop(conn);
    b.cleanup().await;
}

#[tokio::test]
async fn learned_types_follow_a_schema_change() {
    let Some(b) = bounced(ConfigBuilder::pgbouncer_transaction_mode).await else {
        return;
    };
    let (pool, s) = (&b.pool, &b.schema);
    let insert = format!("INSERT INTO {s}.items (name, qty) VALUES ($1, $2)");
    pool.execute(&insert, &[&"before", &1_i32]).await.unwrap();
    pool.execute(&format!("ALTER TABLE {s}.items ALTER qty TYPE bigint"), &[])
        .await
        .unwrap();
    // The cached types say int4; the parameter is now an i64: learned again, run once more.
    pool.execute(&insert, &[&"after", &(1_i64 << 40)])
        .await
        .unwrap();
    let big: i64 = pool
        .query_one(
            &format!("SELECT qty FROM {s}.items WHERE name = $1"),
            &[&"after"],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(big, 1 << 40);
    b.cleanup().await;
}
