//! Repositories: SQL and row mapping only. No policy, no HTTP. Every function takes the
//! keel-db-pool [`Db`] pool (each call checks a connection out for its statements, which
//! are prepared and cached per connection) and returns keel-db-pool's classified
//! [`Error`] (unique violation with the constraint name, connection lost, timeouts) for
//! the service layer to turn into API errors.

use keel_db_pool::{Error, Row, ToSql};
use keel_validation::RedactedDebug;
use uuid::Uuid;

use crate::db::Db;
use crate::domain::{Role, UserRecord};

/// Name of the unique index on `lower(email)` (see `migrations/V1__create_users.sql`);
/// a unique violation on it means "e-mail already registered".
pub const EMAIL_UNIQUE_INDEX: &str = "users_email_lower_key";

/// The columns of a [`UserRecord`]: what [`record`] reads.
const COLUMNS: &str = "id, email, first_name, last_name, phone_encrypted, role, created_at";

/// A user to insert; personal data and the hash are redacted in `Debug`.
#[derive(Clone, RedactedDebug)]
pub struct NewUser {
    /// Primary key chosen by the caller.
    pub id: Uuid,
    /// Normalized e-mail address.
    #[validate(sensitive)]
    pub email: String,
    /// Normalized first name.
    #[validate(sensitive)]
    pub first_name: String,
    /// Normalized last name.
    #[validate(sensitive)]
    pub last_name: String,
    /// Encrypted phone token.
    #[validate(sensitive)]
    pub phone_encrypted: Option<Vec<u8>>,
    /// Role.
    pub role: Role,
    /// Argon2id PHC string.
    #[validate(sensitive)]
    pub password_hash: String,
}

/// Changes to a user; `None` leaves a column as it is. `Debug` redacts the hash.
#[derive(Clone, Default, RedactedDebug)]
pub struct UserChanges {
    /// New first name.
    pub first_name: Option<String>,
    /// New last name.
    pub last_name: Option<String>,
    /// New phone token; `Some(None)` removes the phone.
    pub phone_encrypted: Option<Option<Vec<u8>>>,
    /// New role.
    pub role: Option<Role>,
    /// New Argon2id PHC string.
    #[validate(sensitive)]
    pub password_hash: Option<String>,
}

/// The row a `query_opt` found, if any, mapped.
fn mapped<T>(row: Option<Row>, map: fn(&Row) -> Result<T, Error>) -> Result<Option<T>, Error> {
    row.map(|row| map(&row)).transpose()
}

/// The row as a [`UserRecord`] (columns as in [`COLUMNS`]).
fn record(row: &Row) -> Result<UserRecord, Error> {
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
        created_at: row.try_get("created_at")?,
    })
}

/// Inserts a user and returns the stored row.
///
/// # Errors
/// Pool and driver errors; a unique violation on [`EMAIL_UNIQUE_INDEX`] for a taken e-mail.
pub async fn insert(db: &Db, u: &NewUser) -> Result<UserRecord, Error> {
    let sql = format!(
        "INSERT INTO users (id, email, first_name, last_name, phone_encrypted, role, password_hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
    );
    let params: [&(dyn ToSql + Sync); 7] = [
        &u.id,
        &u.email,
        &u.first_name,
        &u.last_name,
        &u.phone_encrypted,
        &u.role.as_str(),
        &u.password_hash,
    ];
    record(&db.query_one(&sql, &params).await?)
}

/// The user with this id.
///
/// # Errors
/// Pool and driver errors.
pub async fn find_by_id(db: &Db, id: Uuid) -> Result<Option<UserRecord>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
    mapped(db.query_opt(&sql, &[&id]).await?, record)
}

/// The user with this e-mail address (compared case-insensitively).
///
/// # Errors
/// Pool and driver errors.
pub async fn find_by_email(db: &Db, email: &str) -> Result<Option<UserRecord>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE lower(email) = lower($1)");
    mapped(db.query_opt(&sql, &[&email]).await?, record)
}

/// One page of users, oldest first, and the total count (one connection, two queries).
///
/// # Errors
/// Pool and driver errors.
pub async fn list(db: &Db, limit: i64, offset: i64) -> Result<(Vec<UserRecord>, u64), Error> {
    let sql = format!("SELECT {COLUMNS} FROM users ORDER BY created_at, id LIMIT $1 OFFSET $2");
    let conn = db.get().await?;
    let rows = conn.query(&sql, &[&limit, &offset]).await?;
    let total: i64 = conn
        .query_one("SELECT count(*) FROM users", &[])
        .await?
        .try_get(0)?;
    let users = rows.iter().map(record).collect::<Result<_, _>>()?;
    Ok((users, u64::try_from(total).unwrap_or(0)))
}

/// Applies `changes` in one statement and returns the updated row with the role it had
/// before (to tell a role change), or `None` when the user does not exist.
///
/// # Errors
/// Pool and driver errors.
pub async fn update(
    db: &Db,
    id: Uuid,
    changes: &UserChanges,
) -> Result<Option<(UserRecord, Role)>, Error> {
    let set_phone = changes.phone_encrypted.is_some();
    let phone = changes.phone_encrypted.as_ref().and_then(Option::as_ref);
    let role = changes.role.map(Role::as_str);
    // The CTE locks the row and reads the role it had; `RETURNING` sees the new values.
    let sql = format!(
        "WITH previous AS (SELECT role AS previous_role FROM users WHERE id = $1 FOR UPDATE) \
         UPDATE users SET \
           first_name = COALESCE($2, first_name), \
           last_name = COALESCE($3, last_name), \
           phone_encrypted = CASE WHEN $4 THEN $5 ELSE phone_encrypted END, \
           role = COALESCE($6, role), \
           password_hash = COALESCE($7, password_hash), \
           updated_at = now() \
         FROM previous WHERE id = $1 RETURNING {COLUMNS}, previous_role"
    );
    let params: [&(dyn ToSql + Sync); 7] = [
        &id,
        &changes.first_name,
        &changes.last_name,
        &set_phone,
        &phone,
        &role,
        &changes.password_hash,
    ];
    let with_previous = |row: &Row| -> Result<(UserRecord, Role), Error> {
        let previous: String = row.try_get("previous_role")?;
        Ok((record(row)?, Role::parse(&previous).unwrap_or(Role::User)))
    };
    mapped(db.query_opt(&sql, &params).await?, with_previous)
}

/// Deletes a user; `false` when there was none.
///
/// # Errors
/// Pool and driver errors.
pub async fn delete(db: &Db, id: Uuid) -> Result<bool, Error> {
    Ok(db
        .execute("DELETE FROM users WHERE id = $1", &[&id])
        .await?
        == 1)
}
