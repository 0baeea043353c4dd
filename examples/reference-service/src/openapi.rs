//! OpenAPI 3.1 document generated from the handlers (utoipa), served at `/openapi.json`,
//! and the Swagger UI at `/docs` (vendored into the binary: no network at build or view time).

use axum::Router;
use http::{HeaderValue, header};
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::AccessToken;
use crate::domain::{Role, User};
use crate::routes::auth::LoginRequest;
use crate::services::{NewAccount, ProfileChanges};

/// The API description.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Keel reference service",
        description = "A users API composing the Keel crates. Every JSON body is a keel envelope: \
            `{success, data, meta}` or `{success: false, error: {code, message, fields, details}, meta}`.",
        license(name = "MIT OR Apache-2.0")
    ),
    paths(
        crate::routes::auth::signup,
        crate::routes::auth::login,
        crate::routes::users::me,
        crate::routes::users::get,
        crate::routes::users::list,
        crate::routes::users::update,
        crate::routes::users::delete,
        crate::routes::ops::metrics,
    ),
    components(schemas(
        NewAccount, LoginRequest, ProfileChanges, User, Role, AccessToken,
        UserEnvelope, UserListEnvelope, TokenEnvelope, ErrorResponse, ErrorBody, FieldError, Meta, ListMeta, Pagination,
    )),
    modifiers(&BearerAuth, &HealthPaths),
    tags(
        (name = "auth", description = "Signup and login"),
        (name = "users", description = "User accounts"),
        (name = "operations", description = "Health and metrics"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The keel-health endpoints (their router lives in keel-health, so they are described here).
struct HealthPaths;

impl Modify for HealthPaths {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem};
        use utoipa::openapi::{ContentBuilder, ResponseBuilder, ResponsesBuilder};
        let op = |summary: &str, ok: &str| {
            let health_json = || ContentBuilder::new().build();
            OperationBuilder::new()
                .tag("operations")
                .summary(Some(summary))
                .responses(
                    ResponsesBuilder::new()
                        .response(
                            "200",
                            ResponseBuilder::new()
                                .description(ok)
                                .content("application/health+json", health_json()),
                        )
                        .response(
                            "503",
                            ResponseBuilder::new()
                                .description("Failing (or draining during shutdown)")
                                .content("application/health+json", health_json()),
                        ),
                )
                .build()
        };
        let paths = [
            (
                "/health/live",
                "Liveness: the process is serving (no I/O)",
                "Alive",
            ),
            (
                "/health/ready",
                "Readiness: PostgreSQL (and Redis when configured) reachable",
                "Ready",
            ),
            (
                "/health/startup",
                "Startup: the first PostgreSQL check has passed",
                "Started",
            ),
            (
                "/health",
                "Full report; details only for admins or loopback callers",
                "Healthy or degraded",
            ),
        ];
        for (path, summary, ok) in paths {
            openapi.paths.paths.insert(
                path.to_owned(),
                PathItem::new(HttpMethod::Get, op(summary, ok)),
            );
        }
    }
}

/// The OpenAPI document as pretty JSON (what `/openapi.json` serves, and the snapshot test compares).
pub fn openapi_json() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default()
}

/// `/docs` (Swagger UI) and `/openapi.json`, with a CSP that lets the UI run.
pub fn docs_router() -> Router {
    let ui = SwaggerUi::new("/docs").url("/openapi.json", ApiDoc::openapi());
    Router::from(ui).layer(SetResponseHeaderLayer::overriding(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(crate::middleware::DOCS_CSP),
    ))
}

// ---- Documentation-only schemas of the keel envelope (keel-envelope has no utoipa feature). ----

/// Success envelope holding a user.
#[derive(Debug, ToSchema)]
pub struct UserEnvelope {
    /// Always `true`.
    pub success: bool,
    /// The user.
    pub data: User,
    /// Request id.
    pub meta: Option<Meta>,
}

/// Success envelope holding a page of users.
#[derive(Debug, ToSchema)]
pub struct UserListEnvelope {
    /// Always `true`.
    pub success: bool,
    /// The users of this page.
    pub data: Vec<User>,
    /// Pagination and request id.
    pub meta: ListMeta,
}

/// Success envelope holding an access token.
#[derive(Debug, ToSchema)]
pub struct TokenEnvelope {
    /// Always `true`.
    pub success: bool,
    /// The token.
    pub data: AccessToken,
    /// Request id.
    pub meta: Option<Meta>,
}

/// Error envelope.
#[derive(Debug, ToSchema)]
pub struct ErrorResponse {
    /// Always `false`.
    pub success: bool,
    /// What went wrong.
    pub error: ErrorBody,
    /// Request id.
    pub meta: Option<Meta>,
}

/// The `error` member.
#[derive(Debug, ToSchema)]
pub struct ErrorBody {
    /// Stable machine code: `BAD_REQUEST`, `MALFORMED_JSON`, `UNAUTHENTICATED`, `FORBIDDEN`,
    /// `NOT_FOUND`, `METHOD_NOT_ALLOWED`, `CONFLICT`, `PAYLOAD_TOO_LARGE`,
    /// `UNSUPPORTED_MEDIA_TYPE`, `VALIDATION_ERROR`, `RATE_LIMITED`, `INTERNAL_ERROR`,
    /// `SERVICE_UNAVAILABLE`, `TIMEOUT`.
    #[schema(example = "VALIDATION_ERROR")]
    pub code: String,
    /// Human-readable message (never internals).
    pub message: String,
    /// Field errors, in the order of the request's fields.
    pub fields: Option<Vec<FieldError>>,
    /// Public details such as `retry_after` (seconds).
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

/// One invalid field.
#[derive(Debug, ToSchema)]
pub struct FieldError {
    /// Dotted path (`address.city`).
    #[schema(example = "first_name")]
    pub field: String,
    /// JSON pointer (RFC 6901).
    #[schema(example = "/first_name")]
    pub pointer: String,
    /// Stable rule code.
    #[schema(example = "too_short")]
    pub code: String,
    /// English message.
    #[schema(example = "must be at least 2 characters")]
    pub message: String,
    /// Rule parameters (`min`, `max`, …); never the submitted value.
    #[schema(value_type = Option<Object>)]
    pub params: Option<serde_json::Value>,
}

/// `meta` of single-item responses.
#[derive(Debug, ToSchema)]
pub struct Meta {
    /// The `X-Request-Id` of the request.
    pub request_id: Option<String>,
}

/// `meta` of list responses.
#[derive(Debug, ToSchema)]
pub struct ListMeta {
    /// The `X-Request-Id` of the request.
    pub request_id: Option<String>,
    /// Position in the collection.
    pub pagination: Pagination,
}

/// `meta.pagination`.
#[derive(Debug, ToSchema)]
pub struct Pagination {
    /// 1-based page.
    pub page: u64,
    /// Items per page.
    pub limit: u64,
    /// Items in the collection.
    pub total: u64,
    /// Pages in the collection.
    pub total_pages: u64,
}
