//! [`HealthRouter`]: the health endpoints as an axum `Router`.

use std::convert::Infallible;

use ::axum::Router;
use ::axum::body::{Body, Bytes};
use ::axum::extract::{Request, State};
use ::axum::response::{IntoResponse, Response};
use ::axum::routing::{MethodRouter, Route, get};
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, StatusCode};

use super::DetailsPolicy;
use crate::report::status_only_json;
use crate::{Detail, Health, HealthReport, Probe, Status};

/// Builds the health [`Router`]: `/health/live`, `/health/ready`, `/health/startup` and
/// `/health`, optionally `/livez`, `/readyz`, `/startupz` too.
///
/// ```
/// use keel_health::{Health, axum::{DetailsPolicy, HealthRouter}};
///
/// let health = Health::builder().build()?;
/// let router: axum::Router = HealthRouter::new(health)
///     .details(DetailsPolicy::loopback())
///     .kubernetes_paths(true)
///     .into_router();
/// # let _ = router;
/// # Ok::<(), keel_health::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct HealthRouter {
    health: Health,
    policy: DetailsPolicy,
    kubernetes_paths: bool,
}

#[derive(Clone)]
struct AppState {
    health: Health,
    policy: DetailsPolicy,
}

impl HealthRouter {
    /// A router for `health` that shows details to nobody.
    #[must_use]
    pub fn new(health: Health) -> Self {
        Self {
            health,
            policy: DetailsPolicy::never(),
            kubernetes_paths: false,
        }
    }

    /// Sets who sees the full report (default: [`DetailsPolicy::never`]).
    #[must_use]
    pub fn details(mut self, policy: DetailsPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Also serves the probes at Kubernetes' own paths: `/livez`, `/readyz`, `/startupz`.
    #[must_use]
    pub const fn kubernetes_paths(mut self, on: bool) -> Self {
        self.kubernetes_paths = on;
        self
    }

    /// The OpenAPI description of the paths this router serves (the Kubernetes paths
    /// included when on), to tag, describe and merge into the application's document.
    ///
    /// ```
    /// use keel_health::{Health, axum::HealthRouter};
    ///
    /// let router = HealthRouter::new(Health::builder().build()?).kubernetes_paths(true);
    /// let doc = router.openapi_paths().tag("operations").openapi();
    /// assert!(doc.paths.paths.contains_key("/readyz"));
    /// # Ok::<(), keel_health::Error>(())
    /// ```
    #[cfg(feature = "utoipa")]
    #[cfg_attr(docsrs, doc(cfg(feature = "utoipa")))]
    #[must_use]
    pub const fn openapi_paths(&self) -> crate::openapi::HealthPaths {
        crate::openapi::HealthPaths::new().kubernetes_paths(self.kubernetes_paths)
    }

    /// The router; merge it into the application's (`Router::merge`) or nest it.
    pub fn into_router<S>(self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        self.build(get(full))
    }

    /// The router, with `layer` around the full report (`/health`) only: e.g. a
    /// middleware that authenticates the caller for a [`DetailsPolicy`] (its cost is
    /// then never paid by the probes, which show no details). With keel-auth, its
    /// `VerifyBearerLayer` records a valid, unrevoked bearer token's claims for
    /// `DetailsPolicy::when(|p| p.extensions.get::<Authenticated>().is_some_and(|a| a.has_role("admin")))`.
    ///
    /// ```
    /// use axum::{extract::Request, middleware::{self, Next}, response::Response};
    /// use keel_health::{Health, axum::{DetailsPolicy, HealthRouter}};
    ///
    /// #[derive(Clone)]
    /// struct Admin;
    ///
    /// async fn mark_admin(mut req: Request, next: Next) -> Response {
    ///     if req.headers().contains_key("x-admin-demo") {
    ///         req.extensions_mut().insert(Admin);
    ///     }
    ///     next.run(req).await
    /// }
    ///
    /// let health = Health::builder().build()?;
    /// let router: axum::Router = HealthRouter::new(health)
    ///     .details(DetailsPolicy::when(|p| p.extensions.get::<Admin>().is_some()))
    ///     .into_router_with_report_layer(middleware::from_fn(mark_admin));
    /// # let _ = router;
    /// # Ok::<(), keel_health::Error>(())
    /// ```
    pub fn into_router_with_report_layer<S, L>(self, layer: L) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
        L: tower_layer::Layer<Route> + Clone + Send + Sync + 'static,
        L::Service: tower_service::Service<Request> + Clone + Send + Sync + 'static,
        <L::Service as tower_service::Service<Request>>::Response: IntoResponse + 'static,
        <L::Service as tower_service::Service<Request>>::Error: Into<Infallible> + 'static,
        <L::Service as tower_service::Service<Request>>::Future: Send + 'static,
    {
        self.build(get(full).layer(layer))
    }

    fn build<S>(self, full: MethodRouter<AppState>) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let mut router = Router::new()
            .route(Probe::Liveness.path(), get(live))
            .route(Probe::Readiness.path(), get(ready))
            .route(Probe::Startup.path(), get(startup))
            .route(Probe::Full.path(), full);
        if self.kubernetes_paths {
            router = router
                .route("/livez", get(live))
                .route("/readyz", get(ready))
                .route("/startupz", get(startup));
        }
        router.with_state(AppState {
            health: self.health,
            policy: self.policy,
        })
    }
}

