//! Authentication on keel-auth: HS256 access tokens with per-subject revocation (token
//! version in PostgreSQL, checked on every request through a 500 ms cache, so a bump is
//! seen by every replica within a second), rotating refresh tokens, TOTP step-up, API
//! keys, the abuse-resistant login policy and bounded password-hash admission; and the
//! [`Caller`] extractor (bearer token, or an API key for service-to-service reads).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRef, FromRequestParts};
use http::header;
use http::request::Parts;
use keel_auth::admission::PasswordAdmission;
use keel_auth::axum::{ApiKeyAuth, Authenticated, X_API_KEY};
use keel_auth::login::LoginPolicy;
use keel_auth::{
    AccessTokens, ApiKeys, ApiKeysConfig, Authenticator, Key, KeySet, Mfa, MfaConfig,
    PgApiKeyStore, PgMfaStore, PgRefreshStore, PgTokenVersions, RefreshConfig, RefreshTokens,
    Revocations,
};
use keel_crypto::{AsyncPasswordHasher, KeyRing, SecretKey};
use keel_errors::ApiError;
use keel_ratelimit::Quota;
use keel_ratelimit::redis::RedisConnection;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::db::Db;
use crate::domain::{Caller, Role};

/// Issuer (and TOTP issuer) of every token.
pub const ISSUER: &str = "keel-reference-service";
/// Purpose of the login step-up challenge.
pub const LOGIN_PURPOSE: &str = "login";
/// The scope an API key needs to read users.
pub const USERS_READ: &str = "users:read";

/// Every keel-auth component the service uses; cheap to clone.
#[derive(Clone)]
pub struct Auth {
    /// Access tokens and revocation.
    pub authenticator: Authenticator,
    /// Refresh-token sessions.
    pub refresh: RefreshTokens,
    /// TOTP second factor.
    pub mfa: Mfa,
    /// Service-to-service API keys.
    pub api_keys: ApiKeys,
    /// Login and signup limits.
    pub login: Arc<LoginPolicy>,
    /// Bounded password hashing (503 + `Retry-After` when full).
    pub admission: PasswordAdmission,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").finish_non_exhaustive()
    }
}

impl Auth {
    /// Builds the components over PostgreSQL schema `KEEL_AUTH_SCHEMA` (and Redis, a node
    /// or a cluster, for the login limits when configured).
    ///
    /// # Errors
    /// A message naming what keel-auth refused.
    pub async fn new(
        config: &Config,
        db: &Db,
        keyring: Arc<KeyRing>,
        hasher: AsyncPasswordHasher,
        redis: Option<&RedisConnection>,
    ) -> Result<Self, String> {
        let schema = config.auth_schema.as_str();
        let key = Key::hs256("k1", config.jwt_secret.expose_secret().as_bytes())
            .map_err(e("KEEL_JWT_SECRET"))?;
        let tokens = AccessTokens::builder(ISSUER, KeySet::new(key).map_err(e("keys"))?)
            .ttl(config.jwt_ttl)
            .build()
            .map_err(e("access tokens"))?;
        let versions = PgTokenVersions::with_schema(db.clone(), schema).map_err(e("schema"))?;
        let authenticator = Authenticator::new(tokens).with_revocations(Revocations::new(versions));
        let refresh_store = PgRefreshStore::with_schema(db.clone(), schema).map_err(e("schema"))?;
        let refresh_config = RefreshConfig::builder().build().map_err(e("refresh"))?;
        let mfa_store = PgMfaStore::with_schema(db.clone(), schema).map_err(e("schema"))?;
        let mfa_config = MfaConfig::builder(ISSUER).build().map_err(e("mfa"))?;
        let key_store = PgApiKeyStore::with_schema(db.clone(), schema).map_err(e("schema"))?;
        let keys_config = ApiKeysConfig::builder("keel")
            .build()
            .map_err(e("api keys"))?;
        // The policy key must be the same on every replica: derived from the JWT secret.
        let digest = Sha256::new()
            .chain_update(b"keel-reference-service login policy\0")
            .chain_update(config.jwt_secret.expose_secret().as_bytes())
            .finalize();
        let secret =
            SecretKey::from_slice(&digest).map_err(|err| format!("login policy: {err}"))?;
        let signups = Quota::parse_many(&config.rate_limit_signup)
            .map_err(|err| format!("KEEL_RATE_LIMIT_SIGNUP: {err}"))?;
        let builder = LoginPolicy::builder(secret).signups(signups);
        let prefix = format!("{}:auth:", config.redis_prefix);
        let login = match redis {
            None => builder.build(),
            Some(conn) => builder.build_redis(conn, &prefix),
        }
        .map_err(e("login policy"))?;
        Ok(Self {
            authenticator,
            refresh: RefreshTokens::new(refresh_store, refresh_config),
            mfa: Mfa::new(mfa_store, keyring, mfa_config),
            api_keys: ApiKeys::new(key_store, keys_config),
            login: Arc::new(login),
            admission: PasswordAdmission::new(hasher),
        })
    }

    /// Access-token lifetime.
    pub fn access_ttl(&self) -> Duration {
        self.authenticator.tokens().ttl()
    }
}

fn e(what: &'static str) -> impl Fn(keel_auth::Error) -> String {
    move |err| format!("{what}: {err}")
}

fn is_api_key(parts: &Parts) -> bool {
    parts.headers.contains_key(X_API_KEY)
        || parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.len() > 7 && v[..7].eq_ignore_ascii_case("apikey "))
}

/// The authenticated caller: `Authorization: Bearer <access token>` (401 with an RFC 6750
/// challenge when missing, invalid, expired or revoked), or an API key
/// (`X-API-Key` / `Authorization: ApiKey …`) with the `users:read` scope, which reads
/// users and nothing else.
impl<S> FromRequestParts<S> for Caller
where
    Authenticator: FromRef<S>,
    ApiKeys: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if is_api_key(parts) {
            let key = ApiKeyAuth::from_request_parts(parts, state).await?;
            key.require_scope(USERS_READ)?;
            return Ok(Self::service(&key.0));
        }
        let Authenticated(claims) = Authenticated::<()>::from_request_parts(parts, state).await?;
        let role = claims.roles.first().and_then(|r| Role::parse(r));
        match (claims.sub.parse(), role) {
            (Ok(id), Some(role)) => Ok(Self {
                id,
                role,
                session: claims.sid,
                read_only: false,
            }),
            _ => Err(keel_auth::Error::InvalidToken.into()),
        }
    }
}

impl Caller {
    /// The caller behind an API key: its issuing admin's id, read-only.
    fn service(key: &keel_auth::ApiKeyPrincipal) -> Self {
        Self {
            id: key.subject().parse().unwrap_or_default(),
            role: Role::Admin,
            session: None,
            read_only: true,
        }
    }
}

/// Marks a `/health` request whose bearer token is a valid, **unrevoked** admin token
/// (signature, expiry, role, and the revocation lookup every authenticated route makes),
/// for the health details policy ([`HealthAdmin`]). Other requests pass untouched.
pub async fn mark_health_admin(
    axum::extract::State(authenticator): axum::extract::State<Authenticator>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned());
    if let Some(token) = token.filter(|_| req.uri().path() == "/health") {
        let claims = authenticator.authenticate::<()>(&token).await;
        if claims.is_ok_and(|c| c.has_role(Role::Admin.as_str())) {
            req.extensions_mut().insert(HealthAdmin);
        }
    }
    next.run(req).await
}

/// Set by [`mark_health_admin`] on requests from an admin.
#[derive(Debug, Clone, Copy)]
pub struct HealthAdmin;
