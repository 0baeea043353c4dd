//! [`PgAccounts`]: an [`AccountStore`] over the application's own PostgreSQL users table,
//! named by [`PgAccountsConfig`] (feature `postgres`).

use std::fmt;
use std::sync::Arc;

use keel_db_pool::{Pool, Row, ToSql};

use super::{Account, AccountStore};
use crate::error::{Error, Result};
use crate::login::LoginEmail;
use crate::store::{MAX_SUBJECT_LEN, StoreFuture};

/// Most context-word columns ([`PgAccountsConfigBuilder::context`]).
pub const MAX_CONTEXT_COLUMNS: usize = 8;

/// The SQL type of the table's subject (primary key) column: how a token subject is
/// checked before it reaches the database, and cast there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SubjectType {
    /// `uuid`: subjects are UUIDs in the hyphenated 8-4-4-4-12 form (what `id::text`
    /// gives, hence what the tokens carry).
    Uuid,
    /// `bigint` / `integer` / `serial`: subjects are decimal integers without sign or
    /// leading zeros.
    BigInt,
    /// `text` / `varchar`: subjects are the column's value, up to
    /// [`MAX_SUBJECT_LEN`](crate::MAX_SUBJECT_LEN) bytes.
    Text,
}

impl SubjectType {
    /// Whether `subject` can be a key of this type. Anything else is answered "no such
    /// account" without a query (a cast that fails in PostgreSQL would be a store error).
    fn accepts(self, subject: &str) -> bool {
        match self {
            Self::Uuid => {
                let b = subject.as_bytes();
                b.len() == 36
                    && b.iter().enumerate().all(|(i, c)| match i {
                        8 | 13 | 18 | 23 => *c == b'-',
                        _ => c.is_ascii_hexdigit(),
                    })
            }
            Self::BigInt => {
                subject.len() <= 19
                    && subject
                        .parse::<u64>()
                        .is_ok_and(|n| i64::try_from(n).is_ok() && n.to_string() == subject)
            }
            Self::Text => !subject.is_empty() && subject.len() <= MAX_SUBJECT_LEN,
        }
    }

    const fn sql(self) -> &'static str {
        match self {
            Self::Uuid => "uuid",
            Self::BigInt => "bigint",
            Self::Text => "text",
        }
    }
}

/// Where the accounts live: table and column names, checked by
/// [`build`](PgAccountsConfigBuilder::build) and baked into the statements once.
///
/// Every name must be 1–63 characters of `[a-z0-9_]`, not starting with a digit (the
/// same rule as [`check_schema`](crate::migrations::check_schema)); names are quoted in
/// the SQL, so reserved words such as `user` work. Nothing from a request ever becomes
/// SQL text: logins and subjects are parameters.
///
/// ```
/// use keel_auth::flow::{PgAccountsConfig, SubjectType};
///
/// let config = PgAccountsConfig::builder("users")
///     .subject("id", SubjectType::Uuid)
///     .role("role")
///     .context(["first_name", "last_name"])
///     .updated_at("updated_at")
///     .build()?;
/// assert_eq!(config.table(), r#""users""#);
/// assert!(PgAccountsConfig::builder("users; DROP TABLE users").build().is_err());
/// # Ok::<(), keel_auth::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct PgAccountsConfig {
    table: String,
    subject_type: SubjectType,
    by_login: String,
    by_subject: String,
    set_hash: String,
}

impl PgAccountsConfig {
    /// A builder for the accounts in `table` with the defaults: subject column `id`
    /// ([`SubjectType::Uuid`]), login column `email`, hash column `password_hash`, no
    /// role, no context words.
    pub fn builder(table: impl Into<String>) -> PgAccountsConfigBuilder {
        PgAccountsConfigBuilder {
            schema: None,
            table: table.into(),
            subject: ("id".to_owned(), SubjectType::Uuid),
            login: "email".to_owned(),
            password_hash: "password_hash".to_owned(),
            role: None,
            context: Vec::new(),
            updated_at: None,
        }
    }

    /// The table, quoted (and schema-qualified when a schema was given).
    #[must_use]
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The subject column's type.
    #[must_use]
    pub const fn subject_type(&self) -> SubjectType {
        self.subject_type
    }
}

/// Builds a [`PgAccountsConfig`].
#[derive(Debug, Clone)]
#[must_use]
pub struct PgAccountsConfigBuilder {
    schema: Option<String>,
    table: String,
    subject: (String, SubjectType),
    login: String,
    password_hash: String,
    role: Option<String>,
    context: Vec<String>,
    updated_at: Option<String>,
}

impl PgAccountsConfigBuilder {
    /// The schema holding the table (default: none, so the connection's `search_path`
    /// decides).
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// The subject column — the tokens' `sub`: a stable id, never the e-mail address —
    /// and its type (default `id`, [`SubjectType::Uuid`]).
    pub fn subject(mut self, column: impl Into<String>, ty: SubjectType) -> Self {
        self.subject = (column.into(), ty);
        self
    }

