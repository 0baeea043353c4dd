//! OpenAPI 3.1 document generated from the handlers (utoipa), served at `/openapi.json`,
//! and the Swagger UI at `/docs` (vendored: no network at build or view time). The
//! envelope, error and pagination schemas and the error responses are keel-envelope's,
//! the health probes and their `application/health+json` schema keel-health's (both
//! `utoipa` features), the session routes keel-auth's (`SessionPaths`); this file holds
//! the service's choices.

use axum::Router;
use http::{HeaderValue, header};
use keel_auth::axum::{ApiKeyScheme, SessionPaths};
use keel_auth::flow::IssuedApiKey;
use keel_envelope::Envelope;
use keel_envelope::openapi::CommonResponses;
use keel_health::Probe;
use keel_health::openapi::HealthPaths;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::domain::{Role, User};
use crate::routes::{auth, ops, users};
use crate::services::{NewAccount, ProfileChanges};

/// The short names the routes give keel-envelope's documented error responses.
/// (429 and 503 are added to every operation by `COMMON`.)
pub use keel_envelope::openapi::{
    ErrorResponse as Error, Unauthenticated as E401, ValidationFailed as E422,
};

// Envelopes by name: utoipa's path macro composes generic bodies through a hidden trait,
// so handlers document these aliases (keel-envelope names each `Envelope_<T>`).
/// `Envelope<User>`.
pub type UserBody = Envelope<User>;
/// `Envelope<Vec<User>>` with `meta.pagination`.
pub type UserListBody = Envelope<Vec<User>>;
/// `Envelope<CreatedKey>`.
pub type CreatedKeyBody = Envelope<IssuedApiKey>;

/// The API description.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Keel reference service",
        description = "A users API composing the Keel crates. Every JSON body is a keel envelope: \
            `{success, data, meta}` or `{success: false, error: {code, message, fields, details}, meta}`. \
            Every route but the health probes may answer 429 (global per-IP limit) and 503 \
            (connection cap, database or hashing queue full), with `Retry-After`.",
        license(name = "MIT OR Apache-2.0")
    ),
    paths(
        auth::signup, auth::create_api_key, users::me, users::get, users::list, users::update,
        users::delete, ops::metrics,
    ),
    components(
        schemas(NewAccount, ProfileChanges, User, Role, UserBody, UserListBody, CreatedKeyBody),
    ),
    modifiers(&SESSIONS, &API_KEY, &HEALTH, &COMMON),
    tags(
        (name = "auth", description = "Signup, login, sessions, second factor, API keys"),
        (name = "users", description = "User accounts"),
        (name = "operations", description = "Health and metrics"),
    )
)]
pub struct ApiDoc;

/// keel-auth's session routes (login, TOTP step-up, refresh, logout, password change,
/// TOTP enrollment) at the paths [`auth::sessions`] serves, with the `bearer` scheme.
const SESSIONS: SessionPaths = SessionPaths::new();

/// The API-key scheme (the bearer scheme comes with [`SESSIONS`]).
const API_KEY: ApiKeyScheme =
    ApiKeyScheme::new("api_key").description("Admin-issued key with the `users:read` scope");

/// keel-health's probes as `state.health_router()` mounts them (details for admins).
const HEALTH: HealthPaths = HealthPaths::new()
    .tag("operations")
    .details_security(Probe::Full, "bearer")
    .describe(
        Probe::Readiness,
        "PostgreSQL reachable (Redis, when configured, non-critical: `warn`); \
         `fail` while starting or draining.",
    )
    .describe(
        Probe::Startup,
        "`pass` once the first PostgreSQL check has passed.",
    )
    .describe(
        Probe::Full,
        "Every check, plus the non-critical system checks and uptime. Details only with an \
         admin token (or from loopback with `KEEL_HEALTH_DETAILS_LOOPBACK=true`).",
    );

/// 429 (global per-IP limit; the probes are exempt) and 503 (connection cap, database or
/// hashing queue full) wherever a route does not document them itself; 401 and 403 on
/// every route that requires a token or key.
const COMMON: CommonResponses = CommonResponses::new()
    .on_every_operation(&[429, 503])
    .on_secured_operations(&[401, 403])
    .except_paths_under(&["/health"]);

/// The OpenAPI document as pretty JSON (what `/openapi.json` serves, and the snapshot test compares).
pub fn openapi_json() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default()
}

/// `/docs` (Swagger UI) and `/openapi.json`, with keel-http's headers for HTML pages
/// (`Referrer-Policy`, `Permissions-Policy`, which the API set leaves out) and a CSP that
/// lets the UI run.
pub fn docs_router() -> Router {
    let ui = SwaggerUi::new("/docs").url("/openapi.json", ApiDoc::openapi());
    let headers = keel_http::SecurityHeaders::html().with(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(crate::middleware::DOCS_CSP),
    );
    Router::from(ui).layer(keel_http::SetSecurityHeadersLayer::new(headers))
}
