//! The rules: plain functions returning `Result<(), Violation>`, usable by hand
//! and called by the derive macro.
//!
//! | rule | code(s) | params |
//! |---|---|---|
//! | [`required`] | `required` | |
//! | [`length`] | `too_short`, `too_long`, `wrong_length` | `min`, `max`, `equal`, `unit` |
//! | [`range`] | `too_small`, `too_large` | `min`, `max`, `exclusive_min`, `exclusive_max` |
//! | [`regex()`] | `pattern_mismatch` | |
//! | [`username`] | `invalid_username` | `min`, `max` |
//! | [`email()`] | `invalid_email` | `reason` |
//! | [`phone()`] | `invalid_phone` | `reason` |
//! | [`url()`] | `invalid_url` | `reason`, `schemes` |
//! | [`one_of`] | `not_one_of` | `allowed` |
//! | [`no_control_chars`] | `control_chars` | |
//! | [`must_match`] | `mismatch` | `other` |
//! | [`items`] | `too_few_items`, `too_many_items` | `min`, `max` |
//! | [`PasswordPolicy`](crate::PasswordPolicy) | `password_*` | see the policy |
//!
//! No violation ever contains the submitted value.

pub mod email;
pub mod password;
pub mod phone;
mod url;

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use unicode_segmentation::UnicodeSegmentation;

pub use self::email::{EmailOptions, email};
pub use self::phone::{PhoneOptions, phone};
pub use self::url::{UrlOptions, url};
use crate::{AsText, Value, Violation};

/// `None` is a `required` violation.
///
/// # Errors
/// `required` when `value` is `None`.
///
/// ```
/// use keel_validation::rules::required;
/// assert!(required(&Some(1)).is_ok());
/// assert_eq!(required(&None::<u8>).unwrap_err().code(), "required");
/// ```
pub fn required<T>(value: &Option<T>) -> Result<(), Violation> {
    match value {
        Some(_) => Ok(()),
        None => Err(Violation::new("required", "is required")),
    }
}

/// What [`length`] counts.
///
/// ```
/// use keel_validation::rules::{Length, LengthUnit, length};
/// let one = Length::new().equal(1);
/// assert!(length("é", &one.unit(LengthUnit::Chars)).is_ok());
/// assert!(length("é", &one.unit(LengthUnit::Bytes)).is_err()); // 2 bytes
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LengthUnit {
    /// Unicode scalar values (Rust `char`s). The default: what pydantic's
    /// `max_length` and most users mean.
    #[default]
    Chars,
    /// UTF-8 bytes: what a database `VARCHAR(n)` in bytes limits.
    Bytes,
    /// Extended grapheme clusters: what a user perceives as characters (`👍🏽` is 1).
    Graphemes,
}

impl LengthUnit {
    const fn noun(self, n: usize) -> &'static str {
        match (self, n == 1) {
            (Self::Chars | Self::Graphemes, false) => "characters",
            (Self::Chars | Self::Graphemes, true) => "character",
            (Self::Bytes, false) => "bytes",
            (Self::Bytes, true) => "byte",
        }
    }
    const fn code(self) -> &'static str {
        match self {
            Self::Chars => "chars",
            Self::Bytes => "bytes",
            Self::Graphemes => "graphemes",
        }
    }
}

/// Options of [`length`]: `min`, `max` and/or `equal`, and the unit.
///
/// ```
/// use keel_validation::rules::{Length, LengthUnit, length};
/// const NAME: Length = Length::new().min(1).max(50);
/// assert!(length("Ada", &NAME).is_ok());
/// const EMOJI: Length = Length::new().max(1).unit(LengthUnit::Graphemes);
/// assert!(length("👍🏽", &EMOJI).is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Length {
    min: Option<usize>,
    max: Option<usize>,
    equal: Option<usize>,
    unit: LengthUnit,
}

