//! The `email` rule: syntax only (no DNS), following python-email-validator's policy.
//!
//! See `docs/validation.md` for the written-down policy and its divergences.

use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr};

use icu_properties::CodePointMapData;
use icu_properties::props::{GeneralCategory, GeneralCategoryGroup};
use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

use crate::{AsText, Violation};

/// Maximum length of a whole address in UTF-8 bytes (RFC 5321 4.5.3.1.3, RFC 3696 erratum 1690).
pub const EMAIL_MAX_BYTES: usize = 254;
/// Maximum length of a domain in octets (RFC 1035 2.3.4).
pub const DOMAIN_MAX_BYTES: usize = 253;
/// Maximum length of one DNS label in octets (RFC 1035 2.3.1).
pub const LABEL_MAX_BYTES: usize = 63;

/// Domains that can never receive mail on the public internet (RFC 6761, 6762, 7686).
pub const SPECIAL_USE_DOMAINS: &[&str] =
    &["arpa", "invalid", "local", "localhost", "onion", "test"];

/// Options of the [`email`] rule. The defaults are the written-down policy.
///
/// ```
/// use keel_validation::rules::{EmailOptions, email};
/// const LAB: EmailOptions = EmailOptions::new().allow_special_use_domains(true);
/// assert!(email("dev@box.test", &LAB).is_ok());
/// assert!(email("dev@box.test", &EmailOptions::new()).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmailOptions {
    allow_smtputf8: bool,
    allow_quoted_local: bool,
    allow_domain_literal: bool,
    require_dot: bool,
    allow_special_use: bool,
    max_local_chars: usize,
}

impl Default for EmailOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl EmailOptions {
    /// The default policy: international local parts and IDN domains allowed; no
    /// quoted local parts, no `[ip]` domain literals; the domain must contain a dot
    /// and a letter-final TLD; special-use domains rejected; local part ≤ 64 characters.
    pub const fn new() -> Self {
        Self {
            allow_smtputf8: true,
            allow_quoted_local: false,
            allow_domain_literal: false,
            require_dot: true,
            allow_special_use: false,
            max_local_chars: 64,
        }
    }
    /// Allow non-ASCII characters before the `@` (RFC 6531). Default `true`.
    #[must_use]
    pub const fn allow_smtputf8(mut self, yes: bool) -> Self {
        self.allow_smtputf8 = yes;
        self
    }
    /// Allow `"quoted local parts"@example.com`. Default `false`.
    #[must_use]
    pub const fn allow_quoted_local(mut self, yes: bool) -> Self {
        self.allow_quoted_local = yes;
        self
    }
    /// Allow `user@[192.0.2.1]` and `user@[IPv6:2001:db8::1]`. Default `false`.
    #[must_use]
    pub const fn allow_domain_literal(mut self, yes: bool) -> Self {
        self.allow_domain_literal = yes;
        self
    }
    /// Require a dot and a TLD ending in a letter (globally deliverable). Default `true`.
    #[must_use]
    pub const fn require_dot(mut self, yes: bool) -> Self {
        self.require_dot = yes;
        self
    }
    /// Accept `.test`, `.local`, `localhost`, … (for test environments). Default `false`.
    #[must_use]
    pub const fn allow_special_use_domains(mut self, yes: bool) -> Self {
        self.allow_special_use = yes;
        self
    }
    /// Maximum characters before the `@`. Default 64 (RFC 5321 4.5.3.1.1).
    #[must_use]
    pub const fn max_local_chars(mut self, n: usize) -> Self {
        self.max_local_chars = n;
        self
    }
}

