//! Sessions: the use cases keel-auth's session flows run for the caller (logout, logout
//! everywhere, password change, TOTP enrollment), with the authorization rules decided
//! here; and API keys. Login, its TOTP step-up and refresh need no rule: routes call
//! [`Users::sessions`] for them.

use std::net::IpAddr;

use keel_auth::NewApiKey;
use keel_auth::flow::{IssuedApiKey, MfaEnrollment, RecoveryCodeList, SessionFlow};
use keel_errors::ApiError;
use keel_validation::Validate;
use secrecy::{ExposeSecret, SecretString};

use super::{NewAccount, Users, require_admin, require_user};
use crate::auth::USERS_READ;
use crate::domain::Caller;
use crate::repository;

impl Users {
    /// keel-auth's session flows: login (+ TOTP step-up) and refresh.
    pub fn sessions(&self) -> &SessionFlow {
        &self.c.auth
    }

    /// Ends the caller's session: its refresh token and its access tokens.
    ///
    /// # Errors
    /// 403 for an API key; 503 when the store is down.
    pub async fn logout(&self, caller: &Caller, refresh_token: &str) -> Result<(), ApiError> {
        require_user(caller)?;
        let (sub, sid) = (caller.id.to_string(), caller.session.as_deref());
        Ok(self.c.auth.logout(&sub, sid, refresh_token).await?)
    }

    /// Ends every session of the caller, on every replica.
    ///
    /// # Errors
    /// 403 for an API key; 503 when the store is down.
    pub async fn logout_everywhere(&self, caller: &Caller) -> Result<(), ApiError> {
        require_user(caller)?;
        self.revoke_everything(caller.id).await
    }

    /// Changes the caller's password (the current one is checked, its failures count
    /// against the login limits; the new one must pass the signup rules) and ends every
    /// session.
    ///
    /// # Errors
    /// 401 for a wrong current password; 422 for a weak new one; 429 past a login limit.
    pub async fn change_password(
        &self,
        caller: &Caller,
        client: IpAddr,
        current: SecretString,
        new: SecretString,
    ) -> Result<(), ApiError> {
        require_user(caller)?;
        // The password rule needs the names as context (not your e-mail or name).
        let record = repository::find_by_id(&self.c.db, caller.id).await?;
        let record = record.ok_or(keel_auth::Error::InvalidToken)?;
        let check = |_: &keel_auth::flow::Account, new: &SecretString| {
            let account = NewAccount {
                email: record.email.clone(),
                password: new.expose_secret().to_owned(),
                first_name: record.first_name.clone(),
                last_name: record.last_name.clone(),
                phone: None,
            };
            account.clean().map(drop).map_err(ApiError::from)
        };
        let sub = caller.id.to_string();
        let sessions = &self.c.auth;
        sessions
            .change_password(&sub, client, &current, &new, check)
            .await
    }

    /// Starts a TOTP enrollment for the caller.
    ///
    /// # Errors
    /// 403 for an API key; 503 when the store is down.
    pub async fn enroll_totp(&self, caller: &Caller) -> Result<MfaEnrollment, ApiError> {
        require_user(caller)?;
        Ok(self.c.auth.enroll_totp(&caller.id.to_string()).await?)
    }

    /// Confirms the enrollment with a first code; returns the single-use recovery codes.
    ///
    /// # Errors
    /// 403 for an API key; 401 for a wrong code.
    pub async fn confirm_totp(
        &self,
        caller: &Caller,
        code: &str,
    ) -> Result<RecoveryCodeList, ApiError> {
        require_user(caller)?;
        Ok(self
            .c
            .auth
            .confirm_totp(&caller.id.to_string(), code)
            .await?)
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
