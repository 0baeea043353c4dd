//! [`PasswordAdmission`]: a bounded, prioritised queue in front of password hashing.
//!
//! Argon2id is expensive on purpose (~25 ms of CPU and 19 MiB per call at OWASP
//! parameters), so the password-hash pool is the easiest thing in a service to flood.
//! keel-crypto's [`AsyncPasswordHasher`] already bounds how many hashes *run* at once, but
//! its queue is unbounded and first-come-first-served: a flood of signups (every one a
//! hash) delays every login behind it for as long as the flood lasts.
//!
//! [`PasswordAdmission`] puts admission control in front of it:
//!
//! - at most [`concurrency`](PasswordAdmissionBuilder::concurrency) hashes run at once —
//!   with [`PasswordAdmission::new`] **one fewer than the machine's cores**
//!   ([`default_concurrency`]), so a login flood never takes every core from the async
//!   workers that answer health probes and cheap requests — and
//!   at most [`signup_concurrency`](PasswordAdmissionBuilder::signup_concurrency) of them
//!   hash new passwords ([`HashPurpose::Signup`]) — the rest of the slots are **reserved
//!   for logins**, whatever the signup load;
//! - waiting logins are served before waiting signups;
//! - each purpose has its own **bounded** wait queue; a request that finds its queue full,
//!   or that waits longer than [`max_wait`](PasswordAdmissionBuilder::max_wait), fails at
//!   once with [`Error::Overloaded`] (map it to `503 Service Unavailable` with
//!   `Retry-After`), instead of piling up memory and latency;
//! - a slot stays taken until the hash has finished, even when the caller's future is
//!   dropped (a client that disconnects cannot be used to exceed the bound).
//!
//! ```
//! use keel_auth::admission::{HashPurpose, PasswordAdmission};
//! use keel_crypto::{Argon2Params, AsyncPasswordHasher, PasswordHasher};
//! use secrecy::SecretString;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), keel_auth::Error> {
//! # let hasher = PasswordHasher::new().with_params(Argon2Params::new(64, 1, 1)?);
//! # /*
//! let hasher = PasswordHasher::new(); // Argon2id, OWASP parameters
//! # */
//! let admission = PasswordAdmission::builder(AsyncPasswordHasher::with_max_concurrency(hasher, 4))
//!     .signup_concurrency(2) // two of the four slots at most for signups
//!     .build()?;
//!
//! let password = SecretString::from("correct horse battery staple");
//! let phc = admission.hash(HashPurpose::Signup, &password).await?;
//! assert!(admission.verify(&password, &phc).await?);
//! // Unknown account: one dummy verification, same answer, same time.
//! assert!(!admission.verify_or_dummy(&password, None).await?);
//! # Ok(())
//! # }
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use keel_crypto::AsyncPasswordHasher;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::oneshot;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Default bound on logins waiting for a hash slot.
const DEFAULT_LOGIN_QUEUE: usize = 64;
/// Default bound on signups waiting for a hash slot.
const DEFAULT_SIGNUP_QUEUE: usize = 8;
/// Default longest wait for a slot.
const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(5);
/// Default `Retry-After` of an [`Error::Overloaded`].
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The default number of concurrent hashes over a hasher bounded to `hasher_max`, on a
/// machine with `cores` cores: `hasher_max`, but at most `cores - 1` (at least 1).
///
/// Argon2id keeps a core busy for its whole run (~25 ms at OWASP parameters). With as
/// many hashes as cores, a login flood leaves the Tokio workers no core of their own: on
/// a 2-core machine a liveness probe's p99 rose from ~5 ms to 10–20 ms under login
/// saturation. One core fewer costs a share of peak login throughput and keeps the rest
/// of the service responsive. [`PasswordAdmission::new`] uses it; with the builder, set
/// [`PasswordAdmissionBuilder::concurrency`] (up to the hasher's bound).
///
/// ```
/// use keel_auth::admission::default_concurrency;
/// assert_eq!(default_concurrency(2, 2), 1);
/// assert_eq!(default_concurrency(8, 8), 7);
/// assert_eq!(default_concurrency(2, 8), 2);
/// assert_eq!(default_concurrency(4, 1), 1);
/// ```
#[must_use]
pub const fn default_concurrency(hasher_max: usize, cores: usize) -> usize {
    let reserve_one = cores.saturating_sub(1);
    let n = if hasher_max < reserve_one {
        hasher_max
    } else {
        reserve_one
    };
    if n == 0 { 1 } else { n }
}

