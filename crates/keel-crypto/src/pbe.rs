//! Password-based encryption: PBKDF2-HMAC-SHA256 + AES-256-GCM, self-describing tokens.

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use zeroize::Zeroize;

use crate::encoding::{b64url_decode, b64url_encode, be_u32};
use crate::error::{DecryptError, Error, Result};
use crate::key::SecretKey;
use crate::random::fill_random;

/// Version byte of the password-based token format.
pub const PASSWORD_TOKEN_VERSION: u8 = 0x50; // 'P'
/// OWASP's PBKDF2-HMAC-SHA256 recommendation (Password Storage Cheat Sheet, 2023+).
pub const OWASP_PBKDF2_ITERATIONS: u32 = 600_000;
/// Default upper bound on the iteration count accepted when decrypting: twice
/// [`OWASP_PBKDF2_ITERATIONS`]. The count comes from the token, so whoever sends a token
/// chooses how long PBKDF2 runs; at this cap a forged token costs at most about two
/// legitimate decryptions (~150 ms here) instead of seconds. Raise it with
/// [`PasswordEncryptor::with_max_iterations`] (or [`PasswordEncryptor::with_iterations`],
/// which raises it to the count it encrypts with).
pub const DEFAULT_MAX_PBKDF2_ITERATIONS: u32 = 2 * OWASP_PBKDF2_ITERATIONS;
/// Lower bound accepted when encrypting or decrypting.
pub const MIN_PBKDF2_ITERATIONS: u32 = 1_000;

const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// version (1) ‖ iterations (4) ‖ salt (16) ‖ nonce (12).
const HEADER_LEN: usize = 1 + 4 + SALT_LEN + NONCE_LEN;

/// Encrypts with a key derived from a password, like the `encrypt_data(data, password)`
/// helpers common in Python services (PBKDF2 on every call, then AES-CBC), but
/// authenticated and upgradeable.
///
/// Each token carries its own 16-byte random salt and the iteration count, so the count can
/// be raised later without breaking old tokens ([`needs_upgrade`](Self::needs_upgrade)
/// tells which to re-encrypt). PBKDF2 at 600 000 iterations costs tens of milliseconds
/// **per call**: for many messages under one password derive a key once with
/// [`KeyRing::from_password`](crate::KeyRing::from_password) instead.
///
/// Format: `0x50 ‖ iterations (u32 BE) ‖ salt (16) ‖ nonce (12) ‖ ciphertext ‖ tag (16)`;
/// key = PBKDF2-HMAC-SHA256(password, salt, iterations, 32 bytes); the 33-byte header is the
/// GCM associated data. Text form: base64url without padding.
///
/// ```
/// use keel_crypto::PasswordEncryptor;
///
/// let pbe = PasswordEncryptor::new().with_iterations(10_000)?; // default: 600 000
/// let token = pbe.encrypt_str(b"hunter2", b"my diary")?;
/// assert_eq!(pbe.decrypt_str(b"hunter2", &token)?, b"my diary");
/// assert!(pbe.decrypt_str(b"hunter3", &token).is_err());
/// # Ok::<(), keel_crypto::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordEncryptor {
    iterations: u32,
    max_iterations: u32,
}

impl Default for PasswordEncryptor {
    fn default() -> Self {
        Self::new()
    }
}

impl PasswordEncryptor {
    /// OWASP defaults: 600 000 iterations; decryption accepts up to
    /// [`DEFAULT_MAX_PBKDF2_ITERATIONS`] (1 200 000).
    ///
    /// ```
    /// assert_eq!(keel_crypto::PasswordEncryptor::new().iterations(), 600_000);
    /// ```
    #[must_use]
    pub const fn new() -> Self {
        Self {
            iterations: OWASP_PBKDF2_ITERATIONS,
            max_iterations: DEFAULT_MAX_PBKDF2_ITERATIONS,
        }
    }

