//! [`AuthComponents`]: every keel-auth part a session service uses, and
//! [`PgAuthBuilder`], which builds them for the usual PostgreSQL deployment in one call.

use std::time::Duration;

use crate::admission::PasswordAdmission;
use crate::login::LoginPolicy;
use crate::{ApiKeys, Authenticator, Mfa, RefreshTokens};

/// Every keel-auth component of one deployment; cheap to clone (each is shared inside).
///
/// Build it field by field (any store, e.g. the memory ones in tests) or, over PostgreSQL,
/// with [`AuthComponents::postgres`].
#[derive(Debug, Clone)]
pub struct AuthComponents {
    /// Access tokens and their revocation (the axum extractors verify with it).
    pub authenticator: Authenticator,
    /// Refresh-token sessions.
    pub refresh: RefreshTokens,
    /// TOTP second factor.
    pub mfa: Mfa,
    /// Service-to-service API keys.
    pub api_keys: ApiKeys,
    /// Login and signup limits.
    pub login: LoginPolicy,
    /// Bounded password hashing (503 + `Retry-After` when full).
    pub admission: PasswordAdmission,
}

impl AuthComponents {
    /// Access-token lifetime.
    #[must_use]
    pub fn access_ttl(&self) -> Duration {
        self.authenticator.tokens().ttl()
    }
}

#[cfg(feature = "postgres")]
pub use pg::PgAuthBuilder;

#[cfg(feature = "postgres")]
mod pg {
    use std::fmt;
    use std::sync::Arc;
    use std::time::Duration;

    use keel_crypto::KeyRing;

    use super::AuthComponents;
    use crate::admission::PasswordAdmission;
    use crate::login::LoginPolicyBuilder;
    use crate::{
        AccessTokens, ApiKeys, ApiKeysConfig, Authenticator, Error, KeySet, Mfa, MfaConfig,
        PgApiKeyStore, PgMfaStore, PgRefreshStore, PgTokenVersions, RefreshConfig, RefreshTokens,
        Result, Revocations,
    };

    /// Prefix of API keys unless [`PgAuthBuilder::api_keys`] says otherwise.
    const DEFAULT_API_KEY_PREFIX: &str = "key";

    impl AuthComponents {
        /// Starts building every component over PostgreSQL: token versions, refresh
        /// sessions, TOTP factors and API keys all in `schema` (where
        /// [`migrations::apply`](crate::migrations::apply) put the tables), tokens issued
        /// by `issuer` (also the TOTP issuer an authenticator app shows).
        ///
        /// ```no_run
        /// # async fn f(pool: keel_db_pool::Pool, redis: keel_ratelimit::redis::RedisConnection)
        /// #     -> Result<(), Box<dyn std::error::Error>> {
        /// use std::sync::Arc;
        /// use keel_auth::admission::PasswordAdmission;
        /// use keel_auth::flow::AuthComponents;
        /// use keel_auth::login::LoginPolicy;
        /// use keel_auth::{Key, KeySet, migrations};
        /// use keel_crypto::{AsyncPasswordHasher, KeyRing, PasswordHasher, SecretKey};
        ///
        /// migrations::apply(&pool, "auth").await?;
        /// let auth = AuthComponents::postgres(pool, "auth", "https://api.example.com")
        ///     .keys(KeySet::new(Key::hs256("k1", b"32 bytes or more from your secret store")?)?)
        ///     .mfa_key_ring(Arc::new(KeyRing::generate(1)?))
        ///     .login_policy(LoginPolicy::builder(SecretKey::generate()?))
        ///     .login_redis(redis, "myapp:auth")
        ///     .admission(PasswordAdmission::new(AsyncPasswordHasher::new(PasswordHasher::new())))
        ///     .build()?;
        /// # drop(auth); Ok(()) }
        /// ```
        pub fn postgres(
            pool: keel_db_pool::Pool,
            schema: &str,
            issuer: impl Into<String>,
        ) -> PgAuthBuilder {
            PgAuthBuilder {
                pool,
                schema: schema.to_owned(),
                issuer: issuer.into(),
                keys: None,
                access_ttl: None,
                refresh: RefreshConfig::default(),
                mfa: None,
                key_ring: None,
                api_keys: None,
                login: None,
                #[cfg(feature = "redis")]
                redis: None,
                admission: None,
            }
        }
    }

    /// Builds [`AuthComponents`] over one PostgreSQL schema
    /// ([`AuthComponents::postgres`]). Required: [`keys`](Self::keys),
    /// [`mfa_key_ring`](Self::mfa_key_ring), [`login_policy`](Self::login_policy),
    /// [`admission`](Self::admission); the rest has defaults.
    pub struct PgAuthBuilder {
        pool: keel_db_pool::Pool,
        schema: String,
        issuer: String,
        keys: Option<KeySet>,
        access_ttl: Option<Duration>,
        refresh: RefreshConfig,
        mfa: Option<MfaConfig>,
        key_ring: Option<Arc<KeyRing>>,
        api_keys: Option<ApiKeysConfig>,
        login: Option<LoginPolicyBuilder>,
        #[cfg(feature = "redis")]
        redis: Option<(keel_ratelimit::redis::RedisConnection, String)>,
        admission: Option<PasswordAdmission>,
    }

