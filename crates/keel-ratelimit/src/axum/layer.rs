//! [`RateLimitLayer`], [`RateLimit`] and [`ResponseFuture`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::response::Response;
use http::request::Parts;
use http::{Extensions, Request};
use tower_layer::Layer;
use tower_service::Service;

use super::{KeyExtractor, Renderer};
use crate::headers::{Prepared, RateHeaders};
use crate::{Decision, Error, HeaderStyle, Key, KeyedLimiter, Limiter};

type PartsFn<T> = Arc<dyn Fn(&Parts) -> T + Send + Sync>;

/// What to do with a request whose key cannot be extracted.
///
/// ```
/// assert_eq!(keel_ratelimit::axum::MissingKey::default(), keel_ratelimit::axum::MissingKey::SharedBucket);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MissingKey {
    /// Count all such requests against one shared key (default): still limited, and a
    /// misconfiguration (no `ConnectInfo`) shows up as one hot key, not as no limit.
    /// When the key needs the peer address and a request has none (the server was not
    /// started with `into_make_service_with_connect_info`), the layer logs a warning once.
    #[default]
    SharedBucket,
    /// Let them through unlimited (e.g. an API-key limit behind an auth layer that
    /// already rejects requests without a key).
    Skip,
}

#[derive(Clone)]
struct Config {
    limiter: Limiter,
    key: KeyExtractor,
    cost: Option<PartsFn<u32>>,
    select: Option<PartsFn<Option<Limiter>>>,
    exempt: Option<PartsFn<bool>>,
    /// Path prefixes (segment-aligned, no trailing `/`) whose requests pass uncounted.
    exempt_paths: Vec<Box<str>>,
    shadow: bool,
    style: HeaderStyle,
    on_success: bool,
    renderer: Arc<dyn Renderer>,
    missing: MissingKey,
    /// The header parts of `limiter`, formatted once.
    prepared: Prepared,
    /// Whether the missing-`ConnectInfo` warning was logged (once per layer).
    warned_no_peer: Arc<AtomicBool>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitLayer")
            .field("limiter", &self.limiter)
            .field("key", &self.key)
            .field("cost", &self.cost.is_some())
            .field("limiter_for", &self.select.is_some())
            .field("exempt", &self.exempt.is_some())
            .field("exempt_paths", &self.exempt_paths)
            .field("shadow", &self.shadow)
            .field("style", &self.style)
            .field("headers_on_success", &self.on_success)
            .field("renderer", &self.renderer)
            .field("missing", &self.missing)
            .finish()
    }
}

/// A tower layer that rate limits requests by key, in the style of tower-http.
///
/// Admitted requests get the rate limit headers (IETF `RateLimit-Policy`/`RateLimit` and
/// the legacy `X-RateLimit-*`, see [`HeaderStyle`]); denied ones get the renderer's 429
/// with the same headers and `Retry-After`. Works as a router-wide layer or per route
/// (`route_layer`), with an in-memory or a Redis [`Limiter`].
///
/// ```
/// use std::net::SocketAddr;
/// use axum::{Router, routing::post};
/// use keel_ratelimit::{Limiter, axum::{KeyExtractor, RateLimitLayer}};
///
/// let login_limit = RateLimitLayer::new(Limiter::memory_from_spec("5/minute")?, KeyExtractor::peer_ip());
/// let app: Router = Router::new()
///     .route("/login", post(|| async { "welcome" }))
///     .route_layer(login_limit);
/// // axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
/// # Ok::<(), keel_ratelimit::Error>(())
/// ```
#[derive(Clone)]
#[must_use]
pub struct RateLimitLayer {
    config: Arc<Config>,
}

impl fmt::Debug for RateLimitLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.config.fmt(f)
    }
}

impl RateLimitLayer {
    /// A layer limiting requests with `limiter`, keyed by `key`.
    pub fn new(limiter: impl Into<Limiter>, key: KeyExtractor) -> Self {
        let limiter = limiter.into();
        let prepared = Prepared::new(limiter.quotas());
        Self {
            config: Arc::new(Config {
                limiter,
                key,
                cost: None,
                select: None,
                exempt: None,
                exempt_paths: Vec::new(),
                shadow: false,
                style: HeaderStyle::default(),
                on_success: true,
                renderer: default_renderer(),
                missing: MissingKey::default(),
                prepared,
                warned_no_peer: Arc::new(AtomicBool::new(false)),
            }),
        }
    }

