//! TOTP (RFC 6238) one-time codes for MFA, with replay protection: stateless
//! [`Totp::verify`] returning the matched step (claim it with one conditional `UPDATE`), or
//! the in-memory [`TotpReplayGuard`].

mod replay;

use std::fmt;

use hmac::Mac;
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::mac::keyed_hmac;
use crate::random::random_bytes;
use crate::time::unix_now;

pub use self::replay::{
    DEFAULT_REPLAY_GUARD_CAPACITY, MAX_REPLAY_GUARD_ACCOUNT_LEN, TotpReplayGuard,
};

/// The HMAC hash of a TOTP.
///
/// ```
/// use keel_crypto::TotpAlgorithm;
/// assert_eq!(TotpAlgorithm::Sha256.recommended_secret_len(), 32);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum TotpAlgorithm {
    /// HMAC-SHA1: what every authenticator app supports (the default).
    #[default]
    Sha1,
    /// HMAC-SHA256.
    Sha256,
    /// HMAC-SHA512.
    Sha512,
}

impl TotpAlgorithm {
    /// The secret length RFC 6238's test vectors and most apps use: the hash output size
    /// (20, 32, 64 bytes).
    ///
    /// ```
    /// assert_eq!(keel_crypto::TotpAlgorithm::Sha1.recommended_secret_len(), 20);
    /// ```
    #[must_use]
    pub const fn recommended_secret_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha512 => 64,
        }
    }

    /// The name used in `otpauth://` URIs.
    ///
    /// ```
    /// assert_eq!(keel_crypto::TotpAlgorithm::Sha512.uri_name(), "SHA512");
    /// ```
    #[must_use]
    pub const fn uri_name(self) -> &'static str {
        match self {
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
            Self::Sha512 => "SHA512",
        }
    }
}

/// A TOTP generator/verifier (RFC 6238): SHA-1/256/512, 6–8 digits, 30 s steps, ±1 step
/// window by default, replay protection, `otpauth://` provisioning URIs, base32 secrets.
///
/// # Replay protection
/// A code stays valid for its whole window (90 s by default), so a code seen over a
/// shoulder or in a proxy log could be used twice. [`verify`](Self::verify) returns the
/// *time step* the code matched; each step may be used once per account. Two ways to
/// enforce it, both atomic:
///
/// * **Database** (several instances, survives restarts): keep the last used step with
///   the user and claim the new one with a single conditional `UPDATE`; the row count says
///   whether this request won:
///
///   ```sql
///   UPDATE users SET totp_last_step = $2
///    WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)
///   -- 1 row: accept.  0 rows: the step (or a later one) was already used: replay.
///   ```
///
///   Pass the stored step as `last_used` too: it turns most replays into an early
///   [`Error::ReplayedCode`] without a write, but it is the `UPDATE` that closes the race
///   between two concurrent requests, so never skip it (a read, a compare in Rust and an
///   unconditional write lets both requests through).
/// * **In memory** (one instance): [`TotpReplayGuard`] verifies and claims under one lock.
///
/// ```
/// use keel_crypto::{Error, Totp};
///
/// let totp = Totp::generate_secret(Default::default())?;
/// let secret_for_db = totp.secret_base32(); // encrypt it with a KeyRing before storing
/// let uri = totp.provisioning_uri("Acme", "ada@example.com"); // render as a QR code
///
/// let now = 1_700_000_000;
/// let code = totp.code_at(now);
/// let step = totp.verify_at(&code, now, None)?; // store `step` as the last used counter
/// assert!(matches!(totp.verify_at(&code, now + 5, Some(step)), Err(Error::ReplayedCode)));
/// # Ok::<(), keel_crypto::Error>(())
/// ```
#[derive(Clone)]
pub struct Totp {
    secret: Zeroizing<Vec<u8>>,
    algorithm: TotpAlgorithm,
    digits: u32,
    step: u64,
    skew: u64,
}

impl Totp {
    /// A TOTP over `secret` (at least 16 bytes, RFC 4226 §4) with SHA-1, 6 digits, 30 s, ±1.
    ///
    /// # Errors
    /// [`Error::InvalidKey`] for a secret shorter than 16 bytes.
    ///
    /// ```
    /// let totp = keel_crypto::Totp::new(b"12345678901234567890")?;
    /// // RFC 6238 Appendix B, T = 59 s, 8 digits.
    /// assert_eq!(totp.with_digits(8)?.code_at(59), "94287082");
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    pub fn new(secret: &[u8]) -> Result<Self> {
        if secret.len() < 16 {
            return Err(Error::InvalidKey(
                "a TOTP secret must be at least 16 bytes".into(),
            ));
        }
        Ok(Self {
            secret: Zeroizing::new(secret.to_vec()),
            algorithm: TotpAlgorithm::Sha1,
            digits: 6,
            step: 30,
            skew: 1,
        })
    }

