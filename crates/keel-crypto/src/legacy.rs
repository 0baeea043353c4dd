//! **Migration only.** Reading data of a PBKDF2-per-call AES-CBC scheme common in Python
//! services (`encrypt_data(data, password)`: PBKDF2-HMAC-SHA256 with 100 000 iterations on
//! every call, then AES-256-CBC with PKCS#7 padding and **no MAC**) and verifying bcrypt
//! hashes, so old data can be moved to [`KeyRing`] and Argon2id.
//!
//! # ⚠ The CBC format is unauthenticated
//!
//! [`decrypt_unauthenticated_for_migration`] cannot tell a genuine token from a modified
//! one: flipping bits in the ciphertext flips bits in the plaintext, and whether the
//! padding check passes is a **padding oracle**. Feeding it tokens that arrive in requests
//! (cookies, URLs, form fields) lets a client decrypt any token byte by byte and forge new
//! ones. Call it only from a one-off migration over data you already store, then
//! re-encrypt ([`migrate_to_keyring`]) and delete the old column. Nothing in this module
//! produces the old formats.

use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeDecrypt, KeyIvInit};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

use crate::encoding::b64_decode_lenient;
use crate::error::{DecryptError, Error, Result};
use crate::keyring::KeyRing;

/// The PBKDF2-HMAC-SHA256 iteration count the old Python scheme used (pass it to
/// [`decrypt_unauthenticated_for_migration`] unless your deployment changed it).
pub const LEGACY_PBKDF2_ITERATIONS: u32 = 100_000;

const SALT_LEN: usize = 32;
const IV_LEN: usize = 16;

