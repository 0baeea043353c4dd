//! `/api/v1/users`: me, get (cached), list (admin), patch, delete (admin).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode};
use keel_envelope::axum::{Json, Query};
use keel_envelope::{Envelope, PageBounds, PageRequest};
use keel_errors::ApiError;
use serde::{Deserialize, Deserializer};
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::domain::User;
use crate::services::{self, ProfileChanges};
use crate::state::AppState;
use keel_validation::rules::{self, PhoneOptions};
use keel_validation::{Validate, Violation};

/// `page` and `limit` bounds of the admin list.
pub const PAGE_BOUNDS: PageBounds = PageBounds {
    default_limit: 20,
    max_limit: 100,
};

fn parse_id(raw: &str) -> Result<Uuid, ApiError> {
    // A malformed id cannot name a user: 404 rather than a parse error that reveals the id format.
    Uuid::parse_str(raw).map_err(|_| ApiError::not_found("User not found"))
}

/// The caller's account.
#[utoipa::path(
    get,
    path = "/api/v1/users/me",
    tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = crate::openapi::UserEnvelope),
        (status = 401, description = "Missing, invalid or expired token (`UNAUTHENTICATED`, `WWW-Authenticate`)", body = crate::openapi::ErrorResponse),
        (status = 503, description = "Database unavailable (`SERVICE_UNAVAILABLE`)", body = crate::openapi::ErrorResponse),
    )
)]
pub async fn me(
    State(state): State<AppState>,
    caller: AuthUser,
) -> Result<Envelope<User>, ApiError> {
    Ok(Envelope::new(services::me(&state, caller).await?))
}

/// A user (self or admin), cached; `X-Cache: HIT|MISS`.
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}",
    tag = "users",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "The user", body = crate::openapi::UserEnvelope,
            headers(("X-Cache" = String, description = "`HIT` or `MISS`"))),
        (status = 401, description = "Missing, invalid or expired token (`UNAUTHENTICATED`)", body = crate::openapi::ErrorResponse),
        (status = 403, description = "Another user's account, caller not admin (`FORBIDDEN`)", body = crate::openapi::ErrorResponse),
        (status = 404, description = "No such user (`NOT_FOUND`)", body = crate::openapi::ErrorResponse),
        (status = 503, description = "Database unavailable (`SERVICE_UNAVAILABLE`)", body = crate::openapi::ErrorResponse),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let (user, cache) = services::get_user(&state, caller, id).await?;
    let mut res = Envelope::new(user).into_response();
    res.headers_mut()
        .insert("x-cache", HeaderValue::from_static(cache.as_str()));
    Ok(res)
}

/// Every user, oldest first, a page at a time (admin).
#[utoipa::path(
    get,
    path = "/api/v1/users",
    tag = "users",
    security(("bearer" = [])),
    params(
        ("page" = Option<u64>, Query, description = "1-based page (default 1)", minimum = 1),
        ("limit" = Option<u64>, Query, description = "Items per page (default 20, at most 100)", minimum = 1, maximum = 100),
    ),
    responses(
        (status = 200, description = "A page of users with `meta.pagination`", body = crate::openapi::UserListEnvelope),
        (status = 401, description = "Missing, invalid or expired token (`UNAUTHENTICATED`)", body = crate::openapi::ErrorResponse),
        (status = 403, description = "Caller not admin (`FORBIDDEN`)", body = crate::openapi::ErrorResponse),
        (status = 422, description = "`page`/`limit` out of range (`VALIDATION_ERROR`)", body = crate::openapi::ErrorResponse),
        (status = 503, description = "Database unavailable (`SERVICE_UNAVAILABLE`)", body = crate::openapi::ErrorResponse),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: AuthUser,
    Query(page): Query<PageRequest>,
) -> Result<Envelope<Vec<User>>, ApiError> {
    caller.require_admin()?;
    let page = page.resolve(&PAGE_BOUNDS)?;
    let (users, pagination) = services::list_users(&state, caller, page).await?;
    Ok(Envelope::new(users).with_pagination(pagination))
}

