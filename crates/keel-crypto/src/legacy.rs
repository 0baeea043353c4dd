//! Reading the source design's data: PBKDF2 + AES-256-CBC tokens and bcrypt hashes.
//!
//! Decrypt-only and verify-only on purpose: nothing here produces the old formats.

use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeDecrypt, KeyIvInit};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

use crate::encoding::b64_decode_lenient;
use crate::error::{DecryptError, Error, Result};
use crate::keyring::KeyRing;

/// The PBKDF2-HMAC-SHA256 iteration count of the source design.
pub const LEGACY_PBKDF2_ITERATIONS: u32 = 100_000;

const SALT_LEN: usize = 32;
const IV_LEN: usize = 16;

/// Decrypts a token of the source design's Python `encrypt_data(data, password)`:
/// `base64(salt[32] ‖ iv[16] ‖ AES-256-CBC(PKCS#7))`, key = PBKDF2-HMAC-SHA256(password,
/// salt, 100 000, 32).
///
/// The old format has **no integrity protection**: a modified token may decrypt to modified
/// data, and garbage is only detected through the padding. Use this only to read old data
/// and re-encrypt it ([`migrate_legacy`]); every failure is the same opaque
/// [`DecryptError`].
///
/// # Errors
/// [`DecryptError`] for bad base64, a wrong length, a wrong password (usually caught by the
/// padding check, not always) or bad padding.
///
/// ```
/// // Made by the source design's algorithm (Python `cryptography`), password "hunter2".
/// let token = "kQsqoMUpm8w2QJWe2GoeML4A4iMchTII9cTUdtM6xKbRsoae2DTEkkPmAdYy/oaKnR7sAfOnkM95hA/dueA1wQ==";
/// assert_eq!(keel_crypto::legacy::decrypt_legacy(b"hunter2", token)?, b"hello");
/// # Ok::<(), keel_crypto::DecryptError>(())
/// ```
pub fn decrypt_legacy(password: &[u8], token: &str) -> Result<Vec<u8>, DecryptError> {
    decrypt_legacy_with_iterations(password, token, LEGACY_PBKDF2_ITERATIONS)
}

/// [`decrypt_legacy`] with another PBKDF2 iteration count (for deployments that changed it).
///
/// # Errors
/// As [`decrypt_legacy`].
///
/// ```
/// assert!(keel_crypto::legacy::decrypt_legacy_with_iterations(b"pw", "", 1_000).is_err());
/// ```
pub fn decrypt_legacy_with_iterations(
    password: &[u8],
    token: &str,
    iterations: u32,
) -> Result<Vec<u8>, DecryptError> {
    let fail = |reason: &'static str| {
        tracing::debug!(reason, "legacy token rejected");
        DecryptError::new()
    };
    let bytes = b64_decode_lenient(token).ok_or_else(|| fail("not base64"))?;
    if bytes.len() < SALT_LEN + IV_LEN + 16 || !(bytes.len() - SALT_LEN - IV_LEN).is_multiple_of(16)
    {
        return Err(fail("bad length"));
    }
    if iterations == 0 {
        return Err(fail("zero iterations"));
    }
    let (salt, rest) = bytes.split_at(SALT_LEN);
    let (iv, ciphertext) = rest.split_at(IV_LEN);
    let mut key = Zeroizing::new([0u8; 32]);
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut key[..]);
    let decryptor = cbc::Decryptor::<aes::Aes256>::new_from_slices(&key[..], iv)
        .map_err(|_| fail("bad key or iv"))?;
    let mut buf = ciphertext.to_vec();
    let len = match decryptor.decrypt_padded::<Pkcs7>(&mut buf) {
        Ok(plaintext) => plaintext.len(),
        Err(_) => {
            buf.zeroize();
            return Err(fail("bad padding"));
        }
    };
    buf.truncate(len);
    Ok(buf)
}

