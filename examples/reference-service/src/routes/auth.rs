//! `/api/v1/auth/*`: signup, login (+ TOTP step-up), refresh, logout, logout everywhere,
//! password change, TOTP enrollment; and `POST /api/v1/api-keys`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, header};
use keel_envelope::Envelope;
use keel_envelope::axum::Json;
use keel_errors::ApiError;
use keel_validation::{RedactedDebug, Validate};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::ClientIp;
use crate::domain::Caller;
use crate::openapi::{E401, E422, E429, E503, Error};
use crate::services::{LoginOutcome, MfaEnrollment, NewAccount, TokenPair, Users};

/// Login request body.
#[derive(Deserialize, utoipa::ToSchema, RedactedDebug)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// E-mail address (case-insensitive).
    #[schema(example = "ada@example.org", min_length = 3, max_length = 254)]
    pub email: String,
    /// Password.
    #[schema(example = "correct horse battery staple", format = Password, min_length = 1, max_length = 1024)]
    #[validate(sensitive)]
    pub password: String,
}

/// A login that needs its second factor.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MfaRequired {
    /// Always `true`.
    pub mfa_required: bool,
    /// Single-use challenge for `POST /api/v1/auth/login/mfa`.
    pub mfa_token: String,
    /// Its lifetime in seconds.
    pub expires_in: u64,
}

/// Second-factor body: a login challenge and a TOTP or recovery code.
#[derive(Deserialize, utoipa::ToSchema, RedactedDebug)]
#[serde(deny_unknown_fields)]
pub struct MfaLogin {
    /// The `mfa_token` of the login answer.
    #[schema(min_length = 1, max_length = 256)]
    #[validate(sensitive)]
    pub mfa_token: String,
    /// A 6-digit TOTP code or a recovery code.
    #[schema(example = "123456", min_length = 1, max_length = 64)]
    #[validate(sensitive)]
    pub code: String,
}

/// A refresh token.
#[derive(Deserialize, utoipa::ToSchema, Validate, RedactedDebug)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token of the last token answer (single use).
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]+$"
    )]
    #[validate(sensitive, length(min = 1, max = 256))]
    pub refresh_token: String,
}

/// A TOTP code.
#[derive(Deserialize, utoipa::ToSchema, RedactedDebug)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    /// The 6-digit code the authenticator app shows.
    #[schema(example = "123456", min_length = 1, max_length = 64)]
    #[validate(sensitive)]
    pub code: String,
}

/// A password change.
#[derive(Deserialize, utoipa::ToSchema, RedactedDebug)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// The current password.
    #[schema(format = Password, min_length = 1, max_length = 1024)]
    #[validate(sensitive)]
    pub current_password: String,
    /// The new password: 8–128 characters, not a common password (a bundled list), not
    /// your e-mail or name.
    #[schema(format = Password, min_length = 8, max_length = 128)]
    #[validate(sensitive)]
    pub new_password: String,
}

/// An API key to create.
#[derive(Debug, Deserialize, utoipa::ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// What the key is for (shown in listings): 1–32 characters, no control characters.
    #[schema(
        example = "billing-service",
        min_length = 1,
        max_length = 32,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]+$"
    )]
    #[validate(length(min = 1, max = 32))]
    pub name: String,
}

/// A created API key: the secret is shown once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedKey {
    /// Key id.
    pub id: String,
    /// The key (`X-API-Key: …`); reads users (`users:read`).
    pub key: String,
}

/// Recovery codes, shown once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecoveryCodes {
    /// Single-use codes accepted in place of a TOTP code.
    pub recovery_codes: Vec<String>,
}

/// Creates an account (signup quota per client network).
#[utoipa::path(post, path = "/api/v1/auth/signup", tag = "auth", request_body = NewAccount,
    responses(
        (status = 201, description = "Account created; `Location` names it", body = crate::openapi::UserBody,
            headers(("Location" = String, description = "/api/v1/users/{id}"))),
        (status = 400, response = Error), (status = 409, response = Error), (status = 413, response = Error),
        (status = 415, response = Error), (status = 422, response = E422), (status = 429, response = E429),
        (status = 503, response = E503)))]
pub async fn signup(
    State(users): State<Users>,
    ClientIp(ip): ClientIp,
    Json(account): Json<NewAccount>,
) -> Result<impl IntoResponse, ApiError> {
    let user = users.signup(ip, account).await?;
    let location = format!("/api/v1/users/{}", user.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Envelope::new(user),
    ))
}

/// Exchanges e-mail and password for tokens, or for a TOTP challenge when the account has
/// a second factor. Only failures count against the limits.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Tokens, or `{mfa_required, mfa_token, expires_in}`", body = crate::openapi::TokenBody),
        (status = 400, response = Error), (status = 401, response = E401), (status = 413, response = Error),
        (status = 415, response = Error), (status = 422, response = E422), (status = 429, response = E429),
        (status = 503, response = E503)))]
pub async fn login(
    State(users): State<Users>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Json(req): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    let device = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(keel_auth::login::device_cookie);
    let outcome = users
        .login(ip, &req.email, SecretString::from(req.password), device)
        .await?;
    Ok(match outcome {
        LoginOutcome::Tokens(tokens, device) => {
            let mut res = Envelope::new(tokens).into_response();
            if let Some(v) = device.and_then(|d| d.parse().ok()) {
                res.headers_mut().insert(header::SET_COOKIE, v);
            }
            res
        }
        LoginOutcome::MfaRequired {
            mfa_token,
            expires_in,
        } => Envelope::new(MfaRequired {
            mfa_required: true,
            mfa_token,
            expires_in,
        })
        .into_response(),
    })
}

