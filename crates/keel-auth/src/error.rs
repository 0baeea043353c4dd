//! The crate's error type.

use std::time::Duration;

/// Everything that can go wrong in keel-auth.
///
/// The `Display` text of the variants a client can cause is deliberately terse and identical for
/// every cause within a variant (an `InvalidToken` never says *why*): the reason is logged at
/// `debug` by the code that rejects, never put in a response.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The access or refresh token is missing, malformed, forged, expired, revoked or otherwise
    /// unacceptable. One opaque variant on purpose.
    #[error("the token is invalid or expired")]
    InvalidToken,
    /// The caller is authenticated but lacks the role, permission or scope required.
    #[error("insufficient scope")]
    InsufficientScope,
    /// Wrong e-mail or password, wrong TOTP code, unknown API key: one answer for every cause.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// A limit was reached (login failures, signup quota, challenge attempts).
    #[error("too many attempts; retry after {} s", retry_after.as_secs())]
    RateLimited {
        /// When the caller may try again.
        retry_after: Duration,
    },
    /// The service is shedding load (the password-hash queue is full).
    #[error("overloaded; retry after {} s", retry_after.as_secs())]
    Overloaded {
        /// When the caller may try again.
        retry_after: Duration,
    },
    /// Input rejected before any work was done (too long, malformed).
    #[error("invalid input: {0}")]
    InvalidInput(&'static str),
    /// The configuration is unusable (weak key, unknown `kid`, inconsistent lifetimes).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The backing store (PostgreSQL, Redis, cache) failed. The source is for logs only.
    #[error("auth store unavailable")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
    /// A keel-crypto operation failed.
    #[error(transparent)]
    Crypto(#[from] keel_crypto::Error),
}

impl Error {
    /// Wraps a store error.
    pub fn store(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Store(Box::new(e))
    }

    /// Whether retrying the same request later may succeed.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. } | Self::Overloaded { .. } | Self::Store(_)
        )
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
