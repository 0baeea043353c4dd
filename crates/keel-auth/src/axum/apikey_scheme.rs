//! [`ApiKeyScheme`]: the OpenAPI security scheme of [`ApiKeyAuth`](super::ApiKeyAuth)
//! (feature `utoipa`).

use utoipa::Modify;
use utoipa::openapi::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};

/// [`X_API_KEY`](super::X_API_KEY) as documents spell it (header names are
/// case-insensitive).
const HEADER: &str = "X-API-Key";

/// The security scheme [`ApiKeyAuth`](super::ApiKeyAuth) reads — `apiKey` in the
/// `X-API-Key` header — as a [`Modify`] adding it to a document under `name` (what
/// operations name in `security((name = []))`). `const`, for `modifiers(&…)`.
///
/// ```
/// use keel_auth::axum::ApiKeyScheme;
/// use utoipa::OpenApi;
///
/// const API_KEY: ApiKeyScheme = ApiKeyScheme::new("api_key").description("Reads reports");
///
/// #[derive(OpenApi)]
/// #[openapi(modifiers(&API_KEY))]
/// struct ApiDoc;
///
/// let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
/// let scheme = &doc["components"]["securitySchemes"]["api_key"];
/// assert_eq!(scheme["in"], "header");
/// assert_eq!(scheme["name"], "X-API-Key");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiKeyScheme {
    name: &'static str,
    description: Option<&'static str>,
}

impl ApiKeyScheme {
    /// The scheme, named `name` in the document.
    #[must_use]
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            description: None,
        }
    }

    /// What the keys are and allow, for the reader.
    #[must_use]
    pub const fn description(mut self, description: &'static str) -> Self {
        self.description = Some(description);
        self
    }
}

impl Modify for ApiKeyScheme {
    fn modify(&self, openapi: &mut OpenApi) {
        let value = match self.description {
            Some(d) => ApiKeyValue::with_description(HEADER, d),
            None => ApiKeyValue::new(HEADER),
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(self.name, SecurityScheme::ApiKey(ApiKey::Header(value)));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_documented_header_is_the_one_read() {
        assert!(super::HEADER.eq_ignore_ascii_case(super::super::X_API_KEY.as_str()));
    }
}
