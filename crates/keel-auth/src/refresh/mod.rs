//! Rotating refresh tokens with reuse detection (RFC 9700 §4.14).
//!
//! A login starts a *session*: a family of opaque refresh tokens sharing a [`SessionId`].
//! Each refresh rotates the token: the presented one is marked used and a new one is issued.
//! Presenting a token that was already rotated means two parties hold the family's tokens
//! (one of them stole it): the whole family is revoked, so the thief's and the owner's
//! tokens both stop working and the owner logs in again.
//!
//! Tokens are 256 random bits; stores keep only their SHA-256 ([`SecretHash`]). A session
//! ends at its *absolute* lifetime whatever happens, and earlier when no refresh happens
//! within the *idle* timeout.
//!
//! ```
//! use keel_auth::{MemoryRefreshStore, RefreshConfig, RefreshTokens};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> keel_auth::Result<()> {
//! let tokens = RefreshTokens::new(MemoryRefreshStore::new(), RefreshConfig::default());
//!
//! let first = tokens.issue("user-42").await?; // at login, next to the access token
//! let sid = first.session().id().clone(); // put it in the access token as `sid`
//!
//! let second = tokens.refresh(first.token().expose_secret()).await?;
//! assert_eq!(second.session().id(), &sid);
//!
//! // The first token was rotated: presenting it again revokes the whole family.
//! assert!(tokens.refresh(first.token().expose_secret()).await.is_err());
//! assert!(tokens.refresh(second.token().expose_secret()).await.is_err());
//! # Ok(()) }
//! ```

mod memory;
#[cfg(feature = "postgres")]
mod postgres;
mod store;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use zeroize::Zeroizing;

pub use memory::{MemoryRefreshStore, MemoryRefreshStoreBuilder};
#[cfg(feature = "postgres")]
pub use postgres::PgRefreshStore;
pub use store::{RefreshStore, RevokeReason, RotateOutcome, Session, SessionId};

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::revocation::Revocations;
use crate::store::{SecretHash, check_subject, is_opaque_token, new_opaque_token};

/// Lifetimes and limits of refresh-token sessions.
///
/// Defaults: idle timeout 7 days (a user who comes back within a week stays logged in),
/// absolute lifetime 30 days (after which everyone logs in again, so a stolen family dies
/// by itself), at most 32 live sessions per subject (logging in a 33rd time ends the
/// oldest session: one account cannot grow the store without bound).
///
/// ```
/// use std::time::Duration;
/// use keel_auth::RefreshConfig;
///
/// let config = RefreshConfig::builder()
///     .idle_timeout(Duration::from_secs(24 * 3600))
///     .absolute_lifetime(Duration::from_secs(7 * 24 * 3600))
///     .max_sessions_per_subject(8)
///     .build()?;
/// assert_eq!(config.max_sessions_per_subject(), 8);
/// # Ok::<(), keel_auth::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct RefreshConfig {
    idle_timeout: Duration,
    absolute_lifetime: Duration,
    max_sessions_per_subject: usize,
}

impl Default for RefreshConfig {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(7 * 24 * 3600),
            absolute_lifetime: Duration::from_secs(30 * 24 * 3600),
            max_sessions_per_subject: 32,
        }
    }
}

impl RefreshConfig {
    /// A builder starting from the defaults.
    #[must_use]
    pub fn builder() -> RefreshConfigBuilder {
        RefreshConfigBuilder(Self::default())
    }

    /// How long a refresh token stays valid without being used.
    #[must_use]
    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }

    /// How long a session lasts at most, refreshes or not.
    #[must_use]
    pub fn absolute_lifetime(&self) -> Duration {
        self.absolute_lifetime
    }

    /// How many live sessions one subject may have.
    #[must_use]
    pub fn max_sessions_per_subject(&self) -> usize {
        self.max_sessions_per_subject
    }
}

/// Builds a [`RefreshConfig`].
#[derive(Debug, Clone)]
pub struct RefreshConfigBuilder(RefreshConfig);

