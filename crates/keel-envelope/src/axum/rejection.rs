use axum_core::response::{IntoResponse, Response};
use http::StatusCode;

use crate::{ErrorBody, ErrorEnvelope, FieldError, code};

/// Why a [`Json`](super::Json), [`Query`](super::Query) or [`Path`](super::Path) extractor
/// rejected a request.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RejectionKind {
    /// `Content-Type` is missing or not JSON (`application/json`, `application/*+json`): 415.
    UnsupportedMediaType,
    /// The body exceeded the request body limit: 413.
    PayloadTooLarge,
    /// The body could not be read (connection error, bad framing): 400.
    BodyUnreadable,
    /// The body is not syntactically valid JSON: 400 `MALFORMED_JSON`.
    MalformedJson {
        /// 1-based line of the syntax error.
        line: usize,
        /// 1-based column of the syntax error.
        column: usize,
    },
    /// A value has the wrong type, a required field is missing, or a query or path
    /// parameter is invalid: 422 `VALIDATION_ERROR` with the field path (for a path
    /// parameter, its name in the route).
    InvalidField(FieldError),
    /// A path parameter is not valid UTF-8 once percent-decoded: 400 `BAD_REQUEST` with
    /// the parameter's name as the field.
    MalformedPathParam(FieldError),
    /// The route and the `Path` type disagree (wrong number of parameters, a route
    /// without parameters, an unsupported type): a bug in the server, 500
    /// `INTERNAL_ERROR`. `reason` names the mismatch for the log and is never rendered.
    PathMismatch {
        /// What does not match, from the route's and the type's definitions (never
        /// request data).
        reason: String,
    },
}

/// The rejection of keel's extractors: renders as an [`ErrorEnvelope`] carrying the
/// request id of the request it rejects.
///
/// ```
/// use keel_envelope::axum::{Rejection, RejectionKind};
/// use http::StatusCode;
/// let r = Rejection::new(RejectionKind::PayloadTooLarge, None);
/// assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
/// assert_eq!(r.code(), "PAYLOAD_TOO_LARGE");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    kind: RejectionKind,
    request_id: Option<String>,
}

impl Rejection {
    /// A rejection of `kind` for the request with `request_id`.
    pub fn new(kind: RejectionKind, request_id: Option<String>) -> Self {
        Self { kind, request_id }
    }

    /// What went wrong.
    pub fn kind(&self) -> &RejectionKind {
        &self.kind
    }

    /// The request id of the rejected request, if it had a sane one.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self.kind {
            RejectionKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            RejectionKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            RejectionKind::BodyUnreadable
            | RejectionKind::MalformedJson { .. }
            | RejectionKind::MalformedPathParam(_) => StatusCode::BAD_REQUEST,
            RejectionKind::InvalidField(_) => StatusCode::UNPROCESSABLE_ENTITY,
            RejectionKind::PathMismatch { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable error code (see [`crate::code`]).
    pub fn code(&self) -> &'static str {
        match self.kind {
            RejectionKind::UnsupportedMediaType => code::UNSUPPORTED_MEDIA_TYPE,
            RejectionKind::PayloadTooLarge => code::PAYLOAD_TOO_LARGE,
            RejectionKind::BodyUnreadable | RejectionKind::MalformedPathParam(_) => {
                code::BAD_REQUEST
            }
            RejectionKind::MalformedJson { .. } => code::MALFORMED_JSON,
            RejectionKind::InvalidField(_) => code::VALIDATION_ERROR,
            RejectionKind::PathMismatch { .. } => code::INTERNAL_ERROR,
        }
    }

    /// The error body: code, public message and, for 422, the field error.
    pub fn to_error_body(&self) -> ErrorBody {
        let code = self.code();
        match &self.kind {
            RejectionKind::UnsupportedMediaType => ErrorBody::new(
                code,
                "Expected a request with `Content-Type: application/json`",
            ),
            RejectionKind::PayloadTooLarge => {
                ErrorBody::new(code, "Request body is larger than allowed")
            }
            RejectionKind::BodyUnreadable => ErrorBody::new(code, "Request body could not be read"),
            RejectionKind::MalformedJson { line, column } => {
                ErrorBody::new(code, "Request body is not valid JSON")
                    .with_detail("line", *line)
                    .with_detail("column", *column)
            }
            RejectionKind::InvalidField(fe) => {
                ErrorBody::new(code, "Validation failed").with_fields(vec![fe.clone()])
            }
            RejectionKind::MalformedPathParam(fe) => {
                ErrorBody::new(code, "Path parameter is malformed").with_fields(vec![fe.clone()])
            }
            RejectionKind::PathMismatch { .. } => ErrorBody::new(code, "Internal server error"),
        }
    }

    /// The full error envelope, with `meta.request_id` when known.
    pub fn to_error_envelope(&self) -> ErrorEnvelope {
        let mut env = ErrorEnvelope::new(self.to_error_body());
        env.meta.request_id.clone_from(&self.request_id);
        env
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            // For the log of a server bug: what does not match (no request data).
            RejectionKind::PathMismatch { reason } => {
                write!(f, "path parameters do not match the route: {reason}")
            }
            _ => f.write_str(&self.to_error_body().message),
        }
    }
}

impl std::error::Error for Rejection {}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let mut res = super::json_response(self.status(), &self.to_error_envelope());
        // Lets an outer layer (keel-errors' `RenderErrorsLayer`) re-render it, e.g. as problem+json.
        res.extensions_mut().insert(self);
        res
    }
}
