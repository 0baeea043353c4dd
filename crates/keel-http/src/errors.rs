//! keel-errors integration (feature `errors`): the 503 of a shed connection is an error
//! envelope (see [`serve`](mod@crate::serve)), [`CatchPanicLayer`] turns a panicking
//! handler into a 500 envelope, and [`panic_response`] does the same for tower-http's
//! `CatchPanicLayer`.
//!
//! [`CatchPanicLayer`] works on axum's `Response` as it is: tower-http's boxes every
//! response body into an `UnsyncBoxBody` (its panic response has another body type), which
//! an axum stack then boxes again into `axum::body::Body` — two allocations and two
//! levels of dynamic dispatch per request for a layer that almost never acts.
//!
//! ```
//! use axum::{Router, routing::get};
//! use axum::http::Request;
//! use keel_http::errors::CatchPanicLayer;
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let app: Router = Router::new()
//!     .route("/", get(|| async { if true { panic!("bug") } ; "unreachable" }))
//!     .layer(CatchPanicLayer::new());
//! let res = app.oneshot(Request::get("/").body(axum::body::Body::empty()).unwrap()).await.unwrap();
//! assert_eq!(res.status(), 500);
//! # }
//! ```
//!
//! With tower-http:
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
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::response::{IntoResponse, Response};
use http::Request;
use keel_errors::ApiError;
use tower_layer::Layer;
use tower_service::Service;

/// Layer of [`CatchPanic`]: a panic in the inner service's `call` or in its response
/// future becomes [`panic_response`]'s 500 envelope; the process keeps serving.
#[derive(Debug, Clone, Copy, Default)]
pub struct CatchPanicLayer;

impl CatchPanicLayer {
    /// Catches panics into 500 envelopes.
    pub const fn new() -> Self {
        Self
    }
}

impl<S> Layer<S> for CatchPanicLayer {
    type Service = CatchPanic<S>;

    fn layer(&self, inner: S) -> CatchPanic<S> {
        CatchPanic { inner }
    }
}

/// Turns panics of the inner service into 500 envelopes; see the [module docs](self).
#[derive(Debug, Clone, Copy)]
pub struct CatchPanic<S> {
    inner: S,
}

impl<S> CatchPanic<S> {
    /// The inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B> Service<Request<B>> for CatchPanic<S>
where
    S: Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = CatchPanicFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // The service is not used again after a panic in it only if the caller drops it;
        // as with tower-http's layer, a panicking `call` leaves it as the panic left it.
        match std::panic::catch_unwind(AssertUnwindSafe(|| self.inner.call(req))) {
            Ok(future) => CatchPanicFuture {
                state: State::Running { future },
            },
            Err(panic) => CatchPanicFuture {
                state: State::Panicked {
                    response: Some(panic_response(panic)),
                },
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// Response future of [`CatchPanic`].
    #[derive(Debug)]
    pub struct CatchPanicFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    #[derive(Debug)]
    enum State<F> {
        Running { #[pin] future: F },
        Panicked { response: Option<Response> },
    }
}

impl<F, E> Future for CatchPanicFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        let panic = match state.as_mut().project() {
            StateProj::Running { future } => {
                match std::panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
                    Ok(poll) => return poll,
                    Err(panic) => panic,
                }
            }
            StateProj::Panicked { response } => {
                return match response.take() {
                    Some(res) => Poll::Ready(Ok(res)),
                    // Polled after completion: never resolves again, as futures may.
                    None => Poll::Pending,
                };
            }
        };
        // The panicked future is dropped here, never polled again.
        state.set(State::Panicked { response: None });
        Poll::Ready(Ok(panic_response(panic)))
    }
}

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