    /// The cost of a request (default 1), e.g. by route or payload size. A cost above
    /// the burst is answered by [`Renderer::error`] (429 without `Retry-After`).
    ///
    /// ```
    /// # use keel_ratelimit::{Limiter, axum::{KeyExtractor, RateLimitLayer}};
    /// let layer = RateLimitLayer::new(Limiter::memory_from_spec("100/minute")?, KeyExtractor::global())
    ///     .cost(|parts| if parts.uri.path().starts_with("/export") { 10 } else { 1 });
    /// # Ok::<(), keel_ratelimit::Error>(())
    /// ```
    pub fn cost<F>(mut self, cost: F) -> Self
    where
        F: Fn(&Parts) -> u32 + Send + Sync + 'static,
    {
        Arc::make_mut(&mut self.config).cost = Some(Arc::new(cost));
        self
    }

    /// Per-key quotas: picks another limiter for some requests (say, a plan read from
    /// the authenticated user), the layer's own limiter for the others (`None`). Each
    /// limiter keeps its own keys, so moving a client to another tier starts it afresh.
    ///
    /// ```
    /// # use keel_ratelimit::{Limiter, axum::{KeyExtractor, RateLimitLayer}};
    /// #[derive(Clone)]
    /// struct Plan(&'static str);
    /// let free = Limiter::memory_from_spec("100/hour")?;
    /// let pro = Limiter::memory_from_spec("10000/hour")?;
    /// let layer = RateLimitLayer::new(free, KeyExtractor::header("x-api-key"))
    ///     .limiter_for(move |parts| match parts.extensions.get::<Plan>() {
    ///         Some(Plan("pro")) => Some(pro.clone()),
    ///         _ => None,
    ///     });
    /// # Ok::<(), keel_ratelimit::Error>(())
    /// ```
    pub fn limiter_for<F>(mut self, select: F) -> Self
    where
        F: Fn(&Parts) -> Option<Limiter> + Send + Sync + 'static,
    {
        Arc::make_mut(&mut self.config).select = Some(Arc::new(select));
        self
    }

    /// Requests for which `exempt` returns `true` pass without being counted.
    ///
    /// ```
    /// # use keel_ratelimit::{Limiter, axum::{KeyExtractor, RateLimitLayer}};
    /// let layer = RateLimitLayer::new(Limiter::memory_from_spec("100/minute")?, KeyExtractor::peer_ip())
    ///     .exempt(|parts| parts.uri.path() == "/health");
    /// # Ok::<(), keel_ratelimit::Error>(())
    /// ```
    pub fn exempt<F>(mut self, exempt: F) -> Self
    where
        F: Fn(&Parts) -> bool + Send + Sync + 'static,
    {
        Arc::make_mut(&mut self.config).exempt = Some(Arc::new(exempt));
        self
    }

    /// Requests whose path is `prefix` or lies below it (`/health` exempts `/health` and
    /// `/health/live`, not `/healthz` or `/health-report`) pass without being counted.
    /// Can be called several times; a trailing `/` is ignored, so `/` exempts every path.
    ///
    /// Prefer it to [`exempt`](Self::exempt) for path rules: a closure needs the request
    /// split into [`Parts`] (and put back together) on every request, while a path prefix
    /// is checked on the request as it is, and keeps the layer's allocation-free fast path
    /// for every other request.
    ///
    /// ```
    /// # use keel_ratelimit::{Limiter, axum::{KeyExtractor, RateLimitLayer}};
    /// let layer = RateLimitLayer::new(Limiter::memory_from_spec("100/minute")?, KeyExtractor::peer_ip())
    ///     .exempt_path_prefix("/health")
    ///     .exempt_path_prefix("/metrics");
    /// # Ok::<(), keel_ratelimit::Error>(())
    /// ```
    pub fn exempt_path_prefix(mut self, prefix: impl Into<String>) -> Self {
        let prefix: String = prefix.into();
        Arc::make_mut(&mut self.config)
            .exempt_paths
            .push(prefix.trim_end_matches('/').into());
        self
    }

