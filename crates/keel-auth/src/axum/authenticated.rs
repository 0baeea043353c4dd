//! [`Authenticated`]: the extractor for `Authorization: Bearer <access token>`.

use std::ops::Deref;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use http::header::AUTHORIZATION;
use http::request::Parts;
use serde::de::DeserializeOwned;

use super::{AuthRejection, AuthRejectionKind};
use crate::{Authenticator, Claims};

/// The verified claims of the request's access token, from `Authorization: Bearer …`,
/// shared (`Arc`): with the [`Authenticator`]'s verified-token cache, a request repeating
/// a token gets the cached claims without a copy. Derefs to [`Claims`].
///
/// Verifies the signature, the claims and — when the [`Authenticator`] has
/// [`Revocations`](crate::Revocations) — the token version and session. The
/// [`Authenticator`] comes from the router state through [`FromRef`]. `C` is the type of
/// your custom claims (`()` for none).
///
/// Rejects with [`AuthRejection`]: 401 without an `error` attribute when there is no bearer
/// token, 401 `invalid_token` for any bad token (one answer for every cause), 503 when the
/// revocation store is down. `Option<Authenticated<C>>` is `None` without a token and still
/// rejects a bad one. Behind [`VerifyBearerLayer`](super::VerifyBearerLayer) it takes the
/// claims that layer verified for the request (with the layer's `Authenticator`) instead
/// of verifying again.
///
/// ```
/// use axum::{Router, routing::get, extract::FromRef};
/// use keel_auth::{AccessTokens, Authenticator, Key, KeySet};
/// use keel_auth::axum::Authenticated;
///
/// #[derive(Clone, FromRef)]
/// struct AppState {
///     auth: Authenticator,
/// }
///
/// async fn me(Authenticated(claims): Authenticated) -> String {
///     format!("hello {}", claims.sub)
/// }
///
/// # fn main() -> keel_auth::Result<()> {
/// let tokens = AccessTokens::builder("https://auth.example.com", KeySet::new(Key::generate_hs256("k1")?)?)
///     .build()?;
/// let app: Router = Router::new()
///     .route("/me", get(me))
///     .with_state(AppState { auth: Authenticator::new(tokens) });
/// # drop(app); Ok(()) }
/// ```
#[derive(Debug, PartialEq, Eq)]
pub struct Authenticated<C = ()>(pub Arc<Claims<C>>);

// Not derived: cloning shares the claims, so `C` need not be `Clone`.
impl<C> Clone for Authenticated<C> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<C> Authenticated<C> {
    /// The claims (`Arc::unwrap_or_clone` for an owned copy).
    #[must_use]
    pub fn into_inner(self) -> Arc<Claims<C>> {
        self.0
    }
}

impl<C> Deref for Authenticated<C> {
    type Target = Claims<C>;

    fn deref(&self) -> &Claims<C> {
        &self.0
    }
}

/// The bearer token of `parts`: `Ok(None)` when there is no `Authorization` header or it
/// uses another scheme (RFC 6750 §3.1: no error code then), `Err` for a malformed one.
pub(crate) fn bearer_token(parts: &Parts) -> Result<Option<&str>, AuthRejectionKind> {
    let mut values = parts.headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        tracing::debug!(
            reason = "several Authorization headers",
            "rejected access token"
        );
        return Err(AuthRejectionKind::InvalidToken);
    }
    let Ok(value) = value.to_str() else {
        tracing::debug!(
            reason = "non-ASCII Authorization header",
            "rejected access token"
        );
        return Err(AuthRejectionKind::InvalidToken);
    };
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    let token = rest.trim_matches(' ');
    if token.is_empty() || token.contains(' ') {
        tracing::debug!(
            reason = "malformed bearer credentials",
            "rejected access token"
        );
        return Err(AuthRejectionKind::InvalidToken);
    }
    Ok(Some(token))
}

pub(crate) async fn authenticate<C: DeserializeOwned + Send + Sync + 'static>(
    parts: &Parts,
    auth: &Authenticator,
) -> Result<Option<Arc<Claims<C>>>, AuthRejection> {
    let token = bearer_token(parts).map_err(|kind| AuthRejection::new(kind, auth.realm()))?;
    let Some(token) = token else {
        return Ok(None);
    };
    auth.authenticate(token)
        .await
        .map(Some)
        .map_err(|e| AuthRejection::from_error(&e, auth.realm()))
}

impl<S, C> FromRequestParts<S> for Authenticated<C>
where
    Authenticator: FromRef<S>,
    S: Send + Sync,
    C: DeserializeOwned + Send + Sync + 'static,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AuthRejection> {
        // Already verified for this request by `VerifyBearer`.
        if let Some(Authenticated(claims)) = parts.extensions.get::<Self>() {
            return Ok(Self(Arc::clone(claims)));
        }
        let auth = Authenticator::from_ref(state);
        match authenticate(parts, &auth).await? {
            Some(claims) => Ok(Self(claims)),
            None => Err(AuthRejection::new(
                AuthRejectionKind::MissingToken,
                auth.realm(),
            )),
        }
    }
}

impl<S, C> OptionalFromRequestParts<S> for Authenticated<C>
where
    Authenticator: FromRef<S>,
    S: Send + Sync,
    C: DeserializeOwned + Send + Sync + 'static,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, AuthRejection> {
        if let Some(Authenticated(claims)) = parts.extensions.get::<Self>() {
            return Ok(Some(Self(Arc::clone(claims))));
        }
        let auth = Authenticator::from_ref(state);
        Ok(authenticate(parts, &auth).await?.map(Self))
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn check(values: &[&[u8]], expected: Result<Option<&str>, AuthRejectionKind>) {
        let mut req = http::Request::builder();
        for v in values {
            req = req.header(AUTHORIZATION, HeaderValue::from_bytes(v).unwrap());
        }
        let (parts, ()) = req.body(()).unwrap().into_parts();
        assert_eq!(bearer_token(&parts), expected, "{values:?}");
    }

    #[test]
    fn header_forms() {
        use AuthRejectionKind::InvalidToken;
        check(&[], Ok(None));
        check(&[b"Bearer abc.def.ghi"], Ok(Some("abc.def.ghi")));
        check(&[b"bearer   abc "], Ok(Some("abc")));
        check(&[b"BEARER abc"], Ok(Some("abc")));
        // Another scheme is not ours: no error code (RFC 6750 section 3.1).
        check(&[b"Basic dXNlcjpwdw=="], Ok(None));
        check(&[b"ApiKey kl_abc"], Ok(None));
        check(&[b"Bearer"], Err(InvalidToken));
        check(&[b"Bearer  "], Err(InvalidToken));
        check(&[b"Bearer a b"], Err(InvalidToken));
        check(&[b"Bearer a", b"Bearer a"], Err(InvalidToken));
        // Bytes a header may carry but a token never holds: obs-text, refused whole.
        check(&[b"Bearer abc\xe9"], Err(InvalidToken));
        check(&[b"Bearer \xc3\xa9t\xc3\xa9"], Err(InvalidToken));
        check(&[b"B\xe9arer abc"], Err(InvalidToken));
        // HTAB is visible to `to_str` and passes through (the token then fails to verify).
        check(&[b"Bearer a\tb"], Ok(Some("a\tb")));
    }
}
