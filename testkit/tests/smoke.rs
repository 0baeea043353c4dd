#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Proves the service harness: the servers `cargo xtask test` starts are reachable and
//! round-trip a value. Under `KEEL_REQUIRE_SERVICES=1` a missing URL fails the test.

#[tokio::test]
async fn postgres_round_trip() {
    let Some(url) = keel_testkit::database_url() else {
        return;
    };
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let row = client
        .query_one("SELECT $1::text || '-ok'", &[&"keel"])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "keel-ok");
}

#[tokio::test]
async fn redis_round_trip() {
    let Some(url) = keel_testkit::redis_url() else {
        return;
    };
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let key = keel_testkit::unique_name("smoke");
    let () = redis::cmd("SET")
        .arg(&key)
        .arg("v1")
        .arg("EX")
        .arg(60)
        .query_async(&mut conn)
        .await
        .unwrap();
    let got: String = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(got, "v1");
}

#[test]
fn temp_redis_restarts_on_the_same_port() {
    if keel_testkit::find_binary("redis-server", "KEEL_TEST_REDIS_SERVER", &["/usr/bin"]).is_none()
    {
        assert!(!keel_testkit::services_required(), "redis-server missing");
        return;
    }
    let mut r = keel_testkit::TempRedis::start_new().unwrap();
    let port = r.port();
    r.kill();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    r.start().unwrap();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
}
