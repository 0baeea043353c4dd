//! `flow::PgAccounts` against a real PostgreSQL (`KEEL_TEST_DATABASE_URL`), each test in
//! its own schema: case-insensitive logins, subjects of every type checked before any
//! query, hash updates, `NULL` hashes, quoted reserved names, and names that never become
//! SQL.
#![cfg(all(feature = "postgres", feature = "ratelimit"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use keel_auth::flow::{AccountStore, PgAccounts, PgAccountsConfig, SubjectType};
use keel_auth::login::LoginEmail;
use keel_db_pool::{Config, Pool};

/// A pool and a fresh schema; `None` when no server is configured (a failure under
/// `KEEL_REQUIRE_SERVICES=1`).
async fn schema() -> Option<(Pool, String)> {
    let url = keel_testkit::database_url()?;
    let config = Config::builder().url(&url).max_size(4).build().unwrap();
    let pool = Pool::connect(config).await.expect("connect to PostgreSQL");
    let schema = keel_testkit::unique_name("keel_auth_accounts");
    pool.execute(&format!("CREATE SCHEMA {schema}"), &[])
        .await
        .unwrap();
    Some((pool, schema))
}

const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";

/// A users table as the reference service has it: uuid ids, a unique index on
/// `lower(email)`, a role, names, `updated_at`.
async fn users(pool: &Pool, schema: &str) -> PgAccounts {
    let ddl = format!(
        "CREATE TABLE {schema}.users (
             id uuid PRIMARY KEY, email text NOT NULL, password_hash text,
             role text NOT NULL DEFAULT 'user', first_name text NOT NULL, last_name text,
             updated_at timestamptz NOT NULL DEFAULT '2000-01-01');
         CREATE UNIQUE INDEX ON {schema}.users (lower(email));
         INSERT INTO {schema}.users (id, email, password_hash, role, first_name, last_name) VALUES
             ('0191e5b2-6c1a-7d3e-9f00-1234567890ab', 'Ada@Example.org', '{HASH}', 'admin', 'Ada', 'Lovelace'),
             ('0191e5b2-6c1a-7d3e-9f00-0000000000bb', 'bob@example.org', '{HASH}', 'user', 'Bob', NULL),
             ('0191e5b2-6c1a-7d3e-9f00-0000000000cc', 'sso@example.org', NULL, 'user', 'Sso', 'Only');"
    );
    pool.get().await.unwrap().batch_execute(&ddl).await.unwrap();
    let config = PgAccountsConfig::builder("users")
        .schema(schema)
        .role("role")
        .context(["first_name", "last_name"])
        .updated_at("updated_at")
        .build()
        .unwrap();
    PgAccounts::new(pool.clone(), config)
}

fn email(s: &str) -> LoginEmail {
    LoginEmail::parse(s).unwrap()
}

const ADA: &str = "0191e5b2-6c1a-7d3e-9f00-1234567890ab";

#[tokio::test]
async fn logins_match_case_insensitively_and_read_the_whole_account() {
    let Some((pool, schema)) = schema().await else {
        return;
    };
    let accounts = users(&pool, &schema).await;
    let ada = accounts
        .find_by_login(&email("ADA@example.ORG"))
        .await
        .unwrap()
        .expect("ada");
    assert_eq!(ada.subject(), ADA);
    assert_eq!(ada.login(), "Ada@Example.org");
    assert_eq!(ada.password_hash(), HASH);
    assert_eq!(ada.role_names(), ["admin"]);
    assert_eq!(ada.context_words(), ["Ada", "Lovelace"]);
    // A NULL context column keeps its position as an empty word.
    let bob = accounts.find_by_login(&email("bob@example.org")).await;
    assert_eq!(bob.unwrap().unwrap().context_words(), ["Bob", ""]);
    assert!(
        accounts
            .find_by_login(&email("nobody@example.org"))
            .await
            .unwrap()
            .is_none()
    );
    // No password hash: no account for the session flow, by login or by subject.
    let sso = accounts.find_by_login(&email("sso@example.org")).await;
    assert!(sso.unwrap().is_none());
    let sso = accounts
        .find_by_subject("0191e5b2-6c1a-7d3e-9f00-0000000000cc")
        .await;
    assert!(sso.unwrap().is_none());
}

