//! HMAC-SHA256 signatures with key ids, and signed expiring tokens.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;
use zeroize::Zeroize;

use crate::encoding::{b64url_decode, b64url_encode, be_u32, be_u64};
use crate::error::{Error, Result};
use crate::key::{SecretKey, parse_env};
use crate::keyset::{KeySet, rotation_methods};
use crate::mac::keyed_hmac;
use crate::time::unix_now;

type HmacSha256 = Hmac<Sha256>;

/// Length of an HMAC-SHA256 tag.
pub const SIGNATURE_LEN: usize = 32;
/// Version byte of the signed-token format.
pub const SIGNED_TOKEN_VERSION: u8 = 0x53; // 'S'
/// Tolerated clock skew for an issued-at in the future.
pub const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// version (1) ‖ key id (4) ‖ issued at (8) ‖ expires at (8).
const TOKEN_HEADER_LEN: usize = 1 + 4 + 8 + 8;

/// HMAC-SHA256 of `data` under `key` (any length), e.g. for webhook signatures.
///
/// ```
/// // RFC 4231 test case 2.
/// let tag = keel_crypto::hmac_sha256(b"Jefe", b"what do ya want for nothing?");
/// assert_eq!(tag[..4], [0x5b, 0xdc, 0xc1, 0x46]);
/// ```
#[must_use]
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; SIGNATURE_LEN] {
    let mut mac = new_mac(key);
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Checks an HMAC-SHA256 `tag` of `data` under `key` in constant time. Truncated tags are
/// rejected.
///
/// ```
/// let tag = keel_crypto::hmac_sha256(b"key", b"data");
/// assert!(keel_crypto::verify_hmac_sha256(b"key", b"data", &tag));
/// assert!(!keel_crypto::verify_hmac_sha256(b"key", b"data", &tag[..16]));
/// ```
#[must_use]
pub fn verify_hmac_sha256(key: &[u8], data: &[u8], tag: &[u8]) -> bool {
    let mut mac = new_mac(key);
    mac.update(data);
    tag.len() == SIGNATURE_LEN && mac.verify_slice(tag).is_ok()
}

fn new_mac(key: &[u8]) -> HmacSha256 {
    keyed_hmac::<Sha256>(key)
}

/// A detached signature: the id of the signing key and the HMAC-SHA256 tag.
///
/// Text form: `<key id>.<base64url tag>`.
///
/// ```
/// let signer = keel_crypto::Signer::generate(3)?;
/// let sig = signer.sign(b"payload");
/// let text = sig.to_string();
/// assert!(text.starts_with("3."));
/// assert_eq!(text.parse::<keel_crypto::Signature>()?, sig);
/// # Ok::<(), keel_crypto::Error>(())
/// ```
#[derive(Clone, Copy)]
pub struct Signature {
    key_id: u32,
    tag: [u8; SIGNATURE_LEN],
}

impl Signature {
    /// The id of the key that made the signature.
    ///
    /// ```
    /// assert_eq!(keel_crypto::Signer::generate(5)?.sign(b"x").key_id(), 5);
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    #[must_use]
    pub const fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The raw 32-byte tag.
    ///
    /// ```
    /// assert_eq!(keel_crypto::Signer::generate(5)?.sign(b"x").tag().len(), 32);
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    #[must_use]
    pub const fn tag(&self) -> &[u8; SIGNATURE_LEN] {
        &self.tag
    }
}

impl PartialEq for Signature {
    /// Constant-time comparison of key id and tag.
    fn eq(&self, other: &Self) -> bool {
        (self.key_id.ct_eq(&other.key_id) & self.tag.ct_eq(&other.tag)).into()
    }
}

impl Eq for Signature {}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.key_id, b64url_encode(&self.tag))
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({self})")
    }
}

impl FromStr for Signature {
    type Err = Error;

