//! `serve` over real sockets: header-read timeout, connection cap and shedding,
//! `ConnectInfo`, graceful and bounded drain.
#![cfg(feature = "serve")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;
use keel_http::{EdgeLayer, SecurityHeaders, ServeConfig, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, oneshot};

const HEADER_TIMEOUT: Duration = Duration::from_millis(300);

/// A running server: its address, its shutdown trigger and its task.
struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    async fn start(app: Router, config: ServeConfig, headers: SecurityHeaders) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let server = serve(listener, app)
            .config(config)
            .security_headers(headers)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            });
        let task = tokio::spawn(server.into_future());
        Self {
            addr,
            stop: Some(tx),
            task,
        }
    }

    /// Sends the stop signal and waits (at most 5 s, else fails with `what`) for the
    /// server to return; how long that took.
    async fn stop_timed(&mut self, what: &str) -> Duration {
        let start = Instant::now();
        self.stop.take().unwrap().send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), &mut self.task)
            .await
            .expect(what)
            .unwrap()
            .unwrap();
        start.elapsed()
    }

    async fn stop(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("the server stops")
            .unwrap()
            .unwrap();
    }
}

fn app() -> Router {
    Router::new()
        .route("/", get(|| async { "ok" }))
        .route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
        )
        .layer(EdgeLayer::new(SecurityHeaders::api()))
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

const GET_CLOSE: &[u8] = b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";

#[tokio::test]
async fn half_sent_requests_are_dropped_within_the_header_timeout() {
    let config = ServeConfig::builder()
        .header_read_timeout(HEADER_TIMEOUT)
        .build()
        .unwrap();
    let server = Running::start(app(), config, SecurityHeaders::api()).await;
    let addr = server.addr;

    // Each kind of slow client, on its own connection, all at once.
    let partial: [&[u8]; 4] = [
        b"",                                             // connects, sends nothing
        b"GET / HT",                                     // half a request line
        b"GET / HTTP/1.1\r\nHost: test\r\n",             // headers never finished
        b"GET / HTTP/1.1\r\nHost: test\r\nX-Slow: aaaa", // mid-header
    ];
    let mut tasks = Vec::new();
    for raw in partial {
        tasks.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(raw).await.unwrap();
            read_until_closed(&mut s, HEADER_TIMEOUT * 3).await
        }));
    }
    // A kept-alive connection idle after one complete request is closed as well.
    tasks.push(tokio::spawn(async move {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        read_until_closed(&mut s, HEADER_TIMEOUT * 3).await
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
    let ok = exchange(addr, GET_CLOSE).await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    server.stop().await;
}

/// Reads one response with a `Content-Length` body from a kept-alive connection.
async fn read_response(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let n = s.read(&mut buf).await.unwrap();
            assert!(
                n > 0,
                "closed mid-response: {:?}",
                String::from_utf8_lossy(&out)
            );
            out.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&out).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len: usize = header(&text, "content-length").unwrap().parse().unwrap();
                if body.len() >= len {
                    assert!(head.starts_with("HTTP/1.1 200"), "{text}");
                    return text;
                }
            }
        }
    });
    read.await.expect("a response within 5 s")
}

const GET_KEEP_ALIVE: &[u8] = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n";

/// Writes half a request head and checks that the server closes the connection after
/// the header-read timeout (not before, and not much after).
async fn stall_and_expect_close(s: &mut TcpStream, timeout: Duration) {
    s.write_all(b"GET / HTTP/1.1\r\nHost: test\r\nX-Slow: a")
        .await
        .unwrap();
    let (elapsed, out) = read_until_closed(s, timeout * 3).await;
    assert!(
        elapsed >= timeout.mul_f32(0.8),
        "closed after {elapsed:?}, before the timeout"
    );
    // hyper closes a timed-out connection without a response.
    assert!(out.is_empty(), "{:?}", String::from_utf8_lossy(&out));
}

#[tokio::test]
async fn a_stalled_second_head_on_a_kept_alive_connection_is_cut_off() {
    let config = ServeConfig::builder()
        .header_read_timeout(HEADER_TIMEOUT)
        .build()
        .unwrap();
    let server = Running::start(app(), config, SecurityHeaders::api()).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(GET_KEEP_ALIVE).await.unwrap();
    read_response(&mut s).await;
    stall_and_expect_close(&mut s, HEADER_TIMEOUT).await;
    server.stop().await;
}

