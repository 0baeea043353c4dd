//! [`RefreshStore`]: where refresh-token families live, and the types crossing it.

use std::fmt;
use std::time::{Duration, SystemTime};

use crate::error::{Error, Result};
use crate::store::{SecretHash, StoreFuture};

/// Longest accepted session id (what [`SessionId::parse`] takes from a token claim).
const MAX_SESSION_ID_LEN: usize = 64;

/// The id of a session: one refresh-token family, from login to logout.
///
/// Put it in the access token (a `sid` claim) to bind the access token to the session, so
/// revoking the session also rejects its access tokens. Not a secret: 128 random bits in
/// base64url (22 characters).
///
/// ```
/// let sid = keel_auth::SessionId::parse("b1pH2kq0aQ6fV3wS8xYz0A")?;
/// assert_eq!(sid.as_str(), "b1pH2kq0aQ6fV3wS8xYz0A");
/// assert!(keel_auth::SessionId::parse("not a session id").is_err());
/// # Ok::<(), keel_auth::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(String);

impl SessionId {
    /// A new random session id.
    pub(crate) fn generate() -> Result<Self> {
        Ok(Self(keel_crypto::token_urlsafe(16)?))
    }

    /// Parses a session id taken from a token claim or a request: 1–64 characters of
    /// base64url.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for anything else.
    ///
    /// ```
    /// assert!(keel_auth::SessionId::parse("").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Self> {
        let ok = !text.is_empty()
            && text.len() <= MAX_SESSION_ID_LEN
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(Error::InvalidInput("malformed session id"))
        }
    }

    /// The id as text.
    ///
    /// ```
    /// # let sid = keel_auth::SessionId::parse("abc")?;
    /// assert_eq!(sid.as_str(), "abc");
    /// # Ok::<(), keel_auth::Error>(())
    /// ```
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({})", self.0)
    }
}

/// A session (refresh-token family): who it belongs to and its absolute lifetime.
///
/// ```
/// # async fn f(tokens: keel_auth::RefreshTokens) -> keel_auth::Result<()> {
/// let issued = tokens.issue("user-42").await?;
/// let session = issued.session();
/// assert_eq!(session.subject(), "user-42");
/// println!("sid {} ends at {:?} at the latest", session.id(), session.expires_at());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub(crate) id: SessionId,
    pub(crate) subject: String,
    pub(crate) created_at: SystemTime,
    pub(crate) expires_at: SystemTime,
}

impl Session {
    /// Builds a session (for store implementations reading a row).
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// let sid = keel_auth::SessionId::parse("abc")?;
    /// let s = keel_auth::Session::new(sid, "user-1", UNIX_EPOCH, UNIX_EPOCH + Duration::from_secs(60));
    /// assert_eq!(s.subject(), "user-1");
    /// # Ok::<(), keel_auth::Error>(())
    /// ```
    #[must_use]
    pub fn new(
        id: SessionId,
        subject: impl Into<String>,
        created_at: SystemTime,
        expires_at: SystemTime,
    ) -> Self {
        Self {
            id,
            subject: subject.into(),
            created_at,
            expires_at,
        }
    }

    /// The session id (`sid`).
    #[must_use]
    pub fn id(&self) -> &SessionId {
        &self.id
    }

    /// Whose session it is.
    #[must_use]
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// When the session started (login).
    #[must_use]
    pub fn created_at(&self) -> SystemTime {
        self.created_at
    }

    /// The absolute end of the session: no refresh goes past it.
    #[must_use]
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }
}

/// Why a session was revoked (stored with the revocation, logged).
///
/// ```
/// assert_eq!(keel_auth::RevokeReason::Reuse.as_str(), "reuse");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RevokeReason {
    /// The user logged out of this session.
    Logout,
    /// The user (or an administrator) logged out of every session of the subject.
    LogoutAll,
    /// An already-rotated refresh token was presented (RFC 9700 §4.14): stolen token.
    Reuse,
    /// The subject had too many sessions; the oldest one was ended.
    Evicted,
}

impl RevokeReason {
    /// The stored text.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::LogoutAll => "logout_all",
            Self::Reuse => "reuse",
            Self::Evicted => "evicted",
        }
    }
}

/// What a store did with a presented refresh token in [`RefreshStore::rotate`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RotateOutcome {
    /// The token was current: it is now rotated and `next` is the family's current token,
    /// valid until `next_expires_at`.
    Rotated {
        /// The family.
        session: Session,
        /// When the new token's idle lifetime ends (never after the session's end).
        next_expires_at: SystemTime,
    },
    /// The token had already been rotated: the whole family is now revoked.
    Reused {
        /// The family, now revoked.
        session: Session,
    },
    /// The token or its family expired (idle or absolute lifetime).
    Expired,
    /// The family was revoked before.
    Revoked,
    /// No such token (never issued, or forgotten).
    Unknown,
}

