//! [`KeyRing`]: AES-256-GCM with key ids, a primary key, rotation and purposes.
//!
//! The type and its operations live here; the token layout and associated data in
//! `format`, the nonce-budget counter in `usage`, the rotation logic (shared with
//! [`Signer`](crate::Signer)) in `crate::keyset`.

mod field;
mod format;
mod usage;

use std::fmt;
use std::str::FromStr;

use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use zeroize::{Zeroize, Zeroizing};

pub use self::field::FieldCipher;
use self::format::{AdBuf, ID_LEN, NONCE_LEN};
pub use self::format::{TOKEN_HEADER_LEN, TOKEN_OVERHEAD, TOKEN_VERSION};
use self::usage::Usage;
pub use self::usage::{DEFAULT_USAGE_LIMIT, MAX_USAGE_LIMIT};
use crate::encoding::{b64url_decode, b64url_encode, be_u32};
use crate::error::{DecryptError, Error, Result};
use crate::key::{SecretKey, parse_env};
use crate::keyset::{KeySet, rotation_methods};
use crate::random::fill_random;

/// What the ring keeps per key: the AES key schedule (zeroized on drop by `aes-gcm`'s
/// `zeroize` feature) and its encryption count.
struct RingKey {
    cipher: Aes256Gcm,
    used: Usage,
    /// Checked once, while the raw key is at hand ([`KeyRing::weak_keys`]).
    weakness: Option<crate::Weakness>,
}

impl RingKey {
    fn new(key: &SecretKey) -> Self {
        Self {
            cipher: Aes256Gcm::new(&(*key.expose_secret()).into()),
            used: Usage::default(),
            weakness: crate::weakness(key.expose_secret()),
        }
    }
}

/// A set of AES-256-GCM keys with 32-bit ids and one primary key.
///
/// [`encrypt`](Self::encrypt) always uses the primary key and writes its id into the token;
/// [`decrypt`](Self::decrypt) uses the key the token names. Every operation takes the same
/// three inputs besides the data:
///
/// * a **purpose** (e.g. `"session-cookie"`, `"user.ssn"`), authenticated, so a token made
///   for one purpose never decrypts for another;
/// * **associated data** `aad` (e.g. the user or row id the value belongs to), authenticated
///   but not stored: the same bytes must be given to decrypt. Pass `b""` when there is none.
///
/// Six methods, one shape: `encrypt`/`decrypt`/`reencrypt` work on binary tokens, and the
/// `_str` forms on the token's text form (base64url without padding) for cookies, URLs
/// and JSON.
///
/// # Rotation
/// 1. [`add`](Self::add) the new key everywhere (it decrypts, does not encrypt yet) and roll out;
/// 2. [`promote`](Self::promote) it everywhere: new tokens use it, old ones still decrypt;
/// 3. [`retire`](Self::retire) the old key; run [`reencrypt`](Self::reencrypt) over stored data;
/// 4. once nothing logs uses of the retired key, [`remove`](Self::remove) it.
///
/// Each step is logged at `info` (field `keys = "KeyRing"`), and so is every decryption
/// with a retired key ("retired key used").
///
/// # Token format
/// `version (0x4b) ‖ key id (u32 BE) ‖ nonce (12 random bytes) ‖ ciphertext ‖ tag (16)`;
/// text form: base64url without padding. The GCM associated data is
/// `version ‖ key id ‖ len(purpose) (u32 BE) ‖ purpose ‖ aad`.
///
/// # Sharing
/// `KeyRing` is `Send + Sync`: build it once at start-up and share it (`Arc<KeyRing>`, or
/// an application state field). The rotation methods take `&mut self`; a service that
/// rotates without restarting builds a new ring from the new configuration and swaps the
/// `Arc` (e.g. with `arc-swap`); the usage counters start again at zero in the new ring.
///
/// # Nonce limit
/// Nonces are random, so NIST SP 800-38D caps one key at 2^32 messages. Each key counts its
/// encryptions *in this process* and refuses past a soft limit ([`DEFAULT_USAGE_LIMIT`],
/// warning at 75 %). The counter is a per-process guard, not a global count: rotate keys on
/// a schedule that fits your whole fleet's volume.
///
/// ```
/// use keel_crypto::KeyRing;
///
/// let ring: KeyRing = "1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=".parse()?;
/// let token = ring.encrypt_str("user.email", b"ada@example.com", b"user:42")?;
/// assert_eq!(ring.decrypt_str("user.email", &token, b"user:42")?, b"ada@example.com");
/// assert!(ring.decrypt_str("user.phone", &token, b"user:42").is_err()); // other purpose
/// assert!(ring.decrypt_str("user.email", &token, b"user:43").is_err()); // other row
/// # Ok::<(), keel_crypto::Error>(())
/// ```
pub struct KeyRing {
    keys: KeySet<RingKey>,
    limit: u64,
}

