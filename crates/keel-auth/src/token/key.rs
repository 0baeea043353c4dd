//! [`Key`]: one signing or verifying key of an access-token [`KeySet`](super::KeySet).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, KeyAlgorithm,
    OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse,
};
use jsonwebtoken::{DecodingKey, EncodingKey};
use zeroize::Zeroizing;

use crate::{Error, Result};

/// The shortest HMAC secret accepted, in bytes (RFC 7518 §3.2: at least the hash size).
pub const MIN_HMAC_SECRET_LEN: usize = 32;

/// The longest key id accepted (in tokens and in configuration).
pub const MAX_KID_LEN: usize = 64;

/// PKCS#8 v1 prefix of an Ed25519 private key (RFC 8410 §7), followed by the 32-byte seed.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// The signature algorithm of a [`Key`]. Each key has exactly one: a token whose `alg`
/// header differs from its key's algorithm is rejected (no algorithm confusion).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// HMAC-SHA256 with a shared secret: issuer and verifiers hold the same key.
    Hs256,
    /// Ed25519 signatures: verifiers need only the public key (publishable as a JWKS).
    EdDsa,
}

impl Algorithm {
    /// The JOSE name (`"HS256"`, `"EdDSA"`), as in the `alg` header.
    ///
    /// ```
    /// assert_eq!(keel_auth::token::Algorithm::EdDsa.as_str(), "EdDSA");
    /// ```
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Hs256 => "HS256",
            Self::EdDsa => "EdDSA",
        }
    }

    pub(crate) const fn jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            Self::Hs256 => jsonwebtoken::Algorithm::HS256,
            Self::EdDsa => jsonwebtoken::Algorithm::EdDSA,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One access-token key: a key id (`kid`), its pinned [`Algorithm`], the verifying key and,
/// unless it is verify-only, the signing key.
///
/// `Debug` never prints key material.
///
/// ```
/// use keel_auth::token::{Algorithm, Key};
///
/// let hs = Key::generate_hs256("2026-12")?;
/// assert_eq!((hs.kid(), hs.algorithm(), hs.can_sign()), ("2026-12", Algorithm::Hs256, true));
///
/// // A secret from configuration: at least 32 bytes and not an obvious pattern.
/// assert!(Key::hs256("k1", b"0123456789abcdef0123456789abcdef").is_err());
///
/// let ed = Key::generate_ed25519("ed-1")?;
/// let public_only = Key::ed25519_public("ed-1", &ed.public_key().unwrap())?;
/// assert!(!public_only.can_sign());
/// # Ok::<(), keel_auth::Error>(())
/// ```
#[derive(Clone)]
pub struct Key {
    kid: Box<str>,
    algorithm: Algorithm,
    encoding: Option<EncodingKey>,
    decoding: DecodingKey,
    /// The Ed25519 public key, for the JWKS document.
    public: Option<[u8; 32]>,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("can_sign", &self.can_sign())
            .field("key", &"[REDACTED]")
            .finish()
    }
}

impl Key {
    /// An HS256 key from a shared secret (e.g. from a secret manager).
    ///
    /// # Errors
    /// [`Error::Config`] when `kid` is not 1–64 characters of `[A-Za-z0-9._-]`, or the secret
    /// is shorter than [`MIN_HMAC_SECRET_LEN`] bytes or visibly low-entropy (few distinct
    /// bytes, a repeated pattern). The message never contains the secret.
    pub fn hs256(kid: &str, secret: &[u8]) -> Result<Self> {
        check_kid(kid)?;
        check_hmac_secret(secret)?;
        Ok(Self {
            kid: kid.into(),
            algorithm: Algorithm::Hs256,
            encoding: Some(EncodingKey::from_secret(secret)),
            decoding: DecodingKey::from_secret(secret),
            public: None,
        })
    }

    /// A fresh random 256-bit HS256 key.
    ///
    /// # Errors
    /// [`Error::Config`] for a bad `kid`; [`Error::Crypto`] when the system RNG fails.
    pub fn generate_hs256(kid: &str) -> Result<Self> {
        let secret = keel_crypto::random_bytes(32)?;
        Self::hs256(kid, &secret)
    }

