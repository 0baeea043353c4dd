use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::response::Response;
use http::{HeaderValue, Request, StatusCode, header};
use keel_envelope::axum::{Rejection, json_response};
use tower_layer::Layer;
use tower_service::Service;

use super::response::{RenderedError, kind_for_status, render};
use crate::ApiError;
use crate::problem::{PROBLEM_JSON, ProblemDetails};

/// How [`RenderErrorsLayer`] renders error bodies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorFormat {
    /// The keel envelope (`application/json`).
    #[default]
    Envelope,
    /// RFC 9457 problem details (`application/problem+json`).
    Problem,
    /// Problem details when the request's `Accept` names `application/problem+json`,
    /// the envelope otherwise.
    Negotiate,
}

/// A tower layer that finishes error responses: adds the request id to every error
/// body, renders the chosen [`ErrorFormat`], and turns bodiless error responses made
/// by other layers (a 504 from a timeout layer, a bare 413) into proper error bodies.
/// Headers set by inner layers (rate-limit headers, security headers) are kept.
///
/// Place it inside the layer that sets `X-Request-Id` so the id is on the request.
///
/// ```
/// use keel_errors::axum::{ErrorFormat, RenderErrorsLayer};
/// let layer = RenderErrorsLayer::new().format(ErrorFormat::Problem);
/// let app: axum::Router = axum::Router::new().layer(layer);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct RenderErrorsLayer {
    format: ErrorFormat,
}

impl RenderErrorsLayer {
    /// Envelope rendering.
    pub const fn new() -> Self {
        Self {
            format: ErrorFormat::Envelope,
        }
    }

    /// Sets the rendering.
    #[must_use]
    pub const fn format(mut self, format: ErrorFormat) -> Self {
        self.format = format;
        self
    }
}

impl<S> Layer<S> for RenderErrorsLayer {
    type Service = RenderErrors<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RenderErrors {
            inner,
            format: self.format,
        }
    }
}

/// The service made by [`RenderErrorsLayer`].
#[derive(Debug, Clone)]
pub struct RenderErrors<S> {
    inner: S,
    format: ErrorFormat,
}

impl<S> RenderErrors<S> {
    /// Wraps `inner` with envelope rendering.
    pub const fn new(inner: S) -> Self {
        Self {
            inner,
            format: ErrorFormat::Envelope,
        }
    }

    /// The wrapped service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// What `finish` needs from the request. Kept cheap because it is taken on every
/// request while only error responses use it: the request id stays a `HeaderValue`
/// (a reference-counted clone) and the path is copied only for problem details.
#[derive(Debug)]
struct RequestContext {
    request_id: Option<HeaderValue>,
    problem: bool,
    path: Option<String>,
}

impl RequestContext {
    fn request_id(&self) -> Option<String> {
        self.request_id
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .filter(|id| keel_envelope::is_valid_request_id(id))
            .map(str::to_owned)
    }
}

impl<S, B> Service<Request<B>> for RenderErrors<S>
where
    S: Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let problem = match self.format {
            ErrorFormat::Envelope => false,
            ErrorFormat::Problem => true,
            ErrorFormat::Negotiate => req
                .headers()
                .get_all(header::ACCEPT)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .any(|v| v.contains(PROBLEM_JSON)),
        };
        let ctx = RequestContext {
            request_id: req.headers().get("x-request-id").cloned(),
            problem,
            path: problem.then(|| req.uri().path().to_owned()),
        };
        ResponseFuture {
            inner: self.inner.call(req),
            ctx: Some(ctx),
        }
    }
}

pin_project_lite::pin_project! {
    /// Response future of [`RenderErrors`].
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        ctx: Option<RequestContext>,
    }
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let res = std::task::ready!(this.inner.poll(cx))?;
        let Some(ctx) = this.ctx.take() else {
            return Poll::Ready(Ok(res));
        };
        Poll::Ready(Ok(finish(res, &ctx)))
    }
}

fn finish(res: Response, ctx: &RequestContext) -> Response {
    let mut res = rerender(res, ctx);
    // Every error response is `no-store` (docs/errors.md), including those this layer passes
    // through untouched (extractor rejections, other layers' plain-text 429s); a
    // `Cache-Control` the handler set on purpose is kept.
    if res.status().as_u16() >= 400 && !res.headers().contains_key(header::CACHE_CONTROL) {
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

fn rerender(res: Response, ctx: &RequestContext) -> Response {
    let public = if let Some(RenderedError(public)) = res.extensions().get::<RenderedError>() {
        if !ctx.problem && (public.request_id.is_some() || ctx.request_id().is_none()) {
            return res;
        }
        public.clone()
    } else if let Some(rejection) = res.extensions().get::<Rejection>() {
        if !ctx.problem {
            return res; // already an envelope with the request id
        }
        ApiError::from(rejection.clone()).public
    } else if res.status().as_u16() >= 400 && !res.headers().contains_key(header::CONTENT_TYPE) {
        let Some(kind) = kind_for_status(res.status()) else {
            return res;
        };
        let err = ApiError::from_kind(kind);
        let err = match ctx.request_id() {
            Some(id) => err.with_request_id(id),
            None => err,
        };
        err.log();
        err.public
    } else {
        return res;
    };
    let mut public = public;
    if public.request_id.is_none() {
        public.request_id = ctx.request_id();
    }
    // `instance` is the path only: a query string may carry tokens.
    let rendered = render(&public, ctx.path.as_deref());
    let (mut parts, _) = res.into_parts();
    let (new_parts, body) = rendered.into_parts();
    // Per name, the rendered values replace the old ones; a repeated name (two extra
    // `Set-Cookie`s) keeps all its values.
    parts.headers.extend(new_parts.headers);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.extensions.insert(RenderedError(public));
    Response::from_parts(parts, body)
}

pub(crate) fn problem_response(status: StatusCode, problem: &ProblemDetails) -> Response {
    let mut res = json_response(status, problem);
    if res.status() == status {
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    }
    res
}
