//! [`ErrorKind`]: the taxonomy.

use http::StatusCode;
use keel_envelope::code;

/// What went wrong, from the client's point of view. Each kind has a stable code,
/// an HTTP status and a default public message.
///
/// ```
/// use keel_errors::ErrorKind;
/// assert_eq!(ErrorKind::Conflict.code(), "CONFLICT");
/// assert_eq!(ErrorKind::Conflict.status(), http::StatusCode::CONFLICT);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// 400 `BAD_REQUEST`.
    BadRequest,
    /// 400 `MALFORMED_JSON`: the body is not valid JSON.
    MalformedJson,
    /// 401 `UNAUTHENTICATED`, with `WWW-Authenticate`.
    Unauthenticated,
    /// 403 `FORBIDDEN`.
    Forbidden,
    /// 404 `NOT_FOUND`.
    NotFound,
    /// 405 `METHOD_NOT_ALLOWED`.
    MethodNotAllowed,
    /// 409 `CONFLICT`.
    Conflict,
    /// 413 `PAYLOAD_TOO_LARGE`.
    PayloadTooLarge,
    /// 415 `UNSUPPORTED_MEDIA_TYPE`.
    UnsupportedMediaType,
    /// 422 `VALIDATION_ERROR`, with field errors.
    Validation,
    /// 429 `RATE_LIMITED`, with `Retry-After`.
    RateLimited,
    /// 500 `INTERNAL_ERROR`.
    Internal,
    /// 503 `SERVICE_UNAVAILABLE`, with `Retry-After` when known.
    ServiceUnavailable,
    /// 504 `TIMEOUT`.
    Timeout,
}

impl ErrorKind {
    /// Every kind, for exhaustive tests and documentation tables.
    pub const ALL: [Self; 14] = [
        Self::BadRequest,
        Self::MalformedJson,
        Self::Unauthenticated,
        Self::Forbidden,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::Conflict,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::Validation,
        Self::RateLimited,
        Self::Internal,
        Self::ServiceUnavailable,
        Self::Timeout,
    ];

    /// The stable machine code.
    pub const fn code(self) -> &'static str {
        match self {
            Self::BadRequest => code::BAD_REQUEST,
            Self::MalformedJson => code::MALFORMED_JSON,
            Self::Unauthenticated => code::UNAUTHENTICATED,
            Self::Forbidden => code::FORBIDDEN,
            Self::NotFound => code::NOT_FOUND,
            Self::MethodNotAllowed => code::METHOD_NOT_ALLOWED,
            Self::Conflict => code::CONFLICT,
            Self::PayloadTooLarge => code::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => code::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation => code::VALIDATION_ERROR,
            Self::RateLimited => code::RATE_LIMITED,
            Self::Internal => code::INTERNAL_ERROR,
            Self::ServiceUnavailable => code::SERVICE_UNAVAILABLE,
            Self::Timeout => code::TIMEOUT,
        }
    }

    /// The HTTP status.
    pub const fn status(self) -> StatusCode {
        match self {
            Self::BadRequest | Self::MalformedJson => StatusCode::BAD_REQUEST,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Timeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// The public message used when none is given (and always for 500).
    pub const fn default_message(self) -> &'static str {
        match self {
            Self::BadRequest => "Bad request",
            Self::MalformedJson => "Request body is not valid JSON",
            Self::Unauthenticated => "Authentication required",
            Self::Forbidden => "You do not have permission to do this",
            Self::NotFound => "Not found",
            Self::MethodNotAllowed => "Method not allowed",
            Self::Conflict => "Conflict with the current state of the resource",
            Self::PayloadTooLarge => "Request body is larger than allowed",
            Self::UnsupportedMediaType => "Unsupported media type",
            Self::Validation => "Validation failed",
            Self::RateLimited => "Too many requests",
            Self::Internal => "Internal server error",
            Self::ServiceUnavailable => "Service temporarily unavailable",
            Self::Timeout => "The request took too long",
        }
    }

    /// Whether this is a server-side (5xx) kind, whose details are never shown.
    pub const fn is_server_error(self) -> bool {
        matches!(
            self,
            Self::Internal | Self::ServiceUnavailable | Self::Timeout
        )
    }

    /// Whether a client may retry the same request later and expect success.
    pub const fn is_retryable(self) -> bool {
        matches!(
            self,
            Self::RateLimited | Self::ServiceUnavailable | Self::Timeout
        )
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}
