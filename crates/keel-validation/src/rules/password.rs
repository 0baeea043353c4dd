//! [`PasswordPolicy`]: NIST SP 800-63B password rules as a value.

use std::borrow::Cow;
use std::sync::LazyLock;

use unicode_normalization::UnicodeNormalization;

use crate::{AsText, Error, Violation};

/// Django's list of 20,000 common passwords (BSD-3-Clause), lowercase, sorted.
/// Source and licence: `data/README.md`.
static COMMON_TEXT: &str = include_str!("../../data/common-passwords.txt");

static COMMON: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut v: Vec<&'static str> = COMMON_TEXT
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    v.sort_unstable();
    v.dedup();
    v
});

/// Number of entries in the bundled common-password list.
///
/// ```
/// assert!(keel_validation::rules::password::common_password_count() >= 10_000);
/// ```
pub fn common_password_count() -> usize {
    COMMON.len()
}

/// Whether `password` (compared case-insensitively, after NFKC) is on the bundled
/// list of common passwords. A binary search over a sorted slice built once.
///
/// ```
/// use keel_validation::rules::password::is_common_password;
/// assert!(is_common_password("Password1"));
/// assert!(!is_common_password("correct horse battery staple"));
/// ```
pub fn is_common_password(password: &str) -> bool {
    let key = fold(password);
    COMMON.binary_search(&key.as_ref()).is_ok()
}

/// NFKC + lowercase, borrowing when nothing changes.
fn fold(s: &str) -> Cow<'_, str> {
    if s.is_ascii() {
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(s.to_ascii_lowercase())
        } else {
            Cow::Borrowed(s)
        }
    } else {
        Cow::Owned(s.nfkc().collect::<String>().to_lowercase())
    }
}

/// The special characters of the `composition` rule (a typical FastAPI service's set).
pub const COMPOSITION_SPECIALS: &str = "!@#$%^&*(),.?\":{}|<>";

/// A password policy, as a value.
///
/// [`PasswordPolicy::nist`] (the default) follows NIST SP 800-63B §3.1.1.2: at least
/// 8 code points, at most 128 (never truncated), NFKC-normalized before counting and
/// comparing, rejected if it is on the bundled common-password list or equal to the
/// user's email, email local part or name. No composition rules: they make passwords
/// harder to remember and not harder to guess (see `docs/validation.md`).
///
/// [`PasswordPolicy::composition`] adds a typical FastAPI service's rule (an uppercase and a
/// lowercase letter, a digit and one of `!@#$%^&*(),.?":{}|<>`) for teams that must.
///
/// Violations never contain the password.
///
/// ```
/// use keel_validation::PasswordPolicy;
///
/// let policy = PasswordPolicy::nist();
/// assert!(policy.check("correct horse battery staple", &[]).is_ok());
/// let errs = policy.check("password", &[]).unwrap_err();
/// assert_eq!(errs[0].code(), "password_too_common");
/// let errs = policy.check("ada@example.com", &["ada@example.com"]).unwrap_err();
/// assert_eq!(errs[0].code(), "password_matches_user_info");
///
/// let strict = PasswordPolicy::composition();
/// let errs = strict.check("all lowercase words", &[]).unwrap_err();
/// assert_eq!(errs[0].code(), "password_composition");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    min_chars: usize,
    max_chars: usize,
    pub(crate) reject_common: bool,
    pub(crate) reject_user_info: bool,
    pub(crate) composition: bool,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self::nist()
    }
}

impl PasswordPolicy {
    /// NIST SP 800-63B: 8..=128 code points, common list, user info; no composition.
    pub const fn nist() -> Self {
        Self {
            min_chars: 8,
            max_chars: 128,
            reject_common: true,
            reject_user_info: true,
            composition: false,
        }
    }

    /// [`nist`](Self::nist) plus the composition rule (upper + lower + digit + special).
    pub const fn composition() -> Self {
        Self::nist().require_composition(true)
    }

    /// Minimum length in code points (after NFKC). Default 8.
    #[must_use]
    pub const fn min_chars(mut self, n: usize) -> Self {
        self.min_chars = n;
        self
    }

