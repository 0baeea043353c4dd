//! API keys for service-to-service calls, over keel-crypto's [`ApiKey`]/[`ApiKeyHash`].
//!
//! A key reads `<prefix>_<30 random base62><6 base62 CRC-32>` (`kl_live_…`): the checksum
//! catches typos and random strings before any lookup; the first 8 random characters, with
//! the prefix, are the key's public lookup id; the store keeps only the SHA-256 of the
//! whole key and compares it in constant time. Scopes say what a key may do; revocation
//! takes effect on the next request; the last use is recorded at most once a minute per key.
//!
//! ```
//! use keel_auth::{ApiKeys, ApiKeysConfig, MemoryApiKeyStore, NewApiKey};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> keel_auth::Result<()> {
//! let keys = ApiKeys::new(MemoryApiKeyStore::new(), ApiKeysConfig::builder("kl_live").build()?);
//!
//! let created = keys
//!     .create(NewApiKey::new("billing-worker", "billing, prod").scope("invoices:write"))
//!     .await?;
//! let shown_once = created.key().expose_secret().to_owned();
//!
//! // On a request:
//! let caller = keys.verify(&shown_once).await?;
//! assert_eq!(caller.subject(), "billing-worker");
//! assert!(caller.has_scope("invoices:write"));
//!
//! keys.revoke(created.record().id.as_str()).await?;
//! assert!(keys.verify(&shown_once).await.is_err());
//! # Ok(()) }
//! ```

mod memory;
#[cfg(feature = "postgres")]
mod postgres;
mod store;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use keel_crypto::{API_KEY_RANDOM_LEN, ApiKey, MAX_API_KEY_PREFIX_LEN};

pub use memory::MemoryApiKeyStore;
#[cfg(feature = "postgres")]
pub use postgres::PgApiKeyStore;
pub use store::{ApiKeyRecord, ApiKeyStore};

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::store::check_subject;

/// Longest presented key looked at: prefix, `_`, random part and checksum.
pub const MAX_API_KEY_LEN: usize = MAX_API_KEY_PREFIX_LEN + 1 + API_KEY_RANDOM_LEN + 6;
/// Random characters of a key that are part of its public lookup id.
const ID_RANDOM_CHARS: usize = 8;
/// Most scopes per key.
pub const MAX_SCOPES: usize = 32;
/// Longest scope.
const MAX_SCOPE_LEN: usize = 64;
/// Longest key name.
const MAX_NAME_LEN: usize = 128;

/// Settings of [`ApiKeys`].
///
/// ```
/// use std::time::Duration;
/// let config = keel_auth::ApiKeysConfig::builder("kl_test")
///     .last_used_interval(Duration::from_secs(300))
///     .max_keys_per_subject(10)
///     .build()?;
/// assert_eq!(config.prefix(), "kl_test");
/// # Ok::<(), keel_auth::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ApiKeysConfig {
    prefix: String,
    last_used_interval: Duration,
    max_keys_per_subject: usize,
}

impl ApiKeysConfig {
    /// A builder; `prefix` starts every new key (1–16 characters of `[a-z0-9_]` starting
    /// with a letter; e.g. `myco_live`, so secret scanners can find leaked keys).
    #[must_use]
    pub fn builder(prefix: impl Into<String>) -> ApiKeysConfigBuilder {
        ApiKeysConfigBuilder(Self {
            prefix: prefix.into(),
            last_used_interval: Duration::from_secs(60),
            max_keys_per_subject: 100,
        })
    }

    /// The prefix of new keys.
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The least time between two recorded uses of a key.
    #[must_use]
    pub fn last_used_interval(&self) -> Duration {
        self.last_used_interval
    }

    /// The most keys (revoked ones included) one subject may have.
    #[must_use]
    pub fn max_keys_per_subject(&self) -> usize {
        self.max_keys_per_subject
    }
}

/// Builds an [`ApiKeysConfig`].
#[derive(Debug, Clone)]
pub struct ApiKeysConfigBuilder(ApiKeysConfig);

impl ApiKeysConfigBuilder {
    /// The least time between two recorded uses of a key (default 60 s): a busy key costs
    /// one write a minute, not one per request.
    #[must_use]
    pub fn last_used_interval(mut self, interval: Duration) -> Self {
        self.0.last_used_interval = interval;
        self
    }

    /// The most keys per subject (default 100).
    #[must_use]
    pub fn max_keys_per_subject(mut self, max: usize) -> Self {
        self.0.max_keys_per_subject = max;
        self
    }

