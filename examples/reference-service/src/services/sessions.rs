//! Sessions: login (with the TOTP step-up), refresh-token rotation, logout, logout
//! everywhere, password change, TOTP enrollment and API keys — on keel-auth.

use std::net::IpAddr;

use keel_auth::{Claims, NewApiKey};
use keel_errors::ApiError;
use keel_validation::Validate;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Users, require_admin, require_user};
use crate::auth::{LOGIN_PURPOSE, USERS_READ};
use crate::domain::{Caller, Role};
use crate::repository;

/// Tokens of a session (RFC 6749 §5.1 plus the refresh token).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenPair {
    /// The access token (JWT, `Authorization: Bearer`).
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: String,
    /// Access-token lifetime in seconds.
    #[schema(example = 900)]
    pub expires_in: u64,
    /// Opaque refresh token, single use: `POST /api/v1/auth/refresh` returns a new one.
    pub refresh_token: String,
}

/// What a correct password leads to.
#[derive(Debug)]
pub enum LoginOutcome {
    /// Signed in: the tokens, and a device token for the client to keep (lockout
    /// resistance: its owner's later logins are counted apart from an attacker's).
    Tokens(TokenPair, Option<String>),
    /// The account has a second factor: complete with `POST /api/v1/auth/login/mfa`.
    MfaRequired {
        /// Single-use challenge.
        mfa_token: String,
        /// Its lifetime in seconds.
        expires_in: u64,
    },
}

/// A TOTP enrollment to confirm with a first code.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MfaEnrollment {
    /// The secret in base32, for manual entry.
    pub secret: String,
    /// The `otpauth://` URI, for a QR code.
    pub otpauth_uri: String,
}

impl Users {
    async fn start_session(&self, id: Uuid, role: Role) -> Result<TokenPair, ApiError> {
        let auth = &self.c.auth;
        let refresh = auth.refresh.issue(&id.to_string()).await?;
        let claims = Claims::<()>::new(id.to_string())
            .roles([role.as_str()])
            .session(refresh.session().id().as_str());
        let access = auth.authenticator.issue(claims).await?;
        Ok(TokenPair {
            expires_in: access.expires_in().as_secs(),
            access_token: access.into_string(),
            token_type: "Bearer".to_owned(),
            refresh_token: refresh.token().expose_secret().to_owned(),
        })
    }

    /// Logs in: input checked first, then the failure-only limits (per network, per
    /// account and client, per account), one hash whether the account exists or not, an
    /// outdated hash upgraded, and either tokens or a TOTP challenge.
    ///
    /// # Errors
    /// 400 for malformed input; 429 past a limit; 401 for a wrong e-mail or password (one
    /// answer for both); 503 + `Retry-After` when the hashing queue is full.
    pub async fn login(
        &self,
        client: IpAddr,
        email: &str,
        password: SecretString,
        device: Option<&str>,
    ) -> Result<LoginOutcome, ApiError> {
        let auth = &self.c.auth;
        // A malformed address or an oversized password can match no account: the same 401
        // as a wrong password (checked before any limiter, lookup or hash).
        let email = auth
            .login
            .check_input(email, password.expose_secret())
            .map_err(|_| keel_auth::Error::InvalidCredentials)?;
        let attempt = auth.login.check_login(&email, client, device).await?;
        let record = repository::credentials_by_email(&self.c.db, email.as_str()).await?;
        let hash = record.as_ref().map(|r| r.password_hash.as_str());
        let ok = auth.admission.verify_or_dummy(&password, hash).await?;
        let Some(record) = record.filter(|_| ok) else {
            attempt.failed().await;
            return Err(keel_auth::Error::InvalidCredentials.into());
        };
        let device = attempt.succeeded().await.map(|d| d.as_str().to_owned());
        if auth.admission.needs_rehash(&record.password_hash) {
            // Best effort: a failure here must not fail the login.
            if let Err(e) = self.set_password(record.user.id, &password).await {
                tracing::warn!(error = %e, user_id = %record.user.id, "could not upgrade the password hash");
            }
        }
        let sub = record.user.id.to_string();
        if auth.mfa.is_enabled(&sub).await? {
            let challenge = auth.mfa.begin(&sub, LOGIN_PURPOSE).await?;
            return Ok(LoginOutcome::MfaRequired {
                mfa_token: challenge.expose_secret().to_owned(),
                expires_in: challenge.expires_in().as_secs(),
            });
        }
        Ok(LoginOutcome::Tokens(
            self.start_session(record.user.id, record.user.role).await?,
            device,
        ))
    }

    /// Completes a login step-up with a TOTP or recovery code.
    ///
    /// # Errors
    /// 401 for an unknown, expired or used challenge or a wrong code; 429 after too many
    /// wrong codes.
    pub async fn login_mfa(&self, mfa_token: &str, code: &str) -> Result<TokenPair, ApiError> {
        let verified = self
            .c
            .auth
            .mfa
            .complete(mfa_token, LOGIN_PURPOSE, code)
            .await?;
        let (id, role) = self.current(verified.subject()).await?;
        self.start_session(id, role).await
    }