    /// An Ed25519 signing key from its 32-byte seed (the RFC 8032 private key).
    ///
    /// # Errors
    /// [`Error::Config`] for a bad `kid` or a seed the backend rejects.
    pub fn ed25519(kid: &str, seed: &[u8; 32]) -> Result<Self> {
        check_kid(kid)?;
        let mut der = Zeroizing::new(Vec::with_capacity(48));
        der.extend_from_slice(&ED25519_PKCS8_PREFIX);
        der.extend_from_slice(seed);
        let encoding = EncodingKey::from_ed_der(&der);
        let jwk = Jwk::from_encoding_key(&encoding, jsonwebtoken::Algorithm::EdDSA)
            .map_err(|_| Error::Config("invalid Ed25519 seed".into()))?;
        let public = match &jwk.algorithm {
            AlgorithmParameters::OctetKeyPair(p) => decode_public(&p.x)?,
            _ => return Err(Error::Config("invalid Ed25519 seed".into())),
        };
        Ok(Self {
            kid: kid.into(),
            algorithm: Algorithm::EdDsa,
            encoding: Some(encoding),
            decoding: DecodingKey::from_ed_der(&public),
            public: Some(public),
        })
    }

    /// A fresh random Ed25519 key.
    ///
    /// # Errors
    /// [`Error::Config`] for a bad `kid`; [`Error::Crypto`] when the system RNG fails.
    pub fn generate_ed25519(kid: &str) -> Result<Self> {
        let mut seed = Zeroizing::new([0u8; 32]);
        keel_crypto::fill_random(seed.as_mut())?;
        Self::ed25519(kid, &seed)
    }

    /// A verify-only Ed25519 key from its 32-byte public key (a service that accepts another
    /// service's tokens).
    ///
    /// # Errors
    /// [`Error::Config`] for a bad `kid`.
    pub fn ed25519_public(kid: &str, public: &[u8; 32]) -> Result<Self> {
        check_kid(kid)?;
        Ok(Self {
            kid: kid.into(),
            algorithm: Algorithm::EdDsa,
            encoding: None,
            decoding: DecodingKey::from_ed_der(public),
            public: Some(*public),
        })
    }

    /// A verify-only key from a JWK (an entry of another issuer's JWKS document). Only
    /// Ed25519 (`kty: OKP`, `crv: Ed25519`) public keys with a `kid` are accepted: symmetric
    /// keys are never taken from a JWKS.
    ///
    /// # Errors
    /// [`Error::Config`] for any other key type, a missing or bad `kid`, or an `alg` other
    /// than `EdDSA`.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self> {
        let kid = jwk
            .common
            .key_id
            .as_deref()
            .ok_or_else(|| Error::Config("JWK without kid".into()))?;
        if let Some(alg) = jwk.common.key_algorithm
            && alg != KeyAlgorithm::EdDSA
        {
            return Err(Error::Config("JWK alg must be EdDSA".into()));
        }
        match &jwk.algorithm {
            AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
                Self::ed25519_public(kid, &decode_public(&p.x)?)
            }
            _ => Err(Error::Config(
                "only Ed25519 public keys are accepted from a JWK".into(),
            )),
        }
    }

    /// The key id, sent as the `kid` header.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The key's only algorithm.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Whether this key holds a private/secret part and can sign.
    #[must_use]
    pub fn can_sign(&self) -> bool {
        self.encoding.is_some()
    }

    /// The Ed25519 public key (`None` for HS256).
    #[must_use]
    pub fn public_key(&self) -> Option<[u8; 32]> {
        self.public
    }

    /// The public JWK of an Ed25519 key (`use: sig`, `alg: EdDSA`, `kid`); `None` for HS256,
    /// whose secret must never be published.
    #[must_use]
    pub fn to_public_jwk(&self) -> Option<Jwk> {
        let public = self.public?;
        Some(Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_algorithm: Some(KeyAlgorithm::EdDSA),
                key_id: Some(self.kid.to_string()),
                ..CommonParameters::default()
            },
            algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                key_type: OctetKeyPairType::OctetKeyPair,
                curve: EllipticCurve::Ed25519,
                x: URL_SAFE_NO_PAD.encode(public),
            }),
        })
    }

    pub(crate) fn encoding(&self) -> Option<&EncodingKey> {
        self.encoding.as_ref()
    }

    pub(crate) fn decoding(&self) -> &DecodingKey {
        &self.decoding
    }
}

fn decode_public(x: &str) -> Result<[u8; 32]> {
    let bytes = URL_SAFE_NO_PAD
        .decode(x)
        .map_err(|_| Error::Config("invalid Ed25519 public key".into()))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| Error::Config("invalid Ed25519 public key".into()))
}