/// Why an address is invalid: the `reason` param of an `invalid_email` violation.
///
/// ```
/// use keel_validation::rules::{EmailOptions, email::{EmailReason, check}};
/// assert_eq!(check("a..b@example.com", &EmailOptions::new()), Err(EmailReason::LocalDots));
/// assert_eq!(EmailReason::LocalDots.code(), "local_dots");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EmailReason {
    /// Empty input.
    Empty,
    /// No `@`.
    MissingAt,
    /// Nothing before the `@`.
    EmptyLocal,
    /// More than the allowed characters before the `@`.
    LocalTooLong,
    /// Characters not allowed before the `@`.
    LocalInvalidChars,
    /// A dot at the start or end of the local part, or two in a row.
    LocalDots,
    /// Non-ASCII before the `@` while `allow_smtputf8` is off.
    LocalNotAscii,
    /// A quoted local part while not allowed.
    QuotedLocalNotAllowed,
    /// A malformed quoted local part.
    QuotedLocalInvalid,
    /// Nothing after the `@`.
    EmptyDomain,
    /// The domain is longer than 253 octets (after IDNA encoding).
    DomainTooLong,
    /// A label is longer than 63 octets.
    LabelTooLong,
    /// Characters not allowed in a host name.
    DomainInvalidChars,
    /// Dots or hyphens in the wrong place.
    DomainDotsOrHyphens,
    /// Not valid IDNA (UTS #46, Punycode, Bidi rule).
    DomainInvalidIdna,
    /// No dot in the domain.
    DomainNoDot,
    /// The last label does not end with a letter.
    DomainInvalidTld,
    /// A special-use domain (`.test`, `.local`, …).
    DomainSpecialUse,
    /// A `[domain literal]` while not allowed.
    DomainLiteralNotAllowed,
    /// A malformed domain literal.
    DomainLiteralInvalid,
    /// Longer than 254 bytes.
    TooLong,
    /// Unsafe Unicode: controls, format characters, private use, unassigned,
    /// separators, or a combining mark at the start.
    UnsafeChars,
}

impl EmailReason {
    /// Stable code, e.g. `local_too_long`.
    pub const fn code(self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::MissingAt => "missing_at",
            Self::EmptyLocal => "empty_local",
            Self::LocalTooLong => "local_too_long",
            Self::LocalInvalidChars => "local_invalid_chars",
            Self::LocalDots => "local_dots",
            Self::LocalNotAscii => "local_not_ascii",
            Self::QuotedLocalNotAllowed => "quoted_local_not_allowed",
            Self::QuotedLocalInvalid => "quoted_local_invalid",
            Self::EmptyDomain => "empty_domain",
            Self::DomainTooLong => "domain_too_long",
            Self::LabelTooLong => "label_too_long",
            Self::DomainInvalidChars => "domain_invalid_chars",
            Self::DomainDotsOrHyphens => "domain_dots_or_hyphens",
            Self::DomainInvalidIdna => "domain_invalid_idna",
            Self::DomainNoDot => "domain_no_dot",
            Self::DomainInvalidTld => "domain_invalid_tld",
            Self::DomainSpecialUse => "domain_special_use",
            Self::DomainLiteralNotAllowed => "domain_literal_not_allowed",
            Self::DomainLiteralInvalid => "domain_literal_invalid",
            Self::TooLong => "too_long",
            Self::UnsafeChars => "unsafe_chars",
        }
    }

    /// English explanation.
    pub const fn message(self) -> &'static str {
        match self {
            Self::Empty => "must be an email address",
            Self::MissingAt => "must be an email address with an @-sign",
            Self::EmptyLocal => "must have something before the @-sign",
            Self::LocalTooLong => "is too long before the @-sign",
            Self::LocalInvalidChars => "contains invalid characters before the @-sign",
            Self::LocalDots => {
                "cannot start or end with a period or have two periods in a row before the @-sign"
            }
            Self::LocalNotAscii => "must only use ASCII characters before the @-sign",
            Self::QuotedLocalNotAllowed => "cannot have a quoted part before the @-sign",
            Self::QuotedLocalInvalid => "has an invalid quoted part before the @-sign",
            Self::EmptyDomain => "must have a domain after the @-sign",
            Self::DomainTooLong => "is too long after the @-sign",
            Self::LabelTooLong => "has a domain label longer than 63 characters",
            Self::DomainInvalidChars => "contains invalid characters after the @-sign",
            Self::DomainDotsOrHyphens => {
                "has periods or hyphens in the wrong place after the @-sign"
            }
            Self::DomainInvalidIdna => "has an invalid internationalized domain",
            Self::DomainNoDot => "must have a period in the domain",
            Self::DomainInvalidTld => "does not have a valid top-level domain",
            Self::DomainSpecialUse => "uses a special-use domain that cannot receive email",
            Self::DomainLiteralNotAllowed => "cannot use an IP address as domain",
            Self::DomainLiteralInvalid => "has an invalid IP address as domain",
            Self::TooLong => "is too long (at most 254 bytes)",
            Self::UnsafeChars => "contains unsafe characters",
        }
    }

    /// The `invalid_email` violation for this reason.
    pub fn violation(self) -> Violation {
        Violation::new("invalid_email", self.message()).with_param("reason", self.code())
    }
}

