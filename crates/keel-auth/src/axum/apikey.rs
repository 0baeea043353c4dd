//! [`ApiKeyAuth`]: the extractor for `Authorization: ApiKey <key>` and `X-API-Key: <key>`.

use std::ops::Deref;

use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::header::{AUTHORIZATION, HeaderName};
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};

use crate::token::DEFAULT_REALM;
use crate::{ApiKeyPrincipal, ApiKeys, Error};

/// The `X-API-Key` header.
pub const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// Longest header value looked at (a key is at most 53 characters): anything longer is
/// rejected before any parsing.
pub const MAX_API_KEY_HEADER_LEN: usize = 128;

/// The caller of a request authenticated by an API key, from `Authorization: ApiKey <key>`
/// or `X-API-Key: <key>`.
///
/// Verifies the key with the [`ApiKeys`] taken from the router state through [`FromRef`]:
/// checksum offline, then lookup, constant-time comparison, revocation and expiry. Both
/// headers at once, repeated headers, over-long values and non-ASCII values are rejected.
/// Rejects with [`ApiKeyRejection`] (401, one answer for every bad key; 503 when the store
/// is down). `Option<ApiKeyAuth>` is `None` without a key and still rejects a bad one.
///
/// ```
/// use axum::{Router, routing::post, extract::FromRef};
/// use keel_auth::{ApiKeys, ApiKeysConfig, MemoryApiKeyStore};
/// use keel_auth::axum::{ApiKeyAuth, ApiKeyRejection};
///
/// #[derive(Clone, FromRef)]
/// struct AppState {
///     keys: ApiKeys,
/// }
///
/// async fn ingest(caller: ApiKeyAuth) -> Result<String, ApiKeyRejection> {
///     caller.require_scope("events:write")?;
///     Ok(format!("accepted from {}", caller.subject()))
/// }
///
/// # fn main() -> keel_auth::Result<()> {
/// let keys = ApiKeys::new(MemoryApiKeyStore::new(), ApiKeysConfig::builder("kl_live").build()?);
/// let app: Router = Router::new()
///     .route("/events", post(ingest))
///     .with_state(AppState { keys });
/// # drop(app); Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyAuth(pub ApiKeyPrincipal);

impl ApiKeyAuth {
    /// The principal.
    #[must_use]
    pub fn into_inner(self) -> ApiKeyPrincipal {
        self.0
    }

    /// `Ok` if the key has `scope`.
    ///
    /// # Errors
    /// A 403 [`ApiKeyRejection`] otherwise.
    pub fn require_scope(&self, scope: &str) -> Result<(), ApiKeyRejection> {
        self.0
            .require_scope(scope)
            .map_err(|_| ApiKeyRejection::new(ApiKeyRejectionKind::InsufficientScope))
    }
}

impl Deref for ApiKeyAuth {
    type Target = ApiKeyPrincipal;

    fn deref(&self) -> &ApiKeyPrincipal {
        &self.0
    }
}

/// What went wrong with an API key, as far as the client may know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ApiKeyRejectionKind {
    /// No key in the request: 401.
    MissingKey,
    /// A malformed, unknown, revoked or expired key, or ambiguous headers: 401
    /// `error="invalid_key"`.
    InvalidKey,
    /// The key lacks the required scope: 403 `error="insufficient_scope"`.
    InsufficientScope,
    /// The key store could not be reached: 503.
    Unavailable,
}

/// The rejection of [`ApiKeyAuth`]: the same shape as the bearer-token
/// [`AuthRejection`](super::AuthRejection) — status, a `WWW-Authenticate` challenge (scheme
/// `ApiKey`), a body that never says why (the reason is logged at `debug`), and with the
/// `errors` feature a keel-errors envelope.
///
/// | kind | status | `WWW-Authenticate` |
/// |---|---|---|
/// | missing key | 401 | `ApiKey realm="api"` |
/// | invalid key | 401 | `ApiKey realm="api", error="invalid_key"` |
/// | insufficient scope | 403 | `ApiKey realm="api", error="insufficient_scope"` |
/// | store unavailable | 503 | — |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiKeyRejection {
    kind: ApiKeyRejectionKind,
}

impl ApiKeyRejection {
    /// A rejection of `kind`.
    #[must_use]
    pub const fn new(kind: ApiKeyRejectionKind) -> Self {
        Self { kind }
    }

    fn from_error(e: &Error) -> Self {
        Self::new(match e {
            Error::InsufficientScope => ApiKeyRejectionKind::InsufficientScope,
            Error::Store(_) => ApiKeyRejectionKind::Unavailable,
            _ => ApiKeyRejectionKind::InvalidKey,
        })
    }