/// Whether `kid` is a valid key id: 1–64 characters of `[A-Za-z0-9._-]`.
pub(crate) fn is_valid_kid(kid: &str) -> bool {
    !kid.is_empty()
        && kid.len() <= MAX_KID_LEN
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn check_kid(kid: &str) -> Result<()> {
    if is_valid_kid(kid) {
        Ok(())
    } else {
        Err(Error::Config(
            "key id must be 1-64 characters of A-Z a-z 0-9 . _ -".into(),
        ))
    }
}

/// Rejects secrets that are short or obviously not random. This catches configuration
/// mistakes (`"secret"`, a repeated word, a sequence typed by hand), not every weak secret:
/// generate secrets with [`Key::generate_hs256`] or `openssl rand -base64 32`.
fn check_hmac_secret(secret: &[u8]) -> Result<()> {
    if secret.len() < MIN_HMAC_SECRET_LEN {
        return Err(Error::Config(format!(
            "HMAC secret must be at least {MIN_HMAC_SECRET_LEN} bytes"
        )));
    }
    let mut counts = [0u32; 256];
    for &b in secret {
        counts[usize::from(b)] += 1;
    }
    let distinct = counts.iter().filter(|&&c| c > 0).count();
    // Empirical Shannon entropy of the byte distribution, in bits for the whole secret.
    #[allow(clippy::cast_precision_loss)] // lengths are far below 2^52
    let bits = {
        let n = secret.len() as f64;
        counts
            .iter()
            .filter(|&&c| c > 0)
            .map(|&c| {
                let p = f64::from(c) / n;
                -p * p.log2()
            })
            .sum::<f64>()
            * n
    };
    if distinct < 10 || bits < 100.0 || is_periodic(secret) || is_sequence(secret) {
        return Err(Error::Config(
            "HMAC secret looks low-entropy; generate at least 32 random bytes".into(),
        ));
    }
    Ok(())
}

/// Whether `s` is a shorter block repeated (`"abcabcabc…"`).
fn is_periodic(s: &[u8]) -> bool {
    (1..=s.len() / 2).any(|p| s.iter().skip(p).zip(s).all(|(a, b)| a == b))
}

/// Whether most consecutive bytes differ by the same step (`"abcdefgh…"`, `"0123…"`).
fn is_sequence(s: &[u8]) -> bool {
    let steps = s
        .windows(2)
        .filter(|w| w[1].wrapping_sub(w[0]) == 1 || w[0].wrapping_sub(w[1]) == 1)
        .count();
    steps * 2 > s.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(secret: &[u8], ok: bool) {
        assert_eq!(
            check_hmac_secret(secret).is_ok(),
            ok,
            "{:?}",
            String::from_utf8_lossy(secret)
        );
    }

    #[test]
    fn weak_hmac_secrets_are_rejected() {
        check(b"short", false);
        check(&[0u8; 64], false);
        check(b"0123456789abcdef0123456789abcdef", false);
        check(b"passwordpasswordpasswordpassword", false);
        check(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJ", false);
        check(b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", false);
        // 32 random bytes, as hex and as base64.
        check(
            b"9f3c1a7e5d2b8c4f6a0e1d3b5c7a9f2e8d4c6b1a3e5f7d9c0b2a4e6f8d1c3b5a",
            true,
        );
        check(b"q8Zk3vN1yP0cW7tR5sL2xJ9gH4fD6bM8nV3aE1uK0oI", true);
        let random = keel_crypto::random_bytes(32).unwrap();
        check(&random, true);
    }

    #[test]
    fn kids_are_restricted() {
        assert!(is_valid_kid("2026-12.a_b"));
        for bad in ["", "a b", "a/b", "ä", &"k".repeat(65)] {
            assert!(!is_valid_kid(bad), "{bad}");
        }
        assert!(Key::generate_hs256("a b").is_err());
    }

    #[test]
    fn debug_is_redacted() {
        let k = Key::hs256("k", b"q8Zk3vN1yP0cW7tR5sL2xJ9gH4fD6bM8nV3aE1uK0oI").unwrap();
        let s = format!("{k:?}");
        assert!(s.contains("REDACTED") && !s.contains("q8Zk"), "{s}");
    }

    #[test]
    fn ed25519_rfc8032_test_vector_public_key() {
        // RFC 8032 §7.1, TEST 1.
        let seed: [u8; 32] =
            hex32("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
        let public = hex32("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
        let k = Key::ed25519("t1", &seed).unwrap();
        assert_eq!(k.public_key(), Some(public));
        let jwk = k.to_public_jwk().unwrap();
        let back = Key::from_jwk(&jwk).unwrap();
        assert_eq!(back.public_key(), Some(public));
        assert!(!back.can_sign());
    }

    fn hex32(s: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }
}
