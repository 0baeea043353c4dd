//! [`Revocations`]: cached revocation checks in front of a [`TokenVersions`] store.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{RevocationState, TokenVersions};
use crate::token::{Claims, MAX_ID_LEN};
use crate::{Clock, Error, Result};

/// Default time a looked-up [`RevocationState`] is trusted in memory: 500 ms, so a bump made
/// on another replica is seen within a second even without a shared cache.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_millis(500);
/// Default bound on the subjects held in the in-memory cache.
pub const DEFAULT_CACHE_CAPACITY: usize = 100_000;

/// Revocation checks for access tokens: the subject's token version (`ver`) and revoked
/// sessions (`sid`), looked up in a [`TokenVersions`] store through a short-lived cache so a
/// request costs a memory read.
///
/// **Staleness bound.** A revocation made through *this* `Revocations` (or a clone) takes
/// effect immediately here. On other replicas it takes effect when their cached entry
/// expires — within the cache TTL (default [`DEFAULT_CACHE_TTL`], 500 ms) plus one store
/// round trip — or at once with the `cache` feature and a shared
/// [`keel_cache::Cache`] with a Redis tier ([`RevocationsBuilder::shared_cache`]), whose
/// invalidations are broadcast to every replica.
///
/// A store failure on a cache miss is [`Error::Store`] (503): the check fails closed.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> keel_auth::Result<()> {
/// use keel_auth::{MemoryTokenVersions, Revocations};
/// use keel_auth::token::Claims;
///
/// let revocations = Revocations::new(MemoryTokenVersions::new());
/// let mut claims = Claims::<()>::new("user-1");
/// claims.ver = revocations.current_version("user-1").await?;
/// assert!(revocations.check(&claims).await.is_ok());
///
/// revocations.revoke_all("user-1").await?; // log out everywhere
/// assert!(revocations.check(&claims).await.is_err());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Revocations {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn TokenVersions>,
    tier: Tier,
    clock: Clock,
}

enum Tier {
    Local(LocalCache),
    #[cfg(feature = "cache")]
    Shared(keel_cache::Cache<String, RevocationState>),
}

impl fmt::Debug for Revocations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tier = match &self.inner.tier {
            Tier::Local(l) => format!("local(ttl={:?})", Duration::from_nanos(l.ttl_nanos)),
            #[cfg(feature = "cache")]
            Tier::Shared(c) => format!("shared({})", c.name()),
        };
        f.debug_struct("Revocations")
            .field("store", &self.inner.store)
            .field("cache", &tier)
            .finish_non_exhaustive()
    }
}

impl Revocations {
    /// Revocation checks over `store` with the default in-memory cache.
    pub fn new(store: impl TokenVersions) -> Self {
        Self::builder(store).build()
    }

    /// Starts configuring revocation checks over `store`.
    pub fn builder(store: impl TokenVersions) -> RevocationsBuilder {
        RevocationsBuilder {
            store: Arc::new(store),
            ttl: DEFAULT_CACHE_TTL,
            capacity: DEFAULT_CACHE_CAPACITY,
            clock: Clock::system(),
            #[cfg(feature = "cache")]
            shared: None,
        }
    }

    /// `Ok` when a token with `claims` is not revoked.
    ///
    /// # Errors
    /// [`Error::InvalidToken`] when it is revoked (reason logged at `debug`);
    /// [`Error::Store`] when the lookup missed the cache and the store failed.
    pub async fn check<C>(&self, claims: &Claims<C>) -> Result<()> {
        let state = self.state(&claims.sub).await?;
        if state.allows(claims) {
            Ok(())
        } else {
            tracing::debug!(reason = "revoked", "rejected access token");
            Err(Error::InvalidToken)
        }
    }

