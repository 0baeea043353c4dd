//! `/api/v1/users`: me, get (cached, `X-Cache`), list (admin), patch, delete (admin).
//! 401 and 403 are documented on every route by `CommonResponses` ([`crate::openapi`]).

use axum::extract::State;
use http::StatusCode;
use keel_cache::Lookup;
use keel_envelope::axum::{Json, Path, Query};
use keel_envelope::openapi::{BadRequest, NotFound, UnsupportedMediaType};
use keel_envelope::{Envelope, PageRequest};
use keel_errors::ApiError;
use uuid::Uuid;

use crate::domain::{Caller, User, UserView};
use crate::openapi::E422;
use crate::services::{ProfileChanges, UserPage, Users};

/// The caller's account.
#[utoipa::path(
    get,
    path = "/api/v1/users/me",
    tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = crate::openapi::UserBody),
    )
)]
pub async fn me(State(users): State<Users>, caller: Caller) -> Result<Envelope<User>, ApiError> {
    Ok(Envelope::new(users.me(&caller).await?))
}

/// A user (self or admin), cached; `X-Cache: HIT|MISS`.
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}",
    tag = "users",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "The user", body = crate::openapi::UserBody,
            headers(("X-Cache" = String, description = "`HIT` or `MISS`"))),
        (status = 404, response = NotFound),
        (status = 422, response = E422),
    )
)]
pub async fn get(
    State(users): State<Users>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Lookup<Envelope<UserView>>, ApiError> {
    let found = users.get(&caller, id).await?;
    Ok(found.map(Envelope::new))
}

/// Every user, oldest first, a page at a time (admin).
#[utoipa::path(
    get,
    path = "/api/v1/users",
    tag = "users",
    security(("bearer" = []), ("api_key" = [])),
    params(UserPage),
    responses(
        (status = 200, description = "A page of users with `meta.pagination`", body = crate::openapi::UserListBody),
        (status = 422, response = E422),
    )
)]
pub async fn list(
    State(users): State<Users>,
    caller: Caller,
    Query(page): Query<PageRequest>,
) -> Result<Envelope<Vec<User>>, ApiError> {
    let (list, pagination) = users.list(&caller, page).await?;
    Ok(Envelope::new(list).with_pagination(pagination))
}

/// Changes a profile (self or admin); invalidates the cache on every replica.
#[utoipa::path(
    patch,
    path = "/api/v1/users/{id}",
    tag = "users",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    request_body = ProfileChanges,
    responses(
        (status = 200, description = "The updated user", body = crate::openapi::UserBody),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = E422),
    )
)]
pub async fn update(
    State(users): State<Users>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(changes): Json<ProfileChanges>,
) -> Result<Envelope<User>, ApiError> {
    let user = users.update(&caller, id, changes).await?;
    Ok(Envelope::new(user))
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
        (status = 404, response = NotFound),
        (status = 422, response = E422),
    )
)]
pub async fn delete(
    State(users): State<Users>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    users.delete(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