    /// A TOTP with a fresh random secret of the recommended length for `algorithm`.
    ///
    /// # Errors
    /// [`Error::Random`] if the OS generator fails.
    ///
    /// ```
    /// let totp = keel_crypto::Totp::generate_secret(keel_crypto::TotpAlgorithm::Sha256)?;
    /// assert_eq!(totp.secret_base32().len(), 52); // 32 bytes
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    pub fn generate_secret(algorithm: TotpAlgorithm) -> Result<Self> {
        let secret = random_bytes(algorithm.recommended_secret_len())?;
        Ok(Self::new(&secret)?.with_algorithm(algorithm))
    }

    /// A TOTP over a base32 secret (RFC 4648; case, spaces, dashes and padding ignored).
    ///
    /// # Errors
    /// [`Error::InvalidKey`] for invalid base32 or a secret under 16 bytes.
    ///
    /// ```
    /// let totp = keel_crypto::Totp::from_base32("GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ")?;
    /// assert_eq!(totp.with_digits(8)?.code_at(59), "94287082");
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    pub fn from_base32(secret: &str) -> Result<Self> {
        let bytes = Zeroizing::new(
            base32_decode(secret)
                .ok_or_else(|| Error::InvalidKey("TOTP secret is not valid base32".into()))?,
        );
        Self::new(&bytes)
    }

    /// Sets the hash algorithm.
    ///
    /// ```
    /// use keel_crypto::{Totp, TotpAlgorithm};
    /// let totp = Totp::new(&[1; 32])?.with_algorithm(TotpAlgorithm::Sha256);
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    #[must_use]
    pub fn with_algorithm(mut self, algorithm: TotpAlgorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// Sets the number of digits.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] outside 6..=8.
    ///
    /// ```
    /// assert!(keel_crypto::Totp::new(&[1; 20])?.with_digits(4).is_err());
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    pub fn with_digits(mut self, digits: u32) -> Result<Self> {
        if !(6..=8).contains(&digits) {
            return Err(Error::InvalidParameter(
                "TOTP digits must be 6, 7 or 8".into(),
            ));
        }
        self.digits = digits;
        Ok(self)
    }

    /// Sets the time step in seconds (default 30).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for 0.
    ///
    /// ```
    /// let totp = keel_crypto::Totp::new(&[1; 20])?.with_step(60)?;
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    pub fn with_step(mut self, seconds: u64) -> Result<Self> {
        if seconds == 0 {
            return Err(Error::InvalidParameter(
                "TOTP step must be at least 1 second".into(),
            ));
        }
        self.step = seconds;
        Ok(self)
    }

    /// Sets how many steps before and after the current one are accepted (default 1).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] above 10.
    ///
    /// ```
    /// let strict = keel_crypto::Totp::new(&[1; 20])?.with_skew(0)?;
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    pub fn with_skew(mut self, steps: u64) -> Result<Self> {
        if steps > 10 {
            return Err(Error::InvalidParameter(
                "TOTP skew must be at most 10 steps".into(),
            ));
        }
        self.skew = steps;
        Ok(self)
    }

    /// The hash algorithm.
    ///
    /// ```
    /// assert_eq!(keel_crypto::Totp::new(&[1; 20])?.algorithm(), keel_crypto::TotpAlgorithm::Sha1);
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    #[must_use]
    pub const fn algorithm(&self) -> TotpAlgorithm {
        self.algorithm
    }

    /// The number of digits of a code.
    ///
    /// ```
    /// assert_eq!(keel_crypto::Totp::new(&[1; 20])?.digits(), 6);
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    #[must_use]
    pub const fn digits(&self) -> u32 {
        self.digits
    }

    /// The time step in seconds.
    ///
    /// ```
    /// assert_eq!(keel_crypto::Totp::new(&[1; 20])?.step_seconds(), 30);
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    #[must_use]
    pub const fn step_seconds(&self) -> u64 {
        self.step
    }

    /// How many steps before and after the current one are accepted.
    ///
    /// ```
    /// assert_eq!(keel_crypto::Totp::new(&[1; 20])?.skew(), 1);
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    #[must_use]
    pub const fn skew(&self) -> u64 {
        self.skew
    }

    /// The secret in base32 without padding, for storage (encrypt it) and manual entry.
    ///
    /// ```
    /// let totp = keel_crypto::Totp::new(b"12345678901234567890")?;
    /// assert_eq!(*totp.secret_base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    #[must_use]
    pub fn secret_base32(&self) -> Zeroizing<String> {
        Zeroizing::new(base32_encode(&self.secret))
    }

    /// The time-step counter at Unix time `unix`.
    ///
    /// ```
    /// assert_eq!(keel_crypto::Totp::new(&[1; 20])?.counter_at(59), 1);
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    #[must_use]
    pub const fn counter_at(&self, unix: u64) -> u64 {
        unix / self.step
    }

    /// The code for a counter (HOTP, RFC 4226), zero-padded.
    ///
    /// ```
    /// // RFC 4226 Appendix D, count 0.
    /// assert_eq!(keel_crypto::Totp::new(b"12345678901234567890")?.code_for_counter(0), "755224");
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    #[must_use]
    pub fn code_for_counter(&self, counter: u64) -> String {
        let value = self.truncated(counter) % 10u32.pow(self.digits);
        format!("{value:0width$}", width = self.digits as usize)
    }

    /// The code at Unix time `unix`.
    ///
    /// ```
    /// let totp = keel_crypto::Totp::new(&[1; 20])?;
    /// assert_eq!(totp.code_at(0), totp.code_at(29));
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    #[must_use]
    pub fn code_at(&self, unix: u64) -> String {
        self.code_for_counter(self.counter_at(unix))
    }

    /// Verifies `code` against the current time and returns the matched time step, which
    /// the caller must claim atomically (see [Replay protection](#replay-protection)):
    ///
    /// ```no_run
    /// # use keel_crypto::{Error, Totp};
    /// # struct Db;
    /// # impl Db { fn execute(&self, _sql: &str, _id: i64, _step: i64) -> Result<u64, Error> { Ok(1) } }
    /// # fn step_up(db: &Db, user_id: i64, totp: &Totp, code: &str, last: Option<i64>) -> Result<(), Error> {
    /// // `last`: the user's totp_last_step column (BIGINT), read with the user.
    /// let step = totp.verify(code, last.and_then(|s| u64::try_from(s).ok()))?;
    /// let step = i64::try_from(step).map_err(|_| Error::InvalidCode)?;
    /// let claimed = db.execute(
    ///     "UPDATE users SET totp_last_step = $2 \
    ///      WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)",
    ///     user_id,
    ///     step,
    /// )?;
    /// if claimed != 1 {
    ///     return Err(Error::ReplayedCode); // a concurrent request used this code first
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`verify_at`](Self::verify_at).
    ///
    /// ```
    /// let totp = keel_crypto::Totp::new(&[1; 20])?;
    /// assert!(totp.verify("000000x", None).is_err());
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    pub fn verify(&self, code: &str, last_used: Option<u64>) -> Result<u64> {
        self.verify_at(code, unix_now()?, last_used)
    }