    /// Shadow mode: count and log (`info`, target `keel_ratelimit`) what would be denied,
    /// never reject, send no rate limit headers. For rolling out a new limit.
    pub fn shadow(mut self, shadow: bool) -> Self {
        Arc::make_mut(&mut self.config).shadow = shadow;
        self
    }

    /// Which headers to send (default [`HeaderStyle::Both`]).
    pub fn header_style(mut self, style: HeaderStyle) -> Self {
        Arc::make_mut(&mut self.config).style = style;
        self
    }

    /// Whether admitted responses carry the headers too (default `true`).
    pub fn headers_on_success(mut self, on: bool) -> Self {
        Arc::make_mut(&mut self.config).on_success = on;
        self
    }

    /// The renderer of rejections. The default is the keel error envelope
    /// (`EnvelopeRenderer`) with the `errors` feature, [`PlainTextRenderer`](super::PlainTextRenderer)
    /// without it.
    pub fn renderer(mut self, renderer: impl Renderer) -> Self {
        Arc::make_mut(&mut self.config).renderer = Arc::new(renderer);
        self
    }

    /// What to do when the key extractor yields nothing (default
    /// [`MissingKey::SharedBucket`]).
    pub fn on_missing_key(mut self, missing: MissingKey) -> Self {
        Arc::make_mut(&mut self.config).missing = missing;
        self
    }
}

/// The renderer a new layer starts with: the keel envelope when the `errors` feature is on.
fn default_renderer() -> Arc<dyn Renderer> {
    #[cfg(feature = "errors")]
    {
        Arc::new(super::EnvelopeRenderer)
    }
    #[cfg(not(feature = "errors"))]
    {
        Arc::new(super::PlainTextRenderer)
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;

    fn layer(&self, inner: S) -> RateLimit<S> {
        RateLimit {
            inner,
            config: Arc::clone(&self.config),
        }
    }
}

/// The middleware service of [`RateLimitLayer`].
#[derive(Clone)]
pub struct RateLimit<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S: fmt::Debug> fmt::Debug for RateLimit<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimit")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .finish()
    }
}

