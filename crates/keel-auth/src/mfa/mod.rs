//! TOTP second factor: enrollment, confirmation, login step-up with single-use challenges,
//! atomic replay protection and recovery codes.
//!
//! ```text
//! enroll(subject) ──▶ QR code ──▶ confirm(subject, first code) ──▶ recovery codes (show once)
//!
//! login: password ok ──▶ begin(subject, "login") ──▶ challenge token to the client
//!        client sends token + code ──▶ complete(token, "login", code) ──▶ issue the session
//! ```
//!
//! A code is accepted once: the last used time step is advanced in the store with a
//! compare-and-set (`… SET last_step = $2 WHERE … AND last_step < $2`), so of two requests
//! carrying the same code at the same moment exactly one succeeds. A challenge allows a few
//! codes, then dies; a subject allows a few failures per window across all challenges.
//! TOTP secrets are stored sealed with the application's [`KeyRing`] (AES-256-GCM, bound to
//! the subject); recovery codes as SHA-256 hashes (they carry 80 random bits).
//!
//! ```
//! use std::sync::Arc;
//! use keel_auth::{MemoryMfaStore, Mfa, MfaConfig};
//! use keel_crypto::{KeyRing, Totp};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> keel_auth::Result<()> {
//! let keys = Arc::new(KeyRing::generate(1)?);
//! let mfa = Mfa::new(MemoryMfaStore::new(), keys, MfaConfig::builder("Acme").build()?);
//!
//! let enrollment = mfa.enroll("user-42", "ada@example.com").await?;
//! // The user scans enrollment.uri(); their app now shows codes:
//! let app = Totp::from_base32(enrollment.secret_base32())?;
//! let recovery = mfa.confirm("user-42", &app.code_at(mfa.clock().unix_secs())).await?;
//! assert_eq!(recovery.len(), 10);
//!
//! // Later, at login, after the password was accepted:
//! let challenge = mfa.begin("user-42", "login").await?;
//! // The client sends the challenge token back with a code. The step used at confirmation
//! // is spent, so this is the next one (accepted: ±1 step).
//! let code = app.code_at(mfa.clock().unix_secs() + 30);
//! let verified = mfa.complete(challenge.expose_secret(), "login", &code).await?;
//! assert_eq!(verified.subject(), "user-42");
//! // The same code again: replay, rejected.
//! let again = mfa.begin("user-42", "login").await?;
//! assert!(mfa.complete(again.expose_secret(), "login", &code).await.is_err());
//! # Ok(()) }
//! ```

mod codes;
mod config;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
mod store;

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use keel_crypto::{KeyRing, Totp};
use zeroize::Zeroizing;

pub use codes::{MfaChallenge, MfaMethod, MfaVerified, RecoveryCodes, TotpEnrollment};
pub use config::{MfaConfig, MfaConfigBuilder};
pub use memory::{MemoryMfaStore, MemoryMfaStoreBuilder};
#[cfg(feature = "postgres")]
pub use postgres::PgMfaStore;
pub use store::{ChallengeRecord, MfaStore, SealedTotpSecret, TotpRecord};

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::store::{SecretHash, check_subject, is_opaque_token, new_opaque_token};

/// The key-ring purpose TOTP secrets are sealed under.
const SEAL_PURPOSE: &str = "keel-auth/totp-secret";
/// Longest code input looked at (TOTP codes and recovery codes with separators).
const MAX_CODE_LEN: usize = 64;
/// Longest account label in the provisioning URI.
const MAX_ACCOUNT_LEN: usize = 256;
/// Longest challenge purpose.
const MAX_PURPOSE_LEN: usize = 64;

/// The TOTP second factor over an [`MfaStore`]. Cheap to clone.
///
/// Client-caused failures are typed and opaque: a dead, unknown, exhausted or
/// wrong-purpose challenge is [`Error::InvalidToken`]; a wrong, replayed or malformed code
/// is [`Error::InvalidCredentials`]; too many failures for the subject is
/// [`Error::RateLimited`]. The reason is logged at `debug`.
#[derive(Clone)]
pub struct Mfa {
    store: Arc<dyn MfaStore>,
    keys: Arc<KeyRing>,
    config: Arc<MfaConfig>,
    clock: Clock,
}

