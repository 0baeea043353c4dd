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
async fn refresh_sessions_end_their_access_tokens() {
    let Some(store) = refresh_store().await else {
        return;
    };
    support::sessions_end_their_access_tokens(store).await;
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

async fn mfa_store() -> Option<keel_auth::PgMfaStore> {
    let (pool, schema) = schema().await?;
    Some(keel_auth::PgMfaStore::with_schema(pool, &schema).unwrap())
}

#[tokio::test]
async fn mfa_enroll_confirm_and_log_in() {
    let Some(store) = mfa_store().await else {
        return;
    };
    support::mfa::enroll_confirm_and_log_in(store).await;
}

#[tokio::test]
async fn mfa_challenge_limits() {
    let Some(store) = mfa_store().await else {
        return;
    };
    support::mfa::challenge_limits(store).await;
}

#[tokio::test]
async fn mfa_recovery_codes_are_single_use() {
    let Some(store) = mfa_store().await else {
        return;
    };
    support::mfa::recovery_codes_are_single_use(store).await;
}

#[tokio::test]
async fn mfa_failures_lock_code_entry() {
    let Some(store) = mfa_store().await else {
        return;
    };
    support::mfa::failures_lock_code_entry(store).await;
}

/// The TOTP replay race against real PostgreSQL: 8 tasks on separate connections submit
/// the same code at once (through challenges and direct step-up); exactly one wins, five
/// rounds in a row.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mfa_totp_replay_race_exactly_one_succeeds() {
    let Some(store) = mfa_store().await else {
        return;
    };
    support::mfa::totp_replay_race(store, 8).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mfa_recovery_code_race_exactly_one_succeeds() {
    let Some(store) = mfa_store().await else {
        return;
    };
    support::mfa::recovery_code_race(store, 8).await;
}

#[tokio::test]
async fn mfa_purge_removes_only_dead_rows() {
    let Some(store) = mfa_store().await else {
        return;
    };
    support::mfa::purge_removes_only_dead_rows(store).await;
}

#[tokio::test]
async fn mfa_secrets_are_sealed_and_codes_hashed() {
    let Some((pool, schema)) = schema().await else {
        return;
    };
    let store = keel_auth::PgMfaStore::with_schema(pool.clone(), &schema).unwrap();
    let m = support::mfa::mfa(store, &support::clock(), support::mfa::config());
    let enrollment = m.enroll("sealed", "a@example.com").await.unwrap();
    let secret = enrollment.secret_base32().to_owned();
    let app = keel_crypto::Totp::from_base32(&secret).unwrap();
    let codes = m
        .confirm("sealed", &app.code_at(m.clock().unix_secs()))
        .await
        .unwrap();
    let row = pool
        .query_one(
            &format!("SELECT sealed_secret FROM \"{schema}\".mfa_totp WHERE subject = 'sealed'"),
            &[],
        )
        .await
        .unwrap();
    let sealed: String = row.get(0);
    assert!(!sealed.contains(&secret) && !sealed.contains(&secret.to_lowercase()));
    let rows = pool
        .query(
            &format!("SELECT code_hash FROM \"{schema}\".mfa_recovery_codes"),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), codes.len());
    for r in rows {
        let h: Vec<u8> = r.get(0);
        assert_eq!(h.len(), 32);
        assert!(
            codes
                .iter()
                .all(|c| !h.windows(4).any(|w| w == &c.as_bytes()[..4]))
        );
    }
    // A sealed secret copied to another subject's row does not open (bound to the subject).
    pool.execute(
        &format!(
            "INSERT INTO \"{schema}\".mfa_totp (subject, sealed_secret, created_at, confirmed_at)
             VALUES ('thief', $1, now(), now())"
        ),
        &[&sealed],
    )
    .await
    .unwrap();
    assert!(matches!(
        m.verify_code("thief", &app.code_at(m.clock().unix_secs() + 30))
            .await,
        Err(keel_auth::Error::Crypto(_))
    ));
}