/// [`default_concurrency`] on this machine.
fn machine_default(hasher_max: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    default_concurrency(hasher_max, cores)
}

/// What a password hash is for: decides which slots and which queue it may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashPurpose {
    /// Verifying a password someone is logging in with (including the dummy verification
    /// of an unknown account, and re-authentication before a sensitive change). May use
    /// every slot, and is served first.
    Login,
    /// Hashing a new password: signup, password change or reset, and the opportunistic
    /// rehash after a login with outdated parameters. May use at most
    /// [`signup_concurrency`](PasswordAdmissionBuilder::signup_concurrency) slots, and
    /// waits while logins wait.
    Signup,
}

impl HashPurpose {
    const fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Signup => "signup",
        }
    }
}

/// Counters and gauges of a [`PasswordAdmission`], e.g. for metrics.
///
/// ```
/// # let admission = keel_auth::admission::PasswordAdmission::new(
/// #     keel_crypto::AsyncPasswordHasher::new(keel_crypto::PasswordHasher::new()));
/// let s = admission.stats();
/// assert_eq!((s.running, s.waiting_logins, s.shed_signups), (0, 0, 0));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AdmissionStats {
    /// Hashes running now (holding a slot).
    pub running: usize,
    /// Of which for [`HashPurpose::Signup`].
    pub running_signups: usize,
    /// Logins waiting for a slot.
    pub waiting_logins: usize,
    /// Signups waiting for a slot.
    pub waiting_signups: usize,
    /// Logins refused with [`Error::Overloaded`] since the admission was built.
    pub shed_logins: u64,
    /// Signups refused with [`Error::Overloaded`] since the admission was built.
    pub shed_signups: u64,
}

/// Builder of a [`PasswordAdmission`]; see the [module docs](self) for what each bound does.
///
/// ```
/// use std::time::Duration;
/// use keel_auth::admission::PasswordAdmission;
/// use keel_crypto::{AsyncPasswordHasher, PasswordHasher};
///
/// let admission = PasswordAdmission::builder(AsyncPasswordHasher::with_max_concurrency(PasswordHasher::new(), 8))
///     .concurrency(8)
///     .signup_concurrency(3)
///     .login_queue(128)
///     .signup_queue(16)
///     .max_wait(Duration::from_secs(3))
///     .retry_after(Duration::from_secs(2))
///     .build()?;
/// assert_eq!(admission.concurrency(), 8);
/// # Ok::<(), keel_auth::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct PasswordAdmissionBuilder {
    hasher: AsyncPasswordHasher,
    concurrency: Option<usize>,
    signup_concurrency: Option<usize>,
    login_queue: usize,
    signup_queue: usize,
    max_wait: Duration,
    retry_after: Duration,
}

