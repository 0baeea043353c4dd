//! API keys: a recognizable prefix, random body and an offline-checkable checksum.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use crate::encoding::{hex_decode, hex_encode};
use crate::error::{Error, Result};
use crate::random::fill_random;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Random base62 characters in a key (≈ 178 bits).
pub const API_KEY_RANDOM_LEN: usize = 30;
/// Base62 characters of the CRC-32 checksum.
const CHECKSUM_LEN: usize = 6;
/// Longest accepted prefix.
pub const MAX_API_KEY_PREFIX_LEN: usize = 16;

/// An API key in the format `<prefix>_<30 random base62><6 base62 CRC-32>`, as GitHub's
/// `ghp_…` tokens: the prefix makes leaked keys greppable by secret scanners, the checksum
/// catches typos and random strings offline, before any database lookup.
///
/// Show the key to its owner once, store only [`ApiKey::hash`] (SHA-256: the key has ~178
/// bits of entropy, so a fast unsalted hash is the right tool; no password hashing needed),
/// and look presented keys up by their hash.
///
/// ```
/// use keel_crypto::{ApiKey, ApiKeyHash};
///
/// let key = ApiKey::generate("kl_live")?;
/// let shown_once = key.expose_secret().to_owned();
/// let stored: String = key.hash().to_hex(); // the only thing the database keeps
///
/// // Later, on a request:
/// let presented = ApiKey::parse(&shown_once)?; // format + checksum, no I/O
/// let stored = ApiKeyHash::from_hex(&stored)?;
/// assert!(stored.verify(&presented));
/// # Ok::<(), keel_crypto::Error>(())
/// ```
#[derive(Clone)]
pub struct ApiKey {
    text: Zeroizing<String>,
    prefix_len: usize,
}

impl ApiKey {
    /// A new random key with `prefix` (1–16 characters of `[a-z0-9_]`, starting with a letter).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a bad prefix; [`Error::Random`] if the OS generator fails.
    ///
    /// ```
    /// let key = keel_crypto::ApiKey::generate("acme")?;
    /// assert!(key.expose_secret().starts_with("acme_"));
    /// assert_eq!(key.expose_secret().len(), 5 + 36);
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    pub fn generate(prefix: &str) -> Result<Self> {
        check_prefix(prefix)?;
        let mut body = String::with_capacity(API_KEY_RANDOM_LEN + CHECKSUM_LEN);
        let mut pool = Zeroizing::new([0u8; 64]);
        while body.len() < API_KEY_RANDOM_LEN {
            fill_random(&mut pool[..])?;
            // Rejection sampling: 248 = 4 × 62, so `b % 62` stays uniform.
            for b in pool.iter().filter(|b| **b < 248) {
                if body.len() == API_KEY_RANDOM_LEN {
                    break;
                }
                body.push(char::from(BASE62[usize::from(*b % 62)]));
            }
        }
        body.push_str(&base62_checksum(crc32(body.as_bytes())));
        let text = Zeroizing::new(format!("{prefix}_{body}"));
        Ok(Self {
            text,
            prefix_len: prefix.len(),
        })
    }

    /// Checks the format and checksum of a presented key, offline.
    ///
    /// # Errors
    /// [`Error::InvalidSignature`] if the text is not a well-formed key with a valid checksum
    /// (treat as "invalid API key"; do not reveal which part is wrong).
    ///
    /// ```
    /// let key = keel_crypto::ApiKey::generate("kl")?;
    /// let mut typo = key.expose_secret().to_owned();
    /// typo.replace_range(5..6, if &typo[5..6] == "a" { "b" } else { "a" });
    /// assert!(keel_crypto::ApiKey::parse(&typo).is_err());
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    pub fn parse(text: &str) -> Result<Self> {
        let (prefix, body) = text.rsplit_once('_').ok_or(Error::InvalidSignature)?;
        check_prefix(prefix).map_err(|_| Error::InvalidSignature)?;
        if body.len() != API_KEY_RANDOM_LEN + CHECKSUM_LEN
            || !body.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(Error::InvalidSignature);
        }
        let (random, checksum) = body.split_at(API_KEY_RANDOM_LEN);
        let expected = base62_checksum(crc32(random.as_bytes()));
        if !bool::from(expected.as_bytes().ct_eq(checksum.as_bytes())) {
            return Err(Error::InvalidSignature);
        }
        Ok(Self {
            text: Zeroizing::new(text.to_owned()),
            prefix_len: prefix.len(),
        })
    }

    /// The full key. Show it once; never log it.
    ///
    /// ```
    /// let key = keel_crypto::ApiKey::generate("kl")?;
    /// assert_eq!(key.expose_secret().len(), 39);
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        &self.text
    }

    /// The prefix (e.g. `"kl_live"`).
    ///
    /// ```
    /// assert_eq!(keel_crypto::ApiKey::generate("kl_test")?.prefix(), "kl_test");
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.text[..self.prefix_len]
    }

    /// A display hint safe to show in UIs and logs: `prefix_…` plus the last 4 characters.
    ///
    /// ```
    /// let key = keel_crypto::ApiKey::generate("kl")?;
    /// assert!(key.hint().starts_with("kl_…"));
    /// assert_eq!(key.hint().chars().count(), 3 + 1 + 4);
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    #[must_use]
    pub fn hint(&self) -> String {
        let tail = &self.text[self.text.len() - 4..];
        format!("{}_…{tail}", self.prefix())
    }

    /// The SHA-256 hash to store and to look keys up by.
    ///
    /// ```
    /// let key = keel_crypto::ApiKey::generate("kl")?;
    /// assert_eq!(key.hash().to_hex().len(), 64);
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    #[must_use]
    pub fn hash(&self) -> ApiKeyHash {
        ApiKeyHash(Sha256::digest(self.text.as_bytes()).into())
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({})", self.hint())
    }
}

