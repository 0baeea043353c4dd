//! Session flows (feature `ratelimit`): login with failure-only limits and a TOTP step-up,
//! refresh-token rotation, logout, logout everywhere, password change and TOTP enrollment,
//! assembled from the crate's parts so an application writes only its account lookup
//! ([`AccountStore`]) and its HTTP handlers.
//!
//! [`SessionFlow`] runs each use case in the order that keeps it safe:
//!
//! | operation | what it does, in order |
//! |---|---|
//! | [`login`](SessionFlow::login) | input checked (sizes, syntax) before anything else; the [`LoginPolicy`](crate::login::LoginPolicy) limits (only failures count); one password hash whether the account exists or not, under [`PasswordAdmission`](crate::admission::PasswordAdmission); an outdated hash upgraded (best effort); a TOTP challenge when the account has a second factor, else tokens and a device token |
//! | [`complete_mfa`](SessionFlow::complete_mfa) | the challenge and a TOTP or recovery code ([`Mfa::complete`](crate::Mfa::complete)); roles read again; tokens |
//! | [`refresh`](SessionFlow::refresh) | rotation with reuse detection ([`RefreshTokens::refresh`](crate::RefreshTokens::refresh)); roles read again (a deleted account's session ends); a new access token of the same session |
//! | [`logout`](SessionFlow::logout) | the refresh token's session, and that session's access tokens at once |
//! | [`logout_everywhere`](SessionFlow::logout_everywhere) | every access token (token-version bump) and every refresh session of the subject |
//! | [`change_password`](SessionFlow::change_password) | the current password checked (its failures count against the login limits), the new one checked by the application's rule, hashed, stored; then logout everywhere |
//! | [`enroll_totp`](SessionFlow::enroll_totp), [`confirm_totp`](SessionFlow::confirm_totp) | [`Mfa::enroll`](crate::Mfa::enroll), [`Mfa::confirm`](crate::Mfa::confirm) (recovery codes) |
//!
//! Every error is the crate's [`Error`]: with feature `errors` it becomes the usual answer
//! (401 with one message for every cause of a failed login, 429 and 503 with
//! `Retry-After`). Authorization (who may call what) stays with the application: the flow
//! acts on the subject it is given.
//!
//! ```
//! use std::sync::Arc;
//! use keel_auth::flow::{Account, AccountStore, AuthComponents, LoginOutcome, SessionFlow};
//! use keel_auth::admission::{HashPurpose, PasswordAdmission};
//! use keel_auth::login::{LoginEmail, LoginPolicy};
//! use keel_auth::*;
//! use keel_crypto::{Argon2Params, AsyncPasswordHasher, KeyRing, PasswordHasher, SecretKey};
//! use secrecy::SecretString;
//!
//! /// One account, in memory (your repository in real life).
//! struct OneUser(std::sync::Mutex<Account>);
//! impl AccountStore for OneUser {
//!     fn find_by_login<'a>(&'a self, login: &'a LoginEmail) -> StoreFuture<'a, Option<Account>> {
//!         let a = self.0.lock().unwrap().clone();
//!         Box::pin(async move { Ok((a.login() == login.as_str()).then_some(a)) })
//!     }
//!     fn find_by_subject<'a>(&'a self, subject: &'a str) -> StoreFuture<'a, Option<Account>> {
//!         let a = self.0.lock().unwrap().clone();
//!         Box::pin(async move { Ok((a.subject() == subject).then_some(a)) })
//!     }
//!     fn set_password_hash<'a>(&'a self, subject: &'a str, hash: &'a str) -> StoreFuture<'a, bool> {
//!         let mut a = self.0.lock().unwrap();
//!         let found = a.subject() == subject;
//!         if found {
//!             *a = Account::new(a.subject(), a.login(), hash).roles(a.role_names().to_vec());
//!         }
//!         Box::pin(async move { Ok(found) })
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let hasher = PasswordHasher::new().with_params(Argon2Params::new(64, 1, 1)?);
//! # /*
//! let hasher = PasswordHasher::new();
//! # */
//! let admission = PasswordAdmission::new(AsyncPasswordHasher::new(hasher));
//! let tokens = AccessTokens::builder("https://api.example.com", KeySet::new(Key::generate_hs256("k1")?)?).build()?;
//! let parts = AuthComponents {
//!     authenticator: Authenticator::new(tokens).with_revocations(Revocations::new(MemoryTokenVersions::new())),
//!     refresh: RefreshTokens::new(MemoryRefreshStore::new(), RefreshConfig::default()),
//!     mfa: Mfa::new(MemoryMfaStore::new(), Arc::new(KeyRing::generate(1)?), MfaConfig::builder("Example").build()?),
//!     api_keys: ApiKeys::new(MemoryApiKeyStore::new(), ApiKeysConfig::builder("ex").build()?),
//!     login: LoginPolicy::builder(SecretKey::generate()?).build()?,
//!     admission,
//! };
//! let phc = parts.admission.hash(HashPurpose::Signup, &"correct horse battery staple".into()).await?;
//! let users = OneUser(std::sync::Mutex::new(Account::new("u1", "ada@example.org", phc).roles(["user"])));
//! let flow = SessionFlow::new(parts, users);
//!
//! let password = SecretString::from("correct horse battery staple");
//! let client = "192.0.2.1".parse()?;
//! let LoginOutcome::Tokens { tokens, .. } = flow.login("Ada@example.org", &password, client, None).await? else {
//!     unreachable!("no second factor enrolled");
//! };
//! let claims = flow.components().authenticator.authenticate::<()>(&tokens.access_token).await?;
//! assert_eq!(claims.sub, "u1");
//! let rotated = flow.refresh(&tokens.refresh_token).await?;
//! assert!(flow.refresh(&tokens.refresh_token).await.is_err()); // reuse ends the session
//! assert!(flow.refresh(&rotated.refresh_token).await.is_err());
//! # Ok(())
//! # }
//! ```