    /// The login column (default `email`), matched case-insensitively
    /// (`lower(column) = lower($1)`): give it a unique index on `lower(column)`, which
    /// also serves the lookup. Two rows matching one login make the lookup fail (a
    /// store error, 503) rather than pick one.
    pub fn login(mut self, column: impl Into<String>) -> Self {
        self.login = column.into();
        self
    }

    /// The password-hash column (default `password_hash`), a PHC string. A row whose
    /// hash is `NULL` is no account for the session flow (it cannot log in with a
    /// password, and its sessions end at the next refresh).
    pub fn password_hash(mut self, column: impl Into<String>) -> Self {
        self.password_hash = column.into();
        self
    }

    /// The role column: its value (as text) is the one role the tokens carry, read again
    /// at every refresh; `NULL` means none. Default: no role column, no roles.
    pub fn role(mut self, column: impl Into<String>) -> Self {
        self.role = Some(column.into());
        self
    }

    /// The columns whose values a new password must not be ([`Account::context`]), in
    /// this order (`NULL` reads as an empty word, keeping the positions); at most
    /// [`MAX_CONTEXT_COLUMNS`].
    pub fn context<I, S>(mut self, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.context = columns.into_iter().map(Into::into).collect();
        self
    }

    /// A timestamp column set to `now()` with every new password hash (default: none).
    pub fn updated_at(mut self, column: impl Into<String>) -> Self {
        self.updated_at = Some(column.into());
        self
    }

    /// Checks every name and writes the statements.
    ///
    /// # Errors
    /// [`Error::Config`] for a name outside `[a-z0-9_]` (1–63 characters, not starting
    /// with a digit) or more than [`MAX_CONTEXT_COLUMNS`] context columns.
    pub fn build(self) -> Result<PgAccountsConfig> {
        let q = |name: &str| ident(name).map(|()| format!("\"{name}\""));
        let table = match &self.schema {
            Some(schema) => format!("{}.{}", q(schema)?, q(&self.table)?),
            None => q(&self.table)?,
        };
        if self.context.len() > MAX_CONTEXT_COLUMNS {
            return Err(Error::Config(format!(
                "at most {MAX_CONTEXT_COLUMNS} context columns"
            )));
        }
        let (subject, ty) = (q(&self.subject.0)?, self.subject.1);
        let (login, hash) = (q(&self.login)?, q(&self.password_hash)?);
        let role = match &self.role {
            Some(role) => format!("{}::text", q(role)?),
            None => "NULL::text".to_owned(),
        };
        let mut columns = format!("{subject}::text, {login}::text, {hash}::text, {role}");
        for c in &self.context {
            columns.push_str(&format!(", coalesce({}::text, '')", q(c)?));
        }
        let touch = match &self.updated_at {
            Some(c) => format!(", {} = now()", q(c)?),
            None => String::new(),
        };
        // The subject arrives as text and is cast once (the comparison stays on the
        // column's own type, so its primary-key index serves it).
        let key = format!("{subject} = CAST($1::text AS {})", ty.sql());
        Ok(PgAccountsConfig {
            by_login: format!(
                "SELECT {columns} FROM {table} \
                 WHERE lower({login}::text) = lower($1::text) AND {hash} IS NOT NULL"
            ),
            by_subject: format!("SELECT {columns} FROM {table} WHERE {key} AND {hash} IS NOT NULL"),
            set_hash: format!("UPDATE {table} SET {hash} = $2::text{touch} WHERE {key}"),
            table,
            subject_type: ty,
        })
    }
}

/// A PostgreSQL identifier Keel accepts: 1–63 characters of `[a-z0-9_]`, not starting
/// with a digit.
fn ident(name: &str) -> Result<()> {
    crate::migrations::check_schema(name).map_err(|_| {
        Error::Config(format!(
            "{name:?}: table and column names must be 1-63 characters of [a-z0-9_], not \
             starting with a digit"
        ))
    })
}

/// The application's users table as the session flow's [`AccountStore`] (feature
/// `postgres`): no `AccountStore` to write when the accounts are rows with a subject, a
/// login, a password hash and perhaps a role. Statements are prepared and cached per
/// connection by keel-db-pool; a database error is logged at `warn` (never shown to
/// clients) and answered [`Error::Store`] (503).
///
/// ```no_run
/// # async fn run(pool: keel_db_pool::Pool, parts: keel_auth::flow::AuthComponents) -> keel_auth::Result<()> {
/// use keel_auth::flow::{PgAccounts, PgAccountsConfig, SessionFlow};
///
/// let config = PgAccountsConfig::builder("users").role("role").build()?;
/// let flow = SessionFlow::new(parts, PgAccounts::new(pool, config));
/// # drop(flow); Ok(()) }
/// ```
#[derive(Clone)]
pub struct PgAccounts {
    pool: Pool,
    config: Arc<PgAccountsConfig>,
}

