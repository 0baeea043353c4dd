//! Sessions: keel-auth's `SessionRoutes` run the session use cases (login with the TOTP
//! step-up, refresh, logout, logout everywhere, password change, TOTP enrollment; API keys
//! may not call them); the policy that is the service's lives here: the rule a new password
//! must pass, and who may issue API keys.

use keel_auth::NewApiKey;
use keel_auth::flow::{Account, IssuedApiKey, SessionFlow};
use keel_errors::ApiError;
use keel_validation::Validate;
use secrecy::{ExposeSecret, SecretString};

use super::{Users, require_admin, require_user};
use crate::auth::USERS_READ;
use crate::domain::Caller;

impl Users {
    /// keel-auth's session flows (the routes' and the revocations').
    pub fn sessions(&self) -> &SessionFlow {
        &self.c.auth
    }

    /// Issues an API key that reads users (admin); the secret is shown once.
    ///
    /// # Errors
    /// 403 unless admin.
    pub async fn create_api_key(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<IssuedApiKey, ApiError> {
        require_user(caller)?;
        require_admin(caller)?;
        let spec = NewApiKey::new(caller.id.to_string(), name).scope(USERS_READ);
        let api_keys = &self.c.auth.components().api_keys;
        Ok(api_keys.create(spec).await?.into())
    }
}

/// A new password under the signup rules ([`NewAccount`](super::NewAccount)'s password
/// rule: 8–128 characters, no control characters, not a common password, not the
/// e-mail address or a name).
#[derive(Validate)]
struct NewPassword {
    #[validate(password(context(email, first_name, last_name)))]
    new_password: String,
    email: String,
    first_name: String,
    last_name: String,
}

/// The password change's rule for a new password: the signup rules, with the account's
/// e-mail address and names (its context words, `[first, last]`: see `crate::auth`).
///
/// # Errors
/// 422 `VALIDATION_ERROR` naming `new_password`.
pub fn password_rule(account: &Account, new: &SecretString) -> Result<(), ApiError> {
    let name = |i: usize| account.context_words().get(i).cloned().unwrap_or_default();
    let candidate = NewPassword {
        new_password: new.expose_secret().to_owned(),
        email: account.login().to_owned(),
        first_name: name(0),
        last_name: name(1),
    };
    Ok(candidate.validate()?)
}