/// Checks an email address against `opts` (syntax only; no DNS).
///
/// The value is checked in Unicode NFC form, so a value that passes stays valid
/// after [`normalize::email`](crate::normalize::email). Work is bounded: inputs
/// longer than the maximum are rejected before any Unicode processing.
///
/// # Errors
/// `invalid_email` with a `reason` param (see [`EmailReason`]).
///
/// ```
/// use keel_validation::rules::{EmailOptions, email};
/// let opts = EmailOptions::new();
/// assert!(email("ada@example.com", &opts).is_ok());
/// assert!(email("jeff@臺網中心.tw", &opts).is_ok());
/// let v = email("ada@example", &opts).unwrap_err();
/// assert_eq!(v.code(), "invalid_email");
/// assert_eq!(v.param("reason").and_then(|r| r.as_str()), Some("domain_no_dot"));
/// ```
pub fn email(value: &(impl AsText + ?Sized), opts: &EmailOptions) -> Result<(), Violation> {
    check(value.as_text(), opts).map_err(EmailReason::violation)
}

/// Checks an address without building anything: the allocation-free core of
/// [`email`] (an ASCII address in lowercase allocates nothing).
///
/// ```
/// use keel_validation::rules::{EmailOptions, email::check};
/// assert!(check("ada@example.com", &EmailOptions::new()).is_ok());
/// ```
///
/// # Errors
/// The [`EmailReason`] of the first problem found.
pub fn check(input: &str, opts: &EmailOptions) -> Result<(), EmailReason> {
    if fast_ascii_ok(input.as_bytes(), opts) {
        return Ok(());
    }
    let nfc = pre_check(input)?;
    check_nfc(&nfc, opts).map(|_| ())
}

/// A syntactically valid address, split, with its domain in both forms.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParsedEmail {
    /// The part before the `@`, NFC-normalized.
    pub local: String,
    /// The domain as given (NFC).
    pub domain: String,
    /// The domain in IDNA ASCII form, lowercase (`xn--…`), or the literal.
    pub ascii_domain: String,
}

/// Parses and checks an address.
///
/// # Errors
/// The [`EmailReason`] of the first problem found.
///
/// ```
/// use keel_validation::rules::{EmailOptions, email::parse};
/// let p = parse("me@Bücher.de", &EmailOptions::new()).unwrap();
/// assert_eq!(p.ascii_domain, "xn--bcher-kva.de");
/// ```
pub fn parse(input: &str, opts: &EmailOptions) -> Result<ParsedEmail, EmailReason> {
    let nfc = pre_check(input)?;
    let (local, domain, ascii) = check_nfc(&nfc, opts)?;
    Ok(ParsedEmail {
        local: local.to_owned(),
        domain: domain.to_owned(),
        ascii_domain: ascii.into_owned(),
    })
}