impl Health {
    /// The health endpoints with the default policy (status only for everybody); see
    /// [`HealthRouter`] to grant details.
    ///
    /// ```
    /// let health = keel_health::Health::builder().build()?;
    /// let app: axum::Router = axum::Router::new().merge(health.router());
    /// # let _ = app;
    /// # Ok::<(), keel_health::Error>(())
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
    pub fn router<S>(&self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        HealthRouter::new(self.clone()).into_router()
    }
}

async fn live(State(state): State<AppState>, request: Request) -> Response {
    answer(&state, Probe::Liveness, request).await
}

async fn ready(State(state): State<AppState>, request: Request) -> Response {
    answer(&state, Probe::Readiness, request).await
}

async fn startup(State(state): State<AppState>, request: Request) -> Response {
    answer(&state, Probe::Startup, request).await
}

async fn full(State(state): State<AppState>, request: Request) -> Response {
    answer(&state, Probe::Full, request).await
}

async fn answer(state: &AppState, probe: Probe, request: Request) -> Response {
    // Decide before running anything; the body is never read.
    let detail = if state.policy.is_never() || !state.policy.allows(&request.into_parts().0) {
        Detail::StatusOnly
    } else {
        Detail::Full
    };
    let report = state.health.evaluate(probe).await;
    respond(&report, detail)
}

fn respond(report: &HealthReport, detail: Detail) -> Response {
    let body = match detail {
        Detail::StatusOnly => Body::from(Bytes::from_static(status_only_json(report.status()))),
        Detail::Full => Body::from(report.to_json(Detail::Full)),
    };
    let mut response = Response::new(body);
    if report.status() == Status::Fail {
        *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    }
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(crate::CONTENT_TYPE));
    headers.insert(
        CACHE_CONTROL,
        cache_control(report.max_age().as_secs(), detail),
    );
    response
}

fn cache_control(secs: u64, detail: Detail) -> HeaderValue {
    // Details must not land in a shared cache.
    match (detail, secs) {
        (Detail::StatusOnly, 0) => HeaderValue::from_static("max-age=0"),
        (Detail::Full, 0) => HeaderValue::from_static("private, max-age=0"),
        (Detail::StatusOnly, n) => HeaderValue::try_from(format!("max-age={n}"))
            .unwrap_or(HeaderValue::from_static("max-age=0")),
        (Detail::Full, n) => HeaderValue::try_from(format!("private, max-age={n}"))
            .unwrap_or(HeaderValue::from_static("private, max-age=0")),
    }
}
