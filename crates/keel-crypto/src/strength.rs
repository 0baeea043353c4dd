//! Startup checks that refuse weak settings: Argon2id costs below OWASP's minimum,
//! low-entropy secrets and all-zero keys, with an explicit development-mode escape hatch.
//!
//! ```
//! use keel_crypto::{Argon2Params, SecretKey, StrengthCheck, WeakSettings};
//!
//! let mut check = StrengthCheck::new();
//! check
//!     .argon2("PASSWORD_HASH", &Argon2Params::OWASP)
//!     .secret("JWT_SECRET", b"Xq3v9Lr0tZk2Wm8Yp5Nc1Hd7Jf4Gs6Ba")
//!     .key("ENCRYPTION_KEY", &SecretKey::from_bytes([0; 32]));
//! // Production refuses; development accepts with warnings to log.
//! let problems = check.clone().enforce(WeakSettings::Refuse).unwrap_err();
//! assert_eq!(problems[0].to_string(), "ENCRYPTION_KEY is all zeros");
//! // Each names its setting, for a configuration report keyed by variable.
//! assert_eq!((problems[0].setting(), problems[0].detail()), ("ENCRYPTION_KEY", "is all zeros"));
//! let warnings = check.enforce(WeakSettings::AcceptForDevelopment).unwrap();
//! assert_eq!(warnings.len(), 1);
//! ```

use std::fmt;

use crate::{Argon2Params, KeyRing, SecretKey};

/// OWASP Password Storage Cheat Sheet, Argon2id: equivalent (memory KiB, iterations)
/// pairs; parameters must reach one of them (with at least one lane).
pub const OWASP_ARGON2ID_MINIMUMS: [(u32, u32); 5] = [
    (47_104, 1),
    (19_456, 2),
    (12_288, 3),
    (9_216, 4),
    (7_168, 5),
];

/// Why a secret looks guessable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Weakness {
    /// Every byte is zero (a placeholder left in place).
    AllZeros,
    /// Fewer than 8 distinct byte values.
    FewDistinctBytes,
    /// A shorter block repeated (`abcabc…`).
    RepeatedPattern,
    /// Under 96 bits by its own symbol statistics.
    LowEntropy,
}

impl fmt::Display for Weakness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::AllZeros => "is all zeros",
            Self::FewDistinctBytes => "has fewer than 8 distinct bytes",
            Self::RepeatedPattern => "repeats a shorter pattern",
            Self::LowEntropy => "has too little entropy (under 96 bits)",
        })
    }
}

/// Why `secret` looks guessable, or `None`. Catches configuration mistakes (a
/// placeholder, a word, a pattern typed by hand), not every weak secret: a random 32-byte
/// key, 32 random hex digits or `openssl rand -base64 32` all pass.
///
/// ```
/// use keel_crypto::{Weakness, weakness};
/// assert_eq!(weakness(&[0; 32]), Some(Weakness::AllZeros));
/// assert_eq!(weakness(b"9f86d081884c7d659a2feaa0c55ad015"), None);
/// ```
#[must_use]
pub fn weakness(secret: &[u8]) -> Option<Weakness> {
    if secret.iter().all(|&b| b == 0) {
        return Some(Weakness::AllZeros);
    }
    let mut counts = [0u32; 256];
    for &b in secret {
        counts[usize::from(b)] += 1;
    }
    if counts.iter().filter(|&&c| c > 0).count() < 8 {
        return Some(Weakness::FewDistinctBytes);
    }
    let len = secret.len();
    if (1..=len / 2).any(|p| len.is_multiple_of(p) && secret.chunks(p).all(|c| c == &secret[..p])) {
        return Some(Weakness::RepeatedPattern);
    }
    #[allow(clippy::cast_precision_loss)] // lengths are far below 2^52
    let n = len as f64;
    let bits: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| -f64::from(c) * (f64::from(c) / n).log2())
        .sum();
    (bits < 96.0).then_some(Weakness::LowEntropy)
}

impl Argon2Params {
    /// Whether these parameters reach one of OWASP's minimum Argon2id configurations
    /// ([`OWASP_ARGON2ID_MINIMUMS`]).
    ///
    /// ```
    /// use keel_crypto::Argon2Params;
    /// assert!(Argon2Params::OWASP.meets_owasp_minimum());
    /// assert!(!Argon2Params::new(4096, 1, 1)?.meets_owasp_minimum());
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    #[must_use]
    pub fn meets_owasp_minimum(&self) -> bool {
        OWASP_ARGON2ID_MINIMUMS
            .iter()
            .any(|&(m, t)| self.memory_kib() >= m && self.iterations() >= t)
    }
}

/// What to do with weak settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeakSettings {
    /// Refuse them (production).
    Refuse,
    /// Accept them and hand back warnings to log (local development and tests only).
    AcceptForDevelopment,
}

/// One weak setting found by a [`StrengthCheck`]: the setting's name and what is weak
/// about it, never the secret. `Display` is "`setting` `detail`", e.g.
/// "JWT_SECRET has fewer than 8 distinct bytes".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeakSetting {
    setting: String,
    detail: String,
}

impl WeakSetting {
    /// The name the setting was checked under (e.g. an environment variable).
    #[must_use]
    pub fn setting(&self) -> &str {
        &self.setting
    }

    /// What is weak, worded to follow the setting's name ("is all zeros").
    #[must_use]
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl fmt::Display for WeakSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.setting, self.detail)
    }
}

