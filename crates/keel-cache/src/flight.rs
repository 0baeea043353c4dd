//! Single-flight loads: one load per key in flight, every concurrent miss waits on it, and
//! the load's task answers its waiters however it ends (done, panicked, aborted).

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::cache::Inner;
use crate::clock::duration_nanos;
#[cfg(feature = "redis")]
use crate::entry::{Freshness, Policy};
use crate::error::LoadError;
use crate::stats::bump;
use crate::tier::BoxFut;
#[cfg(feature = "redis")]
use crate::tier::L2Get;
use crate::{CacheKey, CacheStatus, Error, Lookup};

pub(crate) type LoadResult<V> = Result<Option<V>, LoadError>;
pub(crate) type BoxLoader<V> = Box<dyn FnOnce() -> BoxFut<'static, LoadResult<V>> + Send>;
pub(crate) type Outcome<V> = Result<(Option<V>, CacheStatus), Error>;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding this lock can only come from a `Hash`/`Eq` impl of the key;
    // the map itself is still consistent, so keep going.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Boxes a caller's loader into the form a flight runs.
pub(crate) fn boxed<V, F, Fut, E>(loader: F) -> BoxLoader<V>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<Option<V>, E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    V: 'static,
{
    Box::new(move || {
        let fut = loader();
        Box::pin(async move { fut.await.map_err(LoadError::new) }) as BoxFut<'static, _>
    })
}

/// One load in flight for one key; every concurrent miss on the key waits on it.
pub(crate) struct Flight<V> {
    pub(crate) tx: watch::Sender<Option<Outcome<V>>>,
    /// Set by an invalidation of the key while the load runs: its result is handed to the
    /// waiters but not cached.
    pub(crate) invalidated: AtomicBool,
}

impl<V> Flight<V> {
    pub(crate) fn new() -> Self {
        Self {
            tx: watch::Sender::new(None),
            invalidated: AtomicBool::new(false),
        }
    }

    /// Answers the flight's waiters. The first answer is final: after a stale value from
    /// Redis was served, the refresh that follows must not replace it, or a waiter that
    /// is scheduled late (a loaded machine) would get the refreshed value as a `Miss`
    /// instead of the `Stale` answer it was given, depending on timing.
    pub(crate) fn complete(&self, outcome: Outcome<V>) {
        let mut outcome = Some(outcome);
        self.tx.send_if_modified(|v| {
            if v.is_none() {
                *v = outcome.take();
                true
            } else {
                false
            }
        });
    }
}

