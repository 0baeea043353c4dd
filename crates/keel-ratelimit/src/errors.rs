//! The `errors` feature: [`Error`] as a [`keel_errors::ApiError`].

use crate::Error;

#[cfg_attr(docsrs, doc(cfg(feature = "errors")))]
impl From<Error> for keel_errors::ApiError {
    /// 429 `RATE_LIMITED` (no `Retry-After`: waiting does not help) for a cost above the
    /// burst, 503 `SERVICE_UNAVAILABLE` for backend outages, 500 for configuration errors.
    /// Internals (Redis messages, quota strings) go to the private source, never the body.
    fn from(e: Error) -> Self {
        let public = api_error(&e);
        if public.kind().is_server_error() {
            public.with_source(e)
        } else {
            public
        }
    }
}

/// The public [`keel_errors::ApiError`] for `e` (no source attached).
pub(crate) fn api_error(e: &Error) -> keel_errors::ApiError {
    use keel_errors::{ApiError, ErrorKind};
    match e {
        Error::CostExceedsBurst { .. } => ApiError::new(
            ErrorKind::RateLimited,
            "This request exceeds the rate limit",
        ),
        e if e.is_retryable() => {
            ApiError::service_unavailable("Rate limiting is temporarily unavailable")
        }
        _ => ApiError::from_kind(ErrorKind::Internal),
    }
}