    /// Maximum length in code points. Default 128; NIST requires allowing at least 64.
    /// Longer passwords are rejected, never truncated.
    #[must_use]
    pub const fn max_chars(mut self, n: usize) -> Self {
        self.max_chars = n;
        self
    }

    /// Reject passwords on the bundled common list. Default `true`.
    #[must_use]
    pub const fn reject_common(mut self, yes: bool) -> Self {
        self.reject_common = yes;
        self
    }

    /// Reject passwords equal to a context value (email, its local part, name). Default `true`.
    #[must_use]
    pub const fn reject_user_info(mut self, yes: bool) -> Self {
        self.reject_user_info = yes;
        self
    }

    /// Require an uppercase and a lowercase letter, a digit and a special character
    /// from [`COMPOSITION_SPECIALS`]. Default `false`.
    #[must_use]
    pub const fn require_composition(mut self, yes: bool) -> Self {
        self.composition = yes;
        self
    }

    /// Checks the configuration: `1 <= min <= max` and `max >= 64` (NIST).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`].
    pub const fn build(self) -> Result<Self, Error> {
        if self.min_chars == 0 {
            return Err(Error::InvalidConfig(
                "password min_chars must be at least 1",
            ));
        }
        if self.min_chars > self.max_chars {
            return Err(Error::InvalidConfig(
                "password min_chars is above max_chars",
            ));
        }
        if self.max_chars < 64 {
            return Err(Error::InvalidConfig(
                "password max_chars must be at least 64 (NIST SP 800-63B)",
            ));
        }
        Ok(self)
    }

    /// Minimum length in code points.
    pub const fn min(&self) -> usize {
        self.min_chars
    }

    /// Maximum length in code points.
    pub const fn max(&self) -> usize {
        self.max_chars
    }

    /// Checks `password` against the policy. `user_inputs` are context values the
    /// password must not equal (email, name); empty entries are ignored.
    ///
    /// # Errors
    /// Every violated rule (codes `password_too_short`, `password_too_long`,
    /// `password_too_common`, `password_matches_user_info`, `password_composition`).
    pub fn check(
        &self,
        password: &(impl AsText + ?Sized),
        user_inputs: &[&str],
    ) -> Result<(), Vec<Violation>> {
        let raw = password.as_text();
        let mut out = Vec::new();
        // Bounded work: a code point is at most 4 bytes, so anything over 4 * max
        // bytes is too long whatever NFKC does; don't normalize megabytes.
        if raw.len() > self.max_chars.saturating_mul(4).saturating_add(64) {
            out.push(self.too_long());
            return Err(out);
        }
        let pw: Cow<'_, str> = if raw.is_ascii() {
            Cow::Borrowed(raw)
        } else {
            Cow::Owned(raw.nfkc().collect())
        };
        let n = if pw.is_ascii() {
            pw.len()
        } else {
            pw.chars().count()
        };
        if n < self.min_chars {
            let min = self.min_chars;
            out.push(
                Violation::new(
                    "password_too_short",
                    format!("must be at least {min} characters"),
                )
                .with_param("min", min),
            );
        } else if n > self.max_chars {
            out.push(self.too_long());
        }
        if self.reject_common && n <= self.max_chars && is_common_password(&pw) {
            out.push(Violation::new(
                "password_too_common",
                "is too common; choose a less common password",
            ));
        }
        if self.reject_user_info && !pw.is_empty() && !user_inputs.is_empty() {
            let folded = fold(&pw);
            let matches = user_inputs.iter().any(|input| {
                let input = input.trim();
                if input.is_empty() {
                    return false;
                }
                let f = fold(input);
                if f == folded {
                    return true;
                }
                match f.split_once('@') {
                    Some((local, _)) => !local.is_empty() && local == folded,
                    None => false,
                }
            });
            if matches {
                out.push(Violation::new(
                    "password_matches_user_info",
                    "must not be the same as your email address or name",
                ));
            }
        }
        if self.composition {
            let mut missing: Vec<&'static str> = Vec::new();
            if !pw.chars().any(char::is_uppercase) {
                missing.push("uppercase");
            }
            if !pw.chars().any(char::is_lowercase) {
                missing.push("lowercase");
            }
            if !pw.chars().any(|c| c.is_ascii_digit()) {
                missing.push("digit");
            }
            if !pw.chars().any(|c| COMPOSITION_SPECIALS.contains(c)) {
                missing.push("special");
            }
            if !missing.is_empty() {
                out.push(
                    Violation::new(
                        "password_composition",
                        "must contain an uppercase letter, a lowercase letter, a digit and a special character",
                    )
                    .with_param("missing", missing),
                );
            }
        }
        if out.is_empty() { Ok(()) } else { Err(out) }
    }

    fn too_long(&self) -> Violation {
        let max = self.max_chars;
        Violation::new(
            "password_too_long",
            format!("must be at most {max} characters"),
        )
        .with_param("max", max)
    }
}