impl Length {
    /// No bounds, counting chars.
    pub const fn new() -> Self {
        Self {
            min: None,
            max: None,
            equal: None,
            unit: LengthUnit::Chars,
        }
    }
    /// At least `n`.
    #[must_use]
    pub const fn min(mut self, n: usize) -> Self {
        self.min = Some(n);
        self
    }
    /// At most `n`.
    #[must_use]
    pub const fn max(mut self, n: usize) -> Self {
        self.max = Some(n);
        self
    }
    /// Exactly `n`.
    #[must_use]
    pub const fn equal(mut self, n: usize) -> Self {
        self.equal = Some(n);
        self
    }
    /// What to count.
    #[must_use]
    pub const fn unit(mut self, unit: LengthUnit) -> Self {
        self.unit = unit;
        self
    }
}

/// Counts `s` in `unit`, stopping once past `cap` (bounded work on huge inputs).
fn count(s: &str, unit: LengthUnit, cap: usize) -> usize {
    match unit {
        LengthUnit::Bytes => s.len(),
        // A char is at least one byte, so a short string is short in chars too.
        LengthUnit::Chars if s.len() <= cap => s.chars().count(),
        LengthUnit::Chars => s.chars().take(cap.saturating_add(1)).count(),
        LengthUnit::Graphemes => s.graphemes(true).take(cap.saturating_add(1)).count(),
    }
}

/// Text length within bounds.
///
/// # Errors
/// `too_short` (`min`), `too_long` (`max`) or `wrong_length` (`equal`), with `unit`.
///
/// ```
/// use keel_validation::rules::{Length, length};
/// let v = length("a", &Length::new().min(2)).unwrap_err();
/// assert_eq!((v.code(), v.message()), ("too_short", "must be at least 2 characters"));
/// ```
pub fn length(value: &(impl AsText + ?Sized), opts: &Length) -> Result<(), Violation> {
    let s = value.as_text();
    // A char is 1 to 4 bytes, so the byte length alone often proves both bounds
    // (`Ada` against `min = 1, max = 50`): no need to count.
    if opts.unit == LengthUnit::Chars
        && opts.equal.is_none()
        && opts.max.is_none_or(|max| s.len() <= max)
        && opts.min.is_none_or(|min| s.len().div_ceil(4) >= min)
    {
        return Ok(());
    }
    let cap = opts
        .equal
        .or(opts.max)
        .unwrap_or(usize::MAX)
        .max(opts.min.unwrap_or(0));
    let n = count(s, opts.unit, cap);
    if let Some(eq) = opts.equal
        && n != eq
    {
        return Err(Violation::new(
            "wrong_length",
            bound_message("must be exactly ", eq, opts.unit.noun(eq)),
        )
        .with_param("equal", eq)
        .with_unit(opts.unit));
    }
    if let Some(min) = opts.min
        && n < min
    {
        return Err(Violation::new(
            "too_short",
            bound_message("must be at least ", min, opts.unit.noun(min)),
        )
        .with_param("min", min)
        .with_unit(opts.unit));
    }
    if let Some(max) = opts.max
        && n > max
    {
        return Err(Violation::new(
            "too_long",
            bound_message("must be at most ", max, opts.unit.noun(max)),
        )
        .with_param("max", max)
        .with_unit(opts.unit));
    }
    Ok(())
}

/// `{prefix}{n} {noun}` in one allocation of the right size, without the formatting
/// machinery (this runs once per length error, on the invalid-payload path).
fn bound_message(prefix: &str, n: usize, noun: &str) -> String {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n;
    loop {
        at -= 1;
        // `rest % 10` is a single decimal digit.
        digits[at] = b'0' + u8::try_from(rest % 10).unwrap_or(0);
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let digits = std::str::from_utf8(&digits[at..]).unwrap_or("0");
    let mut out = String::with_capacity(prefix.len() + digits.len() + 1 + noun.len());
    out.push_str(prefix);
    out.push_str(digits);
    out.push(' ');
    out.push_str(noun);
    out
}

trait WithUnit {
    fn with_unit(self, unit: LengthUnit) -> Self;
}

impl WithUnit for Violation {
    /// The `unit` param, only when not the default (`chars`).
    fn with_unit(self, unit: LengthUnit) -> Self {
        if unit == LengthUnit::Chars {
            self
        } else {
            self.with_param("unit", unit.code())
        }
    }
}

/// A number usable in [`range`] (every primitive integer and float).
pub trait RangeValue: PartialOrd + Copy {
    /// The number as a param value.
    fn to_value(self) -> Value;
}

macro_rules! range_value {
    ($($t:ty => $conv:expr),* $(,)?) => {$(
        impl RangeValue for $t {
            fn to_value(self) -> Value {
                #[allow(clippy::redundant_closure_call)]
                ($conv)(self)
            }
        }
    )*};
}
range_value!(
    u8 => Value::from, u16 => Value::from, u32 => Value::from, u64 => Value::from,
    usize => Value::from, i8 => Value::from, i16 => Value::from, i32 => Value::from,
    i64 => Value::from,
    isize => |v: isize| Value::from(i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })),
    u128 => |v: u128| Value::from(u64::try_from(v).unwrap_or(u64::MAX)),
    i128 => |v: i128| Value::from(i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })),
    f64 => Value::from,
    f32 => |v: f32| Value::from(f64::from(v)),
);

