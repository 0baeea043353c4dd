//! Sessions: keel-auth's `SessionRoutes` run the session use cases (login with the TOTP
//! step-up, refresh, logout, logout everywhere, password change, TOTP enrollment; API keys
//! may not call them, and a new password passes the signup rules: keel-validation's NIST
//! `PasswordPolicy` through keel-auth's `password_policy_rule`); the policy that is the
//! service's lives here: who may issue API keys.

use keel_auth::NewApiKey;
use keel_auth::flow::{IssuedApiKey, SessionFlow};
use keel_errors::ApiError;

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
