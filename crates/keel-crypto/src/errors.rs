//! The `errors` feature: [`Error`] and [`DecryptError`] as a [`keel_errors::ApiError`].

use crate::{DecryptError, Error};

#[cfg_attr(docsrs, doc(cfg(feature = "errors")))]
impl From<DecryptError> for keel_errors::ApiError {
    fn from(err: DecryptError) -> Self {
        Self::bad_request("invalid token").with_source(err)
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "errors")))]
impl From<Error> for keel_errors::ApiError {
    /// Client errors become 400/401 with a generic message; everything else becomes a 500
    /// whose cause is logged, never rendered.
    fn from(err: Error) -> Self {
        match err {
            Error::Decrypt(_) | Error::InvalidSignature => {
                Self::bad_request("invalid token").with_source(err)
            }
            Error::Expired => Self::bad_request("token expired").with_source(err),
            Error::InvalidCode | Error::ReplayedCode => {
                Self::unauthenticated("invalid one-time code").with_source(err)
            }
            other => Self::internal(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_error_never_leaks_internals() {
        let api: keel_errors::ApiError =
            Error::InvalidKey("key 7: expected 32 bytes".into()).into();
        assert_eq!(api.status(), 500);
        assert!(!api.public_message().contains("key 7"));
        let api: keel_errors::ApiError = Error::Decrypt(DecryptError::new()).into();
        assert_eq!(api.status(), 400);
        assert_eq!(api.public_message(), "invalid token");
        let api: keel_errors::ApiError = Error::ReplayedCode.into();
        assert_eq!(api.status(), 401);
        assert_eq!(api.public_message(), "invalid one-time code");
    }
}
