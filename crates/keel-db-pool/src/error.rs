//! [`Error`]: every failure of the pool, classified by SQLSTATE.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use tokio_postgres::error::{DbError, SqlState};

type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Everything that can go wrong getting a connection or running a statement.
///
/// Database errors are classified by SQLSTATE so callers can react without string
/// matching: [`is_unique_violation`](Error::is_unique_violation) plus
/// [`constraint`](Error::constraint) for "email already taken",
/// [`is_retryable`](Error::is_retryable) for serialization failures and deadlocks,
/// [`is_unavailable`](Error::is_unavailable) for "the database is not reachable now".
///
/// The `Display` text is meant for logs (it includes the server's message); with the
/// `errors` feature, `From<Error> for keel_errors::ApiError` produces a public error
/// that never contains SQL, constraint names or server messages.
///
/// ```
/// use keel_db_pool::Error;
///
/// let err = Error::PoolTimeout { waited: std::time::Duration::from_secs(5) };
/// assert!(err.is_unavailable() && err.is_timeout());
/// assert!(!err.is_retryable());
/// ```
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `23505 unique_violation`: a row with the same key exists.
    #[error("unique violation{}: {}", fmt_name(constraint.as_deref()), db_message(source))]
    UniqueViolation {
        /// The violated constraint (or unique index), when the server names it.
        constraint: Option<String>,
        /// The driver error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// `23503 foreign_key_violation`: a referenced row is missing (or still referenced).
    #[error("foreign key violation{}: {}", fmt_name(constraint.as_deref()), db_message(source))]
    ForeignKeyViolation {
        /// The violated constraint, when the server names it.
        constraint: Option<String>,
        /// The driver error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// `23514 check_violation` (or `23P01 exclusion_violation`).
    #[error("check violation{}: {}", fmt_name(constraint.as_deref()), db_message(source))]
    CheckViolation {
        /// The violated constraint, when the server names it.
        constraint: Option<String>,
        /// The driver error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// `23502 not_null_violation`.
    #[error("not-null violation{}: {}", fmt_name(column.as_deref()), db_message(source))]
    NotNullViolation {
        /// The column, when the server names it.
        column: Option<String>,
        /// The driver error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// `40001 serialization_failure`: the transaction may succeed if retried.
    #[error("serialization failure: {}", db_message(source))]
    SerializationFailure {
        /// The driver error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// `40P01 deadlock_detected`: the transaction may succeed if retried.
    #[error("deadlock detected: {}", db_message(source))]
    Deadlock {
        /// The driver error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// `57014 query_canceled`: `statement_timeout` fired (or the query was cancelled).
    /// The connection stays usable.
    #[error("statement timed out or was cancelled: {}", db_message(source))]
    StatementTimeout {
        /// The driver error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// `0A000 cached plan must not change result type`: a cached prepared statement went
    /// stale after a schema change. The pool's statement caches were cleared; running
    /// the statement again (or retrying the transaction) succeeds.
    #[error("cached plan went stale after a schema change: {}", db_message(source))]
    StalePlan {
        /// The driver error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The connection broke while in use: closed socket, I/O error, or the server ended
    /// the session (`57P01 admin_shutdown`, `57P02 crash_shutdown`, `57P03
    /// cannot_connect_now`, `25P03` idle-in-transaction timeout, class `08`). Idle
    /// connections that predate it were dropped from the pool.
    #[error("database connection lost: {source}")]
    ConnectionLost {
        /// The driver error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// A new connection could not be opened or set up (refused, DNS, authentication,
    /// connect timeout, session setup or `on_connect` failure).
    #[error("could not connect to the database: {source}")]
    Connect {
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// TLS to the server failed: its certificate was rejected (issuer not among the
    /// configured roots, not valid for the host name, expired) or it does not accept
    /// TLS while the [`SslMode`](crate::SslMode) requires it. Not a transient
    /// failure: [`Pool::connect`](crate::Pool::connect) does not retry it.
    #[error("TLS to the database failed ({failure}): {source}")]
    Tls {
        /// What went wrong.
        failure: TlsFailure,
        /// The driver's error.
        #[source]
        source: BoxError,
    },
    /// A statement got a different number of parameters than it has placeholders.
    #[error("the statement takes {expected} parameters but {got} were given")]
    Parameters {
        /// Placeholders in the statement.
        expected: usize,
        /// Parameters passed.
        got: usize,
    },
    /// No connection became available within the pool's wait timeout.
    #[error("timed out after {waited:?} waiting for a database connection")]
    PoolTimeout {
        /// How long the caller waited.
        waited: Duration,
    },
    /// The pool was closed with [`Pool::close`](crate::Pool::close).
    #[error("the database pool is closed")]
    PoolClosed,
    /// Invalid configuration.
    #[error("invalid database pool configuration: {0}")]
    Config(String),
    /// A [`Migrator`](crate::Migrator) refused to run: a migration already applied was
    /// changed or renamed since (the database and the code disagree), the migrations are
    /// not in increasing version order, or the advisory lock was not granted in time.
    #[error("migrations: {0}")]
    Migration(String),
    /// Any other database error (syntax error, permission denied, …) or driver error
    /// (type conversion, unexpected row count, …).
    #[error("database error: {}", db_message(source))]
    Database {
        /// The driver error.
        #[source]
        source: tokio_postgres::Error,
    },
}

/// Why TLS to the server failed; see [`Error::Tls`].
///
/// ```
/// use keel_db_pool::TlsFailure;
///
/// assert_eq!(
///     TlsFailure::HostnameMismatch.to_string(),
///     "the server certificate is not valid for the host name"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsFailure {
    /// The certificate does not chain to a configured root certificate (wrong CA,
    /// self-signed, bad signature).
    UnknownIssuer,
    /// The certificate does not name the host (DNS name or IP address) connected to
    /// (`verify-full`).
    HostnameMismatch,
    /// The certificate has expired.
    Expired,
    /// The certificate is not valid yet.
    NotYetValid,
    /// Another certificate problem (encoding, revocation, unsupported extension, …).
    BadCertificate,
    /// The server does not accept TLS (`ssl = off`) and the mode requires it.
    NotSupportedByServer,
    /// The handshake failed otherwise (protocol version, cipher suites, …).
    Handshake,
}

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::UnknownIssuer => {
                "the server certificate is not signed by a trusted root certificate"
            }
            Self::HostnameMismatch => "the server certificate is not valid for the host name",
            Self::Expired => "the server certificate has expired",
            Self::NotYetValid => "the server certificate is not valid yet",
            Self::BadCertificate => "the server certificate is invalid",
            Self::NotSupportedByServer => "the server does not accept TLS connections",
            Self::Handshake => "the TLS handshake failed",
        })
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The Display text carries everything useful; avoid dumping the driver's
        // internal structures (which may include parameter positions of the SQL).
        f.debug_tuple("Error").field(&self.to_string()).finish()
    }
}

fn fmt_name(name: Option<&str>) -> String {
    name.map(|n| format!(" on \"{n}\"")).unwrap_or_default()
}

fn db_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

/// What an error says about the connection it happened on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Unique,
    ForeignKey,
    Check,
    NotNull,
    Serialization,
    Deadlock,
    Canceled,
    StalePlan,
    Lost,
    Other,
}

/// Classifies a SQLSTATE (and message, for the stale-plan case).
pub(crate) fn classify_code(code: &SqlState, message: &str) -> Class {
    let c = code.code();
    if *code == SqlState::UNIQUE_VIOLATION {
        Class::Unique
    } else if *code == SqlState::FOREIGN_KEY_VIOLATION {
        Class::ForeignKey
    } else if *code == SqlState::CHECK_VIOLATION || *code == SqlState::EXCLUSION_VIOLATION {
        Class::Check
    } else if *code == SqlState::NOT_NULL_VIOLATION {
        Class::NotNull
    } else if *code == SqlState::T_R_SERIALIZATION_FAILURE {
        Class::Serialization
    } else if *code == SqlState::T_R_DEADLOCK_DETECTED {
        Class::Deadlock
    } else if *code == SqlState::QUERY_CANCELED {
        Class::Canceled
    } else if *code == SqlState::FEATURE_NOT_SUPPORTED
        && message.contains("cached plan must not change result type")
    {
        Class::StalePlan
    } else if *code == SqlState::ADMIN_SHUTDOWN
        || *code == SqlState::CRASH_SHUTDOWN
        || *code == SqlState::CANNOT_CONNECT_NOW
        || *code == SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT
        || *code == SqlState::IDLE_SESSION_TIMEOUT
        || c.starts_with("08")
    {
        Class::Lost
    } else {
        Class::Other
    }
}

/// Classifies a driver error from a statement on an established connection.
pub(crate) fn classify(e: &tokio_postgres::Error) -> Class {
    if e.is_closed() {
        return Class::Lost;
    }
    if let Some(db) = e.as_db_error() {
        return classify_code(db.code(), db.message());
    }
    // A bare I/O error (reset, broken pipe, EOF) means the socket is gone.
    if e.source().is_some_and(|s| s.is::<std::io::Error>()) {
        return Class::Lost;
    }
    Class::Other
}

impl Error {
    /// Builds the typed error for a failed statement.
    pub(crate) fn from_driver(source: tokio_postgres::Error, class: Class) -> Self {
        let db = source.as_db_error();
        let constraint = db.and_then(DbError::constraint).map(str::to_owned);
        match class {
            Class::Unique => Self::UniqueViolation { constraint, source },
            Class::ForeignKey => Self::ForeignKeyViolation { constraint, source },
            Class::Check => Self::CheckViolation { constraint, source },
            Class::NotNull => Self::NotNullViolation {
                column: db.and_then(DbError::column).map(str::to_owned),
                source,
            },
            Class::Serialization => Self::SerializationFailure { source },
            Class::Deadlock => Self::Deadlock { source },
            Class::Canceled => Self::StatementTimeout { source },
            Class::StalePlan => Self::StalePlan { source },
            Class::Lost => Self::ConnectionLost { source },
            Class::Other => Self::Database { source },
        }
    }

    /// Wraps a failure to open or set up a connection.
    pub(crate) fn connect(source: impl Into<BoxError>) -> Self {
        Self::Connect {
            source: source.into(),
        }
    }

    /// Wraps a failure to open a connection, telling TLS failures apart.
    pub(crate) fn opening(source: tokio_postgres::Error) -> Self {
        match tls_failure(&source) {
            Some(failure) => Self::Tls {
                failure,
                source: Box::new(source),
            },
            None => Self::connect(source),
        }
    }

    /// Why TLS failed, for [`Error::Tls`].
    pub fn tls_failure(&self) -> Option<TlsFailure> {
        match self {
            Self::Tls { failure, .. } => Some(*failure),
            _ => None,
        }
    }

    /// `23505`: a unique constraint or unique index rejected the row.
    ///
    /// ```
    /// # fn f(err: keel_db_pool::Error) {
    /// if err.is_unique_violation() && err.constraint() == Some("users_email_key") {
    ///     // "email already registered"
    /// }
    /// # }
    /// ```
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, Self::UniqueViolation { .. })
    }

    /// `23503`: a foreign key rejected the change.
    pub fn is_foreign_key_violation(&self) -> bool {
        matches!(self, Self::ForeignKeyViolation { .. })
    }

    /// `23514`/`23P01`: a check or exclusion constraint rejected the row.
    pub fn is_check_violation(&self) -> bool {
        matches!(self, Self::CheckViolation { .. })
    }

    /// `23502`: a `NOT NULL` column got a null.
    pub fn is_not_null_violation(&self) -> bool {
        matches!(self, Self::NotNullViolation { .. })
    }

    /// Any integrity-constraint violation (unique, foreign key, check, not null).
    pub fn is_constraint_violation(&self) -> bool {
        self.is_unique_violation()
            || self.is_foreign_key_violation()
            || self.is_check_violation()
            || self.is_not_null_violation()
    }

    /// The constraint named by a unique, foreign-key or check violation.
    ///
    /// ```
    /// let err = keel_db_pool::Error::PoolClosed;
    /// assert_eq!(err.constraint(), None);
    /// ```
    pub fn constraint(&self) -> Option<&str> {
        match self {
            Self::UniqueViolation { constraint, .. }
            | Self::ForeignKeyViolation { constraint, .. }
            | Self::CheckViolation { constraint, .. } => constraint.as_deref(),
            _ => None,
        }
    }

    /// Whether re-running the whole **transaction** may succeed: serialization failures
    /// (`40001`), deadlocks (`40P01`) and stale cached plans. This is what
    /// [`RetryPolicy`](crate::RetryPolicy) retries.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::SerializationFailure { .. } | Self::Deadlock { .. } | Self::StalePlan { .. }
        )
    }

    /// Whether the database is unreachable or saturated right now (connection lost,
    /// cannot connect, pool timeout, pool closed): answer `503` and let clients retry.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Self::ConnectionLost { .. }
                | Self::Connect { .. }
                | Self::Tls { .. }
                | Self::PoolTimeout { .. }
                | Self::PoolClosed
        )
    }

    /// Whether the connection to the server failed (lost while in use, or could not be
    /// opened, TLS included).
    pub fn is_connection_error(&self) -> bool {
        matches!(
            self,
            Self::ConnectionLost { .. } | Self::Connect { .. } | Self::Tls { .. }
        )
    }

    /// Whether a timeout fired: `statement_timeout` on the server or the pool's wait
    /// timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            Self::StatementTimeout { .. } | Self::PoolTimeout { .. }
        )
    }

    /// The driver error, for statement-level errors.
    pub fn driver_error(&self) -> Option<&tokio_postgres::Error> {
        match self {
            Self::UniqueViolation { source, .. }
            | Self::ForeignKeyViolation { source, .. }
            | Self::CheckViolation { source, .. }
            | Self::NotNullViolation { source, .. }
            | Self::SerializationFailure { source }
            | Self::Deadlock { source }
            | Self::StatementTimeout { source }
            | Self::StalePlan { source }
            | Self::ConnectionLost { source }
            | Self::Database { source } => Some(source),
            Self::Connect { source } | Self::Tls { source, .. } => {
                source.downcast_ref::<tokio_postgres::Error>()
            }
            Self::PoolTimeout { .. }
            | Self::PoolClosed
            | Self::Config(_)
            | Self::Migration(_)
            | Self::Parameters { .. } => None,
        }
    }

    /// The server's error (message, detail, table, column, constraint), if any.
    pub fn db_error(&self) -> Option<&DbError> {
        self.driver_error()
            .and_then(tokio_postgres::Error::as_db_error)
    }

    /// The SQLSTATE, if the server sent one.
    ///
    /// ```
    /// # fn f(err: keel_db_pool::Error) {
    /// use keel_db_pool::SqlState;
    /// if err.sqlstate() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) { /* ... */ }
    /// # }
    /// ```
    pub fn sqlstate(&self) -> Option<&SqlState> {
        self.db_error().map(DbError::code)
    }
}

