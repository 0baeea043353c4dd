//! [`ErrorEnvelope`] and [`ErrorBody`]: the error response.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::de::{Deserialize, Deserializer};
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::tag::False;
use crate::{FieldError, Meta, Value};

/// The `error` member: a stable code, a public message, field errors and details.
///
/// ```
/// use keel_envelope::{ErrorBody, code};
/// let body = ErrorBody::new(code::NOT_FOUND, "User not found");
/// assert_eq!(
///     serde_json::to_string(&body).unwrap(),
///     r#"{"code":"NOT_FOUND","message":"User not found"}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ErrorBody {
    /// Stable machine code (see [`crate::code`]).
    pub code: Cow<'static, str>,
    /// Public, human-readable message. Never contains internals.
    pub message: Cow<'static, str>,
    /// Field errors in the order the fields were declared. Omitted when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
    /// Extra public details (`retry_after`, `limit`, …). Omitted when empty.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, Value>,
}

impl ErrorBody {
    /// An error body with no fields and no details.
    pub fn new(code: impl Into<Cow<'static, str>>, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            fields: Vec::new(),
            details: BTreeMap::new(),
        }
    }

    /// Sets the field errors.
    #[must_use]
    pub fn with_fields(mut self, fields: Vec<FieldError>) -> Self {
        self.fields = fields;
        self
    }

    /// Adds a detail member.
    #[must_use]
    pub fn with_detail(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.details.insert(key.into(), value.into());
        self
    }
}

/// An error response: `{"success": false, "error": {…}, "meta"?: {…}}`.
///
/// ```
/// use keel_envelope::{ErrorBody, ErrorEnvelope, code};
///
/// let env = ErrorEnvelope::new(ErrorBody::new(code::CONFLICT, "Email already registered"))
///     .with_request_id("r-9");
/// assert_eq!(
///     serde_json::to_string(&env).unwrap(),
///     r#"{"success":false,"error":{"code":"CONFLICT","message":"Email already registered"},"meta":{"request_id":"r-9"}}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorEnvelope {
    /// The error.
    pub error: ErrorBody,
    /// Request id and extensions.
    pub meta: Meta,
}

impl ErrorEnvelope {
    /// Wraps an error body with empty meta.
    pub fn new(error: ErrorBody) -> Self {
        Self {
            error,
            meta: Meta::default(),
        }
    }

    /// Sets `meta.request_id`.
    #[must_use]
    pub fn with_request_id(mut self, id: impl Into<String>) -> Self {
        self.meta.request_id = Some(id.into());
        self
    }
}

impl Serialize for ErrorEnvelope {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let meta = !self.meta.is_empty();
        let mut map = serializer.serialize_map(Some(2 + usize::from(meta)))?;
        map.serialize_entry("success", &false)?;
        map.serialize_entry("error", &self.error)?;
        if meta {
            map.serialize_entry("meta", &self.meta)?;
        }
        map.end()
    }
}

#[derive(serde::Deserialize)]
struct ErrorEnvelopeRepr {
    #[allow(dead_code)]
    success: False,
    error: ErrorBody,
    #[serde(default)]
    meta: Option<Meta>,
}

impl<'de> Deserialize<'de> for ErrorEnvelope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let r = ErrorEnvelopeRepr::deserialize(deserializer)?;
        Ok(Self {
            error: r.error,
            meta: r.meta.unwrap_or_default(),
        })
    }
}
