//! [`DetailsPolicy`]: who may see a report beyond its status.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use ::axum::extract::ConnectInfo;
use http::request::Parts;

type Predicate = dyn Fn(&Parts) -> bool + Send + Sync;

/// Decides, per request, whether the caller sees the full report or only its status.
///
/// The default is [`never`](Self::never): the public sees `{"status":"…"}` and nothing
/// about checks, versions or errors. Grant details with a predicate over the request
/// head, or with the ready-made [`bearer_token`](Self::bearer_token) and
/// [`loopback`](Self::loopback), combined with [`or`](Self::or).
///
/// ```
/// use keel_health::axum::DetailsPolicy;
///
/// let policy = DetailsPolicy::bearer_token("s3cret")
///     .or(DetailsPolicy::when(|parts| parts.headers.contains_key("x-internal-caller")));
/// let (parts, ()) = http::Request::get("/health").header("x-internal-caller", "1").body(())?.into_parts();
/// assert!(policy.allows(&parts));
/// # Ok::<(), http::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct DetailsPolicy(Kind);

#[derive(Clone, Default)]
enum Kind {
    #[default]
    Never,
    Always,
    When(Arc<Predicate>),
    Any(Arc<[DetailsPolicy]>),
}

impl DetailsPolicy {
    /// Nobody sees details (the default).
    ///
    /// ```
    /// let (parts, ()) = http::Request::get("/health").body(())?.into_parts();
    /// assert!(!keel_health::axum::DetailsPolicy::never().allows(&parts));
    /// # Ok::<(), http::Error>(())
    /// ```
    #[must_use]
    pub const fn never() -> Self {
        Self(Kind::Never)
    }

    /// Everybody sees details: only for endpoints that are not reachable publicly.
    ///
    /// ```
    /// let (parts, ()) = http::Request::get("/health").body(())?.into_parts();
    /// assert!(keel_health::axum::DetailsPolicy::always().allows(&parts));
    /// # Ok::<(), http::Error>(())
    /// ```
    #[must_use]
    pub const fn always() -> Self {
        Self(Kind::Always)
    }

    /// Details when `predicate` returns `true` for the request head (method, URI,
    /// headers, extensions such as an authenticated user set by a middleware).
    #[must_use]
    pub fn when<F>(predicate: F) -> Self
    where
        F: Fn(&Parts) -> bool + Send + Sync + 'static,
    {
        Self(Kind::When(Arc::new(predicate)))
    }

    /// Details when the request carries `Authorization: Bearer <token>`. The comparison
    /// takes the same time wherever the first difference is; an empty `token` never
    /// matches.
    ///
    /// ```
    /// use keel_health::axum::DetailsPolicy;
    /// let policy = DetailsPolicy::bearer_token("s3cret");
    /// let (ok, ()) = http::Request::get("/health").header("authorization", "Bearer s3cret").body(())?.into_parts();
    /// let (ko, ()) = http::Request::get("/health").header("authorization", "Bearer s3creT").body(())?.into_parts();
    /// assert!(policy.allows(&ok) && !policy.allows(&ko));
    /// # Ok::<(), http::Error>(())
    /// ```
    #[must_use]
    pub fn bearer_token(token: impl Into<String>) -> Self {
        let token: Box<[u8]> = token.into().into_bytes().into_boxed_slice();
        Self::when(move |parts| {
            if token.is_empty() {
                return false;
            }
            let Some(value) = parts.headers.get(http::header::AUTHORIZATION) else {
                return false;
            };
            let value = value.as_bytes();
            // RFC 9110 §11.1: the scheme is case-insensitive.
            let Some((scheme, presented)) = value.split_at_checked(7) else {
                return false;
            };
            scheme.eq_ignore_ascii_case(b"bearer ") && constant_time_eq(presented, &token)
        })
    }

