//! [`MemoryApiKeyStore`]: API keys in process memory, bounded.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use super::store::{ApiKeyRecord, ApiKeyStore};
use crate::error::Error;
use crate::store::{CapacityError, StoreFuture};

/// API keys in memory: for tests and single-process services (keys created at runtime do
/// not survive a restart).
///
/// **Bound.** At most `max_keys` keys (default 10 000); creating more fails with
/// [`Error::Store`]. The per-subject cap of [`ApiKeysConfig`](crate::ApiKeysConfig) applies
/// too.
///
/// ```
/// let store = keel_auth::MemoryApiKeyStore::with_capacity(100);
/// assert_eq!(store.len(), 0);
/// ```
pub struct MemoryApiKeyStore {
    keys: Mutex<HashMap<String, ApiKeyRecord>>,
    max_keys: usize,
}

impl Default for MemoryApiKeyStore {
    fn default() -> Self {
        Self::with_capacity(10_000)
    }
}

impl fmt::Debug for MemoryApiKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryApiKeyStore")
            .field("keys", &self.len())
            .field("max_keys", &self.max_keys)
            .finish()
    }
}

impl MemoryApiKeyStore {
    /// A store holding at most 10 000 keys.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A store holding at most `max_keys` keys (at least 1).
    #[must_use]
    pub fn with_capacity(max_keys: usize) -> Self {
        Self {
            keys: Mutex::new(HashMap::new()),
            max_keys: max_keys.max(1),
        }
    }

    /// The number of keys held (revoked ones included).
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no key is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, ApiKeyRecord>> {
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl ApiKeyStore for MemoryApiKeyStore {
    fn insert<'a>(&'a self, record: &'a ApiKeyRecord) -> StoreFuture<'a, bool> {
        let mut keys = self.lock();
        let result = if keys.contains_key(&record.id) {
            Ok(false)
        } else if keys.len() >= self.max_keys {
            Err(Error::store(CapacityError("API key")))
        } else {
            keys.insert(record.id.clone(), record.clone());
            Ok(true)
        };
        Box::pin(async move { result })
    }

    fn find<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<ApiKeyRecord>> {
        let found = self.lock().get(id).cloned();
        Box::pin(async move { Ok(found) })
    }

    fn touch<'a>(
        &'a self,
        id: &'a str,
        now: SystemTime,
        interval: Duration,
    ) -> StoreFuture<'a, ()> {
        if let Some(r) = self.lock().get_mut(id)
            && r.last_used_at.is_none_or(|t| t + interval <= now)
        {
            r.last_used_at = Some(now);
        }
        Box::pin(async move { Ok(()) })
    }

    fn revoke<'a>(&'a self, id: &'a str, now: SystemTime) -> StoreFuture<'a, bool> {
        let done = match self.lock().get_mut(id) {
            Some(r) if r.revoked_at.is_none() => {
                r.revoked_at = Some(now);
                true
            }
            _ => false,
        };
        Box::pin(async move { Ok(done) })
    }

    fn list<'a>(&'a self, subject: &'a str) -> StoreFuture<'a, Vec<ApiKeyRecord>> {
        let mut out: Vec<ApiKeyRecord> = self
            .lock()
            .values()
            .filter(|r| r.subject == subject)
            .cloned()
            .collect();
        out.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Box::pin(async move { Ok(out) })
    }
}