    /// Parses `<key id>.<base64url tag>`.
    fn from_str(text: &str) -> Result<Self> {
        let (id, tag) = text.split_once('.').ok_or(Error::InvalidSignature)?;
        let key_id = id.parse().map_err(|_| Error::InvalidSignature)?;
        let tag = b64url_decode(tag)
            .and_then(|t| t.try_into().ok())
            .ok_or(Error::InvalidSignature)?;
        Ok(Self { key_id, tag })
    }
}

/// A token whose signature and lifetime verified.
///
/// ```
/// use std::time::Duration;
/// let signer = keel_crypto::Signer::generate(1)?;
/// let token = signer.issue("verify-email", b"user:42", Duration::from_secs(3600))?;
/// let verified = signer.verify_token("verify-email", &token)?;
/// assert_eq!(verified.payload(), b"user:42");
/// assert_eq!(verified.expires_at() - verified.issued_at(), 3600);
/// # Ok::<(), keel_crypto::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    payload: Vec<u8>,
    issued_at: u64,
    expires_at: u64,
    key_id: u32,
}

impl VerifiedToken {
    /// The signed payload.
    ///
    /// ```
    /// # let s = keel_crypto::Signer::generate(1)?;
    /// # let t = s.issue("p", b"x", std::time::Duration::from_secs(9))?;
    /// assert_eq!(s.verify_token("p", &t)?.payload(), b"x");
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    #[must_use]
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// Consumes the token, returning the payload.
    ///
    /// ```
    /// # let s = keel_crypto::Signer::generate(1)?;
    /// # let t = s.issue("p", b"x", std::time::Duration::from_secs(9))?;
    /// let payload: Vec<u8> = s.verify_token("p", &t)?.into_payload();
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    #[must_use]
    pub fn into_payload(self) -> Vec<u8> {
        self.payload
    }

    /// Issue time, seconds since the Unix epoch.
    ///
    /// ```
    /// # let s = keel_crypto::Signer::generate(1)?;
    /// # let t = s.issue_at("p", b"x", std::time::Duration::from_secs(9), 100)?;
    /// assert_eq!(s.verify_token_at("p", &t, 105)?.issued_at(), 100);
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    #[must_use]
    pub const fn issued_at(&self) -> u64 {
        self.issued_at
    }

    /// Expiry time, seconds since the Unix epoch.
    ///
    /// ```
    /// # let s = keel_crypto::Signer::generate(1)?;
    /// # let t = s.issue_at("p", b"x", std::time::Duration::from_secs(9), 100)?;
    /// assert_eq!(s.verify_token_at("p", &t, 105)?.expires_at(), 109);
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    #[must_use]
    pub const fn expires_at(&self) -> u64 {
        self.expires_at
    }

    /// The id of the key that signed it.
    ///
    /// ```
    /// # let s = keel_crypto::Signer::generate(4)?;
    /// # let t = s.issue("p", b"x", std::time::Duration::from_secs(9))?;
    /// assert_eq!(s.verify_token("p", &t)?.key_id(), 4);
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    #[must_use]
    pub const fn key_id(&self) -> u32 {
        self.key_id
    }
}

impl fmt::Debug for VerifiedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedToken")
            .field("payload_len", &self.payload.len())
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .field("key_id", &self.key_id)
            .finish()
    }
}

/// The label of the subkey for detached signatures ([`Signer::sign`]).
const DETACHED_LABEL: &[u8] = b"keel-crypto/v1/Signer/detached-signature";
/// The label of the subkey for signed tokens ([`Signer::issue`]).
const TOKEN_LABEL: &[u8] = b"keel-crypto/v1/Signer/signed-token";

/// The two uses of a signing key; each has its own derived subkey.
#[derive(Clone, Copy)]
enum Use {
    Detached,
    Token,
}

/// What a [`Signer`] keeps per key: one keyed HMAC state per use, keyed with
/// `HMAC-SHA256(key, label)`. The key itself is never used to MAC caller data, so a
/// detached signature can never be a token tag or the reverse, whatever the bytes signed.
#[derive(Clone)]
struct SignerKey {
    detached: HmacSha256,
    token: HmacSha256,
}

