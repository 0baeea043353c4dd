//! The `X-Cache: HIT|MISS|STALE` response header (feature `axum`).
//!
//! [`CacheStatus`] is an `IntoResponseParts`, and a [`Lookup<T>`] whose value is a
//! response is itself a response carrying the header:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use axum::{Json, Router, extract::{Path, State}, routing::get};
//! use keel_cache::{Cache, Lookup};
//!
//! async fn user(State(cache): State<Cache<u64, String>>, Path(id): Path<u64>)
//!     -> Result<Lookup<Json<String>>, (http::StatusCode, &'static str)>
//! {
//!     let found = cache
//!         .get_or_load(id, move || async move { Ok::<_, std::io::Error>(format!("user {id}")) })
//!         .await
//!         .map_err(|_| (http::StatusCode::SERVICE_UNAVAILABLE, "try again"))?;
//!     Ok(found.map(Json)) // adds `X-Cache: HIT` / `MISS` / `STALE`
//! }
//!
//! let app: Router = Router::new()
//!     .route("/users/{id}", get(user))
//!     .with_state(Cache::builder("users").build());
//! # drop(app); }
//! ```

use std::convert::Infallible;

use axum_core::response::{IntoResponse, IntoResponseParts, Response, ResponseParts};
use http::{HeaderName, HeaderValue};

use crate::{CacheStatus, Lookup};

/// The `x-cache` header name.
pub const X_CACHE: HeaderName = HeaderName::from_static("x-cache");

impl CacheStatus {
    /// The `X-Cache` header value: `HIT`, `MISS` or `STALE`.
    ///
    /// ```
    /// assert_eq!(keel_cache::CacheStatus::Miss.header_value(), "MISS");
    /// ```
    pub const fn header_value(self) -> HeaderValue {
        HeaderValue::from_static(self.as_str())
    }
}

impl IntoResponseParts for CacheStatus {
    type Error = Infallible;

    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        res.headers_mut().insert(X_CACHE, self.header_value());
        Ok(res)
    }
}

impl<T: IntoResponse> IntoResponse for Lookup<T> {
    fn into_response(self) -> Response {
        let (value, status) = self.into_parts();
        (status, value).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_responses_carry_the_header() {
        for (status, text) in [
            (CacheStatus::Hit, "HIT"),
            (CacheStatus::Miss, "MISS"),
            (CacheStatus::Stale, "STALE"),
        ] {
            let res = Lookup::new("body", status).into_response();
            assert_eq!(res.headers()[X_CACHE], text);
        }
    }
}
