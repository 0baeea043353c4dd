//! The field rules of the users API (the source design's signup rules), written with
//! keel-validation's normalizers and rules.

use keel_envelope::FieldPath;
use keel_errors::ApiError;
use keel_validation::rules::{self, ControlChars, EmailOptions, Length, PhoneOptions};
use keel_validation::{PasswordPolicy, ValidationErrors, Violation, normalize};

/// Names: 2–50 characters after normalization.
const NAME_LENGTH: Length = Length::new().min(2).max(50);
/// Phones: international format only (no default country), stored as E.164.
const PHONE: PhoneOptions = PhoneOptions::new();
/// NIST SP 800-63B: 8–128 code points, not common, not the user's e-mail or name.
const PASSWORD: PasswordPolicy = PasswordPolicy::nist();

/// Collects field errors in declaration order.
#[derive(Debug, Default)]
pub(crate) struct Fields {
    errors: ValidationErrors,
}

impl Fields {
    fn add(&mut self, field: &str, v: Violation) {
        self.errors
            .push(v.into_field_error(&FieldPath::root().key(field)));
    }

    /// Records the first failing rule of a field; true when all passed.
    fn check(
        &mut self,
        field: &str,
        results: impl IntoIterator<Item = Result<(), Violation>>,
    ) -> bool {
        for r in results {
            if let Err(v) = r {
                self.add(field, v);
                return false;
            }
        }
        true
    }

    /// 422 with every collected field error, or `Ok`.
    pub(crate) fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.errors.into_vec()))
        }
    }
}

/// E-mail: trimmed and lowercased, then checked (length limits, IDN domains, no quoted
/// local parts or domain literals).
pub(crate) fn email(f: &mut Fields, field: &str, mut value: String) -> String {
    let no_controls = rules::no_control_chars(&value, &ControlChars::new());
    normalize::email(&mut value);
    f.check(
        field,
        [no_controls, rules::email(&value, &EmailOptions::new())],
    );
    value
}

/// Names: control characters rejected; trimmed, HTML stripped, whitespace collapsed,
/// NFC, title-cased; then 2–50 characters.
pub(crate) fn name(f: &mut Fields, field: &str, mut value: String) -> String {
    let no_controls = rules::no_control_chars(&value, &ControlChars::new());
    normalize::strip_html(&mut value);
    normalize::collapse_whitespace(&mut value);
    normalize::trim(&mut value);
    normalize::nfc(&mut value);
    normalize::title_case(&mut value);
    f.check(field, [no_controls, rules::length(&value, &NAME_LENGTH)]);
    value
}

/// Optional name in a PATCH: same rules when present.
pub(crate) fn optional_name(f: &mut Fields, field: &str, value: Option<String>) -> Option<String> {
    value.map(|v| name(f, field, v))
}

/// Password policy; the value is never echoed (violations carry no value).
pub(crate) fn password(f: &mut Fields, field: &str, value: &str, context: &[&str]) {
    if let Err(violations) = PASSWORD.check(value, context) {
        for v in violations {
            f.add(field, v);
        }
    }
}

/// Phone: normalized to E.164.
pub(crate) fn phone(f: &mut Fields, field: &str, mut value: String) -> String {
    let no_controls = rules::no_control_chars(&value, &ControlChars::new());
    normalize::phone(&mut value, &PHONE);
    f.check(field, [no_controls, rules::phone(&value, &PHONE)]);
    value
}
