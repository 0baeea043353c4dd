//! [`Sensitive`]: a wrapper whose `Debug` never shows the value.

use std::fmt;

use serde::{Deserialize, Deserializer};

/// A value that must never be echoed: `Debug` prints `[REDACTED]`, it deserializes
/// transparently and does not implement `Serialize` or `Display`.
///
/// Use it for passwords and tokens in request types; text rules and normalizers
/// accept it like the inner type. (Field-level alternative: `#[validate(sensitive)]`
/// with `#[derive(RedactedDebug)]`.)
///
/// ```
/// use keel_validation::Sensitive;
/// let pw: Sensitive<String> = serde_json::from_str(r#""hunter2""#).unwrap();
/// assert_eq!(format!("{pw:?}"), "[REDACTED]");
/// assert_eq!(pw.expose(), "hunter2");
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Sensitive<T>(T);

impl<T> Sensitive<T> {
    /// Wraps a value.
    pub const fn new(value: T) -> Self {
        Self(value)
    }

    /// The value. The name makes every read visible in review.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// The value, mutably (normalizers use this).
    pub fn expose_mut(&mut self) -> &mut T {
        &mut self.0
    }

    /// Unwraps the value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Sensitive<T> {
    fn from(v: T) -> Self {
        Self(v)
    }
}

impl<T> fmt::Debug for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Sensitive<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Self)
    }
}