impl RefreshConfigBuilder {
    /// Sets the idle timeout (default 7 days).
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.0.idle_timeout = timeout;
        self
    }

    /// Sets the absolute lifetime (default 30 days).
    #[must_use]
    pub fn absolute_lifetime(mut self, lifetime: Duration) -> Self {
        self.0.absolute_lifetime = lifetime;
        self
    }

    /// Sets the number of live sessions per subject (default 32).
    #[must_use]
    pub fn max_sessions_per_subject(mut self, max: usize) -> Self {
        self.0.max_sessions_per_subject = max;
        self
    }

    /// Validates and builds.
    ///
    /// # Errors
    /// [`Error::Config`] when a lifetime is zero or over 10 years, the idle timeout exceeds
    /// the absolute lifetime, or the session cap is zero.
    ///
    /// ```
    /// use std::time::Duration;
    /// let bad = keel_auth::RefreshConfig::builder().idle_timeout(Duration::from_secs(100 * 24 * 3600)).build();
    /// assert!(bad.is_err());
    /// ```
    pub fn build(self) -> Result<RefreshConfig> {
        const TEN_YEARS: Duration = Duration::from_secs(10 * 366 * 24 * 3600);
        let c = self.0;
        if c.idle_timeout.is_zero() || c.absolute_lifetime.is_zero() {
            return Err(Error::Config(
                "refresh-token lifetimes must be positive".into(),
            ));
        }
        if c.absolute_lifetime > TEN_YEARS {
            return Err(Error::Config(
                "refresh-token absolute lifetime must be at most 10 years".into(),
            ));
        }
        if c.idle_timeout > c.absolute_lifetime {
            return Err(Error::Config(
                "refresh-token idle timeout must not exceed the absolute lifetime".into(),
            ));
        }
        if c.max_sessions_per_subject == 0 {
            return Err(Error::Config(
                "max_sessions_per_subject must be at least 1".into(),
            ));
        }
        Ok(c)
    }
}

/// An opaque refresh token as handed to the client. `Debug` is redacted; the text is
/// zeroized on drop.
///
/// ```
/// # async fn f(tokens: keel_auth::RefreshTokens) -> keel_auth::Result<()> {
/// let issued = tokens.issue("user-1").await?;
/// assert_eq!(format!("{:?}", issued.token()), "RefreshToken([REDACTED])");
/// let for_the_client: &str = issued.token().expose_secret();
/// # let _ = for_the_client; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RefreshToken(Zeroizing<String>);

impl RefreshToken {
    /// The token text (43 characters of base64url). Send it to the client; never log it.
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken([REDACTED])")
    }
}

/// A refresh token just issued (at login) or rotated (at refresh), with its session.
#[derive(Debug, Clone)]
pub struct IssuedRefreshToken {
    token: RefreshToken,
    session: Session,
    expires_at: SystemTime,
    expires_in: Duration,
    evicted: Vec<SessionId>,
}

impl IssuedRefreshToken {
    /// The token for the client.
    #[must_use]
    pub fn token(&self) -> &RefreshToken {
        &self.token
    }

    /// The session (family) the token belongs to.
    #[must_use]
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// When this token stops being valid unless rotated (idle timeout, capped at the
    /// session's end).
    #[must_use]
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }

    /// [`expires_at`](Self::expires_at) as a duration from issuance (for a
    /// `refresh_expires_in` response field or a cookie's `Max-Age`).
    #[must_use]
    pub fn expires_in(&self) -> Duration {
        self.expires_in
    }

    /// Sessions of the same subject ended by this login because the subject reached
    /// [`RefreshConfig::max_sessions_per_subject`]. Revoke their access tokens too (by
    /// `sid`). Always empty after a refresh.
    #[must_use]
    pub fn evicted(&self) -> &[SessionId] {
        &self.evicted
    }
}

/// Issues, rotates and revokes refresh tokens over a [`RefreshStore`]. Cheap to clone
/// (share one per application).
///
/// Every failure a client can cause — unknown, malformed, expired, revoked or reused
/// token — is the same [`Error::InvalidToken`]; the reason is logged at `debug` (reuse at
/// `warn`: it signals a stolen token).
#[derive(Clone)]
pub struct RefreshTokens {
    store: Arc<dyn RefreshStore>,
    config: RefreshConfig,
    clock: Clock,
    /// Where ending a session also revokes its access tokens, and for how long.
    access: Option<(Revocations, Duration)>,
}

impl fmt::Debug for RefreshTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshTokens")
            .field("config", &self.config)
            .field("clock", &self.clock)
            .field("revokes_access_tokens", &self.access.is_some())
            .finish_non_exhaustive()
    }
}

