//! The documented error responses: one [`ToResponse`] type per status Keel answers with
//! an error envelope, with the headers that status carries.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{ToResponse, ToSchema};

use crate::ErrorEnvelope;

/// A response header an error status carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Header {
    /// `Retry-After` in delta-seconds: keel-errors and keel-ratelimit never send a date.
    RetryAfter,
    /// `WWW-Authenticate`: the challenge of a 401 (always) or a 403 (optional).
    WwwAuthenticate,
    /// `Allow`: the methods a route serves, on 405 (axum adds it).
    Allow,
}

impl Header {
    const fn name(self) -> &'static str {
        match self {
            Self::RetryAfter => "Retry-After",
            Self::WwwAuthenticate => "WWW-Authenticate",
            Self::Allow => "Allow",
        }
    }

    fn build(self) -> utoipa::openapi::header::Header {
        let (schema, description) = match self {
            Self::RetryAfter => (
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(0)),
                "Seconds to wait before retrying (delta-seconds, RFC 9110 §10.2.3).",
            ),
            Self::WwwAuthenticate => (
                ObjectBuilder::new().schema_type(Type::String),
                "Authentication challenge (RFC 9110 §11.6.1), e.g. \
                 `Bearer error=\"invalid_token\"` (RFC 6750 §3).",
            ),
            Self::Allow => (
                ObjectBuilder::new().schema_type(Type::String),
                "The methods the route serves (RFC 9110 §10.2.1).",
            ),
        };
        HeaderBuilder::new()
            .schema(schema)
            .description(Some(description))
            .build()
    }
}

/// One documented error response: its component name, the status it is meant for, what it
/// says and which headers it carries.
#[derive(Debug)]
pub(crate) struct Spec {
    pub(crate) name: &'static str,
    pub(crate) status: Option<u16>,
    description: &'static str,
    headers: &'static [Header],
}

impl Spec {
    /// The response: an [`ErrorEnvelope`] as `application/json`, with its headers.
    pub(crate) fn response(&self) -> RefOr<Response> {
        let content = ContentBuilder::new()
            .schema(Some(Ref::from_schema_name(ErrorEnvelope::name())))
            .build();
        let mut builder = ResponseBuilder::new()
            .description(self.description)
            .content("application/json", content);
        for header in self.headers {
            builder = builder.header(header.name(), header.build());
        }
        builder.build().into()
    }

    /// The documented response of `status`, if Keel has one for it.
    pub(crate) fn for_status(status: u16) -> Option<&'static Spec> {
        SPECS.iter().find(|s| s.status == Some(status))
    }

    /// The documented response named `name` (a component name).
    pub(crate) fn named(name: &str) -> Option<&'static Spec> {
        SPECS.iter().find(|s| s.name == name)
    }
}

macro_rules! responses {
    ($(
        $(#[$doc:meta])*
        $ty:ident: $status:expr, $description:literal, [$($header:ident),*];
    )*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy, Default)]
            pub struct $ty;

            impl<'r> ToResponse<'r> for $ty {
                fn response() -> (&'r str, RefOr<Response>) {
                    (stringify!($ty), $ty::SPEC.response())
                }
            }

            impl $ty {
                const SPEC: Spec = Spec {
                    name: stringify!($ty),
                    status: $status,
                    description: $description,
                    headers: &[$(Header::$header),*],
                };
            }
        )*

        /// Every documented response, for lookups by status and by name.
        static SPECS: &[Spec] = &[$($ty::SPEC),*];
    };
}

