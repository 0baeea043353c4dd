//! `POST /api/v1/auth/signup` and `POST /api/v1/auth/login`.

use axum::extract::State;
use axum::response::IntoResponse;
use http::{StatusCode, header};
use keel_envelope::Envelope;
use keel_envelope::axum::Json;
use keel_errors::ApiError;
use keel_validation::RedactedDebug;
use secrecy::SecretString;
use serde::Deserialize;

use super::ClientIp;
use crate::auth::AccessToken;
use crate::openapi::{ErrorResponse, TokenEnvelope, UserEnvelope};
use crate::services::{NewAccount, Users};

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
    request_body = NewAccount,
    responses(
        (status = 201, description = "Account created; `Location` names it", body = UserEnvelope,
            headers(("Location" = String, description = "/api/v1/users/{id}"))),
        (status = 400, description = "Malformed JSON (`MALFORMED_JSON`)", body = ErrorResponse),
        (status = 409, description = "E-mail already registered (`CONFLICT`)", body = ErrorResponse),
        (status = 413, description = "Body over 64 KiB (`PAYLOAD_TOO_LARGE`)", body = ErrorResponse),
        (status = 415, description = "Not `application/json` (`UNSUPPORTED_MEDIA_TYPE`)", body = ErrorResponse),
        (status = 422, description = "Invalid fields (`VALIDATION_ERROR`, see `error.fields`)", body = ErrorResponse),
        (status = 429, description = "Rate limited (`RATE_LIMITED`)", body = ErrorResponse),
        (status = 503, description = "Database unavailable (`SERVICE_UNAVAILABLE`)", body = ErrorResponse),
    )
)]
pub async fn signup(
    State(users): State<Users>,
    Json(account): Json<NewAccount>,
) -> Result<impl IntoResponse, ApiError> {
    let user = users.signup(account).await?;
    let location = format!("/api/v1/users/{}", user.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Envelope::new(user),
    ))
}

/// Exchanges e-mail and password for an access token.
#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Access token", body = TokenEnvelope),
        (status = 400, description = "Malformed JSON (`MALFORMED_JSON`)", body = ErrorResponse),
        (status = 401, description = "Wrong e-mail or password (`UNAUTHENTICATED`; the same for both)", body = ErrorResponse),
        (status = 415, description = "Not `application/json` (`UNSUPPORTED_MEDIA_TYPE`)", body = ErrorResponse),
        (status = 422, description = "Missing fields (`VALIDATION_ERROR`)", body = ErrorResponse),
        (status = 429, description = "Too many attempts for this IP or e-mail (`RATE_LIMITED`, `Retry-After`)",
            body = ErrorResponse,
            headers(("Retry-After" = u64, description = "Seconds until the next attempt may pass"))),
        (status = 503, description = "Database unavailable (`SERVICE_UNAVAILABLE`)", body = ErrorResponse),
    )
)]
pub async fn login(
    State(users): State<Users>,
    ClientIp(ip): ClientIp,
    Json(req): Json<LoginRequest>,
) -> Result<Envelope<AccessToken>, ApiError> {
    // Only the form of the address is normalized for the lookup and the per-e-mail limit;
    // a malformed address simply matches no account (same 401 as a wrong password).
    let mut email = req.email;
    keel_validation::normalize::email(&mut email);
    let token = users
        .login(ip, &email, SecretString::from(req.password))
        .await?;
    Ok(Envelope::new(token))
}
