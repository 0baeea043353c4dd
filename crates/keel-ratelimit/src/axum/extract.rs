//! [`KeyExtractor`]: which key a request is counted against.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::ConnectInfo;
use http::request::Parts;
use http::{Extensions, HeaderMap, HeaderName, Request};
use ipnet::IpNet;

use crate::{Error, Key};

/// Header values longer than this are not used as keys (the extractor yields nothing).
pub const MAX_HEADER_KEY_LEN: usize = 256;

/// At most this many forwarding hops are examined, from the right.
pub const MAX_FORWARDED_HOPS: usize = 32;

/// A request head the built-in extractors read from: the split [`Parts`] or a whole
/// [`Request`], borrowed, so the layer need not take a request apart on its hot path.
pub(super) trait Head {
    fn headers(&self) -> &HeaderMap;
    fn extensions(&self) -> &Extensions;
    /// The split head, which closures over [`Parts`] need; `None` for a whole request.
    fn parts(&self) -> Option<&Parts>;
}

impl Head for Parts {
    fn headers(&self) -> &HeaderMap {
        &self.headers
    }
    fn extensions(&self) -> &Extensions {
        &self.extensions
    }
    fn parts(&self) -> Option<&Parts> {
        Some(self)
    }
}

impl<B> Head for Request<B> {
    fn headers(&self) -> &HeaderMap {
        self.headers()
    }
    fn extensions(&self) -> &Extensions {
        self.extensions()
    }
    fn parts(&self) -> Option<&Parts> {
        None
    }
}

type KeyFn = Arc<dyn Fn(&Parts) -> Option<Key> + Send + Sync>;

/// Derives the rate limit key of a request. `None` means "no key" (see
/// [`MissingKey`](super::MissingKey)); combine with [`or`](Self::or) to fall back.
///
/// ```
/// use keel_ratelimit::axum::{KeyExtractor, TrustedProxies};
///
/// // Behind a load balancer in 10.0.0.0/8: the client IP from X-Forwarded-For, trusting
/// // only entries appended by the load balancer.
/// let by_client = KeyExtractor::client_ip(TrustedProxies::cidrs(["10.0.0.0/8"])?);
/// // An API key when present, else the peer address.
/// let by_api_key = KeyExtractor::header("x-api-key").or(KeyExtractor::peer_ip());
/// # let _ = (by_client, by_api_key);
/// # Ok::<(), keel_ratelimit::Error>(())
/// ```
#[derive(Clone)]
pub struct KeyExtractor(Kind);

#[derive(Clone)]
enum Kind {
    PeerIp {
        v6_prefix: u8,
    },
    ClientIp {
        proxies: TrustedProxies,
        v6_prefix: u8,
    },
    Header(HeaderName),
    Global,
    Fn(&'static str, KeyFn),
    Or(Box<KeyExtractor>, Box<KeyExtractor>),
}

impl fmt::Debug for KeyExtractor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Kind::PeerIp { v6_prefix } => write!(f, "PeerIp(/{v6_prefix})"),
            Kind::ClientIp { proxies, v6_prefix } => {
                write!(f, "ClientIp({proxies:?}, /{v6_prefix})")
            }
            Kind::Header(h) => write!(f, "Header({h})"),
            Kind::Global => f.write_str("Global"),
            Kind::Fn(name, _) => write!(f, "{name}(..)"),
            Kind::Or(a, b) => write!(f, "{a:?}.or({b:?})"),
        }
    }
}

impl KeyExtractor {
    /// The TCP peer address from axum's [`ConnectInfo<SocketAddr>`] (serve with
    /// `into_make_service_with_connect_info::<SocketAddr>()`). IPv6 addresses are keyed by
    /// their /64 — one subscriber usually owns a whole /64 — and IPv4-mapped IPv6 as IPv4.
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use axum::extract::ConnectInfo;
    /// use keel_ratelimit::{Key, axum::KeyExtractor};
    ///
    /// let mut req = http::Request::new(());
    /// req.extensions_mut().insert(ConnectInfo("192.0.2.7:5000".parse::<SocketAddr>().unwrap()));
    /// let (parts, _) = req.into_parts();
    /// assert_eq!(KeyExtractor::peer_ip().extract(&parts), Some(Key::ip("192.0.2.7".parse().unwrap())));
    /// ```
    pub fn peer_ip() -> Self {
        Self(Kind::PeerIp { v6_prefix: 64 })
    }