impl<K, V> Inner<K, V>
where
    K: CacheKey,
    V: Clone + Send + Sync + 'static,
{
    /// Flags the load of `key` in flight, if any: its result will not be cached.
    pub(crate) fn mark_flight(&self, key: &K) {
        if let Some(f) = lock(&self.flights).get(key) {
            f.invalidated.store(true, Ordering::SeqCst);
        }
    }

    /// Runs the loader (with the timeout), recording counts and time.
    pub(crate) async fn run_loader(
        &self,
        loader: BoxLoader<V>,
    ) -> (Result<Option<V>, Error>, Duration) {
        bump(&self.counters.loads);
        let start = Instant::now();
        let fut = loader();
        let res = match self.cfg.load_timeout {
            Some(t) => match tokio::time::timeout(t, fut).await {
                Ok(r) => r.map_err(Error::Load),
                Err(_) => {
                    bump(&self.counters.load_timeouts);
                    Err(Error::LoadTimeout(t))
                }
            },
            None => fut.await.map_err(Error::Load),
        };
        let took = start.elapsed();
        self.counters
            .load_nanos
            .fetch_add(duration_nanos(took), Ordering::Relaxed);
        if res.is_err() {
            bump(&self.counters.load_errors);
        }
        (res, took)
    }
    /// Joins the load in flight for `key`, or starts one in a new task with the loader
    /// `make` gives. Waits for its outcome.
    pub(crate) async fn load_shared(
        self: &Arc<Self>,
        key: K,
        make: impl FnOnce() -> Option<BoxLoader<V>>,
    ) -> Outcome<V> {
        let handle = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let (flight, created) = {
            let mut map = lock(&self.flights);
            match map.get(&key) {
                Some(f) => (Arc::clone(f), false),
                None => {
                    let f = Arc::new(Flight::new());
                    map.insert(key.clone(), Arc::clone(&f));
                    (f, true)
                }
            }
        };
        let mut rx = flight.tx.subscribe();
        if created {
            let loader = make();
            handle.spawn(run_flight(Arc::clone(self), key, flight, loader, false));
        } else {
            bump(&self.counters.coalesced);
            drop(flight);
        }
        match rx.wait_for(Option::is_some).await {
            Ok(outcome) => outcome.clone().unwrap_or(Err(Error::LoadAborted)),
            Err(_) => Err(Error::LoadAborted),
        }
    }

    /// The miss path of `get_or_load`, boxed so the hit path's future stays small.
    pub(crate) fn miss_value(
        self: &Arc<Self>,
        key: K,
        loader: Option<BoxLoader<V>>,
    ) -> BoxFut<'_, Result<Lookup<V>, Error>> {
        Box::pin(async move {
            let mut loader = loader;
            let (value, status) = self.load_shared(key.clone(), || loader.take()).await?;
            if let Some(v) = value {
                return Ok(Lookup::new(v, status));
            }
            // We joined a load started by `get_or_load_optional` that found nothing; ours
            // promises a value, so run our own loader, outside single-flight (a rare mix).
            let Some(loader) = loader.take() else {
                return Err(Error::LoadAborted);
            };
            let gen0 = self.generation.load(Ordering::SeqCst);
            let (value, took) = self.run_loader(loader).await;
            let value = value?;
            if let Some(entry) = self.make_entry(value.clone(), took) {
                self.store_l1(&key, entry, None, gen0).await;
            }
            value
                .map(|v| Lookup::new(v, CacheStatus::Miss))
                .ok_or(Error::LoadAborted)
        })
    }

    /// The miss path of `get_or_load_optional`, boxed like [`Self::miss_value`].
    pub(crate) fn miss_optional(
        self: &Arc<Self>,
        key: K,
        loader: Option<BoxLoader<V>>,
    ) -> BoxFut<'_, Result<Lookup<Option<V>>, Error>> {
        Box::pin(async move {
            let mut loader = loader;
            let (value, status) = self.load_shared(key, || loader.take()).await?;
            Ok(Lookup::new(value, status))
        })
    }

    /// The Redis part of `get`, boxed like [`Self::miss_value`].
    #[cfg(feature = "redis")]
    pub(crate) fn get_l2<'a>(&'a self, key: &'a K) -> BoxFut<'a, Option<V>> {
        Box::pin(async move {
            let l2 = self.l2.as_ref()?;
            if key.key_len() > self.cfg.max_key_len {
                return None;
            }
            let gen0 = self.generation.load(Ordering::SeqCst);
            if let L2Get::Hit(entry) = l2.get(&key.to_key_string()).await
                && matches!(
                    entry.freshness(self.clock.now_nanos(), Policy::default()),
                    Freshness::Fresh | Freshness::FreshRefresh
                )
            {
                let value = entry.value.clone();
                self.store_l1(key, entry, None, gen0).await;
                return value;
            }
            None
        })
    }

    /// Starts a background refresh of `key` unless a load of it is already in flight.
    pub(crate) fn spawn_refresh(self: &Arc<Self>, key: K, loader: BoxLoader<V>) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let flight = {
            let mut map = lock(&self.flights);
            if map.contains_key(&key) {
                return;
            }
            let f = Arc::new(Flight::new());
            map.insert(key.clone(), Arc::clone(&f));
            f
        };
        bump(&self.counters.refreshes);
        handle.spawn(run_flight(
            Arc::clone(self),
            key,
            flight,
            Some(loader),
            true,
        ));
    }
}

/// Removes the flight from the map however the task ends (done, panicked, aborted by a
/// runtime shutdown) and, if it never answered, answers `LoadAborted` so no waiter hangs.
struct FlightGuard<'a, K: CacheKey, V> {
    inner: &'a Inner<K, V>,
    key: &'a K,
    flight: &'a Arc<Flight<V>>,
}

