//! [`VerifyBearer`]: middleware that verifies an optional bearer token and records the
//! result in the request extensions, never rejecting.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Request;
use serde::de::DeserializeOwned;
use tower_layer::Layer;
use tower_service::Service;

use super::Authenticated;
use super::authenticated::authenticate;
use crate::Authenticator;

/// Verifies the request's `Authorization: Bearer …` token, if any, exactly as
/// [`Authenticated`] does (signature, claims, and the token version and session when the
/// [`Authenticator`] has [`Revocations`](crate::Revocations)), and on success inserts
/// [`Authenticated<C>`] into the request extensions. **Never rejects**: a request without
/// a token, with a bad or revoked one, or met while the revocation store is down goes on
/// without the extension (the reason is logged at `debug`).
///
/// For what behaves differently for authenticated callers without requiring them: health
/// details for admins (keel-health's `DetailsPolicy::when` reads the extension),
/// anonymous-or-user pages, per-user rate-limit keys. Handlers behind the layer read the
/// claims with `Extension<Authenticated>`, and [`Authenticated`] / the guards reuse them
/// instead of verifying the token a second time. Requests without an `Authorization`
/// header pass straight through (no allocation).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use axum::{Extension, Router, body::Body, http::Request, routing::get};
/// use keel_auth::axum::{Authenticated, VerifyBearerLayer};
/// use keel_auth::{AccessTokens, Authenticator, Claims, Key, KeySet};
/// use tower::ServiceExt;
///
/// async fn greet(user: Option<Extension<Authenticated>>) -> String {
///     match user {
///         Some(Extension(user)) if user.has_role("admin") => format!("hello admin {}", user.sub),
///         Some(Extension(user)) => format!("hello {}", user.sub),
///         None => "hello stranger".to_owned(),
///     }
/// }
///
/// let tokens = AccessTokens::builder("https://auth.example.com", KeySet::new(Key::generate_hs256("k1")?)?).build()?;
/// let auth = Authenticator::new(tokens);
/// let token = auth.issue(Claims::<()>::new("ada").roles(["admin"])).await?;
/// let app: Router = Router::new()
///     .route("/", get(greet))
///     .layer(VerifyBearerLayer::new(auth));
///
/// let bearer = format!("Bearer {}", token.as_str());
/// for (authorization, expected) in [(bearer.as_str(), "hello admin ada"), ("Bearer forged", "hello stranger")] {
///     let req = Request::get("/").header("authorization", authorization).body(Body::empty())?;
///     let res = app.clone().oneshot(req).await?;
///     assert_eq!(res.status(), 200); // never rejected
///     let body = axum::body::to_bytes(res.into_body(), 1024).await?;
///     assert_eq!(&body[..], expected.as_bytes());
/// }
/// # Ok(()) }
/// ```
pub struct VerifyBearerLayer<C = ()> {
    auth: Authenticator,
    _claims: PhantomData<fn() -> C>,
}

impl VerifyBearerLayer {
    /// A layer verifying with `auth` and recording [`Authenticated`] (no custom claims;
    /// see [`claims`](Self::claims)).
    #[must_use]
    pub const fn new(auth: Authenticator) -> Self {
        Self {
            auth,
            _claims: PhantomData,
        }
    }
}

impl<C> VerifyBearerLayer<C> {
    /// Records [`Authenticated<T>`] instead: `T` is the type of your custom claims, as in
    /// the extractor.
    ///
    /// ```
    /// # fn main() -> keel_auth::Result<()> {
    /// use keel_auth::axum::VerifyBearerLayer;
    /// use keel_auth::{AccessTokens, Authenticator, Key, KeySet};
    ///
    /// #[derive(Clone, serde::Deserialize)]
    /// struct Tenant {
    ///     tenant: String,
    /// }
    ///
    /// let tokens = AccessTokens::builder("https://auth.example.com", KeySet::new(Key::generate_hs256("k1")?)?).build()?;
    /// let layer: VerifyBearerLayer<Tenant> = VerifyBearerLayer::new(Authenticator::new(tokens)).claims();
    /// # drop(layer); Ok(()) }
    /// ```
    #[must_use]
    pub fn claims<T>(self) -> VerifyBearerLayer<T> {
        VerifyBearerLayer {
            auth: self.auth,
            _claims: PhantomData,
        }
    }
}

impl<C> Clone for VerifyBearerLayer<C> {
    fn clone(&self) -> Self {
        Self {
            auth: self.auth.clone(),
            _claims: PhantomData,
        }
    }
}

impl<C> fmt::Debug for VerifyBearerLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyBearerLayer").finish_non_exhaustive()
    }
}

impl<S, C> Layer<S> for VerifyBearerLayer<C> {
    type Service = VerifyBearer<S, C>;

    fn layer(&self, inner: S) -> VerifyBearer<S, C> {
        VerifyBearer {
            inner,
            auth: self.auth.clone(),
            _claims: PhantomData,
        }
    }
}

/// The service of [`VerifyBearerLayer`].
pub struct VerifyBearer<S, C = ()> {
    inner: S,
    auth: Authenticator,
    _claims: PhantomData<fn() -> C>,
}

impl<S> VerifyBearer<S> {
    /// Wraps `inner`, verifying with `auth` (no custom claims: use the layer's
    /// [`claims`](VerifyBearerLayer::claims) for those).
    #[must_use]
    pub const fn new(inner: S, auth: Authenticator) -> Self {
        Self {
            inner,
            auth,
            _claims: PhantomData,
        }
    }
}

impl<S, C> VerifyBearer<S, C> {
    /// The wrapped service.
    #[must_use]
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, C> Clone for VerifyBearer<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            auth: self.auth.clone(),
            _claims: PhantomData,
        }
    }
}

impl<S: fmt::Debug, C> fmt::Debug for VerifyBearer<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyBearer")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, C, B> Service<Request<B>> for VerifyBearer<S, C>
where
    S: Service<Request<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    C: DeserializeOwned + Send + Sync + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, S::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        if !req.headers().contains_key(http::header::AUTHORIZATION) {
            return ResponseFuture {
                state: State::Inner {
                    future: self.inner.call(req),
                },
            };
        }
        // The service that was made ready serves this request; the clone serves the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let auth = self.auth.clone();
        let future = Box::pin(async move {
            let (mut parts, body) = req.into_parts();
            match authenticate::<C>(&parts, &auth).await {
                Ok(Some(claims)) => {
                    parts.extensions.insert(Authenticated(claims));
                }
                Ok(None) => {}
                Err(rejection) => {
                    tracing::debug!(
                        kind = ?rejection.kind(),
                        "bearer token not accepted; the request goes on unauthenticated"
                    );
                }
            }
            inner.call(Request::from_parts(parts, body)).await
        });
        ResponseFuture {
            state: State::Boxed { future },
        }
    }
}

type BoxFuture<R, E> = Pin<Box<dyn Future<Output = Result<R, E>> + Send>>;

pin_project_lite::pin_project! {
    /// The response future of [`VerifyBearer`].
    pub struct ResponseFuture<F, R, E> {
        #[pin]
        state: State<F, R, E>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F, R, E> {
        Inner { #[pin] future: F },
        Boxed { future: BoxFuture<R, E> },
    }
}

impl<F, R, E> fmt::Debug for ResponseFuture<F, R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, R, E> Future for ResponseFuture<F, R, E>
where
    F: Future<Output = Result<R, E>>,
{
    type Output = Result<R, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Inner { future } => future.poll(cx),
            StateProj::Boxed { future } => future.as_mut().poll(cx),
        }
    }
}