/// One pass over the common case: an ASCII dot-atom address whose domain has no
/// Punycode label. `true` means valid under `opts`; `false` means "not decided
/// here" and the general path runs (and finds the precise reason).
///
/// Each byte costs one table load and a few flag updates, with no branch per
/// byte besides the separators (this runs on every valid signup payload).
fn fast_ascii_ok(s: &[u8], opts: &EmailOptions) -> bool {
    if s.len() > EMAIL_MAX_BYTES {
        return false;
    }
    // Local part: atext runs separated by single dots. A second `@` is not atext,
    // so stopping at the first `@` decides the same as splitting at the last one.
    let mut ok = true;
    let mut prev_dot = true;
    let mut at = None;
    for (i, &b) in s.iter().enumerate() {
        if b == b'@' {
            at = Some(i);
            break;
        }
        let dot = b == b'.';
        ok &= (CLASS[usize::from(b)] & ATEXT_BIT != 0) | dot;
        ok &= !(dot & prev_dot);
        prev_dot = dot;
    }
    let Some(at) = at else {
        return false;
    };
    let domain = &s[at + 1..];
    if !ok
        || prev_dot
        || at == 0
        || at > opts.max_local_chars
        || domain.is_empty()
        || domain.len() > DOMAIN_MAX_BYTES
    {
        return false;
    }
    // Domain: labels of letters, digits and inner hyphens, no `xn--`-style label.
    let mut labels = 0usize;
    let mut start = 0usize;
    let label_ok = |label: &[u8]| {
        let n = label.len();
        n != 0
            && n <= LABEL_MAX_BYTES
            && label[0] != b'-'
            && label[n - 1] != b'-'
            && !(n >= 4 && label[2] == b'-' && label[3] == b'-')
    };
    for (i, &b) in domain.iter().enumerate() {
        if b == b'.' {
            if !label_ok(&domain[start..i]) {
                return false;
            }
            labels += 1;
            start = i + 1;
        } else {
            ok &= CLASS[usize::from(b)] & LABEL_BIT != 0;
        }
    }
    let last = &domain[start..];
    if !ok || !label_ok(last) {
        return false;
    }
    labels += 1;
    if opts.require_dot && (labels < 2 || !last[last.len() - 1].is_ascii_alphabetic()) {
        return false;
    }
    // Special-use names are 4 to 9 letters; most TLDs are not, or differ at once.
    if !opts.allow_special_use
        && (4..=9).contains(&last.len())
        && SPECIAL_USE_DOMAINS
            .iter()
            .any(|d| last.eq_ignore_ascii_case(d.as_bytes()))
    {
        return false;
    }
    true
}

/// Length and raw-character checks, then NFC (borrowed when already NFC).
fn pre_check(input: &str) -> Result<Cow<'_, str>, EmailReason> {
    if input.is_empty() {
        return Err(EmailReason::Empty);
    }
    // Bounded work: nothing longer than the maximum is worth Unicode processing.
    if input.len() > EMAIL_MAX_BYTES {
        return Err(if input.contains('@') {
            EmailReason::TooLong
        } else {
            EmailReason::MissingAt
        });
    }
    if input.is_ascii() {
        return Ok(Cow::Borrowed(input));
    }
    // Check the ASCII characters of the local part *before* NFC: `<` + U+0338
    // composes to `≮`, which would otherwise smuggle a `<` past the check.
    if !input.starts_with('"')
        && let Some(at) = input.rfind('@')
        && input[..at]
            .bytes()
            .any(|b| b.is_ascii() && b != b'.' && !is_atext(b))
    {
        return Err(EmailReason::LocalInvalidChars);
    }
    Ok(if is_nfc_quick(input.chars()) == IsNormalized::Yes {
        Cow::Borrowed(input)
    } else {
        Cow::Owned(input.nfc().collect())
    })
}

/// Checks an NFC address; returns local part, domain and ASCII domain.
fn check_nfc<'s>(
    nfc: &'s str,
    opts: &EmailOptions,
) -> Result<(&'s str, &'s str, Cow<'s, str>), EmailReason> {
    let (local, domain) = split(nfc, opts)?;
    check_local(local, opts)?;
    let ascii: Cow<'s, str> = if domain.starts_with('[') {
        check_literal(domain, opts)?;
        Cow::Borrowed(domain)
    } else {
        check_domain(domain, opts)?
    };
    if nfc.len() > EMAIL_MAX_BYTES || local.len() + 1 + ascii.len() > EMAIL_MAX_BYTES {
        return Err(EmailReason::TooLong);
    }
    Ok((local, domain, ascii))
}

fn split<'s>(s: &'s str, opts: &EmailOptions) -> Result<(&'s str, &'s str), EmailReason> {
    if s.starts_with('"') {
        if !opts.allow_quoted_local {
            return Err(EmailReason::QuotedLocalNotAllowed);
        }
        let end = quoted_end(s).ok_or(EmailReason::QuotedLocalInvalid)?;
        let (local, rest) = s.split_at(end);
        return match rest.strip_prefix('@') {
            Some(domain) => Ok((local, domain)),
            None if rest.is_empty() => Err(EmailReason::MissingAt),
            None => Err(EmailReason::QuotedLocalInvalid),
        };
    }
    match s.rfind('@') {
        Some(i) => Ok((&s[..i], &s[i + 1..])),
        None => Err(EmailReason::MissingAt),
    }
}