impl<K: CacheKey, V> Drop for FlightGuard<'_, K, V> {
    fn drop(&mut self) {
        {
            let mut map = lock(&self.inner.flights);
            if map
                .get(self.key)
                .is_some_and(|f| Arc::ptr_eq(f, self.flight))
            {
                map.remove(self.key);
            }
        }
        self.flight.complete(Err(Error::LoadAborted));
    }
}

/// The body of a load task: Redis (cold loads), then the loader; caches and answers.
async fn run_flight<K, V>(
    inner: Arc<Inner<K, V>>,
    key: K,
    flight: Arc<Flight<V>>,
    loader: Option<BoxLoader<V>>,
    refresh: bool,
) where
    K: CacheKey,
    V: Clone + Send + Sync + 'static,
{
    let _guard = FlightGuard {
        inner: &inner,
        key: &key,
        flight: &flight,
    };
    let gen0 = inner.generation.load(Ordering::SeqCst);
    #[cfg(feature = "redis")]
    let key_str = inner.l2.as_ref().map(|_| key.to_key_string());
    #[cfg(feature = "redis")]
    let mut served_stale = false;
    #[cfg(feature = "redis")]
    if !refresh
        && let (Some(l2), Some(ks)) = (&inner.l2, &key_str)
        && let L2Get::Hit(entry) = l2.get(ks).await
    {
        {
            match entry.freshness(inner.clock.now_nanos(), Policy::default()) {
                Freshness::Fresh | Freshness::FreshRefresh => {
                    let value = entry.value.clone();
                    inner.store_l1(&key, entry, Some(&flight), gen0).await;
                    flight.complete(Ok((value, CacheStatus::Hit)));
                    return;
                }
                Freshness::Stale => {
                    // Serve the stale copy now; the loader below is its refresh.
                    let value = entry.value.clone();
                    inner.store_l1(&key, entry, Some(&flight), gen0).await;
                    // Counted as a memory miss (and an L2 hit), not as a stale hit.
                    bump(&inner.counters.refreshes);
                    flight.complete(Ok((value, CacheStatus::Stale)));
                    served_stale = true;
                }
                Freshness::Expired => {}
            }
        }
    }
    let Some(loader) = loader else {
        flight.complete(Err(Error::LoadAborted));
        return;
    };
    let (res, took) = inner.run_loader(loader).await;
    match res {
        Ok(value) => {
            let entry = inner.make_entry(value.clone(), took);
            #[cfg(feature = "redis")]
            let l2_entry = match (&inner.l2, &entry) {
                (Some(_), Some(e)) => Some(e.clone()),
                _ => None,
            };
            let stored = match entry {
                Some(e) => inner.store_l1(&key, e, Some(&flight), gen0).await,
                None => false,
            };
            // Write through before answering, so a caller that got its value can rely on
            // other replicas finding it in Redis (one round trip, bounded by op_timeout).
            #[cfg(feature = "redis")]
            if stored && let (Some(l2), Some(ks), Some(e)) = (&inner.l2, &key_str, l2_entry) {
                l2.set(ks, &e, false).await;
                // An invalidation during the write must not leave our value behind.
                if flight.invalidated.load(Ordering::SeqCst)
                    || inner.generation.load(Ordering::SeqCst) != gen0
                {
                    l2.delete(ks, false).await;
                }
            }
            #[cfg(not(feature = "redis"))]
            let _ = stored;
            flight.complete(Ok((value, CacheStatus::Miss)));
        }
        Err(e) => {
            if refresh {
                bump(&inner.counters.refresh_errors);
                tracing::warn!(cache = %inner.name, error = %e, "background refresh failed; keeping the stale value");
            } else {
                tracing::debug!(cache = %inner.name, error = %e, "cache load failed");
            }
            #[cfg(feature = "redis")]
            if served_stale {
                bump(&inner.counters.refresh_errors);
                return;
            }
            flight.complete(Err(e));
        }
    }
}