impl PasswordAdmissionBuilder {
    /// How many hashes may run at once (default and maximum: the hasher's own
    /// [`max_concurrency`](AsyncPasswordHasher::max_concurrency), normally the core count;
    /// [`PasswordAdmission::new`] takes [`default_concurrency`], one fewer than the cores,
    /// and `.concurrency(default_concurrency(max, cores))` does the same here).
    /// A larger value would let the hasher's unprioritised queue decide the order again,
    /// so [`build`](Self::build) rejects it.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = Some(n);
        self
    }

    /// How many of those may hash new passwords (default: half, at least one). Must be
    /// below [`concurrency`](Self::concurrency) so that logins keep at least one slot of
    /// their own — except with a single slot, where logins still go first in the queue.
    pub fn signup_concurrency(mut self, n: usize) -> Self {
        self.signup_concurrency = Some(n);
        self
    }

    /// How many logins may wait for a slot (default 64); more are refused at once.
    pub const fn login_queue(mut self, n: usize) -> Self {
        self.login_queue = n;
        self
    }

    /// How many signups may wait for a slot (default 8); more are refused at once.
    pub const fn signup_queue(mut self, n: usize) -> Self {
        self.signup_queue = n;
        self
    }

    /// The longest a request waits for a slot before it is refused (default 5 s). Keep it
    /// below the service's request timeout.
    pub const fn max_wait(mut self, wait: Duration) -> Self {
        self.max_wait = wait;
        self
    }

    /// The `retry_after` of the [`Error::Overloaded`] it answers (default 1 s).
    pub const fn retry_after(mut self, after: Duration) -> Self {
        self.retry_after = after;
        self
    }

    /// Builds the admission.
    ///
    /// # Errors
    /// [`Error::Config`] for a zero concurrency, a concurrency above the hasher's, or a
    /// signup concurrency that leaves logins no slot of their own.
    ///
    /// ```
    /// use keel_auth::admission::PasswordAdmission;
    /// use keel_crypto::{AsyncPasswordHasher, PasswordHasher};
    /// let h = AsyncPasswordHasher::with_max_concurrency(PasswordHasher::new(), 4);
    /// assert!(PasswordAdmission::builder(h.clone()).signup_concurrency(4).build().is_err());
    /// assert!(PasswordAdmission::builder(h).concurrency(5).build().is_err());
    /// ```
    pub fn build(self) -> Result<PasswordAdmission> {
        let hasher_max = self.hasher.max_concurrency();
        let total = self.concurrency.unwrap_or(hasher_max);
        if total == 0 {
            return Err(Error::Config("hash concurrency must be at least 1".into()));
        }
        if total > hasher_max {
            return Err(Error::Config(format!(
                "hash concurrency {total} exceeds the hasher's max_concurrency {hasher_max}"
            )));
        }
        let signup_cap = self.signup_concurrency.unwrap_or((total / 2).max(1));
        if signup_cap == 0 {
            return Err(Error::Config(
                "signup hash concurrency must be at least 1".into(),
            ));
        }
        if total > 1 && signup_cap >= total {
            return Err(Error::Config(format!(
                "signup hash concurrency {signup_cap} must be below the concurrency {total}, \
                 or signups can take every slot"
            )));
        }
        Ok(PasswordAdmission {
            inner: Arc::new(Inner {
                hasher: self.hasher,
                total,
                signup_cap: signup_cap.min(total),
                login_queue: self.login_queue,
                signup_queue: self.signup_queue,
                max_wait: self.max_wait,
                retry_after: self.retry_after,
                state: Mutex::new(State::default()),
                shed_logins: AtomicU64::new(0),
                shed_signups: AtomicU64::new(0),
            }),
        })
    }
}

/// Admission control for password hashing: a fixed number of concurrent hashes, slots
/// reserved for logins, bounded wait queues, [`Error::Overloaded`] when full. See the
/// [module docs](self).
///
/// Route **every** hash of the service through one `PasswordAdmission` (it is cheap to
/// clone): work that calls the wrapped [`AsyncPasswordHasher`] directly bypasses the
/// priorities.
#[derive(Clone)]
pub struct PasswordAdmission {
    inner: Arc<Inner>,
}

struct Inner {
    hasher: AsyncPasswordHasher,
    total: usize,
    signup_cap: usize,
    login_queue: usize,
    signup_queue: usize,
    max_wait: Duration,
    retry_after: Duration,
    state: Mutex<State>,
    shed_logins: AtomicU64,
    shed_signups: AtomicU64,
}

#[derive(Default)]
struct State {
    running: usize,
    running_signups: usize,
    next_id: u64,
    logins: VecDeque<Waiter>,
    signups: VecDeque<Waiter>,
}

struct Waiter {
    id: u64,
    wake: oneshot::Sender<()>,
}

