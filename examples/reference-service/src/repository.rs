//! Repositories: SQL and row mapping only. No policy, no HTTP. Every function takes a
//! pooled keel-db-pool [`Connection`] (statements prepared and cached per connection) and
//! returns keel-db-pool's classified [`Error`] (unique violation with the constraint name,
//! connection lost, timeouts) for the service layer to turn into API errors.

use keel_db_pool::{Connection, Error, Row};
use uuid::Uuid;

use crate::domain::{Role, UserRecord};

/// Name of the unique index on `lower(email)` (see `migrations/V1__create_users.sql`);
/// a unique violation on it means "e-mail already registered".
pub const EMAIL_UNIQUE_INDEX: &str = "users_email_lower_key";

const COLUMNS: &str = "id, email, first_name, last_name, phone_encrypted, role, password_hash, created_at, updated_at";

/// A user to insert.
#[derive(Clone)]
pub struct NewUser {
    /// Primary key chosen by the caller.
    pub id: Uuid,
    /// Normalized e-mail address.
    pub email: String,
    /// Normalized first name.
    pub first_name: String,
    /// Normalized last name.
    pub last_name: String,
    /// Encrypted phone token.
    pub phone_encrypted: Option<Vec<u8>>,
    /// Role.
    pub role: Role,
    /// Argon2id PHC string.
    pub password_hash: String,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("id", &self.id)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// Changes to a user; `None` leaves a column as it is.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    /// New first name.
    pub first_name: Option<String>,
    /// New last name.
    pub last_name: Option<String>,
    /// New phone token; `Some(None)` removes the phone.
    pub phone_encrypted: Option<Option<Vec<u8>>>,
}

fn map_row(row: &Row) -> Result<UserRecord, Error> {
    map_row_inner(row).map_err(Error::from)
}

fn map_row_inner(row: &Row) -> Result<UserRecord, tokio_postgres::Error> {
    let role: String = row.try_get("role")?;
    Ok(UserRecord {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        first_name: row.try_get("first_name")?,
        last_name: row.try_get("last_name")?,
        phone_encrypted: row.try_get("phone_encrypted")?,
        // The CHECK constraint allows only the two known roles; an unknown one (a newer
        // schema) is treated as the least privileged.
        role: Role::parse(&role).unwrap_or(Role::User),
        password_hash: row.try_get("password_hash")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Inserts a user and returns the stored row.
///
/// # Errors
/// Driver errors; a unique violation on [`EMAIL_UNIQUE_INDEX`] for a taken e-mail.
pub async fn insert(c: &Connection, u: &NewUser) -> Result<UserRecord, Error> {
    let sql = format!(
        "INSERT INTO users (id, email, first_name, last_name, phone_encrypted, role, password_hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
    );
    let row = c
        .query_one(
            &sql,
            &[
                &u.id,
                &u.email,
                &u.first_name,
                &u.last_name,
                &u.phone_encrypted,
                &u.role.as_str(),
                &u.password_hash,
            ],
        )
        .await?;
    map_row(&row)
}

/// The user with this id.
///
/// # Errors
/// Driver errors.
pub async fn find_by_id(c: &Connection, id: Uuid) -> Result<Option<UserRecord>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
    c.query_opt(&sql, &[&id])
        .await?
        .as_ref()
        .map(map_row)
        .transpose()
}

/// The user with this e-mail address, compared case-insensitively.
///
/// # Errors
/// Driver errors.
pub async fn find_by_email(c: &Connection, email: &str) -> Result<Option<UserRecord>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE lower(email) = lower($1)");
    c.query_opt(&sql, &[&email])
        .await?
        .as_ref()
        .map(map_row)
        .transpose()
}

/// One page of users, oldest first, and the total count.
///
/// # Errors
/// Driver errors.
pub async fn list(
    c: &Connection,
    limit: i64,
    offset: i64,
) -> Result<(Vec<UserRecord>, u64), Error> {
    let sql = format!("SELECT {COLUMNS} FROM users ORDER BY created_at, id LIMIT $1 OFFSET $2");
    let rows = c.query(&sql, &[&limit, &offset]).await?;
    let total: i64 = c
        .query_one("SELECT count(*) FROM users", &[])
        .await?
        .try_get(0)?;
    let users = rows.iter().map(map_row).collect::<Result<Vec<_>, _>>()?;
    Ok((users, u64::try_from(total).unwrap_or(0)))
}

/// Applies `changes` and returns the updated row, or `None` when the user does not exist.
///
/// # Errors
/// Driver errors.
pub async fn update(
    c: &Connection,
    id: Uuid,
    changes: &UserChanges,
) -> Result<Option<UserRecord>, Error> {
    let set_phone = changes.phone_encrypted.is_some();
    let phone = changes.phone_encrypted.clone().flatten();
    let sql = format!(
        "UPDATE users SET \
           first_name = COALESCE($2, first_name), \
           last_name = COALESCE($3, last_name), \
           phone_encrypted = CASE WHEN $4 THEN $5 ELSE phone_encrypted END, \
           updated_at = now() \
         WHERE id = $1 RETURNING {COLUMNS}"
    );
    c.query_opt(
        &sql,
        &[
            &id,
            &changes.first_name,
            &changes.last_name,
            &set_phone,
            &phone,
        ],
    )
    .await?
    .as_ref()
    .map(map_row)
    .transpose()
}

/// Replaces the password hash (rehash on login, admin password reset).
///
/// # Errors
/// Driver errors.
pub async fn set_password_hash(c: &Connection, id: Uuid, hash: &str) -> Result<bool, Error> {
    let n = c
        .execute(
            "UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1",
            &[&id, &hash],
        )
        .await?;
    Ok(n == 1)
}

/// Sets the role (used by `create-admin` for an existing user).
///
/// # Errors
/// Driver errors.
pub async fn set_role(c: &Connection, id: Uuid, role: Role) -> Result<bool, Error> {
    let n = c
        .execute(
            "UPDATE users SET role = $2, updated_at = now() WHERE id = $1",
            &[&id, &role.as_str()],
        )
        .await?;
    Ok(n == 1)
}

/// Deletes a user; `false` when there was none.
///
/// # Errors
/// Driver errors.
pub async fn delete(c: &Connection, id: Uuid) -> Result<bool, Error> {
    Ok(c.execute("DELETE FROM users WHERE id = $1", &[&id]).await? == 1)
}