#[tokio::test]
async fn a_busy_kept_alive_connection_outlives_the_timeout_until_a_head_stalls() {
    // Longer than the other tests' timeout: each request below must reach the server
    // within it even on a loaded machine (a late one would be cut off, rightly).
    let timeout = Duration::from_millis(600);
    let config = ServeConfig::builder()
        .header_read_timeout(timeout)
        .build()
        .unwrap();
    let server = Running::start(app(), config, SecurityHeaders::api()).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    // A request every sixth of the timeout for 2.5 timeouts: every head arrives in
    // time, so the connection stays open past the first head's deadline (the timer
    // armed for it fires, finds a later deadline and is re-armed).
    let start = Instant::now();
    while start.elapsed() < timeout.mul_f32(2.5) {
        tokio::time::sleep(timeout / 6).await;
        s.write_all(GET_KEEP_ALIVE).await.unwrap();
        read_response(&mut s).await;
    }
    // Then a head that stalls is cut off after the timeout, counted from the end of the
    // last response (when the server starts waiting for the next head).
    stall_and_expect_close(&mut s, timeout).await;
    server.stop().await;
}

#[tokio::test]
async fn connections_over_the_cap_are_shed_with_a_503() {
    let config = ServeConfig::builder().max_connections(2).build().unwrap();
    let headers = SecurityHeaders::api().with_hsts();
    let server = Running::start(app(), config, headers.clone()).await;
    let addr = server.addr;

    // Two connections hold both slots (accepted in order, before the third).
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "slot holder served");
        held.push(s);
    }

    let shed = exchange(addr, b"GET / HTTP/1.1\r\nHost: test\r\n\r\n").await;
    assert!(shed.starts_with("HTTP/1.1 503 "), "{shed}");
    assert_eq!(header(&shed, "retry-after"), Some("1"), "{shed}");
    assert_eq!(header(&shed, "connection"), Some("close"), "{shed}");
    assert_eq!(header(&shed, "cache-control"), Some("no-store"), "{shed}");
    for (name, value) in headers.iter() {
        assert_eq!(
            header(&shed, name.as_str()).map(str::as_bytes),
            Some(value.as_bytes()),
            "{name}: {shed}"
        );
    }
    let id = header(&shed, "x-request-id").expect("a request id");
    assert_eq!(id.len(), 36, "{shed}");
    let body = shed.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    assert_eq!(
        header(&shed, "content-length"),
        Some(body.len().to_string().as_str())
    );
    #[cfg(feature = "errors")]
    {
        assert_eq!(header(&shed, "content-type"), Some("application/json"));
        let b: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(b["success"], false, "{shed}");
        assert_eq!(b["error"]["code"], "SERVICE_UNAVAILABLE", "{shed}");
        assert_eq!(b["meta"]["request_id"].as_str(), Some(id), "{shed}");
    }

    // A freed slot is usable again: every answer is either the 503 or, once the
    // server has seen the close, a 200 (bounded number of attempts, no sleeping).
    drop(held.pop());
    let mut served = false;
    for _ in 0..200 {
        let r = exchange(addr, GET_CLOSE).await;
        if r.starts_with("HTTP/1.1 200") {
            served = true;
            break;
        }
        assert!(r.starts_with("HTTP/1.1 503 "), "{r}");
        tokio::task::yield_now().await;
    }
    assert!(served, "a freed slot was never reused");
    drop(held);
    server.stop().await;
}

#[tokio::test]
async fn without_shedding_slots_excess_connections_are_closed_unanswered() {
    let config = ServeConfig::builder()
        .max_connections(1)
        .max_shedding(0)
        .build()
        .unwrap();
    let server = Running::start(app(), config, SecurityHeaders::api()).await;
    let mut holder = TcpStream::connect(server.addr).await.unwrap();
    holder
        .write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = holder.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let r = exchange(server.addr, GET_CLOSE).await;
    assert_eq!(r, "", "closed without an answer");
    drop(holder);
    server.stop().await;
}

