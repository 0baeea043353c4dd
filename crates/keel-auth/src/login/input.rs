//! [`LoginEmail`] and the password bounds: input checked before any limiter or hash work.

use std::fmt;

use crate::error::{Error, Result};

/// Longest accepted e-mail address, in bytes (RFC 5321's 256-octet path minus the angle
/// brackets).
pub const MAX_EMAIL_LEN: usize = 254;
/// Longest local part (before the `@`), in bytes (RFC 5321 §4.5.3.1.1).
const MAX_LOCAL_LEN: usize = 64;
/// Default longest accepted password, in bytes. Argon2 accepts anything, but a
/// megabyte-long "password" is an attack, not a password.
pub const DEFAULT_MAX_PASSWORD_LEN: usize = 1024;

/// A login or signup e-mail address: trimmed, lower-cased, at most [`MAX_EMAIL_LEN`] bytes,
/// one `local@domain` with no whitespace or control characters.
///
/// The check is deliberately loose (it is not full RFC 5322 validation, which belongs to
/// signup): its job is to refuse junk and oversized input **before** it reaches a rate
/// limiter, a database or a password hash. Look the account up with
/// [`as_str`](Self::as_str), so the limiter and the lookup agree on what "the same
/// address" means.
///
/// `Debug` shows only the domain: addresses are personal data and do not belong in logs.
///
/// ```
/// use keel_auth::login::LoginEmail;
///
/// let email = LoginEmail::parse("  Ada@Example.ORG ")?;
/// assert_eq!(email.as_str(), "ada@example.org");
/// assert_eq!(format!("{email:?}"), "LoginEmail(\"…@example.org\")");
///
/// assert!(LoginEmail::parse("not an address").is_err());
/// assert!(LoginEmail::parse(&"a".repeat(70_000)).is_err());
/// # Ok::<(), keel_auth::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct LoginEmail(String);

impl LoginEmail {
    /// Checks and normalizes `raw`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when it is empty, longer than [`MAX_EMAIL_LEN`] bytes, has no
    /// `@`, an empty or over-long part, whitespace or control characters. The length is
    /// checked first, before anything looks at the characters.
    pub fn parse(raw: &str) -> Result<Self> {
        // Bound the work on hostile input: trimming scans only until the first
        // non-whitespace character from each end, and everything after runs on ≤ 254 bytes.
        if raw.len() > MAX_EMAIL_LEN + 64 {
            return Err(Error::InvalidInput("e-mail address is too long"));
        }
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(Error::InvalidInput("e-mail address is empty"));
        }
        if trimmed.len() > MAX_EMAIL_LEN {
            return Err(Error::InvalidInput("e-mail address is too long"));
        }
        let Some((local, domain)) = trimmed.rsplit_once('@') else {
            return Err(Error::InvalidInput("e-mail address is malformed"));
        };
        if local.is_empty()
            || domain.is_empty()
            || local.len() > MAX_LOCAL_LEN
            || domain.starts_with('.')
            || domain.ends_with('.')
            || trimmed.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(Error::InvalidInput("e-mail address is malformed"));
        }
        let lower = trimmed.to_lowercase();
        // Lower-casing can lengthen a few characters (e.g. 'İ' → "i̇"): re-check the bound.
        if lower.len() > MAX_EMAIL_LEN {
            return Err(Error::InvalidInput("e-mail address is too long"));
        }
        Ok(Self(lower))
    }

    /// The normalized address.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The normalized address, owned.
    #[must_use]
    pub fn into_string(self) -> String {
        self.0
    }

    /// The domain part.
    ///
    /// ```
    /// let e = keel_auth::login::LoginEmail::parse("ada@example.org")?;
    /// assert_eq!(e.domain(), "example.org");
    /// # Ok::<(), keel_auth::Error>(())
    /// ```
    #[must_use]
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, d)| d)
    }
}

impl fmt::Debug for LoginEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LoginEmail")
            .field(&format_args!("\"…@{}\"", self.domain()))
            .finish()
    }
}

impl std::str::FromStr for LoginEmail {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl AsRef<str> for LoginEmail {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Checks a submitted password's size: not empty, at most `max_len` bytes.
///
/// # Errors
/// [`Error::InvalidInput`]; the message never contains the password.
///
/// ```
/// use keel_auth::login::{DEFAULT_MAX_PASSWORD_LEN, check_password};
/// assert!(check_password("correct horse", DEFAULT_MAX_PASSWORD_LEN).is_ok());
/// assert!(check_password("", DEFAULT_MAX_PASSWORD_LEN).is_err());
/// assert!(check_password(&"x".repeat(5_000), DEFAULT_MAX_PASSWORD_LEN).is_err());
/// ```
pub fn check_password(password: &str, max_len: usize) -> Result<()> {
    if password.is_empty() {
        return Err(Error::InvalidInput("password is empty"));
    }
    if password.len() > max_len {
        return Err(Error::InvalidInput("password is too long"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: std::result::Result<&str, &str>) {
        let got = LoginEmail::parse(input);
        match (got, expected) {
            (Ok(e), Ok(want)) => assert_eq!(e.as_str(), want, "{input:?}"),
            (Err(Error::InvalidInput(msg)), Err(want)) => assert_eq!(msg, want, "{input:?}"),
            (got, want) => panic!("{input:?}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn emails() {
        let long_local = format!("{}@example.org", "a".repeat(65));
        let max = format!(
            "{}@{}.org",
            "a".repeat(64),
            "b".repeat(MAX_EMAIL_LEN - 64 - 5)
        );
        let over = format!(
            "{}@{}.org",
            "a".repeat(64),
            "b".repeat(MAX_EMAIL_LEN - 64 - 4)
        );
        let huge = "a".repeat(1 << 16);
        check("ada@example.org", Ok("ada@example.org"));
        check("  ADA@Example.Org\n", Ok("ada@example.org"));
        check("\"odd@local\"@example.org", Ok("\"odd@local\"@example.org"));
        check("élodie@exemple.fr", Ok("élodie@exemple.fr"));
        check(&max, Ok(max.as_str()));
        check("", Err("e-mail address is empty"));
        check("   ", Err("e-mail address is empty"));
        check(&over, Err("e-mail address is too long"));
        check(&huge, Err("e-mail address is too long"));
        check("ada", Err("e-mail address is malformed"));
        check("@example.org", Err("e-mail address is malformed"));
        check("ada@", Err("e-mail address is malformed"));
        check("ada@.org", Err("e-mail address is malformed"));
        check("ada@example.", Err("e-mail address is malformed"));
        check("a da@example.org", Err("e-mail address is malformed"));
        check("ada@exa\u{0}mple.org", Err("e-mail address is malformed"));
        check("ada@exa\u{85}mple.org", Err("e-mail address is malformed"));
        check(&long_local, Err("e-mail address is malformed"));
    }

    #[test]
    fn debug_hides_the_local_part() {
        let e = LoginEmail::parse("secret.person@example.org").unwrap_or_else(|_| unreachable!());
        let dbg = format!("{e:?}");
        assert!(!dbg.contains("secret"), "{dbg}");
        assert!(dbg.contains("example.org"), "{dbg}");
    }

    #[test]
    fn passwords() {
        assert!(check_password("x", 1).is_ok());
        assert!(matches!(
            check_password("xy", 1),
            Err(Error::InvalidInput("password is too long"))
        ));
        assert!(matches!(
            check_password("", 8),
            Err(Error::InvalidInput("password is empty"))
        ));
    }
}