    /// The client IP as reported by trusted proxies in `X-Forwarded-For` or `Forwarded`:
    /// forwarding headers are only believed when the peer is a trusted proxy, and only
    /// the entries appended by trusted proxies are skipped — the first untrusted address
    /// from the right is the client. A client that sends its own `X-Forwarded-For` gets
    /// keyed by its real address, never by what it wrote. IPv6 is keyed by /64.
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use axum::extract::ConnectInfo;
    /// use keel_ratelimit::{Key, axum::{KeyExtractor, TrustedProxies}};
    ///
    /// let ex = KeyExtractor::client_ip(TrustedProxies::cidrs(["10.0.0.0/8"])?);
    /// let req = |peer: &str, xff: &str| {
    ///     let mut r = http::Request::builder().header("x-forwarded-for", xff).body(()).unwrap();
    ///     r.extensions_mut().insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
    ///     r.into_parts().0
    /// };
    /// let ip = |s: &str| Some(Key::ip(s.parse().unwrap()));
    /// // Through the proxy: the spoofed left entry is ignored.
    /// assert_eq!(ex.extract(&req("10.0.0.2:1", "6.6.6.6, 198.51.100.9")), ip("198.51.100.9"));
    /// // Straight from the internet: the header is ignored.
    /// assert_eq!(ex.extract(&req("203.0.113.5:1", "6.6.6.6")), ip("203.0.113.5"));
    /// # Ok::<(), keel_ratelimit::Error>(())
    /// ```
    pub fn client_ip(proxies: TrustedProxies) -> Self {
        Self(Kind::ClientIp {
            proxies,
            v6_prefix: 64,
        })
    }

    /// The client-IP rule from a list of trusted proxies as configured (IP addresses or
    /// CIDRs, e.g. a `TRUSTED_PROXIES` setting): [`peer_ip`](Self::peer_ip) when the
    /// list is empty (no proxy in front), else [`client_ip`](Self::client_ip) trusting
    /// those proxies ([`TrustedProxies::cidrs`]).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for an entry that is neither an address nor a CIDR.
    ///
    /// ```
    /// use keel_ratelimit::axum::KeyExtractor;
    ///
    /// let none: &[&str] = &[];
    /// assert_eq!(format!("{:?}", KeyExtractor::from_trusted_proxies(none)?), format!("{:?}", KeyExtractor::peer_ip()));
    /// assert!(KeyExtractor::from_trusted_proxies(&["10.0.0.0/8", "192.0.2.1"]).is_ok());
    /// assert!(KeyExtractor::from_trusted_proxies(&["proxy.internal"]).is_err());
    /// # Ok::<(), keel_ratelimit::Error>(())
    /// ```
    pub fn from_trusted_proxies<S: AsRef<str>>(proxies: &[S]) -> Result<Self, Error> {
        if proxies.is_empty() {
            return Ok(Self::peer_ip());
        }
        TrustedProxies::cidrs(proxies).map(Self::client_ip)
    }

    /// Keys IPv6 addresses by their first `bits` bits (default 64; 128 = per address).
    /// No effect on other extractors.
    ///
    /// ```
    /// let ex = keel_ratelimit::axum::KeyExtractor::peer_ip().ipv6_prefix(56);
    /// # let _ = ex;
    /// ```
    #[must_use]
    pub fn ipv6_prefix(mut self, bits: u8) -> Self {
        let bits = bits.min(128);
        match &mut self.0 {
            Kind::PeerIp { v6_prefix } | Kind::ClientIp { v6_prefix, .. } => *v6_prefix = bits,
            _ => {}
        }
        self
    }

    /// The value of a header, e.g. an API key: visible ASCII, at most
    /// [`MAX_HEADER_KEY_LEN`] bytes, else no key. (With Redis the value appears in key
    /// names: prefer keying authenticated requests by user id.)
    ///
    /// ```
    /// use keel_ratelimit::{Key, axum::KeyExtractor};
    /// let (parts, _) = http::Request::builder().header("x-api-key", "k-123").body(()).unwrap().into_parts();
    /// assert_eq!(KeyExtractor::header("x-api-key").extract(&parts), Some(Key::from("k-123")));
    /// ```
    pub fn header(name: &'static str) -> Self {
        Self(Kind::Header(HeaderName::from_static(name)))
    }

