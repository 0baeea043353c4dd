//! [`AccessTokens`]: issues and verifies signed access tokens (JWT) with a [`KeySet`].

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Header;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};

use super::key::is_valid_kid;
use super::{AccessToken, Claims, KeySet};
use crate::{Clock, Error, Result};

/// Default lifetime of an access token: 15 minutes.
pub const DEFAULT_TTL: Duration = Duration::from_secs(15 * 60);
/// Default tolerance for clock skew on `exp`, `nbf` and `iat`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(10);
/// Default bound on the length of a token accepted for verification (before any parsing).
pub const DEFAULT_MAX_TOKEN_LEN: usize = 8 * 1024;
/// Default bound on the number of roles, of permissions and of audiences in one token.
pub const DEFAULT_MAX_CLAIM_ENTRIES: usize = 64;
/// The longest subject, session id or token id accepted.
pub const MAX_ID_LEN: usize = 256;
/// The `typ` header of access tokens (RFC 9068 §2.1): other JWTs signed with the same key
/// (ID tokens, e-mail links) are not accepted as access tokens.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// Why a token was rejected. Logged at `debug`; never shown to a client (they all answer
/// the same [`Error::InvalidToken`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reject {
    TooLong,
    Malformed,
    Header,
    Critical,
    Typ,
    UnknownKid,
    AlgMismatch,
    Signature,
    Claims,
    Expired,
    NotYetValid,
    IssuedInFuture,
    Issuer,
    Audience,
    TooManyEntries,
}

impl Reject {
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::TooLong => "token too long",
            Self::Malformed => "malformed token",
            Self::Header => "malformed header",
            Self::Critical => "unsupported critical header",
            Self::Typ => "wrong typ",
            Self::UnknownKid => "unknown or missing kid",
            Self::AlgMismatch => "alg does not match the key",
            Self::Signature => "bad signature",
            Self::Claims => "malformed or incomplete claims",
            Self::Expired => "expired",
            Self::NotYetValid => "not yet valid",
            Self::IssuedInFuture => "issued in the future",
            Self::Issuer => "wrong issuer",
            Self::Audience => "wrong audience",
            Self::TooManyEntries => "too many roles, permissions or audiences",
        }
    }
}

#[derive(Deserialize)]
struct RawHeader<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(borrow, default)]
    kid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    typ: Option<Cow<'a, str>>,
    #[serde(default)]
    crit: Option<IgnoredAny>,
}

/// Options of [`AccessTokens`], set through [`AccessTokensBuilder`].
#[derive(Debug, Clone)]
struct Options {
    issuer: String,
    audiences: Vec<String>,
    ttl: Duration,
    leeway: u64,
    max_token_len: usize,
    max_claim_entries: usize,
    clock: Clock,
}

/// Issues and verifies access tokens: JWTs with a `kid` header, signed by the primary key of
/// a [`KeySet`], verified with the key their `kid` names — with that key's algorithm only.
///
/// Verification checks, in this order and before touching the claims' content: the token
/// length, the three-part shape, the header (`typ: at+jwt`, no `crit`, a known `kid`, `alg`
/// equal to that key's algorithm — so `none` and HS/EdDSA confusion cannot pass), the
/// signature; then `exp`, `nbf`, `iat` (with a small leeway), `iss`, `aud` and bounds on the
/// claims. Every failure is the same opaque [`Error::InvalidToken`]; the reason is logged at
/// `debug`.
///
/// Cloning is cheap (one `Arc`); keys can be rotated at run time with
/// [`update_keys`](Self::update_keys).
///
/// ```
/// use keel_auth::token::{AccessTokens, Claims, Key, KeySet};
///
/// let tokens = AccessTokens::builder("https://auth.example.com", KeySet::new(Key::generate_hs256("k1")?)?)
///     .audience("orders-api")
///     .build()?;
/// let issued = tokens.issue(Claims::<()>::new("user-42").roles(["admin"]))?;
/// let claims: Claims = tokens.verify(issued.as_str())?;
/// assert_eq!(claims.sub, "user-42");
/// assert!(claims.has_role("admin"));
/// assert!(tokens.verify::<()>("not-a-token").is_err());
/// # Ok::<(), keel_auth::Error>(())
/// ```
#[derive(Clone)]
pub struct AccessTokens {
    inner: Arc<Inner>,
}

