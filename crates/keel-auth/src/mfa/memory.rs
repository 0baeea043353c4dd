//! [`MemoryMfaStore`]: TOTP factors and challenges in process memory, bounded.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use super::store::{ChallengeRecord, MfaStore, SealedTotpSecret, TotpRecord};
use crate::error::{Error, Result};
use crate::store::{CapacityError, SecretHash, StoreFuture};

/// TOTP factors, recovery codes and challenges in memory: for tests and single-process
/// services (nothing survives a restart).
///
/// **Bounds.** At most [`max_factors`](MemoryMfaStoreBuilder::max_factors) factors (default
/// 100 000; pending enrollments older than 12 hours are dropped first when full, then enrollment fails
/// with [`Error::Store`]), at most 50 recovery codes each (the config's upper bound), and at
/// most [`max_challenges`](MemoryMfaStoreBuilder::max_challenges) live challenges in total
/// (default 100 000; expired ones are dropped first, then `begin` fails with
/// [`Error::Store`]; a full store is swept at most once a second, so a flood against it
/// costs one scan a second) — plus the per-subject challenge cap of [`MfaConfig`](crate::MfaConfig).
///
/// ```
/// let store = keel_auth::MemoryMfaStore::builder().max_factors(1_000).build();
/// # let _ = store;
/// ```
pub struct MemoryMfaStore {
    inner: Mutex<Inner>,
    max_factors: usize,
    max_challenges: usize,
}

#[derive(Default)]
struct Inner {
    factors: HashMap<String, Factor>,
    challenges: HashMap<SecretHash, ChallengeRecord>,
    /// Challenge hashes per subject, oldest first.
    by_subject: HashMap<String, Vec<SecretHash>>,
    /// When a full challenge map was last swept: at most once a second, so a flood against
    /// a full store costs no more than one scan a second.
    last_sweep: Option<SystemTime>,
    /// The same for a full factor map.
    last_factor_sweep: Option<SystemTime>,
}

struct Factor {
    record: TotpRecord,
    created_at: SystemTime,
    recovery: HashSet<SecretHash>,
}

/// Builds a [`MemoryMfaStore`].
#[derive(Debug, Clone)]
pub struct MemoryMfaStoreBuilder {
    max_factors: usize,
    max_challenges: usize,
}

impl MemoryMfaStoreBuilder {
    /// The most factors kept (default 100 000; at least 1).
    #[must_use]
    pub fn max_factors(mut self, max: usize) -> Self {
        self.max_factors = max.max(1);
        self
    }

    /// The most live challenges kept (default 100 000; at least 1).
    #[must_use]
    pub fn max_challenges(mut self, max: usize) -> Self {
        self.max_challenges = max.max(1);
        self
    }

    /// Builds the store.
    #[must_use]
    pub fn build(self) -> MemoryMfaStore {
        MemoryMfaStore {
            inner: Mutex::new(Inner::default()),
            max_factors: self.max_factors,
            max_challenges: self.max_challenges,
        }
    }
}

impl Default for MemoryMfaStore {
    fn default() -> Self {
        Self::builder().build()
    }
}

impl fmt::Debug for MemoryMfaStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.lock();
        f.debug_struct("MemoryMfaStore")
            .field("factors", &inner.factors.len())
            .field("challenges", &inner.challenges.len())
            .field("max_factors", &self.max_factors)
            .field("max_challenges", &self.max_challenges)
            .finish()
    }
}

impl MemoryMfaStore {
    /// A store with the default bounds.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder for the bounds.
    #[must_use]
    pub fn builder() -> MemoryMfaStoreBuilder {
        MemoryMfaStoreBuilder {
            max_factors: 100_000,
            max_challenges: 100_000,
        }
    }

