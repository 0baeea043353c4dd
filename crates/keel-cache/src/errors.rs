//! The `errors` feature: [`Error`] as a [`keel_errors::ApiError`].

use crate::Error;

#[cfg_attr(docsrs, doc(cfg(feature = "errors")))]
impl From<Error> for keel_errors::ApiError {
    /// A loader error that is itself an [`ApiError`](keel_errors::ApiError) keeps everything
    /// it renders (kind, public message, field errors, details, `Retry-After`,
    /// `WWW-Authenticate`, extra headers such as `RateLimit`); a loader timeout
    /// becomes 504 `TIMEOUT`; everything else is a 500 whose cause is logged, never rendered.
    fn from(e: Error) -> Self {
        use keel_errors::ApiError;
        match &e {
            Error::Load(load) => {
                if let Some(api) = load.downcast_ref::<ApiError>() {
                    return api.public_copy().with_source(e);
                }
                ApiError::internal(e)
            }
            Error::LoadTimeout(_) => ApiError::timeout().with_source(e),
            _ => ApiError::internal(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use keel_errors::{ApiError, ErrorKind};

    use crate::{Error, LoadError};

    #[test]
    fn api_errors_from_the_loader_keep_their_kind_and_message() {
        let e = Error::Load(LoadError::new(ApiError::not_found("No such user")));
        let api = ApiError::from(e);
        assert_eq!(api.kind(), ErrorKind::NotFound);
        assert_eq!(api.public_message(), "No such user");
    }

    #[test]
    fn retry_after_and_challenge_survive_the_conversion() {
        let outage = ApiError::service_unavailable("Database unavailable")
            .with_retry_after(Duration::from_secs(3))
            .with_www_authenticate("Bearer realm=\"x\"")
            .with_header(
                http::HeaderName::from_static("ratelimit"),
                http::HeaderValue::from_static("\"db\";r=0;t=3"),
            );
        let api = ApiError::from(Error::Load(LoadError::new(outage)));
        assert_eq!(api.kind(), ErrorKind::ServiceUnavailable);
        assert_eq!(api.retry_after(), Some(Duration::from_secs(3)));
        assert_eq!(api.www_authenticate(), Some("Bearer realm=\"x\""));
        assert_eq!(api.headers()["ratelimit"], "\"db\";r=0;t=3");
        assert!(api.private_source().is_some());
    }

    #[test]
    fn other_errors_do_not_leak_internals() {
        let e = Error::Load(LoadError::new(std::io::Error::other("password=hunter2")));
        let api = ApiError::from(e);
        assert_eq!(api.kind(), ErrorKind::Internal);
        assert!(!api.public_message().contains("hunter2"));
        let api = ApiError::from(Error::LoadTimeout(Duration::from_secs(1)));
        assert_eq!(api.kind(), ErrorKind::Timeout);
        let api = ApiError::from(Error::KeyTooLong { len: 2, max: 1 });
        assert_eq!(api.kind(), ErrorKind::Internal);
    }
}