const OWNER: &str = "KeyRing";

impl KeyRing {
    /// A ring with one key, which is primary.
    ///
    /// ```
    /// let ring = keel_crypto::KeyRing::new(1, keel_crypto::SecretKey::generate()?);
    /// assert_eq!(ring.primary_id(), 1);
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    #[must_use]
    pub fn new(id: u32, key: SecretKey) -> Self {
        let entry = RingKey::new(&key);
        drop(key); // zeroized now: the ring keeps only the AES key schedule
        Self {
            keys: KeySet::new(OWNER, id, entry),
            limit: DEFAULT_USAGE_LIMIT,
        }
    }

    /// A ring with one freshly generated primary key (tests, ephemeral data).
    ///
    /// # Errors
    /// [`Error::Random`] if the OS generator fails.
    ///
    /// ```
    /// let ring = keel_crypto::KeyRing::generate(7)?;
    /// assert_eq!(ring.key_ids(), vec![7]);
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    pub fn generate(id: u32) -> Result<Self> {
        Ok(Self::new(id, SecretKey::generate()?))
    }

    /// A ring with one key derived from a password and salt with PBKDF2-HMAC-SHA256
    /// (see [`SecretKey::derive_from_password`]): pay the KDF once, encrypt many messages.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for 0 iterations or a salt shorter than 16 bytes.
    ///
    /// ```
    /// let ring = keel_crypto::KeyRing::from_password(1, b"hunter2", &[0x5a; 16], 1_000)?;
    /// let token = ring.encrypt("notes", b"hi", b"")?;
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    pub fn from_password(id: u32, password: &[u8], salt: &[u8], iterations: u32) -> Result<Self> {
        Ok(Self::new(
            id,
            SecretKey::derive_from_password(password, salt, iterations)?,
        ))
    }

    /// Parses a ring from the environment variable `var` (format: see [`FromStr`](#impl-FromStr-for-KeyRing)).
    ///
    /// # Errors
    /// [`Error::InvalidKey`] if the variable is missing or malformed.
    ///
    /// ```
    /// assert!(keel_crypto::KeyRing::from_env("KEEL_DOC_MISSING_RING").is_err());
    /// ```
    pub fn from_env(var: &str) -> Result<Self> {
        parse_env(var)
    }

    /// Sets the per-key, per-process encryption limit (default [`DEFAULT_USAGE_LIMIT`]);
    /// a warning is logged at 75 % of it.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for 0 or more than [`MAX_USAGE_LIMIT`].
    ///
    /// ```
    /// let ring = keel_crypto::KeyRing::generate(1)?.with_usage_limit(2)?;
    /// ring.encrypt("p", b"1", b"")?;
    /// ring.encrypt("p", b"2", b"")?;
    /// assert!(ring.encrypt("p", b"3", b"").is_err());
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    pub fn with_usage_limit(mut self, limit: u64) -> Result<Self> {
        if limit == 0 || limit > MAX_USAGE_LIMIT {
            return Err(Error::InvalidParameter(format!(
                "usage limit must be between 1 and 2^32, got {limit}"
            )));
        }
        self.limit = limit;
        Ok(self)
    }

    rotation_methods!(KeyRing, "decrypt", "encrypt");

    /// How many encryptions key `id` performed in this process (`None` if absent).
    ///
    /// ```
    /// let ring = keel_crypto::KeyRing::generate(1)?;
    /// ring.encrypt("p", b"x", b"")?;
    /// assert_eq!(ring.usage(1), Some(1));
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    #[must_use]
    pub fn usage(&self, id: u32) -> Option<u64> {
        self.keys.get(id).map(|e| e.value().used.get(self.limit))
    }