/// Collects the weak settings of a configuration, each named, then refuses or accepts
/// them at once ([`enforce`](Self::enforce)). Messages name the setting and the problem,
/// never the secret.
#[derive(Debug, Clone, Default)]
pub struct StrengthCheck {
    problems: Vec<WeakSetting>,
}

impl StrengthCheck {
    /// An empty check.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn push(&mut self, setting: &str, detail: String) {
        self.problems.push(WeakSetting {
            setting: setting.to_owned(),
            detail,
        });
    }

    /// Argon2id parameters below OWASP's minimum.
    pub fn argon2(&mut self, name: &str, params: &Argon2Params) -> &mut Self {
        if !params.meets_owasp_minimum() {
            let detail = format!(
                "m={},t={} is below OWASP's Argon2id minimum (e.g. m=19456,t=2,p=1)",
                params.memory_kib(),
                params.iterations()
            );
            self.push(name, detail);
        }
        self
    }

    /// A shared secret (an HMAC key, a token secret) that looks guessable.
    pub fn secret(&mut self, name: &str, secret: &[u8]) -> &mut Self {
        if let Some(why) = weakness(secret) {
            self.push(name, why.to_string());
        }
        self
    }

    /// A key that looks guessable.
    pub fn key(&mut self, name: &str, key: &SecretKey) -> &mut Self {
        self.secret(name, key.expose_secret())
    }

    /// Every weak key of a key ring.
    pub fn key_ring(&mut self, name: &str, ring: &KeyRing) -> &mut Self {
        for (id, why) in ring.weak_keys() {
            self.push(name, format!("key {id} {why}"));
        }
        self
    }

    /// The problems found so far.
    #[must_use]
    pub fn problems(&self) -> &[WeakSetting] {
        &self.problems
    }

    /// With [`WeakSettings::Refuse`], `Err` with every problem (empty: `Ok`); with
    /// [`WeakSettings::AcceptForDevelopment`], `Ok` with the problems as warnings.
    ///
    /// # Errors
    /// The problems, one message each, when refusing.
    pub fn enforce(self, mode: WeakSettings) -> Result<Vec<WeakSetting>, Vec<WeakSetting>> {
        match mode {
            WeakSettings::AcceptForDevelopment => Ok(self.problems),
            WeakSettings::Refuse if self.problems.is_empty() => Ok(Vec::new()),
            WeakSettings::Refuse => Err(self.problems),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(secret: &[u8], expected: Option<Weakness>) {
        assert_eq!(weakness(secret), expected, "{secret:?}");
    }

    #[test]
    fn weak_and_strong_secrets() {
        check(&[0; 32], Some(Weakness::AllZeros));
        check(&[b'a'; 32], Some(Weakness::FewDistinctBytes));
        check(
            b"0123456789abcdef0123456789abcdef",
            Some(Weakness::RepeatedPattern),
        );
        check(
            b"aaaaaaaaaaaaaaaaaaaaaaaabcdefghi",
            Some(Weakness::LowEntropy),
        );
        check(b"9f86d081884c7d659a2feaa0c55ad015", None);
        check(b"Xq3v9Lr0tZk2Wm8Yp5Nc1Hd7Jf4Gs6Ba+Qe/Ru=", None);
        let random: Vec<u8> = (0u8..32)
            .map(|i| i.wrapping_mul(97).wrapping_add(13))
            .collect();
        check(&random, None);
    }

    #[test]
    fn owasp_argon2_minimums() {
        let meets = |m, t| Argon2Params::new(m, t, 1).unwrap().meets_owasp_minimum();
        assert!(meets(19_456, 2) && meets(47_104, 1) && meets(65_536, 3));
        assert!(!meets(19_456, 1) && !meets(64, 1) && !meets(7_000, 10));
    }

    #[test]
    fn key_rings_and_the_escape_hatch() {
        let mut ring = KeyRing::new(1, SecretKey::from_bytes([0; 32]));
        ring.add(2, SecretKey::generate().unwrap()).unwrap();
        ring.add(3, SecretKey::from_bytes([7; 32])).unwrap();
        assert_eq!(
            ring.weak_keys(),
            [(1, Weakness::AllZeros), (3, Weakness::FewDistinctBytes)]
        );
        let mut c = StrengthCheck::new();
        c.key_ring("KEYS", &ring)
            .argon2("HASH", &Argon2Params::new(64, 1, 1).unwrap());
        let expected = [
            "KEYS key 1 is all zeros",
            "KEYS key 3 has fewer than 8 distinct bytes",
            "HASH m=64,t=1 is below OWASP's Argon2id minimum (e.g. m=19456,t=2,p=1)",
        ];
        let text = |w: Vec<WeakSetting>| w.iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!(
            text(c.clone().enforce(WeakSettings::Refuse).unwrap_err()),
            expected
        );
        let refused = c.clone().enforce(WeakSettings::Refuse).unwrap_err();
        let named: Vec<_> = refused.iter().map(|w| (w.setting(), w.detail())).collect();
        assert_eq!(
            named,
            [
                ("KEYS", "key 1 is all zeros"),
                ("KEYS", "key 3 has fewer than 8 distinct bytes"),
                (
                    "HASH",
                    "m=64,t=1 is below OWASP's Argon2id minimum (e.g. m=19456,t=2,p=1)"
                ),
            ]
        );
        assert_eq!(
            text(c.enforce(WeakSettings::AcceptForDevelopment).unwrap()),
            expected
        );
        assert!(
            StrengthCheck::new()
                .enforce(WeakSettings::Refuse)
                .unwrap()
                .is_empty()
        );
    }
}