impl RefreshTokens {
    /// Refresh tokens over `store`, with the system clock.
    ///
    /// ```
    /// use keel_auth::{MemoryRefreshStore, RefreshConfig, RefreshTokens};
    /// let tokens = RefreshTokens::new(MemoryRefreshStore::new(), RefreshConfig::default());
    /// ```
    pub fn new(store: impl RefreshStore, config: RefreshConfig) -> Self {
        Self {
            store: Arc::new(store),
            config,
            clock: Clock::system(),
            access: None,
        }
    }

    /// Ends access tokens together with their session: when a session ends by logout,
    /// reuse detection or the per-subject cap, its access tokens (those carrying its `sid`)
    /// are revoked through `revocations` for `access_token_lifetime` (the access tokens'
    /// lifetime plus leeway); logout everywhere bumps the subject's token version. Put the
    /// session id in the access token ([`Claims::session`](crate::Claims::session)) for
    /// the per-session part to apply.
    ///
    /// ```
    /// use std::time::Duration;
    /// use keel_auth::{MemoryRefreshStore, MemoryTokenVersions, RefreshConfig, RefreshTokens, Revocations};
    ///
    /// let revocations = Revocations::new(MemoryTokenVersions::new());
    /// let tokens = RefreshTokens::new(MemoryRefreshStore::new(), RefreshConfig::default())
    ///     .with_revocations(revocations, Duration::from_secs(15 * 60 + 60));
    /// ```
    #[must_use]
    pub fn with_revocations(
        mut self,
        revocations: Revocations,
        access_token_lifetime: Duration,
    ) -> Self {
        self.access = Some((revocations, access_token_lifetime));
        self
    }

    /// Revokes the access tokens of `session`, when configured.
    async fn end_access(&self, session: &Session) -> Result<()> {
        match &self.access {
            Some((revocations, lifetime)) => {
                revocations
                    .revoke_session(&session.subject, session.id.as_str(), *lifetime)
                    .await
            }
            None => Ok(()),
        }
    }

    /// Uses `clock` for every lifetime decision (a manual clock in tests).
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &RefreshConfig {
        &self.config
    }

    /// The clock.
    #[must_use]
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Starts a session for `subject` (after a successful login) and issues its first
    /// refresh token.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an empty, over-long (> 256 bytes) or control-character
    /// subject; [`Error::Store`] when the store fails or is full; [`Error::Crypto`] if the OS
    /// random generator fails.
    pub async fn issue(&self, subject: &str) -> Result<IssuedRefreshToken> {
        check_subject(subject)?;
        let now = self.clock.now();
        let session = Session {
            id: SessionId::generate()?,
            subject: subject.to_owned(),
            created_at: now,
            expires_at: now + self.config.absolute_lifetime,
        };
        let token = new_opaque_token()?;
        let expires_at = now + self.config.idle_timeout;
        let evicted = self
            .store
            .create(
                &session,
                SecretHash::of(&token),
                expires_at,
                self.config.max_sessions_per_subject,
            )
            .await?;
        for sid in &evicted {
            tracing::debug!(sid = %sid, "refresh session ended: too many sessions for the subject");
            let ended = Session {
                id: sid.clone(),
                ..session.clone()
            };
            // The login itself succeeded; a failure here only leaves the evicted session's
            // access tokens to expire by themselves.
            if let Err(e) = self.end_access(&ended).await {
                tracing::warn!(sid = %sid, error = %e, "could not revoke an evicted session's access tokens");
            }
        }
        Ok(IssuedRefreshToken {
            token: RefreshToken(token),
            session,
            expires_at,
            expires_in: self.config.idle_timeout,
            evicted,
        })
    }

    /// Rotates `presented`: returns a new token of the same session; the presented one
    /// stops working. Presenting an already-rotated token revokes the whole session.
    ///
    /// # Errors
    /// [`Error::InvalidToken`] for a malformed, unknown, expired, revoked or reused token;
    /// [`Error::Store`] when the store fails.
    pub async fn refresh(&self, presented: &str) -> Result<IssuedRefreshToken> {
        if !is_opaque_token(presented) {
            tracing::debug!("refresh token rejected: malformed");
            return Err(Error::InvalidToken);
        }
        let now = self.clock.now();
        let next = new_opaque_token()?;
        let outcome = self
            .store
            .rotate(
                SecretHash::of(presented),
                SecretHash::of(&next),
                now,
                self.config.idle_timeout,
            )
            .await?;
        match outcome {
            RotateOutcome::Rotated {
                session,
                next_expires_at,
            } => Ok(IssuedRefreshToken {
                token: RefreshToken(next),
                session,
                expires_at: next_expires_at,
                expires_in: next_expires_at.duration_since(now).unwrap_or_default(),
                evicted: Vec::new(),
            }),
            RotateOutcome::Reused { session } => {
                tracing::warn!(
                    sid = %session.id,
                    "refresh token reused after rotation: session revoked (RFC 9700 4.14)"
                );
                if let Err(e) = self.end_access(&session).await {
                    tracing::warn!(sid = %session.id, error = %e, "could not revoke the reused session's access tokens");
                }
                Err(Error::InvalidToken)
            }
            RotateOutcome::Expired => {
                tracing::debug!("refresh token rejected: expired");
                Err(Error::InvalidToken)
            }
            RotateOutcome::Revoked => {
                tracing::debug!("refresh token rejected: session revoked");
                Err(Error::InvalidToken)
            }
            RotateOutcome::Unknown => {
                tracing::debug!("refresh token rejected: unknown");
                Err(Error::InvalidToken)
            }
        }
    }

