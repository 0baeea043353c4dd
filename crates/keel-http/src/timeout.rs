//! A handler timeout that arms no timer for responses ready at once.
//!
//! [`TimeoutLayer`] answers a request whose inner service has not responded within the
//! timeout with an empty response of the configured status (`504 Gateway Timeout` by
//! default; keel-errors' `RenderErrorsLayer` outside it turns that into an envelope), and
//! drops the inner future. The deadline is taken when the request is called, as
//! tower-http's `TimeoutLayer` takes it.
//!
//! The difference is when the timer is armed. tower-http creates a Tokio `Sleep` per
//! request and polls it before the inner future, so **every** request registers a timer
//! in the runtime's timer wheel and removes it again when it is dropped (a lock on the
//! wheel each time). Here the inner future is polled first and the `Sleep` is created and
//! registered only when it returns `Pending`: a response that is ready on the first poll
//! (a health probe, a cache hit, a rejection by an inner layer) costs one clock read;
//! a request that waits (for the database, say) is timed exactly as before.
//!
//! ```
//! use std::time::Duration;
//! use axum::{Router, routing::get};
//! use axum::http::{Request, StatusCode};
//! use keel_http::timeout::TimeoutLayer;
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let app: Router = Router::new()
//!     .route("/slow", get(|| async { tokio::time::sleep(Duration::from_secs(60)).await; "late" }))
//!     .layer(TimeoutLayer::new(Duration::from_secs(10)));
//! let res = app.oneshot(Request::get("/slow").body(axum::body::Body::empty()).unwrap()).await.unwrap();
//! assert_eq!(res.status(), StatusCode::GATEWAY_TIMEOUT);
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use http::{Request, Response, StatusCode};
use tokio::time::{Instant, Sleep};
use tower_layer::Layer;
use tower_service::Service;

/// Layer of [`Timeout`]: `status` (default `504 Gateway Timeout`) when the inner service
/// takes longer than the timeout.
#[derive(Debug, Clone, Copy)]
pub struct TimeoutLayer {
    timeout: Duration,
    status: StatusCode,
}

impl TimeoutLayer {
    /// Answers `504 Gateway Timeout` after `timeout`.
    pub const fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            status: StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// Answers `status` instead of 504 (e.g. `503` or `408`).
    #[must_use]
    pub const fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// The timeout.
    pub const fn timeout(&self) -> Duration {
        self.timeout
    }
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = Timeout<S>;

    fn layer(&self, inner: S) -> Timeout<S> {
        Timeout {
            inner,
            timeout: self.timeout,
            status: self.status,
        }
    }
}

/// Times out the inner service; see the [module docs](self).
#[derive(Debug, Clone, Copy)]
pub struct Timeout<S> {
    inner: S,
    timeout: Duration,
    status: StatusCode,
}

impl<S> Timeout<S> {
    /// The inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B, ResBody> Service<Request<B>> for Timeout<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // `checked_add`: an unrepresentable deadline is no deadline, not a panic.
        let deadline = Instant::now().checked_add(self.timeout);
        ResponseFuture {
            inner: self.inner.call(req),
            timer: Timer::Idle { deadline },
            status: self.status,
        }
    }
}

pin_project_lite::pin_project! {
    /// Response future of [`Timeout`].
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        #[pin]
        timer: Timer,
        status: StatusCode,
    }
}

pin_project_lite::pin_project! {
    /// The deadline until the inner future first waits, then the armed timer.
    #[project = TimerProj]
    #[derive(Debug)]
    enum Timer {
        Idle { deadline: Option<Instant> },
        Armed { #[pin] sleep: Sleep },
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    ResBody: Default,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Poll::Ready(res) = this.inner.poll(cx) {
            return Poll::Ready(res);
        }
        if let TimerProj::Idle { deadline } = this.timer.as_mut().project() {
            // A deadline too far to represent never fires.
            let Some(deadline) = *deadline else {
                return Poll::Pending;
            };
            this.timer.set(Timer::Armed {
                sleep: tokio::time::sleep_until(deadline),
            });
        }
        if let TimerProj::Armed { sleep } = this.timer.project() {
            ready!(sleep.poll(cx));
        }
        let mut res = Response::new(ResBody::default());
        *res.status_mut() = *this.status;
        Poll::Ready(Ok(res))
    }
}
