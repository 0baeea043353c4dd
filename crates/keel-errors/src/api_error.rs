//! [`ApiError`]: an error a handler returns.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use keel_envelope::{ErrorBody, ErrorEnvelope, FieldError, PageError, Value};

use crate::ErrorKind;
use crate::problem::ProblemDetails;

type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// The public part of an [`ApiError`]: everything that may be rendered.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PublicError {
    pub(crate) kind: ErrorKind,
    pub(crate) message: Cow<'static, str>,
    pub(crate) fields: Vec<FieldError>,
    pub(crate) details: BTreeMap<String, Value>,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) www_authenticate: Option<Cow<'static, str>>,
    pub(crate) request_id: Option<String>,
    /// Extra response headers ([`ApiError::with_header`]); bounded and never one the
    /// renderer owns.
    pub(crate) headers: HeaderMap,
}

/// The most extra headers one [`ApiError`] carries ([`ApiError::with_header`]).
pub const MAX_EXTRA_HEADERS: usize = 16;

/// The most bytes (names and values) of extra headers one [`ApiError`] carries.
pub const MAX_EXTRA_HEADER_BYTES: usize = 4096;

/// Headers [`ApiError::with_header`] refuses: framing and connection headers (a wrong
/// value would corrupt the response), the body's own `Content-Type`, and those with a
/// typed setter or a fixed rule (`Retry-After`, `WWW-Authenticate`, `Cache-Control:
/// no-store`).
fn is_reserved(name: &HeaderName) -> bool {
    [
        header::CONTENT_TYPE,
        header::CONTENT_LENGTH,
        header::CONTENT_ENCODING,
        header::TRANSFER_ENCODING,
        header::CONNECTION,
        header::TE,
        header::TRAILER,
        header::UPGRADE,
        header::RETRY_AFTER,
        header::WWW_AUTHENTICATE,
        header::CACHE_CONTROL,
    ]
    .contains(name)
        || name == "keep-alive"
        || name == "proxy-connection"
}

