//! The `phone` rule and E.164 conversion.
//!
//! Without a numbering-plan database (libphonenumber's metadata is megabytes),
//! this checks the E.164 *shape*: `+`, a country calling code, at most 15 digits.
//! National numbers need a configured default calling code.

use crate::{AsText, Violation};

/// Options of [`phone`] and [`normalize::phone`](crate::normalize::phone).
///
/// ```
/// use keel_validation::rules::{PhoneOptions, phone, phone::to_e164};
/// const US: PhoneOptions = PhoneOptions::new().default_calling_code(1);
/// assert_eq!(to_e164("(415) 555-2671", &US).unwrap(), "+14155552671");
/// const UK: PhoneOptions = PhoneOptions::new().default_calling_code(44);
/// assert_eq!(to_e164("020 7946 0018", &UK).unwrap(), "+442079460018");
/// assert!(phone("4155552671", &PhoneOptions::new()).is_err()); // no country
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhoneOptions {
    default_calling_code: Option<u16>,
    trunk_prefix: Option<u8>,
    min_digits: usize,
    max_digits: usize,
}

impl Default for PhoneOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl PhoneOptions {
    /// International format only (`+…` or `00…`), 8 to 15 digits including the
    /// calling code.
    pub const fn new() -> Self {
        Self {
            default_calling_code: None,
            trunk_prefix: None,
            min_digits: 8,
            max_digits: 15,
        }
    }

    /// Accept national numbers and prefix them with this calling code (`1`, `44`, `49`).
    /// Also sets the national trunk prefix that is dropped: `1` for NANP (code 1),
    /// `8` for Russia/Kazakhstan (7), none for Italy (39), `0` otherwise.
    #[must_use]
    pub const fn default_calling_code(mut self, code: u16) -> Self {
        self.default_calling_code = Some(code);
        self.trunk_prefix = match code {
            1 => Some(b'1'),
            7 => Some(b'8'),
            39 => None,
            _ => Some(b'0'),
        };
        self
    }

    /// Overrides the national trunk prefix digit (`None`: keep every digit).
    #[must_use]
    pub const fn trunk_prefix(mut self, digit: Option<u8>) -> Self {
        self.trunk_prefix = digit;
        self
    }

    /// Minimum digits including the calling code (default 8). A typical FastAPI service's
    /// "at least 10 digits" is `min_digits(10)`; it is not the default because it
    /// rejects valid numbers of small countries.
    #[must_use]
    pub const fn min_digits(mut self, n: usize) -> Self {
        self.min_digits = n;
        self
    }

    /// Maximum digits including the calling code (default and E.164 maximum: 15).
    #[must_use]
    pub const fn max_digits(mut self, n: usize) -> Self {
        self.max_digits = n;
        self
    }
}

/// Why a phone number is invalid: the `reason` param of `invalid_phone`.
///
/// ```
/// use keel_validation::rules::{PhoneOptions, phone::{PhoneReason, to_e164}};
/// assert_eq!(to_e164("020 7946 0018", &PhoneOptions::new()), Err(PhoneReason::MissingCountryCode));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PhoneReason {
    /// Characters other than digits, spaces, `-`, `.`, `(`, `)`, a leading `+`.
    InvalidChars,
    /// A national number while no default calling code is configured.
    MissingCountryCode,
    /// Fewer digits than the minimum.
    TooShort,
    /// More digits than the maximum (E.164: 15).
    TooLong,
    /// A calling code starting with 0.
    InvalidCountryCode,
}

impl PhoneReason {
    /// Stable code.
    pub const fn code(self) -> &'static str {
        match self {
            Self::InvalidChars => "invalid_chars",
            Self::MissingCountryCode => "missing_country_code",
            Self::TooShort => "too_short",
            Self::TooLong => "too_long",
            Self::InvalidCountryCode => "invalid_country_code",
        }
    }
    /// English message.
    pub const fn message(self) -> &'static str {
        match self {
            Self::InvalidChars => {
                "must be a phone number (digits, spaces, -, ., parentheses, leading +)"
            }
            Self::MissingCountryCode => {
                "must be an international phone number starting with + and the country code"
            }
            Self::TooShort => "is too short for a phone number",
            Self::TooLong => "is too long for a phone number (at most 15 digits)",
            Self::InvalidCountryCode => "has an invalid country code",
        }
    }
    fn violation(self, opts: &PhoneOptions) -> Violation {
        let v = Violation::new("invalid_phone", self.message()).with_param("reason", self.code());
        match self {
            Self::TooShort => v.with_param("min_digits", opts.min_digits),
            Self::TooLong => v.with_param("max_digits", opts.max_digits),
            _ => v,
        }
    }
}

/// Converts a phone number to E.164 (`+14155552671`).
///
/// Accepts `+` or `00` international prefixes, and national numbers when a default
/// calling code is configured. Separators ` -.()` are dropped; anything else
/// (letters, extensions) is rejected. Stops reading after 64 characters.
///
/// # Errors
/// The [`PhoneReason`].
pub fn to_e164(input: &str, opts: &PhoneOptions) -> Result<String, PhoneReason> {
    let p = plan(input, opts)?;
    let mut out = String::with_capacity(16);
    out.push('+');
    if let Some(cc) = p.cc {
        use std::fmt::Write as _;
        let _ = write!(out, "{cc}");
    }
    out.extend(p.rest.chars().filter(char::is_ascii_digit).skip(p.skip));
    Ok(out)
}