responses! {
    /// Any error envelope, for a status without a response of its own here (or one an
    /// operation answers with several codes). Component `ErrorResponse`.
    ///
    /// ```
    /// use keel_envelope::openapi::ErrorResponse;
    /// use utoipa::ToResponse;
    ///
    /// let (name, response) = ErrorResponse::response();
    /// assert_eq!(name, "ErrorResponse");
    /// let json = serde_json::to_value(response)?;
    /// assert_eq!(json["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorEnvelope");
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    ErrorResponse: None, "Error envelope; `error.code` names the error.", [];

    /// 400 `BAD_REQUEST`, or `MALFORMED_JSON` for a body that is not JSON.
    ///
    /// ```
    /// use utoipa::ToResponse;
    /// assert_eq!(keel_envelope::openapi::BadRequest::response().0, "BadRequest");
    /// ```
    BadRequest: Some(400),
        "Malformed request (`BAD_REQUEST`), or a body that is not JSON (`MALFORMED_JSON`).", [];

    /// 401 `UNAUTHENTICATED`, with the `WWW-Authenticate` challenge keel-errors always sends.
    ///
    /// ```
    /// use utoipa::ToResponse;
    ///
    /// let json = serde_json::to_value(keel_envelope::openapi::Unauthenticated::response().1)?;
    /// assert_eq!(json["headers"]["WWW-Authenticate"]["schema"]["type"], "string");
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    Unauthenticated: Some(401),
        "Missing, invalid, expired or revoked credentials (`UNAUTHENTICATED`).", [WwwAuthenticate];

    /// 403 `FORBIDDEN`; may carry a `WWW-Authenticate` challenge (`insufficient_scope`).
    ///
    /// ```
    /// use utoipa::ToResponse;
    /// assert_eq!(keel_envelope::openapi::Forbidden::response().0, "Forbidden");
    /// ```
    Forbidden: Some(403),
        "The caller is known but not allowed to do this (`FORBIDDEN`).", [WwwAuthenticate];

    /// 404 `NOT_FOUND`.
    ///
    /// ```
    /// use utoipa::ToResponse;
    /// assert_eq!(keel_envelope::openapi::NotFound::response().0, "NotFound");
    /// ```
    NotFound: Some(404), "No such resource (`NOT_FOUND`).", [];

    /// 405 `METHOD_NOT_ALLOWED`, with the `Allow` header axum adds.
    ///
    /// ```
    /// use utoipa::ToResponse;
    /// assert_eq!(keel_envelope::openapi::MethodNotAllowed::response().0, "MethodNotAllowed");
    /// ```
    MethodNotAllowed: Some(405),
        "The route does not serve this method (`METHOD_NOT_ALLOWED`).", [Allow];

    /// 409 `CONFLICT`.
    ///
    /// ```
    /// use utoipa::ToResponse;
    /// assert_eq!(keel_envelope::openapi::Conflict::response().0, "Conflict");
    /// ```
    Conflict: Some(409),
        "The request conflicts with the current state, e.g. a duplicate (`CONFLICT`).", [];

    /// 413 `PAYLOAD_TOO_LARGE`.
    ///
    /// ```
    /// use utoipa::ToResponse;
    /// assert_eq!(keel_envelope::openapi::PayloadTooLarge::response().0, "PayloadTooLarge");
    /// ```
    PayloadTooLarge: Some(413), "The body is larger than the limit (`PAYLOAD_TOO_LARGE`).", [];

    /// 415 `UNSUPPORTED_MEDIA_TYPE`.
    ///
    /// ```
    /// use utoipa::ToResponse;
    /// assert_eq!(keel_envelope::openapi::UnsupportedMediaType::response().0, "UnsupportedMediaType");
    /// ```
    UnsupportedMediaType: Some(415),
        "The body's `Content-Type` is missing or not accepted (`UNSUPPORTED_MEDIA_TYPE`).", [];

    /// 422 `VALIDATION_ERROR`: every invalid field in `error.fields`.
    ///
    /// ```
    /// use utoipa::ToResponse;
    /// assert_eq!(keel_envelope::openapi::ValidationFailed::response().0, "ValidationFailed");
    /// ```
    ValidationFailed: Some(422),
        "Invalid values (`VALIDATION_ERROR`); every problem is listed in `error.fields`.", [];

    /// 429 `RATE_LIMITED`, with `Retry-After`.
    ///
    /// ```
    /// use utoipa::ToResponse;
    ///
    /// let json = serde_json::to_value(keel_envelope::openapi::RateLimited::response().1)?;
    /// assert_eq!(json["headers"]["Retry-After"]["schema"]["type"], "integer");
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    RateLimited: Some(429), "Rate limited (`RATE_LIMITED`).", [RetryAfter];

    /// 500 `INTERNAL_ERROR`: the details are logged, never sent.
    ///
    /// ```
    /// use utoipa::ToResponse;
    /// assert_eq!(keel_envelope::openapi::InternalError::response().0, "InternalError");
    /// ```
    InternalError: Some(500),
        "Unexpected failure (`INTERNAL_ERROR`); details are logged, never returned.", [];

    /// 503 `SERVICE_UNAVAILABLE` (overload, a dependency down), with `Retry-After`.
    ///
    /// ```
    /// use utoipa::ToResponse;
    /// assert_eq!(keel_envelope::openapi::ServiceUnavailable::response().0, "ServiceUnavailable");
    /// ```
    ServiceUnavailable: Some(503),
        "Overloaded or a dependency is down (`SERVICE_UNAVAILABLE`).", [RetryAfter];

    /// 504 `TIMEOUT`: the request took longer than allowed.
    ///
    /// ```
    /// use utoipa::ToResponse;
    /// assert_eq!(keel_envelope::openapi::Timeout::response().0, "Timeout");
    /// ```
    Timeout: Some(504), "The request took longer than allowed (`TIMEOUT`).", [];
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(status: u16, name: &str, headers: &[&str]) {
        let spec = Spec::for_status(status).map(|s| s.name);
        assert_eq!(spec, Some(name), "{status}");
        let json = serde_json::to_value(Spec::named(name).map(Spec::response)).unwrap_or_default();
        let mut found: Vec<String> = json["headers"]
            .as_object()
            .map(|h| h.keys().cloned().collect())
            .unwrap_or_default();
        found.sort();
        assert_eq!(found, headers, "{name}");
        assert_eq!(
            json["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ErrorEnvelope"
        );
    }

    #[test]
    fn statuses_names_and_headers() {
        check(400, "BadRequest", &[]);
        check(401, "Unauthenticated", &["WWW-Authenticate"]);
        check(403, "Forbidden", &["WWW-Authenticate"]);
        check(404, "NotFound", &[]);
        check(405, "MethodNotAllowed", &["Allow"]);
        check(409, "Conflict", &[]);
        check(413, "PayloadTooLarge", &[]);
        check(415, "UnsupportedMediaType", &[]);
        check(422, "ValidationFailed", &[]);
        check(429, "RateLimited", &["Retry-After"]);
        check(500, "InternalError", &[]);
        check(503, "ServiceUnavailable", &["Retry-After"]);
        check(504, "Timeout", &[]);
        assert!(Spec::for_status(418).is_none());
    }

    #[test]
    fn each_status_names_its_stable_code() {
        // The description names the code a client branches on.
        for (status, code) in [
            (401, crate::code::UNAUTHENTICATED),
            (422, crate::code::VALIDATION_ERROR),
            (429, crate::code::RATE_LIMITED),
            (503, crate::code::SERVICE_UNAVAILABLE),
            (504, crate::code::TIMEOUT),
        ] {
            let json = Spec::for_status(status)
                .map(|s| serde_json::to_value(s.response()).unwrap_or_default())
                .unwrap_or_default();
            let description = json["description"].as_str().unwrap_or_default();
            assert!(description.contains(&format!("`{code}`")), "{description}");
        }
    }

    #[test]
    fn retry_after_is_non_negative_seconds() {
        let json = serde_json::to_value(RateLimited::response().1).unwrap_or_default();
        let schema = &json["headers"]["Retry-After"]["schema"];
        assert_eq!(schema["type"], "integer");
        assert_eq!(schema["minimum"], 0);
    }
}
