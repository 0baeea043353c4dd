//! `From<keel_auth::Error> for keel_errors::ApiError` (feature `errors`).

use keel_errors::ApiError;

use crate::Error;
use crate::token::DEFAULT_REALM;

/// `Retry-After` of a store outage: the same second keel-db-pool's conversion answers.
const STORE_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

impl From<Error> for ApiError {
    /// | error | answer |
    /// |---|---|
    /// | `InvalidToken` | 401 `UNAUTHENTICATED`, `WWW-Authenticate: Bearer realm="api", error="invalid_token"` |
    /// | `InsufficientScope` | 403 `FORBIDDEN`, `WWW-Authenticate: Bearer realm="api", error="insufficient_scope"` |
    /// | `InvalidCredentials` | 401 `UNAUTHENTICATED` "Invalid credentials" |
    /// | `RateLimited` | 429 `RATE_LIMITED` with `Retry-After` |
    /// | `Overloaded` | 503 `SERVICE_UNAVAILABLE` with `Retry-After` |
    /// | `InvalidInput` | 400 `BAD_REQUEST` with the (static, input-free) message |
    /// | `Store` | 503 `SERVICE_UNAVAILABLE` with `Retry-After: 1` (as keel-db-pool's database errors); the cause is logged, never rendered |
    /// | `Config`, `Crypto` | 500 `INTERNAL_ERROR`; the cause is logged, never rendered |
    ///
    /// The realm is [`DEFAULT_REALM`]; the axum extractors use the `Authenticator`'s.
    ///
    /// ```
    /// use keel_errors::ApiError;
    /// let e = ApiError::from(keel_auth::Error::InvalidToken);
    /// assert_eq!(e.status(), http::StatusCode::UNAUTHORIZED);
    /// assert_eq!(e.www_authenticate(), Some(r#"Bearer realm="api", error="invalid_token""#));
    /// ```
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidToken => Self::unauthenticated("The access token is invalid or expired")
                .with_www_authenticate(format!(
                    "Bearer realm=\"{DEFAULT_REALM}\", error=\"invalid_token\""
                )),
            Error::InsufficientScope => Self::forbidden("You do not have permission to do this")
                .with_www_authenticate(format!(
                    "Bearer realm=\"{DEFAULT_REALM}\", error=\"insufficient_scope\""
                )),
            Error::InvalidCredentials => Self::unauthenticated("Invalid credentials"),
            Error::RateLimited { retry_after } => Self::rate_limited(retry_after),
            Error::Overloaded { retry_after } => {
                Self::service_unavailable("The service is busy; retry later")
                    .with_retry_after(retry_after)
            }
            Error::InvalidInput(message) => Self::bad_request(message),
            Error::Store(_) => {
                Self::service_unavailable("Authentication is temporarily unavailable")
                    .with_retry_after(STORE_RETRY_AFTER)
                    .with_source(e)
            }
            Error::Config(_) | Error::Crypto(_) => Self::internal(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn check(e: Error, status: u16, leak: Option<&str>) {
        let api = ApiError::from(e);
        assert_eq!(api.status().as_u16(), status);
        let body = serde_json::to_string(&api.to_envelope()).unwrap();
        if let Some(secret) = leak {
            assert!(!body.contains(secret), "{body}");
        }
    }

    #[test]
    fn statuses_and_no_leaks() {
        check(Error::InvalidToken, 401, None);
        check(Error::InsufficientScope, 403, None);
        check(Error::InvalidCredentials, 401, None);
        check(
            Error::RateLimited {
                retry_after: Duration::from_secs(3),
            },
            429,
            None,
        );
        check(
            Error::Overloaded {
                retry_after: Duration::from_secs(1),
            },
            503,
            None,
        );
        check(
            Error::InvalidInput("subject must be 1-256 bytes"),
            400,
            None,
        );
        check(
            Error::store(std::io::Error::other("SELECT secret_column")),
            503,
            Some("SELECT"),
        );
        check(
            Error::Config("key k1 secret hunter2".into()),
            500,
            Some("hunter2"),
        );
        let api = ApiError::from(Error::Overloaded {
            retry_after: Duration::from_secs(2),
        });
        assert_eq!(api.retry_after(), Some(Duration::from_secs(2)));
        let api = ApiError::from(Error::store(std::io::Error::other("down")));
        assert_eq!(api.retry_after(), Some(Duration::from_secs(1)));
    }
}