    /// Sets the iteration count for new tokens; the decryption cap is raised to it if it
    /// was lower, so tokens this encryptor makes always decrypt.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] below [`MIN_PBKDF2_ITERATIONS`].
    ///
    /// ```
    /// use keel_crypto::PasswordEncryptor;
    /// assert!(PasswordEncryptor::new().with_iterations(10).is_err());
    /// let strong = PasswordEncryptor::new().with_iterations(2_000_000)?;
    /// assert_eq!(strong.max_iterations(), 2_000_000);
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    pub fn with_iterations(mut self, iterations: u32) -> Result<Self> {
        if iterations < MIN_PBKDF2_ITERATIONS {
            return Err(Error::InvalidParameter(format!(
                "PBKDF2 iterations must be at least {MIN_PBKDF2_ITERATIONS}, got {iterations}"
            )));
        }
        self.iterations = iterations;
        self.max_iterations = self.max_iterations.max(iterations);
        Ok(self)
    }

    /// Sets the largest iteration count accepted when decrypting (DoS guard).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if below the encryption iteration count.
    ///
    /// ```
    /// let pbe = keel_crypto::PasswordEncryptor::new().with_max_iterations(1_000_000)?;
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    pub fn with_max_iterations(mut self, max_iterations: u32) -> Result<Self> {
        if max_iterations < self.iterations {
            return Err(Error::InvalidParameter(
                "maximum iterations below the encryption iterations".into(),
            ));
        }
        self.max_iterations = max_iterations;
        Ok(self)
    }

    /// The largest iteration count accepted when decrypting.
    ///
    /// ```
    /// assert_eq!(keel_crypto::PasswordEncryptor::new().max_iterations(), 1_200_000);
    /// ```
    #[must_use]
    pub const fn max_iterations(&self) -> u32 {
        self.max_iterations
    }

    /// The iteration count used for new tokens.
    ///
    /// ```
    /// assert_eq!(keel_crypto::PasswordEncryptor::default().iterations(), 600_000);
    /// ```
    #[must_use]
    pub const fn iterations(&self) -> u32 {
        self.iterations
    }

    /// Encrypts `plaintext` under `password`; returns the binary token.
    ///
    /// # Errors
    /// [`Error::Random`] if the OS generator fails; [`Error::InputTooLarge`] past 64 GiB.
    ///
    /// ```
    /// let pbe = keel_crypto::PasswordEncryptor::new().with_iterations(1_000)?;
    /// let token = pbe.encrypt(b"pw", b"abc")?;
    /// assert_eq!(token.len(), 3 + 49);
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    pub fn encrypt(&self, password: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        if plaintext.len() as u64 > aes_gcm::P_MAX {
            return Err(Error::InputTooLarge(
                "plaintext exceeds the AES-GCM limit of 64 GiB",
            ));
        }
        let mut header = [0u8; HEADER_LEN];
        header[0] = PASSWORD_TOKEN_VERSION;
        header[1..5].copy_from_slice(&self.iterations.to_be_bytes());
        fill_random(&mut header[5..])?; // salt and nonce
        let (cipher, nonce) = cipher_for(password, &header)?;
        let mut token = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
        token.extend_from_slice(&header);
        token.extend_from_slice(plaintext);
        let tag = cipher
            .encrypt_inout_detached(&nonce, &header, (&mut token[HEADER_LEN..]).into())
            .map_err(|_| Error::InputTooLarge("input exceeds the AES-GCM limits"))?;
        token.extend_from_slice(&tag);
        Ok(token)
    }

    /// Encrypts and returns base64url text.
    ///
    /// # Errors
    /// As [`encrypt`](Self::encrypt).
    ///
    /// ```
    /// let pbe = keel_crypto::PasswordEncryptor::new().with_iterations(1_000)?;
    /// let text = pbe.encrypt_str(b"pw", b"abc")?;
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    pub fn encrypt_str(&self, password: &[u8], plaintext: &[u8]) -> Result<String> {
        Ok(b64url_encode(&self.encrypt(password, plaintext)?))
    }

