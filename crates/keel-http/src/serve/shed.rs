//! The answer to a connection over the cap: a complete HTTP/1.1 503, written by hand
//! (hyper is not involved: the connection is never served), then a bounded close.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::request_id::RequestId;
use crate::security_headers::SecurityHeaders;

/// How long a shed connection may take to receive its 503 and close.
const SHED_DEADLINE: Duration = Duration::from_secs(1);

/// Bytes read (and discarded) from a shed connection before closing it, so the kernel
/// closes with a FIN, not a reset that could destroy the 503 in the client's buffer.
const SHED_DRAIN_LIMIT: usize = 16 * 1024;

/// What a shed client is told.
const MESSAGE: &str = "The server is at its connection limit";

/// Answers an over-the-cap connection with `response` and closes it, within
/// [`SHED_DEADLINE`].
pub(super) async fn shed(mut stream: TcpStream, response: Vec<u8>) {
    let _ = tokio::time::timeout(SHED_DEADLINE, async {
        if stream.write_all(&response).await.is_err() {
            return;
        }
        let _ = stream.shutdown().await;
        // Read what the client sent (bounded) so closing sends a FIN, not a reset.
        let mut buf = [0u8; 1024];
        let mut read = 0;
        while read < SHED_DRAIN_LIMIT {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => read += n,
            }
        }
    })
    .await;
}

/// The body of the 503 and its content type: a keel-errors envelope with the request id
/// (feature `errors`).
#[cfg(feature = "errors")]
fn body(id: &RequestId) -> (&'static str, Vec<u8>) {
    let err = keel_errors::ApiError::service_unavailable(MESSAGE)
        .with_retry_after(Duration::from_secs(1))
        .with_request_id(id.as_str());
    match serde_json::to_vec(&err.to_envelope()) {
        Ok(body) => ("application/json", body),
        Err(_) => plain(),
    }
}

/// The body of the 503 and its content type: plain text (without the `errors` feature).
#[cfg(not(feature = "errors"))]
fn body(_: &RequestId) -> (&'static str, Vec<u8>) {
    plain()
}

fn plain() -> (&'static str, Vec<u8>) {
    (
        "text/plain; charset=utf-8",
        format!("{MESSAGE}\n").into_bytes(),
    )
}

/// The raw HTTP/1.1 503 of a shed connection: a fresh request id, `Retry-After: 1`,
/// `Cache-Control: no-store`, `Connection: close` and the security headers.
pub(super) fn response(security: &SecurityHeaders) -> Vec<u8> {
    let id = RequestId::generate();
    let (content_type, body) = body(&id);
    let mut out = Vec::with_capacity(512 + body.len());
    out.extend_from_slice(b"HTTP/1.1 503 Service Unavailable\r\n");
    let mut header = |name: &str, value: &[u8]| {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    };
    header("content-type", content_type.as_bytes());
    header("content-length", body.len().to_string().as_bytes());
    header("retry-after", b"1");
    header("cache-control", b"no-store");
    header("connection", b"close");
    header("x-request-id", id.as_str().as_bytes());
    for (name, value) in security.iter() {
        header(name.as_str(), value.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_complete_response_with_the_security_headers() {
        let raw =
            String::from_utf8(response(&SecurityHeaders::api().with_hsts())).unwrap_or_default();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or_default();
        let head = format!("{head}\r\n");
        assert!(head.starts_with("HTTP/1.1 503 "), "{head}");
        for line in [
            "retry-after: 1",
            "connection: close",
            "cache-control: no-store",
            "x-frame-options: DENY",
            "strict-transport-security: max-age=63072000; includeSubDomains",
        ] {
            assert!(head.contains(&format!("\r\n{line}\r\n")), "{line}: {head}");
        }
        assert!(
            head.contains(&format!("\r\ncontent-length: {}\r\n", body.len())),
            "{head}"
        );
        #[cfg(feature = "errors")]
        {
            let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
            assert_eq!(v["error"]["code"], "SERVICE_UNAVAILABLE", "{body}");
            assert!(v["meta"]["request_id"].is_string(), "{body}");
        }
    }
}
