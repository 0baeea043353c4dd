//! End to end over a real socket: the loopback policy sees the peer address.
#![cfg(feature = "axum")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;

use keel_health::Health;
use keel_health::axum::{DetailsPolicy, HealthRouter};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test]
async fn loopback_callers_get_details_over_tcp() {
    let health = Health::builder()
        .service_id("socket-test")
        .check("db:responseTime", || async {
            Err::<(), _>("connection refused")
        })
        .build()
        .unwrap();
    let app = HealthRouter::new(health.clone())
        .details(DetailsPolicy::loopback())
        .into_router::<()>();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });

    let ready = get(addr, "/health/ready").await;
    assert!(ready.starts_with("HTTP/1.1 503"), "{ready}");
    assert!(
        ready
            .to_ascii_lowercase()
            .contains("content-type: application/health+json"),
        "{ready}"
    );
    assert!(ready.contains(r#""serviceId":"socket-test""#), "{ready}");
    assert!(
        ready.contains(r#""output":"connection refused""#),
        "{ready}"
    );

    let live = get(addr, "/health/live").await;
    assert!(live.starts_with("HTTP/1.1 200"), "{live}");
    server.abort();
}