struct Inner {
    keys: RwLock<Arc<KeySet>>,
    /// Bumped by every key change (under the write lock): the verified-token cache keeps
    /// only what was verified under the current keys.
    key_generation: AtomicU64,
    opts: Options,
}

impl fmt::Debug for AccessTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = self.keys();
        f.debug_struct("AccessTokens")
            .field("issuer", &self.inner.opts.issuer)
            .field("audiences", &self.inner.opts.audiences)
            .field("ttl", &self.inner.opts.ttl)
            .field("primary_kid", &keys.primary().kid())
            .field("keys", &keys.len())
            .finish_non_exhaustive()
    }
}

impl AccessTokens {
    /// Starts configuring an issuer/verifier for tokens of `issuer` (the `iss` claim, e.g. the
    /// service's URL) signed with `keys`.
    pub fn builder(issuer: impl Into<String>, keys: KeySet) -> AccessTokensBuilder {
        AccessTokensBuilder {
            keys,
            opts: Options {
                issuer: issuer.into(),
                audiences: Vec::new(),
                ttl: DEFAULT_TTL,
                leeway: DEFAULT_LEEWAY.as_secs(),
                max_token_len: DEFAULT_MAX_TOKEN_LEN,
                max_claim_entries: DEFAULT_MAX_CLAIM_ENTRIES,
                clock: Clock::system(),
            },
        }
    }

    /// Signs `claims` with the primary key. Sets `iat` and `exp` (now + lifetime), `iss`,
    /// `aud` (the configured audiences, unless `claims.aud` is set) and a random `jti` (unless
    /// set). `ver` is taken as given: use [`Authenticator::issue`](crate::Authenticator::issue)
    /// to stamp the subject's current token version.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the subject is empty or longer than [`MAX_ID_LEN`], a
    /// permission is empty or contains a space, there are more roles/permissions than the
    /// configured bound, or the token would exceed the maximum length;
    /// [`Error::Config`] when the key set cannot sign; [`Error::Crypto`] when the RNG fails.
    pub fn issue<C: Serialize>(&self, mut claims: Claims<C>) -> Result<AccessToken> {
        let o = &self.inner.opts;
        crate::store::check_subject(&claims.sub)?;
        if let Some(sid) = &claims.sid {
            check_id(sid, "session id must be 1-256 bytes")?;
        }
        if claims.roles.len() > o.max_claim_entries
            || claims.permissions.len() > o.max_claim_entries
            || claims.aud.len() > o.max_claim_entries
        {
            return Err(Error::InvalidInput(
                "too many roles, permissions or audiences",
            ));
        }
        if claims
            .permissions
            .iter()
            .any(|p| p.is_empty() || p.contains(' '))
        {
            return Err(Error::InvalidInput(
                "a permission is empty or contains a space",
            ));
        }
        let now = o.clock.unix_secs();
        claims.iat = now;
        claims.exp = now.saturating_add(o.ttl.as_secs());
        claims.iss = Some(o.issuer.clone());
        if claims.aud.is_empty() {
            claims.aud.clone_from(&o.audiences);
        }
        if claims.jti.is_empty() {
            claims.jti = keel_crypto::token_urlsafe(16)?;
        } else {
            check_id(&claims.jti, "token id must be 1-256 bytes")?;
        }
        let keys = self.keys();
        let key = keys.primary();
        let encoding = key
            .encoding()
            .ok_or_else(|| Error::Config("the key set is verify-only".into()))?;
        let mut header = Header::new(key.algorithm().jwt());
        header.typ = Some(ACCESS_TOKEN_TYP.to_owned());
        header.kid = Some(key.kid().to_owned());
        let token = jsonwebtoken::encode(&header, &claims, encoding)
            .map_err(|e| Error::Config(format!("signing failed: {}", e.kind_name())))?;
        if token.len() > o.max_token_len {
            return Err(Error::InvalidInput(
                "the token would exceed the maximum length",
            ));
        }
        Ok(AccessToken::new(token, claims.jti, claims.exp, o.ttl))
    }

