//! [`MfaStore`]: where TOTP factors, recovery codes and challenges live.

use std::time::{Duration, SystemTime};

use crate::store::{SecretHash, StoreFuture};

/// A TOTP secret sealed by [`Mfa`](crate::Mfa) with the application's
/// [`KeyRing`](keel_crypto::KeyRing) (AES-256-GCM, purpose `keel-auth/totp-secret`, bound to
/// the subject as associated data): the only form in which a secret reaches a store. Store
/// [`as_str`](Self::as_str) in a text column and rebuild it with
/// [`from_stored`](Self::from_stored); it opens only with the key ring and for the subject it
/// was sealed for. `Debug` is redacted.
///
/// ```
/// let sealed = keel_auth::SealedTotpSecret::from_stored("AQAAAA…".to_owned());
/// assert_eq!(format!("{sealed:?}"), "SealedTotpSecret([REDACTED])");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SealedTotpSecret(String);

impl SealedTotpSecret {
    /// Wraps text read from a store.
    #[must_use]
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }

    /// The text to store.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SealedTotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealedTotpSecret([REDACTED])")
    }
}

/// A subject's TOTP factor as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpRecord {
    /// The secret, sealed with the application's key ring and bound to the subject.
    pub sealed_secret: SealedTotpSecret,
    /// Whether enrollment was confirmed with a first code (only then is the factor active).
    pub confirmed: bool,
    /// The last accepted time step (replay protection); `None` before any.
    pub last_step: Option<u64>,
    /// Consecutive failed codes in the current window.
    pub failures: u32,
    /// When the current failure window started.
    pub failures_since: Option<SystemTime>,
}

impl std::fmt::Debug for TotpRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpRecord")
            .field("sealed_secret", &self.sealed_secret)
            .field("confirmed", &self.confirmed)
            .field("last_step", &self.last_step)
            .field("failures", &self.failures)
            .field("failures_since", &self.failures_since)
            .finish()
    }
}

/// A login step-up challenge as stored (only the hash of its token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeRecord {
    /// SHA-256 of the challenge token.
    pub hash: SecretHash,
    /// Who passed the first factor.
    pub subject: String,
    /// What the challenge is for (`"login"`, `"delete-account"`…): a challenge only
    /// completes for the purpose it was made for.
    pub purpose: String,
    /// When it was made.
    pub created_at: SystemTime,
    /// When it dies.
    pub expires_at: SystemTime,
    /// Codes tried so far (including the current one, after
    /// [`MfaStore::attempt_challenge`]).
    pub attempts: u32,
    /// Codes allowed.
    pub max_attempts: u32,
}

/// Storage of TOTP factors, recovery codes and challenges, behind [`Mfa`](crate::Mfa).
///
/// The methods marked **atomic** must be single compare-and-set operations in the store
/// (one SQL statement, one critical section): that is what makes a TOTP code single-use
/// when two requests carry it at once. Implemented by [`MemoryMfaStore`](crate::MemoryMfaStore)
/// and, with feature `postgres`, `PgMfaStore`.
pub trait MfaStore: Send + Sync + 'static {
    /// Stores a pending (unconfirmed) factor for `subject`, replacing a pending one.
    /// Returns `false`, changing nothing, when a confirmed factor exists.
    fn put_pending<'a>(
        &'a self,
        subject: &'a str,
        sealed_secret: &'a SealedTotpSecret,
        now: SystemTime,
    ) -> StoreFuture<'a, bool>;

    /// The factor of `subject`, confirmed or not.
    fn totp<'a>(&'a self, subject: &'a str) -> StoreFuture<'a, Option<TotpRecord>>;

    /// **Atomic**: confirms the pending factor whose secret is `sealed_secret` (so a
    /// concurrent re-enrollment is not confirmed by a code of the old secret), records
    /// `step` as used and replaces the recovery codes. `false` if there is no such pending
    /// factor.
    fn confirm<'a>(
        &'a self,
        subject: &'a str,
        sealed_secret: &'a SealedTotpSecret,
        step: u64,
        recovery_codes: &'a [SecretHash],
        now: SystemTime,
    ) -> StoreFuture<'a, bool>;

    /// **Atomic**: records `step` as the last used one if the factor is confirmed and `step`
    /// is after the stored one (`… SET last_step = $2 WHERE … AND last_step < $2`), and
    /// clears the failure count. `false` means replay (or no factor).
    fn advance_step<'a>(&'a self, subject: &'a str, step: u64) -> StoreFuture<'a, bool>;

    /// **Atomic**: counts one failed code; a window older than `window` restarts at 1.
    /// Returns the failures in the window and when it started; `None` without a factor.
    fn record_failure<'a>(
        &'a self,
        subject: &'a str,
        now: SystemTime,
        window: Duration,
    ) -> StoreFuture<'a, Option<(u32, SystemTime)>>;

    /// Removes the factor, its recovery codes and its challenges. `false` if there was none.
    fn remove<'a>(&'a self, subject: &'a str) -> StoreFuture<'a, bool>;

    /// Replaces the recovery codes of a confirmed factor. `false` without one.
    fn replace_recovery_codes<'a>(
        &'a self,
        subject: &'a str,
        codes: &'a [SecretHash],
    ) -> StoreFuture<'a, bool>;

    /// **Atomic**: deletes the recovery code `code` of `subject` if present. `true` exactly
    /// once per code.
    fn consume_recovery_code<'a>(
        &'a self,
        subject: &'a str,
        code: SecretHash,
    ) -> StoreFuture<'a, bool>;

    /// How many unused recovery codes `subject` has.
    fn recovery_codes_left<'a>(&'a self, subject: &'a str) -> StoreFuture<'a, usize>;

    /// Stores a challenge, then deletes the subject's oldest challenges beyond
    /// `max_per_subject` (the new one included) and its expired ones.
    fn create_challenge<'a>(
        &'a self,
        challenge: &'a ChallengeRecord,
        max_per_subject: usize,
    ) -> StoreFuture<'a, ()>;

    /// **Atomic**: counts one attempt on a live challenge (`attempts < max_attempts`, not
    /// expired) and returns it with the new count; `None` when the challenge is unknown,
    /// expired, completed or out of attempts.
    fn attempt_challenge<'a>(
        &'a self,
        hash: SecretHash,
        now: SystemTime,
    ) -> StoreFuture<'a, Option<ChallengeRecord>>;

    /// **Atomic**: deletes the challenge; `true` exactly once (the request that completes
    /// it).
    fn consume_challenge<'a>(&'a self, hash: SecretHash) -> StoreFuture<'a, bool>;

    /// Deletes challenges that expired before `challenges_before` and pending factors
    /// created before `pending_before`. Returns how many rows went.
    fn purge<'a>(
        &'a self,
        challenges_before: SystemTime,
        pending_before: SystemTime,
    ) -> StoreFuture<'a, u64>;
}

