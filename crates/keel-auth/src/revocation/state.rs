//! [`TokenVersions`]: where per-subject token versions and revoked sessions are stored, and
//! [`RevocationState`], what a lookup returns.

use std::fmt;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::store::StoreFuture;
use crate::token::Claims;

/// The most live single-session revocations remembered per subject. Revoking one more
/// session within an access-token lifetime bumps the subject's version instead (every
/// session of that subject then has to refresh): a bound on storage and lookup size that
/// fails safe.
pub const MAX_REVOKED_SESSIONS: usize = 32;

/// What a subject's tokens are checked against: the current token version and the session
/// ids revoked one by one whose access tokens may still be alive.
///
/// ```
/// use keel_auth::RevocationState;
/// use keel_auth::token::Claims;
///
/// let state = RevocationState::new(3, ["sess-1"]);
/// let mut claims = Claims::<()>::new("u").session("sess-2");
/// claims.ver = 3;
/// assert!(state.allows(&claims));
/// claims.ver = 2; // issued before the last "log out everywhere"
/// assert!(!state.allows(&claims));
/// claims.ver = 3;
/// claims.sid = Some("sess-1".into()); // that session was revoked
/// assert!(!state.allows(&claims));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationState {
    version: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    revoked_sessions: Vec<String>,
}

impl RevocationState {
    /// A state with `version` and the given revoked session ids.
    pub fn new<I, S>(version: u64, revoked_sessions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            version,
            revoked_sessions: revoked_sessions.into_iter().map(Into::into).collect(),
        }
    }

    /// The subject's current token version: tokens with a lower `ver` are revoked.
    #[must_use]
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Session ids revoked individually (and not yet past the access-token lifetime).
    #[must_use]
    pub fn revoked_sessions(&self) -> &[String] {
        &self.revoked_sessions
    }

    /// Whether a token with these claims is still valid: `ver` at least the current version,
    /// and its `sid` (if any) not revoked.
    #[must_use]
    pub fn allows<C>(&self, claims: &Claims<C>) -> bool {
        claims.ver >= self.version
            && claims
                .sid
                .as_deref()
                .is_none_or(|sid| !self.revoked_sessions.iter().any(|s| s == sid))
    }
}

/// Storage of per-subject token versions and single-session revocations, shared by every
/// replica (PostgreSQL: [`PgTokenVersions`](crate::PgTokenVersions)) or process-local
/// ([`MemoryTokenVersions`](crate::MemoryTokenVersions)).
///
/// Put a [`Revocations`](crate::Revocations) in front of it: it caches lookups so that a
/// request costs a memory read, not a query.
///
/// Times come from the caller's [`Clock`](crate::Clock), never from the store's own clock.
/// Object safe: methods return boxed futures ([`StoreFuture`]).
pub trait TokenVersions: Send + Sync + fmt::Debug + 'static {
    /// The subject's current version (0 if it was never bumped) and its revoked sessions
    /// still in force at `now`.
    fn get<'a>(&'a self, subject: &'a str, now: SystemTime) -> StoreFuture<'a, RevocationState>;

    /// Increments the subject's version and returns the new one: every token issued before
    /// is revoked (log out everywhere, password change, role change, deletion).
    fn bump<'a>(&'a self, subject: &'a str, now: SystemTime) -> StoreFuture<'a, u64>;

    /// Revokes the access tokens of one session (`sid`) of `subject` until `until` (the end
    /// of the longest-lived access token of that session). When the subject already has
    /// [`MAX_REVOKED_SESSIONS`] revoked sessions in force, bumps the version instead.
    fn revoke_session<'a>(
        &'a self,
        subject: &'a str,
        sid: &'a str,
        until: SystemTime,
        now: SystemTime,
    ) -> StoreFuture<'a, ()>;
}
