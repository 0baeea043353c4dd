//! [`password_policy_rule`]: a password-change rule from keel-validation's
//! [`PasswordPolicy`] (feature `validation`).
// The rule's error type is `SessionRoutes::password_rule`'s: keel-errors' `ApiError`, by
// value, like every handler's (see handlers.rs).
#![allow(clippy::result_large_err)]

use keel_envelope::{FieldError, FieldPath};
use keel_errors::ApiError;
use keel_validation::PasswordPolicy;
use secrecy::{ExposeSecret, SecretString};

use crate::flow::Account;

/// The rule for [`SessionRoutes::password_rule`](super::SessionRoutes::password_rule) that
/// checks a new password against keel-validation's `policy` — the one a signup form
/// declares with `#[validate(password(context(…)))]`, common-password list included —
/// with the account's login name (and its local part) and its
/// [context words](Account::context) as the user information it must not equal; control
/// characters are refused as keel-validation refuses them in any text field.
///
/// # Errors
/// The rule answers 422 `VALIDATION_ERROR` naming `new_password`, one field error per
/// violated rule (`control_chars`, `password_too_short`, `password_too_long`,
/// `password_too_common`, `password_matches_user_info`, `password_composition`); never
/// with the password in it.
///
/// ```
/// use keel_auth::axum::password_policy_rule;
/// use keel_auth::flow::Account;
/// use keel_validation::PasswordPolicy;
/// use secrecy::SecretString;
///
/// let rule = password_policy_rule(PasswordPolicy::nist());
/// let ada = Account::new("u1", "ada@example.org", "$argon2id$…").context(["Ada", "Lovelace"]);
/// let check = |pw: &str| rule(&ada, &SecretString::from(pw));
/// assert!(check("correct horse battery staple").is_ok());
/// assert_eq!(check("password123").unwrap_err().status(), 422); // a common password
/// assert!(check("LOVELACE").is_err() && check("ada").is_err());
/// ```
pub fn password_policy_rule(
    policy: PasswordPolicy,
) -> impl Fn(&Account, &SecretString) -> Result<(), ApiError> + Clone + Send + Sync + 'static {
    move |account, new| {
        let password = new.expose_secret();
        let path = FieldPath::root().key("new_password");
        let mut fields = Vec::new();
        if password.chars().any(char::is_control) {
            fields.push(FieldError::new(
                &path,
                "control_chars",
                "must not contain control characters",
            ));
        }
        let mut context = vec![account.login()];
        context.extend(account.context_words().iter().map(String::as_str));
        if let Err(violations) = policy.check(password, &context) {
            fields.extend(violations.into_iter().map(|v| v.into_field_error(&path)));
        }
        if fields.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(fields))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The codes of the field errors the NIST rule answers for `password` (empty: accepted).
    fn check(password: &str, expected: &[&str]) {
        let rule = password_policy_rule(PasswordPolicy::nist());
        let ada = Account::new("u1", "ada.l@example.org", "$argon2id$…").context(["Ada", ""]);
        let codes: Vec<String> = match rule(&ada, &SecretString::from(password)) {
            Ok(()) => Vec::new(),
            Err(e) => {
                assert_eq!(e.status(), 422);
                let fields = e.fields();
                assert!(fields.iter().all(|f| f.field == "new_password"));
                let debug = format!("{e:?}");
                assert!(password.len() < 4 || !debug.contains(password), "{debug}");
                fields.iter().map(|f| f.code.to_string()).collect()
            }
        };
        assert_eq!(codes, expected, "{password:?}");
    }

    #[test]
    fn nist_rules_with_the_account_as_context() {
        check("correct horse battery staple", &[]);
        check("short", &["password_too_short"]);
        check(&"x".repeat(129), &["password_too_long"]);
        check("password123", &["password_too_common"]);
        check("ADA.L@example.org", &["password_matches_user_info"]);
        check(
            "ada.l",
            &["password_too_short", "password_matches_user_info"],
        );
        check("tab\there and more", &["control_chars"]);
    }
}
