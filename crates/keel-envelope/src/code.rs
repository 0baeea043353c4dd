//! Stable machine-readable error codes shared by every Keel crate.
//!
//! The codes are part of the wire format: clients branch on them, so they never
//! change meaning once released. keel-errors maps each of its kinds to one of these.

/// 400: the request is malformed in a way no more specific code describes.
pub const BAD_REQUEST: &str = "BAD_REQUEST";
/// 400: the body is not syntactically valid JSON.
pub const MALFORMED_JSON: &str = "MALFORMED_JSON";
/// 401: credentials are missing, invalid or expired.
pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
/// 403: the caller is known but not allowed to do this.
pub const FORBIDDEN: &str = "FORBIDDEN";
/// 404: no such resource or route.
pub const NOT_FOUND: &str = "NOT_FOUND";
/// 405: the route exists but not for this method.
pub const METHOD_NOT_ALLOWED: &str = "METHOD_NOT_ALLOWED";
/// 409: the request conflicts with the current state (duplicate, version mismatch).
pub const CONFLICT: &str = "CONFLICT";
/// 413: the body is larger than the configured limit.
pub const PAYLOAD_TOO_LARGE: &str = "PAYLOAD_TOO_LARGE";
/// 415: the body's content type is missing or not accepted.
pub const UNSUPPORTED_MEDIA_TYPE: &str = "UNSUPPORTED_MEDIA_TYPE";
/// 422: the body is well-formed but its values are invalid; see `fields`.
pub const VALIDATION_ERROR: &str = "VALIDATION_ERROR";
/// 429: a rate limit was exceeded; see `Retry-After`.
pub const RATE_LIMITED: &str = "RATE_LIMITED";
/// 500: an unexpected failure; details are logged, never returned.
pub const INTERNAL_ERROR: &str = "INTERNAL_ERROR";
/// 503: a dependency is unavailable; retry later.
pub const SERVICE_UNAVAILABLE: &str = "SERVICE_UNAVAILABLE";
/// 504: the request took longer than allowed.
pub const TIMEOUT: &str = "TIMEOUT";