    /// Verifies `token` (signature, algorithm, `kid`, `typ`, `exp`/`nbf`/`iat`, `iss`, `aud`,
    /// bounds) and returns its claims. Does **not** check revocation: use
    /// [`Authenticator::authenticate`](crate::Authenticator::authenticate) for that.
    ///
    /// # Errors
    /// [`Error::InvalidToken`] for every cause; the reason is logged at `debug`.
    pub fn verify<C: DeserializeOwned>(&self, token: &str) -> Result<Claims<C>> {
        self.verify_reason(token).map_err(|reason| {
            tracing::debug!(reason = reason.as_str(), "rejected access token");
            Error::InvalidToken
        })
    }

    pub(crate) fn verify_reason<C: DeserializeOwned>(
        &self,
        token: &str,
    ) -> std::result::Result<Claims<C>, Reject> {
        self.verify_counted_reason(token).map(|(claims, _)| claims)
    }

    /// As [`verify`](Self::verify), also returning the length of the encoded claims (what
    /// the verified-token cache counts as the entry's size).
    pub(crate) fn verify_counted<C: DeserializeOwned>(
        &self,
        token: &str,
    ) -> Result<(Claims<C>, usize)> {
        self.verify_counted_reason(token).map_err(|reason| {
            tracing::debug!(reason = reason.as_str(), "rejected access token");
            Error::InvalidToken
        })
    }

