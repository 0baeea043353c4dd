//! [`Meta`]: the `meta` member shared by success and error envelopes.

use std::collections::BTreeMap;

use serde::de::{Deserialize, Deserializer};
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::{Pagination, Value};

/// Longest request id accepted from a client, in bytes.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// Whether a client-supplied request id is safe to echo and log: 1 to
/// [`MAX_REQUEST_ID_LEN`] bytes of visible ASCII (no spaces, no control characters).
///
/// Anything else must be replaced by a generated id, never trusted.
///
/// ```
/// use keel_envelope::is_valid_request_id;
/// assert!(is_valid_request_id("3f2c9a1e-req"));
/// assert!(!is_valid_request_id("evil\nlog-line"));
/// assert!(!is_valid_request_id(&"a".repeat(129)));
/// ```
pub fn is_valid_request_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_REQUEST_ID_LEN && id.bytes().all(|b| b.is_ascii_graphic())
}

/// The `meta` member: request id, pagination and application extensions.
///
/// Members are omitted when empty; an envelope whose meta is empty has no `meta`.
/// Extension members serialize after the known ones, sorted by key.
///
/// ```
/// use keel_envelope::{Meta, Pagination};
///
/// let meta = Meta::default()
///     .with_request_id("req-1")
///     .with_pagination(Pagination::new(1, 20, 57).unwrap())
///     .with_extra("api_version", "2024-01");
/// assert_eq!(
///     serde_json::to_string(&meta).unwrap(),
///     r#"{"request_id":"req-1","pagination":{"page":1,"limit":20,"total":57,"total_pages":3},"api_version":"2024-01"}"#
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Meta {
    /// The request id (`X-Request-Id`) this response answers.
    pub request_id: Option<String>,
    /// Pagination of a list response.
    pub pagination: Option<Pagination>,
    /// Application-defined members.
    pub extra: BTreeMap<String, Value>,
}

impl Meta {
    /// Whether no member is set (the envelope then omits `meta`).
    pub fn is_empty(&self) -> bool {
        self.request_id.is_none() && self.pagination.is_none() && self.extra.is_empty()
    }

    /// Sets the request id.
    #[must_use]
    pub fn with_request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = Some(id.into());
        self
    }

    /// Sets the pagination.
    #[must_use]
    pub fn with_pagination(mut self, pagination: Pagination) -> Self {
        self.pagination = Some(pagination);
        self
    }

    /// Adds an application-defined member. `request_id` and `pagination` are reserved
    /// and ignored here; use their setters.
    #[must_use]
    pub fn with_extra(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        let key = key.into();
        if key != "request_id" && key != "pagination" {
            self.extra.insert(key, value.into());
        }
        self
    }
}

impl Serialize for Meta {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let len = usize::from(self.request_id.is_some())
            + usize::from(self.pagination.is_some())
            + self.extra.len();
        let mut map = serializer.serialize_map(Some(len))?;
        if let Some(id) = &self.request_id {
            map.serialize_entry("request_id", id)?;
        }
        if let Some(p) = &self.pagination {
            map.serialize_entry("pagination", p)?;
        }
        for (k, v) in &self.extra {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[derive(serde::Deserialize)]
struct MetaRepr {
    #[serde(default)]
    request_id: Option<String>,
    #[serde(default)]
    pagination: Option<Pagination>,
    #[serde(flatten)]
    extra: BTreeMap<String, Value>,
}

impl<'de> Deserialize<'de> for Meta {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let r = MetaRepr::deserialize(deserializer)?;
        Ok(Self {
            request_id: r.request_id,
            pagination: r.pagination,
            extra: r.extra,
        })
    }
}
