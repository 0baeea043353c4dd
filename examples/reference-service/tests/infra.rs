//! The service on real infrastructure beyond one plain PostgreSQL and one Redis: TLS to
//! PostgreSQL (`sslmode=verify-full`), TLS to Redis (`rediss://` with a private CA), a
//! Redis Cluster shared by two instances, and PgBouncer in transaction pooling. Every
//! server is private to its test, started by keel-testkit on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use common::{Opts, TestApp};
use http::{Method, StatusCode};
use keel_testkit::{PoolMode, TempPgBouncer, TempPostgres, TempRedis, TempRedisCluster, TestCa};
use reference_service::{AppState, Config, migrate};

/// A directory for one test's servers and certificate files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(keel_testkit::unique_name(name));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_pem(dir: &Path, name: &str, pem: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, pem).unwrap();
    path.display().to_string()
}

/// A server the test needs; missing binaries fail the test (never a silent skip).
fn started<T>(what: &str, r: Result<T, String>) -> T {
    r.unwrap_or_else(|e| panic!("cannot start {what}: {e}"))
}

/// How long a test's own Redis connection may take.
const WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The service's configuration over `env` (on top of the test defaults).
fn config(env: &[(&str, String)]) -> Config {
    config_result(env).unwrap()
}

/// What the configuration refuses, one problem a line.
fn config_err(env: &[(&str, String)]) -> String {
    config_result(env).unwrap_err().to_string()
}

fn config_result(env: &[(&str, String)]) -> Result<Config, reference_service::config::ConfigError> {
    let mut map: HashMap<&str, String> = HashMap::from([
        ("KEEL_JWT_SECRET", common::JWT_SECRET.to_owned()),
        ("KEEL_ENCRYPTION_KEYS", common::KEYS.to_owned()),
        ("KEEL_PASSWORD_HASH", "m=64,t=1,p=1".to_owned()),
        ("KEEL_DEV_MODE", "true".to_owned()),
        ("KEEL_RATE_LIMIT_GLOBAL", "off".to_owned()),
    ]);
    for (k, v) in env {
        map.insert(k, v.clone());
    }
    Config::from_lookup(|k| map.get(k).cloned())
}

async fn me(t: &TestApp, token: &str) -> common::Res {
    t.call(Method::GET, "/api/v1/users/me", Some(token), None)
        .await
}

// ---------------------------------------------------------------------------------------
// PostgreSQL over TLS

