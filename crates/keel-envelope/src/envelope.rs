//! [`Envelope`]: the success response.

use std::borrow::Cow;

use serde::de::{Deserialize, Deserializer};
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::tag::True;
use crate::{Meta, Pagination, Value};

/// A success response: `{"success": true, "data": …, "message"?: …, "meta"?: {…}}`.
///
/// ```
/// use keel_envelope::Envelope;
///
/// #[derive(serde::Serialize)]
/// struct User { id: u32 }
///
/// let body = Envelope::new(User { id: 7 }).with_message("created").with_request_id("r-1");
/// assert_eq!(
///     serde_json::to_string(&body).unwrap(),
///     r#"{"success":true,"data":{"id":7},"message":"created","meta":{"request_id":"r-1"}}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope<T> {
    /// The payload.
    pub data: T,
    /// An optional human-readable message.
    pub message: Option<Cow<'static, str>>,
    /// Request id, pagination and extensions.
    pub meta: Meta,
}

impl<T> Envelope<T> {
    /// Wraps `data` with no message and empty meta.
    pub const fn new(data: T) -> Self {
        Self {
            data,
            message: None,
            meta: Meta {
                request_id: None,
                pagination: None,
                extra: std::collections::BTreeMap::new(),
            },
        }
    }

    /// Sets the message.
    #[must_use]
    pub fn with_message(mut self, message: impl Into<Cow<'static, str>>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// Sets `meta.request_id`.
    #[must_use]
    pub fn with_request_id(mut self, id: impl Into<String>) -> Self {
        self.meta.request_id = Some(id.into());
        self
    }

    /// Sets `meta.pagination`.
    #[must_use]
    pub fn with_pagination(mut self, pagination: Pagination) -> Self {
        self.meta.pagination = Some(pagination);
        self
    }

    /// Adds an application-defined `meta` member.
    #[must_use]
    pub fn with_meta(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.meta = self.meta.with_extra(key, value);
        self
    }

    /// The payload, dropping message and meta.
    pub fn into_data(self) -> T {
        self.data
    }
}

impl<T: Serialize> Serialize for Envelope<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let meta = !self.meta.is_empty();
        let len = 2 + usize::from(self.message.is_some()) + usize::from(meta);
        let mut map = serializer.serialize_map(Some(len))?;
        map.serialize_entry("success", &true)?;
        map.serialize_entry("data", &self.data)?;
        if let Some(m) = &self.message {
            map.serialize_entry("message", m)?;
        }
        if meta {
            map.serialize_entry("meta", &self.meta)?;
        }
        map.end()
    }
}

#[derive(serde::Deserialize)]
struct EnvelopeRepr<T> {
    #[allow(dead_code)]
    success: True,
    data: T,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    meta: Option<Meta>,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Envelope<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let r = EnvelopeRepr::<T>::deserialize(deserializer)?;
        Ok(Self {
            data: r.data,
            message: r.message.map(Cow::Owned),
            meta: r.meta.unwrap_or_default(),
        })
    }
}
