//! The client's IP address, for per-IP login limits.

use std::net::IpAddr;

use axum::extract::{FromRef, FromRequestParts};
use http::request::Parts;

use crate::limits::Limits;

/// The client IP: the socket peer, or, when the peer is a configured trusted proxy
/// (`KEEL_TRUSTED_PROXIES`), the address that proxy reports in `X-Forwarded-For`
/// (keel-ratelimit's extraction rules; a spoofed header from an untrusted peer is ignored).
/// Without connection info (in-process tests through `oneshot`) it is loopback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl<S> FromRequestParts<S> for ClientIp
where
    Limits: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(Limits::from_ref(state).client_ip(parts)))
    }
}