    /// Validates and builds.
    ///
    /// # Errors
    /// [`Error::Config`] for an invalid prefix or a zero cap.
    ///
    /// ```
    /// assert!(keel_auth::ApiKeysConfig::builder("Bad-Prefix").build().is_err());
    /// ```
    pub fn build(self) -> Result<ApiKeysConfig> {
        // keel-crypto owns the prefix rules: a probe key checks them.
        ApiKey::generate(&self.0.prefix).map_err(|_| {
            Error::Config(
                "API key prefix must be 1-16 characters of [a-z0-9_] starting with a letter".into(),
            )
        })?;
        if self.0.max_keys_per_subject == 0 {
            return Err(Error::Config(
                "max_keys_per_subject must be at least 1".into(),
            ));
        }
        Ok(self.0)
    }
}

/// What to create: subject, name, scopes, expiry.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// let spec = keel_auth::NewApiKey::new("reports-cron", "nightly export")
///     .scopes(["reports:read", "exports:write"])
///     .expires_at(SystemTime::now() + Duration::from_secs(90 * 24 * 3600));
/// # let _ = spec;
/// ```
#[derive(Debug, Clone)]
pub struct NewApiKey {
    subject: String,
    name: String,
    scopes: Vec<String>,
    expires_at: Option<SystemTime>,
}

impl NewApiKey {
    /// A key acting as `subject`, labelled `name`, with no scopes and no expiry.
    #[must_use]
    pub fn new(subject: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            name: name.into(),
            scopes: Vec::new(),
            expires_at: None,
        }
    }

    /// Adds a scope (1–64 characters of `[a-z0-9_.:/*-]`).
    #[must_use]
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scopes.push(scope.into());
        self
    }

    /// Adds scopes.
    #[must_use]
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// Makes the key stop working at `at`.
    #[must_use]
    pub fn expires_at(mut self, at: SystemTime) -> Self {
        self.expires_at = Some(at);
        self
    }

    fn check(&mut self) -> Result<()> {
        check_subject(&self.subject)?;
        if self.name.is_empty()
            || self.name.len() > MAX_NAME_LEN
            || self.name.chars().any(char::is_control)
        {
            return Err(Error::InvalidInput(
                "key name must be 1-128 printable bytes",
            ));
        }
        self.scopes.sort();
        self.scopes.dedup();
        if self.scopes.len() > MAX_SCOPES {
            return Err(Error::InvalidInput("at most 32 scopes per key"));
        }
        if !self.scopes.iter().all(|s| valid_scope(s)) {
            return Err(Error::InvalidInput(
                "scopes must be 1-64 characters of [a-z0-9_.:/*-]",
            ));
        }
        Ok(())
    }
}

