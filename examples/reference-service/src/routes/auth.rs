//! `/api/v1/auth/*`: signup and `POST /api/v1/api-keys` are the service's; the session
//! routes (login with the TOTP step-up, refresh, logout, logout everywhere, password
//! change, TOTP enrollment) are keel-auth's `SessionRoutes`, mounted by [`sessions`].

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use http::{StatusCode, header};
use keel_auth::axum::{SessionRoutes, password_policy_rule};
use keel_auth::flow::IssuedApiKey;
use keel_envelope::Envelope;
use keel_envelope::axum::Json;
use keel_errors::ApiError;
use keel_ratelimit::axum::ClientIp;
use keel_validation::{PasswordPolicy, Validate};
use serde::Deserialize;

use crate::domain::Caller;
use crate::openapi::{E422, Error};
use crate::services::{NewAccount, Users};
use crate::state::AppState;

/// keel-auth's session routes at their default paths (documented by `SessionPaths` in
/// [`crate::openapi`]): the client IP by the global limit's rule (trusted proxies), the
/// signup rules for a new password (keel-validation's NIST policy, as on
/// [`NewAccount`]'s password, with the e-mail address and the names as context).
pub fn sessions(state: &AppState) -> Router<AppState> {
    SessionRoutes::new(state.users.sessions().clone())
        .client_ip(state.limits.client_ip().clone())
        .password_rule(password_policy_rule(PasswordPolicy::nist()))
        .into_router()
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

/// Issues an API key that reads users (admin).
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "auth", request_body = NewKey,
    security(("bearer" = [])),
    responses((status = 201, description = "The key, shown once", body = crate::openapi::CreatedKeyBody),
        (status = 400, response = Error), (status = 415, response = Error), (status = 422, response = E422)))]
pub async fn create_api_key(
    State(users): State<Users>,
    caller: Caller,
    Json(req): Json<NewKey>,
) -> Result<(StatusCode, Envelope<IssuedApiKey>), ApiError> {
    let req = req.clean()?;
    let key = users.create_api_key(&caller, &req.name).await?;
    Ok((StatusCode::CREATED, Envelope::new(key)))
}
