//! Strict CORS for a credentialed API: an explicit, validated origin list, and tower-http's
//! [`CorsLayer`] built with safe settings.
//!
//! A browser sends cookies or an `Authorization` header cross-origin only to an origin
//! the response names exactly, so a credentialed policy must list its origins. The
//! mistakes [`StrictCors`] refuses with a typed [`Error::InvalidOrigin`] (instead of a
//! policy that silently matches nothing, or tower-http's panic when the layer is built):
//!
//! - `*` (any site could read responses made with the user's credentials, and browsers
//!   refuse it with credentials anyway);
//! - `null` (the origin of sandboxed iframes and `file:` pages, which any attacker can
//!   produce);
//! - anything but `http://` or `https://`, and anything but `scheme://host[:port]`: a path,
//!   query, fragment or user part never matches the `Origin` header a browser sends;
//! - non-ASCII hosts (browsers send the `xn--` form) and invalid ports.
//!
//! Origins are normalized the way browsers serialize them (lowercase scheme and host, no
//! trailing `/`, duplicates dropped), so `https://App.example/` matches.
//!
//! The layer allows `GET`, `POST`, `PUT`, `PATCH` and `DELETE` with credentials, accepts
//! the `Authorization`, `Content-Type` and `X-Request-Id` request headers, exposes the
//! headers keel's layers set (`X-Request-Id`, `Retry-After`, `RateLimit`,
//! `RateLimit-Policy`) plus the ones the application adds, and lets browsers cache a
//! preflight for 10 minutes (at most [`MAX_MAX_AGE`]).
//!
//! ```
//! use axum::{Router, routing::get};
//! use axum::http::{HeaderName, Request, header};
//! use keel_http::cors::StrictCors;
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), keel_http::Error> {
//! let cors = StrictCors::from_list("https://app.example, http://localhost:3000/")?
//!     .expose_header(header::LOCATION)
//!     .expose_header(HeaderName::from_static("x-cache"));
//! assert!(StrictCors::from_list("*").is_err());
//!
//! let app: Router = Router::new()
//!     .route("/", get(|| async { "ok" }))
//!     .layer(cors.layer());
//! let req = Request::get("/").header(header::ORIGIN, "https://app.example");
//! let res = app.oneshot(req.body(axum::body::Body::empty()).unwrap()).await.unwrap();
//! assert_eq!(res.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.example");
//! assert_eq!(res.headers()[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
//! # Ok(()) }
//! ```

use std::time::Duration;

use http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::Error;
use crate::request_id::X_REQUEST_ID;

/// How long a browser may cache a preflight answer by default.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(600);

/// The longest preflight cache [`StrictCors::max_age`] sets (Firefox's own cap; Chromium
/// caps at 2 hours): a longer one only delays a policy change.
pub const MAX_MAX_AGE: Duration = Duration::from_secs(86_400);

/// The headers keel's layers set that a browser script may read: the request id, and
/// the rate-limit and back-off headers of keel-ratelimit and keel-errors.
pub const KEEL_EXPOSED_HEADERS: [HeaderName; 4] = [
    X_REQUEST_ID,
    header::RETRY_AFTER,
    HeaderName::from_static("ratelimit"),
    HeaderName::from_static("ratelimit-policy"),
];

/// The longest origin accepted, in bytes (a host name is at most 253).
const MAX_ORIGIN_LEN: usize = 300;

/// A credentialed CORS policy with an explicit origin list; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct StrictCors {
    origins: Vec<HeaderValue>,
    methods: Vec<Method>,
    allow_headers: Vec<HeaderName>,
    expose_headers: Vec<HeaderName>,
    max_age: Duration,
    credentials: bool,
}

impl StrictCors {
    /// A policy for `origins`, each validated and normalized by [`parse_origin`].
    ///
    /// # Errors
    /// [`Error::InvalidOrigin`] for the first origin refused.
    ///
    /// ```
    /// use keel_http::cors::StrictCors;
    /// let cors = StrictCors::new(["https://App.example/"])?;
    /// assert_eq!(cors.origins()[0], "https://app.example");
    /// assert!(StrictCors::new(["null"]).is_err());
    /// # Ok::<(), keel_http::Error>(())
    /// ```
    pub fn new<I, S>(origins: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut list: Vec<HeaderValue> = Vec::new();
        for origin in origins {
            let origin = parse_origin(origin.as_ref())?;
            if !list.contains(&origin) {
                list.push(origin);
            }
        }
        Ok(Self {
            origins: list,
            methods: vec![
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ],
            allow_headers: vec![header::AUTHORIZATION, header::CONTENT_TYPE, X_REQUEST_ID],
            expose_headers: KEEL_EXPOSED_HEADERS.to_vec(),
            max_age: DEFAULT_MAX_AGE,
            credentials: true,
        })
    }