/// Decrypts a legacy token and re-encrypts it with `ring` for `purpose` (base64url text).
///
/// # Errors
/// [`Error::Decrypt`] if the legacy token does not decrypt; errors of
/// [`KeyRing::encrypt`].
///
/// ```
/// let ring = keel_crypto::KeyRing::generate(1)?;
/// assert!(keel_crypto::legacy::migrate_legacy(b"pw", "bm90IGEgdG9rZW4=", &ring, "notes").is_err());
/// # Ok::<(), keel_crypto::Error>(())
/// ```
pub fn migrate_legacy(
    password: &[u8],
    token: &str,
    ring: &KeyRing,
    purpose: &str,
) -> Result<String> {
    let plaintext = Zeroizing::new(decrypt_legacy(password, token)?);
    ring.encrypt_to_string(purpose, &plaintext)
}

/// Whether `token` has the shape of a legacy token (padded standard base64 of 48 + 16·n
/// bytes), to find old rows during a migration. Shape only: nothing is verified, and a new
/// token whose text happens to fit the shape is possible, so when reading mixed data try
/// [`KeyRing::decrypt_str`] first and fall back to [`decrypt_legacy`].
///
/// ```
/// let ring = keel_crypto::KeyRing::generate(1)?;
/// assert!(!keel_crypto::legacy::is_legacy_token(&ring.encrypt_to_string("p", b"x")?));
/// # Ok::<(), keel_crypto::Error>(())
/// ```
#[must_use]
pub fn is_legacy_token(token: &str) -> bool {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .is_ok_and(|b| {
            b.len() >= SALT_LEN + IV_LEN + 16 && (b.len() - SALT_LEN - IV_LEN).is_multiple_of(16)
        })
}

/// Verifies a password against a bcrypt hash (`$2a$`, `$2b$`, `$2y$`), e.g. from the source
/// design. [`PasswordHasher::verify`](crate::PasswordHasher::verify) calls this for bcrypt
/// hashes and [`needs_rehash`](crate::PasswordHasher::needs_rehash) reports them, so users
/// move to Argon2id at their next login.
///
/// bcrypt only reads the first 72 bytes of a password; longer passwords are compared on
/// those 72 bytes, as the source design did.
///
/// # Errors
/// [`Error::InvalidHash`] for a malformed hash.
///
/// ```
/// // Cost 4 to keep the example fast.
/// let hash = "$2b$04$EGdrhbKUv8Oc9vGiXX0HQOxSg445d458Muh7DAHskb6QbtCvdxcie";
/// assert!(!keel_crypto::legacy::verify_bcrypt(b"wrong", hash)?);
/// # Ok::<(), keel_crypto::Error>(())
/// ```
pub fn verify_bcrypt(password: &[u8], hash: &str) -> Result<bool> {
    bcrypt::verify(password, hash).map_err(|err| {
        tracing::debug!(error = %err, "malformed bcrypt hash");
        Error::InvalidHash
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcrypt_round_trip_with_the_bcrypt_crate() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        assert!(verify_bcrypt(b"s3cret", &hash).unwrap());
        assert!(!verify_bcrypt(b"s3creT", &hash).unwrap());
        assert!(matches!(
            verify_bcrypt(b"x", "$2b$04$short"),
            Err(Error::InvalidHash)
        ));
        let hasher = crate::PasswordHasher::new();
        assert!(hasher.verify(b"s3cret", &hash).unwrap());
        assert!(hasher.needs_rehash(&hash));
    }

    const HELLO: &str =
        "kQsqoMUpm8w2QJWe2GoeML4A4iMchTII9cTUdtM6xKbRsoae2DTEkkPmAdYy/oaKnR7sAfOnkM95hA/dueA1wQ==";

    #[test]
    fn reads_and_migrates_a_python_token() {
        assert!(is_legacy_token(HELLO));
        assert_eq!(decrypt_legacy(b"hunter2", HELLO).unwrap(), b"hello");
        assert!(decrypt_legacy(b"hunter3", HELLO).is_err());
        let ring = KeyRing::generate(1).unwrap();
        let new = migrate_legacy(b"hunter2", HELLO, &ring, "notes").unwrap();
        assert!(!is_legacy_token(&new));
        assert_eq!(ring.decrypt_str("notes", &new).unwrap(), b"hello");
    }

    #[test]
    fn garbage_is_rejected() {
        for bad in ["", "!!", "AAAA", &"A".repeat(88), &"A".repeat(84)] {
            assert!(
                decrypt_legacy_with_iterations(b"pw", bad, 1).is_err(),
                "{bad}"
            );
        }
    }
}