mod accounts;
mod components;
#[cfg(feature = "postgres")]
mod pg_accounts;
mod wire;

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

pub use accounts::{Account, AccountStore};
pub use components::AuthComponents;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use components::PgAuthBuilder;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use pg_accounts::{
    MAX_CONTEXT_COLUMNS, PgAccounts, PgAccountsConfig, PgAccountsConfigBuilder, SubjectType,
};
pub use wire::{
    CodeRequest, IssuedApiKey, LoginAnswer, LoginOutcome, LoginRequest, MfaEnrollment,
    MfaLoginRequest, MfaRequired, PasswordChangeRequest, RecoveryCodeList, RefreshRequest,
    TokenPair,
};

use crate::admission::HashPurpose;
use crate::login::LoginEmail;
use crate::{Claims, Error, Result, SessionId};

/// The purpose the login step-up challenges are bound to ([`Mfa::begin`](crate::Mfa::begin)).
pub const LOGIN_PURPOSE: &str = "login";

/// The session use cases over [`AuthComponents`] and the application's accounts; cheap to
/// clone. See the [module documentation](self).
#[derive(Clone)]
pub struct SessionFlow {
    parts: AuthComponents,
    accounts: Arc<dyn AccountStore>,
}

impl fmt::Debug for SessionFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionFlow")
            .field("parts", &self.parts)
            .finish_non_exhaustive()
    }
}

impl SessionFlow {
    /// The flows over `parts`, looking accounts up in `accounts`.
    pub fn new(parts: AuthComponents, accounts: impl AccountStore) -> Self {
        Self {
            parts,
            accounts: Arc::new(accounts),
        }
    }

    /// The components, for what the flows do not cover (the extractors' `Authenticator`,
    /// API keys, the signup quota, hashing a signup's password).
    #[must_use]
    pub fn components(&self) -> &AuthComponents {
        &self.parts
    }