    /// Encrypts `plaintext` for `purpose` with the primary key, authenticating `aad` (not
    /// stored in the token: the same bytes must be given to decrypt, e.g. the row id the
    /// value belongs to; `b""` for none). Returns the binary token.
    ///
    /// # Errors
    /// [`Error::KeyExhausted`] past the usage limit, [`Error::Random`] if the OS generator
    /// fails, [`Error::InputTooLarge`] for a purpose over 4 GiB or a plaintext over 64 GiB.
    ///
    /// ```
    /// let ring = keel_crypto::KeyRing::generate(1)?;
    /// let token = ring.encrypt("user.ssn", b"078-05-1120", b"user:42")?;
    /// assert_eq!(token.len(), 11 + keel_crypto::TOKEN_OVERHEAD);
    /// assert!(ring.decrypt("user.ssn", &token, b"user:43").is_err());
    /// assert_eq!(ring.decrypt("user.ssn", &token, b"user:42")?, b"078-05-1120");
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    pub fn encrypt(&self, purpose: &str, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        // aes-gcm's P_MAX: 2^36 - 32 bytes.
        if plaintext.len() as u64 > aes_gcm::P_MAX {
            return Err(Error::InputTooLarge(
                "plaintext exceeds the AES-GCM limit of 64 GiB",
            ));
        }
        let entry = self.keys.primary()?;
        let key = entry.value();
        key.used.reserve(entry.id(), self.limit)?;
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce)?;

