//! Pieces shared by the storage traits of refresh tokens, MFA and API keys.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The boxed future every store method returns, so the store traits stay object safe
/// (`Arc<dyn RefreshStore>`): pick the memory or the PostgreSQL store at runtime.
///
/// One allocation per call, next to a database round trip or a mutex.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// Longest accepted subject (user id, service name): 256 bytes.
pub const MAX_SUBJECT_LEN: usize = 256;

/// Random bytes in an opaque token (refresh tokens, MFA challenges): 256 bits.
pub(crate) const OPAQUE_TOKEN_BYTES: usize = 32;
/// Length of an opaque token's text: 32 bytes in unpadded base64url.
pub(crate) const OPAQUE_TOKEN_LEN: usize = 43;

/// The SHA-256 of a high-entropy secret (refresh token, challenge token, recovery code):
/// what the stores keep instead of the secret. Compares in constant time; `Debug` prints
/// only a short fingerprint.
///
/// SHA-256 without salt or stretching is the right tool for secrets with at least 80
/// random bits: nobody can enumerate them, so a fast hash loses nothing, and lookups by
/// hash stay a single index probe.
///
/// ```
/// use keel_auth::SecretHash;
/// let a = SecretHash::of("a secret with enough entropy");
/// assert_eq!(a, SecretHash::from_bytes(*a.as_bytes()));
/// assert_ne!(a, SecretHash::of("another secret"));
/// ```
#[derive(Clone, Copy, Eq)]
pub struct SecretHash([u8; 32]);

impl SecretHash {
    /// Hashes `secret`.
    ///
    /// ```
    /// assert_eq!(keel_auth::SecretHash::of("x").as_bytes().len(), 32);
    /// ```
    #[must_use]
    pub fn of(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }

    /// Wraps 32 stored bytes.
    ///
    /// ```
    /// let h = keel_auth::SecretHash::from_bytes([0; 32]);
    /// assert_eq!(h.as_bytes(), &[0; 32]);
    /// ```
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw 32 bytes (for a `bytea` column).
    ///
    /// ```
    /// assert_eq!(keel_auth::SecretHash::from_bytes([7; 32]).as_bytes()[0], 7);
    /// ```
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl PartialEq for SecretHash {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl std::hash::Hash for SecretHash {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Four bytes are enough to correlate log lines and useless for anything else.
        write!(
            f,
            "SecretHash({:02x}{:02x}{:02x}{:02x}…)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

/// A fresh opaque token: 32 random bytes as base64url (43 characters).
pub(crate) fn new_opaque_token() -> Result<Zeroizing<String>> {
    Ok(Zeroizing::new(keel_crypto::token_urlsafe(
        OPAQUE_TOKEN_BYTES,
    )?))
}

/// Whether `text` has the shape of an opaque token: checked before any hashing or lookup,
/// so garbage of any length costs nothing.
pub(crate) fn is_opaque_token(text: &str) -> bool {
    text.len() == OPAQUE_TOKEN_LEN
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks a subject: 1 to [`MAX_SUBJECT_LEN`] bytes, no control characters.
pub(crate) fn check_subject(subject: &str) -> Result<()> {
    if subject.is_empty() || subject.len() > MAX_SUBJECT_LEN {
        return Err(Error::InvalidInput("subject must be 1-256 bytes"));
    }
    if subject.chars().any(char::is_control) {
        return Err(Error::InvalidInput(
            "subject must not contain control characters",
        ));
    }
    Ok(())
}

/// A store refused to grow past its configured capacity.
#[derive(Debug, thiserror::Error)]
#[error("{0} store is at capacity")]
pub(crate) struct CapacityError(pub(crate) &'static str);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opaque_tokens_have_the_checked_shape() {
        let t = new_opaque_token().unwrap();
        assert!(is_opaque_token(&t));
        assert!(!is_opaque_token(&t[1..]));
        assert!(!is_opaque_token(&format!("{}=", &t[1..])));
        assert!(!is_opaque_token(""));
    }

    #[test]
    fn subjects_are_bounded() {
        assert!(check_subject("user-1").is_ok());
        assert!(check_subject("").is_err());
        assert!(check_subject(&"x".repeat(257)).is_err());
        assert!(check_subject("a\nb").is_err());
    }

    #[test]
    fn hash_debug_is_a_fingerprint() {
        let h = SecretHash::of("s");
        let dbg = format!("{h:?}");
        assert!(dbg.len() < 24, "{dbg}");
    }
}