impl fmt::Debug for PasswordAdmission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordAdmission")
            .field("concurrency", &self.inner.total)
            .field("signup_concurrency", &self.inner.signup_cap)
            .field("login_queue", &self.inner.login_queue)
            .field("signup_queue", &self.inner.signup_queue)
            .field("max_wait", &self.inner.max_wait)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl PasswordAdmission {
    /// An admission with the default bounds over `hasher`: [`default_concurrency`] hashes
    /// at once (one fewer than the cores), half of them at most for signups.
    ///
    /// ```
    /// use keel_auth::admission::{PasswordAdmission, default_concurrency};
    /// use keel_crypto::{AsyncPasswordHasher, PasswordHasher};
    /// let a = PasswordAdmission::new(AsyncPasswordHasher::with_max_concurrency(PasswordHasher::new(), 4));
    /// let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    /// assert_eq!(a.concurrency(), default_concurrency(4, cores));
    /// assert_eq!(a.signup_concurrency(), (a.concurrency() / 2).max(1));
    /// ```
    #[must_use]
    pub fn new(hasher: AsyncPasswordHasher) -> Self {
        let total = machine_default(hasher.max_concurrency().max(1));
        Self {
            inner: Arc::new(Inner {
                hasher,
                total,
                signup_cap: (total / 2).max(1),
                login_queue: DEFAULT_LOGIN_QUEUE,
                signup_queue: DEFAULT_SIGNUP_QUEUE,
                max_wait: DEFAULT_MAX_WAIT,
                retry_after: DEFAULT_RETRY_AFTER,
                state: Mutex::new(State::default()),
                shed_logins: AtomicU64::new(0),
                shed_signups: AtomicU64::new(0),
            }),
        }
    }

    /// A builder over `hasher`.
    pub fn builder(hasher: AsyncPasswordHasher) -> PasswordAdmissionBuilder {
        PasswordAdmissionBuilder {
            hasher,
            concurrency: None,
            signup_concurrency: None,
            login_queue: DEFAULT_LOGIN_QUEUE,
            signup_queue: DEFAULT_SIGNUP_QUEUE,
            max_wait: DEFAULT_MAX_WAIT,
            retry_after: DEFAULT_RETRY_AFTER,
        }
    }

    /// How many hashes may run at once.
    #[must_use]
    pub fn concurrency(&self) -> usize {
        self.inner.total
    }

    /// How many of them may be [`HashPurpose::Signup`] hashes.
    #[must_use]
    pub fn signup_concurrency(&self) -> usize {
        self.inner.signup_cap
    }

    /// The wrapped hasher (for [`PasswordHasher::needs_rehash`](keel_crypto::PasswordHasher::needs_rehash)
    /// and the like; hash through the admission, not through it).
    #[must_use]
    pub fn hasher(&self) -> &AsyncPasswordHasher {
        &self.inner.hasher
    }

    /// Whether a stored hash should be upgraded (cheap: parses the PHC string, no hashing).
    ///
    /// ```
    /// # let a = keel_auth::admission::PasswordAdmission::new(
    /// #     keel_crypto::AsyncPasswordHasher::new(keel_crypto::PasswordHasher::new()));
    /// assert!(a.needs_rehash("$2b$10$legacy-bcrypt-hash"));
    /// ```
    #[must_use]
    pub fn needs_rehash(&self, phc: &str) -> bool {
        self.inner.hasher.hasher().needs_rehash(phc)
    }

    /// Current counters.
    #[must_use]
    pub fn stats(&self) -> AdmissionStats {
        let state = self.inner.lock();
        AdmissionStats {
            running: state.running,
            running_signups: state.running_signups,
            waiting_logins: state.logins.len(),
            waiting_signups: state.signups.len(),
            shed_logins: self.inner.shed_logins.load(Ordering::Relaxed),
            shed_signups: self.inner.shed_signups.load(Ordering::Relaxed),
        }
    }

    /// Hashes a new password (Argon2id PHC string) under `purpose` — normally
    /// [`HashPurpose::Signup`].
    ///
    /// # Errors
    /// [`Error::Overloaded`] when the queue for `purpose` is full or the wait exceeds
    /// `max_wait`; [`Error::Crypto`] when hashing fails.
    pub async fn hash(&self, purpose: HashPurpose, password: &SecretString) -> Result<String> {
        let mut password = Zeroizing::new(password.expose_secret().to_owned());
        self.run(purpose, move |h| async move {
            h.hash(std::mem::take(&mut *password)).await
        })
        .await
    }

    /// Verifies a login password against a stored PHC string ([`HashPurpose::Login`]).
    ///
    /// # Errors
    /// [`Error::Overloaded`]; [`Error::Crypto`] for an unreadable stored hash.
    pub async fn verify(&self, password: &SecretString, phc: &str) -> Result<bool> {
        let mut password = Zeroizing::new(password.expose_secret().to_owned());
        let phc = phc.to_owned();
        self.run(HashPurpose::Login, move |h| async move {
            h.verify(std::mem::take(&mut *password), phc).await
        })
        .await
    }

    /// Spends exactly one verification and answers `false`: the unknown-account path of a
    /// login ([`HashPurpose::Login`]).
    ///
    /// # Errors
    /// [`Error::Overloaded`]; [`Error::Crypto`] when the blocking task fails.
    pub async fn verify_dummy(&self, password: &SecretString) -> Result<bool> {
        let mut password = Zeroizing::new(password.expose_secret().to_owned());
        self.run(HashPurpose::Login, move |h| async move {
            h.verify_dummy(std::mem::take(&mut *password))
                .await
                .map(|_| false)
        })
        .await
    }

    /// The login helper: verifies against the account's stored hash, or — when there is
    /// no such account — spends one dummy verification and answers `false`. Either way
    /// the caller does one hash of work and gets one kind of answer, so neither the
    /// response nor its timing tells which e-mail addresses have accounts.
    ///
    /// # Errors
    /// As [`verify`](Self::verify).
    ///
    /// ```
    /// # use keel_auth::admission::PasswordAdmission;
    /// # use keel_crypto::{Argon2Params, AsyncPasswordHasher, PasswordHasher};
    /// # use secrecy::SecretString;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), keel_auth::Error> {
    /// # let admission = PasswordAdmission::new(AsyncPasswordHasher::new(
    /// #     PasswordHasher::new().with_params(Argon2Params::new(64, 1, 1)?)));
    /// let password = SecretString::from("hunter2");
    /// let stored: Option<String> = None; // the repository found no account
    /// assert!(!admission.verify_or_dummy(&password, stored.as_deref()).await?);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn verify_or_dummy(
        &self,
        password: &SecretString,
        phc: Option<&str>,
    ) -> Result<bool> {
        match phc {
            Some(phc) => self.verify(password, phc).await,
            None => self.verify_dummy(password).await,
        }
    }

    /// Waits for a slot for `purpose` and returns it; the slot is free again when the
    /// permit is dropped. For CPU-heavy work other than the methods above that must share
    /// the same bound (e.g. PBKDF2 key derivation).
    ///
    /// # Errors
    /// [`Error::Overloaded`] when the queue for `purpose` is full or the wait exceeds
    /// `max_wait`.
    pub async fn acquire(&self, purpose: HashPurpose) -> Result<AdmissionPermit> {
        let inner = &self.inner;
        let (rx, id) = {
            let mut state = inner.lock();
            if state.can_start(purpose, inner) {
                state.start(purpose);
                return Ok(AdmissionPermit {
                    inner: Arc::clone(inner),
                    purpose,
                });
            }
            let (queue, bound) = match purpose {
                HashPurpose::Login => (&mut state.logins, inner.login_queue),
                HashPurpose::Signup => (&mut state.signups, inner.signup_queue),
            };
            if queue.len() >= bound {
                drop(state);
                return Err(self.shed(purpose, "queue full"));
            }
            let (tx, rx) = oneshot::channel();
            let id = state.next_id;
            state.next_id = state.next_id.wrapping_add(1);
            let queue = match purpose {
                HashPurpose::Login => &mut state.logins,
                HashPurpose::Signup => &mut state.signups,
            };
            queue.push_back(Waiter { id, wake: tx });
            (rx, id)
        };
        let mut guard = WaitGuard {
            inner: Arc::clone(inner),
            purpose,
            id,
            armed: true,
        };
        match tokio::time::timeout(inner.max_wait, rx).await {
            Ok(Ok(())) => {
                guard.armed = false;
                Ok(AdmissionPermit {
                    inner: Arc::clone(inner),
                    purpose,
                })
            }
            // The sender is only dropped after a grant or with the admission itself, which
            // this future keeps alive; treat the impossible as overload, never a panic.
            Ok(Err(_)) | Err(_) => {
                drop(guard);
                Err(self.shed(purpose, "waited too long"))
            }
        }
    }

    fn shed(&self, purpose: HashPurpose, why: &'static str) -> Error {
        match purpose {
            HashPurpose::Login => &self.inner.shed_logins,
            HashPurpose::Signup => &self.inner.shed_signups,
        }
        .fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            purpose = purpose.as_str(),
            why,
            "password hashing overloaded"
        );
        Error::Overloaded {
            retry_after: self.inner.retry_after,
        }
    }

    /// Runs `job` on a spawned task holding a slot: if the caller's future is dropped the
    /// job still finishes and only then frees the slot. Jobs capture passwords as
    /// `Zeroizing` and move them into the hasher (which zeroizes them), so a password is
    /// wiped also when the job never runs (shed, cancelled).
    async fn run<T, F, Fut>(&self, purpose: HashPurpose, job: F) -> Result<T>
    where
        F: FnOnce(AsyncPasswordHasher) -> Fut + Send + 'static,
        Fut: Future<Output = keel_crypto::Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        let permit = self.acquire(purpose).await?;
        let hasher = self.inner.hasher.clone();
        let task = tokio::spawn(async move {
            let result = job(hasher).await;
            drop(permit);
            result
        });
        match task.await {
            Ok(result) => result.map_err(Error::from),
            Err(e) => {
                tracing::error!(error = %e, "password hashing task failed");
                Err(Error::Crypto(keel_crypto::Error::TaskFailed))
            }
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is a few counters and queues updated without awaiting or panicking;
        // a poisoned lock still holds consistent data.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Frees one slot of `purpose` and hands free slots to waiters: logins first, then
    /// signups while they are under their cap.
    fn release(&self, purpose: HashPurpose) {
        let mut state = self.lock();
        state.running = state.running.saturating_sub(1);
        if purpose == HashPurpose::Signup {
            state.running_signups = state.running_signups.saturating_sub(1);
        }
        state.dispatch(self);
    }
}

