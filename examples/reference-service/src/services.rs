//! Services: the use cases. Policy lives here (who may do what, what is cached, what is
//! rate limited, what is encrypted); SQL lives in [`repository`], HTTP
//! in [`routes`](crate::routes).

use std::net::IpAddr;
use std::time::Duration;

use keel_envelope::{Page, Pagination};
use keel_errors::ApiError;
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use crate::auth::{AccessToken, AuthUser};
use crate::domain::{Role, User, UserRecord};
use crate::repository::{self, NewUser, UserChanges};
use crate::state::{AppState, CacheStatus, CachedUser};

/// A validated, normalized signup.
pub struct NewAccount {
    /// Normalized e-mail address.
    pub email: String,
    /// The password (already checked against the policy).
    pub password: SecretString,
    /// Normalized first name.
    pub first_name: String,
    /// Normalized last name.
    pub last_name: String,
    /// Phone in E.164.
    pub phone: Option<String>,
}

impl std::fmt::Debug for NewAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAccount").finish_non_exhaustive()
    }
}

/// A validated, normalized profile change; `None` leaves a field unchanged.
#[derive(Debug, Clone, Default)]
pub struct ProfileChanges {
    /// New first name.
    pub first_name: Option<String>,
    /// New last name.
    pub last_name: Option<String>,
    /// New phone; `Some(None)` removes it.
    pub phone: Option<Option<String>>,
}

/// Purpose string binding phone ciphertexts to this column: a token made for another
/// purpose (another column, another service) never decrypts here.
pub const PHONE_PURPOSE: &str = "users.phone";

fn record_to_cached(r: &UserRecord) -> CachedUser {
    CachedUser {
        id: r.id,
        email: r.email.clone(),
        first_name: r.first_name.clone(),
        last_name: r.last_name.clone(),
        phone_encrypted: r.phone_encrypted.clone(),
        role: r.role,
        created_at: r.created_at,
    }
}

fn to_public(state: &AppState, u: &CachedUser) -> Result<User, ApiError> {
    let phone = match &u.phone_encrypted {
        Some(token) => Some(state.decrypt_phone(token, u.id)?),
        None => None,
    };
    Ok(User {
        id: u.id,
        email: u.email.clone(),
        first_name: u.first_name.clone(),
        last_name: u.last_name.clone(),
        phone,
        role: u.role,
        created_at: u.created_at,
    })
}

fn not_found() -> ApiError {
    ApiError::not_found("User not found")
}

/// Signs a user up: hashes the password (blocking pool), encrypts the phone, inserts,
/// and schedules the welcome e-mail.
///
/// # Errors
/// 409 `CONFLICT` for a taken e-mail (case-insensitive); 503 when the database is down.
pub async fn signup(state: &AppState, account: NewAccount) -> Result<User, ApiError> {
    create_user(state, account, Role::User).await
}

async fn create_user(state: &AppState, account: NewAccount, role: Role) -> Result<User, ApiError> {
    let id = Uuid::new_v4();
    let password_hash = state.hash_password(account.password).await?;
    let phone_encrypted = account
        .phone
        .as_deref()
        .map(|p| state.encrypt_phone(p, id))
        .transpose()?;
    let new = NewUser {
        id,
        email: account.email,
        first_name: account.first_name,
        last_name: account.last_name,
        phone_encrypted,
        role,
        password_hash,
    };
    let conn = state.db().await?;
    let record = repository::insert(&conn, &new).await.map_err(|e| {
        if e.is_unique_violation() && e.constraint() == Some(repository::EMAIL_UNIQUE_INDEX) {
            ApiError::conflict("An account with this e-mail address already exists")
        } else {
            ApiError::from(e)
        }
    })?;
    drop(conn);
    let user = to_public(state, &record_to_cached(&record))?;

    let user_id = user.id;
    state.jobs().spawn("welcome_email", async move {
        // Stands in for an SMTP call: the job outlives the request and shutdown waits for it.
        tokio::time::sleep(Duration::from_millis(50)).await;
        tracing::info!(%user_id, "sent welcome e-mail");
    });
    Ok(user)
}

