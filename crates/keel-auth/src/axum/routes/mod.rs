//! [`SessionRoutes`]: the session HTTP routes over [`SessionFlow`], ready to mount
//! (features `axum`, `errors` and `ratelimit`), and [`SessionPaths`], where they live.
//!
//! | route ([`SessionRoute`]) | default path | request | answer |
//! |---|---|---|---|
//! | `Login` | `POST /api/v1/auth/login` | [`LoginRequest`](crate::flow::LoginRequest); the device cookie | 200 [`TokenPair`](crate::flow::TokenPair) + `Set-Cookie`, or [`MfaRequired`](crate::flow::MfaRequired) |
//! | `LoginMfa` | `POST /api/v1/auth/login/mfa` | [`MfaLoginRequest`](crate::flow::MfaLoginRequest) | 200 `TokenPair` |
//! | `Refresh` | `POST /api/v1/auth/refresh` | [`RefreshRequest`](crate::flow::RefreshRequest) | 200 `TokenPair` |
//! | `Logout` | `POST /api/v1/auth/logout` | bearer + `RefreshRequest` | 204 |
//! | `LogoutAll` | `POST /api/v1/auth/logout-all` | bearer | 204 |
//! | `Password` | `PUT /api/v1/auth/password` | bearer + [`PasswordChangeRequest`](crate::flow::PasswordChangeRequest) | 204 |
//! | `TotpEnroll` | `POST /api/v1/auth/mfa/totp` | bearer | 200 [`MfaEnrollment`](crate::flow::MfaEnrollment) |
//! | `TotpConfirm` | `POST /api/v1/auth/mfa/totp/confirm` | bearer + [`CodeRequest`](crate::flow::CodeRequest) | 200 [`RecoveryCodeList`](crate::flow::RecoveryCodeList) |
//!
//! What every route does for you:
//! - **bodies**: keel-envelope's `Json` (415 without a JSON `Content-Type`, 422 with the
//!   field path for a wrong shape or unknown field, 413 past the body limit: 16 KiB by
//!   default, [`SessionRoutes::body_limit`]); every answer is a keel envelope;
//! - **bounds first**: a value outside the documented bounds (lengths, control characters)
//!   is answered 422 `VALIDATION_ERROR` before any limiter, lookup or hash — junk costs an
//!   attacker nothing and charges nobody's login budget;
//! - **no caching**: every answer carries `Cache-Control: no-store` and `Pragma: no-cache`
//!   (RFC 6749 §5.1);
//! - **who may call**: the bearer routes take an access token only ([`Authenticated`](crate::axum::Authenticated): 401
//!   with an RFC 6750 challenge when missing, invalid, expired or revoked); a valid API
//!   key is answered 403 `FORBIDDEN` (`WWW-Authenticate: ApiKey …, error="insufficient_scope"`),
//!   an invalid one 401 — keys are for service-to-service calls, never for a user's sessions;
//! - **the client IP** for the failure-only login limits (login, password change) comes from
//!   keel-ratelimit's [`ClientIp`](keel_ratelimit::axum::ClientIp) with the
//!   [`KeyExtractor`] you give ([`SessionRoutes::client_ip`]; the peer address by default):
//!   behind a proxy, use `KeyExtractor::client_ip(trusted proxies)` so clients can neither
//!   spoof an address nor all share the proxy's;
//! - **the device cookie**: login reads `keel_device` from the `Cookie` headers (the first
//!   one; a forged or foreign one is simply not honoured) and, on success, sets it
//!   `HttpOnly; Secure; SameSite=Strict`, scoped to the login path.
//!
//! ```
//! use std::sync::Arc;
//! use axum::Router;
//! use keel_auth::admission::PasswordAdmission;
//! use keel_auth::axum::SessionRoutes;
//! use keel_auth::flow::{Account, AccountStore, AuthComponents, SessionFlow};
//! use keel_auth::login::{LoginEmail, LoginPolicy};
//! use keel_auth::{
//!     AccessTokens, ApiKeys, ApiKeysConfig, Authenticator, Key, KeySet, MemoryApiKeyStore,
//!     MemoryMfaStore, MemoryRefreshStore, MemoryTokenVersions, Mfa, MfaConfig, RefreshConfig,
//!     RefreshTokens, Revocations, StoreFuture,
//! };
//! use keel_crypto::{AsyncPasswordHasher, KeyRing, PasswordHasher, SecretKey};
//! use keel_ratelimit::axum::{KeyExtractor, TrustedProxies};
//!
//! struct NoAccounts;
//! impl AccountStore for NoAccounts {
//!     fn find_by_login<'a>(&'a self, _: &'a LoginEmail) -> StoreFuture<'a, Option<Account>> {
//!         Box::pin(async { Ok(None) })
//!     }
//!     fn find_by_subject<'a>(&'a self, _: &'a str) -> StoreFuture<'a, Option<Account>> {
//!         Box::pin(async { Ok(None) })
//!     }
//!     fn set_password_hash<'a>(&'a self, _: &'a str, _: &'a str) -> StoreFuture<'a, bool> {
//!         Box::pin(async { Ok(false) })
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let tokens = AccessTokens::builder("https://api.example.com", KeySet::new(Key::generate_hs256("k1")?)?).build()?;
//! let parts = AuthComponents {
//!     authenticator: Authenticator::new(tokens).with_revocations(Revocations::new(MemoryTokenVersions::new())),
//!     refresh: RefreshTokens::new(MemoryRefreshStore::new(), RefreshConfig::default()),
//!     mfa: Mfa::new(MemoryMfaStore::new(), Arc::new(KeyRing::generate(1)?), MfaConfig::builder("Example").build()?),
//!     api_keys: ApiKeys::new(MemoryApiKeyStore::new(), ApiKeysConfig::builder("ex").build()?),
//!     login: LoginPolicy::builder(SecretKey::generate()?).build()?,
//!     admission: PasswordAdmission::new(AsyncPasswordHasher::new(PasswordHasher::new())),
//! };
//! let flow = SessionFlow::new(parts, NoAccounts);
//!
//! let sessions = SessionRoutes::new(flow)
//!     .client_ip(KeyExtractor::client_ip(TrustedProxies::cidrs(["10.0.0.0/8"])?))
//!     .password_rule(|account, new| keel_auth::axum::default_password_rule(account, new))
//!     .into_router();
//! let app: Router = Router::new().merge(sessions);
//! // Serve with connection info, or every client is 127.0.0.1 to the login limits:
//! // axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await?;
//! # drop(app); Ok(()) }
//! ```