impl<S> RateLimit<S> {
    /// Wraps `inner` with the configuration of `layer`.
    pub fn new(inner: S, layer: &RateLimitLayer) -> Self {
        layer.layer(inner)
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

enum Verdict {
    Proceed(Option<RateHeaders>),
    Reject(Response),
}

/// The key used for requests without one under [`MissingKey::SharedBucket`]; the NUL
/// byte keeps it apart from any header value.
fn unkeyed() -> Key {
    Key::from("\0unkeyed")
}

impl Config {
    /// `own`: the decision comes from the layer's own limiter, whose header parts are
    /// pre-formatted.
    fn verdict(&self, parts: &Parts, result: Result<Decision, Error>, own: bool) -> Verdict {
        match result {
            Ok(d) if d.is_allowed() => Verdict::Proceed(
                (self.on_success && !self.shadow).then(|| self.rate_headers(&d, own)),
            ),
            Ok(d) if self.shadow => {
                tracing::info!(
                    target: "keel_ratelimit",
                    method = %parts.method,
                    path = %parts.uri.path(),
                    retry_after_ms = d.retry_after().map(|r| r.as_millis()),
                    "shadow mode: request would be rate limited"
                );
                Verdict::Proceed(None)
            }
            Ok(d) => {
                let mut res = self.renderer.rate_limited(&d, parts);
                self.rate_headers(&d, own).apply(res.headers_mut());
                Verdict::Reject(res)
            }
            Err(e) if self.shadow => {
                tracing::warn!(target: "keel_ratelimit", error = %e, "shadow mode: rate limiter failed");
                Verdict::Proceed(None)
            }
            Err(e) => {
                if e.is_retryable() {
                    tracing::warn!(target: "keel_ratelimit", error = %e, "rate limiter unavailable; rejecting");
                }
                Verdict::Reject(self.renderer.error(&e, parts))
            }
        }
    }

    /// The headers of `d` in the configured style; `own`: `d` comes from the layer's
    /// own limiter, whose header parts are pre-formatted.
    fn rate_headers(&self, d: &Decision, own: bool) -> RateHeaders {
        RateHeaders::new(d, self.style, own.then_some(&self.prepared))
    }

    /// The key and cost of a request, or `None` to let it through unlimited.
    fn key_and_cost(&self, parts: &Parts) -> Option<(Key, u32)> {
        if self.exempt.as_ref().is_some_and(|f| f(parts)) {
            return None;
        }
        let key = match self.key.extract(parts) {
            Some(k) => k,
            None => match self.missing {
                MissingKey::SharedBucket => {
                    self.warn_if_no_peer(&parts.extensions);
                    unkeyed()
                }
                MissingKey::Skip => return None,
            },
        };
        let cost = self.cost.as_ref().map_or(1, |f| f(parts));
        Some((key, cost))
    }
}

impl Config {
    /// Whether `path` is one of the [`exempt_path_prefix`](RateLimitLayer::exempt_path_prefix)
    /// prefixes or below one (segment-aligned).
    fn exempt_path(&self, path: &str) -> bool {
        self.exempt_paths.iter().any(|p| {
            path.strip_prefix(&**p)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
    }

    /// Whether a request can be keyed and counted without splitting it into [`Parts`]:
    /// no closure over `Parts` (exemption, cost, limiter choice, key) is configured.
    fn borrows_request(&self) -> bool {
        self.exempt.is_none()
            && self.cost.is_none()
            && self.select.is_none()
            && !self.key.needs_parts()
    }

    /// Logs once per layer when the key needs the peer address and the request has none:
    /// the usual cause is serving without `into_make_service_with_connect_info`, which
    /// silently turns a per-client limit into one bucket shared by every client.
    #[cold]
    fn warn_if_no_peer(&self, extensions: &Extensions) {
        if self.warned_no_peer.load(Ordering::Relaxed)
            || !self.key.uses_peer()
            || super::extract::has_peer(extensions)
        {
            return;
        }
        if !self.warned_no_peer.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                target: "keel_ratelimit",
                key = ?self.key,
                "rate limit key needs the client address, but the request has no \
                 ConnectInfo<SocketAddr>: every such request now shares ONE bucket \
                 (MissingKey::SharedBucket), so one client can exhaust the limit for all. \
                 Serve with `axum::serve(listener, \
                 app.into_make_service_with_connect_info::<SocketAddr>())`, or set \
                 `.on_missing_key(MissingKey::Skip)` if unkeyed requests may pass. \
                 (Logged once per layer.)"
            );
        }
    }
}

impl<S, B> Service<Request<B>> for RateLimit<S>
where
    S: Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        if self.config.exempt_path(req.uri().path()) {
            return ResponseFuture::inner(self.inner.call(req), None);
        }
        let memory = if self.config.borrows_request() {
            self.config.limiter.as_keyed()
        } else {
            None
        };
        if let Some(memory) = memory {
            return call_borrowed(&mut self.inner, &self.config, memory, req);
        }
        let (parts, body) = req.into_parts();
        let Some((key, cost)) = self.config.key_and_cost(&parts) else {
            return ResponseFuture::inner(self.inner.call(Request::from_parts(parts, body)), None);
        };
        let chosen = self.config.select.as_ref().and_then(|f| f(&parts));
        let own = chosen.is_none();
        let limiter = chosen.as_ref().unwrap_or(&self.config.limiter);
        if let Some(memory) = limiter.as_keyed() {
            // In memory: decide synchronously, no allocation, no extra poll.
            let result = memory.check_key(&key, cost);
            return match self.config.verdict(&parts, result, own) {
                Verdict::Proceed(h) => {
                    ResponseFuture::inner(self.inner.call(Request::from_parts(parts, body)), h)
                }
                Verdict::Reject(res) => ResponseFuture::ready(res),
            };
        }
        // A remote backend: await the decision, then call the service that was made ready.
        let limiter = limiter.clone();
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let config = Arc::clone(&self.config);
        ResponseFuture::boxed(Box::pin(async move {
            let result = limiter.check_key(&key, cost).await;
            match config.verdict(&parts, result, own) {
                Verdict::Proceed(h) => {
                    let mut res = inner.call(Request::from_parts(parts, body)).await?;
                    if let Some(h) = h {
                        h.apply(res.headers_mut());
                    }
                    Ok(res)
                }
                Verdict::Reject(res) => Ok(res),
            }
        }))
    }
}

