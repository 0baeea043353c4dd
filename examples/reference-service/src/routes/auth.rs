//! `POST /api/v1/auth/signup` and `POST /api/v1/auth/login`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use keel_envelope::Envelope;
use keel_envelope::axum::Json;
use keel_errors::ApiError;
use keel_validation::{RedactedDebug, Validate};
use secrecy::SecretString;
use serde::Deserialize;

use super::ClientIp;
use crate::auth::AccessToken;
use crate::domain::User;
use crate::services::{self, LoginError, NewAccount};
use crate::state::AppState;

// The source design's signup rules, declared once with keel-validation: `clean()`
// normalizes (e-mail trimmed and lowercased; names HTML-stripped, whitespace-collapsed and
// title-cased; phone to E.164), then validates every field and reports all problems at
// once, in declaration order. `Debug` (RedactedDebug) never shows the password.
/// Signup request body; every invalid field is reported at once in `error.fields`.
#[derive(Deserialize, utoipa::ToSchema, Validate, RedactedDebug)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    /// E-mail address; normalized to lowercase, unique case-insensitively.
    #[schema(example = "ada@example.org", max_length = 254)]
    #[normalize(email)]
    #[validate(email)]
    pub email: String,
    /// Password: 8–128 characters, not a common password, not your e-mail or name.
    #[schema(example = "correct horse battery staple", min_length = 8, max_length = 128, format = Password)]
    #[validate(password(context(email, first_name, last_name)))]
    pub password: String,
    /// First name: HTML removed, whitespace collapsed, title-cased, 2–50 characters.
    #[schema(example = "ada", min_length = 2, max_length = 50)]
    #[normalize(strip_html, collapse_whitespace, title_case)]
    #[validate(length(min = 2, max = 50))]
    pub first_name: String,
    /// Last name: same rules as the first name.
    #[schema(example = "lovelace", min_length = 2, max_length = 50)]
    #[normalize(strip_html, collapse_whitespace, title_case)]
    #[validate(length(min = 2, max = 50))]
    pub last_name: String,
    /// Phone in international format; stored in E.164, encrypted at rest.
    #[schema(example = "+44 20 7183 8750")]
    #[serde(default)]
    #[normalize(phone)]
    #[validate(phone)]
    pub phone: Option<String>,
}

impl SignupRequest {
    /// The request `create-admin` validates: the admin's e-mail and password, placeholder names.
    pub fn admin(email: String, password: String) -> Self {
        Self {
            email,
            password,
            first_name: "Admin".to_owned(),
            last_name: "Account".to_owned(),
            phone: None,
        }
    }

    /// Normalizes and validates every field, reporting all problems at once.
    ///
    /// # Errors
    /// 422 `VALIDATION_ERROR` with one entry per problem in `fields`.
    pub fn into_account(self) -> Result<NewAccount, ApiError> {
        let clean = self.clean()?;
        Ok(NewAccount {
            email: clean.email,
            password: SecretString::from(clean.password),
            first_name: clean.first_name,
            last_name: clean.last_name,
            phone: clean.phone,
        })
    }
}

/// Login request body.
#[derive(Deserialize, utoipa::ToSchema, RedactedDebug)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// E-mail address (case-insensitive).
    #[schema(example = "ada@example.org")]
    pub email: String,
    /// Password.
    #[schema(example = "correct horse battery staple", format = Password)]
    #[validate(sensitive)]
    pub password: String,
}

/// Creates an account.
#[utoipa::path(
    post,
    path = "/api/v1/auth/signup",
    tag = "auth",
    request_body = SignupRequest,
    responses(
        (status = 201, description = "Account created; `Location` names it", body = crate::openapi::UserEnvelope,
            headers(("Location" = String, description = "/api/v1/users/{id}"))),
        (status = 400, description = "Malformed JSON (`MALFORMED_JSON`)", body = crate::openapi::ErrorResponse),
        (status = 409, description = "E-mail already registered (`CONFLICT`)", body = crate::openapi::ErrorResponse),
        (status = 413, description = "Body over 64 KiB (`PAYLOAD_TOO_LARGE`)", body = crate::openapi::ErrorResponse),
        (status = 415, description = "Not `application/json` (`UNSUPPORTED_MEDIA_TYPE`)", body = crate::openapi::ErrorResponse),
        (status = 422, description = "Invalid fields (`VALIDATION_ERROR`, see `error.fields`)", body = crate::openapi::ErrorResponse),
        (status = 429, description = "Rate limited (`RATE_LIMITED`)", body = crate::openapi::ErrorResponse),
        (status = 503, description = "Database unavailable (`SERVICE_UNAVAILABLE`)", body = crate::openapi::ErrorResponse),
    )
)]
pub async fn signup(
    State(state): State<AppState>,
    Json(req): Json<SignupRequest>,
) -> Result<Response, ApiError> {
    let account = req.into_account()?;
    let user: User = services::signup(&state, account).await?;
    let location = format!("/api/v1/users/{}", user.id);
    let mut res = (StatusCode::CREATED, Envelope::new(user)).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    Ok(res)
}

/// Exchanges e-mail and password for an access token.
#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Access token", body = crate::openapi::TokenEnvelope),
        (status = 400, description = "Malformed JSON (`MALFORMED_JSON`)", body = crate::openapi::ErrorResponse),
        (status = 401, description = "Wrong e-mail or password (`UNAUTHENTICATED`; the same for both)", body = crate::openapi::ErrorResponse),
        (status = 415, description = "Not `application/json` (`UNSUPPORTED_MEDIA_TYPE`)", body = crate::openapi::ErrorResponse),
        (status = 422, description = "Missing fields (`VALIDATION_ERROR`)", body = crate::openapi::ErrorResponse),
        (status = 429, description = "Too many attempts for this IP or e-mail (`RATE_LIMITED`, `Retry-After`, `RateLimit`)",
            body = crate::openapi::ErrorResponse,
            headers(("Retry-After" = u64, description = "Seconds until the next attempt may pass"))),
        (status = 503, description = "Database unavailable (`SERVICE_UNAVAILABLE`)", body = crate::openapi::ErrorResponse),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(req): Json<LoginRequest>,
) -> Result<Envelope<AccessToken>, LoginError> {
    // Only the form of the address is normalized for the lookup and the per-e-mail limit;
    // a malformed address simply matches no account (same 401 as a wrong password).
    let mut email = req.email;
    keel_validation::normalize::email(&mut email);
    let token = services::login(&state, ip, &email, SecretString::from(req.password)).await?;
    Ok(Envelope::new(token))
}