impl State {
    /// Whether a new request of `purpose` may start now without overtaking a waiter.
    fn can_start(&self, purpose: HashPurpose, inner: &Inner) -> bool {
        if self.running >= inner.total {
            return false;
        }
        match purpose {
            HashPurpose::Login => self.logins.is_empty(),
            HashPurpose::Signup => {
                self.running_signups < inner.signup_cap
                    && self.signups.is_empty()
                    && self.logins.is_empty()
            }
        }
    }

    fn start(&mut self, purpose: HashPurpose) {
        self.running += 1;
        if purpose == HashPurpose::Signup {
            self.running_signups += 1;
        }
    }

    fn dispatch(&mut self, inner: &Inner) {
        while self.running < inner.total {
            let purpose = if !self.logins.is_empty() {
                HashPurpose::Login
            } else if !self.signups.is_empty() && self.running_signups < inner.signup_cap {
                HashPurpose::Signup
            } else {
                return;
            };
            let queue = match purpose {
                HashPurpose::Login => &mut self.logins,
                HashPurpose::Signup => &mut self.signups,
            };
            let Some(waiter) = queue.pop_front() else {
                return;
            };
            self.start(purpose);
            // A waiter whose receiver is already gone has a `WaitGuard` that has not run
            // yet: it finds itself out of the queue and releases this slot.
            let _ = waiter.wake.send(());
        }
    }
}

