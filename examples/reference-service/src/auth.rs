//! Authentication on keel-auth: its session flows ([`SessionFlow`]: login with the TOTP
//! step-up, refresh rotation, logout, password change, TOTP enrollment) over every store
//! in one PostgreSQL schema, with HS256 access tokens whose revocation (token version,
//! checked on every request through a 500 ms cache) every replica sees within a second,
//! API keys, the login policy (limits in Redis when configured) and bounded hash
//! admission; the users table as its accounts (keel-auth's `PgAccounts`); and the
//! [`Caller`] extractor (bearer token, or an API key for service-to-service reads).

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use http::request::Parts;
use keel_auth::admission::PasswordAdmission;
use keel_auth::axum::Principal;
use keel_auth::flow::{AuthComponents, PgAccounts, PgAccountsConfig, SessionFlow};
use keel_auth::login::{LoginPolicy, derive_policy_secret};
use keel_auth::{ApiKeys, ApiKeysConfig, Authenticator, Key, KeySet};
use keel_crypto::{AsyncPasswordHasher, KeyRing};
use keel_errors::ApiError;
use keel_ratelimit::Quota;
use keel_ratelimit::redis::RedisConnection;
use secrecy::ExposeSecret;

use crate::config::Config;
use crate::db::Db;
use crate::domain::{Caller, Role};

/// Issuer (and TOTP issuer) of every token.
pub const ISSUER: &str = "keel-reference-service";
/// The scope an API key needs to read users.
pub const USERS_READ: &str = "users:read";

/// Builds keel-auth's session flows over PostgreSQL schema `KEEL_AUTH_SCHEMA` and the
/// users table (login limits in Redis, a node or a cluster, when configured).
///
/// # Errors
/// A message naming what keel-auth refused.
pub fn new(
    config: &Config,
    db: &Db,
    keyring: Arc<KeyRing>,
    hasher: AsyncPasswordHasher,
    redis: Option<&RedisConnection>,
) -> Result<SessionFlow, String> {
    let secret = config.jwt_secret.expose_secret().as_bytes();
    let keys = Key::hs256("k1", secret).and_then(KeySet::new);
    // The policy key must be the same on every replica: derived from the JWT secret.
    let policy_secret = derive_policy_secret(secret).map_err(|e| format!("login policy: {e}"))?;
    let signups = Quota::parse_many(&config.rate_limit_signup)
        .map_err(|e| format!("KEEL_RATE_LIMIT_SIGNUP: {e}"))?;
    let mut parts = AuthComponents::postgres(db.clone(), &config.auth_schema, ISSUER)
        .keys(keys.map_err(|e| format!("KEEL_JWT_SECRET: {e}"))?)
        .access_ttl(config.jwt_ttl)
        .mfa_key_ring(keyring)
        .api_keys(
            ApiKeysConfig::builder("keel")
                .build()
                .map_err(|e| e.to_string())?,
        )
        .login_policy(LoginPolicy::builder(policy_secret).signups(signups))
        .admission(PasswordAdmission::new(hasher));
    if let Some(conn) = redis {
        parts = parts.login_redis(conn.clone(), format!("{}:auth:", config.redis_prefix));
    }
    let parts = parts.build().map_err(|e| format!("auth: {e}"))?;
    // The users table as keel-auth's accounts: the subject is the user id, the role the
    // tokens carry is read from the row (again at every refresh), the context words a new
    // password must not be are the first and last names.
    let accounts = PgAccountsConfig::builder("users")
        .role("role")
        .context(["first_name", "last_name"])
        .updated_at("updated_at")
        .build()
        .map_err(|e| format!("accounts: {e}"))?;
    let accounts = PgAccounts::new(db.clone(), accounts);
    Ok(SessionFlow::new(parts, accounts))
}

/// The authenticated caller (keel-auth's `Principal`): `Authorization: Bearer <access
/// token>` (401 with an RFC 6750 challenge when missing, invalid, expired or revoked), or
/// an API key (`X-API-Key` / `Authorization: ApiKey …`) with the `users:read` scope, which
/// reads users and nothing else.
impl<S> FromRequestParts<S> for Caller
where
    Authenticator: FromRef<S>,
    ApiKeys: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let caller = Principal::<()>::from_request_parts(parts, state).await?;
        let read_only = caller.is_api_key();
        // A key reads users as the admin who issued it, and does nothing else.
        let role = if read_only {
            caller.require_scope(USERS_READ)?;
            Some(Role::Admin)
        } else {
            caller.roles().first().and_then(|r| Role::parse(r))
        };
        match (caller.subject().parse(), role) {
            (Ok(id), Some(role)) => Ok(Self {
                id,
                role,
                // The claims keel-auth verified (or found cached), shared, not copied.
                token: match caller {
                    Principal::Token(claims) => Some(claims),
                    Principal::ApiKey(_) => None,
                },
                read_only,
            }),
            _ => Err(keel_auth::Error::InvalidToken.into()),
        }
    }
}
