//! [`ProblemDetails`]: RFC 9457 `application/problem+json`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use keel_envelope::{FieldError, Value};
use serde::{Deserialize, Serialize};

use crate::ErrorKind;

/// Media type of RFC 9457 problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// RFC 9457 problem details, with Keel's extension members `code`, `errors` and `request_id`.
///
/// `type` is `about:blank` (RFC 9457 §4.2.1: the problem is just the HTTP status), so
/// `title` is the status phrase; `detail` is the public message. Public details become
/// extension members unless their name is reserved.
///
/// ```
/// use keel_errors::ApiError;
/// let p = ApiError::not_found("User not found").with_request_id("r-1").to_problem();
/// assert_eq!(
///     serde_json::to_string(&p).unwrap(),
///     r#"{"type":"about:blank","title":"Not Found","status":404,"detail":"User not found","code":"NOT_FOUND","request_id":"r-1"}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProblemDetails {
    /// Problem type URI.
    #[serde(rename = "type")]
    pub type_uri: Cow<'static, str>,
    /// Short summary: the HTTP status phrase.
    pub title: Cow<'static, str>,
    /// HTTP status code.
    pub status: u16,
    /// Public explanation of this occurrence.
    pub detail: Cow<'static, str>,
    /// URI reference of this occurrence (the request path, when known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Keel's stable error code.
    pub code: Cow<'static, str>,
    /// Field errors, each with its JSON `pointer`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// The request id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Other public details as extension members.
    #[serde(flatten)]
    pub extensions: BTreeMap<String, Value>,
}

const RESERVED: [&str; 8] = [
    "type",
    "title",
    "status",
    "detail",
    "instance",
    "code",
    "errors",
    "request_id",
];

impl ProblemDetails {
    pub(crate) fn from_parts(
        kind: ErrorKind,
        message: Cow<'static, str>,
        errors: Vec<FieldError>,
        mut details: BTreeMap<String, Value>,
        request_id: Option<String>,
    ) -> Self {
        details.retain(|k, _| !RESERVED.contains(&k.as_str()));
        let status = kind.status();
        Self {
            type_uri: Cow::Borrowed("about:blank"),
            title: Cow::Borrowed(status.canonical_reason().unwrap_or("Error")),
            status: status.as_u16(),
            detail: message,
            instance: None,
            code: Cow::Borrowed(kind.code()),
            errors,
            request_id,
            extensions: details,
        }
    }

    /// Sets `instance` (usually the request path).
    #[must_use]
    pub fn with_instance(mut self, instance: impl Into<String>) -> Self {
        self.instance = Some(instance.into());
        self
    }
}
