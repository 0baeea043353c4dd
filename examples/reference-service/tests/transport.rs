//! The transport over real sockets: header-read timeout, connection cap and shedding,
//! request-id replacement.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::Opts;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HEADER_TIMEOUT: Duration = Duration::from_millis(300);

async fn service(env: Vec<(&'static str, String)>) -> Option<common::TestApp> {
    common::spawn(Opts {
        env,
        ..Opts::default()
    })
    .await
}

/// Reads until the server closes the connection; the time it took and what was read.
/// Fails if the server does not close within `limit`.
async fn read_until_closed(s: &mut TcpStream, limit: Duration) -> (Duration, Vec<u8>) {
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
    assert!(
        res.is_ok(),
        "connection still open after {limit:?}; read so far: {:?}",
        String::from_utf8_lossy(&out)
    );
    (start.elapsed(), out)
}

/// Sends `raw` on a fresh connection and returns the raw response (the server closes).
async fn exchange(addr: SocketAddr, raw: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(raw).await.unwrap();
    let (_, out) = read_until_closed(&mut s, Duration::from_secs(5)).await;
    String::from_utf8_lossy(&out).into_owned()
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

#[tokio::test]
async fn half_sent_requests_are_dropped_within_the_header_timeout() {
    let Some(t) = service(vec![(
        "KEEL_HEADER_READ_TIMEOUT_MS",
        HEADER_TIMEOUT.as_millis().to_string(),
    )])
    .await
    else {
        return;
    };
    let (addr, stop, server) = common::serve_on_socket(&t).await;

    // Each kind of slow client, on its own connection, all at once.
    let partial: [&[u8]; 4] = [
        b"",                                                        // connects, sends nothing
        b"GET /health/li",                                          // half a request line
        b"GET /health/live HTTP/1.1\r\nHost: test\r\n",             // headers never finished
        b"GET /health/live HTTP/1.1\r\nHost: test\r\nX-Slow: aaaa", // mid-header
    ];
    let mut tasks = Vec::new();
    for raw in partial {
        tasks.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(raw).await.unwrap();
            read_until_closed(&mut s, HEADER_TIMEOUT * 2).await
        }));
    }
    // A kept-alive connection idle after one complete request is closed as well.
    tasks.push(tokio::spawn(async move {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /health/live HTTP/1.1\r\nHost: test\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        read_until_closed(&mut s, HEADER_TIMEOUT * 2).await
    }));
    for task in tasks {
        let (elapsed, _) = task.await.unwrap();
        // Closed by the timeout, not at once for some other reason.
        assert!(
            elapsed >= HEADER_TIMEOUT.mul_f32(0.8),
            "closed after {elapsed:?}, before the timeout"
        );
    }

    // A complete request on the same server is still served.
    let ok = exchange(
        addr,
        b"GET /health/live HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    stop.send(()).unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn connections_over_the_cap_are_shed_with_a_503_envelope() {
    let Some(t) = service(vec![("KEEL_MAX_CONNECTIONS", "2".to_owned())]).await else {
        return;
    };
    let (addr, stop, server) = common::serve_on_socket(&t).await;

    // Two connections hold both slots (accepted in order, before the third).
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /health/live HTTP/1.1\r\nHost: test\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "slot holder served");
        held.push(s);
    }

    let shed = exchange(addr, b"GET /health/live HTTP/1.1\r\nHost: test\r\n\r\n").await;
    assert!(shed.starts_with("HTTP/1.1 503 "), "{shed}");
    assert_eq!(header(&shed, "retry-after"), Some("1"), "{shed}");
    assert_eq!(header(&shed, "connection"), Some("close"), "{shed}");
    assert_eq!(header(&shed, "content-type"), Some("application/json"));
    for (name, _) in reference_service::middleware::SECURITY_HEADERS {
        assert!(header(&shed, name).is_some(), "{name} missing: {shed}");
    }
    let b = body(&shed);
    assert_eq!(b["success"], false, "{shed}");
    assert_eq!(b["error"]["code"], "SERVICE_UNAVAILABLE", "{shed}");
    assert_eq!(
        b["meta"]["request_id"].as_str(),
        header(&shed, "x-request-id"),
        "{shed}"
    );

    // A freed slot is usable again: every answer is either the 503 or, once the
    // server has seen the close, a 200 (bounded number of attempts, no sleeping).
    drop(held.pop());
    let mut served = false;
    for _ in 0..200 {
        let r = exchange(
            addr,
            b"GET /health/live HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
        )
        .await;
        if r.starts_with("HTTP/1.1 200") {
            served = true;
            break;
        }
        assert!(r.starts_with("HTTP/1.1 503 "), "{r}");
        tokio::task::yield_now().await;
    }
    assert!(served, "a freed slot was never reused");
    drop(held);
    stop.send(()).unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn invalid_request_ids_are_replaced() {
    let Some(t) = service(Vec::new()).await else {
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

    // A sane id is echoed, in the header and the error body.
    let r = exchange(addr, &request(b"abc-123")).await;
    assert!(r.starts_with("HTTP/1.1 404"), "{r}");
    assert_eq!(header(&r, "x-request-id"), Some("abc-123"));
    assert_eq!(body(&r)["meta"]["request_id"], "abc-123");

    let long = vec![b'x'; 129];
    let invalid: [&[u8]; 5] = [
        b"\xff\xfe-not-utf8",   // obs-text: not UTF-8
        "caf\u{e9}".as_bytes(), // UTF-8, not ASCII
        b"two words",           // a space
        b"tab\there",           // a control character
        &long,                  // too long
    ];
    let mut seen = std::collections::HashSet::new();
    for id in invalid {
        let r = exchange(addr, &request(id)).await;
        assert!(r.starts_with("HTTP/1.1 404"), "{r}");
        let echoed = header(&r, "x-request-id").expect("a generated id");
        assert_ne!(echoed.as_bytes(), id);
        assert_eq!(echoed.len(), 36, "a UUID: {echoed}");
        assert!(keel_envelope::is_valid_request_id(echoed));
        assert_eq!(body(&r)["meta"]["request_id"], echoed);
        assert!(seen.insert(echoed.to_owned()), "ids are unique");
    }
    stop.send(()).unwrap();
    server.await.unwrap();
}