/// Bounds of [`range`]. Inclusive `min`/`max`, exclusive `gt`/`lt`.
///
/// ```
/// use keel_validation::rules::{Range, range};
/// assert!(range(&5, &Range::new().min(1).max(10)).is_ok());
/// assert_eq!(range(&0.0, &Range::new().gt(0.0)).unwrap_err().code(), "too_small");
/// assert!(range(&f64::NAN, &Range::new().min(0.0)).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range<T> {
    min: Option<T>,
    max: Option<T>,
    gt: Option<T>,
    lt: Option<T>,
}

impl<T> Default for Range<T> {
    fn default() -> Self {
        Self {
            min: None,
            max: None,
            gt: None,
            lt: None,
        }
    }
}

impl<T: Copy> Range<T> {
    /// Unbounded.
    pub const fn new() -> Self {
        Self {
            min: None,
            max: None,
            gt: None,
            lt: None,
        }
    }
    /// `value >= n`.
    #[must_use]
    pub const fn min(mut self, n: T) -> Self {
        self.min = Some(n);
        self
    }
    /// `value <= n`.
    #[must_use]
    pub const fn max(mut self, n: T) -> Self {
        self.max = Some(n);
        self
    }
    /// `value > n`.
    #[must_use]
    pub const fn gt(mut self, n: T) -> Self {
        self.gt = Some(n);
        self
    }
    /// `value < n`.
    #[must_use]
    pub const fn lt(mut self, n: T) -> Self {
        self.lt = Some(n);
        self
    }
}

/// A number within bounds. NaN is never within bounds.
///
/// # Errors
/// `too_small` / `too_large` with the violated bound as param.
pub fn range<T: RangeValue>(value: &T, opts: &Range<T>) -> Result<(), Violation> {
    let v = *value;
    if let Some(min) = opts.min
        && !matches!(
            v.partial_cmp(&min),
            Some(Ordering::Greater | Ordering::Equal)
        )
    {
        return Err(Violation::new("too_small", "must be at least {min}")
            .with_param("min", min.to_value())
            .with_message("must be at least {min}"));
    }
    if let Some(gt) = opts.gt
        && v.partial_cmp(&gt) != Some(Ordering::Greater)
    {
        return Err(Violation::new("too_small", "")
            .with_param("exclusive_min", gt.to_value())
            .with_message("must be greater than {exclusive_min}"));
    }
    if let Some(max) = opts.max
        && !matches!(v.partial_cmp(&max), Some(Ordering::Less | Ordering::Equal))
    {
        return Err(Violation::new("too_large", "")
            .with_param("max", max.to_value())
            .with_message("must be at most {max}"));
    }
    if let Some(lt) = opts.lt
        && v.partial_cmp(&lt) != Some(Ordering::Less)
    {
        return Err(Violation::new("too_large", "")
            .with_param("exclusive_max", lt.to_value())
            .with_message("must be less than {exclusive_max}"));
    }
    Ok(())
}