    /// Revokes the session `presented` belongs to, whoever's it is (and, with
    /// [`with_revocations`](Self::with_revocations), its access tokens). Returns its id, or
    /// `None` when the token is malformed or unknown — logout succeeds either way from the
    /// client's point of view. A signed-in caller's logout is
    /// [`revoke_for`](Self::revoke_for), which leaves other subjects' sessions alone.
    ///
    /// # Errors
    /// [`Error::Store`] when a store fails.
    pub async fn revoke(&self, presented: &str) -> Result<Option<SessionId>> {
        self.revoke_token(presented, None).await
    }

    /// Logout of one of `subject`'s sessions: as [`revoke`](Self::revoke), but a token of
    /// another subject is answered as unknown (`None`) and revokes nothing, so a caller
    /// cannot end someone else's session with a token that is not theirs.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an invalid subject; [`Error::Store`] when a store fails.
    pub async fn revoke_for(&self, subject: &str, presented: &str) -> Result<Option<SessionId>> {
        check_subject(subject)?;
        self.revoke_token(presented, Some(subject)).await
    }

    async fn revoke_token(
        &self,
        presented: &str,
        subject: Option<&str>,
    ) -> Result<Option<SessionId>> {
        if !is_opaque_token(presented) {
            return Ok(None);
        }
        let session = self
            .store
            .revoke_by_token(
                SecretHash::of(presented),
                subject,
                self.clock.now(),
                RevokeReason::Logout,
            )
            .await?;
        match session {
            Some(session) => {
                self.end_access(&session).await?;
                Ok(Some(session.id))
            }
            None => Ok(None),
        }
    }

    /// Revokes one session by id (a "sign out this device" button), with its access tokens
    /// when configured. `false` when it was unknown or already revoked.
    ///
    /// # Errors
    /// [`Error::Store`] when a store fails.
    pub async fn revoke_session(&self, id: &SessionId) -> Result<bool> {
        let session = self
            .store
            .revoke_session(id, self.clock.now(), RevokeReason::Logout)
            .await?;
        match session {
            Some(session) => {
                self.end_access(&session).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Logout everywhere: revokes every session of `subject` (also after a password change
    /// or an account deletion) and, with [`with_revocations`](Self::with_revocations), every
    /// access token of the subject (version bump). Returns the revoked session ids.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an invalid subject; [`Error::Store`] when a store fails.
    pub async fn revoke_subject(&self, subject: &str) -> Result<Vec<SessionId>> {
        check_subject(subject)?;
        let sids = self
            .store
            .revoke_subject(subject, self.clock.now(), RevokeReason::LogoutAll)
            .await?;
        if let Some((revocations, _)) = &self.access {
            revocations.revoke_all(subject).await?;
        }
        Ok(sids)
    }

    /// The live sessions of `subject`, oldest first (a "your devices" page).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an invalid subject; [`Error::Store`] when the store fails.
    pub async fn sessions(&self, subject: &str) -> Result<Vec<Session>> {
        check_subject(subject)?;
        self.store.sessions(subject, self.clock.now()).await
    }

    /// Deletes sessions that ended (expired or revoked) more than `retention` ago, with their
    /// tokens; returns how many. Run it periodically (e.g. hourly) with a retention of a few
    /// days, so revoked sessions stay visible for audits meanwhile.
    ///
    /// # Errors
    /// [`Error::Store`] when the store fails.
    pub async fn purge(&self, retention: Duration) -> Result<u64> {
        let before = self
            .clock
            .now()
            .checked_sub(retention)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        self.store.purge(before).await
    }
}