/// Byte index just past the closing quote of a leading quoted string.
fn quoted_end(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            return Some(i + 1);
        }
    }
    None
}

/// `atext` of RFC 5322 as a lookup table.
static ATEXT: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        // `i < 256`, so the cast is exact.
        #[allow(clippy::cast_possible_truncation)]
        let b = i as u8;
        t[i] = is_atext_slow(b);
        i += 1;
    }
    t
};

#[inline]
fn is_atext(b: u8) -> bool {
    ATEXT[usize::from(b)]
}

/// [`CLASS`] bit: `atext` of RFC 5322.
const ATEXT_BIT: u8 = 1;
/// [`CLASS`] bit: a DNS label character (ASCII letter, digit, `-`).
const LABEL_BIT: u8 = 2;

/// Byte classes for [`fast_ascii_ok`]'s single pass.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        // `i < 256`, so the cast is exact.
        #[allow(clippy::cast_possible_truncation)]
        let b = i as u8;
        if is_atext_slow(b) {
            t[i] |= ATEXT_BIT;
        }
        if b.is_ascii_alphanumeric() || b == b'-' {
            t[i] |= LABEL_BIT;
        }
        i += 1;
    }
    t
};

const fn is_atext_slow(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'/'
                | b'='
                | b'?'
                | b'^'
                | b'_'
                | b'`'
                | b'{'
                | b'|'
                | b'}'
                | b'~'
        )
}

fn check_local(local: &str, opts: &EmailOptions) -> Result<(), EmailReason> {
    if local.is_empty() {
        return Err(EmailReason::EmptyLocal);
    }
    if local.chars().take(opts.max_local_chars + 1).count() > opts.max_local_chars {
        return Err(EmailReason::LocalTooLong);
    }
    if local.starts_with('"') {
        return check_quoted_local(local, opts);
    }
    let mut ascii = true;
    for c in local.chars() {
        if c.is_ascii() {
            if c != '.' && !is_atext(c as u8) {
                return Err(EmailReason::LocalInvalidChars);
            }
        } else {
            ascii = false;
        }
    }
    if !ascii && !opts.allow_smtputf8 {
        return Err(EmailReason::LocalNotAscii);
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(EmailReason::LocalDots);
    }
    if !ascii {
        check_unsafe_chars(local, false)?;
    }
    Ok(())
}

fn check_quoted_local(local: &str, opts: &EmailOptions) -> Result<(), EmailReason> {
    let inner = &local[1..local.len() - 1];
    if inner.is_empty() {
        return Err(EmailReason::QuotedLocalInvalid);
    }
    let mut escaped = false;
    let mut ascii = true;
    for c in inner.chars() {
        if escaped {
            if !(' '..='~').contains(&c) && c.is_ascii() {
                return Err(EmailReason::QuotedLocalInvalid);
            }
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '"' => return Err(EmailReason::QuotedLocalInvalid),
            ' '..='~' => {}
            c if c.is_ascii() => return Err(EmailReason::QuotedLocalInvalid),
            _ => ascii = false,
        }
    }
    if !ascii && !opts.allow_smtputf8 {
        return Err(EmailReason::LocalNotAscii);
    }
    if !ascii {
        check_unsafe_chars(inner, true)?;
    }
    Ok(())
}

/// Rejects characters that are legal in the specs but unsafe or not sensible:
/// separators (other than spaces in quotes), controls, format characters
/// (bidi overrides, zero-width), surrogates, private use, unassigned, and a
/// combining mark at the start (it would combine with text outside the address).
fn check_unsafe_chars(s: &str, allow_space: bool) -> Result<(), EmailReason> {
    let gc = CodePointMapData::<GeneralCategory>::new();
    for (i, c) in s.chars().enumerate() {
        let cat = gc.get(c);
        let ok = if GeneralCategoryGroup::Letter.contains(cat)
            || GeneralCategoryGroup::Number.contains(cat)
            || GeneralCategoryGroup::Punctuation.contains(cat)
            || GeneralCategoryGroup::Symbol.contains(cat)
        {
            true
        } else if GeneralCategoryGroup::Mark.contains(cat) {
            i != 0
        } else if cat == GeneralCategory::SpaceSeparator {
            allow_space
        } else {
            false
        };
        if !ok {
            return Err(EmailReason::UnsafeChars);
        }
    }
    Ok(())
}