    /// The number of live challenges held.
    #[must_use]
    pub fn challenge_count(&self) -> usize {
        self.lock().challenges.len()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn put_pending_sync(
        &self,
        subject: &str,
        sealed: &SealedTotpSecret,
        now: SystemTime,
    ) -> Result<bool> {
        let mut inner = self.lock();
        if let Some(f) = inner.factors.get(subject) {
            if f.record.confirmed {
                return Ok(false);
            }
        } else if inner.factors.len() >= self.max_factors {
            // Make room by dropping pending enrollments older than 12 hours (at most one
            // scan a second).
            if inner
                .last_factor_sweep
                .is_none_or(|t| t + Duration::from_secs(1) <= now)
            {
                inner.last_factor_sweep = Some(now);
                let stale = now.checked_sub(Duration::from_secs(12 * 3600));
                inner
                    .factors
                    .retain(|_, f| f.record.confirmed || stale.is_none_or(|s| f.created_at > s));
            }
            if inner.factors.len() >= self.max_factors {
                return Err(Error::store(CapacityError("MFA factor")));
            }
        }
        inner.factors.insert(
            subject.to_owned(),
            Factor {
                record: TotpRecord {
                    sealed_secret: sealed.clone(),
                    confirmed: false,
                    last_step: None,
                    failures: 0,
                    failures_since: None,
                },
                created_at: now,
                recovery: HashSet::new(),
            },
        );
        Ok(true)
    }

    fn create_challenge_sync(&self, c: &ChallengeRecord, max_per_subject: usize) -> Result<()> {
        let mut inner = self.lock();
        let now = c.created_at;
        if inner.challenges.len() >= self.max_challenges
            && inner
                .last_sweep
                .is_none_or(|t| t + Duration::from_secs(1) <= now)
        {
            inner.last_sweep = Some(now);
            let expired: Vec<SecretHash> = inner
                .challenges
                .values()
                .filter(|r| r.expires_at <= now)
                .map(|r| r.hash)
                .collect();
            for h in expired {
                inner.remove_challenge(h);
            }
        }
        if inner.challenges.len() >= self.max_challenges {
            return Err(Error::store(CapacityError("MFA challenge")));
        }
        inner.challenges.insert(c.hash, c.clone());
        let list = inner.by_subject.entry(c.subject.clone()).or_default();
        list.push(c.hash);
        let excess = list.len().saturating_sub(max_per_subject);
        let oldest: Vec<SecretHash> = list.iter().take(excess).copied().collect();
        for h in oldest {
            inner.remove_challenge(h);
        }
        Ok(())
    }
}

impl Inner {
    fn remove_challenge(&mut self, hash: SecretHash) -> Option<ChallengeRecord> {
        let c = self.challenges.remove(&hash)?;
        if let Some(list) = self.by_subject.get_mut(&c.subject) {
            list.retain(|h| *h != hash);
            if list.is_empty() {
                self.by_subject.remove(&c.subject);
            }
        }
        Some(c)
    }
}

fn ready<'a, T: Send + 'a>(v: Result<T>) -> StoreFuture<'a, T> {
    Box::pin(async move { v })
}

