//! The crate's error types.

use std::fmt;

/// The one error every decryption returns, whatever went wrong.
///
/// A truncated, tampered, re-ordered, wrong-purpose, wrong-key, unknown-version or garbage
/// token all produce the same `DecryptError`, so an attacker probing with modified tokens
/// learns nothing about which check failed (no padding or format oracle). The reason is
/// logged at `debug` level through `tracing` for operators, never returned.
///
/// ```
/// use keel_crypto::{DecryptError, KeyRing};
///
/// # fn main() -> Result<(), keel_crypto::Error> {
/// let ring = KeyRing::generate(1)?;
/// let err = ring.decrypt_str("session", "not-a-token", b"").unwrap_err();
/// assert_eq!(err, DecryptError::new());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DecryptError {
    _private: (),
}

impl DecryptError {
    /// The (only) decryption error.
    ///
    /// ```
    /// assert_eq!(keel_crypto::DecryptError::new().to_string(), "decryption failed");
    /// ```
    #[must_use]
    pub const fn new() -> Self {
        Self { _private: () }
    }
}

impl fmt::Display for DecryptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("decryption failed")
    }
}

impl std::error::Error for DecryptError {}

/// Everything else that can go wrong in `keel-crypto`.
///
/// Messages never contain key material, passwords or plaintext.
///
/// ```
/// use keel_crypto::{Error, KeyRing};
///
/// let err = "1:too-short".parse::<KeyRing>().unwrap_err();
/// assert!(matches!(err, Error::InvalidKey(_)));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Decryption failed (see [`DecryptError`]).
    #[error(transparent)]
    Decrypt(#[from] DecryptError),
    /// Key material or a key-ring description could not be loaded. The message says why
    /// (length, encoding, duplicate id…) but never contains the key.
    #[error("invalid key material: {0}")]
    InvalidKey(String),
    /// No key with this id is in the ring.
    #[error("no key with id {0} in the key ring")]
    UnknownKey(u32),
    /// A key with this id is already in the ring.
    #[error("a key with id {0} is already in the key ring")]
    DuplicateKey(u32),
    /// The operation would leave the ring without a primary key (removing or retiring the
    /// primary).
    #[error("key {0} is the primary key; promote another key first")]
    PrimaryKey(u32),
    /// The primary key reached its per-process usage limit; promote a fresh key.
    #[error(
        "key {key_id} reached its usage limit of {limit} encryptions in this process; promote a new key"
    )]
    KeyExhausted {
        /// The exhausted key.
        key_id: u32,
        /// The configured limit.
        limit: u64,
    },
    /// The operating system's random number generator failed.
    #[error("the operating system random number generator failed")]
    Random,
    /// Invalid parameters (cost, length, digits, prefix…); the message says which.
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
    /// An input was too large for the format (e.g. a purpose longer than 4 GiB).
    #[error("input too large: {0}")]
    InputTooLarge(&'static str),
    /// A password hash string could not be parsed or uses an unsupported algorithm.
    #[error("unsupported or malformed password hash")]
    InvalidHash,
    /// An HMAC signature or signed token did not verify (bad tag, unknown key, wrong purpose,
    /// malformed).
    #[error("invalid signature")]
    InvalidSignature,
    /// A signed token verified but has expired (or is not valid yet).
    #[error("token expired")]
    Expired,
    /// A TOTP code did not match any step in the window.
    #[error("invalid one-time code")]
    InvalidCode,
    /// A TOTP code matched a step that was already used (replay).
    #[error("one-time code already used")]
    ReplayedCode,
    /// A bounded in-memory structure is full (e.g. the [`TotpReplayGuard`](crate::TotpReplayGuard)
    /// with live entries for as many accounts as its capacity); the operation was refused
    /// rather than weakened.
    #[error("capacity exceeded: {0}")]
    CapacityExceeded(&'static str),
    /// The async hasher was shut down or its blocking task failed.
    #[error("password hashing task failed")]
    TaskFailed,
}

impl Error {
    /// Whether the error comes from bad input a client sent (a token, code, signature or hash
    /// that does not verify) rather than from configuration or the platform.
    ///
    /// ```
    /// assert!(keel_crypto::Error::InvalidCode.is_client_error());
    /// assert!(!keel_crypto::Error::Random.is_client_error());
    /// ```
    #[must_use]
    pub const fn is_client_error(&self) -> bool {
        matches!(
            self,
            Self::Decrypt(_)
                | Self::InvalidSignature
                | Self::Expired
                | Self::InvalidCode
                | Self::ReplayedCode
        )
    }
}

/// Shorthand for `Result<T, keel_crypto::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