    /// Decrypts a binary token with `password`.
    ///
    /// # Errors
    /// [`DecryptError`] for a wrong password, tampering, a malformed token or an iteration
    /// count outside the accepted range.
    ///
    /// ```
    /// let pbe = keel_crypto::PasswordEncryptor::new().with_iterations(1_000)?;
    /// let token = pbe.encrypt(b"pw", b"abc")?;
    /// assert_eq!(pbe.decrypt(b"pw", &token)?, b"abc");
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    pub fn decrypt(&self, password: &[u8], token: &[u8]) -> Result<Vec<u8>, DecryptError> {
        let fail = |reason: &'static str| {
            tracing::debug!(reason, "password token rejected");
            DecryptError::new()
        };
        if token.len() < HEADER_LEN + TAG_LEN {
            return Err(fail("too short"));
        }
        if token[0] != PASSWORD_TOKEN_VERSION {
            return Err(fail("unknown version"));
        }
        let iterations = be_u32(token, 1).ok_or_else(|| fail("too short"))?;
        if !(MIN_PBKDF2_ITERATIONS..=self.max_iterations).contains(&iterations) {
            return Err(fail("iteration count out of range"));
        }
        let (header, rest) = token.split_at(HEADER_LEN);
        let (body, tag) = rest.split_at(rest.len() - TAG_LEN);
        let tag = Tag::try_from(tag).map_err(|_| fail("too short"))?;
        let (cipher, nonce) = cipher_for(password, header).map_err(|_| fail("bad header"))?;
        let mut plaintext = body.to_vec();
        if cipher
            .decrypt_inout_detached(&nonce, header, plaintext.as_mut_slice().into(), &tag)
            .is_err()
        {
            plaintext.zeroize();
            return Err(fail("authentication failed"));
        }
        Ok(plaintext)
    }

    /// Decrypts base64url text.
    ///
    /// # Errors
    /// [`DecryptError`].
    ///
    /// ```
    /// let pbe = keel_crypto::PasswordEncryptor::new();
    /// assert!(pbe.decrypt_str(b"pw", "garbage").is_err());
    /// ```
    pub fn decrypt_str(&self, password: &[u8], token: &str) -> Result<Vec<u8>, DecryptError> {
        let bytes = b64url_decode(token).ok_or(DecryptError::new())?;
        self.decrypt(password, &bytes)
    }

    /// The iteration count stored in a token (unauthenticated), `None` if it is not one.
    ///
    /// ```
    /// let pbe = keel_crypto::PasswordEncryptor::new().with_iterations(1_234)?;
    /// let token = pbe.encrypt(b"pw", b"")?;
    /// assert_eq!(keel_crypto::PasswordEncryptor::iterations_of(&token), Some(1_234));
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    #[must_use]
    pub fn iterations_of(token: &[u8]) -> Option<u32> {
        if token.len() < HEADER_LEN + TAG_LEN || token[0] != PASSWORD_TOKEN_VERSION {
            return None;
        }
        be_u32(token, 1)
    }

    /// Whether a token was made with fewer iterations than this encryptor uses (re-encrypt
    /// it after the next successful decryption).
    ///
    /// ```
    /// let old = keel_crypto::PasswordEncryptor::new().with_iterations(1_000)?;
    /// let token = old.encrypt(b"pw", b"")?;
    /// assert!(keel_crypto::PasswordEncryptor::new().needs_upgrade(&token));
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    #[must_use]
    pub fn needs_upgrade(&self, token: &[u8]) -> bool {
        Self::iterations_of(token).is_none_or(|n| n < self.iterations)
    }
}

fn cipher_for(
    password: &[u8],
    header: &[u8],
) -> Result<(Aes256Gcm, Nonce<aes_gcm::aead::consts::U12>)> {
    let iterations = be_u32(header, 1).ok_or(DecryptError::new())?;
    let salt = header.get(5..5 + SALT_LEN).ok_or(DecryptError::new())?;
    let nonce: [u8; NONCE_LEN] = header
        .get(5 + SALT_LEN..HEADER_LEN)
        .and_then(|n| n.try_into().ok())
        .ok_or(DecryptError::new())?;
    let key = SecretKey::derive_from_password(password, salt, iterations)?;
    Ok((
        Aes256Gcm::new(&(*key.expose_secret()).into()),
        Nonce::from(nonce),
    ))
}

