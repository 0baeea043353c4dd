//! `Migrator` against the shared PostgreSQL (`KEEL_TEST_DATABASE_URL`), each test in its
//! own schema: replicas racing apply each migration once, a failure applies nothing, an
//! edited migration is refused, and a held lock is waited for only so long.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use keel_db_pool::{Config, Error, Migration, Migrator, Pool};

const V1: Migration = Migration::new(1, "create_items", "CREATE TABLE items (id int PRIMARY KEY)");
const V2: Migration = Migration::new(2, "items_name", "ALTER TABLE items ADD COLUMN name text");

fn pool(url: &str) -> Pool {
    let config = Config::builder()
        .url(url)
        .max_size(2)
        .statement_timeout(None);
    Pool::new(config.build().unwrap()).unwrap()
}

async fn count(pool: &Pool, sql: &str) -> i64 {
    pool.get()
        .await
        .unwrap()
        .query_one(sql, &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn racing_replicas_apply_each_migration_once_then_nothing() {
    let Some(url) = keel_testkit::database_url() else {
        return;
    };
    let schema = keel_testkit::unique_name("migr_race");
    let (a, b) = (pool(&url), pool(&url));
    let m = Migrator::new(&[V1, V2])
        .schema(&schema)
        .lock_key(0x1234_5678_0001);
    let (ra, rb) = tokio::join!(m.apply(&a), m.apply(&b));
    let mut applied = [ra.unwrap(), rb.unwrap()];
    applied.sort();
    assert_eq!(
        applied,
        [vec![], vec![1, 2]],
        "one replica applied both, the other none"
    );
    assert!(m.apply(&a).await.unwrap().is_empty());
    let history =
        format!("SELECT count(*) FROM \"{schema}\".keel_migrations WHERE checksum IS NOT NULL");
    assert_eq!(count(&a, &history).await, 2);
    a.get()
        .await
        .unwrap()
        .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_failing_migration_applies_nothing_and_an_edited_one_is_refused() {
    let Some(url) = keel_testkit::database_url() else {
        return;
    };
    let schema = keel_testkit::unique_name("migr_fail");
    let p = pool(&url);
    let broken = Migration::new(2, "broken", "ALTER TABLE nowhere ADD COLUMN x int");
    let m = Migrator::new(&[V1, broken])
        .schema(&schema)
        .lock_key(0x1234_5678_0002);
    assert!(matches!(m.apply(&p).await, Err(Error::Database { .. })));
    // V1 was rolled back with the failing V2: no table, no history.
    let tables = format!("SELECT count(*) FROM pg_tables WHERE schemaname = '{schema}'");
    assert_eq!(count(&p, &tables).await, 0);

    let m = Migrator::new(&[V1])
        .schema(&schema)
        .lock_key(0x1234_5678_0002);
    assert_eq!(m.apply(&p).await.unwrap(), vec![1]);
    let edited = Migration::new(
        1,
        "create_items",
        "CREATE TABLE items (id bigint PRIMARY KEY)",
    );
    let renamed = Migration::new(1, "make_items", V1.sql());
    for changed in [edited, renamed] {
        let err = Migrator::new(&[changed, V2])
            .schema(&schema)
            .apply(&p)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Migration(m) if m.contains("changed")),
            "{err}"
        );
    }
    // Nothing of V2 was applied by the refused runs.
    assert!(
        Migrator::new(&[V1, V2])
            .schema(&schema)
            .apply(&p)
            .await
            .unwrap()
            == vec![2]
    );

    let unordered = Migrator::new(&[V2, V1]).schema(&schema).apply(&p).await;
    assert!(matches!(unordered, Err(Error::Migration(_))));
    let bad = Migrator::new(&[V1])
        .schema("x\"; DROP SCHEMA public; --")
        .apply(&p)
        .await;
    assert!(matches!(bad, Err(Error::Config(_))));
    p.get()
        .await
        .unwrap()
        .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_held_lock_is_waited_for_only_until_the_lock_timeout() {
    let Some(url) = keel_testkit::database_url() else {
        return;
    };
    let schema = keel_testkit::unique_name("migr_lock");
    let key = 0x1234_5678_0003_i64;
    let p = pool(&url);
    // Another process holds the lock in an open transaction.
    let (holder, _conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(_conn);
    holder
        .batch_execute(&format!("BEGIN; SELECT pg_advisory_xact_lock({key})"))
        .await
        .unwrap();
    let m = Migrator::new(&[V1])
        .schema(&schema)
        .lock_key(key)
        .lock_timeout(Duration::from_millis(300));
    let err = m.apply(&p).await.unwrap_err();
    assert!(
        matches!(&err, Error::Migration(m) if m.contains("lock")),
        "{err}"
    );
    holder.batch_execute("COMMIT").await.unwrap();
    assert_eq!(m.apply(&p).await.unwrap(), vec![1]);
    p.get()
        .await
        .unwrap()
        .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .await
        .unwrap();
}