/// Text matches a regular expression (`regex` crate: linear time, no backtracking).
/// Anchor the pattern (`^…$`) to match the whole value.
///
/// # Errors
/// `pattern_mismatch`. The pattern is not echoed (it can reveal internals).
///
/// ```
/// use keel_validation::rules::regex;
/// let re = regex::Regex::new(r"^[A-Z]{3}$").unwrap();
/// assert!(regex("EUR", &re).is_ok());
/// assert_eq!(regex("eur", &re).unwrap_err().code(), "pattern_mismatch");
/// ```
pub fn regex(value: &(impl AsText + ?Sized), re: &::regex::Regex) -> Result<(), Violation> {
    if re.is_match(value.as_text()) {
        Ok(())
    } else {
        Err(Violation::new("pattern_mismatch", "has an invalid format"))
    }
}

/// Compiles a pattern for [`regex()`]; the derive macro uses this for literal patterns
/// (which it has already checked at compile time).
///
/// # Errors
/// [`Error::InvalidRegex`](crate::Error::InvalidRegex).
pub fn compile_regex(pattern: &str) -> Result<::regex::Regex, crate::Error> {
    ::regex::Regex::new(pattern).map_err(|e| crate::Error::InvalidRegex(e.to_string()))
}

/// Options of [`username`]: ASCII letters, digits and `_`, `min..=max` long
/// (default 3..=20, i.e. `^[a-zA-Z0-9_]{3,20}$`).
///
/// ```
/// use keel_validation::rules::{Username, username};
/// assert!(username("ab", &Username::new().min(2)).is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Username {
    min: usize,
    max: usize,
}

impl Default for Username {
    fn default() -> Self {
        Self::new()
    }
}

impl Username {
    /// 3 to 20 characters.
    pub const fn new() -> Self {
        Self { min: 3, max: 20 }
    }
    /// Minimum length.
    #[must_use]
    pub const fn min(mut self, n: usize) -> Self {
        self.min = n;
        self
    }
    /// Maximum length.
    #[must_use]
    pub const fn max(mut self, n: usize) -> Self {
        self.max = n;
        self
    }
}

/// A username: `^[a-zA-Z0-9_]{min,max}$` without a regex. ASCII only, so no
/// mixed-script look-alikes (`раураl` with Cyrillic letters) can register.
///
/// # Errors
/// `invalid_username` with `min` and `max`.
///
/// ```
/// use keel_validation::rules::{Username, username};
/// assert!(username("ada_1815", &Username::new()).is_ok());
/// assert!(username("ad", &Username::new()).is_err());
/// assert!(username("аda", &Username::new()).is_err()); // Cyrillic а
/// ```
pub fn username(value: &(impl AsText + ?Sized), opts: &Username) -> Result<(), Violation> {
    let s = value.as_text();
    let ok = (opts.min..=opts.max).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Violation::new("invalid_username", "")
            .with_param("min", opts.min)
            .with_param("max", opts.max)
            .with_message("must be {min} to {max} characters: letters, digits or underscores"))
    }
}

/// The value is one of `allowed`.
///
/// # Errors
/// `not_one_of` with the `allowed` list.
///
/// ```
/// use keel_validation::rules::one_of;
/// assert!(one_of(&String::from("admin"), &["admin", "user"]).is_ok());
/// assert_eq!(one_of(&3, &[1, 2]).unwrap_err().code(), "not_one_of");
/// ```
pub fn one_of<T, U>(value: &T, allowed: &[U]) -> Result<(), Violation>
where
    T: PartialEq<U> + ?Sized,
    U: Clone + Into<Value>,
{
    if allowed.iter().any(|a| value == a) {
        Ok(())
    } else {
        Err(
            Violation::new("not_one_of", "must be one of the allowed values")
                .with_param("allowed", allowed.to_vec()),
        )
    }
}

/// Options of [`no_control_chars`].
///
/// ```
/// use keel_validation::rules::{ControlChars, no_control_chars};
/// const BIO: ControlChars = ControlChars::new().allow_newlines(true);
/// assert!(no_control_chars("line one\nline two", &BIO).is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ControlChars {
    allow_newlines: bool,
}

