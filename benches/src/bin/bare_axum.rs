//! The bare axum baseline for `cargo xtask load`: `GET /health/live` returning the same
//! public body as the reference service (`{"status":"pass"}`, `application/health+json`),
//! with no middleware at all. The ratio of the service's throughput to this one is the
//! cost of the middleware stack.
#![allow(clippy::print_stderr)]

use std::net::SocketAddr;

use axum::Router;
use axum::http::header;
use axum::routing::get;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let bind = std::env::var("KEEL_BIND").unwrap_or_else(|_| "127.0.0.1:8081".into());
    let addr: SocketAddr = match bind.parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bare-axum: KEEL_BIND={bind}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let app = Router::new().route(
        "/health/live",
        get(|| async {
            (
                [(header::CONTENT_TYPE, "application/health+json")],
                r#"{"status":"pass"}"#,
            )
        }),
    );
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("bare-axum: bind {addr}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match axum::serve(listener, app).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bare-axum: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