/// Completes a login with the second factor.
#[utoipa::path(post, path = "/api/v1/auth/login/mfa", tag = "auth", request_body = MfaLogin,
    responses((status = 200, description = "Tokens", body = crate::openapi::TokenBody),
        (status = 400, response = Error), (status = 401, response = E401), (status = 415, response = Error),
        (status = 422, response = E422), (status = 429, response = E429), (status = 503, response = E503)))]
pub async fn login_mfa(
    State(users): State<Users>,
    Json(req): Json<MfaLogin>,
) -> Result<Envelope<TokenPair>, ApiError> {
    Ok(Envelope::new(
        users.login_mfa(&req.mfa_token, &req.code).await?,
    ))
}

/// Rotates a refresh token; presenting a spent one ends its whole session.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, description = "New tokens", body = crate::openapi::TokenBody),
        (status = 400, response = Error), (status = 401, response = E401), (status = 415, response = Error),
        (status = 422, response = E422), (status = 429, response = E429), (status = 503, response = E503)))]
pub async fn refresh(
    State(users): State<Users>,
    Json(req): Json<RefreshRequest>,
) -> Result<Envelope<TokenPair>, ApiError> {
    let req = req.clean()?;
    Ok(Envelope::new(users.refresh(&req.refresh_token).await?))
}

/// Ends this session: its refresh token and its access tokens.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body = RefreshRequest,
    security(("bearer" = [])),
    responses((status = 204, description = "Logged out"),
        (status = 400, response = Error), (status = 401, response = E401), (status = 403, response = Error),
        (status = 415, response = Error), (status = 422, response = E422), (status = 429, response = E429),
        (status = 503, response = E503)))]
pub async fn logout(
    State(users): State<Users>,
    caller: Caller,
    Json(req): Json<RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    let req = req.clean()?;
    users.logout(&caller, &req.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends every session of the caller, on every replica.
#[utoipa::path(post, path = "/api/v1/auth/logout-all", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "Every session ended"),
        (status = 401, response = E401), (status = 403, response = Error), (status = 429, response = E429),
        (status = 503, response = E503)))]
pub async fn logout_all(
    State(users): State<Users>,
    caller: Caller,
) -> Result<StatusCode, ApiError> {
    users.logout_everywhere(&caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Changes the caller's password; every session ends.
#[utoipa::path(put, path = "/api/v1/auth/password", tag = "auth", request_body = PasswordChange,
    security(("bearer" = [])),
    responses((status = 204, description = "Changed; log in again"),
        (status = 400, response = Error), (status = 401, response = E401), (status = 403, response = Error),
        (status = 415, response = Error), (status = 422, response = E422), (status = 429, response = E429),
        (status = 503, response = E503)))]
pub async fn change_password(
    State(users): State<Users>,
    caller: Caller,
    Json(req): Json<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    let current = SecretString::from(req.current_password);
    users
        .change_password(&caller, current, req.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Starts a TOTP enrollment.
#[utoipa::path(post, path = "/api/v1/auth/mfa/totp", tag = "auth", security(("bearer" = [])),
    responses((status = 200, description = "Secret and `otpauth://` URI", body = crate::openapi::EnrollmentBody),
        (status = 401, response = E401), (status = 403, response = Error), (status = 429, response = E429),
        (status = 503, response = E503)))]
pub async fn enroll_totp(
    State(users): State<Users>,
    caller: Caller,
) -> Result<Envelope<MfaEnrollment>, ApiError> {
    Ok(Envelope::new(users.enroll_totp(&caller).await?))
}

/// Confirms the enrollment with a first code; answers the recovery codes.
#[utoipa::path(post, path = "/api/v1/auth/mfa/totp/confirm", tag = "auth", request_body = CodeRequest,
    security(("bearer" = [])),
    responses((status = 200, description = "Enabled; recovery codes, shown once", body = crate::openapi::RecoveryCodesBody),
        (status = 400, response = Error), (status = 401, response = E401), (status = 403, response = Error),
        (status = 415, response = Error), (status = 422, response = E422), (status = 429, response = E429),
        (status = 503, response = E503)))]
pub async fn confirm_totp(
    State(users): State<Users>,
    caller: Caller,
    Json(req): Json<CodeRequest>,
) -> Result<Envelope<RecoveryCodes>, ApiError> {
    let recovery_codes = users.confirm_totp(&caller, &req.code).await?;
    Ok(Envelope::new(RecoveryCodes { recovery_codes }))
}

/// Issues an API key that reads users (admin).
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "auth", request_body = NewKey,
    security(("bearer" = [])),
    responses((status = 201, description = "The key, shown once", body = crate::openapi::CreatedKeyBody),
        (status = 400, response = Error), (status = 401, response = E401), (status = 403, response = Error),
        (status = 415, response = Error), (status = 422, response = E422), (status = 429, response = E429),
        (status = 503, response = E503)))]
pub async fn create_api_key(
    State(users): State<Users>,
    caller: Caller,
    Json(req): Json<NewKey>,
) -> Result<(StatusCode, Envelope<CreatedKey>), ApiError> {
    let req = req.clean()?;
    let (id, key) = users.create_api_key(&caller, &req.name).await?;
    Ok((StatusCode::CREATED, Envelope::new(CreatedKey { id, key })))
}
