//! Random bytes and tokens from the operating system's CSPRNG.

use zeroize::Zeroizing;

use crate::encoding::{b64url_encode, hex_encode};
use crate::error::{Error, Result};

/// Fills `buf` with random bytes from the operating system.
///
/// # Errors
/// [`Error::Random`] if the OS generator fails (never silently falls back).
///
/// ```
/// let mut nonce = [0u8; 12];
/// keel_crypto::fill_random(&mut nonce)?;
/// # Ok::<(), keel_crypto::Error>(())
/// ```
pub fn fill_random(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|err| {
        tracing::error!(error = %err, "operating system random number generator failed");
        Error::Random
    })
}

/// `n` random bytes from the operating system, zeroized when dropped.
///
/// # Errors
/// [`Error::Random`] if the OS generator fails.
///
/// ```
/// let salt = keel_crypto::random_bytes(16)?;
/// assert_eq!(salt.len(), 16);
/// # Ok::<(), keel_crypto::Error>(())
/// ```
pub fn random_bytes(n: usize) -> Result<Zeroizing<Vec<u8>>> {
    let mut buf = Zeroizing::new(vec![0u8; n]);
    fill_random(&mut buf)?;
    Ok(buf)
}

/// A URL-safe text token carrying `n_bytes` random bytes (base64url, no padding), like
/// Python's `secrets.token_urlsafe`. Use at least 32 bytes for session ids and reset links.
///
/// # Errors
/// [`Error::Random`] if the OS generator fails.
///
/// ```
/// let token = keel_crypto::token_urlsafe(32)?;
/// assert_eq!(token.len(), 43);
/// assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
/// # Ok::<(), keel_crypto::Error>(())
/// ```
pub fn token_urlsafe(n_bytes: usize) -> Result<String> {
    Ok(b64url_encode(&random_bytes(n_bytes)?))
}

/// A lower-case hex token carrying `n_bytes` random bytes, like `secrets.token_hex`.
///
/// # Errors
/// [`Error::Random`] if the OS generator fails.
///
/// ```
/// assert_eq!(keel_crypto::token_hex(16)?.len(), 32);
/// # Ok::<(), keel_crypto::Error>(())
/// ```
pub fn token_hex(n_bytes: usize) -> Result<String> {
    Ok(hex_encode(&random_bytes(n_bytes)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_distinct_and_sized() {
        let a = token_urlsafe(32).unwrap();
        let b = token_urlsafe(32).unwrap();
        assert_ne!(a, b);
        assert_eq!(token_urlsafe(0).unwrap(), "");
        assert_eq!(token_hex(3).unwrap().len(), 6);
        assert_ne!(*random_bytes(32).unwrap(), vec![0u8; 32]);
    }
}
