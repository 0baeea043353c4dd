//! Accounts: signup, login, and the first admin.

use std::net::IpAddr;
use std::time::Duration;

use keel_auth::admission::HashPurpose;
use keel_errors::ApiError;
use keel_validation::openapi::{EmailAddress, Password, PersonName};
use keel_validation::{RedactedDebug, Validate};
use secrecy::SecretString;
use serde::Deserialize;
use uuid::Uuid;

use super::{Users, not_found};
use crate::domain::{Role, User};
use crate::repository::{self, NewUser, UserChanges};

// A typical FastAPI service's signup rules, declared once with keel-validation: `clean()`
// normalizes (e-mail trimmed and lowercased; names HTML-stripped, whitespace-collapsed and
// title-cased; phone to E.164), then validates every field and reports all problems at
// once, in declaration order. `Debug` (RedactedDebug) never shows the password.
/// A signup; every invalid field is reported at once in `error.fields`.
#[derive(Deserialize, utoipa::ToSchema, Validate, RedactedDebug)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    /// E-mail address; normalized to lowercase, unique case-insensitively.
    #[schema(value_type = EmailAddress)]
    #[normalize(email)]
    #[validate(email)]
    pub email: String,
    /// Password (NIST rules; the schema names those it cannot express); only its
    /// Argon2id hash is stored.
    #[schema(value_type = Password)]
    #[validate(password(context(email, first_name, last_name)))]
    pub password: String,
    /// First name: HTML removed, whitespace collapsed, title-cased, 2–50 characters.
    #[schema(value_type = PersonName)]
    #[normalize(strip_html, collapse_whitespace, title_case)]
    #[validate(length(min = 2, max = 50))]
    pub first_name: String,
    /// Last name: same rules as the first name.
    #[schema(value_type = PersonName)]
    #[normalize(strip_html, collapse_whitespace, title_case)]
    #[validate(length(min = 2, max = 50))]
    pub last_name: String,
    /// Phone in international format; stored in E.164, encrypted at rest.
    #[schema(example = "+44 20 7183 8750")]
    #[serde(default)]
    #[normalize(phone)]
    #[validate(phone)]
    pub phone: Option<String>,
}

impl Users {
    /// Signs up: the signup quota of the client's network, validation, the password hashed
    /// under bounded admission (signups never starve logins), the phone encrypted, the row
    /// inserted, and the welcome e-mail scheduled.
    ///
    /// # Errors
    /// 429 past the signup quota; 422 with every invalid field; 503 + `Retry-After` when
    /// the hashing queue is full or the database is down; 409 for a taken e-mail.
    pub async fn signup(&self, client: IpAddr, account: NewAccount) -> Result<User, ApiError> {
        self.c.auth.components().login.check_signup(client).await?;
        self.create(account.clean()?, Role::User).await
    }

    async fn create(&self, account: NewAccount, role: Role) -> Result<User, ApiError> {
        let id = Uuid::new_v4();
        let new = NewUser {
            id,
            password_hash: self.hash(account.password).await?,
            phone_encrypted: account
                .phone
                .as_deref()
                .map(|p| self.encrypt_phone(p, id))
                .transpose()?,
            email: account.email,
            first_name: account.first_name,
            last_name: account.last_name,
            role,
        };
        let record = repository::insert(&self.c.db, &new).await.map_err(|e| {
            if e.is_unique_violation() && e.constraint() == Some(repository::EMAIL_UNIQUE_INDEX) {
                ApiError::conflict("An account with this e-mail address already exists")
            } else {
                ApiError::from(e)
            }
        })?;
        self.c.jobs.spawn("welcome_email", async move {
            // Stands in for an SMTP call: the job outlives the request; shutdown waits for it.
            tokio::time::sleep(Duration::from_millis(50)).await;
            tracing::info!(user_id = %id, "sent welcome e-mail");
        });
        self.public(record)
    }

    /// The password's Argon2id hash, under bounded admission (503 when the queue is full).
    async fn hash(&self, password: String) -> Result<String, ApiError> {
        let admission = &self.c.auth.components().admission;
        let password = SecretString::from(password);
        Ok(admission.hash(HashPurpose::Signup, &password).await?)
    }

    /// Creates the admin account `email`, or promotes an existing user and sets its
    /// password (`reference-service create-admin`); the user's older tokens are revoked.
    ///
    /// # Errors
    /// 422 for an invalid e-mail or a weak password; database and hashing errors.
    pub async fn create_admin(&self, email: String, password: String) -> Result<User, ApiError> {
        let account = NewAccount {
            email,
            password,
            first_name: "Admin".to_owned(),
            last_name: "Account".to_owned(),
            phone: None,
        }
        .clean()?;
        let existing = repository::find_by_email(&self.c.db, &account.email).await?;
        let Some(record) = existing else {
            return self.create(account, Role::Admin).await;
        };
        let promote = UserChanges {
            role: Some(Role::Admin),
            password_hash: Some(self.hash(account.password).await?),
            ..UserChanges::default()
        };
        let updated = repository::update(&self.c.db, record.id, &promote).await?;
        let (record, _) = updated.ok_or_else(not_found)?;
        self.revoke_everything(record.id).await?;
        self.forget(record.id).await;
        self.public(record)
    }
}
