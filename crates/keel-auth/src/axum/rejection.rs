//! [`AuthRejection`]: the RFC 6750 answer when authentication or authorization fails.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

use crate::Error;
use crate::token::DEFAULT_REALM;

/// What went wrong, as far as the client may know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthRejectionKind {
    /// No `Authorization: Bearer` header (or another scheme): 401 with a bare challenge.
    MissingToken,
    /// The token is malformed, forged, expired or revoked: 401 `error="invalid_token"`.
    InvalidToken,
    /// Authenticated, but without the required role or permission: 403
    /// `error="insufficient_scope"`.
    InsufficientScope,
    /// The revocation store could not be reached: 503 (fail closed, and not a 401 that would
    /// make clients discard valid tokens).
    Unavailable,
}

/// The rejection of [`Authenticated`](super::Authenticated) and the guards: a status, an
/// RFC 6750 `WWW-Authenticate` challenge and a body that never says *why* a token was
/// refused (the reason is logged at `debug`).
///
/// | kind | status | `WWW-Authenticate` |
/// |---|---|---|
/// | missing token | 401 | `Bearer realm="api"` |
/// | invalid token | 401 | `Bearer realm="api", error="invalid_token"` |
/// | insufficient scope | 403 | `Bearer realm="api", error="insufficient_scope"` |
/// | store unavailable | 503 | — |
///
/// Without the `errors` feature the body is a short plain-text message; with it, a
/// keel-errors envelope (`UNAUTHENTICATED`, `FORBIDDEN`, `SERVICE_UNAVAILABLE`) and
/// `AuthRejection` converts into [`keel_errors::ApiError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRejection {
    kind: AuthRejectionKind,
    realm: Box<str>,
}

impl AuthRejection {
    /// A rejection of `kind` with challenge realm `realm`.
    #[must_use]
    pub fn new(kind: AuthRejectionKind, realm: &str) -> Self {
        Self {
            kind,
            realm: realm.into(),
        }
    }

    pub(crate) fn from_error(e: &Error, realm: &str) -> Self {
        let kind = match e {
            Error::InsufficientScope => AuthRejectionKind::InsufficientScope,
            Error::Store(_) => AuthRejectionKind::Unavailable,
            _ => AuthRejectionKind::InvalidToken,
        };
        Self::new(kind, realm)
    }

    /// What went wrong.
    #[must_use]
    pub fn kind(&self) -> AuthRejectionKind {
        self.kind
    }

    /// The HTTP status.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self.kind {
            AuthRejectionKind::MissingToken | AuthRejectionKind::InvalidToken => {
                StatusCode::UNAUTHORIZED
            }
            AuthRejectionKind::InsufficientScope => StatusCode::FORBIDDEN,
            AuthRejectionKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The `WWW-Authenticate` challenge (RFC 6750 §3), if this rejection has one.
    ///
    /// ```
    /// use keel_auth::axum::{AuthRejection, AuthRejectionKind};
    /// let r = AuthRejection::new(AuthRejectionKind::InvalidToken, "api");
    /// assert_eq!(r.www_authenticate().as_deref(), Some(r#"Bearer realm="api", error="invalid_token""#));
    /// ```
    #[must_use]
    pub fn www_authenticate(&self) -> Option<String> {
        challenge(self.kind, &self.realm)
    }

    fn message(&self) -> &'static str {
        match self.kind {
            AuthRejectionKind::MissingToken => "Authentication required",
            AuthRejectionKind::InvalidToken => "The access token is invalid or expired",
            AuthRejectionKind::InsufficientScope => "You do not have permission to do this",
            AuthRejectionKind::Unavailable => "Authentication is temporarily unavailable",
        }
    }
}

/// The RFC 6750 challenge for `kind` (the realm is sanitized by the `Authenticator`).
pub(crate) fn challenge(kind: AuthRejectionKind, realm: &str) -> Option<String> {
    let error = match kind {
        AuthRejectionKind::MissingToken => return Some(format!("Bearer realm=\"{realm}\"")),
        AuthRejectionKind::InvalidToken => "invalid_token",
        AuthRejectionKind::InsufficientScope => "insufficient_scope",
        AuthRejectionKind::Unavailable => return None,
    };
    Some(format!("Bearer realm=\"{realm}\", error=\"{error}\""))
}

impl From<Error> for AuthRejection {
    /// `InsufficientScope` → 403, store errors → 503, everything else → 401 `invalid_token`,
    /// with the default realm.
    fn from(e: Error) -> Self {
        Self::from_error(&e, DEFAULT_REALM)
    }
}

impl std::fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for AuthRejection {}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        let challenge = self
            .www_authenticate()
            .and_then(|c| HeaderValue::from_str(&c).ok());
        #[cfg(feature = "errors")]
        let mut res = keel_errors::ApiError::from(self).into_response();
        #[cfg(not(feature = "errors"))]
        let mut res = (
            self.status(),
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            self.message(),
        )
            .into_response();
        if let Some(v) = challenge {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        res
    }
}

#[cfg(feature = "errors")]
#[cfg_attr(docsrs, doc(cfg(feature = "errors")))]
impl From<AuthRejection> for keel_errors::ApiError {
    /// 401 `UNAUTHENTICATED` / 403 `FORBIDDEN` / 503 `SERVICE_UNAVAILABLE` with the RFC 6750
    /// challenge.
    fn from(r: AuthRejection) -> Self {
        let e = match r.kind {
            AuthRejectionKind::MissingToken | AuthRejectionKind::InvalidToken => {
                Self::unauthenticated(r.message())
            }
            AuthRejectionKind::InsufficientScope => Self::forbidden(r.message()),
            AuthRejectionKind::Unavailable => Self::service_unavailable(r.message()),
        };
        match r.www_authenticate() {
            Some(c) => e.with_www_authenticate(c),
            None => e,
        }
    }
}