    /// A value from the request extensions, typically the authenticated user an auth
    /// layer inserted; `key` maps it to a [`Key`].
    ///
    /// ```
    /// use keel_ratelimit::{Key, axum::KeyExtractor};
    /// #[derive(Clone)]
    /// struct UserId(u64);
    /// let ex = KeyExtractor::extension(|u: &UserId| Key::from(format!("user:{}", u.0)));
    /// let mut req = http::Request::new(());
    /// req.extensions_mut().insert(UserId(7));
    /// assert_eq!(ex.extract(&req.into_parts().0), Some(Key::from("user:7")));
    /// ```
    pub fn extension<T, F>(key: F) -> Self
    where
        T: Send + Sync + 'static,
        F: Fn(&T) -> Key + Send + Sync + 'static,
    {
        Self(Kind::Fn(
            "Extension",
            Arc::new(move |p: &Parts| p.extensions.get::<T>().map(&key)),
        ))
    }

    /// One key for every request: a global limit.
    ///
    /// ```
    /// let (parts, _) = http::Request::new(()).into_parts();
    /// assert_eq!(keel_ratelimit::axum::KeyExtractor::global().extract(&parts), Some(keel_ratelimit::Key::global()));
    /// ```
    pub fn global() -> Self {
        Self(Kind::Global)
    }

    /// A closure over the request head.
    ///
    /// ```
    /// use keel_ratelimit::{Key, axum::KeyExtractor};
    /// let by_tenant = KeyExtractor::from_fn(|parts| {
    ///     parts.uri.path().strip_prefix("/tenants/")?.split('/').next().map(Key::from)
    /// });
    /// let (parts, _) = http::Request::builder().uri("/tenants/acme/users").body(()).unwrap().into_parts();
    /// assert_eq!(by_tenant.extract(&parts), Some(Key::from("acme")));
    /// ```
    pub fn from_fn<F>(f: F) -> Self
    where
        F: Fn(&Parts) -> Option<Key> + Send + Sync + 'static,
    {
        Self(Kind::Fn("FromFn", Arc::new(f)))
    }

    /// This extractor, or `other` when this one yields no key.
    ///
    /// ```
    /// use keel_ratelimit::{Key, axum::KeyExtractor};
    /// let ex = KeyExtractor::header("x-api-key").or(KeyExtractor::global());
    /// let (parts, _) = http::Request::new(()).into_parts();
    /// assert_eq!(ex.extract(&parts), Some(Key::global()));
    /// ```
    #[must_use]
    pub fn or(self, other: KeyExtractor) -> Self {
        Self(Kind::Or(Box::new(self), Box::new(other)))
    }

    /// Whether this extractor (or one of its `or` alternatives) keys by the peer address,
    /// which needs axum's `ConnectInfo`.
    pub(super) fn uses_peer(&self) -> bool {
        match &self.0 {
            Kind::PeerIp { .. } | Kind::ClientIp { .. } => true,
            Kind::Header(_) | Kind::Global | Kind::Fn(..) => false,
            Kind::Or(a, b) => a.uses_peer() || b.uses_peer(),
        }
    }

    /// Whether this extractor (or one of its `or` alternatives) is a closure over
    /// [`Parts`], so the request must be split to extract the key.
    pub(super) fn needs_parts(&self) -> bool {
        match &self.0 {
            Kind::Fn(..) => true,
            Kind::PeerIp { .. } | Kind::ClientIp { .. } | Kind::Header(_) | Kind::Global => false,
            Kind::Or(a, b) => a.needs_parts() || b.needs_parts(),
        }
    }

    /// The key of a request, if any. Never panics, whatever the headers hold.
    pub fn extract(&self, parts: &Parts) -> Option<Key> {
        self.extract_from(parts)
    }