mod handlers;
#[cfg(feature = "utoipa")]
mod openapi;
#[cfg(feature = "validation")]
mod policy;

use std::fmt;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::routing::{MethodFilter, on};
use keel_errors::ApiError;
use keel_ratelimit::axum::KeyExtractor;
use secrecy::SecretString;

pub use handlers::default_password_rule;
#[cfg(feature = "utoipa")]
#[cfg_attr(docsrs, doc(cfg(feature = "utoipa")))]
pub use openapi::SessionApi;
#[cfg(feature = "validation")]
#[cfg_attr(docsrs, doc(cfg(feature = "validation")))]
pub use policy::password_policy_rule;

use crate::flow::{Account, SessionFlow};
use crate::{ApiKeys, Authenticator, Error, Result};

/// Default request body limit of the session routes: far above any valid body (a
/// password is at most 1,024 characters), far below what could cost memory.
pub const DEFAULT_BODY_LIMIT: usize = 16 * 1024;

/// One route of [`SessionRoutes`] (see the [module table](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SessionRoute {
    /// `POST` login with e-mail and password.
    Login,
    /// `POST` the second factor of a login.
    LoginMfa,
    /// `POST` refresh-token rotation.
    Refresh,
    /// `POST` end this session.
    Logout,
    /// `POST` end every session of the caller.
    LogoutAll,
    /// `PUT` change the caller's password.
    Password,
    /// `POST` start a TOTP enrollment.
    TotpEnroll,
    /// `POST` confirm a TOTP enrollment.
    TotpConfirm,
}

