//! The users resource: me, get (cached), list, update, delete.

use keel_cache::{CacheStatus, Lookup};
use keel_envelope::{PageParams, PageRequest, Pagination};
use keel_errors::ApiError;
use keel_validation::Validate;
use keel_validation::openapi::PersonName;
use serde::Deserialize;
use uuid::Uuid;

use super::{Users, not_found, require_admin, require_reader, require_user, require_writer};
use crate::domain::{Caller, Role, User, UserView};
use crate::repository::{self, UserChanges};

/// `page` and `limit` of the admin list: checked against `UserPage::BOUNDS`, documented
/// by the same type (`params(UserPage)`).
pub type UserPage = PageParams<20, 100>;

// Names follow the signup rules (keel-validation derive); the phone is normalized to E.164.
/// A profile change; absent fields stay unchanged, `"phone": null` removes the phone.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct ProfileChanges {
    /// New first name (same rules as signup).
    #[schema(value_type = Option<PersonName>)]
    #[serde(default)]
    #[normalize(strip_html, collapse_whitespace, title_case)]
    #[validate(length(min = 2, max = 50))]
    pub first_name: Option<String>,
    /// New last name (same rules as signup).
    #[schema(value_type = Option<PersonName>)]
    #[serde(default)]
    #[normalize(strip_html, collapse_whitespace, title_case)]
    #[validate(length(min = 2, max = 50))]
    pub last_name: Option<String>,
    /// New phone in international format, or `null` to remove it. It must be a real
    /// number (a known country calling code, a plausible length): a rule a schema cannot
    /// express, answered 422 `invalid_phone`.
    #[schema(value_type = Option<String>, example = "+44 20 7183 8750")]
    #[serde(default, deserialize_with = "keel_validation::serde::double_option")]
    #[normalize(phone)]
    #[validate(phone)]
    pub phone: Option<Option<String>>,
    /// New role (admins only); a change revokes the user's tokens at once.
    #[serde(default)]
    pub role: Option<Role>,
}

impl Users {
    /// The caller's own account.
    ///
    /// # Errors
    /// 401 when the account no longer exists; 503 when the database is down.
    pub async fn me(&self, caller: &Caller) -> Result<User, ApiError> {
        require_user(caller)?;
        let record = repository::find_by_id(&self.c.db, caller.id).await?;
        // A deleted account's tokens are revoked: answer as for any revoked token.
        self.public(record.ok_or(keel_auth::Error::InvalidToken)?)
    }

    /// A user by id (self or admin), through the cache when it is enabled.
    ///
    /// # Errors
    /// 403 for another user's account unless admin; 404; 503 when the database is down.
    pub async fn get(&self, caller: &Caller, id: Uuid) -> Result<Lookup<UserView>, ApiError> {
        require_reader(caller, id)?;
        let db = self.c.db.clone();
        // Errors stay `ApiError`s through the cache (503 + `Retry-After` when the database is down).
        // The database query is built and boxed only on a miss: held inline, its state
        // machine would make this future (moved per request) large on cache hits too.
        let load = move || {
            Box::pin(async move {
                let found = repository::find_by_id(&db, id).await;
                found
                    .map(|u| u.map(std::sync::Arc::new))
                    .map_err(ApiError::from)
            })
        };
        let found = match &self.c.cache {
            Some(cache) => cache.get_or_load_optional(id, load).await?,
            None => Lookup::new(load().await?, CacheStatus::Miss),
        };
        found.try_map(|user| {
            let record = user.ok_or_else(not_found)?;
            self.phone(&record).map(|phone| UserView { record, phone })
        })
    }

    /// A page of users, oldest first (admin).
    ///
    /// # Errors
    /// 403 unless admin; 422 for `page`/`limit` out of range; 503 when the database is down.
    pub async fn list(
        &self,
        caller: &Caller,
        page: PageRequest,
    ) -> Result<(Vec<User>, Pagination), ApiError> {
        require_admin(caller)?;
        let page = page.resolve(&UserPage::BOUNDS)?;
        let (limit, offset) = page.sql_limit_offset();
        let (records, total) = repository::list(&self.c.db, limit, offset).await?;
        let users = records
            .into_iter()
            .map(|r| self.public(r))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((users, page.pagination(total)))
    }

    /// Changes a profile (self or admin) and invalidates the cached copy on every replica.
    ///
    /// # Errors
    /// 403; 422 with every invalid field; 404; 503 when the database is down.
    pub async fn update(
        &self,
        caller: &Caller,
        id: Uuid,
        changes: ProfileChanges,
    ) -> Result<User, ApiError> {
        require_writer(caller, id)?;
        if changes.role.is_some() {
            require_admin(caller)?;
            if caller.id == id {
                // Nobody demotes themselves: the last admin cannot lock everyone out.
                return Err(ApiError::forbidden("You cannot change your own role"));
            }
        }
        let changes = changes.clean()?;
        let phone_encrypted = match changes.phone {
            None => None,
            Some(None) => Some(None),
            Some(Some(p)) => Some(Some(self.encrypt_phone(&p, id)?)),
        };
        let db_changes = UserChanges {
            first_name: changes.first_name,
            last_name: changes.last_name,
            phone_encrypted,
            role: changes.role,
            password_hash: None,
        };
        let updated = repository::update(&self.c.db, id, &db_changes).await?;
        let (record, previous_role) = updated.ok_or_else(not_found)?;
        if record.role != previous_role {
            // A demotion must not wait for the old tokens to expire.
            self.revoke_everything(id).await?;
        }
        self.forget(id).await;
        self.public(record)
    }

    /// Deletes a user (admin) and invalidates the cached copy everywhere.
    ///
    /// # Errors
    /// 403 unless admin; 404; 503 when the database is down.
    pub async fn delete(&self, caller: &Caller, id: Uuid) -> Result<(), ApiError> {
        require_user(caller)?;
        require_admin(caller)?;
        if caller.id == id {
            return Err(ApiError::forbidden("You cannot delete your own account"));
        }
        let deleted = repository::delete(&self.c.db, id).await?;
        self.forget(id).await;
        if !deleted {
            return Err(not_found());
        }
        self.revoke_everything(id).await
    }
}
