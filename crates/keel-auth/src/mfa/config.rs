//! [`MfaConfig`]: TOTP parameters, challenge lifetime and attempt limits.

use std::time::Duration;

use keel_crypto::TotpAlgorithm;

use crate::error::{Error, Result};

/// Longest accepted issuer name (shown by authenticator apps).
const MAX_ISSUER_LEN: usize = 64;

/// Settings of [`Mfa`](crate::Mfa).
///
/// Defaults, and why:
/// - TOTP SHA-1, 6 digits, 30 s, ±1 step: what every authenticator app supports. They
///   apply to every factor: changing them later needs re-enrollment.
/// - challenge lifetime 5 minutes, 5 codes per challenge, 3 live challenges per subject
///   (a fourth login attempt ends the oldest challenge);
/// - 10 failed codes per subject within 15 minutes lock code entry until the window ends:
///   without a per-subject budget, someone holding the password could open challenge after
///   challenge and guess on (each 6-digit guess wins with p = 3/10⁶ in a ±1 window);
///   with it, at most ~960 guesses a day (p ≈ 0.3 %/day) while the owner is locked out
///   of code entry at most 15 minutes at a time — and only by someone who has the password;
/// - 10 recovery codes;
/// - unconfirmed enrollments are purged after a day.
///
/// ```
/// use std::time::Duration;
/// let config = keel_auth::MfaConfig::builder("Acme")
///     .challenge_ttl(Duration::from_secs(120))
///     .max_attempts(3)
///     .build()?;
/// assert_eq!(config.max_attempts(), 3);
/// # Ok::<(), keel_auth::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct MfaConfig {
    pub(crate) issuer: String,
    pub(crate) algorithm: TotpAlgorithm,
    pub(crate) digits: u32,
    pub(crate) skew: u64,
    pub(crate) challenge_ttl: Duration,
    pub(crate) max_attempts: u32,
    pub(crate) max_challenges_per_subject: usize,
    pub(crate) max_failures: u32,
    pub(crate) failure_window: Duration,
    pub(crate) recovery_codes: usize,
    pub(crate) pending_ttl: Duration,
}

impl MfaConfig {
    /// A builder with the defaults; `issuer` is the name authenticator apps show
    /// (1–64 characters, e.g. your product name).
    #[must_use]
    pub fn builder(issuer: impl Into<String>) -> MfaConfigBuilder {
        MfaConfigBuilder(Self {
            issuer: issuer.into(),
            algorithm: TotpAlgorithm::Sha1,
            digits: 6,
            skew: 1,
            challenge_ttl: Duration::from_secs(5 * 60),
            max_attempts: 5,
            max_challenges_per_subject: 3,
            max_failures: 10,
            failure_window: Duration::from_secs(15 * 60),
            recovery_codes: 10,
            pending_ttl: Duration::from_secs(24 * 3600),
        })
    }

    /// The issuer shown in authenticator apps.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// How long a challenge lives.
    #[must_use]
    pub fn challenge_ttl(&self) -> Duration {
        self.challenge_ttl
    }

    /// Codes allowed per challenge.
    #[must_use]
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// Failed codes per subject allowed within [`failure_window`](Self::failure_window).
    #[must_use]
    pub fn max_failures(&self) -> u32 {
        self.max_failures
    }

    /// The window of [`max_failures`](Self::max_failures).
    #[must_use]
    pub fn failure_window(&self) -> Duration {
        self.failure_window
    }

    /// Recovery codes issued at confirmation and regeneration.
    #[must_use]
    pub fn recovery_codes(&self) -> usize {
        self.recovery_codes
    }
}

/// Builds an [`MfaConfig`].
#[derive(Debug, Clone)]
pub struct MfaConfigBuilder(MfaConfig);

impl MfaConfigBuilder {
    /// The TOTP hash (default SHA-1, what every app supports).
    #[must_use]
    pub fn algorithm(mut self, algorithm: TotpAlgorithm) -> Self {
        self.0.algorithm = algorithm;
        self
    }

    /// TOTP digits, 6–8 (default 6).
    #[must_use]
    pub fn digits(mut self, digits: u32) -> Self {
        self.0.digits = digits;
        self
    }

    /// Accepted steps before and after the current one, 0–2 (default 1).
    #[must_use]
    pub fn skew(mut self, steps: u64) -> Self {
        self.0.skew = steps;
        self
    }

    /// Challenge lifetime, 30 s – 1 h (default 5 minutes).
    #[must_use]
    pub fn challenge_ttl(mut self, ttl: Duration) -> Self {
        self.0.challenge_ttl = ttl;
        self
    }

    /// Codes per challenge, 1–20 (default 5).
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.0.max_attempts = attempts;
        self
    }

    /// Live challenges per subject, 1–20 (default 3).
    #[must_use]
    pub fn max_challenges_per_subject(mut self, max: usize) -> Self {
        self.0.max_challenges_per_subject = max;
        self
    }

    /// Failed codes per subject within `window` before code entry locks until the window
    /// ends (default 10 per 15 minutes). `max` 1–1000, `window` 1 s – 1 day.
    #[must_use]
    pub fn failure_limit(mut self, max: u32, window: Duration) -> Self {
        self.0.max_failures = max;
        self.0.failure_window = window;
        self
    }

    /// Recovery codes issued, 1–50 (default 10).
    #[must_use]
    pub fn recovery_codes(mut self, count: usize) -> Self {
        self.0.recovery_codes = count;
        self
    }

    /// How long an unconfirmed enrollment is kept (default 1 day).
    #[must_use]
    pub fn pending_ttl(mut self, ttl: Duration) -> Self {
        self.0.pending_ttl = ttl;
        self
    }

    /// Validates and builds.
    ///
    /// # Errors
    /// [`Error::Config`] for a value outside the documented ranges or an empty issuer.
    ///
    /// ```
    /// assert!(keel_auth::MfaConfig::builder("").build().is_err());
    /// assert!(keel_auth::MfaConfig::builder("Acme").digits(9).build().is_err());
    /// ```
    pub fn build(self) -> Result<MfaConfig> {
        let c = self.0;
        let bad = |what: &str| Err(Error::Config(format!("MFA: {what}")));
        if c.issuer.is_empty()
            || c.issuer.len() > MAX_ISSUER_LEN
            || c.issuer.chars().any(char::is_control)
        {
            return bad("issuer must be 1-64 printable characters");
        }
        if !(6..=8).contains(&c.digits) {
            return bad("digits must be 6, 7 or 8");
        }
        if c.skew > 2 {
            return bad("skew must be at most 2 steps");
        }
        if c.challenge_ttl < Duration::from_secs(30) || c.challenge_ttl > Duration::from_secs(3600)
        {
            return bad("challenge_ttl must be between 30 s and 1 h");
        }
        if !(1..=20).contains(&c.max_attempts) {
            return bad("max_attempts must be 1-20");
        }
        if !(1..=20).contains(&c.max_challenges_per_subject) {
            return bad("max_challenges_per_subject must be 1-20");
        }
        if !(1..=1000).contains(&c.max_failures)
            || c.failure_window < Duration::from_secs(1)
            || c.failure_window > Duration::from_secs(24 * 3600)
        {
            return bad("failure_limit must be 1-1000 failures within 1 s - 1 day");
        }
        if !(1..=50).contains(&c.recovery_codes) {
            return bad("recovery_codes must be 1-50");
        }
        if c.pending_ttl.is_zero() {
            return bad("pending_ttl must be positive");
        }
        Ok(c)
    }
}