impl fmt::Debug for Mfa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mfa")
            .field("config", &self.config)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl Mfa {
    /// The second factor over `store`, sealing TOTP secrets with `keys` (keep that ring
    /// stable: rotating it is fine, removing the key that sealed a secret disables that
    /// factor).
    pub fn new(store: impl MfaStore, keys: Arc<KeyRing>, config: MfaConfig) -> Self {
        Self {
            store: Arc::new(store),
            keys,
            config: Arc::new(config),
            clock: Clock::system(),
        }
    }

    /// Uses `clock` for TOTP steps and lifetimes (a manual clock in tests).
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The clock.
    #[must_use]
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &MfaConfig {
        &self.config
    }

    /// Starts enrollment: a fresh secret, stored sealed and pending until
    /// [`confirm`](Self::confirm). A pending enrollment is replaced.
    ///
    /// `account` labels the entry in the authenticator app (the user's e-mail, usually).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a bad subject or account, or when a confirmed factor
    /// exists (disable it first); [`Error::Store`], [`Error::Crypto`].
    pub async fn enroll(&self, subject: &str, account: &str) -> Result<TotpEnrollment> {
        check_subject(subject)?;
        if account.is_empty() || account.len() > MAX_ACCOUNT_LEN {
            return Err(Error::InvalidInput("account must be 1-256 bytes"));
        }
        let totp = self.totp_with(Totp::generate_secret(self.config.algorithm)?)?;
        let secret = totp.secret_base32();
        let sealed = SealedTotpSecret::from_stored(self.keys.encrypt_str(
            SEAL_PURPOSE,
            secret.as_bytes(),
            subject.as_bytes(),
        )?);
        if !self
            .store
            .put_pending(subject, &sealed, self.clock.now())
            .await?
        {
            return Err(Error::InvalidInput(
                "a second factor is already enabled; disable it first",
            ));
        }
        Ok(TotpEnrollment {
            uri: Zeroizing::new(totp.provisioning_uri(&self.config.issuer, account)),
            secret_base32: secret,
        })
    }

    /// Confirms a pending enrollment with the first code from the user's app; returns the
    /// recovery codes to show once.
    ///
    /// # Errors
    /// [`Error::InvalidCredentials`] for a wrong code or no pending enrollment;
    /// [`Error::RateLimited`] after too many failures; [`Error::Store`].
    pub async fn confirm(&self, subject: &str, code: &str) -> Result<RecoveryCodes> {
        check_subject(subject)?;
        let Some(record) = self.store.totp(subject).await? else {
            tracing::debug!("TOTP confirmation rejected: no enrollment");
            return Err(Error::InvalidCredentials);
        };
        if record.confirmed {
            tracing::debug!("TOTP confirmation rejected: already confirmed");
            return Err(Error::InvalidCredentials);
        }
        let now = self.clock.now();
        self.check_lock(&record, now)?;
        let totp = self.open(subject, &record)?;
        let Ok(step) = totp.verify_at(&bounded(code)?, self.clock.unix_secs(), None) else {
            return Err(self.failure(subject, "wrong code at confirmation").await);
        };
        let (codes, hashes) = RecoveryCodes::generate(self.config.recovery_codes)?;
        if self
            .store
            .confirm(subject, &record.sealed_secret, step, &hashes, now)
            .await?
        {
            Ok(codes)
        } else {
            tracing::debug!("TOTP confirmation rejected: enrollment changed concurrently");
            Err(Error::InvalidCredentials)
        }
    }

    /// Whether `subject` has a confirmed second factor (ask for it at login).
    ///
    /// # Errors
    /// [`Error::InvalidInput`], [`Error::Store`].
    pub async fn is_enabled(&self, subject: &str) -> Result<bool> {
        check_subject(subject)?;
        Ok(self.store.totp(subject).await?.is_some_and(|r| r.confirmed))
    }

    /// Removes the factor, its recovery codes and open challenges (after a
    /// [`verify_code`](Self::verify_code) step-up, or by an administrator). `false` if there
    /// was none.
    ///
    /// # Errors
    /// [`Error::InvalidInput`], [`Error::Store`].
    pub async fn disable(&self, subject: &str) -> Result<bool> {
        check_subject(subject)?;
        self.store.remove(subject).await
    }

    /// Login step-up, after the password was accepted: a short-lived, single-use challenge
    /// bound to `purpose` (e.g. `"login"`; 1–64 characters of `[a-z0-9_.:-]`).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a bad subject or purpose, or when the subject has no
    /// confirmed factor (check [`is_enabled`](Self::is_enabled) first); [`Error::Store`].
    pub async fn begin(&self, subject: &str, purpose: &str) -> Result<MfaChallenge> {
        check_subject(subject)?;
        check_purpose(purpose)?;
        if !self.is_enabled(subject).await? {
            return Err(Error::InvalidInput("no second factor is enabled"));
        }
        let now = self.clock.now();
        let token = new_opaque_token()?;
        let record = ChallengeRecord {
            hash: SecretHash::of(&token),
            subject: subject.to_owned(),
            purpose: purpose.to_owned(),
            created_at: now,
            expires_at: now + self.config.challenge_ttl,
            attempts: 0,
            max_attempts: self.config.max_attempts,
        };
        self.store
            .create_challenge(&record, self.config.max_challenges_per_subject)
            .await?;
        Ok(MfaChallenge {
            token,
            expires_at: record.expires_at,
            expires_in: self.config.challenge_ttl,
        })
    }

    /// Completes a challenge with a TOTP code or a recovery code (either is accepted in the
    /// same field). Each call uses one of the challenge's attempts; success consumes the
    /// challenge.
    ///
    /// # Errors
    /// [`Error::InvalidToken`] for a malformed, unknown, expired, exhausted, completed or
    /// wrong-purpose challenge; [`Error::InvalidCredentials`] for a wrong, replayed or
    /// malformed code; [`Error::RateLimited`] after too many failures for the subject;
    /// [`Error::Store`].
    pub async fn complete(
        &self,
        challenge: &str,
        purpose: &str,
        code: &str,
    ) -> Result<MfaVerified> {
        if !is_opaque_token(challenge) {
            tracing::debug!("MFA challenge rejected: malformed");
            return Err(Error::InvalidToken);
        }
        let hash = SecretHash::of(challenge);
        let Some(record) = self.store.attempt_challenge(hash, self.clock.now()).await? else {
            tracing::debug!("MFA challenge rejected: unknown, expired or out of attempts");
            return Err(Error::InvalidToken);
        };
        if record.purpose != purpose {
            tracing::debug!("MFA challenge rejected: wrong purpose");
            return Err(Error::InvalidToken);
        }
        let method = self.verify_code(&record.subject, code).await?;
        if !self.store.consume_challenge(hash).await? {
            tracing::debug!("MFA challenge rejected: completed concurrently");
            return Err(Error::InvalidToken);
        }
        Ok(MfaVerified {
            subject: record.subject,
            method,
        })
    }

    /// Checks a TOTP or recovery code of `subject` without a challenge: the step-up for a
    /// logged-in user before a sensitive action (disable MFA, change the e-mail). Same
    /// replay protection and failure limit as [`complete`](Self::complete).
    ///
    /// # Errors
    /// [`Error::InvalidCredentials`] for a wrong, replayed or malformed code or no
    /// confirmed factor; [`Error::RateLimited`]; [`Error::Store`].
    pub async fn verify_code(&self, subject: &str, code: &str) -> Result<MfaMethod> {
        check_subject(subject)?;
        let Some(record) = self.store.totp(subject).await?.filter(|r| r.confirmed) else {
            tracing::debug!("MFA code rejected: no confirmed factor");
            return Err(Error::InvalidCredentials);
        };
        self.check_lock(&record, self.clock.now())?;
        let code = bounded(code)?;
        let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if digits.len() == self.config.digits as usize && digits.bytes().all(|b| b.is_ascii_digit())
        {
            let totp = self.open(subject, &record)?;
            let Ok(step) = totp.verify_at(&digits, self.clock.unix_secs(), record.last_step) else {
                return Err(self.failure(subject, "wrong or replayed TOTP code").await);
            };
            // The compare-and-set: of concurrent requests with the same code, one wins.
            if self.store.advance_step(subject, step).await? {
                return Ok(MfaMethod::Totp);
            }
            return Err(self
                .failure(subject, "TOTP code replayed concurrently")
                .await);
        }
        match codes::recovery_code_hash(&code) {
            Some(hash) if self.store.consume_recovery_code(subject, hash).await? => {
                tracing::info!("recovery code used");
                Ok(MfaMethod::RecoveryCode)
            }
            _ => Err(self.failure(subject, "wrong recovery code").await),
        }
    }

    /// Replaces the recovery codes of a confirmed factor (after a step-up); returns the new
    /// ones to show once.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when no factor is confirmed; [`Error::Store`].
    pub async fn regenerate_recovery_codes(&self, subject: &str) -> Result<RecoveryCodes> {
        check_subject(subject)?;
        let (codes, hashes) = RecoveryCodes::generate(self.config.recovery_codes)?;
        if self.store.replace_recovery_codes(subject, &hashes).await? {
            Ok(codes)
        } else {
            Err(Error::InvalidInput("no second factor is enabled"))
        }
    }

    /// How many unused recovery codes `subject` has.
    ///
    /// # Errors
    /// [`Error::InvalidInput`], [`Error::Store`].
    pub async fn recovery_codes_left(&self, subject: &str) -> Result<usize> {
        check_subject(subject)?;
        self.store.recovery_codes_left(subject).await
    }

    /// Deletes expired challenges and stale unconfirmed enrollments; returns how many rows
    /// went. Run it periodically.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn purge(&self) -> Result<u64> {
        let now = self.clock.now();
        let pending_before = now
            .checked_sub(self.config.pending_ttl)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        self.store.purge(now, pending_before).await
    }

    fn totp_with(&self, totp: Totp) -> Result<Totp> {
        Ok(totp
            .with_algorithm(self.config.algorithm)
            .with_digits(self.config.digits)?
            .with_skew(self.config.skew)?)
    }

    /// Unseals the stored secret (bound to the subject).
    fn open(&self, subject: &str, record: &TotpRecord) -> Result<Totp> {
        let secret = self
            .keys
            .decrypt_str(
                SEAL_PURPOSE,
                record.sealed_secret.as_str(),
                subject.as_bytes(),
            )
            .map(Zeroizing::new)
            .map_err(|e| {
                tracing::error!("stored TOTP secret does not decrypt: key removed from the ring?");
                Error::Crypto(e.into())
            })?;
        let text = std::str::from_utf8(&secret)
            .map_err(|_| Error::Crypto(keel_crypto::Error::InvalidKey("TOTP secret".into())))?;
        self.totp_with(Totp::from_base32(text)?)
    }

    /// Refuses while the subject's failure window is full.
    fn check_lock(&self, record: &TotpRecord, now: SystemTime) -> Result<()> {
        let Some(since) = record.failures_since else {
            return Ok(());
        };
        let window_end = since + self.config.failure_window;
        if record.failures >= self.config.max_failures && window_end > now {
            tracing::debug!("MFA code refused: too many failures for the subject");
            return Err(Error::RateLimited {
                retry_after: window_end.duration_since(now).unwrap_or_default(),
            });
        }
        Ok(())
    }

    /// Counts a failure and returns the error to answer with.
    async fn failure(&self, subject: &str, reason: &'static str) -> Error {
        tracing::debug!(reason, "MFA code rejected");
        match self
            .store
            .record_failure(subject, self.clock.now(), self.config.failure_window)
            .await
        {
            Ok(_) => Error::InvalidCredentials,
            Err(e) => e,
        }
    }
}

/// Refuses over-long code input before any work.
fn bounded(code: &str) -> Result<Zeroizing<String>> {
    if code.len() > MAX_CODE_LEN {
        tracing::debug!("MFA code rejected: too long");
        return Err(Error::InvalidCredentials);
    }
    Ok(Zeroizing::new(code.to_owned()))
}

fn check_purpose(purpose: &str) -> Result<()> {
    let ok = !purpose.is_empty()
        && purpose.len() <= MAX_PURPOSE_LEN
        && purpose
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.:-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput(
            "purpose must be 1-64 characters of [a-z0-9_.:-]",
        ))
    }
}
