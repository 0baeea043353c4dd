//! OpenAPI 3.1 document generated from the handlers (utoipa), served at `/openapi.json`,
//! and the Swagger UI at `/docs` (vendored: no network at build or view time). The
//! envelope, error and pagination schemas are keel-envelope's (`utoipa` feature).

use axum::Router;
use http::{HeaderValue, header};
use keel_auth::flow::{
    IssuedApiKey, LoginRequest, MfaEnrollment, MfaRequired, RecoveryCodeList, TokenPair,
};
use keel_envelope::{Envelope, ErrorEnvelope};
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::openapi::path::{HttpMethod, Operation, OperationBuilder, PathItem};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, Ref, RefOr, Response, ResponseBuilder, ResponsesBuilder, header::HeaderBuilder,
};
use utoipa::{Modify, OpenApi, ToResponse, ToSchema};
use utoipa_swagger_ui::SwaggerUi;

use crate::domain::{Role, User};
use crate::routes::{auth, ops, users};
use crate::services::{NewAccount, ProfileChanges};

// Envelopes by name: utoipa's path macro composes generic bodies through a hidden trait,
// so handlers document these aliases (keel-envelope names each `Envelope_<T>`).
/// `Envelope<User>`.
pub type UserBody = Envelope<User>;
/// `Envelope<Vec<User>>` with `meta.pagination`.
pub type UserListBody = Envelope<Vec<User>>;
/// `Envelope<TokenPair>`.
pub type TokenBody = Envelope<TokenPair>;
/// `Envelope<MfaEnrollment>`.
pub type EnrollmentBody = Envelope<MfaEnrollment>;
/// `Envelope<RecoveryCodes>`.
pub type RecoveryCodesBody = Envelope<RecoveryCodeList>;
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
        auth::signup, auth::login, auth::login_mfa, auth::refresh, auth::logout, auth::logout_all,
        auth::change_password, auth::enroll_totp, auth::confirm_totp, auth::create_api_key,
        users::me, users::get, users::list, users::update, users::delete, ops::metrics,
    ),
    components(
        schemas(NewAccount, LoginRequest, ProfileChanges, User, Role, TokenPair, MfaEnrollment, ErrorEnvelope,
            UserBody, UserListBody, TokenBody, EnrollmentBody, RecoveryCodesBody, CreatedKeyBody, MfaRequired),
        responses(Error, E401, E422, E429, E503),
    ),
    modifiers(&Security, &Operations),
    tags(
        (name = "auth", description = "Signup, login, sessions, second factor, API keys"),
        (name = "users", description = "User accounts"),
        (name = "operations", description = "Health and metrics"),
    )
)]
pub struct ApiDoc;

fn error(description: &str, headers: &[(&str, &str)]) -> RefOr<Response> {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(ErrorEnvelope::name())))
        .build();
    let mut b = ResponseBuilder::new()
        .description(description)
        .content("application/json", content);
    for (name, what) in headers {
        let h = HeaderBuilder::new()
            .schema(String::schema())
            .description(Some(*what))
            .build();
        b = b.header(*name, h);
    }
    b.build().into()
}

use utoipa::PartialSchema as _;

macro_rules! error_response {
    ($name:ident, $doc:literal, $desc:literal $(, ($h:literal, $hd:literal))*) => {
        #[doc = $doc]
        #[derive(Debug)]
        pub struct $name;
        impl<'s> ToResponse<'s> for $name {
            fn response() -> (&'s str, RefOr<Response>) {
                (stringify!($name), error($desc, &[$(($h, $hd)),*]))
            }
        }
    };
}

error_response!(
    Error,
    "Any error envelope.",
    "Error envelope; `error.code` names the error"
);
error_response!(
    E401,
    "401.",
    "Missing, invalid, expired or revoked credentials (`UNAUTHENTICATED`)",
    ("WWW-Authenticate", "RFC 6750 challenge")
);
error_response!(
    E422,
    "422.",
    "Invalid fields (`VALIDATION_ERROR`, every problem in `error.fields`)"
);
error_response!(
    E429,
    "429.",
    "Rate limited (`RATE_LIMITED`)",
    ("Retry-After", "Seconds until a retry may pass")
);
error_response!(
    E503,
    "503.",
    "Overloaded or a dependency is down (`SERVICE_UNAVAILABLE`)",
    ("Retry-After", "Seconds until a retry may pass")
);

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .build();
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
        let key = ApiKeyValue::with_description(
            "X-API-Key",
            "Admin-issued key with the `users:read` scope",
        );
        components.add_security_scheme("api_key", SecurityScheme::ApiKey(ApiKey::Header(key)));
    }
}

/// The keel-health endpoints (their router lives in keel-health), and 429/503 on every
/// operation that can answer them.
struct Operations;

fn health_op(summary: &str) -> Operation {
    let json = || ContentBuilder::new().build();
    let responses = ResponsesBuilder::new()
        .response(
            "200",
            ResponseBuilder::new()
                .description("Pass or warn")
                .content("application/health+json", json()),
        )
        .response(
            "503",
            ResponseBuilder::new()
                .description("Failing, or draining during shutdown")
                .content("application/health+json", json()),
        );
    OperationBuilder::new()
        .tag("operations")
        .summary(Some(summary))
        .responses(responses)
        .build()
}

impl Modify for Operations {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let ops = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for op in ops.into_iter().flatten() {
                for (status, name) in [("429", "E429"), ("503", "E503")] {
                    op.responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
                }
            }
        }
        let probes = [
            ("/health/live", "Liveness: the process is serving (no I/O)"),
            (
                "/health/ready",
                "Readiness: PostgreSQL (and Redis when configured) reachable",
            ),
            (
                "/health/startup",
                "Startup: the first PostgreSQL check has passed",
            ),
            ("/health", "Full report; details only with an admin token"),
        ];
        for (path, summary) in probes {
            let item = PathItem::new(HttpMethod::Get, health_op(summary));
            openapi.paths.paths.insert(path.to_owned(), item);
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