impl SignerKey {
    fn new(key: &SecretKey) -> Self {
        Self {
            detached: subkey_mac(key, DETACHED_LABEL),
            token: subkey_mac(key, TOKEN_LABEL),
        }
    }

    const fn mac(&self, usage: Use) -> &HmacSha256 {
        match usage {
            Use::Detached => &self.detached,
            Use::Token => &self.token,
        }
    }
}

/// An HMAC keyed with the subkey `HMAC-SHA256(key, label)`.
fn subkey_mac(key: &SecretKey, label: &[u8]) -> HmacSha256 {
    let mut subkey = hmac_sha256(key.expose_secret(), label);
    let mac = new_mac(&subkey);
    subkey.zeroize();
    mac
}

const OWNER: &str = "Signer";

/// HMAC-SHA256 keys with ids and one primary: detached signatures and signed, expiring,
/// purpose-bound tokens (like itsdangerous' `TimestampSigner`) for e-mail links,
/// unsubscribe links, CSRF tokens and the like.
///
/// Tokens are **signed, not encrypted**: the payload is readable by whoever holds the token.
/// Put ids in it, not secrets (use [`KeyRing`](crate::KeyRing) for those).
///
/// # Domain separation
/// Each key is used through two subkeys, `K_sig = HMAC-SHA256(key,
/// "keel-crypto/v1/Signer/detached-signature")` for [`sign`](Self::sign) and `K_tok =
/// HMAC-SHA256(key, "keel-crypto/v1/Signer/signed-token")` for tokens, so signing chosen
/// bytes never yields a token tag and a token tag never verifies as a detached signature.
/// Tokens are further bound to their purpose. Consequently a detached signature is *not*
/// the plain `HMAC-SHA256(key, data)` a third party (e.g. a webhook receiver) computes:
/// for that, use [`hmac_sha256`] with a key used for nothing else.
///
/// # Token format
/// base64url, no padding, of
/// `0x53 ‖ key id (u32 BE) ‖ issued at (u64 BE, Unix s) ‖ expires at (u64 BE) ‖ payload ‖ tag (32)`;
/// tag = HMAC-SHA256(`K_tok`, `len(purpose) (u32 BE) ‖ purpose ‖ everything before the tag`).
///
/// # Rotation
/// The same steps and log events as [`KeyRing`](crate::KeyRing) (`keys = "Signer"`):
/// [`add`](Self::add) a verify-only key everywhere, [`promote`](Self::promote) it,
/// [`retire`](Self::retire) the old one (each verification with it is logged), then
/// [`remove`](Self::remove) it. Use keys distinct from your encryption keys.
///
/// ```
/// use std::time::Duration;
/// use keel_crypto::{Error, Signer};
///
/// let signer: Signer = "1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE".parse()?;
/// let link = signer.issue_at("password-reset", b"user:42", Duration::from_secs(900), 1_000)?;
/// assert_eq!(signer.verify_token_at("password-reset", &link, 1_500)?.payload(), b"user:42");
/// assert!(matches!(signer.verify_token_at("password-reset", &link, 2_000), Err(Error::Expired)));
/// assert!(matches!(signer.verify_token_at("verify-email", &link, 1_500), Err(Error::InvalidSignature)));
/// # Ok::<(), keel_crypto::Error>(())
/// ```
#[derive(Clone)]
pub struct Signer {
    keys: KeySet<SignerKey>,
}

impl Signer {
    /// A signer with one key, which is primary.
    ///
    /// ```
    /// let signer = keel_crypto::Signer::new(1, keel_crypto::SecretKey::generate()?);
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    #[must_use]
    pub fn new(id: u32, key: SecretKey) -> Self {
        let entry = SignerKey::new(&key);
        drop(key); // zeroized now: the signer keeps only the keyed HMAC states
        Self {
            keys: KeySet::new(OWNER, id, entry),
        }
    }