    /// Details for callers connecting from a loopback address (`127.0.0.0/8`, `::1`),
    /// e.g. a sidecar or `kubectl exec … curl localhost`.
    ///
    /// Needs the peer address: serve with
    /// `into_make_service_with_connect_info::<SocketAddr>()`; without it nobody matches.
    /// Behind a reverse proxy on the same host every request looks local: do not use it
    /// there.
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use axum::extract::ConnectInfo;
    /// use keel_health::axum::DetailsPolicy;
    ///
    /// let mut req = http::Request::get("/health").body(())?;
    /// req.extensions_mut().insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 50_000))));
    /// assert!(DetailsPolicy::loopback().allows(&req.into_parts().0));
    /// # Ok::<(), http::Error>(())
    /// ```
    #[must_use]
    pub fn loopback() -> Self {
        Self::when(|parts| {
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .is_some_and(|ConnectInfo(addr)| addr.ip().to_canonical().is_loopback())
        })
    }

    /// Details when either policy grants them.
    #[must_use]
    pub fn or(self, other: Self) -> Self {
        Self(Kind::Any(Arc::from([self, other])))
    }

    /// Whether this request may see details.
    #[must_use]
    pub fn allows(&self, parts: &Parts) -> bool {
        match &self.0 {
            Kind::Never => false,
            Kind::Always => true,
            Kind::When(predicate) => predicate(parts),
            Kind::Any(policies) => policies.iter().any(|p| p.allows(parts)),
        }
    }

    pub(crate) const fn is_never(&self) -> bool {
        matches!(self.0, Kind::Never)
    }
}

impl fmt::Debug for DetailsPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Kind::Never => f.write_str("DetailsPolicy::Never"),
            Kind::Always => f.write_str("DetailsPolicy::Always"),
            // The predicate may hold a token: never print it.
            Kind::When(_) => f.write_str("DetailsPolicy::When(..)"),
            Kind::Any(policies) => f.debug_tuple("DetailsPolicy::Any").field(policies).finish(),
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a
        .iter()
        .zip(b)
        .fold(0u8, |acc, (x, y)| std::hint::black_box(acc | (x ^ y)));
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(auth: Option<&str>, peer: Option<SocketAddr>) -> Parts {
        let mut req = http::Request::get("/health");
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let mut req = req.body(()).unwrap();
        if let Some(p) = peer {
            req.extensions_mut().insert(ConnectInfo(p));
        }
        req.into_parts().0
    }

    fn check(policy: &DetailsPolicy, auth: Option<&str>, peer: Option<&str>, expected: bool) {
        let p = parts(auth, peer.map(|s| s.parse().unwrap()));
        assert_eq!(policy.allows(&p), expected, "{policy:?} {auth:?} {peer:?}");
    }

    #[test]
    fn bearer() {
        let p = DetailsPolicy::bearer_token("tok");
        check(&p, Some("Bearer tok"), None, true);
        check(&p, Some("bearer tok"), None, true);
        check(&p, Some("Bearer tok "), None, false);
        check(&p, Some("Bearer to"), None, false);
        check(&p, Some("Basic tok"), None, false);
        check(&p, Some("Bearer"), None, false);
        check(&p, None, None, false);
        let empty = DetailsPolicy::bearer_token("");
        check(&empty, Some("Bearer "), None, false);
    }

    #[test]
    fn loopback() {
        let p = DetailsPolicy::loopback();
        check(&p, None, Some("127.0.0.1:1"), true);
        check(&p, None, Some("127.8.9.10:1"), true);
        check(&p, None, Some("[::1]:1"), true);
        check(&p, None, Some("[::ffff:127.0.0.1]:1"), true);
        check(&p, None, Some("10.0.0.1:1"), false);
        check(&p, None, None, false);
    }

    #[test]
    fn combinators_and_debug() {
        let p = DetailsPolicy::bearer_token("secret-token").or(DetailsPolicy::loopback());
        check(&p, Some("Bearer secret-token"), Some("10.0.0.1:1"), true);
        check(&p, None, Some("127.0.0.1:1"), true);
        check(&p, None, Some("10.0.0.1:1"), false);
        check(
            &DetailsPolicy::default(),
            Some("Bearer secret-token"),
            Some("127.0.0.1:1"),
            false,
        );
        check(&DetailsPolicy::always(), None, None, true);
        let debug = format!("{p:?}");
        assert!(!debug.contains("secret-token"), "{debug}");
    }
}