impl SessionRoute {
    /// Every route, in the table's order.
    pub const ALL: [Self; 8] = [
        Self::Login,
        Self::LoginMfa,
        Self::Refresh,
        Self::Logout,
        Self::LogoutAll,
        Self::Password,
        Self::TotpEnroll,
        Self::TotpConfirm,
    ];

    /// The path it has unless configured otherwise (under `/api/v1/auth`).
    #[must_use]
    pub const fn default_path(self) -> &'static str {
        match self {
            Self::Login => "/api/v1/auth/login",
            Self::LoginMfa => "/api/v1/auth/login/mfa",
            Self::Refresh => "/api/v1/auth/refresh",
            Self::Logout => "/api/v1/auth/logout",
            Self::LogoutAll => "/api/v1/auth/logout-all",
            Self::Password => "/api/v1/auth/password",
            Self::TotpEnroll => "/api/v1/auth/mfa/totp",
            Self::TotpConfirm => "/api/v1/auth/mfa/totp/confirm",
        }
    }

    /// Its method: `PUT` for [`Password`](Self::Password), `POST` for the others.
    #[must_use]
    pub const fn method(self) -> http::Method {
        match self {
            Self::Password => http::Method::PUT,
            _ => http::Method::POST,
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// Where the session routes live: every [`SessionRoute`] at its
/// [default path](SessionRoute::default_path) unless moved or disabled. `const`, so an
/// application can name one value for its router and (feature `utoipa`) its OpenAPI
/// document, which it modifies ([`utoipa::Modify`]).
///
/// ```
/// use keel_auth::axum::{SessionPaths, SessionRoute};
///
/// const PATHS: SessionPaths = SessionPaths::new()
///     .path(SessionRoute::Login, "/auth/sign-in")
///     .disable(SessionRoute::TotpEnroll)
///     .disable(SessionRoute::TotpConfirm);
/// assert_eq!(PATHS.get(SessionRoute::Login), Some("/auth/sign-in"));
/// assert_eq!(PATHS.get(SessionRoute::Refresh), Some("/api/v1/auth/refresh"));
/// assert_eq!(PATHS.get(SessionRoute::TotpEnroll), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPaths {
    paths: [Option<&'static str>; 8],
    tag: &'static str,
}

impl Default for SessionPaths {
    fn default() -> Self {
        Self::new()
    }
}

impl SessionPaths {
    /// Every route at its default path, OpenAPI tag `auth`.
    #[must_use]
    pub const fn new() -> Self {
        let mut paths = [None; 8];
        let mut i = 0;
        while i < SessionRoute::ALL.len() {
            paths[i] = Some(SessionRoute::ALL[i].default_path());
            i += 1;
        }
        Self { paths, tag: "auth" }
    }

    /// Serves `route` at `path` (absolute, without parameters; checked by
    /// [`SessionRoutes::paths`]).
    #[must_use]
    pub const fn path(mut self, route: SessionRoute, path: &'static str) -> Self {
        self.paths[route.index()] = Some(path);
        self
    }

    /// Leaves `route` out (e.g. the TOTP routes of an application without a second factor).
    #[must_use]
    pub const fn disable(mut self, route: SessionRoute) -> Self {
        self.paths[route.index()] = None;
        self
    }

    /// The OpenAPI tag of the documented operations (default `auth`).
    #[must_use]
    pub const fn tag(mut self, tag: &'static str) -> Self {
        self.tag = tag;
        self
    }

    /// Where `route` is served; `None` when disabled.
    #[must_use]
    pub const fn get(&self, route: SessionRoute) -> Option<&'static str> {
        self.paths[route.index()]
    }

    /// The enabled routes and their paths.
    pub fn iter(&self) -> impl Iterator<Item = (SessionRoute, &'static str)> + '_ {
        SessionRoute::ALL
            .into_iter()
            .filter_map(|r| self.get(r).map(|p| (r, p)))
    }

    /// Every path absolute, free of parameters, wildcards, `;`, `,` and anything but
    /// visible ASCII (the login path is also a cookie attribute), and no two alike.
    fn check(&self) -> Result<()> {
        let mut seen: Vec<&str> = Vec::new();
        for (route, path) in self.iter() {
            let ok = path.starts_with('/')
                && path.len() <= 256
                && path
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && !b"{}*;,\"\\".contains(&b));
            if !ok {
                return Err(Error::Config(format!(
                    "session route {route:?}: path {path:?} must be absolute, at most 256 \
                     visible ASCII characters, without parameters, `;` or `,`"
                )));
            }
            if seen.contains(&path) {
                return Err(Error::Config(format!(
                    "session route {route:?}: path {path:?} is used twice"
                )));
            }
            seen.push(path);
        }
        Ok(())
    }
}

/// The application's rule for a new password, run by the password change once the
/// current password is checked: `Err` (normally a 422 naming `new_password`) refuses it.
type PasswordRule =
    dyn Fn(&Account, &SecretString) -> std::result::Result<(), ApiError> + Send + Sync;

/// The session routes over a [`SessionFlow`], as an axum [`Router`] to merge into the
/// application's (see the [module documentation](self)).
///
/// # Example
///
/// ```
/// # fn flow() -> keel_auth::flow::SessionFlow { unimplemented!() }
/// # fn app() -> axum::Router {
/// use keel_auth::axum::SessionRoutes;
/// let app = axum::Router::new().merge(SessionRoutes::new(flow()).into_router());
/// # app }
/// ```
#[derive(Clone)]
pub struct SessionRoutes {
    flow: SessionFlow,
    paths: SessionPaths,
    client_ip: KeyExtractor,
    rule: Arc<PasswordRule>,
    body_limit: usize,
}

impl fmt::Debug for SessionRoutes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionRoutes")
            .field("flow", &self.flow)
            .field("paths", &self.paths)
            .field("client_ip", &self.client_ip)
            .field("body_limit", &self.body_limit)
            .finish_non_exhaustive()
    }
}