fn check_literal(domain: &str, opts: &EmailOptions) -> Result<(), EmailReason> {
    if !opts.allow_domain_literal {
        return Err(EmailReason::DomainLiteralNotAllowed);
    }
    let inner = domain
        .strip_prefix('[')
        .and_then(|d| d.strip_suffix(']'))
        .ok_or(EmailReason::DomainLiteralInvalid)?;
    let ok = match inner.get(..5) {
        Some(tag) if tag.eq_ignore_ascii_case("ipv6:") => inner[5..].parse::<Ipv6Addr>().is_ok(),
        _ => inner.parse::<Ipv4Addr>().is_ok(),
    };
    if ok {
        Ok(())
    } else {
        Err(EmailReason::DomainLiteralInvalid)
    }
}

fn is_host_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '.' || !c.is_ascii()
}

/// Checks the domain and returns its IDNA ASCII form (lowercase).
fn check_domain<'d>(domain: &'d str, opts: &EmailOptions) -> Result<Cow<'d, str>, EmailReason> {
    if domain.is_empty() {
        return Err(EmailReason::EmptyDomain);
    }
    if domain.len() > DOMAIN_MAX_BYTES
        && domain.chars().take(DOMAIN_MAX_BYTES + 1).count() > DOMAIN_MAX_BYTES
    {
        return Err(EmailReason::DomainTooLong);
    }
    if !domain.chars().all(is_host_char) {
        return Err(EmailReason::DomainInvalidChars);
    }
    let ascii: Cow<'d, str> = if domain.is_ascii() && !has_punycode(domain) {
        check_ascii_labels(domain)?;
        if domain.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(domain.to_ascii_lowercase())
        } else {
            Cow::Borrowed(domain)
        }
    } else {
        if !domain.is_ascii() {
            check_unsafe_chars(domain, false)?;
        }
        // UTS #46 mapping (case fold, NFC, full-width dots), Punycode, CheckBidi,
        // CheckJoiners; STD3 rules reject anything but letters, digits and hyphens.
        let ascii = Uts46::new()
            .to_ascii(
                domain.as_bytes(),
                AsciiDenyList::STD3,
                Hyphens::Allow,
                DnsLength::Ignore,
            )
            .map_err(|_| EmailReason::DomainInvalidIdna)?;
        check_ascii_labels(&ascii)?;
        if has_punycode(&ascii) {
            // A label that looks like Punycode must round-trip (no fake `xn--`).
            let (_, result) =
                Uts46::new().to_unicode(ascii.as_bytes(), AsciiDenyList::STD3, Hyphens::Allow);
            result.map_err(|_| EmailReason::DomainInvalidIdna)?;
        }
        Cow::Owned(ascii.into_owned())
    };
    if ascii.len() > DOMAIN_MAX_BYTES {
        return Err(EmailReason::DomainTooLong);
    }
    if opts.require_dot {
        if !ascii.contains('.') {
            return Err(EmailReason::DomainNoDot);
        }
        if !ascii
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphabetic())
        {
            return Err(EmailReason::DomainInvalidTld);
        }
    }
    if !opts.allow_special_use {
        let last = ascii.rsplit('.').next().unwrap_or_default();
        if SPECIAL_USE_DOMAINS
            .iter()
            .any(|d| last.eq_ignore_ascii_case(d))
        {
            return Err(EmailReason::DomainSpecialUse);
        }
    }
    Ok(ascii)
}

fn has_punycode(domain: &str) -> bool {
    domain
        .split('.')
        .any(|l| l.len() >= 4 && l[..4].eq_ignore_ascii_case("xn--"))
}