    /// A signer with one freshly generated key.
    ///
    /// # Errors
    /// [`Error::Random`] if the OS generator fails.
    ///
    /// ```
    /// let signer = keel_crypto::Signer::generate(1)?;
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    pub fn generate(id: u32) -> Result<Self> {
        Ok(Self::new(id, SecretKey::generate()?))
    }

    /// Parses keys from the environment variable `var` (same format as [`FromStr`](#impl-FromStr-for-Signer)).
    ///
    /// # Errors
    /// [`Error::InvalidKey`] if missing or malformed.
    ///
    /// ```
    /// assert!(keel_crypto::Signer::from_env("KEEL_DOC_MISSING_SIGNER").is_err());
    /// ```
    pub fn from_env(var: &str) -> Result<Self> {
        parse_env(var)
    }

    rotation_methods!(Signer, "verify", "sign");

    /// What the signer keeps for a key (used by the shared rotation methods).
    fn key_state(key: &SecretKey) -> SignerKey {
        SignerKey::new(key)
    }

    /// Signs `data` with the primary key (detached signature; see
    /// [Domain separation](#domain-separation)).
    ///
    /// ```
    /// let signer = keel_crypto::Signer::generate(1)?;
    /// let sig = signer.sign(b"order:17:paid");
    /// assert!(signer.verify(b"order:17:paid", &sig).is_ok());
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    #[must_use]
    pub fn sign(&self, data: &[u8]) -> Signature {
        let primary = self.primary_id();
        // The primary is always in the set (KeySet invariant); an all-zero tag, which
        // verifies for nothing, would be the answer if that were ever broken.
        let tag = self
            .tag(primary, Use::Detached, &[data])
            .unwrap_or([0; SIGNATURE_LEN]);
        Signature {
            key_id: primary,
            tag,
        }
    }

    /// Verifies a detached signature in constant time, with the key it names.
    ///
    /// # Errors
    /// [`Error::InvalidSignature`] for a bad tag or an unknown key id.
    ///
    /// ```
    /// let signer = keel_crypto::Signer::generate(1)?;
    /// let sig = signer.sign(b"a");
    /// assert!(signer.verify(b"b", &sig).is_err());
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    pub fn verify(&self, data: &[u8], signature: &Signature) -> Result<()> {
        self.check(signature.key_id, Use::Detached, &[data], &signature.tag, "")
    }

    /// Verifies the text form `<key id>.<base64url tag>`.
    ///
    /// # Errors
    /// [`Error::InvalidSignature`], also for malformed text.
    ///
    /// ```
    /// let signer = keel_crypto::Signer::generate(1)?;
    /// let text = signer.sign(b"a").to_string();
    /// assert!(signer.verify_str(b"a", &text).is_ok());
    /// assert!(signer.verify_str(b"a", "1.AAAA").is_err());
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    pub fn verify_str(&self, data: &[u8], signature: &str) -> Result<()> {
        self.verify(data, &signature.parse()?)
    }

    /// Issues a signed token for `purpose` valid for `ttl` from now.
    ///
    /// # Errors
    /// [`Error::InputTooLarge`] for a purpose over 4 GiB; [`Error::InvalidParameter`] if
    /// the clock is before 1970 or the expiry overflows.
    ///
    /// ```
    /// let signer = keel_crypto::Signer::generate(1)?;
    /// let token = signer.issue("unsubscribe", b"list:7:user:42", std::time::Duration::from_secs(86_400))?;
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    pub fn issue(&self, purpose: &str, payload: &[u8], ttl: Duration) -> Result<String> {
        self.issue_at(purpose, payload, ttl, unix_now()?)
    }