    /// [`extract`](Self::extract) over any [`Head`]; a closure extractor yields `None`
    /// for a head without [`Parts`] (callers check [`needs_parts`](Self::needs_parts)).
    pub(super) fn extract_from<H: Head + ?Sized>(&self, head: &H) -> Option<Key> {
        match &self.0 {
            Kind::PeerIp { v6_prefix } => peer(head.extensions()).map(|ip| ip_key(ip, *v6_prefix)),
            Kind::ClientIp { proxies, v6_prefix } => proxies
                .client_ip(head.headers(), head.extensions())
                .map(|ip| ip_key(ip, *v6_prefix)),
            Kind::Header(name) => {
                let v = head.headers().get(name)?;
                let b = v.as_bytes();
                if b.is_empty()
                    || b.len() > MAX_HEADER_KEY_LEN
                    || !b.iter().all(|c| c.is_ascii_graphic())
                {
                    return None;
                }
                v.to_str().ok().map(Key::from)
            }
            Kind::Global => Some(Key::global()),
            Kind::Fn(_, f) => head.parts().and_then(|p| f(p)),
            Kind::Or(a, b) => a.extract_from(head).or_else(|| b.extract_from(head)),
        }
    }
}

/// Whether the request carries axum's `ConnectInfo<SocketAddr>`.
pub(super) fn has_peer(extensions: &Extensions) -> bool {
    extensions.get::<ConnectInfo<SocketAddr>>().is_some()
}

fn peer(extensions: &Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

fn ip_key(ip: IpAddr, v6_prefix: u8) -> Key {
    match ip.to_canonical() {
        IpAddr::V6(v6) if v6_prefix < 128 => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(v6_prefix))
                .unwrap_or(0);
            Key::ip(IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask)))
        }
        other => Key::ip(other),
    }
}

/// Which forwarding header trusted proxies write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (default).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for="[2001:db8::1]:4711"`.
    Forwarded,
}

#[derive(Debug, Clone)]
enum Trust {
    Cidrs(Vec<IpNet>),
    Hops(usize),
}

/// Which proxies may report the client address.
///
/// ```
/// use keel_ratelimit::axum::{ForwardedHeader, TrustedProxies};
/// let by_cidr = TrustedProxies::cidrs(["10.0.0.0/8", "fd00::/8", "127.0.0.1"])?;
/// let by_hops = TrustedProxies::hops(2).header(ForwardedHeader::Forwarded);
/// assert!(TrustedProxies::cidrs(["not an ip"]).is_err());
/// # let _ = (by_cidr, by_hops);
/// # Ok::<(), keel_ratelimit::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct TrustedProxies {
    trust: Trust,
    header: ForwardedHeader,
}

impl TrustedProxies {
    /// Proxies whose addresses are in these networks (`10.0.0.0/8`) or are these addresses
    /// (`127.0.0.1`, `::1`).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for an entry that is neither.
    pub fn cidrs<I, S>(cidrs: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let nets = cidrs
            .into_iter()
            .map(|s| {
                let s = s.as_ref().trim();
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        Error::InvalidConfig("trusted proxy: expected an IP address or CIDR")
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            trust: Trust::Cidrs(nets),
            header: ForwardedHeader::default(),
        })
    }

    /// Exactly `n` proxies in front of the service, each appending one entry: the client
    /// is the `n`-th address from the right of `[entries…, peer]`. Use when proxy
    /// addresses are not known in advance (cloud load balancers). `hops(0)` is the peer.
    pub fn hops(n: usize) -> Self {
        Self {
            trust: Trust::Hops(n.min(MAX_FORWARDED_HOPS)),
            header: ForwardedHeader::default(),
        }
    }

    /// Which header the proxies write (default `X-Forwarded-For`).
    #[must_use]
    pub fn header(mut self, header: ForwardedHeader) -> Self {
        self.header = header;
        self
    }

    fn trusted(nets: &[IpNet], ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        nets.iter().any(|n| n.contains(&ip))
    }