    /// The account of a token subject, as it is now (a deleted account's sessions end).
    async fn current(&self, sub: &str) -> Result<(Uuid, Role), ApiError> {
        let id: Uuid = sub.parse().map_err(|_| keel_auth::Error::InvalidToken)?;
        let record = repository::find_by_id(&self.c.db, id).await?;
        let record = record.ok_or(keel_auth::Error::InvalidToken)?;
        Ok((record.id, record.role))
    }

    /// Rotates a refresh token: the old one is spent; presenting it again revokes the
    /// whole session (reuse detection, RFC 9700 §4.14).
    ///
    /// # Errors
    /// 401 for an unknown, expired, spent or revoked refresh token.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, ApiError> {
        let auth = &self.c.auth;
        let rotated = auth.refresh.refresh(refresh_token).await?;
        let (id, role) = self.current(rotated.session().subject()).await?;
        let claims = Claims::<()>::new(id.to_string())
            .roles([role.as_str()])
            .session(rotated.session().id().as_str());
        let access = auth.authenticator.issue(claims).await?;
        Ok(TokenPair {
            expires_in: access.expires_in().as_secs(),
            access_token: access.into_string(),
            token_type: "Bearer".to_owned(),
            refresh_token: rotated.token().expose_secret().to_owned(),
        })
    }

    /// Ends the caller's session: its refresh token and its access tokens.
    ///
    /// # Errors
    /// 503 when the store is down.
    pub async fn logout(&self, caller: &Caller, refresh_token: &str) -> Result<(), ApiError> {
        require_user(caller)?;
        let auth = &self.c.auth;
        auth.refresh.revoke(refresh_token).await?;
        if let Some(sid) = &caller.session {
            auth.authenticator
                .revoke_session(&caller.id.to_string(), sid)
                .await?;
        }
        Ok(())
    }

    /// Ends every session of the caller, on every replica.
    ///
    /// # Errors
    /// 503 when the store is down.
    pub async fn logout_everywhere(&self, caller: &Caller) -> Result<(), ApiError> {
        require_user(caller)?;
        self.revoke_everything(caller.id).await
    }

    /// Changes the caller's password (the current one is checked) and ends every session.
    ///
    /// # Errors
    /// 401 for a wrong current password; 422 for a weak new one.
    pub async fn change_password(
        &self,
        caller: &Caller,
        current: SecretString,
        new: String,
    ) -> Result<(), ApiError> {
        require_user(caller)?;
        let record = repository::credentials_by_id(&self.c.db, caller.id).await?;
        let record = record.ok_or(keel_auth::Error::InvalidToken)?;
        let auth = &self.c.auth;
        if !auth
            .admission
            .verify(&current, &record.password_hash)
            .await?
        {
            return Err(keel_auth::Error::InvalidCredentials.into());
        }
        let checked = super::NewAccount {
            email: record.user.email,
            password: new,
            first_name: record.user.first_name,
            last_name: record.user.last_name,
            phone: None,
        }
        .clean()?;
        self.set_password(caller.id, &SecretString::from(checked.password))
            .await?;
        self.revoke_everything(caller.id).await
    }

    /// Starts a TOTP enrollment for the caller.
    ///
    /// # Errors
    /// 503 when the store is down.
    pub async fn enroll_totp(&self, caller: &Caller) -> Result<MfaEnrollment, ApiError> {
        require_user(caller)?;
        let record = repository::find_by_id(&self.c.db, caller.id).await?;
        let record = record.ok_or(keel_auth::Error::InvalidToken)?;
        let e = self
            .c
            .auth
            .mfa
            .enroll(&caller.id.to_string(), &record.email)
            .await?;
        Ok(MfaEnrollment {
            secret: e.secret_base32().to_owned(),
            otpauth_uri: e.uri().to_owned(),
        })
    }

    /// Confirms the enrollment with a first code; returns the single-use recovery codes.
    ///
    /// # Errors
    /// 401 for a wrong code.
    pub async fn confirm_totp(&self, caller: &Caller, code: &str) -> Result<Vec<String>, ApiError> {
        require_user(caller)?;
        let codes = self
            .c
            .auth
            .mfa
            .confirm(&caller.id.to_string(), code)
            .await?;
        Ok(codes.iter().map(str::to_owned).collect())
    }

    /// Issues an API key that reads users (admin); the secret is shown once.
    ///
    /// # Errors
    /// 403 unless admin.
    pub async fn create_api_key(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<(String, String), ApiError> {
        require_user(caller)?;
        require_admin(caller)?;
        let spec = NewApiKey::new(caller.id.to_string(), name).scope(USERS_READ);
        let created = self.c.auth.api_keys.create(spec).await?;
        Ok((
            created.record().id.clone(),
            created.key().expose_secret().to_owned(),
        ))
    }
}