    /// Issues a token as if the time were `now` (Unix seconds): for tests and fake clocks.
    ///
    /// # Errors
    /// As [`issue`](Self::issue).
    ///
    /// ```
    /// let signer = keel_crypto::Signer::generate(1)?;
    /// let token = signer.issue_at("p", b"", std::time::Duration::from_secs(60), 1_700_000_000)?;
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    pub fn issue_at(
        &self,
        purpose: &str,
        payload: &[u8],
        ttl: Duration,
        now: u64,
    ) -> Result<String> {
        let expires = now
            .checked_add(ttl.as_secs())
            .ok_or_else(|| Error::InvalidParameter("token expiry overflows".into()))?;
        let mut token = Vec::with_capacity(TOKEN_HEADER_LEN + payload.len() + SIGNATURE_LEN);
        token.push(SIGNED_TOKEN_VERSION);
        let primary = self.primary_id();
        token.extend_from_slice(&primary.to_be_bytes());
        token.extend_from_slice(&now.to_be_bytes());
        token.extend_from_slice(&expires.to_be_bytes());
        token.extend_from_slice(payload);
        let len = purpose_len(purpose).ok_or(Error::InputTooLarge("purpose longer than 4 GiB"))?;
        let tag = self
            .tag(primary, Use::Token, &[&len, purpose.as_bytes(), &token])
            .ok_or(Error::UnknownKey(primary))?;
        token.extend_from_slice(&tag);
        Ok(b64url_encode(&token))
    }

    /// Verifies a token made for `purpose` against the current time.
    ///
    /// # Errors
    /// [`Error::InvalidSignature`] for a bad tag, wrong purpose, unknown key or malformed
    /// token; [`Error::Expired`] if the signature is good but the token expired (or was
    /// issued more than [`CLOCK_SKEW`] in the future).
    ///
    /// ```
    /// let signer = keel_crypto::Signer::generate(1)?;
    /// assert!(signer.verify_token("p", "garbage").is_err());
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    pub fn verify_token(&self, purpose: &str, token: &str) -> Result<VerifiedToken> {
        self.verify_token_at(purpose, token, unix_now()?)
    }

    /// Verifies a token as if the time were `now` (Unix seconds).
    ///
    /// # Errors
    /// As [`verify_token`](Self::verify_token).
    ///
    /// ```
    /// use std::time::Duration;
    /// let signer = keel_crypto::Signer::generate(1)?;
    /// let t = signer.issue_at("p", b"x", Duration::from_secs(10), 100)?;
    /// assert!(signer.verify_token_at("p", &t, 110).is_ok()); // valid through its expiry second
    /// assert!(signer.verify_token_at("p", &t, 111).is_err());
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    pub fn verify_token_at(&self, purpose: &str, token: &str, now: u64) -> Result<VerifiedToken> {
        let bytes = b64url_decode(token).ok_or(Error::InvalidSignature)?;
        if bytes.len() < TOKEN_HEADER_LEN + SIGNATURE_LEN || bytes[0] != SIGNED_TOKEN_VERSION {
            return Err(Error::InvalidSignature);
        }
        let (body, tag) = bytes.split_at(bytes.len() - SIGNATURE_LEN);
        let key_id = be_u32(body, 1).ok_or(Error::InvalidSignature)?;
        let len = purpose_len(purpose).ok_or(Error::InvalidSignature)?;
        self.check(
            key_id,
            Use::Token,
            &[&len, purpose.as_bytes(), body],
            tag,
            purpose,
        )?;
        let issued_at = be_u64(body, 5).ok_or(Error::InvalidSignature)?;
        let expires_at = be_u64(body, 13).ok_or(Error::InvalidSignature)?;
        if now > expires_at || issued_at > now.saturating_add(CLOCK_SKEW.as_secs()) {
            return Err(Error::Expired);
        }
        Ok(VerifiedToken {
            payload: body[TOKEN_HEADER_LEN..].to_vec(),
            issued_at,
            expires_at,
            key_id,
        })
    }

    fn tag(&self, id: u32, usage: Use, parts: &[&[u8]]) -> Option<[u8; SIGNATURE_LEN]> {
        let mut mac = self.keys.get(id)?.value().mac(usage).clone();
        for part in parts {
            mac.update(part);
        }
        Some(mac.finalize().into_bytes().into())
    }

