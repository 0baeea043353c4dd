use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use keel_envelope::axum::json_response;

use crate::api_error::PublicError;
use crate::{ApiError, ErrorKind};

/// Marker in response extensions: this response renders an error, and here is its
/// public part, so [`RenderErrorsLayer`](super::RenderErrorsLayer) can re-render it.
#[derive(Debug, Clone)]
pub(crate) struct RenderedError(pub(crate) PublicError);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.log();
        render(&self.public, None)
    }
}

/// Renders the public part of an error as an envelope, or as problem details when
/// `problem_instance` (the request path) is given.
pub(crate) fn render(public: &PublicError, problem_instance: Option<&str>) -> Response {
    let status = public.kind.status();
    let mut res = if let Some(instance) = problem_instance {
        crate::axum::layer::problem_response(status, &public.to_problem().with_instance(instance))
    } else {
        json_response(status, &public.to_envelope())
    };
    let headers = res.headers_mut();
    // Extra headers first: none of them is one set below (`with_header` refuses those).
    for (name, value) in &public.headers {
        headers.append(name.clone(), value.clone());
    }
    // 401 always carries a challenge (RFC 9110 §15.5.2); a 403 may carry one too (RFC 6750
    // §3.1 `error="insufficient_scope"`).
    let challenge = match (&public.www_authenticate, public.kind) {
        (Some(c), ErrorKind::Unauthenticated | ErrorKind::Forbidden) => Some(&**c),
        (None, ErrorKind::Unauthenticated) => Some("Bearer"),
        _ => None,
    };
    if let Some(v) = challenge.and_then(|c| HeaderValue::from_str(c).ok()) {
        headers.insert(header::WWW_AUTHENTICATE, v);
    }
    if let Some(secs) = public.retry_after_secs() {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.extensions_mut().insert(RenderedError(public.clone()));
    res
}

/// The kind a bare status code stands for, for responses made by other layers.
pub(crate) fn kind_for_status(status: StatusCode) -> Option<ErrorKind> {
    Some(match status {
        StatusCode::BAD_REQUEST => ErrorKind::BadRequest,
        StatusCode::UNAUTHORIZED => ErrorKind::Unauthenticated,
        StatusCode::FORBIDDEN => ErrorKind::Forbidden,
        StatusCode::NOT_FOUND => ErrorKind::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorKind::MethodNotAllowed,
        StatusCode::CONFLICT => ErrorKind::Conflict,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorKind::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorKind::UnsupportedMediaType,
        StatusCode::UNPROCESSABLE_ENTITY => ErrorKind::Validation,
        StatusCode::TOO_MANY_REQUESTS => ErrorKind::RateLimited,
        StatusCode::INTERNAL_SERVER_ERROR => ErrorKind::Internal,
        StatusCode::SERVICE_UNAVAILABLE => ErrorKind::ServiceUnavailable,
        StatusCode::GATEWAY_TIMEOUT | StatusCode::REQUEST_TIMEOUT => ErrorKind::Timeout,
        _ => return None,
    })
}