impl SessionRoutes {
    /// The routes over `flow`: default [paths](SessionPaths::new), the client IP from the
    /// socket peer ([`KeyExtractor::peer_ip`]), [`default_password_rule`], a
    /// [`DEFAULT_BODY_LIMIT`] body limit.
    #[must_use]
    pub fn new(flow: SessionFlow) -> Self {
        Self {
            flow,
            paths: SessionPaths::new(),
            client_ip: KeyExtractor::peer_ip(),
            rule: Arc::new(default_password_rule),
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }

    /// Where the routes live.
    ///
    /// # Errors
    /// [`Error::Config`] for a path [`SessionPaths`] does not allow: relative, longer than
    /// 256 characters, with parameters or wildcards, with `;`, `,`, quotes or anything but
    /// visible ASCII (the login path is also the device cookie's `Path`), or used twice.
    pub fn paths(mut self, paths: SessionPaths) -> Result<Self> {
        paths.check()?;
        self.paths = paths;
        Ok(self)
    }

    /// How the client IP of a login or password change is found (the failure-only limits
    /// count per client): use the extractor of your rate limit layer, e.g.
    /// `KeyExtractor::client_ip(trusted proxies)` behind a load balancer.
    #[must_use]
    pub fn client_ip(mut self, extractor: KeyExtractor) -> Self {
        self.client_ip = extractor;
        self
    }

    /// The rule a new password must pass, run after the current password is checked. It
    /// sees the [`Account`] (its login name and [context words](Account::context): the
    /// names it must not be) and the new password; its error is the answer (normally
    /// [`ApiError::validation`] naming `new_password`). Replaces
    /// [`default_password_rule`]; call that from yours to keep its checks.
    ///
    /// ```
    /// # fn flow() -> keel_auth::flow::SessionFlow { unimplemented!() }
    /// # fn f() {
    /// use keel_auth::axum::{SessionRoutes, default_password_rule};
    /// use keel_errors::ApiError;
    /// use secrecy::ExposeSecret;
    ///
    /// let routes = SessionRoutes::new(flow()).password_rule(|account, new| {
    ///     default_password_rule(account, new)?;
    ///     if new.expose_secret().contains("acme") {
    ///         return Err(ApiError::bad_request("no company names"));
    ///     }
    ///     Ok(())
    /// });
    /// # }
    /// ```
    #[must_use]
    pub fn password_rule<F>(mut self, rule: F) -> Self
    where
        F: Fn(&Account, &SecretString) -> std::result::Result<(), ApiError> + Send + Sync + 'static,
    {
        self.rule = Arc::new(rule);
        self
    }

    /// The largest request body accepted (413 beyond); default [`DEFAULT_BODY_LIMIT`].
    #[must_use]
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// The routes as a router with its own state, to [`merge`](Router::merge) into the
    /// application's at any state type `S` (the paths are absolute: merge, don't nest).
    pub fn into_router<S>(self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        use handlers as h;
        let paths = self.paths;
        let state = Shared(Arc::new(Inner {
            login_cookie_path: paths.get(SessionRoute::Login).unwrap_or("/"),
            flow: self.flow,
            client_ip: self.client_ip,
            rule: self.rule,
        }));
        let mut router = Router::new();
        for (route, path) in paths.iter() {
            let method = if route.method() == http::Method::PUT {
                MethodFilter::PUT
            } else {
                MethodFilter::POST
            };
            router = router.route(
                path,
                match route {
                    SessionRoute::Login => on(method, h::login),
                    SessionRoute::LoginMfa => on(method, h::login_mfa),
                    SessionRoute::Refresh => on(method, h::refresh),
                    SessionRoute::Logout => on(method, h::logout),
                    SessionRoute::LogoutAll => on(method, h::logout_all),
                    SessionRoute::Password => on(method, h::change_password),
                    SessionRoute::TotpEnroll => on(method, h::enroll_totp),
                    SessionRoute::TotpConfirm => on(method, h::confirm_totp),
                },
            );
        }
        router
            .layer(axum::middleware::map_response(h::no_store))
            .layer(DefaultBodyLimit::max(self.body_limit))
            .with_state(state)
    }
}

/// The routes' state.
#[derive(Clone)]
struct Shared(Arc<Inner>);

struct Inner {
    flow: SessionFlow,
    client_ip: KeyExtractor,
    rule: Arc<PasswordRule>,
    login_cookie_path: &'static str,
}

impl FromRef<Shared> for Authenticator {
    fn from_ref(s: &Shared) -> Self {
        s.0.flow.components().authenticator.clone()
    }
}

impl FromRef<Shared> for ApiKeys {
    fn from_ref(s: &Shared) -> Self {
        s.0.flow.components().api_keys.clone()
    }
}

impl FromRef<Shared> for KeyExtractor {
    fn from_ref(s: &Shared) -> Self {
        s.0.client_ip.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(paths: SessionPaths, ok: bool) {
        assert_eq!(paths.check().is_ok(), ok, "{paths:?}");
    }

    #[test]
    fn paths_are_checked() {
        check(SessionPaths::new(), true);
        check(SessionPaths::new().path(SessionRoute::Login, "/in"), true);
        check(SessionPaths::new().path(SessionRoute::Login, "in"), false);
        check(
            SessionPaths::new().path(SessionRoute::Login, "/{id}"),
            false,
        );
        check(SessionPaths::new().path(SessionRoute::Login, "/a;b"), false);
        check(SessionPaths::new().path(SessionRoute::Login, "/a b"), false);
        check(
            SessionPaths::new().path(SessionRoute::Login, "/*rest"),
            false,
        );
        check(
            SessionPaths::new().path(SessionRoute::Login, "/api/v1/auth/refresh"),
            false,
        );
        let all_off = SessionRoute::ALL
            .into_iter()
            .fold(SessionPaths::new(), SessionPaths::disable);
        assert_eq!(all_off.iter().count(), 0);
        check(all_off, true);
    }

    #[test]
    fn default_paths_and_methods() {
        let paths: Vec<_> = SessionPaths::new().iter().collect();
        assert_eq!(paths.len(), 8);
        assert_eq!(SessionRoute::Password.method(), http::Method::PUT);
        assert_eq!(SessionRoute::Login.method(), http::Method::POST);
        for (i, r) in SessionRoute::ALL.into_iter().enumerate() {
            assert_eq!(r.index(), i);
        }
    }
}
