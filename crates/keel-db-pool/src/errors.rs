//! `From<Error> for keel_errors::ApiError` (feature `errors`).

use std::time::Duration;

use keel_errors::ApiError;

use crate::Error;

/// How long clients should wait before retrying when the database is unavailable.
const RETRY_AFTER: Duration = Duration::from_secs(1);

#[cfg_attr(docsrs, doc(cfg(feature = "errors")))]
impl From<Error> for ApiError {
    /// Maps database errors to API errors without leaking SQL, constraint names or
    /// server messages (the original error is kept as the private, logged source):
    ///
    /// | [`Error`] | `ApiError` |
    /// |---|---|
    /// | unique, foreign-key, check violation | 409 `CONFLICT` |
    /// | serialization failure, deadlock, stale plan, connection lost, cannot connect, TLS failure, pool timeout, pool closed | 503 `SERVICE_UNAVAILABLE` with `Retry-After: 1` |
    /// | statement timeout | 504 `TIMEOUT` |
    /// | not-null violation, config, parameter count, any other | 500 `INTERNAL_ERROR` |
    ///
    /// ```
    /// let err = keel_db_pool::Error::PoolTimeout { waited: std::time::Duration::from_secs(5) };
    /// let api = keel_errors::ApiError::from(err);
    /// assert_eq!(api.status().as_u16(), 503);
    /// assert_eq!(api.retry_after(), Some(std::time::Duration::from_secs(1)));
    /// ```
    fn from(e: Error) -> Self {
        match e {
            Error::UniqueViolation { .. } => {
                ApiError::conflict("The resource already exists").with_source(e)
            }
            Error::ForeignKeyViolation { .. } => {
                ApiError::conflict("The change conflicts with related resources").with_source(e)
            }
            Error::CheckViolation { .. } => {
                ApiError::conflict("The change conflicts with the current state").with_source(e)
            }
            Error::SerializationFailure { .. }
            | Error::Deadlock { .. }
            | Error::StalePlan { .. }
            | Error::ConnectionLost { .. }
            | Error::Connect { .. }
            | Error::Tls { .. }
            | Error::PoolTimeout { .. }
            | Error::PoolClosed => {
                ApiError::service_unavailable("The database is temporarily unavailable")
                    .with_retry_after(RETRY_AFTER)
                    .with_source(e)
            }
            Error::StatementTimeout { .. } => ApiError::timeout().with_source(e),
            Error::NotNullViolation { .. }
            | Error::Config(_)
            | Error::Migration(_)
            | Error::Parameters { .. }
            | Error::Database { .. } => ApiError::internal(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(e: Error, status: u16) {
        let text = e.to_string();
        let api = ApiError::from(e);
        assert_eq!(api.status().as_u16(), status, "{text}");
        let body = format!("{:?}", api.to_envelope());
        assert!(!body.contains("secret_table"), "{body}");
    }

    #[test]
    fn mapping() {
        check(
            Error::PoolTimeout {
                waited: Duration::from_secs(5),
            },
            503,
        );
        check(Error::PoolClosed, 503);
        check(
            Error::connect(std::io::Error::other("refused secret_table")),
            503,
        );
        check(Error::Config("secret_table".into()), 500);
        let api = ApiError::from(Error::PoolClosed);
        assert_eq!(api.retry_after(), Some(RETRY_AFTER));
        assert!(api.private_source().is_some());
    }
}
