//! The service's transport wiring over real sockets: its settings reach keel-http's
//! server, shed connections get the service's envelope and headers, and request ids end
//! up in error bodies. The transport itself (header timeout, cap, shedding, request-id
//! rules) is tested in keel-http.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::Opts;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HEADER_TIMEOUT: Duration = Duration::from_millis(300);

/// Reads until the server closes the connection; the time it took and what was read.
/// Fails if the server does not close within `limit`.
async fn read_until_closed(s: &mut TcpStream, limit: Duration) -> (Duration, String) {
    let start = Instant::now();
    let mut out = Vec::new();
    let res = tokio::time::timeout(limit, async {
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let out = String::from_utf8_lossy(&out).into_owned();
    assert!(res.is_ok(), "connection still open after {limit:?}: {out}");
    (start.elapsed(), out)
}

/// Sends `raw` on a fresh connection and returns the raw response (the server closes).
async fn exchange(addr: SocketAddr, raw: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(raw).await.unwrap();
    read_until_closed(&mut s, Duration::from_secs(5)).await.1
}

fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let head = response.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn body(response: &str) -> serde_json::Value {
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or(serde_json::Value::Null)
}

const LIVE: &[u8] = b"GET /health/live HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";

#[tokio::test]
async fn transport_settings_reach_the_server() {
    let Some(t) = common::spawn(Opts {
        env: vec![
            (
                "KEEL_HEADER_READ_TIMEOUT_MS",
                HEADER_TIMEOUT.as_millis().to_string(),
            ),
            ("KEEL_MAX_CONNECTIONS", "1".to_owned()),
            ("KEEL_HSTS", "true".to_owned()),
        ],
        ..Opts::default()
    })
    .await
    else {
        return;
    };
    let (addr, stop, server) = common::serve_on_socket(&t).await;

    // A slow client holds the only slot… (accepted before the next connection)
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /health/li").await.unwrap();
    let mut shed = String::new();
    for _ in 0..200 {
        shed = exchange(addr, LIVE).await;
        if shed.starts_with("HTTP/1.1 503 ") {
            break;
        }
        tokio::task::yield_now().await;
    }
    // …so the next connection is shed with the service's envelope and headers.
    assert!(shed.starts_with("HTTP/1.1 503 "), "{shed}");
    assert_eq!(header(&shed, "retry-after"), Some("1"), "{shed}");
    assert!(
        header(&shed, "strict-transport-security").is_some(),
        "{shed}"
    );
    for (name, _) in reference_service::middleware::SECURITY_HEADERS {
        assert!(header(&shed, name).is_some(), "{name} missing: {shed}");
    }
    let b = body(&shed);
    assert_eq!(b["error"]["code"], "SERVICE_UNAVAILABLE", "{shed}");
    assert_eq!(
        b["meta"]["request_id"].as_str(),
        header(&shed, "x-request-id")
    );

    // The slow client is dropped within the configured header timeout.
    let (elapsed, _) = read_until_closed(&mut slow, HEADER_TIMEOUT * 3).await;
    assert!(elapsed < HEADER_TIMEOUT * 3, "{elapsed:?}");
    drop(slow);
    let mut served = false;
    for _ in 0..200 {
        if exchange(addr, LIVE).await.starts_with("HTTP/1.1 200") {
            served = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(served, "the freed slot was never reused");
    stop.send(()).unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn request_ids_reach_error_bodies_and_invalid_ones_are_replaced() {
    let Some(t) = common::spawn(Opts::default()).await else {
        return;
    };
    let (addr, stop, server) = common::serve_on_socket(&t).await;
    let request = |id: &[u8]| {
        let mut r =
            b"GET /nowhere HTTP/1.1\r\nHost: test\r\nConnection: close\r\nX-Request-Id: ".to_vec();
        r.extend_from_slice(id);
        r.extend_from_slice(b"\r\n\r\n");
        r
    };

    let r = exchange(addr, &request(b"abc-123")).await;
    assert!(r.starts_with("HTTP/1.1 404"), "{r}");
    assert_eq!(header(&r, "x-request-id"), Some("abc-123"));
    assert_eq!(body(&r)["meta"]["request_id"], "abc-123");

    for id in [&b"\xff\xfe-not-utf8"[..], "caf\u{e9}".as_bytes()] {
        let r = exchange(addr, &request(id)).await;
        assert!(r.starts_with("HTTP/1.1 404"), "{r}");
        let echoed = header(&r, "x-request-id").expect("a generated id");
        assert_eq!(echoed.len(), 36, "a UUID: {echoed}");
        assert_eq!(body(&r)["meta"]["request_id"], echoed);
    }
    stop.send(()).unwrap();
    server.await.unwrap();
}