    /// The client address, or `None` when the chain is malformed where it matters.
    fn client_ip(&self, headers: &HeaderMap, extensions: &Extensions) -> Option<IpAddr> {
        let peer = peer(extensions)?;
        // Entries from the right (most recent hop first); None = unparseable entry.
        let mut hops = RightToLeft::new(headers, self.header);
        match &self.trust {
            Trust::Cidrs(nets) => {
                if !Self::trusted(nets, peer) {
                    return Some(peer);
                }
                let mut last = peer;
                for _ in 0..MAX_FORWARDED_HOPS {
                    match hops.next() {
                        None => return Some(last),
                        Some(None) => return None,
                        Some(Some(ip)) if Self::trusted(nets, ip) => last = ip,
                        Some(Some(ip)) => return Some(ip),
                    }
                }
                Some(last)
            }
            Trust::Hops(n) => {
                if *n == 0 {
                    return Some(peer);
                }
                let mut leftmost = None;
                for i in 1..=*n {
                    match hops.next() {
                        // Fewer entries than proxies: the request skipped a proxy; the
                        // leftmost entry was still written by one (no entry: the peer).
                        None => return leftmost.or(Some(peer)),
                        Some(None) => return None,
                        Some(Some(ip)) if i == *n => return Some(ip),
                        Some(Some(ip)) => leftmost = Some(ip),
                    }
                }
                leftmost
            }
        }
    }
}

/// Iterates forwarding entries right to left over every instance of the header.
struct RightToLeft<'a> {
    values: Vec<&'a str>,
    current: Option<std::iter::Rev<std::str::Split<'a, char>>>,
    header: ForwardedHeader,
    budget: usize,
}

impl<'a> RightToLeft<'a> {
    fn new(headers: &'a HeaderMap, header: ForwardedHeader) -> Self {
        let name = match header {
            ForwardedHeader::XForwardedFor => "x-forwarded-for",
            ForwardedHeader::Forwarded => "forwarded",
        };
        let values = headers
            .get_all(name)
            .iter()
            .rev()
            .take(MAX_FORWARDED_HOPS)
            .map(|v| v.to_str().unwrap_or("\u{0}"))
            .collect();
        Self {
            values,
            current: None,
            header,
            budget: MAX_FORWARDED_HOPS,
        }
    }
}

impl Iterator for RightToLeft<'_> {
    /// `Some(None)`: an entry that is not an address (obfuscated, `unknown`, garbage).
    type Item = Option<IpAddr>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.budget == 0 {
                return None;
            }
            if let Some(entry) = self.current.as_mut().and_then(Iterator::next) {
                self.budget -= 1;
                let entry = entry.trim();
                if entry.is_empty() {
                    continue;
                }
                return Some(match self.header {
                    ForwardedHeader::XForwardedFor => parse_node(entry),
                    ForwardedHeader::Forwarded => forwarded_for(entry).and_then(parse_node),
                });
            }
            let v = self.values.first().copied()?;
            self.values.remove(0);
            self.current = Some(v.split(',').rev());
        }
    }
}

/// The `for=` node of one RFC 7239 forwarded-element.
fn forwarded_for(element: &str) -> Option<&str> {
    element.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        k.trim().eq_ignore_ascii_case("for").then(|| v.trim())
    })
}

