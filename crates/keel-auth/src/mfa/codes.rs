//! What [`Mfa`](crate::Mfa) hands out: enrollments, recovery codes, challenges.

use std::fmt;
use std::time::{Duration, SystemTime};

use zeroize::Zeroizing;

use crate::error::Result;
use crate::store::SecretHash;

/// Characters of a recovery code without separators: 16 base32 characters, 80 bits.
pub(crate) const RECOVERY_CODE_LEN: usize = 16;
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A new TOTP secret to show the user once: as a QR code of [`uri`](Self::uri) and as text
/// for manual entry. `Debug` is redacted; both strings are zeroized on drop.
pub struct TotpEnrollment {
    pub(crate) secret_base32: Zeroizing<String>,
    pub(crate) uri: Zeroizing<String>,
}

impl TotpEnrollment {
    /// The secret in base32, for manual entry in the authenticator app.
    #[must_use]
    pub fn secret_base32(&self) -> &str {
        &self.secret_base32
    }

    /// The `otpauth://totp/…` provisioning URI; render it as a QR code.
    #[must_use]
    pub fn uri(&self) -> &str {
        &self.uri
    }
}

impl fmt::Debug for TotpEnrollment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpEnrollment([REDACTED])")
    }
}

/// Single-use recovery codes, shown to the user once (`XXXX-XXXX-XXXX-XXXX`, 80 random
/// bits each; only their SHA-256 is stored). `Debug` is redacted.
pub struct RecoveryCodes(pub(crate) Vec<Zeroizing<String>>);

impl RecoveryCodes {
    /// Generates `n` codes; returns them with the hashes to store.
    pub(crate) fn generate(n: usize) -> Result<(Self, Vec<SecretHash>)> {
        let mut codes = Vec::with_capacity(n);
        let mut hashes = Vec::with_capacity(n);
        for _ in 0..n {
            let bytes = keel_crypto::random_bytes(10)?;
            let plain = Zeroizing::new(base32_80(&bytes));
            hashes.push(SecretHash::of(&plain));
            let mut shown = Zeroizing::new(String::with_capacity(RECOVERY_CODE_LEN + 3));
            for (i, chunk) in plain.as_bytes().chunks(4).enumerate() {
                if i > 0 {
                    shown.push('-');
                }
                shown.extend(chunk.iter().map(|b| char::from(*b)));
            }
            codes.push(shown);
        }
        Ok((Self(codes), hashes))
    }

    /// The codes, for display.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|c| c.as_str())
    }

    /// How many codes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecoveryCodes({} × [REDACTED])", self.0.len())
    }
}

/// The hash of a typed recovery code: case, spaces and dashes ignored; `None` unless it is
/// 16 base32 characters.
pub(crate) fn recovery_code_hash(typed: &str) -> Option<SecretHash> {
    let mut plain = Zeroizing::new(String::with_capacity(RECOVERY_CODE_LEN));
    for c in typed.chars() {
        if c == '-' || c.is_whitespace() {
            continue;
        }
        let c = c.to_ascii_uppercase();
        if !c.is_ascii() || !BASE32.contains(&(c as u8)) || plain.len() == RECOVERY_CODE_LEN {
            return None;
        }
        plain.push(c);
    }
    (plain.len() == RECOVERY_CODE_LEN).then(|| SecretHash::of(&plain))
}

/// 10 bytes as 16 base32 characters.
fn base32_80(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(RECOVERY_CODE_LEN);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for byte in bytes {
        buffer = (buffer << 8) | u32::from(*byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
        buffer &= (1 << bits) - 1;
    }
    out
}

/// A login step-up challenge: the opaque token to send the client between the password
/// step and the code step. Single use, short-lived, bound to its purpose. `Debug` is
/// redacted.
pub struct MfaChallenge {
    pub(crate) token: Zeroizing<String>,
    pub(crate) expires_at: SystemTime,
    pub(crate) expires_in: Duration,
}

impl MfaChallenge {
    /// The challenge token (43 characters). Send it to the client; never log it.
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        &self.token
    }

    /// When the challenge dies.
    #[must_use]
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }

    /// Its lifetime from now.
    #[must_use]
    pub fn expires_in(&self) -> Duration {
        self.expires_in
    }
}

impl fmt::Debug for MfaChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MfaChallenge")
            .field("token", &"[REDACTED]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Which second factor was used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MfaMethod {
    /// A TOTP code from the authenticator app.
    Totp,
    /// A single-use recovery code (now consumed; suggest regenerating when few remain).
    RecoveryCode,
}

/// A passed second factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaVerified {
    pub(crate) subject: String,
    pub(crate) method: MfaMethod,
}

impl MfaVerified {
    /// Whose factor it was: issue the session for this subject.
    #[must_use]
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Which factor.
    #[must_use]
    pub fn method(&self) -> MfaMethod {
        self.method
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_round_trip_through_normalization() {
        let (codes, hashes) = RecoveryCodes::generate(10).unwrap();
        assert_eq!(codes.len(), 10);
        for (code, hash) in codes.iter().zip(&hashes) {
            assert_eq!(code.len(), 19, "{code}");
            assert_eq!(recovery_code_hash(code), Some(*hash));
            assert_eq!(recovery_code_hash(&code.to_lowercase()), Some(*hash));
            assert_eq!(recovery_code_hash(&code.replace('-', " ")), Some(*hash));
        }
        assert!(!format!("{codes:?}").contains(codes.iter().next().unwrap()));
    }

    #[test]
    fn malformed_recovery_codes() {
        for bad in [
            "",
            "ABCD",
            "ABCD-EFGH-IJKL-MNO1",
            "ABCD-EFGH-IJKL-MNOPQ",
            "ÄBCD-EFGH-IJKL-MNOP",
        ] {
            assert_eq!(recovery_code_hash(bad), None, "{bad}");
        }
    }
}
