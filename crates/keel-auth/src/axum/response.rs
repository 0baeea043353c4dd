//! Token responses in axum: [`AccessTokenResponse`] is `IntoResponse`; [`NoStore`] adds the
//! headers to any other response carrying tokens.

use axum::response::{IntoResponse, IntoResponseParts, Response, ResponseParts};
use http::{HeaderValue, StatusCode, header};

use crate::{AccessToken, AccessTokenResponse};

/// `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1), as response parts:
/// `(NoStore, Json(body))` — e.g. when tokens are wrapped in your own envelope.
///
/// ```
/// use axum::response::IntoResponse;
/// use keel_auth::axum::NoStore;
///
/// let res = (NoStore, "token body").into_response();
/// assert_eq!(res.headers()["cache-control"], "no-store");
/// assert_eq!(res.headers()["pragma"], "no-cache");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NoStore;

impl IntoResponseParts for NoStore {
    type Error = std::convert::Infallible;

    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        let h = res.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        Ok(res)
    }
}

impl IntoResponse for AccessTokenResponse {
    /// 200 with the JSON body of RFC 6749 §5.1, `Cache-Control: no-store` and
    /// `Pragma: no-cache`.
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self) {
            Ok(body) => (
                NoStore,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                body,
            )
                .into_response(),
            // Strings and integers always serialize; this is unreachable in practice.
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        }
    }
}

impl IntoResponse for AccessToken {
    /// As the [`AccessTokenResponse`] of this token (no refresh token).
    fn into_response(self) -> Response {
        AccessTokenResponse::from(self).into_response()
    }
}