impl PgAccounts {
    /// The accounts `config` names, over `pool`.
    #[must_use]
    pub fn new(pool: Pool, config: PgAccountsConfig) -> Self {
        Self {
            pool,
            config: Arc::new(config),
        }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &PgAccountsConfig {
        &self.config
    }

    async fn find(&self, sql: &str, key: &str) -> Result<Option<Account>> {
        let params: [&(dyn ToSql + Sync); 1] = [&key];
        let row = self.pool.query_opt(sql, &params).await.map_err(db_error)?;
        row.as_ref().map(account).transpose()
    }
}

impl fmt::Debug for PgAccounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgAccounts")
            .field("table", &self.config.table)
            .finish_non_exhaustive()
    }
}

/// A database error: logged here (never shown to clients), wrapped as [`Error::Store`].
fn db_error(e: keel_db_pool::Error) -> Error {
    tracing::warn!(store = "accounts", error = %e, "keel-auth PostgreSQL store failed");
    Error::store(e)
}

/// The row as an [`Account`]: subject, login, hash, role, then the context words.
fn account(row: &Row) -> Result<Account> {
    let text = |i: usize| -> Result<String> { row.try_get(i).map_err(Error::store) };
    let role: Option<String> = row.try_get(3).map_err(Error::store)?;
    let context = (4..row.len()).map(text).collect::<Result<Vec<_>>>()?;
    Ok(Account::new(text(0)?, text(1)?, text(2)?)
        .roles(role)
        .context(context))
}

impl AccountStore for PgAccounts {
    fn find_by_login<'a>(&'a self, login: &'a LoginEmail) -> StoreFuture<'a, Option<Account>> {
        Box::pin(self.find(&self.config.by_login, login.as_str()))
    }

    fn find_by_subject<'a>(&'a self, subject: &'a str) -> StoreFuture<'a, Option<Account>> {
        Box::pin(async move {
            if !self.config.subject_type.accepts(subject) {
                return Ok(None);
            }
            self.find(&self.config.by_subject, subject).await
        })
    }

    fn set_password_hash<'a>(&'a self, subject: &'a str, hash: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            if !self.config.subject_type.accepts(subject) {
                return Ok(false);
            }
            let params: [&(dyn ToSql + Sync); 2] = [&subject, &hash];
            let sql = &self.config.set_hash;
            let updated = self.pool.execute(sql, &params).await.map_err(db_error)?;
            Ok(updated == 1)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(ty: SubjectType, subject: &str, accepted: bool) {
        assert_eq!(ty.accepts(subject), accepted, "{ty:?} {subject:?}");
    }

    #[test]
    fn subjects_are_checked_before_any_query() {
        let uuid = "0191e5b2-6c1a-7d3e-9f00-1234567890ab";
        check(SubjectType::Uuid, uuid, true);
        check(SubjectType::Uuid, &uuid.to_uppercase(), true);
        check(SubjectType::Uuid, &uuid[1..], false);
        check(
            SubjectType::Uuid,
            "0191e5b2x6c1a-7d3e-9f00-1234567890ab",
            false,
        );
        check(
            SubjectType::Uuid,
            "0191e5b2-6c1a-7d3e-9f00-1234567890ag",
            false,
        );
        check(SubjectType::Uuid, "'; DROP TABLE users; --", false);
        check(SubjectType::BigInt, "7", true);
        check(SubjectType::BigInt, "9223372036854775807", true);
        check(SubjectType::BigInt, "9223372036854775808", false);
        check(SubjectType::BigInt, "007", false);
        check(SubjectType::BigInt, "-1", false);
        check(SubjectType::BigInt, "+1", false);
        check(SubjectType::BigInt, "", false);
        check(SubjectType::Text, "user-1", true);
        check(SubjectType::Text, "", false);
        check(SubjectType::Text, &"x".repeat(MAX_SUBJECT_LEN + 1), false);
    }

    #[test]
    fn names_are_checked_and_quoted() {
        let ok = PgAccountsConfig::builder("user")
            .schema("app")
            .subject("order", SubjectType::BigInt)
            .build()
            .unwrap();
        assert_eq!(ok.table(), r#""app"."user""#);
        assert!(
            ok.by_subject
                .contains(r#""order" = CAST($1::text AS bigint)"#)
        );
        for bad in [
            "",
            "Users",
            "1users",
            "users\"",
            "a b",
            "users;--",
            &"x".repeat(64),
        ] {
            let table = PgAccountsConfig::builder(bad).build();
            assert!(matches!(table, Err(Error::Config(_))), "{bad:?}");
            let column = PgAccountsConfig::builder("users").role(bad).build();
            assert!(matches!(column, Err(Error::Config(_))), "{bad:?}");
        }
        let many = PgAccountsConfig::builder("users")
            .context(vec!["c"; 9])
            .build();
        assert!(matches!(many, Err(Error::Config(_))));
    }
}
