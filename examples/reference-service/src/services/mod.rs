//! Services: the use cases and their policy — who may do what (decided here, once), what
//! is validated, cached, encrypted, limited and revoked. No HTTP types: routes call these
//! and shape the answer; SQL lives in [`repository`](crate::repository).

mod accounts;
mod sessions;
mod users;

use std::sync::Arc;

use keel_crypto::{FieldCipher, KeyRing};
use keel_errors::ApiError;
use keel_http::jobs::BackgroundJobs;
use uuid::Uuid;

pub use accounts::NewAccount;
pub use users::{ProfileChanges, UserPage};

use crate::db::Db;
use crate::domain::{Caller, Role, User, UserRecord};

/// Purpose string binding phone ciphertexts to this column: a token made for another
/// purpose (another column, another service) never decrypts here.
pub const PHONE_PURPOSE: &str = "users.phone";

/// The components the users service is built from (see [`crate::state`]).
#[derive(Debug)]
pub struct Components {
    /// The pool.
    pub db: Db,
    /// keel-auth's session flows and components: tokens, sessions, MFA, API keys, login
    /// policy, hash admission.
    pub auth: keel_auth::flow::SessionFlow,
    /// The key ring encrypting phones (keel-crypto).
    pub keyring: Arc<KeyRing>,
    /// The user cache (keel-cache), `None` when `KEEL_USER_CACHE=false`; shared records.
    pub cache: Option<keel_cache::Cache<Uuid, Arc<UserRecord>>>,
    /// Background jobs.
    pub jobs: BackgroundJobs,
}

/// Every use case on user accounts; cheap to clone.
#[derive(Debug, Clone)]
pub struct Users {
    c: Arc<Components>,
    /// Phones, encrypted with the user id as associated data: a ciphertext copied to
    /// another row never decrypts.
    phones: FieldCipher,
}

impl Users {
    /// The service over `components`.
    pub fn new(components: Components) -> Self {
        Self {
            phones: FieldCipher::new(Arc::clone(&components.keyring), PHONE_PURPOSE),
            c: Arc::new(components),
        }
    }

    /// The user cache, when enabled (for `/metrics`).
    pub fn cache(&self) -> Option<&keel_cache::Cache<Uuid, Arc<UserRecord>>> {
        self.c.cache.as_ref()
    }

    fn encrypt_phone(&self, phone: &str, user: Uuid) -> Result<Vec<u8>, ApiError> {
        let token = self.phones.encrypt(phone, user.as_bytes());
        token.map_err(ApiError::internal)
    }

    /// The public view: the phone decrypted (a stored token that does not decrypt is a
    /// server fault, 500, never the client's).
    fn public(&self, u: UserRecord) -> Result<User, ApiError> {
        Ok(User {
            phone: self.phone(&u)?,
            id: u.id,
            email: u.email,
            first_name: u.first_name,
            last_name: u.last_name,
            role: u.role,
            created_at: u.created_at,
        })
    }

    /// The record's phone, decrypted (as [`public`](Self::public) says).
    fn phone(&self, u: &UserRecord) -> Result<Option<String>, ApiError> {
        let token = u.phone_encrypted.as_deref();
        let phone = token.map(|token| self.phones.decrypt(token, u.id.as_bytes()));
        phone.transpose().map_err(ApiError::internal)
    }

    /// Drops a user from the cache here and, through Redis, on every replica.
    async fn forget(&self, id: Uuid) {
        if let Some(cache) = &self.c.cache {
            cache.invalidate(&id).await;
        }
    }

    /// Revokes every token of `id` at once (token version bump: every replica rejects
    /// older access tokens within the revocation cache's 500 ms) and every session.
    async fn revoke_everything(&self, id: Uuid) -> Result<(), ApiError> {
        Ok(self.c.auth.logout_everywhere(&id.to_string()).await?)
    }
}

fn not_found() -> ApiError {
    ApiError::not_found("User not found")
}

/// The authorization rules, in one place. An account is readable by itself and by admins.
fn require_reader(caller: &Caller, id: Uuid) -> Result<(), ApiError> {
    if caller.id == id || caller.role == Role::Admin {
        Ok(())
    } else {
        Err(ApiError::forbidden("You may only access your own account"))
    }
}

fn require_writer(caller: &Caller, id: Uuid) -> Result<(), ApiError> {
    require_reader(caller, id)?;
    require_user(caller)
}

fn require_user(caller: &Caller) -> Result<(), ApiError> {
    if caller.read_only {
        Err(ApiError::forbidden("An API key may only read users"))
    } else {
        Ok(())
    }
}

fn require_admin(caller: &Caller) -> Result<(), ApiError> {
    if caller.role == Role::Admin {
        Ok(())
    } else {
        Err(ApiError::forbidden("This requires the admin role"))
    }
}