    /// A policy for a comma-separated list (an environment variable's value): entries
    /// trimmed, empty ones skipped; an empty list allows no origin.
    ///
    /// # Errors
    /// [`Error::InvalidOrigin`] for the first entry refused.
    pub fn from_list(list: &str) -> Result<Self, Error> {
        Self::new(list.split(',').map(str::trim).filter(|o| !o.is_empty()))
    }

    /// Replaces the allowed methods (default `GET`, `POST`, `PUT`, `PATCH`, `DELETE`).
    #[must_use]
    pub fn allow_methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        self.methods = methods.into_iter().collect();
        self
    }

    /// Adds a request header scripts may send (besides `Authorization`, `Content-Type`
    /// and `X-Request-Id`).
    #[must_use]
    pub fn allow_header(mut self, name: HeaderName) -> Self {
        if !self.allow_headers.contains(&name) {
            self.allow_headers.push(name);
        }
        self
    }

    /// Adds a response header scripts may read (besides [`KEEL_EXPOSED_HEADERS`]).
    #[must_use]
    pub fn expose_header(mut self, name: HeaderName) -> Self {
        if !self.expose_headers.contains(&name) {
            self.expose_headers.push(name);
        }
        self
    }

    /// How long a browser may cache a preflight answer, capped at [`MAX_MAX_AGE`]
    /// (default [`DEFAULT_MAX_AGE`]).
    #[must_use]
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age.min(MAX_MAX_AGE);
        self
    }

    /// Does not send `Access-Control-Allow-Credentials: true`: browsers then make
    /// cross-origin requests without cookies or HTTP authentication.
    #[must_use]
    pub fn without_credentials(mut self) -> Self {
        self.credentials = false;
        self
    }

    /// The allowed origins, normalized.
    pub fn origins(&self) -> &[HeaderValue] {
        &self.origins
    }

    /// Whether no origin is allowed (then a service usually adds no CORS layer at all).
    pub fn is_empty(&self) -> bool {
        self.origins.is_empty()
    }

    /// tower-http's [`CorsLayer`] for this policy. With no origin it grants nothing.
    pub fn layer(&self) -> CorsLayer {
        // Lists only (no `Any`), so tower-http's credential checks never panic.
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(self.origins.iter().cloned()))
            .allow_methods(self.methods.clone())
            .allow_headers(self.allow_headers.clone())
            .expose_headers(self.expose_headers.clone())
            .allow_credentials(self.credentials)
            .max_age(self.max_age)
    }
}

/// One origin, validated and normalized as a browser serializes it: `http` or `https`,
/// `://`, an ASCII host, an optional port, at most one trailing `/`; scheme and host
/// lowercased.
///
/// # Errors
/// [`Error::InvalidOrigin`] naming the origin (escaped, cut to 100 characters) and why.
///
/// ```
/// use keel_http::cors::parse_origin;
/// assert_eq!(parse_origin("HTTP://LocalHost:3000/")?, "http://localhost:3000");
/// assert!(parse_origin("*").is_err());
/// assert!(parse_origin("https://app.example/path").is_err());
/// # Ok::<(), keel_http::Error>(())
/// ```
pub fn parse_origin(origin: &str) -> Result<HeaderValue, Error> {
    let refuse = |reason| Err(invalid(origin, reason));
    if origin == "*" {
        return refuse("is refused: a credentialed policy must list its origins");
    }
    if origin.eq_ignore_ascii_case("null") {
        return refuse("is refused: sandboxed and file: pages, which anyone can make, send it");
    }
    if origin.len() > MAX_ORIGIN_LEN {
        return refuse("is too long");
    }
    let lower = origin.to_ascii_lowercase();
    let Some((scheme, rest)) = lower.split_once("://") else {
        return refuse("must start with http:// or https://");
    };
    if scheme != "http" && scheme != "https" {
        return refuse("must start with http:// or https://");
    }
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if !authority.is_ascii() {
        return refuse("must be ASCII (write an international domain in its xn-- form)");
    }
    if authority.contains(['/', '?', '#', '@', '\\']) {
        return refuse("must be scheme://host[:port], without path, query, fragment or user");
    }
    let (host, port) = split_port(authority);
    let host_ok = if let Some(ip6) = host.strip_prefix('[') {
        ip6.strip_suffix(']')
            .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok())
    } else {
        !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    };
    if !host_ok {
        return refuse("has no valid host");
    }
    if port.is_some_and(|p| !p.bytes().all(|b| b.is_ascii_digit()) || p.parse::<u16>().is_err()) {
        return refuse("has an invalid port");
    }
    HeaderValue::try_from(format!("{scheme}://{authority}"))
        .or_else(|_| refuse("is not a valid header value"))
}

