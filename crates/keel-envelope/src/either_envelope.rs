//! [`EitherEnvelope`]: what a client reads back, a success or an error envelope.

use serde::de::{Deserialize, Deserializer};

use crate::{Envelope, ErrorEnvelope};

/// A Keel response body as a Rust client decodes it: a success [`Envelope`] or an
/// [`ErrorEnvelope`], told apart by the `success` member.
///
/// ```
/// use keel_envelope::EitherEnvelope;
///
/// let ok: EitherEnvelope<u32> = serde_json::from_str(r#"{"success":true,"data":5}"#).unwrap();
/// assert_eq!(ok.into_result().unwrap().data, 5);
///
/// let err: EitherEnvelope<u32> = serde_json::from_str(
///     r#"{"success":false,"error":{"code":"NOT_FOUND","message":"gone"}}"#,
/// ).unwrap();
/// assert_eq!(err.into_result().unwrap_err().error.code, "NOT_FOUND");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum EitherEnvelope<T> {
    /// `success: true`.
    Success(Envelope<T>),
    /// `success: false`.
    Error(ErrorEnvelope),
}

impl<T> EitherEnvelope<T> {
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
enum Repr<T> {
    Success(Envelope<T>),
    Error(ErrorEnvelope),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for EitherEnvelope<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Repr::<T>::deserialize(deserializer)? {
            Repr::Success(e) => Self::Success(e),
            Repr::Error(e) => Self::Error(e),
        })
    }
}