impl<S: MfaStore + ?Sized> MfaStore for std::sync::Arc<S> {
    fn put_pending<'a>(
        &'a self,
        subject: &'a str,
        sealed_secret: &'a SealedTotpSecret,
        now: SystemTime,
    ) -> StoreFuture<'a, bool> {
        (**self).put_pending(subject, sealed_secret, now)
    }
    fn totp<'a>(&'a self, subject: &'a str) -> StoreFuture<'a, Option<TotpRecord>> {
        (**self).totp(subject)
    }
    fn confirm<'a>(
        &'a self,
        subject: &'a str,
        sealed_secret: &'a SealedTotpSecret,
        step: u64,
        recovery_codes: &'a [SecretHash],
        now: SystemTime,
    ) -> StoreFuture<'a, bool> {
        (**self).confirm(subject, sealed_secret, step, recovery_codes, now)
    }
    fn advance_step<'a>(&'a self, subject: &'a str, step: u64) -> StoreFuture<'a, bool> {
        (**self).advance_step(subject, step)
    }
    fn record_failure<'a>(
        &'a self,
        subject: &'a str,
        now: SystemTime,
        window: Duration,
    ) -> StoreFuture<'a, Option<(u32, SystemTime)>> {
        (**self).record_failure(subject, now, window)
    }
    fn remove<'a>(&'a self, subject: &'a str) -> StoreFuture<'a, bool> {
        (**self).remove(subject)
    }
    fn replace_recovery_codes<'a>(
        &'a self,
        subject: &'a str,
        codes: &'a [SecretHash],
    ) -> StoreFuture<'a, bool> {
        (**self).replace_recovery_codes(subject, codes)
    }
    fn consume_recovery_code<'a>(
        &'a self,
        subject: &'a str,
        code: SecretHash,
    ) -> StoreFuture<'a, bool> {
        (**self).consume_recovery_code(subject, code)
    }
    fn recovery_codes_left<'a>(&'a self, subject: &'a str) -> StoreFuture<'a, usize> {
        (**self).recovery_codes_left(subject)
    }
    fn create_challenge<'a>(
        &'a self,
        challenge: &'a ChallengeRecord,
        max_per_subject: usize,
    ) -> StoreFuture<'a, ()> {
        (**self).create_challenge(challenge, max_per_subject)
    }
    fn attempt_challenge<'a>(
        &'a self,
        hash: SecretHash,
        now: SystemTime,
    ) -> StoreFuture<'a, Option<ChallengeRecord>> {
        (**self).attempt_challenge(hash, now)
    }
    fn consume_challenge<'a>(&'a self, hash: SecretHash) -> StoreFuture<'a, bool> {
        (**self).consume_challenge(hash)
    }
    fn purge<'a>(
        &'a self,
        challenges_before: SystemTime,
        pending_before: SystemTime,
    ) -> StoreFuture<'a, u64> {
        (**self).purge(challenges_before, pending_before)
    }
}
