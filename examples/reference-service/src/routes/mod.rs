//! Routes: HTTP only. Extract and validate input, call a service, shape the response.

pub mod auth;
pub mod ops;
pub mod users;

use axum::Router;
use axum::extract::FromRef;
use axum::routing::{get, post};
use http::{HeaderValue, header};
use keel_errors::axum::{method_not_allowed, not_found};
use keel_ratelimit::axum::KeyExtractor;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::state::AppState;

/// The client-IP rule, for keel-ratelimit's `ClientIp` extractor (signup).
impl FromRef<AppState> for KeyExtractor {
    fn from_ref(state: &AppState) -> Self {
        state.limits.client_ip().clone()
    }
}

/// Every API route, without middleware (tests merge extra routes into it): keel-auth's
/// session routes ([`auth::sessions`]) and the service's own.
pub fn api_routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/signup", post(auth::signup))
        .route("/api/v1/api-keys", post(auth::create_api_key))
        .route("/api/v1/users/me", get(users::me))
        .route("/api/v1/users", get(users::list))
        .route(
            "/api/v1/users/{id}",
            get(users::get).patch(users::update).delete(users::delete),
        )
        // Every API answer carries account data or tokens: never stored by a cache
        // (RFC 9111 §5.2.2.5; RFC 6749 §5.1 for token responses). keel-auth's session
        // routes set `no-store` (and `Pragma: no-cache`) themselves: merged after the layer.
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .merge(auth::sessions(state))
        .route("/metrics", get(ops::metrics))
}

/// The complete application: API routes, `extra` routes (tests), health, docs, the
/// 404/405 fallbacks, and the middleware stack.
pub fn app(state: &AppState, extra: Option<Router<AppState>>) -> Router {
    let mut routes = api_routes(state);
    if let Some(extra) = extra {
        routes = routes.merge(extra);
    }
    let router = routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state.clone())
        .merge(state.health_router())
        .merge(crate::openapi::docs_router());
    // One `layer` call for the whole stack: one boxed service per route.
    router.layer(crate::middleware::stack(state))
}
