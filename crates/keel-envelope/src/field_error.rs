//! [`FieldError`]: one invalid value in a request.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{FieldPath, Value};

/// One invalid value: where it is, a stable code, an English message and the
/// parameters the message was rendered from.
///
/// The submitted value itself is never part of a field error, so a password or
/// token cannot be echoed back to the client or into logs.
///
/// ```
/// use keel_envelope::{FieldError, FieldPath};
///
/// let err = FieldError::new(
///     &FieldPath::root().key("address").key("city"),
///     "too_short",
///     "must be at least 2 characters",
/// )
/// .with_param("min", 2u32);
/// assert_eq!(err.field, "address.city");
/// assert_eq!(err.pointer, "/address/city");
/// assert_eq!(
///     serde_json::to_string(&err).unwrap(),
///     r#"{"field":"address.city","pointer":"/address/city","code":"too_short","message":"must be at least 2 characters","params":{"min":2}}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldError {
    /// Dotted path as the client named the field (`items[3].sku`).
    pub field: String,
    /// RFC 6901 JSON pointer to the same value (`/items/3/sku`).
    pub pointer: String,
    /// Stable machine code (`too_short`, `invalid_email`, …).
    pub code: Cow<'static, str>,
    /// English message, rendered from `params`.
    pub message: Cow<'static, str>,
    /// Values the message was rendered from (`min`, `max`, …). Omitted when empty.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<Cow<'static, str>, Value>,
}

impl FieldError {
    /// A field error at `path`.
    pub fn new(
        path: &FieldPath,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            field: path.dotted(),
            pointer: path.pointer(),
            code: code.into(),
            message: message.into(),
            params: BTreeMap::new(),
        }
    }

    /// Adds a parameter (`min`, `max`, `pattern`, …).
    #[must_use]
    pub fn with_param(
        mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<Value>,
    ) -> Self {
        self.params.insert(name.into(), value.into());
        self
    }
}

/// `field: message` (just the message for the whole body, whose field is empty): for a
/// command-line tool or a log line. Like the error itself, never the submitted value.
///
/// ```
/// use keel_envelope::{FieldError, FieldPath};
///
/// let err = FieldError::new(&FieldPath::root().key("email"), "invalid_email", "must be an e-mail address");
/// assert_eq!(err.to_string(), "email: must be an e-mail address");
/// let body = FieldError::new(&FieldPath::root(), "invalid_type", "must be an object");
/// assert_eq!(body.to_string(), "must be an object");
/// ```
impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}
