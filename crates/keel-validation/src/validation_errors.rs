//! [`ValidationErrors`]: every field error of a value, in declaration order.

use std::fmt;

use keel_envelope::{ErrorBody, ErrorEnvelope, FieldError, code};
use serde::{Serialize, Serializer};

use crate::{Path, Violation};

/// Every field error of a value, in the order the fields are declared.
///
/// A thin, ordered wrapper over `Vec<`[`FieldError`]`>` (the keel-envelope wire type),
/// so the same value always yields the same list in the same order, unlike a
/// `HashMap` keyed by field.
///
/// ```
/// use keel_validation::{Path, ValidationErrors, Violation};
///
/// let mut errors = ValidationErrors::new();
/// let root = Path::root();
/// errors.add(&root.key("email"), Violation::new("invalid_email", "is not a valid email address"));
/// assert_eq!(errors.len(), 1);
/// assert!(errors.has_field("email"));
/// assert_eq!(errors.as_slice()[0].pointer, "/email");
/// assert!(errors.into_result().is_err());
/// ```
#[derive(Clone, Default)]
pub struct ValidationErrors {
    errors: Vec<FieldError>,
}

impl fmt::Debug for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ValidationErrors")
            .field(&self.errors)
            .finish()
    }
}

impl PartialEq for ValidationErrors {
    fn eq(&self, other: &Self) -> bool {
        self.errors == other.errors
    }
}

impl ValidationErrors {
    /// No errors.
    pub const fn new() -> Self {
        Self { errors: Vec::new() }
    }

    /// Records `violation` at `path`.
    pub fn add(&mut self, path: &Path<'_>, violation: Violation) {
        if self.errors.capacity() == 0 {
            self.errors.reserve(8);
        }
        let (field, pointer) = path.render();
        self.errors
            .push(violation.into_field_error_at(field, pointer));
    }

    /// Records an already built field error.
    ///
    /// ```
    /// use keel_validation::{FieldError, FieldPath, ValidationErrors};
    /// let mut errors = ValidationErrors::new();
    /// errors.push(FieldError::new(&FieldPath::root().key("sku"), "unknown_sku", "is not in the catalogue"));
    /// assert_eq!(errors.len(), 1);
    /// ```
    pub fn push(&mut self, error: FieldError) {
        self.errors.push(error);
    }

    /// Appends all errors of `other`, keeping their order.
    ///
    /// ```
    /// use keel_validation::{Path, ValidationErrors, Violation};
    /// let (mut a, mut b) = (ValidationErrors::new(), ValidationErrors::new());
    /// a.add(&Path::root().key("x"), Violation::new("c", "m"));
    /// b.add(&Path::root().key("y"), Violation::new("c", "m"));
    /// a.extend(b);
    /// assert_eq!(a.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), ["x", "y"]);
    /// ```
    pub fn extend(&mut self, other: Self) {
        self.errors.extend(other.errors);
    }

    /// Whether there are no errors.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// Number of errors.
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// The errors, in order.
    pub fn as_slice(&self) -> &[FieldError] {
        &self.errors
    }

    /// Iterates over the errors, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, FieldError> {
        self.errors.iter()
    }

    /// Whether any error is at the dotted path `field` (`"email"`, `"items[3].sku"`).
    /// Handy in async checks: skip the database lookup for an already invalid email.
    pub fn has_field(&self, field: &str) -> bool {
        self.errors.iter().any(|e| e.field == field)
    }

    /// The errors as the wire list.
    pub fn into_vec(self) -> Vec<FieldError> {
        self.errors
    }

    /// `Ok(())` when empty, `Err(self)` otherwise.
    ///
    /// # Errors
    /// `self`, when it holds at least one error.
    pub fn into_result(self) -> Result<(), Self> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }

    /// The 422 error body: `VALIDATION_ERROR`, "Validation failed", all `fields`.
    ///
    /// ```
    /// use keel_validation::ValidationErrors;
    /// let body = ValidationErrors::new().to_error_body();
    /// assert_eq!(body.code, "VALIDATION_ERROR");
    /// ```
    pub fn to_error_body(&self) -> ErrorBody {
        ErrorBody::new(code::VALIDATION_ERROR, "Validation failed").with_fields(self.errors.clone())
    }

    /// The 422 error body, consuming `self` (no clone of the field errors).
    pub fn into_error_body(self) -> ErrorBody {
        ErrorBody::new(code::VALIDATION_ERROR, "Validation failed").with_fields(self.errors)
    }

    /// The full 422 envelope, with `meta.request_id` when given.
    pub fn into_error_envelope(self, request_id: Option<String>) -> ErrorEnvelope {
        let mut env = ErrorEnvelope::new(self.into_error_body());
        env.meta.request_id = request_id;
        env
    }
}

impl fmt::Display for ValidationErrors {
    /// `validation failed: email: invalid_email; password: password_too_short`
    /// (fields and codes only, never values).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("validation failed")?;
        for (i, e) in self.errors.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { "; " })?;
            if e.field.is_empty() {
                f.write_str("(root)")?;
            } else {
                f.write_str(&e.field)?;
            }
            write!(f, ": {}", e.code)?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

impl Serialize for ValidationErrors {
    /// Serializes as the list of field errors.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.errors.serialize(serializer)
    }
}

impl From<ValidationErrors> for Vec<FieldError> {
    fn from(e: ValidationErrors) -> Self {
        e.errors
    }
}

impl From<Vec<FieldError>> for ValidationErrors {
    fn from(errors: Vec<FieldError>) -> Self {
        Self { errors }
    }
}

impl IntoIterator for ValidationErrors {
    type Item = FieldError;
    type IntoIter = std::vec::IntoIter<FieldError>;
    fn into_iter(self) -> Self::IntoIter {
        self.errors.into_iter()
    }
}

impl<'a> IntoIterator for &'a ValidationErrors {
    type Item = &'a FieldError;
    type IntoIter = std::slice::Iter<'a, FieldError>;
    fn into_iter(self) -> Self::IntoIter {
        self.errors.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_lists_fields_and_codes_only() {
        let mut e = ValidationErrors::new();
        let root = Path::root();
        e.add(&root.key("a"), Violation::new("x", "m"));
        e.add(&root, Violation::new("y", "m"));
        assert_eq!(e.to_string(), "validation failed: a: x; (root): y");
        assert_eq!(e.to_error_body().fields.len(), 2);
    }
}