/// Storage of refresh-token families, behind [`RefreshTokens`](crate::RefreshTokens).
///
/// Implementations keep only [`SecretHash`]es of tokens. [`rotate`](Self::rotate) must be
/// **atomic**: of concurrent calls presenting the same token, at most one returns
/// [`RotateOutcome::Rotated`] (the others see the token rotated, and revoke the family).
/// Implemented by [`MemoryRefreshStore`](crate::MemoryRefreshStore) and, with feature
/// `postgres`, `PgRefreshStore`. Times come from the caller's [`Clock`](crate::Clock),
/// never from the store's.
pub trait RefreshStore: Send + Sync + 'static {
    /// Records a new family with its first token (valid until `first_expires_at`), then ends
    /// the subject's oldest live families beyond `max_per_subject` (the new one included in
    /// the count). Returns the ids of the families it ended.
    fn create<'a>(
        &'a self,
        session: &'a Session,
        first: SecretHash,
        first_expires_at: SystemTime,
        max_per_subject: usize,
    ) -> StoreFuture<'a, Vec<SessionId>>;

    /// Atomically rotates `presented` to `next` at `now`; the new token expires after `idle`
    /// (never after the session's end). Detects reuse (revoking the family), expiry and
    /// revocation.
    fn rotate<'a>(
        &'a self,
        presented: SecretHash,
        next: SecretHash,
        now: SystemTime,
        idle: Duration,
    ) -> StoreFuture<'a, RotateOutcome>;

    /// Revokes the family `token` belongs to (whether or not `token` is still current);
    /// returns it, or `None` for an unknown token. With `subject`, only a family of that
    /// subject is revoked: another subject's token is answered as unknown (`None`, nothing
    /// changed).
    fn revoke_by_token<'a>(
        &'a self,
        token: SecretHash,
        subject: Option<&'a str>,
        now: SystemTime,
        reason: RevokeReason,
    ) -> StoreFuture<'a, Option<Session>>;

    /// Revokes one family; returns it, or `None` if it was unknown or already revoked.
    fn revoke_session<'a>(
        &'a self,
        id: &'a SessionId,
        now: SystemTime,
        reason: RevokeReason,
    ) -> StoreFuture<'a, Option<Session>>;

    /// Revokes every live family of `subject`; returns their ids.
    fn revoke_subject<'a>(
        &'a self,
        subject: &'a str,
        now: SystemTime,
        reason: RevokeReason,
    ) -> StoreFuture<'a, Vec<SessionId>>;

    /// The live (not revoked, not expired) sessions of `subject`, oldest first.
    fn sessions<'a>(&'a self, subject: &'a str, now: SystemTime) -> StoreFuture<'a, Vec<Session>>;

    /// Deletes families that ended (expired, or revoked) before `before`, with their tokens.
    /// Returns how many families were deleted.
    fn purge<'a>(&'a self, before: SystemTime) -> StoreFuture<'a, u64>;
}

impl<S: RefreshStore + ?Sized> RefreshStore for std::sync::Arc<S> {
    fn create<'a>(
        &'a self,
        session: &'a Session,
        first: SecretHash,
        first_expires_at: SystemTime,
        max_per_subject: usize,
    ) -> StoreFuture<'a, Vec<SessionId>> {
        (**self).create(session, first, first_expires_at, max_per_subject)
    }
    fn rotate<'a>(
        &'a self,
        presented: SecretHash,
        next: SecretHash,
        now: SystemTime,
        idle: Duration,
    ) -> StoreFuture<'a, RotateOutcome> {
        (**self).rotate(presented, next, now, idle)
    }
    fn revoke_by_token<'a>(
        &'a self,
        token: SecretHash,
        subject: Option<&'a str>,
        now: SystemTime,
        reason: RevokeReason,
    ) -> StoreFuture<'a, Option<Session>> {
        (**self).revoke_by_token(token, subject, now, reason)
    }
    fn revoke_session<'a>(
        &'a self,
        id: &'a SessionId,
        now: SystemTime,
        reason: RevokeReason,
    ) -> StoreFuture<'a, Option<Session>> {
        (**self).revoke_session(id, now, reason)
    }
    fn revoke_subject<'a>(
        &'a self,
        subject: &'a str,
        now: SystemTime,
        reason: RevokeReason,
    ) -> StoreFuture<'a, Vec<SessionId>> {
        (**self).revoke_subject(subject, now, reason)
    }
    fn sessions<'a>(&'a self, subject: &'a str, now: SystemTime) -> StoreFuture<'a, Vec<Session>> {
        (**self).sessions(subject, now)
    }
    fn purge<'a>(&'a self, before: SystemTime) -> StoreFuture<'a, u64> {
        (**self).purge(before)
    }
}