    impl fmt::Debug for PgAuthBuilder {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("PgAuthBuilder")
                .field("schema", &self.schema)
                .field("issuer", &self.issuer)
                .field("access_ttl", &self.access_ttl)
                .field("refresh", &self.refresh)
                .finish_non_exhaustive()
        }
    }

    impl PgAuthBuilder {
        /// The access-token signing and verification keys (HS256 or Ed25519; several
        /// for rotation). Required.
        #[must_use]
        pub fn keys(mut self, keys: KeySet) -> Self {
            self.keys = Some(keys);
            self
        }

        /// Access-token lifetime (default: [`AccessTokens`]' default, 15 minutes).
        #[must_use]
        pub fn access_ttl(mut self, ttl: Duration) -> Self {
            self.access_ttl = Some(ttl);
            self
        }

        /// Refresh-session settings (default: [`RefreshConfig::default`]).
        #[must_use]
        pub fn refresh(mut self, config: RefreshConfig) -> Self {
            self.refresh = config;
            self
        }

        /// TOTP settings (default: `MfaConfig::builder(issuer)` with its defaults).
        #[must_use]
        pub fn mfa(mut self, config: MfaConfig) -> Self {
            self.mfa = Some(config);
            self
        }

        /// The key ring sealing TOTP secrets at rest. Required.
        #[must_use]
        pub fn mfa_key_ring(mut self, keys: Arc<KeyRing>) -> Self {
            self.key_ring = Some(keys);
            self
        }

        /// API-key settings (default: prefix `key`, [`ApiKeysConfig`]'s defaults).
        #[must_use]
        pub fn api_keys(mut self, config: ApiKeysConfig) -> Self {
            self.api_keys = Some(config);
            self
        }

        /// The login policy (its secret must be the same on every replica). Required.
        /// Its limits live in memory unless [`login_redis`](Self::login_redis) is set.
        #[must_use]
        pub fn login_policy(mut self, policy: LoginPolicyBuilder) -> Self {
            self.login = Some(policy);
            self
        }

        /// Keeps the login limits in Redis (a node or a cluster), shared by every
        /// replica, under keys starting with `prefix`.
        #[cfg(feature = "redis")]
        #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
        #[must_use]
        pub fn login_redis(
            mut self,
            conn: keel_ratelimit::redis::RedisConnection,
            prefix: impl Into<String>,
        ) -> Self {
            self.redis = Some((conn, prefix.into()));
            self
        }

        /// Password-hash admission (wraps the hasher). Required.
        #[must_use]
        pub fn admission(mut self, admission: PasswordAdmission) -> Self {
            self.admission = Some(admission);
            self
        }

        /// Builds every component. Nothing connects here: the pool and Redis are used
        /// lazily.
        ///
        /// # Errors
        /// [`Error::Config`] for a missing required part, an invalid schema name, or a
        /// setting a component refuses.
        pub fn build(self) -> Result<AuthComponents> {
            let required =
                |what: &str| Error::Config(format!("auth components: {what} is required"));
            let keys = self.keys.ok_or_else(|| required("keys"))?;
            let key_ring = self.key_ring.ok_or_else(|| required("mfa_key_ring"))?;
            let login = self.login.ok_or_else(|| required("login_policy"))?;
            let admission = self.admission.ok_or_else(|| required("admission"))?;
            let (pool, schema) = (&self.pool, self.schema.as_str());

            let mut tokens = AccessTokens::builder(self.issuer.as_str(), keys);
            if let Some(ttl) = self.access_ttl {
                tokens = tokens.ttl(ttl);
            }
            let versions = PgTokenVersions::with_schema(pool.clone(), schema)?;
            let authenticator =
                Authenticator::new(tokens.build()?).with_revocations(Revocations::new(versions));
            let mfa_config = match self.mfa {
                Some(config) => config,
                None => MfaConfig::builder(self.issuer.as_str()).build()?,
            };
            let api_keys = match self.api_keys {
                Some(config) => config,
                None => ApiKeysConfig::builder(DEFAULT_API_KEY_PREFIX).build()?,
            };
            #[cfg(feature = "redis")]
            let login = match &self.redis {
                Some((conn, prefix)) => login.build_redis(conn, prefix)?,
                None => login.build()?,
            };
            #[cfg(not(feature = "redis"))]
            let login = login.build()?;
            Ok(AuthComponents {
                authenticator,
                refresh: RefreshTokens::new(
                    PgRefreshStore::with_schema(pool.clone(), schema)?,
                    self.refresh,
                ),
                mfa: Mfa::new(
                    PgMfaStore::with_schema(pool.clone(), schema)?,
                    key_ring,
                    mfa_config,
                ),
                api_keys: ApiKeys::new(PgApiKeyStore::with_schema(pool.clone(), schema)?, api_keys),
                login,
                admission,
            })
        }
    }
}
