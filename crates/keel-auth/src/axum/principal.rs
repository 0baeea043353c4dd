//! [`Principal`]: the extractor for "an access token or an API key".

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use serde::de::DeserializeOwned;

use super::{
    ApiKeyAuth, ApiKeyRejection, ApiKeyRejectionKind, AuthRejection, AuthRejectionKind,
    Authenticated,
};
use crate::{ApiKeyPrincipal, ApiKeys, Authenticator, Claims};

/// The caller of a route that both users and services call: an API key
/// (`X-API-Key: <key>` or `Authorization: ApiKey <key>`, verified as [`ApiKeyAuth`]
/// does) when one is presented, else a bearer access token (verified as
/// [`Authenticated`] does, revocation included).
///
/// Needs [`Authenticator`] and [`ApiKeys`] from the router state through [`FromRef`].
/// Rejects with [`PrincipalRejection`]: a bad key answers as [`ApiKeyAuth`] would (no
/// fallback to a bearer token sent alongside), a missing or bad token as
/// [`Authenticated`] would (401 with the `Bearer` challenge). `Option<Principal<C>>` is
/// `None` when neither is presented and still rejects bad credentials.
///
/// ```
/// use axum::{Router, extract::FromRef, routing::get};
/// use keel_auth::axum::{Principal, PrincipalRejection};
/// use keel_auth::{ApiKeys, Authenticator};
///
/// #[derive(Clone, FromRef)]
/// struct AppState {
///     auth: Authenticator,
///     keys: ApiKeys,
/// }
///
/// /// Users with role `auditor`, and services whose key has scope `reports:read`.
/// async fn report(caller: Principal) -> Result<String, PrincipalRejection> {
///     match &caller {
///         Principal::ApiKey(_) => caller.require_scope("reports:read")?,
///         Principal::Token(claims) => claims.require_role("auditor").map_err(PrincipalRejection::from)?,
///     }
///     Ok(format!("report for {}", caller.subject()))
/// }
///
/// fn routes() -> Router<AppState> {
///     Router::new().route("/report", get(report))
/// }
/// ```
#[derive(Debug, PartialEq, Eq)]
pub enum Principal<C = ()> {
    /// A caller with a valid, unrevoked access token: its claims (shared, as
    /// [`Authenticated`] holds them).
    Token(Arc<Claims<C>>),
    /// A caller with a valid API key.
    ApiKey(ApiKeyPrincipal),
}

// Not derived: cloning shares the claims, so `C` need not be `Clone`.
impl<C> Clone for Principal<C> {
    fn clone(&self) -> Self {
        match self {
            Self::Token(claims) => Self::Token(Arc::clone(claims)),
            Self::ApiKey(key) => Self::ApiKey(key.clone()),
        }
    }
}

impl<C> Principal<C> {
    /// The subject: the token's `sub`, or the subject the key was issued to.
    #[must_use]
    pub fn subject(&self) -> &str {
        match self {
            Self::Token(claims) => &claims.sub,
            Self::ApiKey(key) => key.subject(),
        }
    }

    /// The token's roles; none for an API key (keys carry scopes).
    #[must_use]
    pub fn roles(&self) -> &[String] {
        match self {
            Self::Token(claims) => &claims.roles,
            Self::ApiKey(_) => &[],
        }
    }

    /// Whether the token has `role` (never for an API key).
    #[must_use]
    pub fn has_role(&self, role: &str) -> bool {
        matches!(self, Self::Token(claims) if claims.has_role(role))
    }

    /// Whether the caller may `scope`: the token's `scope` claim, or the key's scopes.
    #[must_use]
    pub fn has_scope(&self, scope: &str) -> bool {
        match self {
            Self::Token(claims) => claims.has_permission(scope),
            Self::ApiKey(key) => key.has_scope(scope),
        }
    }

    /// `Ok` when the caller [`has_scope`](Self::has_scope).
    ///
    /// # Errors
    /// A 403 [`PrincipalRejection`] (`insufficient_scope`, with the challenge of the
    /// credential used; the default realm for a token) otherwise.
    pub fn require_scope(&self, scope: &str) -> Result<(), PrincipalRejection> {
        if self.has_scope(scope) {
            return Ok(());
        }
        tracing::debug!(required = scope, "insufficient scope");
        Err(match self {
            Self::Token(_) => PrincipalRejection::Token(AuthRejection::new(
                AuthRejectionKind::InsufficientScope,
                crate::token::DEFAULT_REALM,
            )),
            Self::ApiKey(_) => PrincipalRejection::ApiKey(ApiKeyRejection::new(
                ApiKeyRejectionKind::InsufficientScope,
            )),
        })
    }

