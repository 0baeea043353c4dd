//! [`AsyncPasswordHasher`]: password hashing on tokio's blocking pool, bounded.

use std::sync::Arc;

use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::password::PasswordHasher;

/// Runs [`PasswordHasher`] on tokio's blocking pool behind a semaphore.
///
/// Argon2id at OWASP parameters needs ~19 MiB and ~25 ms of CPU per call. Calling it on an
/// async worker stalls every other request on that worker; spawning it unbounded lets a
/// login flood allocate `19 MiB × concurrent logins`. This type allows at most
/// `max_concurrency` hashes at once (default: the available parallelism, i.e. the core
/// count) and queues the rest in FIFO order, so memory stays below
/// `max_concurrency × m_cost` and the runtime keeps serving.
///
/// A permit is held until the blocking computation finishes, even if the caller's future
/// is dropped (a cancelled request cannot be used to exceed the bound).
///
/// ```
/// use keel_crypto::{Argon2Params, AsyncPasswordHasher, PasswordHasher};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), keel_crypto::Error> {
/// # let hasher = PasswordHasher::new().with_params(Argon2Params::new(64, 1, 1)?);
/// # /*
/// let hasher = PasswordHasher::new();
/// # */
/// let hasher = AsyncPasswordHasher::new(hasher);
/// let phc = hasher.hash("correct horse".to_owned()).await?;
/// assert!(hasher.verify("correct horse".to_owned(), phc).await?);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct AsyncPasswordHasher {
    hasher: Arc<PasswordHasher>,
    permits: Arc<Semaphore>,
    max_concurrency: usize,
}