    /// What went wrong.
    #[must_use]
    pub fn kind(&self) -> ApiKeyRejectionKind {
        self.kind
    }

    /// The HTTP status.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self.kind {
            ApiKeyRejectionKind::MissingKey | ApiKeyRejectionKind::InvalidKey => {
                StatusCode::UNAUTHORIZED
            }
            ApiKeyRejectionKind::InsufficientScope => StatusCode::FORBIDDEN,
            ApiKeyRejectionKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The `WWW-Authenticate` challenge, if this rejection has one.
    ///
    /// ```
    /// use keel_auth::axum::{ApiKeyRejection, ApiKeyRejectionKind};
    /// let r = ApiKeyRejection::new(ApiKeyRejectionKind::InvalidKey);
    /// assert_eq!(r.www_authenticate(), Some(r#"ApiKey realm="api", error="invalid_key""#));
    /// ```
    #[must_use]
    pub fn www_authenticate(&self) -> Option<&'static str> {
        // The realm is the crate default; a constant keeps the header allocation-free.
        const _: () = assert!(DEFAULT_REALM.len() == 3);
        match self.kind {
            ApiKeyRejectionKind::MissingKey => Some(r#"ApiKey realm="api""#),
            ApiKeyRejectionKind::InvalidKey => Some(r#"ApiKey realm="api", error="invalid_key""#),
            ApiKeyRejectionKind::InsufficientScope => {
                Some(r#"ApiKey realm="api", error="insufficient_scope""#)
            }
            ApiKeyRejectionKind::Unavailable => None,
        }
    }

    fn message(&self) -> &'static str {
        match self.kind {
            ApiKeyRejectionKind::MissingKey => "An API key is required",
            ApiKeyRejectionKind::InvalidKey => "The API key is invalid",
            ApiKeyRejectionKind::InsufficientScope => "The API key does not allow this",
            ApiKeyRejectionKind::Unavailable => "Authentication is temporarily unavailable",
        }
    }
}

impl std::fmt::Display for ApiKeyRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for ApiKeyRejection {}

impl IntoResponse for ApiKeyRejection {
    fn into_response(self) -> Response {
        #[cfg(feature = "errors")]
        let mut res = keel_errors::ApiError::from(self).into_response();
        #[cfg(not(feature = "errors"))]
        let mut res = (
            self.status(),
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            self.message(),
        )
            .into_response();
        if let Some(c) = self.www_authenticate() {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(c));
        }
        res
    }
}

#[cfg(feature = "errors")]
#[cfg_attr(docsrs, doc(cfg(feature = "errors")))]
impl From<ApiKeyRejection> for keel_errors::ApiError {
    /// 401 `UNAUTHENTICATED` / 403 `FORBIDDEN` / 503 `SERVICE_UNAVAILABLE` with the challenge.
    fn from(r: ApiKeyRejection) -> Self {
        let e = match r.kind {
            ApiKeyRejectionKind::MissingKey | ApiKeyRejectionKind::InvalidKey => {
                Self::unauthenticated(r.message())
            }
            ApiKeyRejectionKind::InsufficientScope => Self::forbidden(r.message()),
            ApiKeyRejectionKind::Unavailable => Self::service_unavailable(r.message()),
        };
        match r.www_authenticate() {
            Some(c) => e.with_www_authenticate(c),
            None => e,
        }
    }
}

/// The one header value named `name`: `Ok(None)` when absent, `Err` when repeated,
/// over-long or not visible ASCII.
fn single<'a>(parts: &'a Parts, name: &HeaderName) -> Result<Option<&'a str>, ApiKeyRejectionKind> {
    let mut values = parts.headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        tracing::debug!(header = %name, "API key rejected: repeated header");
        return Err(ApiKeyRejectionKind::InvalidKey);
    }
    if value.len() > MAX_API_KEY_HEADER_LEN {
        tracing::debug!(header = %name, "API key rejected: header too long");
        return Err(ApiKeyRejectionKind::InvalidKey);
    }
    value.to_str().map(Some).map_err(|_| {
        tracing::debug!(header = %name, "API key rejected: non-ASCII header");
        ApiKeyRejectionKind::InvalidKey
    })
}