#[tokio::test]
async fn subjects_are_checked_before_they_reach_the_database() {
    let Some((pool, schema)) = schema().await else {
        return;
    };
    let accounts = users(&pool, &schema).await;
    let ada = accounts.find_by_subject(ADA).await.unwrap().expect("ada");
    assert_eq!(ada.subject(), ADA);
    let upper = accounts.find_by_subject(&ADA.to_uppercase()).await.unwrap();
    assert_eq!(upper.expect("same uuid").subject(), ADA);
    // Not UUIDs: "no such account", never a store error from a failed cast.
    for bad in [
        "",
        "ada",
        "1",
        "'; DROP TABLE users; --",
        &ADA[1..],
        &format!("{ADA}0"),
    ] {
        assert!(
            accounts.find_by_subject(bad).await.unwrap().is_none(),
            "{bad:?}"
        );
        assert!(
            !accounts.set_password_hash(bad, HASH).await.unwrap(),
            "{bad:?}"
        );
    }
    let unknown = "0191e5b2-6c1a-7d3e-9f00-ffffffffffff";
    assert!(accounts.find_by_subject(unknown).await.unwrap().is_none());
    assert!(!accounts.set_password_hash(unknown, HASH).await.unwrap());
}

#[tokio::test]
async fn a_new_hash_is_stored_and_touches_updated_at() {
    let Some((pool, schema)) = schema().await else {
        return;
    };
    let accounts = users(&pool, &schema).await;
    assert!(accounts.set_password_hash(ADA, "$new$hash").await.unwrap());
    let ada = accounts.find_by_subject(ADA).await.unwrap().unwrap();
    assert_eq!(ada.password_hash(), "$new$hash");
    let sql =
        format!("SELECT updated_at > '2000-01-01' FROM {schema}.users WHERE id = $1::text::uuid");
    let touched: bool = pool.query_one(&sql, &[&ADA]).await.unwrap().get(0);
    assert!(touched);
    // Only that row changed.
    let bob = accounts.find_by_login(&email("bob@example.org")).await;
    assert_eq!(bob.unwrap().unwrap().password_hash(), HASH);
}

#[tokio::test]
async fn integer_and_text_subjects_and_reserved_names() {
    let Some((pool, schema)) = schema().await else {
        return;
    };
    // `user` and `order` are reserved words: quoted, they work.
    let ddl = format!(
        "CREATE TABLE {schema}.\"user\" (\"order\" bigint PRIMARY KEY, login text, pw text);
         INSERT INTO {schema}.\"user\" VALUES (7, 'seven@example.org', 'h7');
         CREATE TABLE {schema}.members (handle varchar(64) PRIMARY KEY, email text, pw text);
         INSERT INTO {schema}.members VALUES ('ada-l', 'ada@example.org', 'ha');"
    );
    pool.get().await.unwrap().batch_execute(&ddl).await.unwrap();
    let numbered = PgAccountsConfig::builder("user")
        .schema(&schema)
        .subject("order", SubjectType::BigInt)
        .login("login")
        .password_hash("pw")
        .build()
        .unwrap();
    let numbered = PgAccounts::new(pool.clone(), numbered);
    let seven = numbered.find_by_login(&email("seven@example.org")).await;
    let seven = seven.unwrap().unwrap();
    assert_eq!((seven.subject(), seven.role_names()), ("7", &[][..]));
    assert!(numbered.find_by_subject("7").await.unwrap().is_some());
    for bad in ["007", "-7", "9223372036854775808", "seven"] {
        assert!(
            numbered.find_by_subject(bad).await.unwrap().is_none(),
            "{bad}"
        );
    }
    assert!(numbered.set_password_hash("7", "h8").await.unwrap());

    let handles = PgAccountsConfig::builder("members")
        .schema(&schema)
        .subject("handle", SubjectType::Text)
        .password_hash("pw")
        .build()
        .unwrap();
    let handles = PgAccounts::new(pool.clone(), handles);
    let ada = handles.find_by_subject("ada-l").await.unwrap().unwrap();
    assert_eq!(ada.login(), "ada@example.org");
    assert!(handles.find_by_subject("ADA-L").await.unwrap().is_none());
    // A hostile subject is only ever a parameter.
    let hostile = "x' OR '1'='1";
    assert!(handles.find_by_subject(hostile).await.unwrap().is_none());
    assert!(!handles.set_password_hash(hostile, "owned").await.unwrap());
    let ada = handles.find_by_subject("ada-l").await.unwrap().unwrap();
    assert_eq!(ada.password_hash(), "ha");
}

#[tokio::test]
async fn a_missing_table_is_a_store_error() {
    let Some((pool, schema)) = schema().await else {
        return;
    };
    let config = PgAccountsConfig::builder("absent")
        .schema(&schema)
        .build()
        .unwrap();
    let accounts = PgAccounts::new(pool, config);
    let err = accounts.find_by_subject(ADA).await.unwrap_err();
    assert!(matches!(err, keel_auth::Error::Store(_)), "{err:?}");
}
