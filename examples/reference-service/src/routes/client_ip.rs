//! The client's IP address, for per-IP login limits.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use http::request::Parts;

use crate::state::AppState;

/// The client IP: the socket peer, or, when the peer is a configured trusted proxy
/// (`KEEL_TRUSTED_PROXIES`), the address that proxy reports in `X-Forwarded-For`
/// (keel-ratelimit's extraction rules; a spoofed header from an untrusted peer is ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        // Without connection info (in-process tests through `oneshot`) every request
        // counts as one local client.
        let peer = peer.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        Ok(Self(state.client_ip(peer, &parts.headers)))
    }
}