/// The stored SHA-256 hash of an [`ApiKey`]; compares in constant time.
///
/// ```
/// let key = keel_crypto::ApiKey::generate("kl")?;
/// let hash = key.hash();
/// assert_eq!(keel_crypto::ApiKeyHash::from_hex(&hash.to_hex())?, hash);
/// # Ok::<(), keel_crypto::Error>(())
/// ```
#[derive(Clone, Copy, Eq)]
pub struct ApiKeyHash([u8; 32]);

impl ApiKeyHash {
    /// Wraps 32 stored bytes.
    ///
    /// ```
    /// let h = keel_crypto::ApiKeyHash::from_bytes([0; 32]);
    /// ```
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Parses 64 hex digits.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for anything else.
    ///
    /// ```
    /// assert!(keel_crypto::ApiKeyHash::from_hex("00").is_err());
    /// ```
    pub fn from_hex(text: &str) -> Result<Self> {
        hex_decode(text)
            .and_then(|b| b.try_into().ok())
            .map(Self)
            .ok_or_else(|| Error::InvalidParameter("an API key hash is 64 hex digits".into()))
    }

    /// The raw 32 bytes.
    ///
    /// ```
    /// assert_eq!(keel_crypto::ApiKeyHash::from_bytes([1; 32]).as_bytes()[0], 1);
    /// ```
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex.
    ///
    /// ```
    /// assert_eq!(keel_crypto::ApiKeyHash::from_bytes([0; 32]).to_hex(), "0".repeat(64));
    /// ```
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex_encode(&self.0)
    }

    /// Whether `key` hashes to this value (constant time).
    ///
    /// ```
    /// let a = keel_crypto::ApiKey::generate("kl")?;
    /// let b = keel_crypto::ApiKey::generate("kl")?;
    /// assert!(a.hash().verify(&a) && !a.hash().verify(&b));
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    #[must_use]
    pub fn verify(&self, key: &ApiKey) -> bool {
        *self == key.hash()
    }
}

impl PartialEq for ApiKeyHash {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for ApiKeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeyHash({})", self.to_hex())
    }
}

fn check_prefix(prefix: &str) -> Result<()> {
    let ok = !prefix.is_empty()
        && prefix.len() <= MAX_API_KEY_PREFIX_LEN
        && prefix.as_bytes()[0].is_ascii_lowercase()
        && prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidParameter(format!(
            "API key prefix must be 1-{MAX_API_KEY_PREFIX_LEN} characters of [a-z0-9_] starting with a letter"
        )))
    }
}

/// CRC-32 (IEEE 802.3, as zlib), bitwise: keys are short.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for byte in data {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// A `u32` in base62, left-padded with `0` to 6 characters (62^6 > 2^32).
fn base62_checksum(mut n: u32) -> String {
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out.iter().map(|b| char::from(*b)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_zlib() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        assert_eq!(base62_checksum(0), "000000");
        assert_eq!(base62_checksum(u32::MAX), "4gfFC3");
    }

    #[test]
    fn generated_keys_parse_and_typos_do_not() {
        let key = ApiKey::generate("kl_live").unwrap();
        let text = key.expose_secret().to_owned();
        assert_eq!(ApiKey::parse(&text).unwrap().hash(), key.hash());
        assert_eq!(ApiKey::parse(&text).unwrap().prefix(), "kl_live");
        let body_start = text.len() - API_KEY_RANDOM_LEN - CHECKSUM_LEN;
        for i in body_start..text.len() {
            let mut bytes = text.clone().into_bytes();
            bytes[i] = if bytes[i] == b'x' { b'y' } else { b'x' };
            let typo = String::from_utf8(bytes).unwrap();
            assert!(ApiKey::parse(&typo).is_err(), "position {i}");
        }
        // Swapping two different adjacent characters is caught too: a burst error CRC-32 detects.
        for i in body_start..text.len() - 1 {
            let mut bytes = text.clone().into_bytes();
            if bytes[i] != bytes[i + 1] {
                bytes.swap(i, i + 1);
                assert!(
                    ApiKey::parse(&String::from_utf8(bytes).unwrap()).is_err(),
                    "swap {i}"
                );
            }
        }
        for bad in [
            "",
            "kl_",
            "_abc",
            "KL_abc",
            &text[..text.len() - 1],
            &format!("{text}x"),
        ] {
            assert!(ApiKey::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prefix_rules() {
        for bad in ["", "9ab", "Ab", "a-b", "abcdefghijklmnopq"] {
            assert!(ApiKey::generate(bad).is_err(), "{bad}");
        }
        assert!(ApiKey::generate("a").is_ok());
    }

    #[test]
    fn debug_shows_only_the_hint() {
        let key = ApiKey::generate("kl").unwrap();
        let dbg = format!("{key:?}");
        assert!(!dbg.contains(&key.expose_secret()[3..20]), "{dbg}");
    }
}