    fn verify_counted_reason<C: DeserializeOwned>(
        &self,
        token: &str,
    ) -> std::result::Result<(Claims<C>, usize), Reject> {
        let o = &self.inner.opts;
        if token.len() > o.max_token_len {
            return Err(Reject::TooLong);
        }
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Reject::Malformed);
        };
        let header_json = URL_SAFE_NO_PAD
            .decode(header_b64)
            .map_err(|_| Reject::Header)?;
        let header: RawHeader<'_> =
            serde_json::from_slice(&header_json).map_err(|_| Reject::Header)?;
        if header.crit.is_some() {
            return Err(Reject::Critical);
        }
        if !header.typ.as_deref().is_some_and(is_access_token_typ) {
            return Err(Reject::Typ);
        }
        let kid = header
            .kid
            .as_deref()
            .filter(|k| is_valid_kid(k))
            .ok_or(Reject::UnknownKid)?;
        {
            let keys = self.keys_guard();
            let key = keys.get(kid).ok_or(Reject::UnknownKid)?;
            // The algorithm is the key's, never the token's: the header may only confirm it.
            if header.alg != key.algorithm().as_str() {
                return Err(Reject::AlgMismatch);
            }
            // Exactly three parts: the signed message is `header.payload`.
            let message = &token[..header_b64.len() + 1 + payload_b64.len()];
            let valid = jsonwebtoken::crypto::verify(
                signature,
                message.as_bytes(),
                key.decoding(),
                key.algorithm().jwt(),
            )
            .unwrap_or(false);
            if !valid {
                return Err(Reject::Signature);
            }
        }
        let payload = URL_SAFE_NO_PAD
            .decode(payload_b64)
            .map_err(|_| Reject::Claims)?;
        let claims: Claims<C> = serde_json::from_slice(&payload).map_err(|_| Reject::Claims)?;
        self.validate(&claims)?;
        Ok((claims, payload.len()))
    }

    fn validate<C>(&self, c: &Claims<C>) -> std::result::Result<(), Reject> {
        let o = &self.inner.opts;
        if c.exp == 0
            || c.iat == 0
            || c.sub.is_empty()
            || c.sub.len() > MAX_ID_LEN
            || c.jti.is_empty()
            || c.jti.len() > MAX_ID_LEN
            || c.sid
                .as_ref()
                .is_some_and(|s| s.is_empty() || s.len() > MAX_ID_LEN)
        {
            return Err(Reject::Claims);
        }
        let now = o.clock.unix_secs();
        if now >= c.exp.saturating_add(o.leeway) {
            return Err(Reject::Expired);
        }
        if c.nbf.is_some_and(|nbf| now.saturating_add(o.leeway) < nbf) {
            return Err(Reject::NotYetValid);
        }
        if c.iat > now.saturating_add(o.leeway) {
            return Err(Reject::IssuedInFuture);
        }
        if c.iss.as_deref() != Some(o.issuer.as_str()) {
            return Err(Reject::Issuer);
        }
        let audience_ok = if o.audiences.is_empty() {
            c.aud.is_empty()
        } else {
            c.aud.iter().any(|a| o.audiences.contains(a))
        };
        if !audience_ok {
            return Err(Reject::Audience);
        }
        if c.roles.len() > o.max_claim_entries
            || c.permissions.len() > o.max_claim_entries
            || c.aud.len() > o.max_claim_entries
        {
            return Err(Reject::TooManyEntries);
        }
        Ok(())
    }

    /// A snapshot of the current keys.
    #[must_use]
    pub fn keys(&self) -> Arc<KeySet> {
        Arc::clone(&self.keys_guard())
    }

    /// Changes the key set in place (rotation): `f` gets a copy; if it returns `Ok`, the copy
    /// replaces the keys for every clone of this `AccessTokens`.
    ///
    /// ```
    /// use keel_auth::token::{AccessTokens, Claims, Key, KeySet};
    ///
    /// let tokens = AccessTokens::builder("me", KeySet::new(Key::generate_hs256("k1")?)?).build()?;
    /// let old = tokens.issue(Claims::<()>::new("u"))?;
    /// tokens.update_keys(|keys| {
    ///     keys.insert(Key::generate_hs256("k2")?)?;
    ///     keys.set_primary("k2")
    /// })?;
    /// assert!(tokens.verify::<()>(old.as_str()).is_ok()); // k1 still verifies
    /// tokens.update_keys(|keys| keys.remove("k1").map(drop))?;
    /// assert!(tokens.verify::<()>(old.as_str()).is_err());
    /// # Ok::<(), keel_auth::Error>(())
    /// ```
    ///
    /// # Errors
    /// Whatever `f` returns; the keys are then unchanged.
    pub fn update_keys(&self, f: impl FnOnce(&mut KeySet) -> Result<()>) -> Result<()> {
        let mut guard = self
            .inner
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut copy = KeySet::clone(&guard);
        f(&mut copy)?;
        *guard = Arc::new(copy);
        self.inner.key_generation.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// The public keys as a JWKS document (see [`KeySet::jwks`]).
    #[must_use]
    pub fn jwks(&self) -> jsonwebtoken::jwk::JwkSet {
        self.keys_guard().jwks()
    }

    /// The issuer (`iss`).
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.inner.opts.issuer
    }

    /// The lifetime of issued tokens.
    #[must_use]
    pub fn ttl(&self) -> Duration {
        self.inner.opts.ttl
    }

    /// The tolerance for clock skew.
    #[must_use]
    pub fn leeway(&self) -> Duration {
        Duration::from_secs(self.inner.opts.leeway)
    }

    /// The clock tokens are stamped and checked with.
    #[must_use]
    pub fn clock(&self) -> &Clock {
        &self.inner.opts.clock
    }

    /// How many times the keys changed (see [`update_keys`](Self::update_keys)).
    pub(crate) fn key_generation(&self) -> u64 {
        self.inner.key_generation.load(Ordering::Acquire)
    }

    /// Tokens longer than this are rejected before any parsing.
    pub(crate) fn max_token_len(&self) -> usize {
        self.inner.opts.max_token_len
    }

    fn keys_guard(&self) -> RwLockReadGuard<'_, Arc<KeySet>> {
        // A panic while holding the write lock cannot leave a half-written set (the new set
        // is built before the swap), so a poisoned lock is still consistent.
        self.inner
            .keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn is_access_token_typ(typ: &str) -> bool {
    typ.eq_ignore_ascii_case(ACCESS_TOKEN_TYP) || typ.eq_ignore_ascii_case("application/at+jwt")
}