/// Dot, hyphen, length and R-LDH rules on an ASCII domain.
fn check_ascii_labels(domain: &str) -> Result<(), EmailReason> {
    if domain.starts_with('.') || domain.ends_with('.') || domain.contains("..") {
        return Err(EmailReason::DomainDotsOrHyphens);
    }
    for label in domain.split('.') {
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(EmailReason::DomainInvalidChars);
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(EmailReason::DomainDotsOrHyphens);
        }
        // RFC 5890 reserved LDH labels: `??--` except Punycode `xn--`.
        if label.len() >= 4 && &label[2..4] == "--" && !label[..2].eq_ignore_ascii_case("xn") {
            return Err(EmailReason::DomainDotsOrHyphens);
        }
        if label.len() > LABEL_MAX_BYTES {
            return Err(EmailReason::LabelTooLong);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(input: &str, expected: Result<(), EmailReason>) {
        assert_eq!(check(input, &EmailOptions::new()), expected, "{input:?}");
    }

    #[test]
    fn table() {
        case("a@example.com", Ok(()));
        case("A.B+c@Sub.Example.COM", Ok(()));
        case("", Err(EmailReason::Empty));
        case("no-at", Err(EmailReason::MissingAt));
        case("@example.com", Err(EmailReason::EmptyLocal));
        case("a@", Err(EmailReason::EmptyDomain));
        case(".a@example.com", Err(EmailReason::LocalDots));
        case("a..b@example.com", Err(EmailReason::LocalDots));
        case("a b@example.com", Err(EmailReason::LocalInvalidChars));
        case("a@-x.com", Err(EmailReason::DomainDotsOrHyphens));
        case("a@ab--c.com", Err(EmailReason::DomainDotsOrHyphens));
        case("a@example", Err(EmailReason::DomainNoDot));
        case("a@example.c0m1", Err(EmailReason::DomainInvalidTld));
        case("a@x.localhost", Err(EmailReason::DomainSpecialUse));
        case("a@mytest.com", Ok(()));
        case("\"a\"@example.com", Err(EmailReason::QuotedLocalNotAllowed));
        case("a@[127.0.0.1]", Err(EmailReason::DomainLiteralNotAllowed));
        case(
            &format!("{}@example.com", "a".repeat(65)),
            Err(EmailReason::LocalTooLong),
        );
        case(
            &format!("a@{}.com", "b".repeat(64)),
            Err(EmailReason::LabelTooLong),
        );
        case(&"a".repeat(1_000_000), Err(EmailReason::MissingAt));
        case("a\u{202e}b@example.com", Err(EmailReason::UnsafeChars));
        case("a@b\u{0}.com", Err(EmailReason::DomainInvalidChars));
    }

    proptest::proptest! {
        /// The single-pass fast path only accepts what the general path accepts,
        /// under the default options and the permissive ones.
        #[test]
        fn fast_path_agrees(s in "[a-zA-Z0-9.@+_-]{0,12}(@|\\.)[a-zA-Z0-9.-]{0,12}(\\.(com|test|LOCAL|x1|xn--a|a-))?") {
            for opts in [
                EmailOptions::new(),
                EmailOptions::new().allow_special_use_domains(true).require_dot(false),
                EmailOptions::new().max_local_chars(3),
            ] {
                if fast_ascii_ok(s.as_bytes(), &opts) {
                    let general = pre_check(&s).and_then(|nfc| check_nfc(&nfc, &opts).map(|_| ()));
                    proptest::prop_assert_eq!(general, Ok(()), "{:?}", s);
                }
            }
        }
    }

    #[test]
    fn options() {
        let o = EmailOptions::new()
            .allow_quoted_local(true)
            .allow_domain_literal(true);
        assert!(parse("\"a b\"@example.com", &o).is_ok());
        assert!(parse("a@[IPv6:2001:db8::1]", &o).is_ok());
        assert!(parse("a@[1.2.3.4]", &o).is_ok());
        assert!(parse("a@[1.2.3.999]", &o).is_err());
        let ascii = EmailOptions::new().allow_smtputf8(false);
        assert_eq!(
            parse("ñ@example.com", &ascii).map(|_| ()),
            Err(EmailReason::LocalNotAscii)
        );
    }
}
