//! The OpenAPI description of the session routes (feature `utoipa`): [`SessionApi`] at the
//! default paths, and [`SessionPaths`] as a [`Modify`] that adds them where they are served.

use keel_envelope::Envelope;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, PathItem};
use utoipa::{Modify, OpenApi};

use super::handlers;
use super::{SessionPaths, SessionRoute};
use crate::flow::{
    LoginAnswer, MfaEnrollment, MfaRequired, RecoveryCodeList, RefreshRequest, TokenPair,
};

pub(super) use keel_envelope::openapi::{
    ErrorResponse as Error, Unauthenticated as E401, ValidationFailed as E422,
};

// utoipa's path macro composes generic bodies through a hidden trait: the handlers
// document these aliases (keel-envelope names each `Envelope_<T>`).
/// `Envelope<LoginAnswer>`.
pub(super) type LoginBody = Envelope<LoginAnswer>;
/// `Envelope<TokenPair>`.
pub(super) type TokenBody = Envelope<TokenPair>;
/// `Envelope<MfaEnrollment>`.
pub(super) type EnrollmentBody = Envelope<MfaEnrollment>;
/// `Envelope<RecoveryCodes>`.
pub(super) type RecoveryCodesBody = Envelope<RecoveryCodeList>;

/// The session routes at their [default paths](SessionRoute::default_path), with their
/// schemas and the keel-envelope error responses, without tags or security schemes.
/// Applications normally apply [`SessionPaths`] as a modifier instead, which moves,
/// drops and tags the operations as served and adds the `bearer` scheme:
///
/// ```
/// use keel_auth::axum::SessionPaths;
/// use utoipa::OpenApi;
///
/// const SESSIONS: SessionPaths = SessionPaths::new();
///
/// #[derive(OpenApi)]
/// #[openapi(info(title = "My API"), modifiers(&SESSIONS))]
/// struct ApiDoc;
///
/// let doc = ApiDoc::openapi();
/// assert!(doc.paths.paths.contains_key("/api/v1/auth/login"));
/// assert!(doc.components.unwrap().security_schemes.contains_key("bearer"));
/// ```
#[derive(Debug, OpenApi)]
#[openapi(
    paths(
        handlers::login,
        handlers::login_mfa,
        handlers::refresh,
        handlers::logout,
        handlers::logout_all,
        handlers::change_password,
        handlers::enroll_totp,
        handlers::confirm_totp,
    ),
    components(schemas(
        TokenPair,
        LoginAnswer,
        LoginBody,
        MfaEnrollment,
        MfaRequired,
        RefreshRequest,
        TokenBody,
        EnrollmentBody,
        RecoveryCodesBody,
    ))
)]
pub struct SessionApi;

impl SessionPaths {
    /// The OpenAPI document of the routes as these paths serve them: each operation at
    /// its path, tagged, the disabled ones left out, and the `bearer` security scheme
    /// (`http`, `bearer`, format `JWT`) their `security` names.
    #[must_use]
    pub fn openapi(&self) -> Document {
        let mut doc = SessionApi::openapi();
        let mut moved = Vec::new();
        for route in SessionRoute::ALL {
            let item = doc.paths.paths.remove(route.default_path());
            if let (Some(path), Some(mut item)) = (self.get(route), item) {
                tag(&mut item, self.tag);
                moved.push((path.to_owned(), item));
            }
        }
        doc.paths.paths.extend(moved);
        let components = doc.components.get_or_insert_with(Default::default);
        let bearer = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .build();
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
        doc
    }
}

fn tag(item: &mut PathItem, tag: &str) {
    for op in [&mut item.post, &mut item.put].into_iter().flatten() {
        op.tags = Some(vec![tag.to_owned()]);
    }
}

impl Modify for SessionPaths {
    /// Adds [`openapi`](SessionPaths::openapi) to `openapi`: its paths, schemas and
    /// responses; the `bearer` scheme unless the document already defines one.
    fn modify(&self, openapi: &mut Document) {
        let mut ours = self.openapi();
        let has_bearer = openapi
            .components
            .as_ref()
            .is_some_and(|c| c.security_schemes.contains_key("bearer"));
        if has_bearer && let Some(c) = ours.components.as_mut() {
            c.security_schemes.remove("bearer");
        }
        openapi.merge(ours);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_follow_the_paths() {
        let paths = SessionPaths::new()
            .path(SessionRoute::Login, "/in")
            .disable(SessionRoute::TotpEnroll)
            .tag("sessions");
        let doc = paths.openapi();
        let keys: Vec<&str> = doc.paths.paths.keys().map(String::as_str).collect();
        assert!(keys.contains(&"/in"), "{keys:?}");
        assert!(!keys.contains(&"/api/v1/auth/login"));
        assert!(!keys.contains(&"/api/v1/auth/mfa/totp"));
        assert_eq!(keys.len(), 7);
        let login = doc.paths.paths["/in"].post.as_ref().unwrap();
        assert_eq!(login.operation_id.as_deref(), Some("login"));
        assert_eq!(login.tags.as_deref(), Some(&["sessions".to_owned()][..]));
        let ok = serde_json::to_value(&login.responses.responses["200"]).unwrap();
        let body = &ok["content"]["application/json"]["schema"]["$ref"];
        assert_eq!(body, "#/components/schemas/Envelope_LoginAnswer");
        let password = doc.paths.paths["/api/v1/auth/password"]
            .put
            .as_ref()
            .unwrap();
        assert_eq!(password.operation_id.as_deref(), Some("change_password"));
        let json = serde_json::to_value(&doc).unwrap();
        assert_eq!(
            json["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        for schema in [
            "RefreshRequest",
            "Envelope_TokenPair",
            "LoginRequest",
            "PasswordChange",
        ] {
            assert!(
                json["components"]["schemas"].get(schema).is_some(),
                "{schema}"
            );
        }
        let answer = &json["components"]["schemas"]["LoginAnswer"]["oneOf"];
        assert_eq!(answer.as_array().map(Vec::len), Some(2), "{answer}");
        assert_eq!(
            json["components"]["schemas"]["RefreshRequest"]["properties"]["refresh_token"]["maxLength"],
            256
        );
    }
}
