//! [`Response`]: what a client reads back, success or error.

use serde::de::{Deserialize, Deserializer};

use crate::{Envelope, ErrorEnvelope};

/// Either envelope, told apart by the `success` member; for Rust clients of Keel APIs.
///
/// ```
/// use keel_envelope::Response;
///
/// let ok: Response<u32> = serde_json::from_str(r#"{"success":true,"data":5}"#).unwrap();
/// assert_eq!(ok.into_result().unwrap().data, 5);
///
/// let err: Response<u32> = serde_json::from_str(
///     r#"{"success":false,"error":{"code":"NOT_FOUND","message":"gone"}}"#,
/// ).unwrap();
/// assert_eq!(err.into_result().unwrap_err().error.code, "NOT_FOUND");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Response<T> {
    /// `success: true`.
    Success(Envelope<T>),
    /// `success: false`.
    Error(ErrorEnvelope),
}

impl<T> Response<T> {
    /// `Ok` for a success envelope, `Err` for an error envelope.
    ///
    /// # Errors
    /// The [`ErrorEnvelope`] when the server answered with an error.
    // The error is as large as the success: boxing it would only cost an allocation.
    #[allow(clippy::result_large_err)]
    pub fn into_result(self) -> Result<Envelope<T>, ErrorEnvelope> {
        match self {
            Self::Success(e) => Ok(e),
            Self::Error(e) => Err(e),
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum ResponseRepr<T> {
    Success(Envelope<T>),
    Error(ErrorEnvelope),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Response<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match ResponseRepr::<T>::deserialize(deserializer)? {
            ResponseRepr::Success(e) => Self::Success(e),
            ResponseRepr::Error(e) => Self::Error(e),
        })
    }
}