impl ControlChars {
    /// Rejects every C0 and C1 control, DEL, and NUL.
    pub const fn new() -> Self {
        Self {
            allow_newlines: false,
        }
    }
    /// Also accept `\n`, `\r` and `\t` (multi-line text).
    #[must_use]
    pub const fn allow_newlines(mut self, yes: bool) -> Self {
        self.allow_newlines = yes;
        self
    }
}

/// No NUL, C0 (U+0000–U+001F), DEL or C1 (U+0080–U+009F) controls.
///
/// # Errors
/// `control_chars`.
///
/// ```
/// use keel_validation::rules::{ControlChars, no_control_chars};
/// assert!(no_control_chars("fine", &ControlChars::new()).is_ok());
/// assert!(no_control_chars("nul\0", &ControlChars::new()).is_err());
/// assert!(no_control_chars("a\nb", &ControlChars::new().allow_newlines(true)).is_ok());
/// ```
pub fn no_control_chars(
    value: &(impl AsText + ?Sized),
    opts: &ControlChars,
) -> Result<(), Violation> {
    let s = value.as_text();
    let bad = |c: char| c.is_control() && !(opts.allow_newlines && matches!(c, '\n' | '\r' | '\t'));
    if may_have_controls(s.as_bytes()) && s.chars().any(bad) {
        Err(Violation::new(
            "control_chars",
            "must not contain control characters",
        ))
    } else {
        Ok(())
    }
}

/// Pre-filter of [`no_control_chars`]: whether `b` has a byte below 0x20, 0x7F, or
/// 0xC2 (the lead byte of the C1 controls U+0080–U+009F). Eight bytes at a time,
/// so a short name costs a dozen instructions; a `true` only sends the value to
/// the exact per-char check.
fn may_have_controls(b: &[u8]) -> bool {
    crate::swar::any_window(b, b'a', |v| {
        !crate::swar::ge(v, 0x20) & crate::swar::HIGH
            | crate::swar::eq(v, 0x7f)
            | crate::swar::eq(v, 0xc2)
            != 0
    })
}

/// `value == other` (password confirmation). `other` names the other field as the
/// client sent it.
///
/// # Errors
/// `mismatch` with `other`. Neither value is echoed.
///
/// ```
/// use keel_validation::rules::must_match;
/// assert!(must_match("pw", "pw", "password").is_ok());
/// assert_eq!(must_match("pw", "px", "password").unwrap_err().message(), "must match password");
/// ```
pub fn must_match<T: PartialEq<U> + ?Sized, U: ?Sized>(
    value: &T,
    other: &U,
    other_name: &'static str,
) -> Result<(), Violation> {
    if value == other {
        Ok(())
    } else {
        Err(Violation::new("mismatch", "")
            .with_param("other", other_name)
            .with_message("must match {other}"))
    }
}

/// A collection whose items [`items`] counts.
///
/// ```
/// use keel_validation::rules::Collection;
/// assert_eq!([1, 2, 3].item_count(), 3);
/// ```
pub trait Collection {
    /// Number of items.
    fn item_count(&self) -> usize;
}
impl<T> Collection for Vec<T> {
    fn item_count(&self) -> usize {
        self.len()
    }
}
impl<T> Collection for [T] {
    fn item_count(&self) -> usize {
        self.len()
    }
}
impl<T, const N: usize> Collection for [T; N] {
    fn item_count(&self) -> usize {
        N
    }
}
impl<K, V, S> Collection for HashMap<K, V, S> {
    fn item_count(&self) -> usize {
        self.len()
    }
}
impl<K, V> Collection for BTreeMap<K, V> {
    fn item_count(&self) -> usize {
        self.len()
    }
}
impl<T, S> Collection for HashSet<T, S> {
    fn item_count(&self) -> usize {
        self.len()
    }
}
impl<T> Collection for BTreeSet<T> {
    fn item_count(&self) -> usize {
        self.len()
    }
}
impl<T: Collection + ?Sized> Collection for &T {
    fn item_count(&self) -> usize {
        (**self).item_count()
    }
}