/// The hot path of the common configuration (a built-in key extractor, cost 1, the
/// layer's own in-memory limiter): keys the request by borrowing it and passes it on
/// whole; only a request that is not simply admitted is split into [`Parts`] for the
/// shared [`Config::verdict`] and the renderer. Same decisions and headers as the
/// general path in `call`.
fn call_borrowed<S, B>(
    inner: &mut S,
    config: &Config,
    memory: &KeyedLimiter<Key>,
    req: Request<B>,
) -> ResponseFuture<S::Future, S::Error>
where
    S: Service<Request<B>, Response = Response>,
{
    let key = match config.key.extract_from(&req) {
        Some(k) => k,
        None => match config.missing {
            MissingKey::SharedBucket => {
                config.warn_if_no_peer(req.extensions());
                unkeyed()
            }
            MissingKey::Skip => return ResponseFuture::inner(inner.call(req), None),
        },
    };
    match memory.check_key(&key, 1) {
        Ok(d) if d.is_allowed() => {
            let headers =
                (config.on_success && !config.shadow).then(|| config.rate_headers(&d, true));
            ResponseFuture::inner(inner.call(req), headers)
        }
        other => {
            let (parts, body) = req.into_parts();
            match config.verdict(&parts, other, true) {
                Verdict::Proceed(h) => {
                    ResponseFuture::inner(inner.call(Request::from_parts(parts, body)), h)
                }
                Verdict::Reject(res) => ResponseFuture::ready(res),
            }
        }
    }
}

type BoxFuture<E> = Pin<Box<dyn Future<Output = Result<Response, E>> + Send>>;

pin_project_lite::pin_project! {
    /// The response future of [`RateLimit`].
    pub struct ResponseFuture<F, E> {
        #[pin]
        state: State<F, E>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F, E> {
        Inner { #[pin] future: F, headers: Option<RateHeaders> },
        Ready { response: Option<Response> },
        Boxed { future: BoxFuture<E> },
    }
}

impl<F, E> fmt::Debug for ResponseFuture<F, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, E> ResponseFuture<F, E> {
    fn inner(future: F, headers: Option<RateHeaders>) -> Self {
        Self {
            state: State::Inner { future, headers },
        }
    }

    fn ready(response: Response) -> Self {
        Self {
            state: State::Ready {
                response: Some(response),
            },
        }
    }

    fn boxed(future: BoxFuture<E>) -> Self {
        Self {
            state: State::Boxed { future },
        }
    }
}

impl<F, E> Future for ResponseFuture<F, E>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Inner { future, headers } => {
                let mut res = std::task::ready!(future.poll(cx))?;
                if let Some(h) = headers.take() {
                    h.apply(res.headers_mut());
                }
                Poll::Ready(Ok(res))
            }
            StateProj::Ready { response } => match response.take() {
                Some(r) => Poll::Ready(Ok(r)),
                // Polled after completion: never resolves again, as futures may.
                None => Poll::Pending,
            },
            StateProj::Boxed { future } => future.as_mut().poll(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(prefixes: &[&str], path: &str, exempt: bool) {
        let limiter = Limiter::memory_from_spec("1/second").expect("quota");
        let mut layer = RateLimitLayer::new(limiter, KeyExtractor::peer_ip());
        for p in prefixes {
            layer = layer.exempt_path_prefix(*p);
        }
        assert_eq!(
            layer.config.exempt_path(path),
            exempt,
            "{prefixes:?} {path}"
        );
        // A path rule keeps the borrowed-request fast path; a closure does not.
        assert!(layer.config.borrows_request());
        assert!(!layer.exempt(|_| false).config.borrows_request());
    }

    #[test]
    fn exempt_path_prefixes_are_segment_aligned() {
        check(&["/health"], "/health", true);
        check(&["/health"], "/health/live", true);
        check(&["/health/"], "/health/live", true);
        check(&["/health/"], "/health", true);
        check(&["/health"], "/healthz", false);
        check(&["/health"], "/health-report", false);
        check(&["/health"], "/api/health", false);
        check(&["/health"], "/", false);
        check(&["/metrics", "/health"], "/health/ready", true);
        check(&["/"], "/anything", true);
        check(&[], "/health", false);
    }
}