    /// The session (`sid`) of the token, if any; none for an API key.
    #[must_use]
    pub fn session(&self) -> Option<&str> {
        match self {
            Self::Token(claims) => claims.sid.as_deref(),
            Self::ApiKey(_) => None,
        }
    }

    /// Whether the caller used an API key.
    #[must_use]
    pub const fn is_api_key(&self) -> bool {
        matches!(self, Self::ApiKey(_))
    }
}

/// The rejection of [`Principal`]: the rejection of the credential that was tried, as
/// its own extractor answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PrincipalRejection {
    /// No credential, or a bad, expired or revoked access token ([`AuthRejection`]).
    Token(AuthRejection),
    /// A bad, revoked or expired API key, or one without a required scope
    /// ([`ApiKeyRejection`]).
    ApiKey(ApiKeyRejection),
}

impl PrincipalRejection {
    /// The HTTP status.
    #[must_use]
    pub fn status(&self) -> http::StatusCode {
        match self {
            Self::Token(r) => r.status(),
            Self::ApiKey(r) => r.status(),
        }
    }
}

impl From<AuthRejection> for PrincipalRejection {
    fn from(r: AuthRejection) -> Self {
        Self::Token(r)
    }
}

impl From<ApiKeyRejection> for PrincipalRejection {
    fn from(r: ApiKeyRejection) -> Self {
        Self::ApiKey(r)
    }
}

impl From<crate::Error> for PrincipalRejection {
    /// As [`AuthRejection`]'s conversion (a failed `require_role` on the token's claims).
    fn from(e: crate::Error) -> Self {
        Self::Token(e.into())
    }
}

impl std::fmt::Display for PrincipalRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Token(r) => r.fmt(f),
            Self::ApiKey(r) => r.fmt(f),
        }
    }
}

impl std::error::Error for PrincipalRejection {}

impl IntoResponse for PrincipalRejection {
    fn into_response(self) -> Response {
        match self {
            Self::Token(r) => r.into_response(),
            Self::ApiKey(r) => r.into_response(),
        }
    }
}

#[cfg(feature = "errors")]
#[cfg_attr(docsrs, doc(cfg(feature = "errors")))]
impl From<PrincipalRejection> for keel_errors::ApiError {
    /// As the conversion of the inner rejection (status, envelope, challenge).
    fn from(r: PrincipalRejection) -> Self {
        match r {
            PrincipalRejection::Token(r) => r.into(),
            PrincipalRejection::ApiKey(r) => r.into(),
        }
    }
}

async fn extract<S, C>(
    parts: &mut Parts,
    state: &S,
) -> Result<Option<Principal<C>>, PrincipalRejection>
where
    Authenticator: FromRef<S>,
    ApiKeys: FromRef<S>,
    S: Send + Sync,
    C: DeserializeOwned + Send + Sync + 'static,
{
    let key = <ApiKeyAuth as OptionalFromRequestParts<S>>::from_request_parts(parts, state).await?;
    if let Some(ApiKeyAuth(key)) = key {
        return Ok(Some(Principal::ApiKey(key)));
    }
    let token = <Authenticated<C> as OptionalFromRequestParts<S>>::from_request_parts(parts, state);
    Ok(token
        .await?
        .map(|Authenticated(claims)| Principal::Token(claims)))
}

impl<S, C> FromRequestParts<S> for Principal<C>
where
    Authenticator: FromRef<S>,
    ApiKeys: FromRef<S>,
    S: Send + Sync,
    C: DeserializeOwned + Send + Sync + 'static,
{
    type Rejection = PrincipalRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, PrincipalRejection> {
        extract(parts, state).await?.ok_or_else(|| {
            let realm = Authenticator::from_ref(state);
            AuthRejection::new(AuthRejectionKind::MissingToken, realm.realm()).into()
        })
    }
}

impl<S, C> OptionalFromRequestParts<S> for Principal<C>
where
    Authenticator: FromRef<S>,
    ApiKeys: FromRef<S>,
    S: Send + Sync,
    C: DeserializeOwned + Send + Sync + 'static,
{
    type Rejection = PrincipalRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, PrincipalRejection> {
        extract(parts, state).await
    }
}