fn check_id(id: &str, what: &'static str) -> Result<()> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        Err(Error::InvalidInput(what))
    } else {
        Ok(())
    }
}

trait KindName {
    fn kind_name(&self) -> &'static str;
}

impl KindName for jsonwebtoken::errors::Error {
    fn kind_name(&self) -> &'static str {
        use jsonwebtoken::errors::ErrorKind as K;
        match self.kind() {
            K::InvalidEcdsaKey | K::InvalidEddsaKey | K::InvalidKeyFormat => "invalid key",
            K::Json(_) => "claims do not serialize",
            _ => "backend error",
        }
    }
}

/// Configures [`AccessTokens`].
#[derive(Debug)]
#[must_use]
pub struct AccessTokensBuilder {
    keys: KeySet,
    opts: Options,
}

impl AccessTokensBuilder {
    /// Adds an accepted audience (`aud`); the first is also the default audience of issued
    /// tokens. With none, tokens carry no `aud` and tokens that do are rejected.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.opts.audiences.push(audience.into());
        self
    }

    /// Lifetime of issued tokens (default [`DEFAULT_TTL`], 15 minutes). Keep it short:
    /// it is also how long a removed key's tokens matter and how long single-session
    /// revocations are remembered.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.opts.ttl = ttl;
        self
    }

    /// Tolerance for clock skew (default [`DEFAULT_LEEWAY`], 10 s; at most 5 minutes).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.opts.leeway = leeway.as_secs();
        self
    }

    /// Tokens longer than this are rejected before any parsing (default 8 KiB).
    pub fn max_token_len(mut self, max: usize) -> Self {
        self.opts.max_token_len = max;
        self
    }

    /// Bound on the number of roles, of permissions and of audiences in a token (default 64).
    pub fn max_claim_entries(mut self, max: usize) -> Self {
        self.opts.max_claim_entries = max;
        self
    }

    /// The clock (default: the system clock; [`Clock::manual`] in tests).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.opts.clock = clock;
        self
    }

    /// Builds the issuer/verifier.
    ///
    /// # Errors
    /// [`Error::Config`] when the issuer is empty, the lifetime is zero or over a day, the
    /// leeway over 5 minutes, or the token length bound below 256 bytes or over 64 KiB.
    pub fn build(self) -> Result<AccessTokens> {
        let o = &self.opts;
        if o.issuer.is_empty() {
            return Err(Error::Config("the issuer must not be empty".into()));
        }
        if o.ttl.is_zero() || o.ttl > Duration::from_secs(24 * 3600) {
            return Err(Error::Config(
                "access-token lifetime must be 1 s to 24 h".into(),
            ));
        }
        if o.leeway > 300 {
            return Err(Error::Config("leeway must be at most 5 minutes".into()));
        }
        if !(256..=64 * 1024).contains(&o.max_token_len) {
            return Err(Error::Config(
                "max token length must be 256 B to 64 KiB".into(),
            ));
        }
        if o.audiences.iter().any(String::is_empty) {
            return Err(Error::Config("an audience must not be empty".into()));
        }
        Ok(AccessTokens {
            inner: Arc::new(Inner {
                keys: RwLock::new(Arc::new(self.keys)),
                key_generation: AtomicU64::new(0),
                opts: self.opts,
            }),
        })
    }
}

#[cfg(test)]
mod tests;