        let mut header = [TOKEN_VERSION; ID_LEN];
        header[1..].copy_from_slice(&entry.id().to_be_bytes());
        let mut ad = AdBuf::new();
        let ad = ad
            .fill(&header, purpose, aad)
            .ok_or(Error::InputTooLarge("purpose longer than 4 GiB"))?;
        let mut token = Vec::with_capacity(TOKEN_OVERHEAD + plaintext.len());
        token.extend_from_slice(&header);
        token.extend_from_slice(&nonce);
        token.extend_from_slice(plaintext);
        let tag = key
            .cipher
            .encrypt_inout_detached(
                &Nonce::from(nonce),
                ad,
                (&mut token[TOKEN_HEADER_LEN..]).into(),
            )
            .map_err(|_| Error::InputTooLarge("input exceeds the AES-GCM limits"))?;
        token.extend_from_slice(&tag);
        Ok(token)
    }

    /// [`encrypt`](Self::encrypt), returning the token's text form (base64url, no padding)
    /// for cookies, URLs and JSON.
    ///
    /// # Errors
    /// As [`encrypt`](Self::encrypt).
    ///
    /// ```
    /// let ring = keel_crypto::KeyRing::generate(1)?;
    /// let text = ring.encrypt_str("cookie", b"{\"uid\":1}", b"")?;
    /// assert!(!text.contains(['+', '/', '=']));
    /// assert_eq!(ring.decrypt_str("cookie", &text, b"")?, b"{\"uid\":1}");
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    pub fn encrypt_str(&self, purpose: &str, plaintext: &[u8], aad: &[u8]) -> Result<String> {
        Ok(b64url_encode(&self.encrypt(purpose, plaintext, aad)?))
    }

    /// Decrypts a binary token made for `purpose` and `aad` by any key still in the ring.
    ///
    /// # Errors
    /// [`DecryptError`] for anything wrong (format, version, unknown key, purpose, `aad`,
    /// tampering); no plaintext is released when the tag does not verify.
    ///
    /// ```
    /// let ring = keel_crypto::KeyRing::generate(1)?;
    /// let mut token = ring.encrypt("p", b"hello", b"")?;
    /// assert_eq!(ring.decrypt("p", &token, b"")?, b"hello");
    /// assert!(ring.decrypt("p", &token, b"row:1").is_err());
    /// token[20] ^= 1;
    /// assert!(ring.decrypt("p", &token, b"").is_err());
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    pub fn decrypt(
        &self,
        purpose: &str,
        token: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, DecryptError> {
        let fail = |reason: &'static str| {
            tracing::debug!(reason, "token rejected");
            DecryptError::new()
        };
        if token.len() < TOKEN_OVERHEAD {
            return Err(fail("too short"));
        }
        if token[0] != TOKEN_VERSION {
            return Err(fail("unknown version"));
        }
        let id = be_u32(token, 1).ok_or_else(|| fail("too short"))?;
        let entry = self.keys.get(id).ok_or_else(|| fail("unknown key id"))?;
        let nonce: [u8; NONCE_LEN] = token[ID_LEN..TOKEN_HEADER_LEN]
            .try_into()
            .map_err(|_| fail("too short"))?;
        let (body, tag) = token[TOKEN_HEADER_LEN..].split_at(token.len() - TOKEN_OVERHEAD);
        let tag = Tag::try_from(tag).map_err(|_| fail("too short"))?;
        let header: &[u8; ID_LEN] = token[..ID_LEN].try_into().map_err(|_| fail("too short"))?;
        let mut ad = AdBuf::new();
        let ad = ad
            .fill(header, purpose, aad)
            .ok_or_else(|| fail("purpose too long"))?;
        // Buffer-to-buffer: GHASH reads the token, CTR writes the plaintext; no extra copy.
        let mut plaintext = vec![0u8; body.len()];
        let buffer = InOutBuf::new(body, &mut plaintext).map_err(|_| fail("length mismatch"))?;
        if entry
            .value()
            .cipher
            .decrypt_inout_detached(&Nonce::from(nonce), ad, buffer, &tag)
            .is_err()
        {
            plaintext.zeroize();
            return Err(fail("authentication failed"));
        }
        if entry.is_retired() {
            self.keys.log_retired_use(id, "decrypt", purpose);
        }
        Ok(plaintext)
    }

    /// [`decrypt`](Self::decrypt) for the text form.
    ///
    /// # Errors
    /// [`DecryptError`], also for text that is not canonical base64url.
    ///
    /// ```
    /// let ring = keel_crypto::KeyRing::generate(1)?;
    /// let text = ring.encrypt_str("p", b"x", b"row:1")?;
    /// assert_eq!(ring.decrypt_str("p", &text, b"row:1")?, b"x");
    /// assert!(ring.decrypt_str("p", "AAAA", b"").is_err());
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    pub fn decrypt_str(
        &self,
        purpose: &str,
        token: &str,
        aad: &[u8],
    ) -> Result<Vec<u8>, DecryptError> {
        let bytes = decode_text(token)?;
        self.decrypt(purpose, &bytes, aad)
    }

    /// Re-encrypts a token under the primary key; `Ok(None)` if it already uses the primary.
    /// Run it over stored data after a rotation, then remove the old key.
    ///
    /// # Errors
    /// [`Error::Decrypt`] if the token does not decrypt; errors of [`encrypt`](Self::encrypt).
    ///
    /// ```
    /// let mut ring = keel_crypto::KeyRing::generate(1)?;
    /// let old = ring.encrypt("p", b"x", b"row:1")?;
    /// ring.add(2, keel_crypto::SecretKey::generate()?)?;
    /// ring.promote(2)?;
    /// let new = ring.reencrypt("p", &old, b"row:1")?.expect("moved to key 2");
    /// assert_eq!(keel_crypto::KeyRing::key_id_of(&new), Some(2));
    /// assert!(ring.reencrypt("p", &new, b"row:1")?.is_none());
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    pub fn reencrypt(&self, purpose: &str, token: &[u8], aad: &[u8]) -> Result<Option<Vec<u8>>> {
        let plaintext = Zeroizing::new(self.decrypt(purpose, token, aad)?);
        if Self::key_id_of(token) == Some(self.primary_id()) {
            return Ok(None);
        }
        self.encrypt(purpose, &plaintext, aad).map(Some)
    }

    /// [`reencrypt`](Self::reencrypt) for the text form.
    ///
    /// # Errors
    /// As [`reencrypt`](Self::reencrypt).
    ///
    /// ```
    /// let ring = keel_crypto::KeyRing::generate(1)?;
    /// let t = ring.encrypt_str("p", b"x", b"")?;
    /// assert!(ring.reencrypt_str("p", &t, b"")?.is_none());
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    pub fn reencrypt_str(&self, purpose: &str, token: &str, aad: &[u8]) -> Result<Option<String>> {
        let bytes = decode_text(token)?;
        Ok(self
            .reencrypt(purpose, &bytes, aad)?
            .map(|t| b64url_encode(&t)))
    }

    /// The key id a binary token names, without authenticating it (for migration queries
    /// and monitoring; never trust it for anything else). `None` if it is not a token.
    ///
    /// ```
    /// let ring = keel_crypto::KeyRing::generate(9)?;
    /// assert_eq!(keel_crypto::KeyRing::key_id_of(&ring.encrypt("p", b"", b"")?), Some(9));
    /// assert_eq!(keel_crypto::KeyRing::key_id_of(b"junk"), None);
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    #[must_use]
    pub fn key_id_of(token: &[u8]) -> Option<u32> {
        format::key_id_of(token)
    }
}

impl KeyRing {
    /// What the ring keeps for a key (used by the shared rotation methods).
    fn key_state(key: &SecretKey) -> RingKey {
        RingKey::new(key)
    }
}

/// Strict base64url decoding of a token's text form.
fn decode_text(token: &str) -> Result<Vec<u8>, DecryptError> {
    b64url_decode(token).ok_or_else(|| {
        tracing::debug!(reason = "not base64url", "token rejected");
        DecryptError::new()
    })
}

