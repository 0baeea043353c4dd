//! [`FieldCipher`]: a [`KeyRing`] bound to one column, for text values encrypted at rest.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use zeroize::Zeroize;

use super::KeyRing;
use crate::error::{DecryptError, Result};

/// Encrypts the text values of one column (a *field*, such as `users.phone`) with a shared
/// [`KeyRing`]: the purpose is fixed when the cipher is made, and every call names the row
/// the value belongs to (its primary key), authenticated as associated data. A token copied
/// to another column (another purpose) or to another row never decrypts.
///
/// Cheap to clone (the ring is shared); rotation is the ring's (`reencrypt` with the same
/// purpose and row).
///
/// ```
/// use std::sync::Arc;
/// use keel_crypto::{FieldCipher, KeyRing};
///
/// let phones = FieldCipher::new(Arc::new(KeyRing::generate(1)?), "users.phone");
/// let token = phones.encrypt("+442071838750", b"user:42")?;
/// assert_eq!(phones.decrypt(&token, b"user:42")?, "+442071838750");
/// assert!(phones.decrypt(&token, b"user:43").is_err()); // another row
/// let emails = FieldCipher::new(Arc::clone(phones.ring()), "users.email");
/// assert!(emails.decrypt(&token, b"user:42").is_err()); // another column
/// # Ok::<(), keel_crypto::Error>(())
/// ```
#[derive(Clone)]
pub struct FieldCipher {
    ring: Arc<KeyRing>,
    purpose: Cow<'static, str>,
}

impl FieldCipher {
    /// A cipher for the column named by `purpose` (e.g. `"users.phone"`), over `ring`.
    pub fn new(ring: Arc<KeyRing>, purpose: impl Into<Cow<'static, str>>) -> Self {
        Self {
            ring,
            purpose: purpose.into(),
        }
    }

    /// The purpose every token of this cipher is bound to.
    pub fn purpose(&self) -> &str {
        &self.purpose
    }

    /// The shared ring.
    pub const fn ring(&self) -> &Arc<KeyRing> {
        &self.ring
    }

    /// Encrypts `value` for the row `row` (its primary key's bytes); returns the binary
    /// token to store (a `bytea` column).
    ///
    /// # Errors
    /// As [`KeyRing::encrypt`].
    pub fn encrypt(&self, value: &str, row: &[u8]) -> Result<Vec<u8>> {
        self.ring.encrypt(&self.purpose, value.as_bytes(), row)
    }

    /// Decrypts a token made by [`encrypt`](Self::encrypt) for the same purpose and row.
    ///
    /// # Errors
    /// [`DecryptError`] for anything wrong with the token (see [`KeyRing::decrypt`]), and
    /// for an authentic plaintext that is not UTF-8 (written by something other than a
    /// `FieldCipher`); that plaintext is zeroized, never returned.
    pub fn decrypt(&self, token: &[u8], row: &[u8]) -> Result<String, DecryptError> {
        let bytes = self.ring.decrypt(&self.purpose, token, row)?;
        String::from_utf8(bytes).map_err(|e| {
            e.into_bytes().zeroize();
            tracing::debug!(purpose = %self.purpose, "field plaintext is not UTF-8");
            DecryptError::new()
        })
    }
}

impl fmt::Debug for FieldCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FieldCipher")
            .field("purpose", &self.purpose)
            .field("ring", &self.ring)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher(purpose: &'static str) -> FieldCipher {
        FieldCipher::new(Arc::new(KeyRing::generate(1).unwrap()), purpose)
    }

    #[test]
    fn round_trip_binds_purpose_and_row() {
        let phones = cipher("users.phone");
        let token = phones.encrypt("+442071838750", b"row-1").unwrap();
        assert_eq!(phones.decrypt(&token, b"row-1").unwrap(), "+442071838750");
        assert!(phones.decrypt(&token, b"row-2").is_err());
        assert!(phones.decrypt(&token, b"").is_err());
        let other = FieldCipher::new(Arc::clone(phones.ring()), "users.email");
        assert!(other.decrypt(&token, b"row-1").is_err());
        // The ring with the same purpose and row reads it: the format is the ring's.
        let plain = phones
            .ring()
            .decrypt("users.phone", &token, b"row-1")
            .unwrap();
        assert_eq!(plain, b"+442071838750");
    }

    #[test]
    fn authentic_non_utf8_plaintext_is_a_decrypt_error() {
        let phones = cipher("users.phone");
        let token = phones
            .ring()
            .encrypt("users.phone", &[0xff, 0xfe], b"row-1")
            .unwrap();
        assert_eq!(
            phones.decrypt(&token, b"row-1").unwrap_err(),
            DecryptError::new()
        );
    }

    #[test]
    fn debug_names_the_purpose_and_no_key_material() {
        let debug = format!("{:?}", cipher("users.phone"));
        assert!(debug.starts_with("FieldCipher { purpose: \"users.phone\""));
        assert!(debug.contains("KeyRing"));
    }
}
