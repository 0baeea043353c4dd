//! [`ClientIp`]: the client's IP address as a handler extractor, by the same rule the
//! rate limit layer keys requests with.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{FromRef, FromRequestParts};
use http::request::Parts;

use super::KeyExtractor;

/// The client's IP address, for limits checked inside handlers (failure-only login
/// limits, signup quotas) that must see the client exactly as the [`RateLimitLayer`]
/// does.
///
/// It runs the [`KeyExtractor`] taken from the router state through [`FromRef`] — so
/// [`KeyExtractor::client_ip`] believes `X-Forwarded-For` / `Forwarded` only from trusted
/// proxies, and a client cannot choose its address by writing the header itself — and
/// answers the address the extractor keys by: an IPv6 address grouped by its prefix
/// (/64 by default, see [`KeyExtractor::ipv6_prefix`]), an IPv4-mapped IPv6 address as
/// IPv4.
///
/// When the extractor yields no IP — a request without axum's `ConnectInfo` (in-process
/// tests through `oneshot`; a server started without
/// `into_make_service_with_connect_info::<SocketAddr>()`) or an extractor that does not key
/// by IP (`header`, `global`) — the answer is [`ClientIp::FALLBACK`] (loopback), and a
/// warning is logged once per process: in production every client would then share one
/// address, and one client's failures would count against all of them. Never rejects.
///
/// [`RateLimitLayer`]: super::RateLimitLayer
///
/// ```
/// use axum::{Router, routing::post, extract::FromRef};
/// use keel_ratelimit::axum::{ClientIp, KeyExtractor, TrustedProxies};
///
/// #[derive(Clone)]
/// struct AppState {
///     client_ip: KeyExtractor,
/// }
///
/// impl FromRef<AppState> for KeyExtractor {
///     fn from_ref(state: &AppState) -> Self {
///         state.client_ip.clone()
///     }
/// }
///
/// async fn login(ClientIp(ip): ClientIp) -> String {
///     format!("attempt from {ip}")
/// }
///
/// # fn main() -> Result<(), keel_ratelimit::Error> {
/// let state = AppState { client_ip: KeyExtractor::client_ip(TrustedProxies::cidrs(["10.0.0.0/8"])?) };
/// let app: Router = Router::new().route("/login", post(login)).with_state(state);
/// // axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await?;
/// # drop(app); Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientIp(pub IpAddr);

/// Whether the missing-address warning was logged (once per process is enough).
static WARNED: AtomicBool = AtomicBool::new(false);

impl ClientIp {
    /// The address of a request the extractor yields no IP for: `127.0.0.1`.
    pub const FALLBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    /// The client IP of `parts` by `extractor`'s rule ([`FALLBACK`](Self::FALLBACK)
    /// when it yields none): what the extractor does, for code outside an axum handler.
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use axum::extract::ConnectInfo;
    /// use keel_ratelimit::axum::{ClientIp, KeyExtractor};
    ///
    /// let mut req = http::Request::new(());
    /// req.extensions_mut().insert(ConnectInfo("[2001:db8::1:2]:443".parse::<SocketAddr>().unwrap()));
    /// let (parts, _) = req.into_parts();
    /// // Keyed by its /64, as the rate limit layer counts it.
    /// assert_eq!(ClientIp::from_parts(&KeyExtractor::peer_ip(), &parts).0, "2001:db8::".parse::<std::net::IpAddr>().unwrap());
    /// let (bare, _) = http::Request::new(()).into_parts();
    /// assert_eq!(ClientIp::from_parts(&KeyExtractor::peer_ip(), &bare).0, ClientIp::FALLBACK);
    /// ```
    #[must_use]
    pub fn from_parts(extractor: &KeyExtractor, parts: &Parts) -> Self {
        if let Some(ip) = extractor.extract(parts).and_then(|k| k.as_ip()) {
            return Self(ip);
        }
        if !WARNED.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                extractor = ?extractor,
                "no client IP for a request (no ConnectInfo, or an extractor that does not \
                 key by IP): counted as 127.0.0.1; serve with \
                 into_make_service_with_connect_info::<SocketAddr>()"
            );
        }
        Self(Self::FALLBACK)
    }

    /// The address.
    #[must_use]
    pub fn into_inner(self) -> IpAddr {
        self.0
    }
}

impl<S> FromRequestParts<S> for ClientIp
where
    KeyExtractor: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Infallible> {
        Ok(Self::from_parts(&KeyExtractor::from_ref(state), parts))
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use axum::extract::ConnectInfo;

    use super::*;
    use crate::axum::TrustedProxies;

    fn check(extractor: &KeyExtractor, peer: Option<&str>, xff: Option<&str>, expected: &str) {
        let mut b = http::Request::builder();
        if let Some(xff) = xff {
            b = b.header("x-forwarded-for", xff);
        }
        let mut req = b.body(()).unwrap();
        if let Some(peer) = peer {
            req.extensions_mut()
                .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        }
        let (parts, ()) = req.into_parts();
        let got = ClientIp::from_parts(extractor, &parts);
        assert_eq!(got.into_inner(), expected.parse::<IpAddr>().unwrap());
    }

    #[test]
    fn the_extractors_rule_and_the_fallback() {
        let peer = KeyExtractor::peer_ip();
        check(&peer, Some("192.0.2.7:1"), None, "192.0.2.7");
        // A client's own X-Forwarded-For is ignored without trusted proxies.
        check(&peer, Some("192.0.2.7:1"), Some("6.6.6.6"), "192.0.2.7");
        check(&peer, Some("[::ffff:192.0.2.8]:1"), None, "192.0.2.8");
        check(&peer, Some("[2001:db8::5]:1"), None, "2001:db8::");
        check(
            &peer.clone().ipv6_prefix(128),
            Some("[2001:db8::5]:1"),
            None,
            "2001:db8::5",
        );
        check(&peer, None, Some("6.6.6.6"), "127.0.0.1");
        let proxied = KeyExtractor::client_ip(TrustedProxies::cidrs(["10.0.0.0/8"]).unwrap());
        check(
            &proxied,
            Some("10.0.0.2:1"),
            Some("6.6.6.6, 198.51.100.9"),
            "198.51.100.9",
        );
        check(
            &proxied,
            Some("203.0.113.5:1"),
            Some("6.6.6.6"),
            "203.0.113.5",
        );
        // Not an IP key: the fallback.
        check(
            &KeyExtractor::global(),
            Some("192.0.2.7:1"),
            None,
            "127.0.0.1",
        );
    }

    #[tokio::test]
    async fn extracts_through_from_ref() {
        #[derive(Clone)]
        struct State(KeyExtractor);
        impl FromRef<State> for KeyExtractor {
            fn from_ref(s: &State) -> Self {
                s.0.clone()
            }
        }
        let mut req = http::Request::new(());
        req.extensions_mut()
            .insert(ConnectInfo("198.51.100.4:9".parse::<SocketAddr>().unwrap()));
        let (mut parts, ()) = req.into_parts();
        let state = State(KeyExtractor::peer_ip());
        let Ok(ClientIp(ip)) = ClientIp::from_request_parts(&mut parts, &state).await;
        assert_eq!(ip, "198.51.100.4".parse::<IpAddr>().unwrap());
    }
}