/// An API error: a [kind](ErrorKind) (code + status), a public message, optional field
/// errors and details, and an optional **private** source that is logged, never rendered.
///
/// For 5xx kinds the rendered body carries only the kind's generic message and the
/// request id, whatever the message, details or source say.
///
/// ```
/// use keel_errors::{ApiError, ErrorKind};
///
/// let err = ApiError::conflict("Email already registered");
/// assert_eq!(err.kind(), ErrorKind::Conflict);
/// assert_eq!(err.status(), http::StatusCode::CONFLICT);
///
/// // The source is private: logged with the request id, never serialized.
/// let io = std::io::Error::other("SELECT * FROM users WHERE password = 'hunter2'");
/// let err = ApiError::internal(io);
/// let body = serde_json::to_string(&err.to_envelope()).unwrap();
/// assert!(!body.contains("SELECT") && !body.contains("hunter2"));
/// ```
#[derive(thiserror::Error)]
#[error("{}: {}", public.kind.code(), public.message)]
pub struct ApiError {
    pub(crate) public: PublicError,
    #[source]
    source: Option<BoxError>,
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiError")
            .field("kind", &self.public.kind)
            .field("message", &self.public.message)
            .field("fields", &self.public.fields.len())
            .field("request_id", &self.public.request_id)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl ApiError {
    /// An error of `kind` with a public `message`.
    pub fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            public: PublicError {
                kind,
                message: message.into(),
                fields: Vec::new(),
                details: BTreeMap::new(),
                retry_after: None,
                www_authenticate: None,
                request_id: None,
                headers: HeaderMap::new(),
            },
            source: None,
        }
    }

    /// An error of `kind` with its default message.
    pub fn from_kind(kind: ErrorKind) -> Self {
        Self::new(kind, kind.default_message())
    }

    /// 400 `BAD_REQUEST`.
    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::BadRequest, message)
    }

    /// 401 `UNAUTHENTICATED` with `WWW-Authenticate: Bearer`.
    pub fn unauthenticated(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Unauthenticated, message).with_www_authenticate("Bearer")
    }

    /// 403 `FORBIDDEN`.
    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }

    /// 404 `NOT_FOUND`.
    pub fn not_found(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// 409 `CONFLICT`.
    pub fn conflict(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    /// 422 `VALIDATION_ERROR` with field errors, in the order given.
    ///
    /// ```
    /// use keel_envelope::{FieldError, FieldPath};
    /// let err = keel_errors::ApiError::validation(vec![
    ///     FieldError::new(&FieldPath::root().key("email"), "invalid_email", "is not a valid email"),
    /// ]);
    /// assert_eq!(err.fields().len(), 1);
    /// ```
    pub fn validation(fields: Vec<FieldError>) -> Self {
        Self::from_kind(ErrorKind::Validation).with_fields(fields)
    }

    /// 429 `RATE_LIMITED` with `Retry-After` and `details.retry_after` (seconds).
    pub fn rate_limited(retry_after: Duration) -> Self {
        Self::from_kind(ErrorKind::RateLimited).with_retry_after(retry_after)
    }

    /// 500 `INTERNAL_ERROR` caused by `source`, which is logged and never rendered.
    pub fn internal(source: impl Into<BoxError>) -> Self {
        Self::from_kind(ErrorKind::Internal).with_source(source)
    }

    /// 503 `SERVICE_UNAVAILABLE` with a public message.
    pub fn service_unavailable(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::ServiceUnavailable, message)
    }

    /// 504 `TIMEOUT`.
    pub fn timeout() -> Self {
        Self::from_kind(ErrorKind::Timeout)
    }

    /// Attaches the private cause (logged at error level for 5xx, never rendered).
    #[must_use]
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Sets the field errors (rendered for 4xx).
    #[must_use]
    pub fn with_fields(mut self, fields: Vec<FieldError>) -> Self {
        self.public.fields = fields;
        self
    }

    /// Adds a public detail member (rendered for 4xx).
    #[must_use]
    pub fn with_detail(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.public.details.insert(key.into(), value.into());
        self
    }

    /// Sets `Retry-After` (rounded up to whole seconds) and `details.retry_after`.
    #[must_use]
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.public.retry_after = Some(after);
        self
    }

    /// Sets the `WWW-Authenticate` challenge (rendered on 401, and on 403 for RFC 6750
    /// `insufficient_scope`).
    #[must_use]
    pub fn with_www_authenticate(mut self, challenge: impl Into<Cow<'static, str>>) -> Self {
        self.public.www_authenticate = Some(challenge.into());
        self
    }

    /// Adds a response header, e.g. the `RateLimit` headers of a denial or a `Set-Cookie`
    /// clearing a session. Appended, so a name may repeat. Rendered on every status,
    /// in the envelope and the problem details format alike.
    ///
    /// Bounded and checked: at most [`MAX_EXTRA_HEADERS`] headers and
    /// [`MAX_EXTRA_HEADER_BYTES`] bytes of names and values; framing and connection
    /// headers (`Content-Length`, `Transfer-Encoding`, `Connection`, …), `Content-Type`,
    /// and the headers with their own rule (`Retry-After`: [`with_retry_after`](Self::with_retry_after);
    /// `WWW-Authenticate`: [`with_www_authenticate`](Self::with_www_authenticate);
    /// `Cache-Control`: always `no-store`) are refused. A refused header is not added
    /// and is logged at `warn` level (name only): it is a bug in the calling code.
    ///
    /// ```
    /// use http::{HeaderName, HeaderValue};
    /// use keel_errors::ApiError;
    /// let err = ApiError::rate_limited(std::time::Duration::from_secs(30))
    ///     .with_header(HeaderName::from_static("ratelimit"), HeaderValue::from_static(r#""5/minute";r=0;t=30"#))
    ///     .with_header(http::header::CONTENT_LENGTH, HeaderValue::from_static("0")); // refused
    /// assert_eq!(err.headers()["ratelimit"], r#""5/minute";r=0;t=30"#);
    /// assert_eq!(err.headers().len(), 1);
    /// ```
    #[must_use]
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        let used: usize = self
            .public
            .headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len())
            .sum();
        let refused = if is_reserved(&name) {
            Some("the header is set by the renderer or has its own setter")
        } else if self.public.headers.len() >= MAX_EXTRA_HEADERS {
            Some("too many extra headers")
        } else if used + name.as_str().len() + value.len() > MAX_EXTRA_HEADER_BYTES {
            Some("extra headers too large")
        } else {
            None
        };
        match refused {
            Some(reason) => {
                tracing::warn!(header = %name, reason, "ApiError::with_header: header not added");
            }
            None => {
                self.public.headers.append(name, value);
            }
        }
        self
    }

    /// Sets the request id (ignored unless sane: see [`keel_envelope::is_valid_request_id`]).
    #[must_use]
    pub fn with_request_id(mut self, id: impl Into<String>) -> Self {
        let id = id.into();
        if keel_envelope::is_valid_request_id(&id) {
            self.public.request_id = Some(id);
        }
        self
    }

    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.public.kind
    }

    /// The HTTP status.
    pub fn status(&self) -> http::StatusCode {
        self.public.kind.status()
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.public.kind.code()
    }

    /// The message as rendered: the kind's generic message for 500.
    pub fn public_message(&self) -> &str {
        if self.public.kind == ErrorKind::Internal {
            self.public.kind.default_message()
        } else {
            &self.public.message
        }
    }

    /// The field errors.
    pub fn fields(&self) -> &[FieldError] {
        &self.public.fields
    }

    /// `Retry-After`, if set.
    pub fn retry_after(&self) -> Option<Duration> {
        self.public.retry_after
    }

    /// The `WWW-Authenticate` challenge, if set.
    pub fn www_authenticate(&self) -> Option<&str> {
        self.public.www_authenticate.as_deref()
    }

    /// The request id, if set.
    pub fn request_id(&self) -> Option<&str> {
        self.public.request_id.as_deref()
    }

    /// The extra response headers ([`with_header`](Self::with_header)).
    pub fn headers(&self) -> &HeaderMap {
        &self.public.headers
    }

    /// A copy of everything that renders (kind, message, fields, details, headers,
    /// `Retry-After`, challenge, request id) without the private source: for wrapping
    /// an `ApiError` that arrives as another error's cause.
    ///
    /// ```
    /// use keel_errors::ApiError;
    /// let inner = ApiError::conflict("Taken").with_detail("field", "email");
    /// let outer = inner.public_copy().with_source(inner);
    /// assert_eq!(outer.public_message(), "Taken");
    /// assert!(outer.private_source().is_some());
    /// ```
    #[must_use]
    pub fn public_copy(&self) -> Self {
        Self {
            public: self.public.clone(),
            source: None,
        }
    }

    /// The private source, if any.
    pub fn private_source(&self) -> Option<&(dyn StdError + Send + Sync + 'static)> {
        self.source.as_deref()
    }

    /// The error and its source chain, `": "`-separated, for logs only.
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut next = StdError::source(self);
        while let Some(e) = next {
            out.push_str(": ");
            out.push_str(&e.to_string());
            next = e.source();
        }
        out
    }

    /// Renders as a keel error envelope.
    pub fn to_envelope(&self) -> ErrorEnvelope {
        self.public.to_envelope()
    }

    /// Renders as RFC 9457 problem details.
    pub fn to_problem(&self) -> ProblemDetails {
        self.public.to_problem()
    }

    /// Logs the error once: 5xx at error level with the source chain, 4xx at debug
    /// level without it. Called by the axum integration; call it yourself elsewhere.
    pub fn log(&self) {
        let code = self.code();
        let status = self.status().as_u16();
        let request_id = self.public.request_id.as_deref().unwrap_or("-");
        if self.public.kind.is_server_error() {
            tracing::error!(code, status, request_id, error = %self.chain(), "request failed");
        } else {
            tracing::debug!(code, status, request_id, message = %self.public.message, "request rejected");
        }
    }
}

