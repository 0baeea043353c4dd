//! serde helpers for request types.
//!
//! [`double_option`] tells an absent field from an explicit `null`, the three states of a
//! JSON merge-patch (RFC 7396) field: `Option<Option<T>>` is `None` when the field is
//! absent, `Some(None)` for `null` and `Some(Some(value))` otherwise. serde alone maps
//! both absent and `null` to `None`. `#[derive(Validate)]` understands the shape: its
//! normalizers and rules apply to the inner value and skip absent and `null`.
//!
//! ```
//! use keel_validation::Validate;
//!
//! #[derive(serde::Deserialize, Validate)]
//! struct ProfileChanges {
//!     /// Absent: unchanged; `null`: removed; a value: normalized to E.164 and validated.
//!     #[serde(default, deserialize_with = "keel_validation::serde::double_option")]
//!     #[normalize(phone)]
//!     #[validate(phone)]
//!     phone: Option<Option<String>>,
//! }
//!
//! let absent: ProfileChanges = serde_json::from_str("{}")?;
//! assert_eq!(absent.phone, None);
//! let removed: ProfileChanges = serde_json::from_str(r#"{"phone": null}"#)?;
//! assert_eq!(removed.clean()?.phone, Some(None));
//! let set: ProfileChanges = serde_json::from_str(r#"{"phone": "+44 20 7183 8750"}"#)?;
//! assert_eq!(set.clean()?.phone, Some(Some("+442071838750".to_owned())));
//! let bad: ProfileChanges = serde_json::from_str(r#"{"phone": "12"}"#)?;
//! assert!(bad.clean().is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use serde::{Deserialize, Deserializer};

/// Deserializes a present field into `Some(value)`, `null` included (`Some(None)`); with
/// `#[serde(default)]` an absent field stays `None`. Use as
/// `#[serde(default, deserialize_with = "keel_validation::serde::double_option")]` on an
/// `Option<Option<T>>` field (without `default` an absent field is a "missing field"
/// error).
///
/// # Errors
/// The deserializer's error when the value is neither `null` nor a `T`.
pub fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}