/// The presented key: from `Authorization: ApiKey …` (other schemes are left to other
/// extractors) or `X-API-Key`, never both.
pub(crate) fn presented_key(parts: &Parts) -> Result<Option<&str>, ApiKeyRejectionKind> {
    // Only an `ApiKey` scheme makes the header ours: a bearer token (longer than any key,
    // possibly repeated) is judged by the bearer extractor, not here.
    let ours = parts
        .headers
        .get_all(AUTHORIZATION)
        .iter()
        .any(|v| is_api_key_scheme(v.as_bytes()));
    let from_authorization = if ours {
        single(parts, &AUTHORIZATION)?.map(|value| {
            let (_, rest) = value.split_once(' ').unwrap_or((value, ""));
            rest.trim_matches(' ')
        })
    } else {
        None
    };
    let from_header = single(parts, &X_API_KEY)?.map(|v| v.trim_matches(' '));
    let key = match (from_authorization, from_header) {
        (Some(_), Some(_)) => {
            tracing::debug!("API key rejected: both Authorization and X-API-Key");
            return Err(ApiKeyRejectionKind::InvalidKey);
        }
        (Some(k), None) | (None, Some(k)) => k,
        (None, None) => return Ok(None),
    };
    if key.is_empty() {
        tracing::debug!("API key rejected: empty");
        return Err(ApiKeyRejectionKind::InvalidKey);
    }
    Ok(Some(key))
}

/// Whether an `Authorization` value uses the `ApiKey` scheme (case-insensitive).
fn is_api_key_scheme(value: &[u8]) -> bool {
    let scheme = value.split(|b| *b == b' ').next().unwrap_or_default();
    scheme.eq_ignore_ascii_case(b"apikey")
}

async fn authenticate(
    parts: &Parts,
    keys: &ApiKeys,
) -> Result<Option<ApiKeyAuth>, ApiKeyRejection> {
    let Some(key) = presented_key(parts).map_err(ApiKeyRejection::new)? else {
        return Ok(None);
    };
    keys.verify(key)
        .await
        .map(|p| Some(ApiKeyAuth(p)))
        .map_err(|e| ApiKeyRejection::from_error(&e))
}

impl<S> FromRequestParts<S> for ApiKeyAuth
where
    ApiKeys: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiKeyRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiKeyRejection> {
        let keys = ApiKeys::from_ref(state);
        authenticate(parts, &keys)
            .await?
            .ok_or(ApiKeyRejection::new(ApiKeyRejectionKind::MissingKey))
    }
}

impl<S> OptionalFromRequestParts<S> for ApiKeyAuth
where
    ApiKeys: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiKeyRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, ApiKeyRejection> {
        let keys = ApiKeys::from_ref(state);
        authenticate(parts, &keys).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(headers: &[(&str, &str)], expected: Result<Option<&str>, ApiKeyRejectionKind>) {
        let mut req = http::Request::builder();
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let (parts, ()) = req.body(()).unwrap().into_parts();
        assert_eq!(presented_key(&parts), expected, "{headers:?}");
    }

    #[test]
    fn header_forms() {
        use ApiKeyRejectionKind::InvalidKey;
        check(&[], Ok(None));
        check(&[("authorization", "ApiKey kl_abc")], Ok(Some("kl_abc")));
        check(&[("authorization", "apikey  kl_abc ")], Ok(Some("kl_abc")));
        check(&[("x-api-key", "kl_abc")], Ok(Some("kl_abc")));
        // A bearer token is someone else's business, whatever its length or count.
        check(&[("authorization", "Bearer eyJ")], Ok(None));
        let jwt = format!("Bearer {}", "e".repeat(MAX_API_KEY_HEADER_LEN * 4));
        check(&[("authorization", jwt.as_str())], Ok(None));
        check(
            &[("authorization", "Bearer a"), ("authorization", "Bearer b")],
            Ok(None),
        );
        check(
            &[
                ("authorization", "Bearer a"),
                ("authorization", "ApiKey kl_b"),
            ],
            Err(InvalidKey),
        );
        check(
            &[("authorization", "Bearer eyJ"), ("x-api-key", "kl_abc")],
            Ok(Some("kl_abc")),
        );
        check(
            &[("authorization", "ApiKey kl_a"), ("x-api-key", "kl_b")],
            Err(InvalidKey),
        );
        check(
            &[("x-api-key", "kl_a"), ("x-api-key", "kl_b")],
            Err(InvalidKey),
        );
        check(&[("authorization", "ApiKey ")], Err(InvalidKey));
        check(&[("x-api-key", "")], Err(InvalidKey));
        let long = "k".repeat(MAX_API_KEY_HEADER_LEN + 1);
        check(&[("x-api-key", long.as_str())], Err(InvalidKey));
    }
}