/// An address with optional port and brackets: `192.0.2.1`, `192.0.2.1:80`, `2001:db8::1`,
/// `[2001:db8::1]:80`, `"[2001:db8::1]"`.
fn parse_node(s: &str) -> Option<IpAddr> {
    let s = s.trim().trim_matches('"');
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some(sa.ip());
    }
    s.strip_prefix('[')
        .and_then(|r| r.split_once(']'))
        .and_then(|(ip, _)| ip.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(peer: Option<&str>, headers: &[(&str, &str)]) -> Parts {
        let mut b = Request::builder();
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let mut r = b.body(()).unwrap();
        if let Some(p) = peer {
            r.extensions_mut()
                .insert(ConnectInfo(p.parse::<SocketAddr>().unwrap()));
        }
        r.into_parts().0
    }

    fn check(
        ex: &KeyExtractor,
        peer: Option<&str>,
        headers: &[(&str, &str)],
        expected: Option<&str>,
    ) {
        let got = ex.extract(&parts(peer, headers)).map(|k| k.to_string());
        assert_eq!(
            got.as_deref(),
            expected,
            "{ex:?} peer {peer:?} headers {headers:?}"
        );
    }

    #[test]
    fn from_trusted_proxies_is_the_peer_without_proxies_and_the_client_behind_them() {
        let xff = [("x-forwarded-for", "198.51.100.9")];
        // No proxy configured: the forwarding header is never believed.
        let ex = KeyExtractor::from_trusted_proxies::<&str>(&[]).unwrap();
        check(&ex, Some("10.0.0.2:1"), &xff, Some("ip:10.0.0.2"));
        let ex = KeyExtractor::from_trusted_proxies(&[" 10.0.0.0/8", "192.0.2.1 "]).unwrap();
        check(&ex, Some("10.0.0.2:1"), &xff, Some("ip:198.51.100.9"));
        check(&ex, Some("192.0.2.1:1"), &xff, Some("ip:198.51.100.9"));
        check(&ex, Some("203.0.113.5:1"), &xff, Some("ip:203.0.113.5"));
        let err = KeyExtractor::from_trusted_proxies(&["10.0.0.0/8", "proxy.internal"]);
        assert!(matches!(err, Err(Error::InvalidConfig(_))));
    }

    #[test]
    fn trusted_cidrs_with_x_forwarded_for() {
        let ex = KeyExtractor::client_ip(TrustedProxies::cidrs(["10.0.0.0/8", "::1"]).unwrap());
        let xff = |v| vec![("x-forwarded-for", v)];
        // Untrusted peer: headers ignored (spoofing).
        check(
            &ex,
            Some("203.0.113.5:1"),
            &xff("1.1.1.1"),
            Some("ip:203.0.113.5"),
        );
        check(&ex, Some("203.0.113.5:1"), &[], Some("ip:203.0.113.5"));
        // Trusted peer: first untrusted from the right.
        check(
            &ex,
            Some("10.0.0.2:1"),
            &xff("198.51.100.9"),
            Some("ip:198.51.100.9"),
        );
        check(
            &ex,
            Some("10.0.0.2:1"),
            &xff("6.6.6.6, 198.51.100.9"),
            Some("ip:198.51.100.9"),
        );
        check(
            &ex,
            Some("10.0.0.2:1"),
            &xff("6.6.6.6, 198.51.100.9, 10.1.1.1"),
            Some("ip:198.51.100.9"),
        );
        check(
            &ex,
            Some("[::1]:1"),
            &xff("198.51.100.9:4711"),
            Some("ip:198.51.100.9"),
        );
        // Several header lines are one list.
        check(
            &ex,
            Some("10.0.0.2:1"),
            &[
                ("x-forwarded-for", "6.6.6.6"),
                ("x-forwarded-for", "198.51.100.9"),
            ],
            Some("ip:198.51.100.9"),
        );
        // All trusted: the leftmost.
        check(
            &ex,
            Some("10.0.0.2:1"),
            &xff("10.9.9.9"),
            Some("ip:10.9.9.9"),
        );
        check(&ex, Some("10.0.0.2:1"), &[], Some("ip:10.0.0.2"));
        // Garbage where the client should be: no key (never the attacker's choice).
        check(&ex, Some("10.0.0.2:1"), &xff("6.6.6.6, bogus"), None);
        check(&ex, Some("10.0.0.2:1"), &xff(",,, ,"), Some("ip:10.0.0.2"));
        // No peer info at all.
        check(&ex, None, &xff("1.1.1.1"), None);
        // Huge header: bounded work, still the rightmost untrusted.
        let long = format!("{}198.51.100.9", "6.6.6.6, ".repeat(10_000));
        check(
            &ex,
            Some("10.0.0.2:1"),
            &xff(&long),
            Some("ip:198.51.100.9"),
        );
        let all_trusted = "10.0.0.1, ".repeat(10_000);
        check(
            &ex,
            Some("10.0.0.2:1"),
            &xff(&all_trusted),
            Some("ip:10.0.0.1"),
        );
    }

    #[test]
    fn forwarded_header_and_hops() {
        let ex = KeyExtractor::client_ip(
            TrustedProxies::cidrs(["10.0.0.0/8"])
                .unwrap()
                .header(ForwardedHeader::Forwarded),
        );
        let fwd = |v| vec![("forwarded", v)];
        check(
            &ex,
            Some("10.0.0.2:1"),
            &fwd(r#"for=6.6.6.6, for="[2001:db8:cafe::17]:4711";proto=https"#),
            Some("ip:2001:db8:cafe::"),
        );
        check(
            &ex,
            Some("10.0.0.2:1"),
            &fwd("For=192.0.2.60;proto=http;by=203.0.113.43"),
            Some("ip:192.0.2.60"),
        );
        check(&ex, Some("10.0.0.2:1"), &fwd("for=unknown"), None);
        check(
            &ex,
            Some("10.0.0.2:1"),
            &fwd("for=_hidden, for=10.0.0.3"),
            None,
        );
        check(&ex, Some("10.0.0.2:1"), &fwd("proto=https"), None);

        let one = KeyExtractor::client_ip(TrustedProxies::hops(1));
        let xff = |v| vec![("x-forwarded-for", v)];
        check(
            &one,
            Some("203.0.113.5:1"),
            &xff("6.6.6.6, 198.51.100.9"),
            Some("ip:198.51.100.9"),
        );
        // No forwarding header at all: the request came straight to us.
        check(&one, Some("203.0.113.5:1"), &[], Some("ip:203.0.113.5"));
        let two = KeyExtractor::client_ip(TrustedProxies::hops(2));
        check(
            &two,
            Some("203.0.113.5:1"),
            &xff("6.6.6.6, 198.51.100.9, 10.0.0.1"),
            Some("ip:198.51.100.9"),
        );
        check(
            &two,
            Some("203.0.113.5:1"),
            &xff("198.51.100.9"),
            Some("ip:198.51.100.9"),
        );
        let zero = KeyExtractor::client_ip(TrustedProxies::hops(0));
        check(
            &zero,
            Some("203.0.113.5:1"),
            &xff("6.6.6.6"),
            Some("ip:203.0.113.5"),
        );
    }

    #[test]
    fn ip_keys_group_ipv6_by_prefix() {
        let ex = KeyExtractor::peer_ip();
        check(
            &ex,
            Some("[2001:db8:1:2:3:4:5:6]:1"),
            &[],
            Some("ip:2001:db8:1:2::"),
        );
        check(&ex, Some("[::ffff:192.0.2.1]:1"), &[], Some("ip:192.0.2.1"));
        check(
            &ex.clone().ipv6_prefix(128),
            Some("[2001:db8:1:2:3:4:5:6]:1"),
            &[],
            Some("ip:2001:db8:1:2:3:4:5:6"),
        );
        check(
            &ex.clone().ipv6_prefix(0),
            Some("[2001:db8:1:2:3:4:5:6]:1"),
            &[],
            Some("ip:::"),
        );
        check(&ex, None, &[], None);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_forwarding_headers_never_panic(
            values in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..200), 0..4),
            peer_v6 in proptest::bool::ANY,
        ) {
            let peer = if peer_v6 { "[::1]:1" } else { "10.0.0.1:1" };
            let mut r = Request::new(());
            for v in &values {
                if let Ok(v) = http::HeaderValue::from_bytes(v) {
                    r.headers_mut().append("x-forwarded-for", v.clone());
                    r.headers_mut().append("forwarded", v.clone());
                    r.headers_mut().append("x-api-key", v);
                }
            }
            r.extensions_mut().insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
            let (parts, _) = r.into_parts();
            let trusted = TrustedProxies::cidrs(["0.0.0.0/0", "::/0"]).unwrap();
            for ex in [
                KeyExtractor::client_ip(trusted.clone()),
                KeyExtractor::client_ip(trusted.header(ForwardedHeader::Forwarded)),
                KeyExtractor::client_ip(TrustedProxies::hops(3)),
                KeyExtractor::header("x-api-key"),
            ] {
                let _ = ex.extract(&parts);
            }
        }
    }

    #[test]
    fn header_keys_are_bounded() {
        let ex = KeyExtractor::header("x-api-key");
        check(&ex, None, &[("x-api-key", "abc")], Some("k:abc"));
        check(&ex, None, &[("x-api-key", "")], None);
        check(&ex, None, &[("x-api-key", "a b")], None);
        check(
            &ex,
            None,
            &[("x-api-key", &"a".repeat(MAX_HEADER_KEY_LEN))],
            Some(&format!("k:{}", "a".repeat(MAX_HEADER_KEY_LEN))),
        );
        check(
            &ex,
            None,
            &[("x-api-key", &"a".repeat(MAX_HEADER_KEY_LEN + 1))],
            None,
        );
        check(
            &ex.or(KeyExtractor::peer_ip()),
            Some("192.0.2.1:1"),
            &[],
            Some("ip:192.0.2.1"),
        );
    }
}