/// `host` and the port after its last `:` (outside an IPv6 literal's brackets).
fn split_port(authority: &str) -> (&str, Option<&str>) {
    let host_end = authority.rfind(']').map_or(0, |i| i + 1);
    match authority[host_end..].rfind(':') {
        Some(i) => (
            &authority[..host_end + i],
            Some(&authority[host_end + i + 1..]),
        ),
        None => (authority, None),
    }
}

fn invalid(origin: &str, reason: &'static str) -> Error {
    // Escaped and cut: a refused value must not forge log lines or flood a message.
    let mut shown: String = origin
        .chars()
        .take(100)
        .flat_map(char::escape_debug)
        .collect();
    if origin.chars().nth(100).is_some() {
        shown.push('…');
    }
    Error::InvalidOrigin {
        origin: shown,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(origin: &str, expected: Result<&str, &str>) {
        let got = parse_origin(origin).map_err(|e| e.to_string());
        match (got, expected) {
            (Ok(v), Ok(want)) => assert_eq!(v, want, "{origin}"),
            (Err(e), Err(want)) => assert_eq!(e, want, "{origin}"),
            (got, want) => panic!("{origin}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn origins_are_normalized() {
        check("https://app.example", Ok("https://app.example"));
        check("https://App.Example/", Ok("https://app.example"));
        check("http://localhost:3000", Ok("http://localhost:3000"));
        check("HTTP://127.0.0.1:8080/", Ok("http://127.0.0.1:8080"));
        check("https://[::1]:8443", Ok("https://[::1]:8443"));
        check(
            "https://xn--bcher-kva.example",
            Ok("https://xn--bcher-kva.example"),
        );
    }

    #[test]
    fn every_refusal_names_the_origin_and_why() {
        let path = "must be scheme://host[:port], without path, query, fragment or user";
        for (origin, why) in [
            (
                "*",
                "is refused: a credentialed policy must list its origins",
            ),
            (
                "null",
                "is refused: sandboxed and file: pages, which anyone can make, send it",
            ),
            ("ftp://a", "must start with http:// or https://"),
            ("app.example", "must start with http:// or https://"),
            ("javascript://x", "must start with http:// or https://"),
            ("https://app.example/path", path),
            ("https://app.example//", path),
            ("https://app.example?x=1", path),
            ("https://app.example#f", path),
            ("https://user:pw@app.example", path),
            (
                "https://bücher.example",
                "must be ASCII (write an international domain in its xn-- form)",
            ),
            ("https://", "has no valid host"),
            ("https://:443", "has no valid host"),
            ("https://a b", "has no valid host"),
            ("https://[::1", "has no valid host"),
            ("https://[nope]", "has no valid host"),
            ("https://a:", "has an invalid port"),
            ("https://a:65536", "has an invalid port"),
            ("https://a:+80", "has an invalid port"),
        ] {
            check(origin, Err(&format!("CORS origin `{origin}` {why}")));
        }
    }

    #[test]
    fn refused_values_are_escaped_and_cut() {
        let e = parse_origin("https://a\n- forged").unwrap_err().to_string();
        assert_eq!(e, "CORS origin `https://a\\n- forged` has no valid host");
        let e = parse_origin(r"https://a\b").unwrap_err().to_string();
        assert!(
            e.starts_with(r"CORS origin `https://a\\b` must be scheme://host"),
            "{e}"
        );
        let long = format!("https://{}", "a".repeat(1000));
        let e = parse_origin(&long).unwrap_err().to_string();
        assert!(e.len() < 150 && e.ends_with("…` is too long"), "{e}");
    }

    #[test]
    fn lists_are_trimmed_deduplicated_and_refused_whole() {
        let cors =
            StrictCors::from_list(" https://a.example/, ,https://A.example,http://b:1").unwrap();
        assert_eq!(cors.origins(), ["https://a.example", "http://b:1"]);
        assert!(StrictCors::from_list("").unwrap().is_empty());
        assert!(StrictCors::from_list("https://a.example, *").is_err());
    }

    #[test]
    fn max_age_is_capped() {
        let cors = StrictCors::new(["https://a"]).unwrap();
        assert_eq!(cors.max_age, DEFAULT_MAX_AGE);
        let cors = cors.max_age(Duration::from_secs(10_000_000));
        assert_eq!(cors.max_age, MAX_MAX_AGE);
    }
}
