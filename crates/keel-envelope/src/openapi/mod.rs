//! OpenAPI (feature `utoipa`): the documented error responses of a Keel API and a
//! [`Modify`](utoipa::Modify) adding responses every operation can answer.
//!
//! The schemas of the wire format ([`Envelope<T>`](crate::Envelope),
//! [`ErrorEnvelope`](crate::ErrorEnvelope), [`Pagination`](crate::Pagination), …) are
//! `utoipa::ToSchema` impls on the types themselves. This module adds one
//! [`ToResponse`](utoipa::ToResponse) per error status, each an `ErrorEnvelope` with the
//! headers that status carries, named after its [`code`](crate::code):
//!
//! | type | status | code | headers |
//! |---|---|---|---|
//! | [`ErrorResponse`] | any | any | |
//! | [`BadRequest`] | 400 | `BAD_REQUEST`, `MALFORMED_JSON` | |
//! | [`Unauthenticated`] | 401 | `UNAUTHENTICATED` | `WWW-Authenticate` |
//! | [`Forbidden`] | 403 | `FORBIDDEN` | `WWW-Authenticate` (optional) |
//! | [`NotFound`] | 404 | `NOT_FOUND` | |
//! | [`MethodNotAllowed`] | 405 | `METHOD_NOT_ALLOWED` | `Allow` |
//! | [`Conflict`] | 409 | `CONFLICT` | |
//! | [`PayloadTooLarge`] | 413 | `PAYLOAD_TOO_LARGE` | |
//! | [`UnsupportedMediaType`] | 415 | `UNSUPPORTED_MEDIA_TYPE` | |
//! | [`ValidationFailed`] | 422 | `VALIDATION_ERROR` | |
//! | [`RateLimited`] | 429 | `RATE_LIMITED` | `Retry-After` (integer seconds) |
//! | [`InternalError`] | 500 | `INTERNAL_ERROR` | |
//! | [`ServiceUnavailable`] | 503 | `SERVICE_UNAVAILABLE` | `Retry-After` (integer seconds) |
//! | [`Timeout`] | 504 | `TIMEOUT` | |
//!
//! Headers are documented, not required: keel-errors sends `Retry-After` only when the
//! error knows when to retry.
//!
//! ```
//! use keel_envelope::openapi::{CommonResponses, NotFound, Unauthenticated};
//! use keel_envelope::Envelope;
//! use utoipa::OpenApi;
//!
//! #[derive(serde::Serialize, utoipa::ToSchema)]
//! struct User { id: u64 }
//!
//! /// utoipa's `body = ` names generic types through an alias.
//! type UserBody = Envelope<User>;
//!
//! #[utoipa::path(get, path = "/users/{id}", params(("id" = u64, Path)), responses(
//!     (status = 200, description = "The user", body = UserBody),
//!     (status = 401, response = Unauthenticated),
//!     (status = 404, response = NotFound),
//! ))]
//! async fn get_user() {}
//!
//! /// Every route sits behind a rate limiter and a connection cap.
//! const COMMON: CommonResponses = CommonResponses::new().on_every_operation(&[429, 503]);
//!
//! #[derive(OpenApi)]
//! #[openapi(paths(get_user), components(schemas(UserBody)), modifiers(&COMMON))]
//! struct Api;
//!
//! let json = serde_json::to_value(Api::openapi())?;
//! let op = &json["paths"]["/users/{id}"]["get"]["responses"];
//! assert_eq!(op["404"]["$ref"], "#/components/responses/NotFound");
//! assert_eq!(op["429"]["$ref"], "#/components/responses/RateLimited");
//! // Referenced responses and the error schemas are registered by the modifier.
//! let components = &json["components"];
//! assert!(components["responses"]["Unauthenticated"]["headers"]["WWW-Authenticate"].is_object());
//! assert!(components["schemas"]["ErrorEnvelope"].is_object());
//! # Ok::<(), serde_json::Error>(())
//! ```

mod common;
mod responses;

pub use common::CommonResponses;
pub use responses::{
    BadRequest, Conflict, ErrorResponse, Forbidden, InternalError, MethodNotAllowed, NotFound,
    PayloadTooLarge, RateLimited, ServiceUnavailable, Timeout, Unauthenticated,
    UnsupportedMediaType, ValidationFailed,
};