// Names follow the signup rules (keel-validation derive); the phone is normalized to E.164.
/// Profile change body; absent fields stay unchanged, `"phone": null` removes the phone.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    /// New first name (same rules as signup).
    #[schema(example = "Ada")]
    #[serde(default)]
    #[normalize(strip_html, collapse_whitespace, title_case)]
    #[validate(length(min = 2, max = 50))]
    pub first_name: Option<String>,
    /// New last name.
    #[serde(default)]
    #[normalize(strip_html, collapse_whitespace, title_case)]
    #[validate(length(min = 2, max = 50))]
    pub last_name: Option<String>,
    /// New phone (international format); `null` removes it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, example = "+44 20 7183 8750")]
    #[validate(custom = phone_rule)]
    pub phone: Option<Option<String>>,
}

/// The phone rule on the PATCH's three-state field: the derive skips an absent field and
/// hands over the inner value (`None` for `null`, which removes the phone). The value is
/// normalized to E.164 in [`UpdateUserRequest::into_changes`] before this runs.
fn phone_rule(value: &Option<String>) -> Result<(), Violation> {
    match value {
        Some(p) => rules::phone(p, &PhoneOptions::new()),
        None => Ok(()),
    }
}

/// `Some(None)` for an explicit `null`, `None` (via `default`) for an absent field.
fn double_option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

impl UpdateUserRequest {
    /// Normalizes and validates the present fields.
    ///
    /// # Errors
    /// 422 `VALIDATION_ERROR`.
    pub fn into_changes(mut self) -> Result<ProfileChanges, ApiError> {
        // The derive normalizes `String`/`Option<String>` fields; the three-state phone is ours.
        if let Some(Some(p)) = &mut self.phone {
            keel_validation::normalize::phone(p, &PhoneOptions::new());
        }
        let clean = self.clean()?;
        Ok(ProfileChanges {
            first_name: clean.first_name,
            last_name: clean.last_name,
            phone: clean.phone,
        })
    }
}

/// Changes a profile (self or admin); invalidates the cache on every replica.
#[utoipa::path(
    patch,
    path = "/api/v1/users/{id}",
    tag = "users",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, description = "The updated user", body = crate::openapi::UserEnvelope),
        (status = 400, description = "Malformed JSON (`MALFORMED_JSON`)", body = crate::openapi::ErrorResponse),
        (status = 401, description = "Missing, invalid or expired token (`UNAUTHENTICATED`)", body = crate::openapi::ErrorResponse),
        (status = 403, description = "Another user's account, caller not admin (`FORBIDDEN`)", body = crate::openapi::ErrorResponse),
        (status = 404, description = "No such user (`NOT_FOUND`)", body = crate::openapi::ErrorResponse),
        (status = 415, description = "Not `application/json` (`UNSUPPORTED_MEDIA_TYPE`)", body = crate::openapi::ErrorResponse),
        (status = 422, description = "Invalid fields (`VALIDATION_ERROR`)", body = crate::openapi::ErrorResponse),
        (status = 503, description = "Database unavailable (`SERVICE_UNAVAILABLE`)", body = crate::openapi::ErrorResponse),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
    Json(req): Json<UpdateUserRequest>,
) -> Result<Envelope<User>, ApiError> {
    let id = parse_id(&id)?;
    caller.require_self_or_admin(id)?;
    let changes = req.into_changes()?;
    Ok(Envelope::new(
        services::update_user(&state, caller, id, changes).await?,
    ))
}

/// Deletes a user (admin).
#[utoipa::path(
    delete,
    path = "/api/v1/users/{id}",
    tag = "users",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing, invalid or expired token (`UNAUTHENTICATED`)", body = crate::openapi::ErrorResponse),
        (status = 403, description = "Caller not admin (`FORBIDDEN`)", body = crate::openapi::ErrorResponse),
        (status = 404, description = "No such user (`NOT_FOUND`)", body = crate::openapi::ErrorResponse),
        (status = 503, description = "Database unavailable (`SERVICE_UNAVAILABLE`)", body = crate::openapi::ErrorResponse),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    let id = parse_id(&id)?;
    services::delete_user(&state, caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
