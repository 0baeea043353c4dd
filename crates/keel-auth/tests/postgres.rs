//! The PostgreSQL stores against a real server (`KEEL_TEST_DATABASE_URL`), each test in its
//! own schema: migrations, the refresh-token contract, and the races that must be atomic.
#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use keel_auth::{PgRefreshStore, migrations};
use keel_db_pool::{Config, Pool};

/// A pool and a fresh schema with every migration applied; `None` when no server is
/// configured (a failure under `KEEL_REQUIRE_SERVICES=1`).
async fn schema() -> Option<(Pool, String)> {
    let url = keel_testkit::database_url()?;
    let config = Config::builder()
        .url(&url)
        .max_size(16)
        .build()
        .expect("pool config");
    let pool = Pool::connect(config).await.expect("connect to PostgreSQL");
    let schema = keel_testkit::unique_name("keel_auth_t");
    let applied = migrations::apply(&pool, &schema).await.expect("migrations");
    assert_eq!(
        applied,
        migrations::MIGRATIONS
            .iter()
            .map(|m| m.version())
            .collect::<Vec<_>>()
    );
    Some((pool, schema))
}

async fn refresh_store() -> Option<PgRefreshStore> {
    let (pool, schema) = schema().await?;
    Some(PgRefreshStore::with_schema(pool, &schema).unwrap())
}

#[tokio::test]
async fn migrations_are_idempotent_and_serialized() {
    let Some((pool, schema)) = schema().await else {
        return;
    };
    // Up to date: nothing applied, even from several concurrent callers.
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (pool, schema) = (pool.clone(), schema.clone());
        tasks.push(tokio::spawn(async move {
            migrations::apply(&pool, &schema).await
        }));
    }
    for t in tasks {
        assert!(t.await.unwrap().unwrap().is_empty());
    }
    // A fresh schema applied concurrently: exactly one caller applies each version.
    let fresh = keel_testkit::unique_name("keel_auth_t");
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (pool, fresh) = (pool.clone(), fresh.clone());
        tasks.push(tokio::spawn(async move {
            migrations::apply(&pool, &fresh).await
        }));
    }
    let mut applied = Vec::new();
    for t in tasks {
        applied.extend(t.await.unwrap().unwrap());
    }
    assert_eq!(applied.len(), migrations::MIGRATIONS.len());
    assert!(matches!(
        migrations::apply(&pool, "Bad-Name").await,
        Err(keel_auth::Error::Config(_))
    ));
}

#[tokio::test]
async fn refresh_rotation_and_reuse_revokes_the_family() {
    let Some(store) = refresh_store().await else {
        return;
    };
    support::rotation_and_reuse(store).await;
}

#[tokio::test]
async fn refresh_idle_and_absolute_lifetimes() {
    let Some(store) = refresh_store().await else {
        return;
    };
    support::idle_and_absolute_expiry(store).await;
}

#[tokio::test]
async fn refresh_logout_and_logout_everywhere() {
    let Some(store) = refresh_store().await else {
        return;
    };
    support::logout_and_logout_everywhere(store).await;
}

#[tokio::test]
async fn refresh_per_subject_cap() {
    let Some(store) = refresh_store().await else {
        return;
    };
    support::per_subject_cap(store).await;
}

#[tokio::test]
async fn refresh_malformed_tokens() {
    let Some(store) = refresh_store().await else {
        return;
    };
    support::malformed_tokens(store).await;
}

#[tokio::test]
async fn refresh_purge() {
    let Some(store) = refresh_store().await else {
        return;
    };
    support::purge_ended(store, true).await;
}

/// 16 tasks on 16 connections present the same token at once: PostgreSQL's row lock lets
/// at most one rotate it. Repeated to give the race many chances.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_with_the_same_token_at_most_one_succeeds() {
    let Some(store) = refresh_store().await else {
        return;
    };
    for _ in 0..10 {
        support::concurrent_refresh(store.clone(), 16).await;
    }
}

#[tokio::test]
async fn only_hashes_are_stored() {
    let Some((pool, schema)) = schema().await else {
        return;
    };
    let store = PgRefreshStore::with_schema(pool.clone(), &schema).unwrap();
    let t = support::tokens(store, &support::clock(), Default::default());
    let issued = t.issue("hashes").await.unwrap();
    let secret = issued.token().expose_secret().as_bytes().to_vec();
    let rows = pool
        .query(
            &format!("SELECT token_hash FROM \"{schema}\".refresh_tokens"),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let stored: Vec<u8> = rows[0].get(0);
    assert_eq!(stored.len(), 32);
    assert_ne!(stored, secret);
    assert_eq!(
        stored,
        keel_auth::SecretHash::of(issued.token().expose_secret())
            .as_bytes()
            .to_vec()
    );
}