/// What [`to_e164`] would do, decided without allocating.
struct Plan<'a> {
    /// The input after the `+`, separators included.
    rest: &'a str,
    /// Leading digits to drop (`00`, a trunk prefix).
    skip: usize,
    /// Calling code to prepend (national numbers).
    cc: Option<u16>,
}

fn plan<'a>(input: &'a str, opts: &PhoneOptions) -> Result<Plan<'a>, PhoneReason> {
    let s = input.trim();
    let (international, rest) = match s.strip_prefix('+') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let mut count = 0usize;
    let mut first = [0u8; 3];
    for (i, c) in rest.chars().enumerate() {
        if i >= 64 {
            return Err(PhoneReason::TooLong);
        }
        match c {
            '0'..='9' => {
                if let Some(slot) = first.get_mut(count) {
                    *slot = c as u8;
                }
                count += 1;
            }
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return Err(PhoneReason::InvalidChars),
        }
    }
    let (skip, cc) = if international {
        (0, None)
    } else if count >= 2 && first[..2] == *b"00" {
        (2, None)
    } else {
        let Some(cc) = opts.default_calling_code else {
            return Err(PhoneReason::MissingCountryCode);
        };
        // NANP: drop the `1` only when it precedes a full 10-digit number.
        let strip = opts
            .trunk_prefix
            .is_some_and(|t| count > 0 && first[0] == t && (cc != 1 || count == 11));
        (usize::from(strip), Some(cc))
    };
    let (cc_digits, leading_zero) = match cc {
        Some(cc) => (cc.checked_ilog10().map_or(1, |l| l as usize + 1), cc == 0),
        None => (0, count > skip && first.get(skip) == Some(&b'0')),
    };
    let n = cc_digits + count.saturating_sub(skip);
    if leading_zero {
        return Err(PhoneReason::InvalidCountryCode);
    }
    if n < opts.min_digits {
        return Err(PhoneReason::TooShort);
    }
    if n > opts.max_digits {
        return Err(PhoneReason::TooLong);
    }
    Ok(Plan { rest, skip, cc })
}

/// A phone number that converts to E.164 under `opts` (see [`to_e164`]).
///
/// # Errors
/// `invalid_phone` with `reason` (and `min_digits` / `max_digits` when the length is wrong).
///
/// ```
/// use keel_validation::rules::{PhoneOptions, phone};
/// assert!(phone("+44 20 7946 0018", &PhoneOptions::new()).is_ok());
/// let v = phone("+1 555 CALL-NOW", &PhoneOptions::new()).unwrap_err();
/// assert_eq!(v.param("reason").and_then(|r| r.as_str()), Some("invalid_chars"));
/// ```
pub fn phone(value: &(impl AsText + ?Sized), opts: &PhoneOptions) -> Result<(), Violation> {
    let s = value.as_text();
    // Fast path: already E.164.
    if let Some(d) = s.strip_prefix('+')
        && (opts.min_digits..=opts.max_digits).contains(&d.len())
        && d.bytes().all(|b| b.is_ascii_digit())
        && !d.starts_with('0')
    {
        return Ok(());
    }
    plan(s, opts).map(|_| ()).map_err(|r| r.violation(opts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, opts: &PhoneOptions, expected: Result<&str, PhoneReason>) {
        assert_eq!(
            to_e164(input, opts).as_deref().map_err(|e| *e),
            expected,
            "{input:?}"
        );
    }

    #[test]
    fn table() {
        let intl = PhoneOptions::new();
        let us = PhoneOptions::new().default_calling_code(1);
        let de = PhoneOptions::new().default_calling_code(49);
        let it = PhoneOptions::new().default_calling_code(39);
        check("+1 (415) 555-2671", &intl, Ok("+14155552671"));
        check("0044 20 7946 0018", &intl, Ok("+442079460018"));
        check("415-555-2671", &intl, Err(PhoneReason::MissingCountryCode));
        check("415-555-2671", &us, Ok("+14155552671"));
        check("1 415 555 2671", &us, Ok("+14155552671"));
        check("030 123456", &de, Ok("+4930123456"));
        check("06 1234 5678", &it, Ok("+390612345678"));
        check("+1234", &intl, Err(PhoneReason::TooShort));
        check("+1234567890123456", &intl, Err(PhoneReason::TooLong));
        check("+0123456789", &intl, Err(PhoneReason::InvalidCountryCode));
        check(
            "+1 415 555 2671 ext 5",
            &intl,
            Err(PhoneReason::InvalidChars),
        );
        check(&"1".repeat(100_000), &us, Err(PhoneReason::TooLong));
        check(
            "+12345678",
            &intl.min_digits(10),
            Err(PhoneReason::TooShort),
        );
    }
}