    /// The subject's revocation state, from the cache or the store.
    ///
    /// # Errors
    /// [`Error::Store`] when the store fails; [`Error::InvalidInput`] for an over-long subject.
    pub async fn state(&self, subject: &str) -> Result<Arc<RevocationState>> {
        if subject.len() > MAX_ID_LEN {
            return Err(Error::InvalidInput("subject must be 1-256 bytes"));
        }
        match &self.inner.tier {
            Tier::Local(cache) => {
                let now = self.now_nanos();
                if let Some(state) = cache.get(subject, now) {
                    return Ok(state);
                }
                let generation = cache.generation();
                let state = Arc::new(
                    self.inner
                        .store
                        .get(subject, self.inner.clock.now())
                        .await?,
                );
                cache.insert(subject, Arc::clone(&state), now, generation);
                Ok(state)
            }
            #[cfg(feature = "cache")]
            Tier::Shared(cache) => {
                let store = Arc::clone(&self.inner.store);
                let (owned, now) = (subject.to_owned(), self.inner.clock.now());
                let lookup = cache
                    .get_or_load(subject.to_owned(), move || async move {
                        store.get(&owned, now).await
                    })
                    .await;
                match lookup {
                    Ok(lookup) => Ok(Arc::new(lookup.into_value())),
                    // A cache configured with short keys cannot hold this subject: ask the
                    // store (correct, just uncached) rather than failing the request.
                    Err(keel_cache::Error::KeyTooLong { .. }) => {
                        Ok(Arc::new(self.inner.store.get(subject, now).await?))
                    }
                    Err(e) => Err(shared_cache_error(e)),
                }
            }
        }
    }

    /// The subject's current token version: what to put in `ver` when issuing.
    ///
    /// # Errors
    /// As [`state`](Self::state).
    pub async fn current_version(&self, subject: &str) -> Result<u64> {
        Ok(self.state(subject).await?.version())
    }

    /// Revokes every token of `subject` issued so far (log out everywhere, password change,
    /// demotion, deletion) and returns the new version. Takes effect here at once, on other
    /// replicas within the staleness bound.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an empty or over-long subject; [`Error::Store`].
    pub async fn revoke_all(&self, subject: &str) -> Result<u64> {
        crate::store::check_subject(subject)?;
        let version = self.inner.store.bump(subject, self.inner.clock.now()).await;
        // Invalidate even when the store failed: the write may have happened.
        self.invalidate(subject).await;
        let version = version?;
        tracing::info!(version, "access tokens of a subject revoked");
        Ok(version)
    }

    /// Revokes the access tokens of session `sid` of `subject` for `lifetime` (the
    /// access-token lifetime plus leeway: after that they have expired anyway).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an empty or over-long subject or session id;
    /// [`Error::Store`].
    pub async fn revoke_session(&self, subject: &str, sid: &str, lifetime: Duration) -> Result<()> {
        crate::store::check_subject(subject)?;
        if sid.is_empty() || sid.len() > MAX_ID_LEN {
            return Err(Error::InvalidInput("session id must be 1-256 bytes"));
        }
        let now = self.inner.clock.now();
        let until = now.checked_add(lifetime).unwrap_or(now);
        let result = self
            .inner
            .store
            .revoke_session(subject, sid, until, now)
            .await;
        self.invalidate(subject).await;
        result?;
        tracing::info!("access tokens of a session revoked");
        Ok(())
    }

    /// Drops the cached state of `subject` (here, and with a shared cache on every replica).
    /// Call it after changing the store directly.
    pub async fn invalidate(&self, subject: &str) {
        match &self.inner.tier {
            Tier::Local(cache) => cache.invalidate(subject),
            #[cfg(feature = "cache")]
            Tier::Shared(cache) => cache.invalidate(&subject.to_owned()).await,
        }
    }

    /// The underlying store.
    #[must_use]
    pub fn store(&self) -> &Arc<dyn TokenVersions> {
        &self.inner.store
    }

    fn now_nanos(&self) -> u64 {
        nanos_since_epoch(self.inner.clock.now())
    }
}

#[cfg(feature = "cache")]
fn shared_cache_error(e: keel_cache::Error) -> Error {
    // A loader error is the store's (already logged by it); anything else is the cache's.
    Error::store(e)
}