impl MfaStore for MemoryMfaStore {
    fn put_pending<'a>(
        &'a self,
        subject: &'a str,
        sealed_secret: &'a SealedTotpSecret,
        now: SystemTime,
    ) -> StoreFuture<'a, bool> {
        ready(self.put_pending_sync(subject, sealed_secret, now))
    }

    fn totp<'a>(&'a self, subject: &'a str) -> StoreFuture<'a, Option<TotpRecord>> {
        ready(Ok(self
            .lock()
            .factors
            .get(subject)
            .map(|f| f.record.clone())))
    }

    fn confirm<'a>(
        &'a self,
        subject: &'a str,
        sealed_secret: &'a SealedTotpSecret,
        step: u64,
        recovery_codes: &'a [SecretHash],
        _now: SystemTime,
    ) -> StoreFuture<'a, bool> {
        let mut inner = self.lock();
        let done = match inner.factors.get_mut(subject) {
            Some(f)
                if !f.record.confirmed
                    && f.record.sealed_secret == *sealed_secret
                    && f.record.last_step.is_none_or(|l| l < step) =>
            {
                f.record.confirmed = true;
                f.record.last_step = Some(step);
                f.record.failures = 0;
                f.record.failures_since = None;
                f.recovery = recovery_codes.iter().copied().collect();
                true
            }
            _ => false,
        };
        ready(Ok(done))
    }

    fn advance_step<'a>(&'a self, subject: &'a str, step: u64) -> StoreFuture<'a, bool> {
        let mut inner = self.lock();
        let done = match inner.factors.get_mut(subject) {
            Some(f) if f.record.confirmed && f.record.last_step.is_none_or(|l| l < step) => {
                f.record.last_step = Some(step);
                f.record.failures = 0;
                f.record.failures_since = None;
                true
            }
            _ => false,
        };
        ready(Ok(done))
    }

    fn record_failure<'a>(
        &'a self,
        subject: &'a str,
        now: SystemTime,
        window: Duration,
    ) -> StoreFuture<'a, Option<(u32, SystemTime)>> {
        let mut inner = self.lock();
        let out = inner.factors.get_mut(subject).map(|f| {
            let r = &mut f.record;
            match r.failures_since {
                Some(since) if since + window > now => r.failures = r.failures.saturating_add(1),
                _ => {
                    r.failures = 1;
                    r.failures_since = Some(now);
                }
            }
            (r.failures, r.failures_since.unwrap_or(now))
        });
        ready(Ok(out))
    }

    fn remove<'a>(&'a self, subject: &'a str) -> StoreFuture<'a, bool> {
        let mut inner = self.lock();
        let removed = inner.factors.remove(subject).is_some();
        for h in inner.by_subject.remove(subject).unwrap_or_default() {
            inner.challenges.remove(&h);
        }
        ready(Ok(removed))
    }

    fn replace_recovery_codes<'a>(
        &'a self,
        subject: &'a str,
        codes: &'a [SecretHash],
    ) -> StoreFuture<'a, bool> {
        let mut inner = self.lock();
        let done = match inner.factors.get_mut(subject) {
            Some(f) if f.record.confirmed => {
                f.recovery = codes.iter().copied().collect();
                true
            }
            _ => false,
        };
        ready(Ok(done))
    }

    fn consume_recovery_code<'a>(
        &'a self,
        subject: &'a str,
        code: SecretHash,
    ) -> StoreFuture<'a, bool> {
        let mut inner = self.lock();
        let done = inner
            .factors
            .get_mut(subject)
            .is_some_and(|f| f.record.confirmed && f.recovery.remove(&code));
        ready(Ok(done))
    }

    fn recovery_codes_left<'a>(&'a self, subject: &'a str) -> StoreFuture<'a, usize> {
        ready(Ok(self
            .lock()
            .factors
            .get(subject)
            .map_or(0, |f| f.recovery.len())))
    }

    fn create_challenge<'a>(
        &'a self,
        challenge: &'a ChallengeRecord,
        max_per_subject: usize,
    ) -> StoreFuture<'a, ()> {
        ready(self.create_challenge_sync(challenge, max_per_subject))
    }

    fn attempt_challenge<'a>(
        &'a self,
        hash: SecretHash,
        now: SystemTime,
    ) -> StoreFuture<'a, Option<ChallengeRecord>> {
        let mut inner = self.lock();
        let out = match inner.challenges.get_mut(&hash) {
            Some(c) if c.expires_at > now && c.attempts < c.max_attempts => {
                c.attempts += 1;
                Some(c.clone())
            }
            _ => None,
        };
        ready(Ok(out))
    }

    fn consume_challenge<'a>(&'a self, hash: SecretHash) -> StoreFuture<'a, bool> {
        ready(Ok(self.lock().remove_challenge(hash).is_some()))
    }

    fn purge<'a>(
        &'a self,
        challenges_before: SystemTime,
        pending_before: SystemTime,
    ) -> StoreFuture<'a, u64> {
        let mut inner = self.lock();
        let expired: Vec<SecretHash> = inner
            .challenges
            .values()
            .filter(|c| c.expires_at < challenges_before)
            .map(|c| c.hash)
            .collect();
        let mut n = expired.len() as u64;
        for h in expired {
            inner.remove_challenge(h);
        }
        let before = inner.factors.len();
        inner
            .factors
            .retain(|_, f| f.record.confirmed || f.created_at >= pending_before);
        n += (before - inner.factors.len()) as u64;
        ready(Ok(n))
    }
}
