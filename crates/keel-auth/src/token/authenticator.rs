//! [`Authenticator`]: access-token verification plus revocation, the one value a service
//! keeps in its state.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::verified::VerifiedTokens;
use super::{AccessToken, AccessTokens, Claims, TokenCacheLimits};
use crate::{Result, Revocations};

/// Default `realm` of `WWW-Authenticate` challenges.
pub const DEFAULT_REALM: &str = "api";

/// Authenticates requests: verifies an access token ([`AccessTokens`]) and, when configured,
/// checks it against revocations ([`Revocations`]: token version and session). Issues tokens
/// stamped with the subject's current version, and revokes.
///
/// **Verified-token cache** (on by default, [`TokenCacheLimits::default`]): a token whose
/// signature and claims were verified is remembered (found by the SHA-256 of its signature,
/// matched on its whole signed part) until it expires (by the tokens'
/// [`Clock`](crate::Clock)) or the keys change, so a client repeating its token pays a
/// one-block hash, a lookup and a comparison instead of the signature and JSON, and gets
/// the cached claims without a copy. The revocation check still runs on every request.
/// Bounded in entries and memory; only verified tokens enter it.
/// [`without_token_cache`](Self::without_token_cache) turns it off.
///
/// This is what the axum extractors ([`Authenticated`](crate::axum::Authenticated), …) take
/// from the application state (`FromRef`). Cloning is cheap.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> keel_auth::Result<()> {
/// use std::sync::Arc;
///
/// use keel_auth::{AccessTokens, Authenticator, Claims, Key, KeySet, MemoryTokenVersions, Revocations};
///
/// let tokens = AccessTokens::builder("https://auth.example.com", KeySet::new(Key::generate_hs256("k1")?)?)
///     .build()?;
/// let auth = Authenticator::new(tokens).with_revocations(Revocations::new(MemoryTokenVersions::new()));
///
/// let token = auth.issue(Claims::<()>::new("user-1").roles(["admin"])).await?;
/// let claims: Arc<Claims> = auth.authenticate(token.as_str()).await?;
/// assert!(claims.has_role("admin"));
///
/// auth.revoke_all("user-1").await?; // e.g. after a password change
/// assert!(auth.authenticate::<()>(token.as_str()).await.is_err());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    tokens: AccessTokens,
    revocations: Option<Revocations>,
    realm: Box<str>,
    verified: Option<Arc<VerifiedTokens>>,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("tokens", &self.inner.tokens)
            .field("revocations", &self.inner.revocations)
            .field("realm", &self.inner.realm)
            .field("token_cache", &self.token_cache_limits())
            .finish()
    }
}

impl Authenticator {
    /// Stateless authentication: signature and claims only, no revocation check. Add
    /// [`with_revocations`](Self::with_revocations) for revocation that takes effect before
    /// tokens expire.
    #[must_use]
    pub fn new(tokens: AccessTokens) -> Self {
        Self {
            inner: Arc::new(Inner {
                tokens,
                revocations: None,
                realm: DEFAULT_REALM.into(),
                verified: VerifiedTokens::new(TokenCacheLimits::default()).map(Arc::new),
            }),
        }
    }

    /// Checks every token against `revocations` (token version and session).
    #[must_use]
    pub fn with_revocations(self, revocations: Revocations) -> Self {
        let inner = Arc::unwrap_or_clone(self.inner);
        Self {
            inner: Arc::new(Inner {
                revocations: Some(revocations),
                ..inner
            }),
        }
    }