/// **Unauthenticated, migration only.** Decrypts a token of the old Python
/// `encrypt_data(data, password)`: `base64(salt[32] ‖ iv[16] ‖ AES-256-CBC(PKCS#7))`, key =
/// PBKDF2-HMAC-SHA256(password, salt, `iterations`, 32) — usually
/// [`LEGACY_PBKDF2_ITERATIONS`].
///
/// # Security
/// The old format has **no integrity protection**: a modified token may decrypt to
/// modified data, and the padding check is a padding oracle. **Never call this on input a
/// client sent** (cookies, URLs, request bodies): only on data already in your storage,
/// to re-encrypt it once with [`migrate_to_keyring`] or [`KeyRing::encrypt`]. Every
/// failure is the same opaque [`DecryptError`], which blunts but does not remove the
/// oracle (timing still differs).
///
/// # Errors
/// [`DecryptError`] for bad base64, a wrong length, 0 iterations, a wrong password
/// (usually caught by the padding check, not always) or bad padding.
///
/// ```
/// use keel_crypto::legacy::{LEGACY_PBKDF2_ITERATIONS, decrypt_unauthenticated_for_migration};
///
/// // Made by the old Python scheme (with `cryptography`), password "hunter2".
/// let token = "kQsqoMUpm8w2QJWe2GoeML4A4iMchTII9cTUdtM6xKbRsoae2DTEkkPmAdYy/oaKnR7sAfOnkM95hA/dueA1wQ==";
/// let plaintext = decrypt_unauthenticated_for_migration(b"hunter2", token, LEGACY_PBKDF2_ITERATIONS)?;
/// assert_eq!(plaintext, b"hello");
/// # Ok::<(), keel_crypto::DecryptError>(())
/// ```
pub fn decrypt_unauthenticated_for_migration(
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

/// **Migration only.** Decrypts a stored legacy token (see
/// [`decrypt_unauthenticated_for_migration`], whose warning applies) and re-encrypts it
/// with `ring` for `purpose` and `aad`; returns the new token's text form, as
/// [`KeyRing::encrypt_str`] does.
///
/// # Errors
/// [`Error::Decrypt`] if the legacy token does not decrypt; errors of
/// [`KeyRing::encrypt`].
///
/// ```
/// use keel_crypto::legacy::{LEGACY_PBKDF2_ITERATIONS, migrate_to_keyring};
///
/// let ring = keel_crypto::KeyRing::generate(1)?;
/// let stored = "kQsqoMUpm8w2QJWe2GoeML4A4iMchTII9cTUdtM6xKbRsoae2DTEkkPmAdYy/oaKnR7sAfOnkM95hA/dueA1wQ==";
/// let new = migrate_to_keyring(b"hunter2", stored, LEGACY_PBKDF2_ITERATIONS, &ring, "notes", b"row:1")?;
/// assert_eq!(ring.decrypt_str("notes", &new, b"row:1")?, b"hello");
/// # Ok::<(), keel_crypto::Error>(())
/// ```
pub fn migrate_to_keyring(
    password: &[u8],
    token: &str,
    iterations: u32,
    ring: &KeyRing,
    purpose: &str,
    aad: &[u8],
) -> Result<String> {
    let plaintext = Zeroizing::new(decrypt_unauthenticated_for_migration(
        password, token, iterations,
    )?);
    ring.encrypt_str(purpose, &plaintext, aad)
}

/// Whether `token` has the shape of a legacy token (padded standard base64 of 48 + 16·n
/// bytes), to find old rows during a migration. Shape only: nothing is verified, and a new
/// token whose text happens to fit the shape is possible, so when reading mixed data try
/// [`KeyRing::decrypt_str`] first and fall back to
/// [`decrypt_unauthenticated_for_migration`].
///
/// ```
/// let ring = keel_crypto::KeyRing::generate(1)?;
/// assert!(!keel_crypto::legacy::is_legacy_token(&ring.encrypt_str("p", b"x", b"")?));
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

/// The largest bcrypt cost [`verify_bcrypt`] accepts: 2^15 rounds, eight times the usual
/// default of 12 (about 2 s here). bcrypt allows up to 31, about a day per guess: a planted
/// or corrupted hash must not turn one login into that.
pub const MAX_VERIFY_BCRYPT_COST: u32 = 15;

/// Verifies a password against a bcrypt hash (`$2a$`, `$2b$`, `$2y$`), e.g. from a Python or
/// Node service being replaced. [`PasswordHasher::verify`](crate::PasswordHasher::verify) calls this for bcrypt
/// hashes and [`needs_rehash`](crate::PasswordHasher::needs_rehash) reports them, so users
/// move to Argon2id at their next login.
///
/// bcrypt only reads the first 72 bytes of a password; longer passwords are compared on
/// those 72 bytes, as every bcrypt implementation does.
///
/// # Errors
/// [`Error::InvalidHash`] for a malformed hash or a cost above [`MAX_VERIFY_BCRYPT_COST`].
///
/// ```
/// // Cost 4 to keep the example fast.
/// let hash = "$2b$04$EGdrhbKUv8Oc9vGiXX0HQOxSg445d458Muh7DAHskb6QbtCvdxcie";
/// assert!(!keel_crypto::legacy::verify_bcrypt(b"wrong", hash)?);
/// # Ok::<(), keel_crypto::Error>(())
/// ```
pub fn verify_bcrypt(password: &[u8], hash: &str) -> Result<bool> {
    // `$2b$NN$…`: refuse a cost above the cap before bcrypt runs 2^NN rounds.
    let cost = hash
        .get(4..6)
        .filter(|c| c.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|c| c.parse::<u32>().ok())
        .ok_or(Error::InvalidHash)?;
    if cost > MAX_VERIFY_BCRYPT_COST || hash.as_bytes().get(6) != Some(&b'$') {
        tracing::warn!(
            cost,
            "stored bcrypt hash exceeds the verification cost cap; refused"
        );
        return Err(Error::InvalidHash);
    }
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
        // Cost 31 would run for about a day: refused before bcrypt starts.
        let planted = format!("$2b$31${}", &hash[7..]);
        let start = std::time::Instant::now();
        assert!(matches!(
            verify_bcrypt(b"s3cret", &planted),
            Err(Error::InvalidHash)
        ));
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
        for bad in ["$2b$1", "$2b$x4$abc", "$2b$040abc"] {
            assert!(
                matches!(verify_bcrypt(b"x", bad), Err(Error::InvalidHash)),
                "{bad}"
            );
        }
        let hasher = crate::PasswordHasher::new();
        assert!(hasher.verify(b"s3cret", &hash).unwrap());
        assert!(hasher.needs_rehash(&hash));
    }

    const HELLO: &str =
        "kQsqoMUpm8w2QJWe2GoeML4A4iMchTII9cTUdtM6xKbRsoae2DTEkkPmAdYy/oaKnR7sAfOnkM95hA/dueA1wQ==";

    #[test]
    fn reads_and_migrates_a_python_token() {
        assert!(is_legacy_token(HELLO));
        let decrypt =
            |pw: &[u8]| decrypt_unauthenticated_for_migration(pw, HELLO, LEGACY_PBKDF2_ITERATIONS);
        assert_eq!(decrypt(b"hunter2").unwrap(), b"hello");
        assert!(decrypt(b"hunter3").is_err());
        let ring = KeyRing::generate(1).unwrap();
        let new = migrate_to_keyring(
            b"hunter2",
            HELLO,
            LEGACY_PBKDF2_ITERATIONS,
            &ring,
            "notes",
            b"row:1",
        )
        .unwrap();
        assert!(!is_legacy_token(&new));
        assert_eq!(ring.decrypt_str("notes", &new, b"row:1").unwrap(), b"hello");
        assert!(ring.decrypt_str("notes", &new, b"row:2").is_err());
    }

    #[test]
    fn garbage_is_rejected() {
        for bad in ["", "!!", "AAAA", &"A".repeat(88), &"A".repeat(84)] {
            assert!(
                decrypt_unauthenticated_for_migration(b"pw", bad, 1).is_err(),
                "{bad}"
            );
        }
    }
}