impl KeyRing {
    /// The keys that look guessable (all zeros, few distinct bytes, a repeated pattern,
    /// low entropy), by id; empty for keys from a CSPRNG. For startup checks
    /// ([`StrengthCheck::key_ring`](crate::StrengthCheck::key_ring)).
    ///
    /// ```
    /// use keel_crypto::{KeyRing, SecretKey, Weakness};
    /// let ring = KeyRing::new(1, SecretKey::from_bytes([0; 32]));
    /// assert_eq!(ring.weak_keys(), [(1, Weakness::AllZeros)]);
    /// assert!(KeyRing::generate(1)?.weak_keys().is_empty());
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    #[must_use]
    pub fn weak_keys(&self) -> Vec<(u32, crate::Weakness)> {
        self.keys
            .ids()
            .into_iter()
            .filter_map(|id| {
                let why = self.keys.get(id)?.value().weakness?;
                Some((id, why))
            })
            .collect()
    }
}

impl FromStr for KeyRing {
    type Err = Error;

    /// Parses `"<id>:<base64 key>"` entries separated by commas or whitespace. With several
    /// keys, exactly one is marked primary with a leading `*` (`"1:<b64>,*2:<b64>"`); a
    /// single key is primary.
    ///
    /// ```
    /// let text = "1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=, *2:AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";
    /// let ring: keel_crypto::KeyRing = text.parse()?;
    /// assert_eq!(ring.primary_id(), 2);
    /// assert!("1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=,2:AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="
    ///     .parse::<keel_crypto::KeyRing>().is_err()); // which one is primary?
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    fn from_str(text: &str) -> Result<Self> {
        Ok(Self {
            keys: KeySet::parse(OWNER, text, RingKey::new)?,
            limit: DEFAULT_USAGE_LIMIT,
        })
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("primary", &self.primary_id())
            .field("keys", &self.keys.describe())
            .field("usage_limit", &self.limit)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::format::INLINE_AD;
    use super::*;
    use crate::KeyState;

    fn ring(ids: &[u32]) -> KeyRing {
        let mut ring = KeyRing::generate(ids[0]).unwrap();
        for id in &ids[1..] {
            ring.add(*id, SecretKey::generate().unwrap()).unwrap();
        }
        ring
    }

    #[test]
    fn round_trip_and_layout() {
        let ring = ring(&[0xdead_beef]);
        let token = ring.encrypt("p", b"hello", b"").unwrap();
        assert_eq!(token.len(), 5 + TOKEN_OVERHEAD);
        assert_eq!(token[0], TOKEN_VERSION);
        assert_eq!(&token[1..5], &[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(ring.decrypt("p", &token, b"").unwrap(), b"hello");
        let other = ring.encrypt("p", b"hello", b"").unwrap();
        assert_ne!(token[5..17], other[5..17], "nonces must differ");
        assert_eq!(
            ring.decrypt("p", &ring.encrypt("p", b"", b"").unwrap(), b"")
                .unwrap(),
            b""
        );
    }

    #[test]
    fn purpose_and_aad_are_bound() {
        let ring = ring(&[1]);
        let token = ring.encrypt("a", b"x", b"ctx").unwrap();
        assert!(ring.decrypt("b", &token, b"ctx").is_err());
        assert!(ring.decrypt("a", &token, b"ctx2").is_err());
        // Moving bytes between purpose and aad must not collide (length prefix).
        let t = ring.encrypt("ab", b"x", b"c").unwrap();
        assert!(ring.decrypt("a", &t, b"bc").is_err());
        assert_eq!(ring.decrypt("a", &token, b"ctx").unwrap(), b"x");
        // Associated data too large for the inline buffer takes the heap path.
        let long = [7u8; 200];
        let t = ring.encrypt("p", b"y", &long).unwrap();
        assert_eq!(ring.decrypt("p", &t, &long).unwrap(), b"y");
        assert!(ring.decrypt("p", &t, &long[..199]).is_err());
        let edge = [1u8; INLINE_AD - 5 - 4 - 1]; // exactly fills the inline buffer
        let t = ring.encrypt("p", b"z", &edge).unwrap();
        assert_eq!(ring.decrypt("p", &t, &edge).unwrap(), b"z");
        assert!(ring.decrypt("p", &t, &[1u8; INLINE_AD - 9]).is_err());
    }

    #[test]
    fn rotation_lifecycle() {
        let mut ring = ring(&[1]);
        let v1 = ring.encrypt("p", b"old", b"").unwrap();
        ring.add(2, SecretKey::generate().unwrap()).unwrap();
        // Added but not promoted: still encrypting with 1.
        assert_eq!(
            KeyRing::key_id_of(&ring.encrypt("p", b"x", b"").unwrap()),
            Some(1)
        );
        ring.promote(2).unwrap();
        assert_eq!(
            KeyRing::key_id_of(&ring.encrypt("p", b"x", b"").unwrap()),
            Some(2)
        );
        ring.retire(1).unwrap();
        assert_eq!(ring.state(1), Some(KeyState::Retired));
        assert_eq!(ring.decrypt("p", &v1, b"").unwrap(), b"old");
        let moved = ring.reencrypt("p", &v1, b"").unwrap().unwrap();
        assert_eq!(KeyRing::key_id_of(&moved), Some(2));
        ring.remove(1).unwrap();
        assert!(ring.decrypt("p", &v1, b"").is_err());
        assert_eq!(ring.decrypt("p", &moved, b"").unwrap(), b"old");
        assert!(matches!(ring.remove(2), Err(Error::PrimaryKey(2))));
        assert!(matches!(ring.retire(2), Err(Error::PrimaryKey(2))));
        assert!(matches!(ring.promote(1), Err(Error::UnknownKey(1))));
        assert!(matches!(
            ring.add(2, SecretKey::generate().unwrap()),
            Err(Error::DuplicateKey(2))
        ));
    }

    #[test]
    fn usage_limit_refuses_then_promotion_recovers() {
        let mut ring = ring(&[1]).with_usage_limit(4).unwrap();
        for _ in 0..4 {
            ring.encrypt("p", b"x", b"").unwrap();
        }
        assert!(matches!(
            ring.encrypt("p", b"x", b""),
            Err(Error::KeyExhausted {
                key_id: 1,
                limit: 4
            })
        ));
        assert_eq!(ring.usage(1), Some(4));
        ring.add(2, SecretKey::generate().unwrap()).unwrap();
        ring.promote(2).unwrap();
        assert!(ring.encrypt("p", b"x", b"").is_ok());
        assert!(KeyRing::generate(1).unwrap().with_usage_limit(0).is_err());
        assert!(
            KeyRing::generate(1)
                .unwrap()
                .with_usage_limit(MAX_USAGE_LIMIT + 1)
                .is_err()
        );
    }

    fn check_parse(text: &str, expected: std::result::Result<(u32, Vec<u32>), &str>) {
        match (text.parse::<KeyRing>(), expected) {
            (Ok(ring), Ok((primary, ids))) => {
                assert_eq!(ring.primary_id(), primary, "{text}");
                assert_eq!(ring.key_ids(), ids, "{text}");
            }
            (Err(err), Err(msg)) => assert!(err.to_string().contains(msg), "{text}: {err}"),
            (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn parse_key_ring_descriptions() {
        let k1 = SecretKey::from_bytes([1; 32]).to_base64();
        let k2 = SecretKey::from_bytes([2; 32]).to_base64();
        check_parse(&format!("7:{}", *k1), Ok((7, vec![7])));
        check_parse(&format!("1:{},*2:{}", *k1, *k2), Ok((2, vec![1, 2])));
        check_parse(&format!(" *1:{}\n 2:{} ", *k1, *k2), Ok((1, vec![1, 2])));
        check_parse(&format!("1:{},2:{}", *k1, *k2), Err("none marked primary"));
        check_parse(&format!("*1:{},*2:{}", *k1, *k2), Err("more than one"));
        check_parse(
            &format!("1:{},*1:{}", *k1, *k2),
            Err("already in the key ring"),
        );
        check_parse("", Err("empty"));
        check_parse("  ,, ", Err("empty"));
        check_parse("x:AAAA", Err("entry 1: key id"));
        check_parse("1", Err("entry 1: expected <id>:<base64 key>"));
        check_parse("3:AAAA", Err("key 3: expected 32 bytes, got 3"));
    }

    #[test]
    fn debug_shows_ids_not_keys() {
        let ring: KeyRing = format!("5:{}", *SecretKey::from_bytes([0x41; 32]).to_base64())
            .parse()
            .unwrap();
        let dbg = format!("{ring:?}");
        assert!(dbg.contains("primary: 5"), "{dbg}");
        assert!(!dbg.contains("QUFB") && !dbg.contains("65, 65"), "{dbg}");
    }
}