    /// Bounds the verified-token cache (a new, empty one; zero entries or bytes turns it
    /// off).
    ///
    /// ```
    /// # fn main() -> keel_auth::Result<()> {
    /// use keel_auth::token::{AccessTokens, Authenticator, Key, KeySet, TokenCacheLimits};
    ///
    /// let tokens = AccessTokens::builder("me", KeySet::new(Key::generate_hs256("k1")?)?).build()?;
    /// let auth = Authenticator::new(tokens).with_token_cache(TokenCacheLimits::new(1_000, 1 << 20));
    /// assert_eq!(auth.token_cache_limits(), Some(TokenCacheLimits::new(1_000, 1 << 20)));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn with_token_cache(self, limits: TokenCacheLimits) -> Self {
        let inner = Arc::unwrap_or_clone(self.inner);
        Self {
            inner: Arc::new(Inner {
                verified: VerifiedTokens::new(limits).map(Arc::new),
                ..inner
            }),
        }
    }

    /// Verifies every token in full on every request (no verified-token cache).
    #[must_use]
    pub fn without_token_cache(self) -> Self {
        self.with_token_cache(TokenCacheLimits::new(0, 0))
    }

    /// The verified-token cache's bounds, `None` when it is off.
    #[must_use]
    pub fn token_cache_limits(&self) -> Option<TokenCacheLimits> {
        self.inner.verified.as_ref().map(|v| v.limits())
    }

    /// The `realm` of `WWW-Authenticate` challenges (default `"api"`). Characters other than
    /// printable ASCII, `"` and `\` are dropped.
    #[must_use]
    pub fn with_realm(self, realm: &str) -> Self {
        let realm: String = realm
            .chars()
            .filter(|c| (c.is_ascii_graphic() || *c == ' ') && *c != '"' && *c != '\\')
            .take(64)
            .collect();
        let inner = Arc::unwrap_or_clone(self.inner);
        Self {
            inner: Arc::new(Inner {
                realm: realm.into(),
                ..inner
            }),
        }
    }

    /// Verifies `token` (or finds it in the verified-token cache) and checks it is not
    /// revoked; returns its claims, shared: a cache hit hands out the cached claims without
    /// copying them (no allocation). `Arc::unwrap_or_clone` gives an owned [`Claims`].
    ///
    /// # Errors
    /// [`Error::InvalidToken`](crate::Error::InvalidToken) for any bad or revoked token (the
    /// reason is logged at `debug`); [`Error::Store`](crate::Error::Store) when the revocation
    /// store failed on a cache miss (fail closed).
    pub async fn authenticate<C>(&self, token: &str) -> Result<Arc<Claims<C>>>
    where
        C: DeserializeOwned + Send + Sync + 'static,
    {
        let claims = match &self.inner.verified {
            Some(cache) => cache.verify(&self.inner.tokens, token)?,
            None => Arc::new(self.inner.tokens.verify(token)?),
        };
        if let Some(revocations) = &self.inner.revocations {
            revocations.check(&claims).await?;
        }
        Ok(claims)
    }

    /// Issues an access token for `claims`, with `ver` set to the subject's current token
    /// version (see [`AccessTokens::issue`] for the other claims).
    ///
    /// # Errors
    /// As [`AccessTokens::issue`], and [`Error::Store`](crate::Error::Store) when the version
    /// lookup fails.
    pub async fn issue<C: Serialize>(&self, mut claims: Claims<C>) -> Result<AccessToken> {
        if let Some(revocations) = &self.inner.revocations {
            crate::store::check_subject(&claims.sub)?;
            claims.ver = revocations.current_version(&claims.sub).await?;
        }
        self.inner.tokens.issue(claims)
    }

    /// Revokes every token of `subject` issued so far; returns its new version.
    ///
    /// # Errors
    /// [`Error::Config`](crate::Error::Config) without revocations configured;
    /// otherwise as [`Revocations::revoke_all`].
    pub async fn revoke_all(&self, subject: &str) -> Result<u64> {
        self.revocations()?.revoke_all(subject).await
    }

    /// Revokes the access tokens of session `sid` of `subject` (until they have expired).
    /// Revoke the session's refresh tokens too, or it just gets new ones.
    ///
    /// # Errors
    /// [`Error::Config`](crate::Error::Config) without revocations configured;
    /// otherwise as [`Revocations::revoke_session`].
    pub async fn revoke_session(&self, subject: &str, sid: &str) -> Result<()> {
        let lifetime = self.inner.tokens.ttl() + self.inner.tokens.leeway();
        self.revocations()?
            .revoke_session(subject, sid, lifetime + Duration::from_secs(1))
            .await
    }

    /// The token issuer/verifier.
    #[must_use]
    pub fn tokens(&self) -> &AccessTokens {
        &self.inner.tokens
    }

    /// The revocation checks, if configured.
    #[must_use]
    pub fn revocation_checks(&self) -> Option<&Revocations> {
        self.inner.revocations.as_ref()
    }

    /// The `realm` of `WWW-Authenticate` challenges.
    #[must_use]
    pub fn realm(&self) -> &str {
        &self.inner.realm
    }

    fn revocations(&self) -> Result<&Revocations> {
        self.inner
            .revocations
            .as_ref()
            .ok_or_else(|| crate::Error::Config("no revocation store configured".into()))
    }
}