    /// Verifies `code` (spaces ignored) at Unix time `unix` within ±skew steps, in constant
    /// time over the window. Returns the matched step (counter): claim it atomically (see
    /// [Replay protection](#replay-protection)) and pass the stored value as `last_used`
    /// next time.
    ///
    /// # Errors
    /// [`Error::InvalidCode`] if no step matches; [`Error::ReplayedCode`] if the matching
    /// step is not after `last_used`.
    ///
    /// ```
    /// let totp = keel_crypto::Totp::new(&[1; 20])?;
    /// let code = totp.code_at(1_000_000);
    /// assert!(totp.verify_at(&code, 1_000_000 + 30, None).is_ok()); // one step late: accepted
    /// assert!(totp.verify_at(&code, 1_000_000 + 90, None).is_err()); // three steps: rejected
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    pub fn verify_at(&self, code: &str, unix: u64, last_used: Option<u64>) -> Result<u64> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != self.digits as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::InvalidCode);
        }
        let current = self.counter_at(unix);
        let mut matched: Option<u64> = None;
        // Check every step of the window (no early exit), newest match wins.
        for counter in current.saturating_sub(self.skew)..=current.saturating_add(self.skew) {
            let expected = self.code_for_counter(counter);
            if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
                matched = Some(counter);
            }
        }
        let counter = matched.ok_or(Error::InvalidCode)?;
        if last_used.is_some_and(|last| counter <= last) {
            return Err(Error::ReplayedCode);
        }
        Ok(counter)
    }

    /// The `otpauth://totp/...` URI authenticator apps import (usually as a QR code).
    ///
    /// ```
    /// let totp = keel_crypto::Totp::new(b"12345678901234567890")?;
    /// assert_eq!(
    ///     totp.provisioning_uri("Acme Co", "ada@example.com"),
    ///     "otpauth://totp/Acme%20Co:ada%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Acme%20Co&algorithm=SHA1&digits=6&period=30"
    /// );
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    #[must_use]
    pub fn provisioning_uri(&self, issuer: &str, account: &str) -> String {
        let issuer = percent_encode(issuer);
        format!(
            "otpauth://totp/{issuer}:{}?secret={}&issuer={issuer}&algorithm={}&digits={}&period={}",
            percent_encode(account),
            base32_encode(&self.secret),
            self.algorithm.uri_name(),
            self.digits,
            self.step,
        )
    }

    /// RFC 4226 dynamic truncation of HMAC(secret, counter).
    fn truncated(&self, counter: u64) -> u32 {
        let msg = counter.to_be_bytes();
        let digest: Vec<u8> = match self.algorithm {
            TotpAlgorithm::Sha1 => mac::<sha1::Sha1>(&self.secret, &msg),
            TotpAlgorithm::Sha256 => mac::<sha2::Sha256>(&self.secret, &msg),
            TotpAlgorithm::Sha512 => mac::<sha2::Sha512>(&self.secret, &msg),
        };
        let offset = usize::from(digest.last().copied().unwrap_or(0) & 0x0f);
        let bytes: [u8; 4] = digest
            .get(offset..offset + 4)
            .and_then(|b| b.try_into().ok())
            .unwrap_or([0; 4]);
        u32::from_be_bytes(bytes) & 0x7fff_ffff
    }
}