/// Removes a waiter that gave up (timeout, dropped future) from its queue, or — if it was
/// granted a slot in the meantime — frees that slot.
struct WaitGuard {
    inner: Arc<Inner>,
    purpose: HashPurpose,
    id: u64,
    armed: bool,
}

impl Drop for WaitGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut state = self.inner.lock();
        let queue = match self.purpose {
            HashPurpose::Login => &mut state.logins,
            HashPurpose::Signup => &mut state.signups,
        };
        if let Some(pos) = queue.iter().position(|w| w.id == self.id) {
            queue.remove(pos);
            return;
        }
        drop(state);
        self.inner.release(self.purpose);
    }
}

/// A hash slot from [`PasswordAdmission::acquire`]; dropping it frees the slot.
#[must_use = "the slot is freed as soon as the permit is dropped"]
pub struct AdmissionPermit {
    inner: Arc<Inner>,
    purpose: HashPurpose,
}

impl AdmissionPermit {
    /// What the slot was admitted for.
    #[must_use]
    pub fn purpose(&self) -> HashPurpose {
        self.purpose
    }
}

impl fmt::Debug for AdmissionPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdmissionPermit")
            .field("purpose", &self.purpose)
            .finish()
    }
}

impl Drop for AdmissionPermit {
    fn drop(&mut self) {
        self.inner.release(self.purpose);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use keel_crypto::{Argon2Params, PasswordHasher};

    use super::*;

    fn admission(
        total: usize,
        signups: usize,
        login_q: usize,
        signup_q: usize,
    ) -> PasswordAdmission {
        let hasher = PasswordHasher::new().with_params(Argon2Params::new(64, 1, 1).unwrap());
        PasswordAdmission::builder(AsyncPasswordHasher::with_max_concurrency(hasher, total))
            .signup_concurrency(signups)
            .login_queue(login_q)
            .signup_queue(signup_q)
            .build()
            .unwrap()
    }

    fn check(a: &PasswordAdmission, running: usize, signups: usize, wl: usize, ws: usize) {
        let s = a.stats();
        assert_eq!(
            (
                s.running,
                s.running_signups,
                s.waiting_logins,
                s.waiting_signups
            ),
            (running, signups, wl, ws),
            "{s:?}"
        );
    }

    /// Polls spawned tasks until they have all reached their await point.
    async fn settle() {
        for _ in 0..64 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn signups_never_take_the_reserved_slots() {
        let a = admission(3, 1, 4, 4);
        let s1 = a.acquire(HashPurpose::Signup).await.unwrap();
        let waiting = tokio::spawn({
            let a = a.clone();
            async move { a.acquire(HashPurpose::Signup).await.map(|p| p.purpose()) }
        });
        settle().await;
        check(&a, 1, 1, 0, 1);
        // Two slots left, both usable by logins only.
        let l1 = a.acquire(HashPurpose::Login).await.unwrap();
        let l2 = a.acquire(HashPurpose::Login).await.unwrap();
        check(&a, 3, 1, 0, 1);
        drop(l1);
        settle().await;
        // A free slot, but the signup cap is reached: the signup keeps waiting.
        check(&a, 2, 1, 0, 1);
        drop(s1);
        assert_eq!(waiting.await.unwrap().unwrap(), HashPurpose::Signup);
        check(&a, 1, 0, 0, 0);
        drop(l2);
        check(&a, 0, 0, 0, 0);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn waiting_logins_go_before_waiting_signups() {
        use HashPurpose::{Login, Signup};
        let a = admission(1, 1, 4, 4);
        let held = a.acquire(Login).await.unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for purpose in [Signup, Login, Signup, Login] {
            let (a, order) = (a.clone(), Arc::clone(&order));
            tasks.push(tokio::spawn(async move {
                let _p = a.acquire(purpose).await.unwrap();
                order.lock().unwrap().push(purpose);
                settle().await;
            }));
            settle().await;
        }
        check(&a, 1, 0, 2, 2);
        drop(held);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), [Login, Login, Signup, Signup]);
        check(&a, 0, 0, 0, 0);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn full_queues_shed_at_once_with_retry_after() {
        let a = admission(2, 1, 1, 1);
        let _s = a.acquire(HashPurpose::Signup).await.unwrap();
        let _l = a.acquire(HashPurpose::Login).await.unwrap();
        let w1 = tokio::spawn({
            let a = a.clone();
            async move { a.acquire(HashPurpose::Signup).await.map(drop) }
        });
        let w2 = tokio::spawn({
            let a = a.clone();
            async move { a.acquire(HashPurpose::Login).await.map(drop) }
        });
        settle().await;
        check(&a, 2, 1, 1, 1);
        for purpose in [HashPurpose::Signup, HashPurpose::Login] {
            match a.acquire(purpose).await {
                Err(Error::Overloaded { retry_after }) => {
                    assert_eq!(retry_after, Duration::from_secs(1));
                }
                other => panic!("{purpose:?}: {other:?}"),
            }
        }
        let s = a.stats();
        assert_eq!((s.shed_logins, s.shed_signups), (1, 1));
        w1.abort();
        w2.abort();
        let _ = w1.await;
        let _ = w2.await;
        check(&a, 2, 1, 0, 0);
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_waiter_gives_up_after_max_wait() {
        let hasher = PasswordHasher::new().with_params(Argon2Params::new(64, 1, 1).unwrap());
        let a = PasswordAdmission::builder(AsyncPasswordHasher::with_max_concurrency(hasher, 1))
            .max_wait(Duration::from_secs(2))
            .retry_after(Duration::from_secs(7))
            .build()
            .unwrap();
        let held = a.acquire(HashPurpose::Login).await.unwrap();
        let start = tokio::time::Instant::now();
        match a.acquire(HashPurpose::Login).await {
            Err(Error::Overloaded { retry_after }) => {
                assert_eq!(retry_after, Duration::from_secs(7));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        check(&a, 1, 0, 0, 0);
        drop(held);
        check(&a, 0, 0, 0, 0);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_cancelled_waiter_leaves_the_queue_and_a_granted_one_frees_its_slot() {
        let a = admission(1, 1, 4, 4);
        let held = a.acquire(HashPurpose::Login).await.unwrap();
        let cancelled = tokio::spawn({
            let a = a.clone();
            async move { a.acquire(HashPurpose::Login).await.map(drop) }
        });
        settle().await;
        check(&a, 1, 0, 1, 0);
        cancelled.abort();
        assert!(cancelled.await.unwrap_err().is_cancelled());
        check(&a, 1, 0, 0, 0);

        // Granted but dropped before it ran: the slot goes to the next waiter.
        let granted = tokio::spawn({
            let a = a.clone();
            async move { a.acquire(HashPurpose::Login).await.map(drop) }
        });
        let next = tokio::spawn({
            let a = a.clone();
            async move { a.acquire(HashPurpose::Login).await.map(|p| p.purpose()) }
        });
        settle().await;
        check(&a, 1, 0, 2, 0);
        drop(held); // grants `granted` under the lock …
        granted.abort(); // … which is cancelled before it is polled again.
        let _ = granted.await;
        assert_eq!(next.await.unwrap().unwrap(), HashPurpose::Login);
        check(&a, 0, 0, 0, 0);
    }

    #[test]
    fn new_leaves_a_core_to_the_async_workers() {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        for max in [1, 2, 4, 64] {
            let h = AsyncPasswordHasher::with_max_concurrency(PasswordHasher::new(), max);
            let a = PasswordAdmission::new(h);
            assert_eq!(a.concurrency(), default_concurrency(max, cores), "{max}");
            assert!(a.concurrency() >= 1 && a.concurrency() <= max);
            assert!(
                cores == 1 || a.concurrency() < cores,
                "{max} on {cores} cores"
            );
            assert_eq!(a.signup_concurrency(), (a.concurrency() / 2).max(1));
        }
    }

    #[test]
    fn invalid_configurations_are_typed_errors() {
        let h = || AsyncPasswordHasher::with_max_concurrency(PasswordHasher::new(), 2);
        for b in [
            PasswordAdmission::builder(h()).concurrency(0),
            PasswordAdmission::builder(h()).concurrency(3),
            PasswordAdmission::builder(h()).signup_concurrency(0),
            PasswordAdmission::builder(h()).signup_concurrency(2),
        ] {
            assert!(matches!(b.build(), Err(Error::Config(_))));
        }
        let one = PasswordAdmission::builder(AsyncPasswordHasher::with_max_concurrency(
            PasswordHasher::new(),
            1,
        ))
        .build()
        .unwrap();
        assert_eq!((one.concurrency(), one.signup_concurrency()), (1, 1));
    }
}