async fn api_key_store() -> Option<keel_auth::PgApiKeyStore> {
    let (pool, schema) = schema().await?;
    Some(keel_auth::PgApiKeyStore::with_schema(pool, &schema).unwrap())
}

#[tokio::test]
async fn api_keys_create_verify_revoke() {
    let Some(store) = api_key_store().await else {
        return;
    };
    support::apikey::create_verify_revoke(store).await;
}

#[tokio::test]
async fn api_key_typos_never_reach_the_database() {
    let Some(store) = api_key_store().await else {
        return;
    };
    support::apikey::typos_never_reach_the_store(store).await;
}

#[tokio::test]
async fn api_key_same_id_wrong_secret() {
    let Some(store) = api_key_store().await else {
        return;
    };
    support::apikey::same_id_wrong_secret(store).await;
}

#[tokio::test]
async fn api_key_expiry_and_last_used() {
    let Some(store) = api_key_store().await else {
        return;
    };
    support::apikey::expiry_and_last_used(store).await;
}

#[tokio::test]
async fn api_key_input_limits() {
    let Some(store) = api_key_store().await else {
        return;
    };
    support::apikey::input_limits(store).await;
}

/// What every PostgreSQL store shares: schema names are checked before any SQL is built,
/// `Debug` names the store and its schema and nothing of the pool, and a database failure
/// (here: a schema that was never migrated) is an opaque `Store` error.
#[tokio::test]
async fn every_store_checks_its_schema_and_maps_database_errors() {
    use keel_auth::{
        ApiKeyStore as _, Error, MfaStore as _, PgApiKeyStore, PgMfaStore, PgTokenVersions,
        RefreshStore as _, SecretHash, TokenVersions as _,
    };
    use std::time::SystemTime;

    let Some(url) = keel_testkit::database_url() else {
        return;
    };
    let pool = Pool::from_url(&url).unwrap();
    for bad in ["", "Keel", "1st", "a-b", "x\"; DROP TABLE users; --"] {
        assert!(matches!(
            PgRefreshStore::with_schema(pool.clone(), bad),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            PgTokenVersions::with_schema(pool.clone(), bad),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            PgMfaStore::with_schema(pool.clone(), bad),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            PgApiKeyStore::with_schema(pool.clone(), bad),
            Err(Error::Config(_))
        ));
    }
    assert_eq!(
        PgApiKeyStore::new(pool.clone()).schema(),
        migrations::DEFAULT_SCHEMA
    );

    let schema = keel_testkit::unique_name("keel_auth_none"); // never migrated
    let refresh = PgRefreshStore::with_schema(pool.clone(), &schema).unwrap();
    let versions = PgTokenVersions::with_schema(pool.clone(), &schema).unwrap();
    let mfa = PgMfaStore::with_schema(pool.clone(), &schema).unwrap();
    let keys = PgApiKeyStore::with_schema(pool.clone(), &schema).unwrap();
    assert_eq!(refresh.schema(), schema);
    assert_eq!(
        format!("{refresh:?} {versions:?} {mfa:?} {keys:?}"),
        format!(
            "PgRefreshStore {{ schema: {schema:?}, .. }} PgTokenVersions {{ schema: {schema:?}, .. }} \
             PgMfaStore {{ schema: {schema:?}, .. }} PgApiKeyStore {{ schema: {schema:?}, .. }}"
        )
    );
    let now = SystemTime::now();
    let store_error = |r: Result<(), Error>| matches!(r, Err(Error::Store(_)));
    assert!(store_error(refresh.purge(now).await.map(drop)));
    assert!(store_error(versions.get("user-1", now).await.map(drop)));
    assert!(store_error(versions.purge(now).await.map(drop)));
    assert!(store_error(
        mfa.consume_challenge(SecretHash::of("c")).await.map(drop)
    ));
    assert!(store_error(mfa.remove("user-1").await.map(drop))); // in a transaction
    assert!(store_error(keys.find("kid").await.map(drop)));
}