/// Number of items within `min..=max`.
///
/// # Errors
/// `too_few_items` / `too_many_items`.
///
/// ```
/// use keel_validation::rules::items;
/// assert!(items(&vec![1, 2], Some(1), Some(3)).is_ok());
/// assert_eq!(items(&Vec::<u8>::new(), Some(1), None).unwrap_err().code(), "too_few_items");
/// ```
pub fn items<C: Collection + ?Sized>(
    value: &C,
    min: Option<usize>,
    max: Option<usize>,
) -> Result<(), Violation> {
    let n = value.item_count();
    if let Some(min) = min
        && n < min
    {
        return Err(Violation::new("too_few_items", "")
            .with_param("min", min)
            .with_message("must have at least {min} items"));
    }
    if let Some(max) = max
        && n > max
    {
        return Err(Violation::new("too_many_items", "")
            .with_param("max", max)
            .with_message("must have at most {max} items"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_table() {
        let check = |s: &str, o: Length, code: Option<&str>| {
            assert_eq!(
                length(s, &o).err().map(|v| v.code().to_owned()).as_deref(),
                code,
                "{s:?}"
            );
        };
        check("abc", Length::new().min(3).max(3), None);
        check("ab", Length::new().min(3), Some("too_short"));
        check("abcd", Length::new().max(3), Some("too_long"));
        check("ééé", Length::new().max(3), None);
        check(
            "ééé",
            Length::new().max(3).unit(LengthUnit::Bytes),
            Some("too_long"),
        );
        check(
            "👍🏽",
            Length::new().equal(1).unit(LengthUnit::Graphemes),
            None,
        );
        check("👍🏽", Length::new().equal(1), Some("wrong_length"));
        check(
            &"x".repeat(1 << 20),
            Length::new().max(10),
            Some("too_long"),
        );
    }

    #[test]
    fn bound_messages() {
        for n in [0, 1, 9, 10, 50, 12_345, usize::MAX] {
            let s = bound_message("at most ", n, "characters");
            assert_eq!(s, format!("at most {n} characters"));
            assert_eq!(s.len(), s.capacity());
        }
    }

    #[test]
    fn range_messages() {
        let v = range(&11, &Range::new().min(1).max(10)).unwrap_err();
        assert_eq!((v.code(), v.message()), ("too_large", "must be at most 10"));
        let v = range(&-1.5, &Range::new().min(0.0)).unwrap_err();
        assert_eq!(v.message(), "must be at least 0");
        assert!(range(&10u8, &Range::new().lt(10)).is_err());
    }

    #[test]
    fn controls() {
        let o = ControlChars::new();
        assert!(no_control_chars("é ü", &o).is_ok());
        assert!(no_control_chars("a\u{85}b", &o).is_err());
        assert!(no_control_chars("a\u{7f}", &o).is_err());
        assert!(no_control_chars("tab\t", &o).is_err());
    }

    proptest::proptest! {
        /// The SWAR pre-filter never misses a control character, in any position
        /// relative to the 8-byte words (so no `no_control_chars` false negative).
        #[test]
        fn control_prefilter_is_conservative(s in "[a-z\u{0}-\u{1f}\u{7f}-\u{9f}é ]{0,40}") {
            if s.chars().any(char::is_control) {
                proptest::prop_assert!(may_have_controls(s.as_bytes()));
            }
            proptest::prop_assert_eq!(
                no_control_chars(&s, &ControlChars::new()).is_ok(),
                !s.chars().any(char::is_control)
            );
        }

        /// The byte-length shortcut of `length` agrees with counting chars.
        #[test]
        fn length_shortcut_agrees(s in "[aé😀]{0,12}", min in 0usize..8, max in 0usize..16) {
            let n = s.chars().count();
            let expected = if n < min { Some("too_short") } else if n > max { Some("too_long") } else { None };
            let got = length(&s, &Length::new().min(min).max(max)).err();
            proptest::prop_assert_eq!(got.as_ref().map(|v| v.code()), expected);
        }
    }

    #[test]
    fn username_table() {
        let o = Username::new();
        for ok in ["abc", "A_b_9", &"x".repeat(20)] {
            assert!(username(ok, &o).is_ok(), "{ok}");
        }
        for bad in ["ab", "a b c", "abc!", &"x".repeat(21), "ädam", ""] {
            assert!(username(bad, &o).is_err(), "{bad}");
        }
    }
}
