//! The SQL schema of keel-auth's PostgreSQL stores, and a function applying it.
//!
//! Each [`Migration`] is plain SQL with unqualified table names, so it can be applied to any
//! schema: by [`apply`] (feature `postgres`), or copied into your own migration tool
//! (refinery, sqlx, Flyway…) after a `SET search_path`. The stores
//! ([`PgRefreshStore`](crate::PgRefreshStore), …) are then built with the same schema name.
//!
//! | version | file | tables |
//! |---|---|---|
//! | 1 | `0001_refresh_tokens.sql` | `refresh_families`, `refresh_tokens` |
//! | 2 | `0002_token_versions.sql` | `token_versions`, `revoked_sessions` |
//! | 3 | `0003_mfa.sql` | `mfa_totp`, `mfa_recovery_codes`, `mfa_challenges` |
//! | 4 | `0004_api_keys.sql` | `api_keys` |
//!
//! ```
//! for m in keel_auth::migrations::MIGRATIONS {
//!     assert!(!m.sql().is_empty(), "{} {}", m.version(), m.name());
//! }
//! ```
//!
//! With feature `postgres`:
//!
//! ```no_run
//! # #[cfg(feature = "postgres")]
//! # async fn f(pool: keel_db_pool::Pool) -> keel_auth::Result<()> {
//! let applied = keel_auth::migrations::apply(&pool, keel_auth::migrations::DEFAULT_SCHEMA).await?;
//! println!("applied keel-auth migrations {applied:?}");
//! # Ok(()) }
//! ```

use crate::error::{Error, Result};

/// The schema the stores use unless told otherwise: `keel_auth`.
pub const DEFAULT_SCHEMA: &str = "keel_auth";

/// The table [`apply`] records applied versions in (inside the target schema).
pub const HISTORY_TABLE: &str = "keel_auth_migrations";

/// One versioned SQL migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    version: u32,
    name: &'static str,
    sql: &'static str,
}

impl Migration {
    /// The version (the file's number).
    #[must_use]
    pub const fn version(&self) -> u32 {
        self.version
    }

    /// The file name without extension, e.g. `0001_refresh_tokens`.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The SQL text, unqualified names.
    #[must_use]
    pub const fn sql(&self) -> &'static str {
        self.sql
    }
}

/// The refresh-token tables (`0001_refresh_tokens.sql`).
pub const REFRESH_TOKENS: &str = include_str!("../migrations/0001_refresh_tokens.sql");

/// The access-token version and revoked-session tables (`0002_token_versions.sql`).
pub const TOKEN_VERSIONS: &str = include_str!("../migrations/0002_token_versions.sql");

/// The TOTP second-factor tables (`0003_mfa.sql`).
pub const MFA: &str = include_str!("../migrations/0003_mfa.sql");

/// The API-key table (`0004_api_keys.sql`).
pub const API_KEYS: &str = include_str!("../migrations/0004_api_keys.sql");

/// Every migration, in version order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_refresh_tokens",
        sql: REFRESH_TOKENS,
    },
    Migration {
        version: 2,
        name: "0002_token_versions",
        sql: TOKEN_VERSIONS,
    },
    Migration {
        version: 3,
        name: "0003_mfa",
        sql: MFA,
    },
    Migration {
        version: 4,
        name: "0004_api_keys",
        sql: API_KEYS,
    },
];

/// Checks a schema name: 1–63 characters of `[a-z0-9_]`, not starting with a digit (so it
/// never needs quoting rules beyond double quotes, and never comes from user input
/// unchecked).
///
/// # Errors
/// [`Error::Config`] for anything else.
///
/// ```
/// assert!(keel_auth::migrations::check_schema("keel_auth").is_ok());
/// assert!(keel_auth::migrations::check_schema("Robert'); DROP TABLE students;--").is_err());
/// ```
pub fn check_schema(schema: &str) -> Result<()> {
    let ok = !schema.is_empty()
        && schema.len() <= 63
        && !schema.as_bytes()[0].is_ascii_digit()
        && schema
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::Config(
            "schema must be 1-63 characters of [a-z0-9_], not starting with a digit".into(),
        ))
    }
}

/// Applies every migration not yet applied to `schema` (created if missing), in one
/// transaction, under an advisory lock so concurrent starts of several replicas are safe
/// (keel-db-pool's [`Migrator`](keel_db_pool::Migrator)). Returns the versions applied
/// now (empty when up to date). Versions are tracked in `<schema>.keel_auth_migrations`.
///
/// # Errors
/// [`Error::Config`] for an invalid schema name; [`Error::Store`] when PostgreSQL fails,
/// another replica holds the lock for more than 60 s, or an applied migration differs
/// from this version's (nothing is applied then).
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub async fn apply(pool: &keel_db_pool::Pool, schema: &str) -> Result<Vec<u32>> {
    // Any constant works: it only serializes keel-auth migrations against each other.
    const LOCK_KEY: i64 = 0x6b65_656c_6175_7468; // "keelauth"
    check_schema(schema)?;
    let migrations: Vec<keel_db_pool::Migration> = MIGRATIONS
        .iter()
        .map(|m| keel_db_pool::Migration::new(m.version, m.name, m.sql))
        .collect();
    let applied = keel_db_pool::Migrator::new(&migrations)
        .schema(schema)
        .table(HISTORY_TABLE)
        .lock_key(LOCK_KEY)
        .apply(pool)
        .await
        .map_err(Error::store)?;
    if !applied.is_empty() {
        tracing::info!(schema, ?applied, "keel-auth migrations applied");
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_increasing_and_names_match() {
        let mut last = 0;
        for m in MIGRATIONS {
            assert!(m.version() > last);
            last = m.version();
            assert!(m.name().starts_with(&format!("{:04}_", m.version())));
        }
    }

    #[test]
    fn schema_names() {
        for good in ["keel_auth", "a", "t_1", "_x"] {
            assert!(check_schema(good).is_ok(), "{good}");
        }
        for bad in ["", "1a", "A", "a-b", "a\"b", "a b", &"a".repeat(64)] {
            assert!(check_schema(bad).is_err(), "{bad}");
        }
    }
}