impl PublicError {
    pub(crate) fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after
            .map(|d| d.as_secs() + u64::from(d.subsec_nanos() > 0))
    }

    fn public_details(&self) -> (Vec<FieldError>, BTreeMap<String, Value>) {
        let mut details = if self.kind.is_server_error() {
            BTreeMap::new()
        } else {
            self.details.clone()
        };
        if let Some(secs) = self.retry_after_secs() {
            details.insert("retry_after".to_owned(), Value::UInt(secs));
        }
        let fields = if self.kind.is_server_error() {
            Vec::new()
        } else {
            self.fields.clone()
        };
        (fields, details)
    }

    pub(crate) fn message(&self) -> Cow<'static, str> {
        if self.kind == ErrorKind::Internal {
            Cow::Borrowed(self.kind.default_message())
        } else {
            self.message.clone()
        }
    }

    pub(crate) fn to_envelope(&self) -> ErrorEnvelope {
        let (fields, details) = self.public_details();
        let mut body = ErrorBody::new(self.kind.code(), self.message()).with_fields(fields);
        body.details = details;
        let mut env = ErrorEnvelope::new(body);
        env.meta.request_id.clone_from(&self.request_id);
        env
    }

    pub(crate) fn to_problem(&self) -> ProblemDetails {
        let (fields, details) = self.public_details();
        ProblemDetails::from_parts(
            self.kind,
            self.message(),
            fields,
            details,
            self.request_id.clone(),
        )
    }
}

impl From<PageError> for ApiError {
    fn from(e: PageError) -> Self {
        Self::validation(vec![e.to_field_error()])
    }
}