/// Encrypts with [`PasswordEncryptor::new`] (600 000 iterations) and returns base64url text:
/// the authenticated replacement for PBKDF2-per-call AES-CBC helpers such as Python's
/// `encrypt_data(data, password)`.
///
/// # Errors
/// As [`PasswordEncryptor::encrypt`].
///
/// ```no_run
/// let token = keel_crypto::encrypt_with_password(b"hunter2", b"secret notes")?;
/// let back = keel_crypto::decrypt_with_password(b"hunter2", &token)?;
/// # Ok::<(), keel_crypto::Error>(())
/// ```
pub fn encrypt_with_password(password: &[u8], plaintext: &[u8]) -> Result<String> {
    PasswordEncryptor::new().encrypt_str(password, plaintext)
}

/// Decrypts text from [`encrypt_with_password`] (iteration counts up to
/// [`DEFAULT_MAX_PBKDF2_ITERATIONS`]).
///
/// # Errors
/// [`DecryptError`].
///
/// ```
/// assert!(keel_crypto::decrypt_with_password(b"pw", "AAAA").is_err());
/// ```
pub fn decrypt_with_password(password: &[u8], token: &str) -> Result<Vec<u8>, DecryptError> {
    PasswordEncryptor::new().decrypt_str(password, token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> PasswordEncryptor {
        PasswordEncryptor::new()
            .with_iterations(MIN_PBKDF2_ITERATIONS)
            .unwrap()
    }

    #[test]
    fn round_trip_and_header() {
        let token = fast().encrypt(b"pw", b"data").unwrap();
        assert_eq!(token[0], PASSWORD_TOKEN_VERSION);
        assert_eq!(PasswordEncryptor::iterations_of(&token), Some(1_000));
        assert_eq!(token.len(), HEADER_LEN + 4 + TAG_LEN);
        assert_eq!(fast().decrypt(b"pw", &token).unwrap(), b"data");
        assert!(fast().decrypt(b"pW", &token).is_err());
    }

    #[test]
    fn iteration_count_is_authenticated_and_bounded() {
        let mut token = fast().encrypt(b"pw", b"data").unwrap();
        token[4] ^= 1; // 1000 -> 1001
        assert!(fast().decrypt(b"pw", &token).is_err());
        // u32::MAX iterations would run PBKDF2 for many minutes: refused up front.
        let mut huge = fast().encrypt(b"pw", b"data").unwrap();
        huge[1..5].copy_from_slice(&u32::MAX.to_be_bytes());
        let start = std::time::Instant::now();
        assert_eq!(
            PasswordEncryptor::new().decrypt(b"pw", &huge),
            Err(DecryptError::new())
        );
        assert!(
            start.elapsed() < std::time::Duration::from_secs(1),
            "refused before PBKDF2"
        );
    }

    #[test]
    fn genuine_tokens_over_the_cap_are_refused() {
        assert_eq!(DEFAULT_MAX_PBKDF2_ITERATIONS, 2 * OWASP_PBKDF2_ITERATIONS);
        assert_eq!(PasswordEncryptor::new().max_iterations(), 1_200_000);
        // A genuine token (right password, intact tag) one iteration over the cap is refused;
        // a small cap keeps the test fast, the check is the same for the default one.
        let capped = fast().with_max_iterations(2_000).unwrap();
        let over = fast().with_iterations(2_001).unwrap();
        let token = over.encrypt(b"pw", b"data").unwrap();
        assert_eq!(over.decrypt(b"pw", &token).unwrap(), b"data");
        assert_eq!(capped.decrypt(b"pw", &token), Err(DecryptError::new()));
    }

    #[test]
    fn upgrade_detection() {
        let token = fast().encrypt(b"pw", b"").unwrap();
        assert!(PasswordEncryptor::new().needs_upgrade(&token));
        assert!(!fast().needs_upgrade(&token));
        assert!(fast().needs_upgrade(b"junk"));
    }

    #[test]
    fn parameter_validation() {
        assert!(PasswordEncryptor::new().with_iterations(999).is_err());
        assert!(PasswordEncryptor::new().with_max_iterations(1).is_err());
        let raised = PasswordEncryptor::new()
            .with_max_iterations(700_000)
            .unwrap()
            .with_iterations(900_000)
            .unwrap();
        assert_eq!(raised.max_iterations(), 900_000);
    }
}
