use crate::{ApiError, ErrorKind};

/// Router fallback for unknown routes: 404 `NOT_FOUND` envelope.
///
/// ```
/// let app: axum::Router = axum::Router::new().fallback(keel_errors::axum::not_found);
/// ```
pub async fn not_found() -> ApiError {
    ApiError::from_kind(ErrorKind::NotFound)
}

/// Fallback for a known route with the wrong method: 405 `METHOD_NOT_ALLOWED` envelope.
///
/// ```
/// let app: axum::Router = axum::Router::new()
///     .route("/x", axum::routing::get(|| async { "x" }))
///     .method_not_allowed_fallback(keel_errors::axum::method_not_allowed);
/// ```
pub async fn method_not_allowed() -> ApiError {
    ApiError::from_kind(ErrorKind::MethodNotAllowed)
}
