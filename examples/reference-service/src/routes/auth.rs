//! `/api/v1/auth/*`: signup, login (+ TOTP step-up), refresh, logout, logout everywhere,
//! password change, TOTP enrollment; and `POST /api/v1/api-keys`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use keel_auth::flow::{
    CodeRequest, IssuedApiKey, LoginOutcome, LoginRequest, MfaEnrollment, MfaLoginRequest,
    PasswordChangeRequest, RecoveryCodeList, TokenPair,
};
use keel_envelope::Envelope;
use keel_envelope::axum::Json;
use keel_errors::ApiError;
use keel_validation::{RedactedDebug, Validate};
use secrecy::SecretString;
use serde::Deserialize;

use super::ClientIp;
use crate::domain::Caller;
use crate::openapi::{E401, E422, Error};
use crate::services::{NewAccount, Users};

/// The login route: the only path the device cookie is sent to.
const LOGIN_PATH: &str = "/api/v1/auth/login";

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

/// Creates an account (signup quota per client network).
#[utoipa::path(post, path = "/api/v1/auth/signup", tag = "auth", request_body = NewAccount,
    responses(
        (status = 201, description = "Account created; `Location` names it", body = crate::openapi::UserBody,
            headers(("Location" = String, description = "/api/v1/users/{id}"))),
        (status = 400, response = Error), (status = 409, response = Error), (status = 413, response = Error),
        (status = 415, response = Error), (status = 422, response = E422)))]
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
        (status = 415, response = Error), (status = 422, response = E422)))]
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
    let password = SecretString::from(req.password);
    let outcome = users
        .sessions()
        .login(&req.email, &password, ip, device)
        .await?;
    Ok(match outcome {
        LoginOutcome::Tokens { tokens, device } => {
            let mut res = Envelope::new(tokens).into_response();
            let cookie = device.map(|d| d.set_cookie(LOGIN_PATH));
            if let Some(v) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
                res.headers_mut().insert(header::SET_COOKIE, v);
            }
            res
        }
        LoginOutcome::MfaRequired(challenge) => Envelope::new(challenge).into_response(),
    })
}

/// Completes a login with the second factor.
#[utoipa::path(post, path = "/api/v1/auth/login/mfa", tag = "auth", request_body = MfaLoginRequest,
    responses((status = 200, description = "Tokens", body = crate::openapi::TokenBody),
        (status = 400, response = Error), (status = 401, response = E401), (status = 415, response = Error),
        (status = 422, response = E422)))]
pub async fn login_mfa(
    State(users): State<Users>,
    Json(req): Json<MfaLoginRequest>,
) -> Result<Envelope<TokenPair>, ApiError> {
    let tokens = users.sessions().complete_mfa(&req.mfa_token, &req.code);
    Ok(Envelope::new(tokens.await?))
}

/// Rotates a refresh token; presenting a spent one ends its whole session.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, description = "New tokens", body = crate::openapi::TokenBody),
        (status = 400, response = Error), (status = 401, response = E401), (status = 415, response = Error),
        (status = 422, response = E422)))]
pub async fn refresh(
    State(users): State<Users>,
    Json(req): Json<RefreshRequest>,
) -> Result<Envelope<TokenPair>, ApiError> {
    let req = req.clean()?;
    let tokens = users.sessions().refresh(&req.refresh_token).await?;
    Ok(Envelope::new(tokens))
}

/// Ends this session: its refresh token and its access tokens.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body = RefreshRequest,
    security(("bearer" = [])),
    responses((status = 204, description = "Logged out"),
        (status = 400, response = Error), (status = 401, response = E401), (status = 403, response = Error),
        (status = 415, response = Error), (status = 422, response = E422)))]
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
        (status = 401, response = E401), (status = 403, response = Error)))]
pub async fn logout_all(
    State(users): State<Users>,
    caller: Caller,
) -> Result<StatusCode, ApiError> {
    users.logout_everywhere(&caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Changes the caller's password; every session ends.
#[utoipa::path(put, path = "/api/v1/auth/password", tag = "auth", request_body = PasswordChangeRequest,
    security(("bearer" = [])),
    responses((status = 204, description = "Changed; log in again"),
        (status = 400, response = Error), (status = 401, response = E401), (status = 403, response = Error),
        (status = 415, response = Error), (status = 422, response = E422)))]
pub async fn change_password(
    State(users): State<Users>,
    caller: Caller,
    ClientIp(ip): ClientIp,
    Json(req): Json<PasswordChangeRequest>,
) -> Result<StatusCode, ApiError> {
    let current = SecretString::from(req.current_password);
    let new = SecretString::from(req.new_password);
    users.change_password(&caller, ip, current, new).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Starts a TOTP enrollment.
#[utoipa::path(post, path = "/api/v1/auth/mfa/totp", tag = "auth", security(("bearer" = [])),
    responses((status = 200, description = "Secret and `otpauth://` URI", body = crate::openapi::EnrollmentBody),
        (status = 401, response = E401), (status = 403, response = Error)))]
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
        (status = 415, response = Error), (status = 422, response = E422)))]
pub async fn confirm_totp(
    State(users): State<Users>,
    caller: Caller,
    Json(req): Json<CodeRequest>,
) -> Result<Envelope<RecoveryCodeList>, ApiError> {
    Ok(Envelope::new(users.confirm_totp(&caller, &req.code).await?))
}

/// Issues an API key that reads users (admin).
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "auth", request_body = NewKey,
    security(("bearer" = [])),
    responses((status = 201, description = "The key, shown once", body = crate::openapi::CreatedKeyBody),
        (status = 400, response = Error), (status = 401, response = E401), (status = 403, response = Error),
        (status = 415, response = Error), (status = 422, response = E422)))]
pub async fn create_api_key(
    State(users): State<Users>,
    caller: Caller,
    Json(req): Json<NewKey>,
) -> Result<(StatusCode, Envelope<IssuedApiKey>), ApiError> {
    let req = req.clean()?;
    let key = users.create_api_key(&caller, &req.name).await?;
    Ok((StatusCode::CREATED, Envelope::new(key)))
}