#[tokio::test]
async fn postgres_verify_full_connects_encrypted_and_a_wrong_ca_stops_startup() {
    let dir = scratch("refsvc-pgtls");
    let ca = TestCa::new("refsvc test CA").unwrap();
    let cert = ca.server_cert(&["localhost", "127.0.0.1"]).unwrap();
    let pg = started("TLS PostgreSQL", TempPostgres::start_with_tls(&dir, &cert));
    let ca_file = write_pem(&dir, "ca.pem", ca.cert_pem());
    let tls_url = format!("{}?sslmode=verify-full&sslrootcert={ca_file}", pg.url());

    let schema = keel_testkit::unique_name("refsvc_tls");
    common::admin_client(&pg.url())
        .await
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .unwrap();
    let t = common::spawn(Opts {
        database_url: Some(pg.url()),
        schema: Some(schema.clone()),
        env: vec![("DATABASE_URL", common::with_search_path(&tls_url, &schema))],
        ..Opts::default()
    })
    .await
    .unwrap();
    assert_eq!(
        t.state.db.config().ssl_mode(),
        keel_db_pool::SslMode::VerifyFull
    );
    // Migrations ran over TLS (spawn), and the service's use cases work over it.
    let (_, token) = t.user("tls@example.com").await;
    let res = me(&t, &token).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    // The pool's sessions are encrypted.
    let row = t
        .state
        .db
        .query_one(
            "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0), "pool session is not encrypted");
    assert!(row.get::<_, String>(1).starts_with("TLSv1."));
    drop(t);

    // A certificate from another CA: startup stops, naming the cause.
    let other = TestCa::new("someone else's CA").unwrap();
    let wrong = write_pem(&dir, "other.pem", other.cert_pem());
    let wrong_url = format!(
        "{}?sslmode=verify-full&sslrootcert={wrong}&options=-c%20search_path%3D{schema}",
        pg.url()
    );
    let cfg = config(&[
        ("DATABASE_URL", wrong_url),
        ("KEEL_AUTH_SCHEMA", schema.clone()),
    ]);
    let err = migrate::all(&cfg).await.unwrap_err();
    assert!(
        err.contains("not signed by a trusted root certificate"),
        "migrate: {err}"
    );
    let err = AppState::new(cfg).await.unwrap_err().to_string();
    assert!(
        err.starts_with("DATABASE_URL: TLS to PostgreSQL failed")
            && err.contains("not signed by a trusted root certificate"),
        "startup: {err}"
    );
    assert!(
        !err.contains(&wrong),
        "no file paths or URLs in the message: {err}"
    );

    // An unreadable root certificate is refused with the configuration's other problems,
    // before anything connects.
    let missing = format!(
        "{}?sslmode=verify-full&sslrootcert={}/missing.pem",
        pg.url(),
        dir.display()
    );
    let err = config_err(&[("DATABASE_URL", missing)]);
    assert!(err.contains("- DATABASE_URL is refused: "), "{err}");
    assert!(err.contains("cannot read sslrootcert"), "{err}");
    drop(pg);
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------
// Redis over TLS

/// Every key under `prefix` on one node.
async fn keys(client: &redis::Client, prefix: &str) -> Vec<String> {
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn rediss_with_a_private_ca_carries_the_limits_and_a_wrong_ca_is_refused() {
    let dir = scratch("refsvc-redistls");
    let ca = TestCa::new("refsvc redis CA").unwrap();
    let server = started("TLS redis-server", TempRedis::start_with_tls(&ca));
    assert!(server.url().starts_with("rediss://"));
    let ca_file = write_pem(&dir, "ca.pem", ca.cert_pem());
    let prefix = keel_testkit::unique_name("refsvc_tls");
    let t = common::spawn(Opts {
        env: vec![
            ("REDIS_URL", server.url()),
            ("KEEL_REDIS_CA_FILE", ca_file.clone()),
            ("KEEL_REDIS_PREFIX", prefix.clone()),
            ("KEEL_RATE_LIMIT_GLOBAL", "100/minute".to_owned()),
        ],
        ..Opts::default()
    })
    .await
    .unwrap();

    // The service's Redis (limiters, login policy, health check) is the TLS one.
    let redis = t.state.config.redis.clone().unwrap();
    let mut conn = redis.connect(WAIT).await.unwrap();
    let pong: String = redis::cmd("PING").query_async(&mut conn).await.unwrap();
    assert_eq!(pong, "PONG");

    // The global limit is decided in the TLS Redis: its key appears there. (The
    // limiter's first connection, TLS handshake included, may outlast its 50 ms call
    // timeout: those first decisions are the in-memory fallback's, and it probes Redis
    // again once a second.)
    let pem = ca.cert_pem().as_bytes().to_vec();
    let certs = redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(pem),
    };
    let client = redis::Client::build_with_tls(server.url(), certs).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let r = t.call(Method::GET, "/api/v1/users/me", None, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
        if !keys(&client, &format!("{prefix}:rl:global:"))
            .await
            .is_empty()
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no limiter key in the TLS Redis after 5 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    // A CA that did not sign the server's certificate: no connection.
    let other = TestCa::new("someone else's CA").unwrap();
    let wrong = write_pem(&dir, "other.pem", other.cert_pem());
    let cfg = config(&[
        (
            "DATABASE_URL",
            "postgres://postgres@127.0.0.1/postgres".into(),
        ),
        ("REDIS_URL", server.url()),
        ("KEEL_REDIS_CA_FILE", wrong),
    ]);
    let err = cfg.redis.unwrap().connect(WAIT).await.unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "expected a certificate error, got {err}"
    );
    // A CA file that is not a certificate is refused at startup.
    let junk = write_pem(&dir, "junk.pem", "not a certificate");
    let err = config_err(&[
        (
            "DATABASE_URL",
            "postgres://postgres@127.0.0.1/postgres".into(),
        ),
        ("REDIS_URL", server.url()),
        ("KEEL_REDIS_CA_FILE", junk),
    ]);
    assert!(
        err.contains("KEEL_REDIS_CA_FILE") && err.contains("no PEM certificate"),
        "{err}"
    );
    drop(t);
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------
// Redis Cluster

#[tokio::test]
async fn a_redis_cluster_carries_a_limit_shared_by_two_instances() {
    let cluster = started("a Redis Cluster", TempRedisCluster::start_new(3));
    let prefix = keel_testkit::unique_name("refsvc_cluster");
    let env = vec![
        ("KEEL_REDIS_CLUSTER_URLS", cluster.urls().join(",")),
        ("KEEL_REDIS_PREFIX", prefix.clone()),
        ("KEEL_RATE_LIMIT_GLOBAL", "4/minute".to_owned()),
    ];
    let a = common::spawn(Opts {
        env: env.clone(),
        ..Opts::default()
    })
    .await
    .unwrap();
    let b = common::spawn(Opts {
        schema: Some(a.schema.clone()),
        env,
        ..Opts::default()
    })
    .await
    .unwrap();
    assert!(a.state.config.redis.as_ref().unwrap().is_cluster());

    // One quota of 4 for both instances: 2 + 2 pass, then both refuse. In-memory
    // limits would let each pass 4.
    for t in [&a, &b, &a, &b] {
        let r = t.call(Method::GET, "/api/v1/users/me", None, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    }
    for t in [&a, &b] {
        t.call(Method::GET, "/api/v1/users/me", None, None)
            .await
            .expect_error(429, "RATE_LIMITED");
    }
    let mut found = 0;
    for url in cluster.urls() {
        found += keys(&redis::Client::open(url).unwrap(), &prefix)
            .await
            .len();
    }
    assert!(found > 0, "no key of this test in the cluster");

    // The health check's connection: a cluster connection.
    let mut conn = b
        .state
        .config
        .redis
        .as_ref()
        .unwrap()
        .connect(WAIT)
        .await
        .unwrap();
    let pong: String = redis::cmd("PING").query_async(&mut conn).await.unwrap();
    assert_eq!(pong, "PONG");
}

#[tokio::test]
async fn while_redis_is_down_each_replica_enforces_its_share() {
    // A Redis URL nothing listens on: every decision falls back to memory.
    let dead = format!("redis://127.0.0.1:{}", keel_testkit::free_port());
    let t = common::spawn(Opts {
        env: vec![
            ("REDIS_URL", dead),
            (
                "KEEL_REDIS_PREFIX",
                keel_testkit::unique_name("refsvc_share"),
            ),
            ("KEEL_RATE_LIMIT_GLOBAL", "4/minute".to_owned()),
            ("KEEL_REPLICAS", "2".to_owned()),
        ],
        ..Opts::default()
    })
    .await
    .unwrap();
    // 4 per minute among 2 replicas: this one passes 2 (burst 4 / 2), not 4.
    for _ in 0..2 {
        let r = t.call(Method::GET, "/api/v1/users/me", None, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    }
    t.call(Method::GET, "/api/v1/users/me", None, None)
        .await
        .expect_error(429, "RATE_LIMITED");
}

// ---------------------------------------------------------------------------------------
// PgBouncer

#[tokio::test]
async fn the_service_works_behind_pgbouncer_in_transaction_mode() {
    let dir = scratch("refsvc-bouncer");
    // A private server: the role settings migrations write (ALTER ROLE) stay in it.
    let pg = started("PostgreSQL", TempPostgres::start_new(&dir));
    // Fewer server connections than the pool's clients: sessions are really shared.
    let bouncer = started(
        "PgBouncer",
        TempPgBouncer::start_new(&dir, &pg.url(), PoolMode::Transaction, 2),
    );
    let cfg = config(&[
        ("DATABASE_URL", bouncer.url()),
        ("DATABASE_POOL_PGBOUNCER", "transaction".into()),
        ("KEEL_MIGRATIONS_DATABASE_URL", pg.url()),
        ("DATABASE_POOL_MAX_SIZE", "6".into()),
        ("KEEL_RATE_LIMIT_SIGNUP", "100/minute".into()),
    ]);
    migrate::all(&cfg).await.unwrap();
    let state = AppState::new(cfg).await.unwrap();
    let app = reference_service::routes::app(&state, None);
    let t = TestApp {
        app,
        state,
        schema: "public".into(),
        database_url: pg.url(),
    };

    // Concurrent signups: statements of different clients interleave on the 2 server
    // connections (named statements would collide); then logins and reads.
    let users = signups_then_logins(&t, 8).await;
    for (id, token) in &users {
        let res = me(&t, token).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        assert_eq!(res.body["data"]["id"].as_str(), Some(id.as_str()));
    }
    // Outside a transaction a statement gets the role's settings (written by migrate).
    let timeout: String = t
        .state
        .db
        .query_one("SHOW statement_timeout", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(timeout, "30s");
    // Every write reached PostgreSQL.
    let count: i64 = common::admin_client(&pg.url())
        .await
        .query_one("SELECT count(*) FROM users", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 8);
    assert!(
        !bouncer.log().contains("prepared statement"),
        "{}",
        bouncer.log()
    );
    drop(t);
    drop(bouncer);
    drop(pg);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `n` users signed up concurrently, then logged in; (id, token) each.
async fn signups_then_logins(t: &TestApp, n: usize) -> Vec<(String, String)> {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let app = TestApp {
            app: t.app.clone(),
            state: t.state.clone(),
            schema: t.schema.clone(),
            database_url: t.database_url.clone(),
        };
        set.spawn(async move {
            let email = format!("bouncer{i}@example.com");
            let s = app.signup(&email).await;
            assert_eq!(s.status, StatusCode::CREATED, "{}", s.body);
            (email, s.body["data"]["id"].as_str().unwrap().to_owned())
        });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        // Logins one at a time: keel-auth's login policy bounds concurrent attempts per
        // client address (all of these come from loopback).
        let (email, id) = r.unwrap();
        let l = t.login(&email, common::PASSWORD).await;
        assert_eq!(l.status, StatusCode::OK, "{}", l.body);
        out.push((
            id,
            l.body["data"]["access_token"].as_str().unwrap().to_owned(),
        ));
    }
    out
}