fn mac<D>(key: &[u8], msg: &[u8]) -> Vec<u8>
where
    D: hmac::EagerHash + hmac::digest::Digest,
{
    let mut m = keyed_hmac::<D>(key);
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

impl fmt::Debug for Totp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Totp")
            .field("secret", &"[REDACTED]")
            .field("algorithm", &self.algorithm)
            .field("digits", &self.digits)
            .field("step", &self.step)
            .field("skew", &self.skew)
            .finish()
    }
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding.
fn base32_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for byte in data {
        buffer = (buffer << 8) | u32::from(*byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// RFC 4648 base32; case-insensitive; spaces, dashes and trailing `=` ignored.
fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.trim_end_matches('=').bytes() {
        if c == b' ' || c == b'-' {
            continue;
        }
        let value = BASE32.iter().position(|b| *b == c.to_ascii_uppercase())?;
        buffer = (buffer << 5) | u32::try_from(value).ok()?;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).ok()?);
        }
        buffer &= (1 << bits) - 1;
    }
    Some(out)
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_base32(bytes: &[u8], text: &str) {
        assert_eq!(base32_encode(bytes), text);
        assert_eq!(base32_decode(text).as_deref(), Some(bytes));
    }

    #[test]
    fn base32_rfc4648_vectors() {
        // RFC 4648 §10 (padding stripped).
        check_base32(b"", "");
        check_base32(b"f", "MY");
        check_base32(b"fo", "MZXQ");
        check_base32(b"foo", "MZXW6");
        check_base32(b"foob", "MZXW6YQ");
        check_base32(b"fooba", "MZXW6YTB");
        check_base32(b"foobar", "MZXW6YTBOI");
        assert_eq!(
            base32_decode("mzxw6ytboi======").as_deref(),
            Some(&b"foobar"[..])
        );
        assert_eq!(base32_decode("MZXW1"), None);
    }

    #[test]
    fn hotp_rfc4226_appendix_d() {
        let totp = Totp::new(b"12345678901234567890").unwrap();
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(totp.code_for_counter(counter as u64), *code);
        }
    }

    #[test]
    fn window_and_replay() {
        let totp = Totp::new(&[7; 20]).unwrap();
        let t = 1_000_020;
        let code = totp.code_at(t);
        let c = totp.counter_at(t);
        assert_eq!(totp.verify_at(&code, t - 30, None).unwrap(), c);
        assert_eq!(totp.verify_at(&code, t + 30, None).unwrap(), c);
        assert!(matches!(
            totp.verify_at(&code, t + 60, None),
            Err(Error::InvalidCode)
        ));
        assert!(matches!(
            totp.verify_at(&code, t, Some(c)),
            Err(Error::ReplayedCode)
        ));
        assert!(matches!(
            totp.verify_at(&code, t, Some(c + 1)),
            Err(Error::ReplayedCode)
        ));
        assert_eq!(totp.verify_at(&code, t, Some(c - 1)).unwrap(), c);
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert!(totp.verify_at(&spaced, t, None).is_ok());
        for bad in ["", "12345", "1234567", "abcdef", "12345a"] {
            assert!(
                matches!(totp.verify_at(bad, t, None), Err(Error::InvalidCode)),
                "{bad}"
            );
        }
        let strict = totp.with_skew(0).unwrap();
        assert!(strict.verify_at(&code, t + 30, None).is_err());
    }

    #[test]
    fn secret_rules_and_debug() {
        assert!(Totp::new(&[1; 15]).is_err());
        assert!(Totp::from_base32("!!!!").is_err());
        let totp = Totp::new(b"12345678901234567890").unwrap();
        assert!(!format!("{totp:?}").contains("GEZD"));
        assert!(totp.clone().with_step(0).is_err());
        assert!(totp.clone().with_skew(11).is_err());
        assert!(totp.with_digits(9).is_err());
    }
}
