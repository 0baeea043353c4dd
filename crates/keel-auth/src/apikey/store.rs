//! [`ApiKeyStore`]: where API keys live, and the stored record.

use std::time::{Duration, SystemTime};

use keel_crypto::ApiKeyHash;

use crate::store::StoreFuture;

/// An API key as stored: everything but the key itself (only its SHA-256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// The lookup id: the key's prefix and the first 8 characters of its random part
    /// (`kl_live_AbC123xy`). Not secret; shown in UIs and logs to name the key.
    pub id: String,
    /// Who the key acts as (a service or account id).
    pub subject: String,
    /// A human label ("billing worker, prod").
    pub name: String,
    /// What the key may do.
    pub scopes: Vec<String>,
    /// SHA-256 of the full key; compared in constant time.
    pub hash: ApiKeyHash,
    /// When it was created.
    pub created_at: SystemTime,
    /// When it stops working, if ever.
    pub expires_at: Option<SystemTime>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<SystemTime>,
    /// When it was last used (recorded at most once per throttle interval).
    pub last_used_at: Option<SystemTime>,
}

/// Storage of API keys, behind [`ApiKeys`](crate::ApiKeys). Implemented by
/// [`MemoryApiKeyStore`](crate::MemoryApiKeyStore) and, with feature `postgres`,
/// `PgApiKeyStore`.
pub trait ApiKeyStore: Send + Sync + 'static {
    /// Stores a new key. `false` when the id is taken (the caller generates another key).
    fn insert<'a>(&'a self, record: &'a ApiKeyRecord) -> StoreFuture<'a, bool>;

    /// The key with lookup id `id`.
    fn find<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<ApiKeyRecord>>;

    /// Records a use at `now` unless one was recorded less than `interval` ago (a
    /// conditional write, so replicas do not pile up writes for a busy key).
    fn touch<'a>(&'a self, id: &'a str, now: SystemTime, interval: Duration)
    -> StoreFuture<'a, ()>;

    /// Revokes the key; `false` if unknown or already revoked.
    fn revoke<'a>(&'a self, id: &'a str, now: SystemTime) -> StoreFuture<'a, bool>;

    /// The keys of `subject` (revoked ones included), oldest first.
    fn list<'a>(&'a self, subject: &'a str) -> StoreFuture<'a, Vec<ApiKeyRecord>>;
}

impl<S: ApiKeyStore + ?Sized> ApiKeyStore for std::sync::Arc<S> {
    fn insert<'a>(&'a self, record: &'a ApiKeyRecord) -> StoreFuture<'a, bool> {
        (**self).insert(record)
    }
    fn find<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<ApiKeyRecord>> {
        (**self).find(id)
    }
    fn touch<'a>(
        &'a self,
        id: &'a str,
        now: SystemTime,
        interval: Duration,
    ) -> StoreFuture<'a, ()> {
        (**self).touch(id, now, interval)
    }
    fn revoke<'a>(&'a self, id: &'a str, now: SystemTime) -> StoreFuture<'a, bool> {
        (**self).revoke(id, now)
    }
    fn list<'a>(&'a self, subject: &'a str) -> StoreFuture<'a, Vec<ApiKeyRecord>> {
        (**self).list(subject)
    }
}