/// Logs in: rate limits per client IP and per e-mail, then verifies the password in
/// constant-ish time (a dummy hash when the user does not exist), upgrades an outdated
/// hash, and issues an access token.
///
/// # Errors
/// 429 (with rate-limit headers) from the limits; 401 for a wrong e-mail or password
/// (the same message for both); 503 when the database is down.
pub async fn login(
    state: &AppState,
    client_ip: IpAddr,
    email: &str,
    password: SecretString,
) -> Result<AccessToken, LoginError> {
    state.check_login_limits(client_ip, email).await?;

    let conn = state.db().await?;
    let record = repository::find_by_email(&conn, email)
        .await
        .map_err(ApiError::from)?;
    drop(conn);

    let Some(record) = record else {
        // Same work as for a real user, so response time does not reveal which e-mails exist.
        state.verify_dummy(password).await?;
        return Err(invalid_credentials().into());
    };
    if !state
        .verify_password(
            SecretString::from(password.expose_secret().to_owned()),
            record.password_hash.clone(),
        )
        .await?
    {
        return Err(invalid_credentials().into());
    }
    if state.needs_rehash(&record.password_hash) {
        // Best effort: a failure here must not fail the login.
        match state.hash_password(password).await {
            Ok(new_hash) => match state.db().await {
                Ok(conn) => {
                    if let Err(e) = repository::set_password_hash(&conn, record.id, &new_hash).await
                    {
                        tracing::warn!(error = %e, user_id = %record.id, "could not store the upgraded password hash");
                    } else {
                        tracing::info!(user_id = %record.id, "upgraded password hash");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not store the upgraded password hash"),
            },
            Err(e) => tracing::warn!(error = %e, "could not rehash the password"),
        }
    }
    Ok(state.tokens().issue(record.id, record.role)?)
}

fn invalid_credentials() -> ApiError {
    ApiError::unauthenticated("Invalid e-mail or password")
        .with_www_authenticate("Bearer realm=\"keel\"")
}

/// A login failure: an error, plus headers (rate-limit headers on a 429).
#[derive(Debug)]
pub struct LoginError {
    /// The error.
    pub error: ApiError,
    /// Extra response headers.
    pub headers: http::HeaderMap,
}

impl From<ApiError> for LoginError {
    fn from(error: ApiError) -> Self {
        Self {
            error,
            headers: http::HeaderMap::new(),
        }
    }
}

impl axum::response::IntoResponse for LoginError {
    fn into_response(self) -> axum::response::Response {
        (self.headers, self.error).into_response()
    }
}

/// The caller's own account.
///
/// # Errors
/// 401 when the account no longer exists; 503 when the database is down.
pub async fn me(state: &AppState, caller: AuthUser) -> Result<User, ApiError> {
    let conn = state.db().await?;
    let record = repository::find_by_id(&conn, caller.id)
        .await
        .map_err(ApiError::from)?;
    drop(conn);
    let record = record.ok_or_else(|| {
        ApiError::unauthenticated("The account of this token no longer exists")
            .with_www_authenticate("Bearer realm=\"keel\", error=\"invalid_token\"")
    })?;
    to_public(state, &record_to_cached(&record))
}

/// A user by id, through the cache (self or admin).
///
/// # Errors
/// 403 for another user's account unless admin; 404; 503 when the database is down.
pub async fn get_user(
    state: &AppState,
    caller: AuthUser,
    id: Uuid,
) -> Result<(User, CacheStatus), ApiError> {
    caller.require_self_or_admin(id)?;
    let loader_state = state.clone();
    let (cached, status) = state
        .cached_user(id, async move {
            let conn = loader_state.db().await?;
            let record = repository::find_by_id(&conn, id)
                .await
                .map_err(ApiError::from)?;
            Ok(record.as_ref().map(record_to_cached))
        })
        .await?;
    let cached = cached.ok_or_else(not_found)?;
    Ok((to_public(state, &cached)?, status))
}

/// A page of users (admin).
///
/// # Errors
/// 403 unless admin; 503 when the database is down.
pub async fn list_users(
    state: &AppState,
    caller: AuthUser,
    page: Page,
) -> Result<(Vec<User>, Pagination), ApiError> {
    caller.require_admin()?;
    // `Page` guarantees the offset fits an i64; the limit is at most PageBounds::max_limit.
    let limit =
        i64::try_from(page.limit).map_err(|_| ApiError::bad_request("limit out of range"))?;
    let offset =
        i64::try_from(page.offset()).map_err(|_| ApiError::bad_request("page out of range"))?;
    let conn = state.db().await?;
    let (records, total) = repository::list(&conn, limit, offset)
        .await
        .map_err(ApiError::from)?;
    drop(conn);
    let users = records
        .iter()
        .map(|r| to_public(state, &record_to_cached(r)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((users, page.pagination(total)))
}

/// Changes a user's profile (self or admin) and invalidates the cached copy on every replica.
///
/// # Errors
/// 403; 404; 503 when the database is down.
pub async fn update_user(
    state: &AppState,
    caller: AuthUser,
    id: Uuid,
    changes: ProfileChanges,
) -> Result<User, ApiError> {
    caller.require_self_or_admin(id)?;
    let phone_encrypted = match changes.phone {
        None => None,
        Some(None) => Some(None),
        Some(Some(p)) => Some(Some(state.encrypt_phone(&p, id)?)),
    };
    let db_changes = UserChanges {
        first_name: changes.first_name,
        last_name: changes.last_name,
        phone_encrypted,
    };
    let conn = state.db().await?;
    let record = repository::update(&conn, id, &db_changes)
        .await
        .map_err(ApiError::from)?;
    drop(conn);
    let record = record.ok_or_else(not_found)?;
    state.invalidate_cached_user(id).await;
    to_public(state, &record_to_cached(&record))
}

/// Deletes a user (admin) and invalidates the cached copy everywhere.
///
/// # Errors
/// 403 unless admin; 404; 503 when the database is down.
pub async fn delete_user(state: &AppState, caller: AuthUser, id: Uuid) -> Result<(), ApiError> {
    caller.require_admin()?;
    let conn = state.db().await?;
    let deleted = repository::delete(&conn, id)
        .await
        .map_err(ApiError::from)?;
    drop(conn);
    state.invalidate_cached_user(id).await;
    if deleted { Ok(()) } else { Err(not_found()) }
}

/// Creates the admin account `email`, or promotes and re-passwords an existing user.
/// Used by `reference-service create-admin`.
///
/// # Errors
/// Database and hashing errors.
pub async fn create_admin(state: &AppState, account: NewAccount) -> Result<User, ApiError> {
    let conn = state.db().await?;
    let existing = repository::find_by_email(&conn, &account.email)
        .await
        .map_err(ApiError::from)?;
    drop(conn);
    match existing {
        None => create_user(state, account, Role::Admin).await,
        Some(record) => {
            let hash = state.hash_password(account.password).await?;
            let conn = state.db().await?;
            repository::set_password_hash(&conn, record.id, &hash)
                .await
                .map_err(ApiError::from)?;
            repository::set_role(&conn, record.id, Role::Admin)
                .await
                .map_err(ApiError::from)?;
            drop(conn);
            state.invalidate_cached_user(record.id).await;
            let mut cached = record_to_cached(&record);
            cached.role = Role::Admin;
            to_public(state, &cached)
        }
    }
}