fn nanos_since_epoch(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Configures [`Revocations`].
#[must_use]
pub struct RevocationsBuilder {
    store: Arc<dyn TokenVersions>,
    ttl: Duration,
    capacity: usize,
    clock: Clock,
    #[cfg(feature = "cache")]
    shared: Option<keel_cache::Cache<String, RevocationState>>,
}

impl fmt::Debug for RevocationsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevocationsBuilder")
            .field("store", &self.store)
            .field("ttl", &self.ttl)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl RevocationsBuilder {
    /// How long a looked-up state is trusted by the in-memory cache (default 500 ms). This
    /// is the staleness bound across replicas without a shared cache; zero disables caching
    /// (every request queries the store).
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Bound on subjects in the in-memory cache (default 100 000).
    pub fn cache_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// The clock (default: system; [`Clock::manual`] in tests).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Uses a keel-cache [`Cache`](keel_cache::Cache) instead of the built-in memory cache:
    /// with its Redis tier ([`keel_cache::CacheBuilder::build_with_redis`]), a revocation on
    /// one replica invalidates the entry on every replica at once (Pub/Sub), and misses are
    /// served from Redis before the store. Its TTL is then the bound for changes made
    /// *around* keel-auth (directly in the store); give it a short one (a few seconds).
    /// [`cache_ttl`](Self::cache_ttl) and [`cache_capacity`](Self::cache_capacity) do not
    /// apply.
    #[cfg(feature = "cache")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cache")))]
    pub fn shared_cache(mut self, cache: keel_cache::Cache<String, RevocationState>) -> Self {
        self.shared = Some(cache);
        self
    }

    /// Builds the revocation checks.
    pub fn build(self) -> Revocations {
        let local = || {
            Tier::Local(LocalCache::new(
                u64::try_from(self.ttl.as_nanos()).unwrap_or(u64::MAX),
                self.capacity,
            ))
        };
        #[cfg(feature = "cache")]
        let tier = match self.shared {
            Some(cache) => Tier::Shared(cache),
            None => local(),
        };
        #[cfg(not(feature = "cache"))]
        let tier = local();
        Revocations {
            inner: Arc::new(Inner {
                store: self.store,
                tier,
                clock: self.clock,
            }),
        }
    }
}

/// A cached state and when it was fetched (nanoseconds since the epoch).
type Cached = (Arc<RevocationState>, u64);

/// A bounded map of subject → state with a fixed TTL. Reads take a shared lock; an
/// invalidation bumps a generation so a lookup that raced with it does not cache its
/// (possibly older) answer.
struct LocalCache {
    map: RwLock<HashMap<Box<str>, Cached>>,
    ttl_nanos: u64,
    capacity: usize,
    generation: AtomicU64,
}

impl LocalCache {
    fn new(ttl_nanos: u64, capacity: usize) -> Self {
        Self {
            map: RwLock::new(HashMap::new()),
            ttl_nanos,
            capacity,
            generation: AtomicU64::new(0),
        }
    }

    fn get(&self, subject: &str, now: u64) -> Option<Arc<RevocationState>> {
        let map = self
            .map
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (state, fetched) = map.get(subject)?;
        (now.saturating_sub(*fetched) < self.ttl_nanos && now >= *fetched)
            .then(|| Arc::clone(state))
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn insert(&self, subject: &str, state: Arc<RevocationState>, now: u64, generation: u64) {
        if self.ttl_nanos == 0 || self.capacity == 0 {
            return;
        }
        let mut map = self
            .map
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Checked under the write lock, which `invalidate` also takes: no invalidation can
        // slip between this check and the insert.
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if map.len() >= self.capacity && !map.contains_key(subject) {
            let ttl = self.ttl_nanos;
            map.retain(|_, (_, fetched)| now.saturating_sub(*fetched) < ttl);
            if map.len() >= self.capacity {
                // Every entry is fresh: drop them all rather than scan for a victim on every
                // insert. Entries are a TTL's worth of store lookups; refilling is cheap.
                map.clear();
            }
        }
        map.insert(subject.into(), (state, now));
    }

    fn invalidate(&self, subject: &str) {
        let mut map = self
            .map
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        map.remove(subject);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryTokenVersions;

    #[test]
    fn local_cache_expires_bounds_and_respects_invalidation() {
        let c = LocalCache::new(100, 2);
        let s = |v| Arc::new(RevocationState::new(v, Vec::<String>::new()));
        let g = c.generation();
        c.insert("a", s(1), 1_000, g);
        assert_eq!(c.get("a", 1_099).map(|s| s.version()), Some(1));
        assert!(c.get("a", 1_100).is_none());
        // A load that started before an invalidation is not cached.
        let g = c.generation();
        c.invalidate("b");
        c.insert("b", s(2), 1_000, g);
        assert!(c.get("b", 1_000).is_none());
        // Capacity: stale entries go first, then everything.
        let g = c.generation();
        c.insert("b", s(2), 1_050, g);
        c.insert("c", s(3), 1_200, g); // "a" and "b" are stale at 1_200
        assert!(c.get("c", 1_200).is_some());
        c.insert("d", s(4), 1_200, g);
        c.insert("e", s(5), 1_200, g); // full of fresh entries: cleared
        assert!(c.get("c", 1_200).is_none());
        assert!(c.get("e", 1_200).is_some());
    }

    #[tokio::test]
    async fn other_replicas_see_a_bump_within_the_ttl() {
        let store = Arc::new(MemoryTokenVersions::new());
        let clock = Clock::manual();
        let replica = |clock: &Clock| {
            Revocations::builder(SharedStore(Arc::clone(&store)))
                .clock(clock.clone())
                .build()
        };
        let (a, b) = (replica(&clock), replica(&clock));
        let claims = Claims::<()>::new("u");
        b.check(&claims).await.unwrap(); // cached on b
        a.revoke_all("u").await.unwrap();
        assert!(
            a.check(&claims).await.is_err(),
            "immediate on the revoking replica"
        );
        clock.advance(DEFAULT_CACHE_TTL - Duration::from_millis(1));
        assert!(b.check(&claims).await.is_ok(), "b still trusts its cache");
        clock.advance(Duration::from_millis(1));
        assert!(
            b.check(&claims).await.is_err(),
            "b sees the bump once its entry expired"
        );
    }

    #[cfg(feature = "cache")]
    #[tokio::test]
    async fn shared_cache_serves_and_invalidates_and_falls_back_for_long_subjects() {
        let cache = keel_cache::Cache::builder("token-versions")
            .ttl(Duration::from_secs(60))
            .max_key_len(16)
            .build();
        let r = Revocations::builder(MemoryTokenVersions::new())
            .shared_cache(cache.clone())
            .build();
        for subject in ["short", "a-subject-longer-than-sixteen-bytes"] {
            let claims = Claims::<()>::new(subject);
            r.check(&claims).await.unwrap();
            r.revoke_all(subject).await.unwrap();
            assert!(r.check(&claims).await.is_err(), "{subject}");
            assert_eq!(r.current_version(subject).await.unwrap(), 1);
        }
        assert!(cache.contains_local(&"short".to_owned()));
    }

    /// Two replicas sharing one memory store.
    #[derive(Debug)]
    struct SharedStore(Arc<MemoryTokenVersions>);

    impl TokenVersions for SharedStore {
        fn get<'a>(
            &'a self,
            s: &'a str,
            now: SystemTime,
        ) -> crate::store::StoreFuture<'a, RevocationState> {
            self.0.get(s, now)
        }
        fn bump<'a>(&'a self, s: &'a str, now: SystemTime) -> crate::store::StoreFuture<'a, u64> {
            self.0.bump(s, now)
        }
        fn revoke_session<'a>(
            &'a self,
            s: &'a str,
            sid: &'a str,
            until: SystemTime,
            now: SystemTime,
        ) -> crate::store::StoreFuture<'a, ()> {
            self.0.revoke_session(s, sid, until, now)
        }
    }
}