    /// Logs in with a login name and password from `client` (the client IP: the peer, or
    /// what a trusted proxy reports), with the device token the client sent, if any
    /// ([`device_cookie`](crate::login::device_cookie)).
    ///
    /// Input is checked first: a malformed address or an oversized password can match no
    /// account, so it gets the answer a wrong password gets, before any limiter, lookup or
    /// hash. Then the [`LoginPolicy`](crate::login::LoginPolicy) limits (only failures count), one password
    /// verification whether the account exists or not, and, for the right password, an
    /// outdated hash upgraded (best effort: a failure is logged, the login goes on) and a
    /// TOTP challenge when the account has a second factor.
    ///
    /// # Errors
    /// [`Error::InvalidCredentials`] for malformed input, an unknown account or a wrong
    /// password (one answer for every cause); [`Error::RateLimited`] past a limit;
    /// [`Error::Overloaded`] when the hashing queue is full; [`Error::Store`].
    pub async fn login(
        &self,
        login: &str,
        password: &SecretString,
        client: IpAddr,
        device: Option<&str>,
    ) -> Result<LoginOutcome> {
        let p = &self.parts;
        let email = p
            .login
            .check_input(login, password.expose_secret())
            .map_err(|_| Error::InvalidCredentials)?;
        let attempt = p.login.check_login(&email, client, device).await?;
        let account = self.accounts.find_by_login(&email).await?;
        let hash = account.as_ref().map(Account::password_hash);
        let verified = p.admission.verify_or_dummy(password, hash).await?;
        let Some(account) = account.filter(|_| verified) else {
            attempt.failed().await;
            tracing::debug!(account = %p.login.account_key(&email), "login failed");
            return Err(Error::InvalidCredentials);
        };
        let device = attempt.succeeded().await;
        if p.admission.needs_rehash(account.password_hash())
            && let Err(e) = self.store_password(account.subject(), password).await
        {
            tracing::warn!(error = %e, "could not upgrade an outdated password hash");
        }
        let subject = account.subject();
        if p.mfa.is_enabled(subject).await? {
            let challenge = p.mfa.begin(subject, LOGIN_PURPOSE).await?;
            return Ok(LoginOutcome::MfaRequired(MfaRequired {
                mfa_required: true,
                mfa_token: challenge.expose_secret().to_owned(),
                expires_in: challenge.expires_in().as_secs(),
            }));
        }
        let tokens = self.start_session(&account).await?;
        Ok(LoginOutcome::Tokens { tokens, device })
    }

    /// Completes a login step-up with its challenge and a TOTP or recovery code; the
    /// roles are read again.
    ///
    /// # Errors
    /// [`Error::InvalidToken`] for an unknown, expired, used or exhausted challenge, or an
    /// account deleted meanwhile; [`Error::InvalidCredentials`] for a wrong code;
    /// [`Error::RateLimited`] after too many wrong codes; [`Error::Store`].
    pub async fn complete_mfa(&self, mfa_token: &str, code: &str) -> Result<TokenPair> {
        let verified = self
            .parts
            .mfa
            .complete(mfa_token, LOGIN_PURPOSE, code)
            .await?;
        let account = self.current(verified.subject()).await?;
        self.start_session(&account).await
    }

    /// Rotates a refresh token: the old one is spent, and presenting it again revokes the
    /// whole session (reuse detection, RFC 9700 §4.14). The roles are read again, so a
    /// demotion shows in the new access token; a deleted account's session ends.
    ///
    /// # Errors
    /// [`Error::InvalidToken`] for an unknown, expired, spent or revoked refresh token or
    /// a deleted account; [`Error::Store`].
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair> {
        let p = &self.parts;
        let rotated = p.refresh.refresh(refresh_token).await?;
        let session = rotated.session();
        let Some(account) = self.accounts.find_by_subject(session.subject()).await? else {
            tracing::debug!("refresh refused: the account is gone; its session ends");
            p.refresh.revoke_session(session.id()).await?;
            return Err(Error::InvalidToken);
        };
        let access = p
            .authenticator
            .issue(claims(&account, session.id()))
            .await?;
        Ok(TokenPair {
            expires_in: access.expires_in().as_secs(),
            access_token: access.into_string(),
            token_type: "Bearer".to_owned(),
            refresh_token: rotated.token().expose_secret().to_owned(),
        })
    }

    /// Ends one session of `subject`: the session of `refresh_token` and, at once, the
    /// access tokens of session `session` (the `sid` claim of the caller's access token).
    /// An unknown or already revoked refresh token is not an error (logging out twice
    /// succeeds); nor is another subject's, which is left alone
    /// ([`RefreshTokens::revoke_for`](crate::RefreshTokens::revoke_for)).
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn logout(
        &self,
        subject: &str,
        session: Option<&str>,
        refresh_token: &str,
    ) -> Result<()> {
        let p = &self.parts;
        p.refresh.revoke_for(subject, refresh_token).await?;
        if let Some(sid) = session {
            p.authenticator.revoke_session(subject, sid).await?;
        }
        Ok(())
    }

    /// Ends every session of `subject` on every replica: every access token issued so far
    /// (token-version bump) and every refresh session. Use it on logout everywhere, and
    /// whenever an account's privileges shrink (deletion, demotion, password reset).
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn logout_everywhere(&self, subject: &str) -> Result<()> {
        let p = &self.parts;
        p.authenticator.revoke_all(subject).await?;
        p.refresh.revoke_subject(subject).await?;
        Ok(())
    }