/// A context value for [`PasswordPolicy::check`]: text, or optional text.
pub trait ContextValue {
    /// The text, if any.
    fn context_text(&self) -> Option<&str>;
}
impl<T: AsText + ?Sized> ContextValue for T {
    fn context_text(&self) -> Option<&str> {
        Some(self.as_text())
    }
}
impl<T: AsText> ContextValue for Option<T> {
    fn context_text(&self) -> Option<&str> {
        self.as_ref().map(AsText::as_text)
    }
}

/// The text of a context field (`""` for `None`); used by the derive macro.
pub fn context_value<T: ContextValue + ?Sized>(value: &T) -> &str {
    value.context_text().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(policy: &PasswordPolicy, pw: &str, ctx: &[&str]) -> Vec<String> {
        match policy.check(pw, ctx) {
            Ok(()) => vec![],
            Err(v) => v.iter().map(|v| v.code().to_owned()).collect(),
        }
    }

    #[test]
    fn nist_table() {
        let p = PasswordPolicy::nist();
        assert_eq!(codes(&p, "tr0ub4dor&3x", &[]), Vec::<String>::new());
        assert_eq!(codes(&p, "short", &[]), ["password_too_short"]);
        assert_eq!(codes(&p, "", &[]), ["password_too_short"]);
        assert_eq!(codes(&p, &"x".repeat(129), &[]), ["password_too_long"]);
        assert_eq!(codes(&p, &"x".repeat(128), &[]), Vec::<String>::new());
        assert_eq!(
            codes(&p, &"x".repeat(10_000_000), &[]),
            ["password_too_long"]
        );
        assert_eq!(codes(&p, "iloveyou", &[]), ["password_too_common"]);
        assert_eq!(codes(&p, "ILoveYou", &[]), ["password_too_common"]);
        assert_eq!(
            codes(&p, "ada.lovelace", &["Ada.Lovelace@example.com"]),
            ["password_matches_user_info"]
        );
        assert_eq!(
            codes(&p, "lovelace", &["", "Lovelace"]),
            ["password_matches_user_info"]
        );
        // 8 code points after NFKC: ﬁ (U+FB01) expands to "fi".
        assert_eq!(codes(&p, "ﬁﬁﬁﬁ", &[]), Vec::<String>::new());
        // Multi-byte characters count once.
        assert_eq!(codes(&p, "ééééééé", &[]), ["password_too_short"]);
    }

    #[test]
    fn composition_reports_missing_classes() {
        let p = PasswordPolicy::composition();
        let errs = p.check("qzmxnvbcwk", &[]).unwrap_err();
        let missing = errs[0].param("missing").unwrap();
        assert_eq!(
            format!("{missing:?}"),
            r#"Array([String("uppercase"), String("digit"), String("special")])"#
        );
        assert!(p.check("Abcdef1!", &[]).is_ok());
    }

    #[test]
    fn config_is_checked() {
        assert!(PasswordPolicy::nist().build().is_ok());
        assert!(PasswordPolicy::nist().max_chars(32).build().is_err());
        assert!(PasswordPolicy::nist().min_chars(0).build().is_err());
    }

    #[test]
    fn common_list_is_loaded_and_sorted() {
        assert!(common_password_count() >= 19_000);
        assert!(COMMON.windows(2).all(|w| w[0] < w[1]));
        assert!(is_common_password("123456"));
    }
}