    fn check(&self, id: u32, usage: Use, parts: &[&[u8]], tag: &[u8], purpose: &str) -> Result<()> {
        let entry = self.keys.get(id).ok_or(Error::InvalidSignature)?;
        let mut mac = entry.value().mac(usage).clone();
        for part in parts {
            mac.update(part);
        }
        if tag.len() != SIGNATURE_LEN {
            return Err(Error::InvalidSignature);
        }
        mac.verify_slice(tag).map_err(|_| Error::InvalidSignature)?;
        if entry.is_retired() {
            self.keys.log_retired_use(id, "verify", purpose);
        }
        Ok(())
    }
}

fn purpose_len(purpose: &str) -> Option<[u8; 4]> {
    u32::try_from(purpose.len()).ok().map(u32::to_be_bytes)
}

impl FromStr for Signer {
    type Err = Error;

    /// Same format as [`KeyRing`](crate::KeyRing): `"1:<b64>,*2:<b64>"`.
    fn from_str(text: &str) -> Result<Self> {
        Ok(Self {
            keys: KeySet::parse(OWNER, text, SignerKey::new)?,
        })
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("primary", &self.primary_id())
            .field("keys", &self.keys.describe())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyState;

    #[test]
    fn detached_signatures_rotate() {
        let mut signer = Signer::generate(1).unwrap();
        let old = signer.sign(b"m");
        signer.add(2, SecretKey::generate().unwrap()).unwrap();
        signer.promote(2).unwrap();
        let new = signer.sign(b"m");
        assert_eq!(new.key_id(), 2);
        assert!(signer.verify(b"m", &old).is_ok());
        signer.remove(1).unwrap();
        assert!(matches!(
            signer.verify(b"m", &old),
            Err(Error::InvalidSignature)
        ));
        assert!(signer.verify(b"m", &new).is_ok());
        let mut forged = new;
        forged.tag[31] ^= 1;
        assert!(signer.verify(b"m", &forged).is_err());
    }

    #[test]
    fn signature_text_parsing() {
        for bad in ["", "1", "x.AAAA", "1.AAAA", "1.!!", "-1.AAAA"] {
            assert!(bad.parse::<Signature>().is_err(), "{bad}");
        }
    }

    #[test]
    fn tokens_check_signature_before_time() {
        let signer = Signer::generate(1).unwrap();
        let token = signer
            .issue_at("p", b"x", Duration::from_secs(10), 100)
            .unwrap();
        // Not yet valid beyond the skew.
        assert!(matches!(
            signer.verify_token_at("p", &token, 39),
            Err(Error::Expired)
        ));
        assert!(signer.verify_token_at("p", &token, 40).is_ok());
        // A forged token past its expiry reports a bad signature, not "expired".
        let other = Signer::generate(1).unwrap();
        assert!(matches!(
            other.verify_token_at("p", &token, 1_000),
            Err(Error::InvalidSignature)
        ));
        // Flip every byte of the decoded token: always rejected.
        let bytes = b64url_decode(&token).unwrap();
        for i in 0..bytes.len() {
            let mut m = bytes.clone();
            m[i] ^= 0x80;
            assert!(
                signer
                    .verify_token_at("p", &b64url_encode(&m), 105)
                    .is_err(),
                "byte {i}"
            );
        }
        assert!(
            signer
                .verify_token_at("p", &b64url_encode(&bytes[..bytes.len() - 1]), 105)
                .is_err()
        );
    }

    /// The signed input of a token: `len(purpose) ‖ purpose ‖ body`.
    fn token_input(purpose: &str, body: &[u8]) -> Vec<u8> {
        [&purpose_len(purpose).unwrap()[..], purpose.as_bytes(), body].concat()
    }

    #[test]
    fn a_token_tag_is_never_a_detached_signature() {
        let signer = Signer::generate(1).unwrap();
        let token = signer
            .issue_at("reset", b"user:42", Duration::from_secs(60), 100)
            .unwrap();
        let bytes = b64url_decode(&token).unwrap();
        let (body, tag) = bytes.split_at(bytes.len() - SIGNATURE_LEN);
        let as_signature = Signature {
            key_id: 1,
            tag: tag.try_into().unwrap(),
        };
        for data in [&token_input("reset", body)[..], body, &bytes] {
            assert!(matches!(
                signer.verify(data, &as_signature),
                Err(Error::InvalidSignature)
            ));
        }
    }

    #[test]
    fn signing_chosen_bytes_never_forges_a_token() {
        let signer = Signer::generate(1).unwrap();
        // What an attacker would ask a signing endpoint to sign: a token body claiming
        // another user and an expiry far in the future, with its purpose prefix.
        let mut body = vec![SIGNED_TOKEN_VERSION];
        body.extend_from_slice(&1u32.to_be_bytes());
        body.extend_from_slice(&100u64.to_be_bytes());
        body.extend_from_slice(&u64::MAX.to_be_bytes());
        body.extend_from_slice(b"user:1:admin");
        let assemble = |tag: &[u8]| b64url_encode(&[&body[..], tag].concat());
        for signed in [token_input("reset", &body), body.clone()] {
            let signature = signer.sign(&signed);
            assert!(matches!(
                signer.verify_token_at("reset", &assemble(signature.tag()), 150),
                Err(Error::InvalidSignature)
            ));
        }
        // Control: the same bytes with the token subkey's tag are a valid token, so the
        // refusals above come from domain separation, not from a malformed forgery.
        let genuine = signer
            .tag(1, Use::Token, &[&token_input("reset", &body)])
            .unwrap();
        let verified = signer
            .verify_token_at("reset", &assemble(&genuine), 150)
            .unwrap();
        assert_eq!(verified.payload(), b"user:1:admin");
    }

    #[test]
    fn neither_use_is_the_plain_hmac_of_the_key() {
        let key = [0x42; 32];
        let signer = Signer::new(1, SecretKey::from_bytes(key));
        assert_ne!(signer.sign(b"data").tag(), &hmac_sha256(&key, b"data"));
        let token = signer
            .issue_at("p", b"x", Duration::from_secs(9), 1)
            .unwrap();
        let bytes = b64url_decode(&token).unwrap();
        let (body, tag) = bytes.split_at(bytes.len() - SIGNATURE_LEN);
        assert_ne!(tag, hmac_sha256(&key, &token_input("p", body)));
    }

    #[test]
    fn signature_equality_compares_id_and_tag() {
        let signer = Signer::generate(1).unwrap();
        let sig = signer.sign(b"m");
        assert_eq!(sig, signer.sign(b"m"));
        assert_ne!(sig, signer.sign(b"n"));
        let mut other_id = sig;
        other_id.key_id = 2;
        assert_ne!(sig, other_id);
    }

    #[test]
    fn retired_keys_verify_until_removed() {
        let mut signer = Signer::generate(1).unwrap();
        let old_sig = signer.sign(b"m");
        let old_token = signer
            .issue_at("p", b"x", Duration::from_secs(60), 100)
            .unwrap();
        signer.add(2, SecretKey::generate().unwrap()).unwrap();
        signer.promote(2).unwrap();
        signer.retire(1).unwrap();
        assert_eq!(signer.state(1), Some(KeyState::Retired));
        assert_eq!(signer.key_ids(), vec![1, 2]);
        assert!(signer.verify(b"m", &old_sig).is_ok());
        assert!(signer.verify_token_at("p", &old_token, 120).is_ok());
        signer.remove(1).unwrap();
        assert!(signer.verify(b"m", &old_sig).is_err());
        assert!(signer.verify_token_at("p", &old_token, 120).is_err());
    }

    #[test]
    fn ttl_overflow_is_an_error() {
        let signer = Signer::generate(1).unwrap();
        assert!(
            signer
                .issue_at("p", b"", Duration::from_secs(u64::MAX), 10)
                .is_err()
        );
    }
}