    /// Changes the password of `subject`, asked from `client`: `current` is checked (its
    /// failures count against the [login limits](crate::login::LoginPolicy::check_login)
    /// of the account and client, so a stolen access token is no way around them), then
    /// `check` decides whether `new` is acceptable (the application's strength rules:
    /// length, common passwords, not the e-mail or name; it sees the account), then the
    /// new hash is stored and every session ends
    /// ([`logout_everywhere`](Self::logout_everywhere)).
    ///
    /// # Errors
    /// `check`'s error; [`Error::InvalidCredentials`] for a wrong current password;
    /// [`Error::RateLimited`] past a login limit; [`Error::InvalidToken`] when the account
    /// is gone; [`Error::Overloaded`] when the hashing queue is full; [`Error::Store`] —
    /// each converted into `E`.
    pub async fn change_password<E, F>(
        &self,
        subject: &str,
        client: IpAddr,
        current: &SecretString,
        new: &SecretString,
        check: F,
    ) -> std::result::Result<(), E>
    where
        E: From<Error>,
        F: FnOnce(&Account, &SecretString) -> std::result::Result<(), E>,
    {
        let p = &self.parts;
        let account = self.current(subject).await?;
        // A login name that is no e-mail address cannot be keyed like a login: such an
        // account's re-authentication is bounded by the hashing admission only.
        let attempt = match LoginEmail::parse(account.login()) {
            Ok(email) => Some(p.login.check_login(&email, client, None).await?),
            Err(_) => None,
        };
        if !p.admission.verify(current, account.password_hash()).await? {
            if let Some(attempt) = attempt {
                attempt.failed().await;
            }
            return Err(Error::InvalidCredentials.into());
        }
        if let Some(attempt) = attempt {
            // The device token is for the login route; the budgets are what matters here.
            drop(attempt.succeeded().await);
        }
        check(&account, new)?;
        if !self.store_password(subject, new).await? {
            return Err(Error::InvalidToken.into());
        }
        Ok(self.logout_everywhere(subject).await?)
    }

    /// Starts a TOTP enrollment for `subject` (labelled with its login name in the
    /// authenticator app).
    ///
    /// # Errors
    /// [`Error::InvalidToken`] when the account is gone; [`Error::InvalidInput`] when a
    /// factor is already enabled; [`Error::Store`].
    pub async fn enroll_totp(&self, subject: &str) -> Result<MfaEnrollment> {
        let account = self.current(subject).await?;
        let e = self.parts.mfa.enroll(subject, account.login()).await?;
        Ok(MfaEnrollment {
            secret: e.secret_base32().to_owned(),
            otpauth_uri: e.uri().to_owned(),
        })
    }

    /// Confirms the enrollment with a first code; returns the single-use recovery codes.
    ///
    /// # Errors
    /// [`Error::InvalidCredentials`] for a wrong code or nothing to confirm;
    /// [`Error::RateLimited`]; [`Error::Store`].
    pub async fn confirm_totp(&self, subject: &str, code: &str) -> Result<RecoveryCodeList> {
        Ok(self.parts.mfa.confirm(subject, code).await?.into())
    }

    /// Hashes (as a new password: [`HashPurpose::Signup`]) and stores `password`.
    async fn store_password(&self, subject: &str, password: &SecretString) -> Result<bool> {
        let hash = self
            .parts
            .admission
            .hash(HashPurpose::Signup, password)
            .await?;
        self.accounts.set_password_hash(subject, &hash).await
    }

    /// The account behind `subject` now; a deleted one is an invalid token.
    async fn current(&self, subject: &str) -> Result<Account> {
        self.accounts
            .find_by_subject(subject)
            .await?
            .ok_or(Error::InvalidToken)
    }

    async fn start_session(&self, account: &Account) -> Result<TokenPair> {
        let p = &self.parts;
        let refresh = p.refresh.issue(account.subject()).await?;
        let access = p
            .authenticator
            .issue(claims(account, refresh.session().id()))
            .await?;
        Ok(TokenPair {
            expires_in: access.expires_in().as_secs(),
            access_token: access.into_string(),
            token_type: "Bearer".to_owned(),
            refresh_token: refresh.token().expose_secret().to_owned(),
        })
    }
}

fn claims(account: &Account, session: &SessionId) -> Claims<()> {
    Claims::new(account.subject())
        .roles(account.role_names().iter().cloned())
        .session(session.as_str())
}