fn valid_scope(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_SCOPE_LEN
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.:/*-".contains(&b))
}

/// A key just created: the secret (show it once) and its record.
#[derive(Debug, Clone)]
pub struct CreatedApiKey {
    key: ApiKey,
    record: ApiKeyRecord,
}

impl CreatedApiKey {
    /// The key. Show [`expose_secret`](ApiKey::expose_secret) to its owner once.
    #[must_use]
    pub fn key(&self) -> &ApiKey {
        &self.key
    }

    /// What was stored (id, subject, scopes…).
    #[must_use]
    pub fn record(&self) -> &ApiKeyRecord {
        &self.record
    }
}

/// The caller a verified API key stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyPrincipal {
    id: String,
    subject: String,
    name: String,
    scopes: Vec<String>,
}

impl ApiKeyPrincipal {
    /// The key's lookup id (safe to log).
    #[must_use]
    pub fn key_id(&self) -> &str {
        &self.id
    }

    /// Who the key acts as.
    #[must_use]
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The key's label.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key's scopes, sorted.
    #[must_use]
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// Whether the key has `scope` (exact match).
    #[must_use]
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes
            .binary_search_by(|s| s.as_str().cmp(scope))
            .is_ok()
    }

    /// `Ok` if the key has `scope`.
    ///
    /// # Errors
    /// [`Error::InsufficientScope`] otherwise.
    pub fn require_scope(&self, scope: &str) -> Result<()> {
        if self.has_scope(scope) {
            Ok(())
        } else {
            tracing::debug!(key_id = %self.id, scope, "API key lacks the required scope");
            Err(Error::InsufficientScope)
        }
    }
}

/// Creates, verifies and revokes API keys over an [`ApiKeyStore`]. Cheap to clone.
///
/// Every verification failure — malformed, bad checksum, unknown, wrong secret, revoked,
/// expired — is the same [`Error::InvalidCredentials`]; the reason is logged at `debug`
/// with the key's lookup id at most, never the key.
#[derive(Clone)]
pub struct ApiKeys {
    store: Arc<dyn ApiKeyStore>,
    config: Arc<ApiKeysConfig>,
    clock: Clock,
}

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeys")
            .field("config", &self.config)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl ApiKeys {
    /// API keys over `store`.
    pub fn new(store: impl ApiKeyStore, config: ApiKeysConfig) -> Self {
        Self {
            store: Arc::new(store),
            config: Arc::new(config),
            clock: Clock::system(),
        }
    }

    /// Uses `clock` for expiry and last-used times (a manual clock in tests).
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &ApiKeysConfig {
        &self.config
    }

    /// Creates a key. The returned secret is never stored: show it once.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a bad subject, name or scope, or when the subject has
    /// [`max_keys_per_subject`](ApiKeysConfig::max_keys_per_subject) keys; [`Error::Store`].
    pub async fn create(&self, mut spec: NewApiKey) -> Result<CreatedApiKey> {
        spec.check()?;
        if self.store.list(&spec.subject).await?.len() >= self.config.max_keys_per_subject {
            return Err(Error::InvalidInput("too many API keys for this subject"));
        }
        // 8 base62 characters of lookup id: a collision is a one-in-2^47 event; retry once.
        for _ in 0..2 {
            let key = ApiKey::generate(&self.config.prefix)?;
            let record = ApiKeyRecord {
                id: lookup_id(&key),
                subject: spec.subject.clone(),
                name: spec.name.clone(),
                scopes: spec.scopes.clone(),
                hash: key.hash(),
                created_at: self.clock.now(),
                expires_at: spec.expires_at,
                revoked_at: None,
                last_used_at: None,
            };
            if self.store.insert(&record).await? {
                return Ok(CreatedApiKey { key, record });
            }
        }
        Err(Error::Config("API key id collision twice in a row".into()))
    }

    /// Verifies a presented key: format and checksum offline, then lookup by id,
    /// constant-time hash comparison, revocation and expiry. Records the use (throttled).
    ///
    /// # Errors
    /// [`Error::InvalidCredentials`] for any bad key; [`Error::Store`] when the store fails.
    pub async fn verify(&self, presented: &str) -> Result<ApiKeyPrincipal> {
        if presented.len() > MAX_API_KEY_LEN {
            tracing::debug!("API key rejected: too long");
            return Err(Error::InvalidCredentials);
        }
        let Ok(key) = ApiKey::parse(presented) else {
            tracing::debug!("API key rejected: malformed or bad checksum");
            return Err(Error::InvalidCredentials);
        };
        let id = lookup_id(&key);
        let Some(record) = self.store.find(&id).await? else {
            tracing::debug!(key_id = %id, "API key rejected: unknown");
            return Err(Error::InvalidCredentials);
        };
        if !record.hash.verify(&key) {
            tracing::debug!(key_id = %id, "API key rejected: wrong secret");
            return Err(Error::InvalidCredentials);
        }
        let now = self.clock.now();
        if record.revoked_at.is_some() {
            tracing::debug!(key_id = %id, "API key rejected: revoked");
            return Err(Error::InvalidCredentials);
        }
        if record.expires_at.is_some_and(|t| t <= now) {
            tracing::debug!(key_id = %id, "API key rejected: expired");
            return Err(Error::InvalidCredentials);
        }
        let interval = self.config.last_used_interval;
        if record.last_used_at.is_none_or(|t| t + interval <= now) {
            // Bookkeeping: a failed write must not fail the request.
            if let Err(e) = self.store.touch(&id, now, interval).await {
                tracing::warn!(key_id = %id, error = %e, "could not record API key use");
            }
        }
        Ok(ApiKeyPrincipal {
            id: record.id,
            subject: record.subject,
            name: record.name,
            scopes: record.scopes,
        })
    }

    /// Revokes a key by its lookup id; effective on the next request. `false` if unknown or
    /// already revoked.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn revoke(&self, id: &str) -> Result<bool> {
        if id.len() > MAX_API_KEY_LEN {
            return Ok(false);
        }
        self.store.revoke(id, self.clock.now()).await
    }

    /// The keys of `subject`, oldest first (for a management page; no secrets in them).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a bad subject; [`Error::Store`].
    pub async fn list(&self, subject: &str) -> Result<Vec<ApiKeyRecord>> {
        check_subject(subject)?;
        self.store.list(subject).await
    }
}

/// `<prefix>_<first 8 random characters>`.
fn lookup_id(key: &ApiKey) -> String {
    let text = key.expose_secret();
    let end = (key.prefix().len() + 1 + ID_RANDOM_CHARS).min(text.len());
    text.get(..end).unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_id_is_prefix_and_eight_characters() {
        let key = ApiKey::generate("kl_live").unwrap();
        let id = lookup_id(&key);
        assert_eq!(id.len(), "kl_live_".len() + 8);
        assert!(key.expose_secret().starts_with(&id));
        assert_eq!(MAX_API_KEY_LEN, 16 + 1 + 36);
    }

    #[test]
    fn scope_rules() {
        for good in ["a", "orders:write", "reports/*", "x.y-z_1"] {
            assert!(valid_scope(good), "{good}");
        }
        for bad in ["", "A", "a b", "ä", &"a".repeat(65)] {
            assert!(!valid_scope(bad), "{bad}");
        }
    }
}