#[tokio::test]
async fn handlers_see_the_peer_address() {
    let server = Running::start(app(), ServeConfig::new(), SecurityHeaders::api()).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    let local = s.local_addr().unwrap();
    s.write_all(b"GET /peer HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (_, out) = read_until_closed(&mut s, Duration::from_secs(5)).await;
    let out = String::from_utf8_lossy(&out);
    assert!(out.ends_with(&local.to_string()), "{out}");
    server.stop().await;
}

#[tokio::test]
async fn shutdown_finishes_in_flight_requests_and_stops_accepting() {
    let release = Arc::new(Notify::new());
    let entered = Arc::new(Notify::new());
    let (r, e) = (Arc::clone(&release), Arc::clone(&entered));
    let app = Router::new().route(
        "/slow",
        get(move || {
            let (r, e) = (Arc::clone(&r), Arc::clone(&e));
            async move {
                e.notify_one();
                r.notified().await;
                "done"
            }
        }),
    );
    let mut server = Running::start(app, ServeConfig::new(), SecurityHeaders::api()).await;
    let addr = server.addr;
    let in_flight = tokio::spawn(async move {
        exchange(
            addr,
            b"GET /slow HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
        )
        .await
    });
    entered.notified().await;
    server.stop.take().unwrap().send(()).unwrap();
    // The listener closes: a new connection is refused (bounded retries while the
    // accept loop notices the signal).
    let mut refused = false;
    for _ in 0..500 {
        if TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(refused, "the listener still accepts after shutdown");
    assert!(
        !server.task.is_finished(),
        "waits for the in-flight request"
    );
    release.notify_one();
    let body = in_flight.await.unwrap();
    assert!(
        body.starts_with("HTTP/1.1 200") && body.ends_with("done"),
        "{body}"
    );
    tokio::time::timeout(Duration::from_secs(5), server.task)
        .await
        .expect("stops after the drain")
        .unwrap()
        .unwrap();
}

// Real time: a paused clock would also jump over the header-read timer of the real
// socket while the runtime waits for I/O.
#[tokio::test]
async fn the_drain_is_bounded_by_the_drain_timeout() {
    let entered = Arc::new(Notify::new());
    let e = Arc::clone(&entered);
    let app = Router::new().route(
        "/stuck",
        get(move || {
            let e = Arc::clone(&e);
            async move {
                e.notify_one();
                std::future::pending::<()>().await;
            }
        }),
    );
    let config = ServeConfig::builder()
        .drain_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let mut server = Running::start(app, config, SecurityHeaders::api()).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET /stuck HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    entered.notified().await;
    let waited = server.stop_timed("the drain gives up").await;
    assert!(
        waited >= Duration::from_millis(250),
        "gave up early: {waited:?}"
    );
}

/// Serves `app` with `jobs` attached; the stop trigger and the server's task.
#[cfg(feature = "jobs")]
async fn start_with_jobs(
    app: Router,
    config: ServeConfig,
    jobs: keel_http::jobs::BackgroundJobs,
) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let server = serve(listener, app)
        .config(config)
        .background_jobs(jobs)
        .with_graceful_shutdown(async {
            let _ = rx.await;
        });
    Running {
        addr,
        stop: Some(tx),
        task: tokio::spawn(server.into_future()),
    }
}

#[cfg(feature = "jobs")]
#[tokio::test]
async fn after_the_drain_waits_for_jobs_spawned_while_draining() {
    use std::sync::atomic::{AtomicBool, Ordering};

    let jobs = keel_http::jobs::BackgroundJobs::new();
    let (entered, release_handler, release_job) = (
        Arc::new(Notify::new()),
        Arc::new(Notify::new()),
        Arc::new(Notify::new()),
    );
    let job_done = Arc::new(AtomicBool::new(false));
    let app = {
        let (jobs, e, rh, rj, done) = (
            jobs.clone(),
            Arc::clone(&entered),
            Arc::clone(&release_handler),
            Arc::clone(&release_job),
            Arc::clone(&job_done),
        );
        Router::new().route(
            "/signup",
            get(move || {
                let (jobs, e, rh, rj, done) = (
                    jobs.clone(),
                    Arc::clone(&e),
                    Arc::clone(&rh),
                    Arc::clone(&rj),
                    Arc::clone(&done),
                );
                async move {
                    e.notify_one();
                    rh.notified().await;
                    // Spawned after the shutdown signal, while the server drains.
                    let started = jobs.spawn("welcome_email", async move {
                        rj.notified().await;
                        done.store(true, Ordering::SeqCst);
                    });
                    if started.is_some() {
                        "spawned"
                    } else {
                        "refused"
                    }
                }
            }),
        )
    };
    let mut server = start_with_jobs(app, ServeConfig::new(), jobs.clone()).await;
    let addr = server.addr;
    let in_flight = tokio::spawn(async move {
        exchange(
            addr,
            b"GET /signup HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
        )
        .await
    });
    entered.notified().await;
    server.stop.take().unwrap().send(()).unwrap();
    release_handler.notify_one();
    let body = in_flight.await.unwrap();
    assert!(
        body.ends_with("spawned"),
        "a job spawned while draining is accepted: {body}"
    );
    assert_eq!(jobs.running(), 1);
    // Drained, but the job runs: the server waits for it.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), &mut server.task)
            .await
            .is_err(),
        "the server stopped before its background job finished"
    );
    assert!(jobs.is_closed(), "jobs are closed once the drain is over");
    release_job.notify_one();
    tokio::time::timeout(Duration::from_secs(5), server.task)
        .await
        .expect("stops once the job is done")
        .unwrap()
        .unwrap();
    assert!(job_done.load(Ordering::SeqCst));
}

// Real time, as the drain test above.
#[cfg(feature = "jobs")]
#[tokio::test]
async fn the_wait_for_jobs_is_bounded_by_the_drain_timeout() {
    let jobs = keel_http::jobs::BackgroundJobs::new();
    let stuck = jobs.spawn("stuck", std::future::pending::<()>());
    let config = ServeConfig::builder()
        .drain_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let mut server = start_with_jobs(app(), config, jobs.clone()).await;
    let waited = server.stop_timed("the wait for jobs gives up").await;
    assert!(
        waited >= Duration::from_millis(250),
        "gave up early: {waited:?}"
    );
    assert_eq!(jobs.running(), 1);
    stuck.unwrap().abort();
}