/// Classifies a failure to open a connection as a TLS failure, if it is one.
fn tls_failure(e: &tokio_postgres::Error) -> Option<TlsFailure> {
    #[cfg(feature = "rustls")]
    if let Some(f) = crate::tls::classify(e) {
        return Some(f);
    }
    // tokio-postgres' own message when the server answers the SSLRequest with `N`.
    e.source()
        .is_some_and(|s| s.to_string() == "server does not support TLS")
        .then_some(TlsFailure::NotSupportedByServer)
}

impl From<tokio_postgres::Error> for Error {
    /// Classifies a driver error by SQLSTATE, so `?` works on raw
    /// `tokio_postgres` calls made through a pooled connection.
    fn from(e: tokio_postgres::Error) -> Self {
        let class = classify(&e);
        Self::from_driver(e, class)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(code: &str, message: &str, expected: Class) {
        let state = SqlState::from_code(code);
        assert_eq!(classify_code(&state, message), expected, "{code} {message}");
    }

    #[test]
    fn classification_by_sqlstate() {
        check("23505", "duplicate key value", Class::Unique);
        check(
            "23503",
            "insert or update violates foreign key",
            Class::ForeignKey,
        );
        check("23514", "new row violates check constraint", Class::Check);
        check(
            "23P01",
            "conflicting key value violates exclusion",
            Class::Check,
        );
        check("23502", "null value in column", Class::NotNull);
        check("40001", "could not serialize access", Class::Serialization);
        check("40P01", "deadlock detected", Class::Deadlock);
        check(
            "57014",
            "canceling statement due to statement timeout",
            Class::Canceled,
        );
        check(
            "0A000",
            "cached plan must not change result type",
            Class::StalePlan,
        );
        check("0A000", "some other unsupported feature", Class::Other);
        check(
            "57P01",
            "terminating connection due to administrator command",
            Class::Lost,
        );
        check("57P02", "terminating connection due to crash", Class::Lost);
        check("57P03", "the database system is starting up", Class::Lost);
        check("25P03", "idle-in-transaction timeout", Class::Lost);
        check("08006", "connection failure", Class::Lost);
        check("08P01", "protocol violation", Class::Lost);
        check("42601", "syntax error", Class::Other);
        check("42501", "permission denied", Class::Other);
    }

    #[test]
    fn predicates() {
        let timeout = Error::PoolTimeout {
            waited: Duration::from_millis(5),
        };
        assert!(timeout.is_unavailable() && timeout.is_timeout() && !timeout.is_connection_error());
        assert!(Error::PoolClosed.is_unavailable());
        let connect = Error::connect(std::io::Error::other("refused"));
        assert!(connect.is_connection_error() && connect.is_unavailable());
        assert!(connect.driver_error().is_none());
        let config = Error::Config("bad".into());
        assert!(!config.is_unavailable() && !config.is_retryable());
        assert!(config.to_string().contains("bad"));
    }
}
