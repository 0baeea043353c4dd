//! `From<ValidationErrors> for keel_errors::ApiError` (feature `errors`).

use crate::ValidationErrors;

/// A 422 `VALIDATION_ERROR` with every field error, in order.
///
/// ```
/// use keel_validation::{Path, ValidationErrors, Violation};
/// let mut errors = ValidationErrors::new();
/// errors.add(&Path::root().key("email"), Violation::new("invalid_email", "is not a valid email address"));
/// let api: keel_errors::ApiError = errors.into();
/// assert_eq!(api.status(), http::StatusCode::UNPROCESSABLE_ENTITY);
/// assert_eq!(api.fields().len(), 1);
/// ```
impl From<ValidationErrors> for keel_errors::ApiError {
    fn from(errors: ValidationErrors) -> Self {
        keel_errors::ApiError::validation(errors.into_vec())
    }
}
