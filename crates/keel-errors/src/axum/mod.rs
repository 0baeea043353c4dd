//! axum integration (feature `axum`).
//!
//! - `IntoResponse` for [`ApiError`](crate::ApiError): status, envelope body, `WWW-Authenticate`
//!   for 401, `Retry-After` for 429/503; 5xx are logged once with their source chain.
//! - [`RenderErrorsLayer`]: puts the request id (`X-Request-Id`) into every error body, chooses
//!   the rendering (keel envelope, RFC 9457 problem details, or negotiated by `Accept`),
//!   and turns bodiless error responses of other layers (timeouts, …) into envelopes.
//! - [`not_found`] and [`method_not_allowed`]: router fallbacks rendering envelopes.
//! - `From` conversions for keel-envelope's and axum's extractor rejections.
//!
//! ```
//! use axum::{Router, routing::get};
//! use keel_errors::{ApiError, axum::{ErrorFormat, RenderErrorsLayer, method_not_allowed, not_found}};
//!
//! async fn user() -> Result<String, ApiError> {
//!     Err(ApiError::not_found("User not found"))
//! }
//!
//! let app: Router = Router::new()
//!     .route("/users/me", get(user))
//!     .fallback(not_found)
//!     .method_not_allowed_fallback(method_not_allowed)
//!     .layer(RenderErrorsLayer::new().format(ErrorFormat::Negotiate));
//! ```

mod fallback;
mod layer;
mod rejection;
mod response;

pub use fallback::{method_not_allowed, not_found};
pub use layer::{ErrorFormat, RenderErrors, RenderErrorsLayer, ResponseFuture};