impl AsyncPasswordHasher {
    /// Wraps `hasher`, allowing as many concurrent hashes as the machine has cores.
    ///
    /// ```
    /// let h = keel_crypto::AsyncPasswordHasher::new(keel_crypto::PasswordHasher::new());
    /// assert!(h.max_concurrency() >= 1);
    /// ```
    #[must_use]
    pub fn new(hasher: PasswordHasher) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Self::with_max_concurrency(hasher, cores)
    }

    /// Wraps `hasher` with an explicit bound (at least 1).
    ///
    /// ```
    /// let h = keel_crypto::AsyncPasswordHasher::with_max_concurrency(keel_crypto::PasswordHasher::new(), 4);
    /// assert_eq!(h.max_concurrency(), 4);
    /// ```
    #[must_use]
    pub fn with_max_concurrency(hasher: PasswordHasher, max_concurrency: usize) -> Self {
        let max_concurrency = max_concurrency.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            hasher: Arc::new(hasher),
            permits: Arc::new(Semaphore::new(max_concurrency)),
            max_concurrency,
        }
    }

    /// The concurrency bound.
    ///
    /// ```
    /// let h = keel_crypto::AsyncPasswordHasher::with_max_concurrency(keel_crypto::PasswordHasher::new(), 0);
    /// assert_eq!(h.max_concurrency(), 1);
    /// ```
    #[must_use]
    pub const fn max_concurrency(&self) -> usize {
        self.max_concurrency
    }

    /// Hashes running right now (for metrics and health).
    ///
    /// ```
    /// let h = keel_crypto::AsyncPasswordHasher::new(keel_crypto::PasswordHasher::new());
    /// assert_eq!(h.in_flight(), 0);
    /// ```
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.max_concurrency - self.permits.available_permits()
    }

    /// The wrapped synchronous hasher (e.g. for [`PasswordHasher::needs_rehash`], which is cheap).
    ///
    /// ```
    /// let h = keel_crypto::AsyncPasswordHasher::new(keel_crypto::PasswordHasher::new());
    /// assert!(h.hasher().needs_rehash("$2b$10$whatever"));
    /// ```
    #[must_use]
    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    /// [`PasswordHasher::hash`] on the blocking pool. The password is zeroized afterwards.
    ///
    /// # Errors
    /// As [`PasswordHasher::hash`]; [`Error::TaskFailed`] if the blocking task panicked or
    /// the runtime is shutting down.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), keel_crypto::Error> {
    /// # let h = keel_crypto::AsyncPasswordHasher::new(keel_crypto::PasswordHasher::new().with_params(keel_crypto::Argon2Params::new(64, 1, 1)?));
    /// let phc = h.hash("pw".to_owned()).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn hash(&self, password: String) -> Result<String> {
        let password = Zeroizing::new(password);
        self.run(move |hasher| hasher.hash(password.as_bytes()))
            .await
    }

    /// [`PasswordHasher::verify`] on the blocking pool.
    ///
    /// # Errors
    /// As [`PasswordHasher::verify`]; [`Error::TaskFailed`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), keel_crypto::Error> {
    /// # let h = keel_crypto::AsyncPasswordHasher::new(keel_crypto::PasswordHasher::new());
    /// assert!(h.verify("pw".to_owned(), "garbage".to_owned()).await.is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn verify(&self, password: String, hash: String) -> Result<bool> {
        let password = Zeroizing::new(password);
        self.run(move |hasher| hasher.verify(password.as_bytes(), &hash))
            .await
    }

    /// [`PasswordHasher::verify_dummy`] on the blocking pool (unknown user names).
    ///
    /// # Errors
    /// [`Error::TaskFailed`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), keel_crypto::Error> {
    /// # let h = keel_crypto::AsyncPasswordHasher::new(keel_crypto::PasswordHasher::new().with_params(keel_crypto::Argon2Params::new(64, 1, 1)?));
    /// assert!(!h.verify_dummy("pw".to_owned()).await?);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn verify_dummy(&self, password: String) -> Result<bool> {
        let password = Zeroizing::new(password);
        self.run(move |hasher| Ok(hasher.verify_dummy(password.as_bytes())))
            .await
    }

    async fn run<T, F>(&self, job: F) -> Result<T>
    where
        F: FnOnce(&PasswordHasher) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| Error::TaskFailed)?;
        let hasher = Arc::clone(&self.hasher);
        tokio::task::spawn_blocking(move || {
            let result = job(&hasher);
            drop(permit);
            result
        })
        .await
        .map_err(|err| {
            tracing::error!(error = %err, "password hashing task failed");
            Error::TaskFailed
        })?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::Argon2Params;

    fn fast() -> PasswordHasher {
        PasswordHasher::new().with_params(Argon2Params::new(64, 1, 1).unwrap())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrency_never_exceeds_the_bound() {
        let hasher = AsyncPasswordHasher::with_max_concurrency(fast(), 2);
        let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for i in 0..16 {
            let h = hasher.clone();
            let peak = Arc::clone(&peak);
            tasks.push(tokio::spawn(async move {
                let h2 = h.clone();
                let phc = h
                    .run(move |inner| {
                        peak.fetch_max(h2.in_flight(), std::sync::atomic::Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(5));
                        inner.hash(format!("pw{i}").as_bytes())
                    })
                    .await
                    .unwrap();
                assert!(h.verify(format!("pw{i}"), phc).await.unwrap());
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let peak = peak.load(std::sync::atomic::Ordering::SeqCst);
        assert!((1..=2).contains(&peak), "peak {peak}");
        assert_eq!(hasher.in_flight(), 0);
    }

    #[tokio::test]
    async fn dropped_future_keeps_the_permit_until_the_work_ends() {
        let hasher = AsyncPasswordHasher::with_max_concurrency(fast(), 1);
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let h = hasher.clone();
        let task = tokio::spawn(async move {
            h.run(move |_| {
                started_tx.send(()).unwrap();
                release_rx.recv().unwrap();
                Ok(())
            })
            .await
        });
        tokio::task::spawn_blocking(move || started_rx.recv().unwrap())
            .await
            .unwrap();
        task.abort();
        assert!(task.await.unwrap_err().is_cancelled());
        assert_eq!(
            hasher.in_flight(),
            1,
            "the blocking work still runs and holds its permit"
        );
        release_tx.send(()).unwrap();
        let phc = hasher.hash("pw".into()).await.unwrap();
        assert_eq!(hasher.in_flight(), 0);
        assert!(hasher.verify("pw".into(), phc).await.unwrap());
    }
}
