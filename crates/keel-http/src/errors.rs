//! keel-errors integration (feature `errors`): the 503 of a shed connection is an error
//! envelope (see [`serve`](mod@crate::serve)), and [`panic_response`] turns a panicking
//! handler into a 500 envelope for tower-http's `CatchPanicLayer`.
//!
//! ```
//! use axum::{Router, routing::get};
//! use axum::http::Request;
//! use tower_http::catch_panic::CatchPanicLayer;
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let app: Router = Router::new()
//!     .route("/", get(|| async { if true { panic!("bug") } ; "unreachable" }))
//!     .layer(CatchPanicLayer::custom(keel_http::errors::panic_response));
//! let res = app.oneshot(Request::get("/").body(axum::body::Body::empty()).unwrap()).await.unwrap();
//! assert_eq!(res.status(), 500);
//! # }
//! ```

use std::any::Any;

use axum::response::{IntoResponse, Response};
use keel_errors::ApiError;

/// A 500 keel-errors envelope for a panic payload. The payload (the panic message) is the
/// error's private source: logged by keel-errors, never in the body.
// By value: tower-http's `ResponseForPanic` passes the payload by value.
#[allow(clippy::needless_pass_by_value)]
pub fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned());
    ApiError::internal(std::io::Error::other(format!("handler panicked: {detail}"))).into_response()
}
