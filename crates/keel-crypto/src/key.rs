//! 256-bit secret keys: generated, loaded from base64 or derived from a password.

use std::fmt;

use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::encoding::{b64_decode_lenient, b64url_encode};
use crate::error::{Error, Result};
use crate::random::fill_random;

/// Length of every Keel secret key in bytes (AES-256 and HMAC-SHA256 keys).
pub const KEY_LEN: usize = 32;

/// A 256-bit secret key, zeroized on drop and redacted in `Debug`.
///
/// Load keys from configuration with [`SecretKey::from_base64`] (or a whole
/// [`KeyRing`](crate::KeyRing) from `"1:<b64>,*2:<b64>"`), create new ones with
/// [`SecretKey::generate`], and print one for your secret store with
/// [`SecretKey::to_base64`].
///
/// ```
/// use keel_crypto::SecretKey;
///
/// let key = SecretKey::generate()?;
/// let text = key.to_base64();
/// let again = SecretKey::from_base64(&text)?;
/// assert_eq!(key, again);
/// assert_eq!(format!("{key:?}"), "SecretKey([REDACTED])");
/// # Ok::<(), keel_crypto::Error>(())
/// ```
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretKey([u8; KEY_LEN]);

impl SecretKey {
    /// A fresh random key from the operating system's CSPRNG.
    ///
    /// # Errors
    /// [`Error::Random`] if the OS generator fails.
    ///
    /// ```
    /// let key = keel_crypto::SecretKey::generate()?;
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    pub fn generate() -> Result<Self> {
        let mut key = Self([0; KEY_LEN]);
        fill_random(&mut key.0)?;
        Ok(key)
    }

    /// Wraps raw key bytes.
    ///
    /// ```
    /// let key = keel_crypto::SecretKey::from_bytes([7; 32]);
    /// ```
    #[must_use]
    pub const fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// Copies key bytes from a slice.
    ///
    /// # Errors
    /// [`Error::InvalidKey`] unless the slice is exactly 32 bytes long.
    ///
    /// ```
    /// assert!(keel_crypto::SecretKey::from_slice(&[1; 32]).is_ok());
    /// assert!(keel_crypto::SecretKey::from_slice(&[1; 16]).is_err());
    /// ```
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        let arr: [u8; KEY_LEN] = bytes.try_into().map_err(|_| {
            Error::InvalidKey(format!("expected {KEY_LEN} bytes, got {}", bytes.len()))
        })?;
        Ok(Self(arr))
    }

    /// Decodes a key from base64 (standard or URL-safe alphabet, padding optional).
    ///
    /// # Errors
    /// [`Error::InvalidKey`] if the text is not base64 or does not decode to 32 bytes; the
    /// message never echoes the input.
    ///
    /// ```
    /// let key = keel_crypto::SecretKey::from_base64("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=")?;
    /// assert_eq!(key.expose_secret(), &[1u8; 32]);
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    pub fn from_base64(text: &str) -> Result<Self> {
        let bytes = Zeroizing::new(
            b64_decode_lenient(text)
                .ok_or_else(|| Error::InvalidKey("key is not valid base64".into()))?,
        );
        Self::from_slice(&bytes)
    }

    /// Reads a base64 key from the environment variable `var`.
    ///
    /// # Errors
    /// [`Error::InvalidKey`] if the variable is missing, not unicode, or not a valid key.
    ///
    /// ```
    /// let err = keel_crypto::SecretKey::from_env("KEEL_DOC_MISSING_KEY").unwrap_err();
    /// assert!(err.to_string().contains("KEEL_DOC_MISSING_KEY"));
    /// ```
    pub fn from_env(var: &str) -> Result<Self> {
        let value =
            Zeroizing::new(std::env::var(var).map_err(|_| {
                Error::InvalidKey(format!("environment variable {var} is not set"))
            })?);
        Self::from_base64(&value).map_err(|err| match err {
            Error::InvalidKey(why) => Error::InvalidKey(format!("{var}: {why}")),
            other => other,
        })
    }

    /// Derives a key from a password with PBKDF2-HMAC-SHA256 (`iterations` rounds, OWASP
    /// recommends 600 000). Derive once at start-up and reuse the key: the point is not to
    /// pay the ~70 ms KDF per message, as PBKDF2-per-call schemes do.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if `iterations` is 0 or the salt is shorter than 16 bytes.
    ///
    /// ```
    /// use keel_crypto::{KeyRing, SecretKey};
    ///
    /// let salt = [9u8; 16]; // store the salt next to the data; random per deployment
    /// let key = SecretKey::derive_from_password(b"correct horse", &salt, 1_000)?;
    /// let ring = KeyRing::new(1, key);
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    pub fn derive_from_password(password: &[u8], salt: &[u8], iterations: u32) -> Result<Self> {
        if iterations == 0 {
            return Err(Error::InvalidParameter(
                "PBKDF2 iterations must be at least 1".into(),
            ));
        }
        if salt.len() < 16 {
            return Err(Error::InvalidParameter(
                "PBKDF2 salt must be at least 16 bytes".into(),
            ));
        }
        let mut key = Self([0; KEY_LEN]);
        pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut key.0);
        Ok(key)
    }

    /// The raw key bytes. Handle with care: never log them.
    ///
    /// ```
    /// let key = keel_crypto::SecretKey::from_bytes([3; 32]);
    /// assert_eq!(key.expose_secret()[0], 3);
    /// ```
    #[must_use]
    pub const fn expose_secret(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// The key as URL-safe base64 without padding (zeroized when dropped), for secret stores.
    ///
    /// ```
    /// let text = keel_crypto::SecretKey::from_bytes([0; 32]).to_base64();
    /// assert_eq!(text.len(), 43);
    /// ```
    #[must_use]
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(b64url_encode(&self.0))
    }
}

impl PartialEq for SecretKey {
    /// Constant-time comparison.
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq as _;
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for SecretKey {}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey([REDACTED])")
    }
}

/// Parses the environment variable `var` with `T`'s `FromStr` (a key list for
/// [`KeyRing`](crate::KeyRing) and [`Signer`](crate::Signer)); the value is zeroized after
/// parsing and error messages name the variable.
pub(crate) fn parse_env<T>(var: &str) -> Result<T>
where
    T: std::str::FromStr<Err = Error>,
{
    let value = Zeroizing::new(
        std::env::var(var)
            .map_err(|_| Error::InvalidKey(format!("environment variable {var} is not set")))?,
    );
    value.parse().map_err(|err| match err {
        Error::InvalidKey(why) => Error::InvalidKey(format!("{var}: {why}")),
        other => other,
    })
}

/// Parses `"<id>:<base64 key>"` entries separated by commas or whitespace; with several
/// keys exactly one carries a leading `*` (the primary). Returns the keys in order and the
/// primary id. Error messages name the entry or key id, never the key.
pub(crate) fn parse_key_list(text: &str) -> Result<(Vec<(u32, SecretKey)>, u32)> {
    let mut entries: Vec<(u32, SecretKey)> = Vec::new();
    let mut marked: Vec<u32> = Vec::new();
    for (index, item) in text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .enumerate()
    {
        let n = index + 1;
        let (primary, item) = match item.strip_prefix('*') {
            Some(rest) => (true, rest),
            None => (false, item),
        };
        let (id, key) = item
            .split_once(':')
            .ok_or_else(|| Error::InvalidKey(format!("entry {n}: expected <id>:<base64 key>")))?;
        let id: u32 = id.parse().map_err(|_| {
            Error::InvalidKey(format!(
                "entry {n}: key id is not a 32-bit unsigned integer"
            ))
        })?;
        let key = SecretKey::from_base64(key).map_err(|err| match err {
            Error::InvalidKey(why) => Error::InvalidKey(format!("key {id}: {why}")),
            other => other,
        })?;
        if entries.iter().any(|(other, _)| *other == id) {
            return Err(Error::DuplicateKey(id));
        }
        if primary {
            marked.push(id);
        }
        entries.push((id, key));
    }
    let primary = match (entries.as_slice(), marked.as_slice()) {
        ([], _) => return Err(Error::InvalidKey("the key list is empty".into())),
        ([(only, _)], []) => *only,
        (_, [primary]) => *primary,
        (_, []) => {
            return Err(Error::InvalidKey(
                "several keys but none marked primary with a leading '*'".into(),
            ));
        }
        _ => return Err(Error::InvalidKey("more than one key marked primary".into())),
    };
    Ok((entries, primary))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_base64_checks_length_and_alphabet() {
        let err = SecretKey::from_base64("AAAA").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid key material: expected 32 bytes, got 3"
        );
        let err = SecretKey::from_base64("%%%%").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid key material: key is not valid base64"
        );
        let key = SecretKey::generate().unwrap();
        assert_eq!(SecretKey::from_base64(&key.to_base64()).unwrap(), key);
    }

    #[test]
    fn debug_is_redacted() {
        let key = SecretKey::from_bytes([0x41; 32]);
        let dbg = format!("{key:?}");
        assert!(!dbg.contains("65") && !dbg.contains("QUFB"), "{dbg}");
    }

    #[test]
    fn derive_rejects_weak_parameters() {
        assert!(SecretKey::derive_from_password(b"pw", &[0; 16], 0).is_err());
        assert!(SecretKey::derive_from_password(b"pw", &[0; 8], 1).is_err());
        let a = SecretKey::derive_from_password(b"pw", &[0; 16], 2).unwrap();
        let b = SecretKey::derive_from_password(b"pw", &[0; 16], 3).unwrap();
        assert_ne!(a, b);
    }
}
