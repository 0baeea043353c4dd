//! [`MemoryRefreshStore`]: refresh-token families in process memory, bounded.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use super::store::{RefreshStore, RevokeReason, RotateOutcome, Session, SessionId};
use crate::error::{Error, Result};
use crate::store::{CapacityError, SecretHash, StoreFuture};

/// Refresh-token families in memory: the embedded default for tests and single-process
/// services (sessions do not survive a restart and are not shared between replicas).
///
/// **Bounds.** At most [`max_sessions`](MemoryRefreshStoreBuilder::max_sessions) families
/// (default 100 000) — when full, ended families are dropped first (one scan a second at
/// most), and if none ended, new logins fail with [`Error::Store`] rather than ending
/// someone else's session — and at
/// most [`max_tokens_per_session`](MemoryRefreshStoreBuilder::max_tokens_per_session)
/// remembered tokens per family (default 8: the current one and the last 7 rotated ones,
/// which is how far back reuse is detected; an older rotated token is simply unknown, and
/// rejected without revoking the family). The per-subject cap of
/// [`RefreshConfig`](crate::RefreshConfig) applies too. Worst case ≈ (300 B + subject +
/// 100 B × tokens per session) per session: about 110 MB at the defaults.
///
/// Revoked families are dropped at once (their tokens then read as unknown; the answer to
/// the client is the same).
///
/// ```
/// let store = keel_auth::MemoryRefreshStore::builder()
///     .max_sessions(10_000)
///     .max_tokens_per_session(4)
///     .build();
/// assert_eq!(store.len(), 0);
/// ```
pub struct MemoryRefreshStore {
    inner: Mutex<Inner>,
    max_sessions: usize,
    max_tokens_per_session: usize,
}

#[derive(Default)]
struct Inner {
    tokens: HashMap<SecretHash, TokenEntry>,
    families: HashMap<SessionId, Family>,
    /// Families per subject, oldest first.
    by_subject: HashMap<String, Vec<SessionId>>,
    /// When a full store was last swept for ended families: at most once a second, so a
    /// flood of logins against a full store costs no more than one scan a second.
    last_sweep: Option<SystemTime>,
}

/// The least time between two sweeps of a full store.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

struct TokenEntry {
    sid: SessionId,
    expires_at: SystemTime,
    rotated: bool,
}

struct Family {
    session: Session,
    /// Remembered tokens, oldest first; the last one is current.
    tokens: VecDeque<SecretHash>,
}

impl Default for MemoryRefreshStore {
    fn default() -> Self {
        Self::builder().build()
    }
}

impl fmt::Debug for MemoryRefreshStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryRefreshStore")
            .field("sessions", &self.len())
            .field("max_sessions", &self.max_sessions)
            .field("max_tokens_per_session", &self.max_tokens_per_session)
            .finish()
    }
}

/// Builds a [`MemoryRefreshStore`].
#[derive(Debug, Clone)]
pub struct MemoryRefreshStoreBuilder {
    max_sessions: usize,
    max_tokens_per_session: usize,
}

impl MemoryRefreshStoreBuilder {
    /// The most families kept (default 100 000; at least 1).
    #[must_use]
    pub fn max_sessions(mut self, max: usize) -> Self {
        self.max_sessions = max.max(1);
        self
    }

    /// The most tokens remembered per family, the current one included (default 8; at
    /// least 2 so the previous token's reuse is always detected).
    #[must_use]
    pub fn max_tokens_per_session(mut self, max: usize) -> Self {
        self.max_tokens_per_session = max.max(2);
        self
    }

    /// Builds the store.
    #[must_use]
    pub fn build(self) -> MemoryRefreshStore {
        MemoryRefreshStore {
            inner: Mutex::new(Inner::default()),
            max_sessions: self.max_sessions,
            max_tokens_per_session: self.max_tokens_per_session,
        }
    }
}

impl MemoryRefreshStore {
    /// A store with the default bounds.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder for the bounds.
    #[must_use]
    pub fn builder() -> MemoryRefreshStoreBuilder {
        MemoryRefreshStoreBuilder {
            max_sessions: 100_000,
            max_tokens_per_session: 8,
        }
    }

    /// The number of families held (live or ended but not yet dropped).
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().families.len()
    }

    /// Whether no family is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of token hashes held (current and remembered rotated ones).
    #[must_use]
    pub fn token_count(&self) -> usize {
        self.lock().tokens.len()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every critical section leaves the maps consistent before anything can panic.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn create_sync(
        &self,
        session: &Session,
        first: SecretHash,
        first_expires_at: SystemTime,
        max_per_subject: usize,
    ) -> Result<Vec<SessionId>> {
        let mut inner = self.lock();
        if inner.families.len() >= self.max_sessions {
            let now = session.created_at;
            if inner.last_sweep.is_none_or(|t| t + SWEEP_INTERVAL <= now) {
                inner.last_sweep = Some(now);
                inner.drop_ended(now);
            }
            if inner.families.len() >= self.max_sessions {
                tracing::warn!(
                    max_sessions = self.max_sessions,
                    "memory refresh-token store full; login refused"
                );
                return Err(Error::store(CapacityError("refresh-token")));
            }
        }
        let sid = session.id.clone();
        inner.tokens.insert(
            first,
            TokenEntry {
                sid: sid.clone(),
                expires_at: first_expires_at,
                rotated: false,
            },
        );
        inner.families.insert(
            sid.clone(),
            Family {
                session: session.clone(),
                tokens: VecDeque::from([first]),
            },
        );
        let list = inner.by_subject.entry(session.subject.clone()).or_default();
        list.push(sid);
        let excess = list.len().saturating_sub(max_per_subject);
        let oldest: Vec<SessionId> = list.iter().take(excess).cloned().collect();
        let mut evicted = Vec::new();
        for old in oldest {
            if let Some(family) = inner.remove_family(&old)
                && family.session.expires_at > session.created_at
            {
                evicted.push(old);
            }
        }
        Ok(evicted)
    }

    fn rotate_sync(
        &self,
        presented: SecretHash,
        next: SecretHash,
        now: SystemTime,
        idle: Duration,
    ) -> RotateOutcome {
        let mut inner = self.lock();
        let Some(entry) = inner.tokens.get(&presented) else {
            return RotateOutcome::Unknown;
        };
        let (sid, rotated, token_expires_at) = (entry.sid.clone(), entry.rotated, entry.expires_at);
        let Some(family) = inner.families.get(&sid) else {
            return RotateOutcome::Unknown;
        };
        let session_end = family.session.expires_at;
        if rotated {
            let session = family.session.clone();
            inner.remove_family(&sid);
            return RotateOutcome::Reused { session };
        }
        if token_expires_at <= now || session_end <= now {
            inner.remove_family(&sid);
            return RotateOutcome::Expired;
        }
        let next_expires_at = (now + idle).min(session_end);
        if let Some(entry) = inner.tokens.get_mut(&presented) {
            entry.rotated = true;
        }
        inner.tokens.insert(
            next,
            TokenEntry {
                sid: sid.clone(),
                expires_at: next_expires_at,
                rotated: false,
            },
        );
        let mut forgotten = Vec::new();
        let session = match inner.families.get_mut(&sid) {
            Some(family) => {
                family.tokens.push_back(next);
                while family.tokens.len() > self.max_tokens_per_session {
                    if let Some(old) = family.tokens.pop_front() {
                        forgotten.push(old);
                    }
                }
                family.session.clone()
            }
            None => return RotateOutcome::Unknown,
        };
        for old in forgotten {
            inner.tokens.remove(&old);
        }
        RotateOutcome::Rotated {
            session,
            next_expires_at,
        }
    }
}

impl Inner {
    /// Removes a family, its tokens and its subject entry.
    fn remove_family(&mut self, sid: &SessionId) -> Option<Family> {
        let family = self.families.remove(sid)?;
        for token in &family.tokens {
            self.tokens.remove(token);
        }
        if let Some(list) = self.by_subject.get_mut(&family.session.subject) {
            list.retain(|s| s != sid);
            if list.is_empty() {
                self.by_subject.remove(&family.session.subject);
            }
        }
        Some(family)
    }

    /// When a family ended: its absolute end, or its current token's idle expiry.
    fn ended_at(&self, family: &Family) -> SystemTime {
        let idle_end = family
            .tokens
            .back()
            .and_then(|t| self.tokens.get(t))
            .map_or(SystemTime::UNIX_EPOCH, |t| t.expires_at);
        idle_end.min(family.session.expires_at)
    }

    /// Drops every family that ended at or before `now`; returns how many.
    fn drop_ended(&mut self, now: SystemTime) -> u64 {
        let ended: Vec<SessionId> = self
            .families
            .iter()
            .filter(|(_, f)| self.ended_at(f) <= now)
            .map(|(sid, _)| sid.clone())
            .collect();
        let n = ended.len() as u64;
        for sid in ended {
            self.remove_family(&sid);
        }
        n
    }
}

impl RefreshStore for MemoryRefreshStore {
    fn create<'a>(
        &'a self,
        session: &'a Session,
        first: SecretHash,
        first_expires_at: SystemTime,
        max_per_subject: usize,
    ) -> StoreFuture<'a, Vec<SessionId>> {
        let result = self.create_sync(session, first, first_expires_at, max_per_subject);
        Box::pin(async move { result })
    }

    fn rotate<'a>(
        &'a self,
        presented: SecretHash,
        next: SecretHash,
        now: SystemTime,
        idle: Duration,
    ) -> StoreFuture<'a, RotateOutcome> {
        let outcome = self.rotate_sync(presented, next, now, idle);
        Box::pin(async move { Ok(outcome) })
    }

    fn revoke_by_token<'a>(
        &'a self,
        token: SecretHash,
        subject: Option<&'a str>,
        _now: SystemTime,
        reason: RevokeReason,
    ) -> StoreFuture<'a, Option<Session>> {
        let mut inner = self.lock();
        let sid = inner
            .tokens
            .get(&token)
            .map(|t| t.sid.clone())
            .filter(|sid| {
                subject.is_none_or(|s| {
                    inner
                        .families
                        .get(sid)
                        .is_some_and(|f| f.session.subject() == s)
                })
            });
        let session = sid
            .and_then(|sid| inner.remove_family(&sid))
            .map(|f| f.session);
        if let Some(s) = &session {
            tracing::debug!(sid = %s.id, reason = reason.as_str(), "refresh session revoked");
        }
        Box::pin(async move { Ok(session) })
    }

    fn revoke_session<'a>(
        &'a self,
        id: &'a SessionId,
        _now: SystemTime,
        reason: RevokeReason,
    ) -> StoreFuture<'a, Option<Session>> {
        let removed = self.lock().remove_family(id).map(|f| f.session);
        if removed.is_some() {
            tracing::debug!(sid = %id, reason = reason.as_str(), "refresh session revoked");
        }
        Box::pin(async move { Ok(removed) })
    }

    fn revoke_subject<'a>(
        &'a self,
        subject: &'a str,
        _now: SystemTime,
        reason: RevokeReason,
    ) -> StoreFuture<'a, Vec<SessionId>> {
        let mut inner = self.lock();
        let sids = inner.by_subject.get(subject).cloned().unwrap_or_default();
        for sid in &sids {
            inner.remove_family(sid);
        }
        tracing::debug!(
            count = sids.len(),
            reason = reason.as_str(),
            "refresh sessions revoked"
        );
        Box::pin(async move { Ok(sids) })
    }

    fn sessions<'a>(&'a self, subject: &'a str, now: SystemTime) -> StoreFuture<'a, Vec<Session>> {
        let inner = self.lock();
        let sessions = inner
            .by_subject
            .get(subject)
            .into_iter()
            .flatten()
            .filter_map(|sid| inner.families.get(sid))
            .filter(|f| inner.ended_at(f) > now)
            .map(|f| f.session.clone())
            .collect();
        Box::pin(async move { Ok(sessions) })
    }

    fn purge<'a>(&'a self, before: SystemTime) -> StoreFuture<'a, u64> {
        let n = self.lock().drop_ended(before);
        Box::pin(async move { Ok(n) })
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    fn session(n: u64, subject: &str) -> Session {
        let t = UNIX_EPOCH + Duration::from_secs(1_000 + n);
        Session::new(
            SessionId::parse(&format!("s{n}")).unwrap(),
            subject,
            t,
            t + Duration::from_secs(3600),
        )
    }

    fn hash(n: u64) -> SecretHash {
        SecretHash::of(&format!("token-{n}"))
    }

    #[test]
    fn capacity_is_enforced_after_dropping_ended_families() {
        let store = MemoryRefreshStore::builder().max_sessions(2).build();
        let s1 = session(1, "a");
        // s1's only token expires immediately: it has ended by the time s3 logs in.
        store.create_sync(&s1, hash(1), s1.created_at, 10).unwrap();
        let s2 = session(2, "b");
        store.create_sync(&s2, hash(2), s2.expires_at, 10).unwrap();
        let s3 = session(3, "c");
        store.create_sync(&s3, hash(3), s3.expires_at, 10).unwrap();
        assert_eq!(store.len(), 2);
        let s4 = session(4, "d");
        let err = store
            .create_sync(&s4, hash(4), s4.expires_at, 10)
            .unwrap_err();
        assert!(matches!(err, Error::Store(_)));
        assert_eq!(store.len(), 2);
    }

    #[test]
    fn remembered_tokens_per_family_are_bounded() {
        let store = MemoryRefreshStore::builder()
            .max_tokens_per_session(3)
            .build();
        let s = session(1, "a");
        store.create_sync(&s, hash(0), s.expires_at, 10).unwrap();
        let now = s.created_at;
        for i in 0..20 {
            let out = store.rotate_sync(hash(i), hash(i + 1), now, Duration::from_secs(60));
            assert!(matches!(out, RotateOutcome::Rotated { .. }), "{i}: {out:?}");
        }
        assert_eq!(store.token_count(), 3);
        // Too old to be remembered: unknown, and the family survives.
        assert_eq!(
            store.rotate_sync(hash(0), hash(100), now, Duration::from_secs(60)),
            RotateOutcome::Unknown
        );
        // Recent enough: reuse, family revoked.
        assert!(matches!(
            store.rotate_sync(hash(19), hash(101), now, Duration::from_secs(60)),
            RotateOutcome::Reused { .. }
        ));
        assert_eq!(store.len(), 0);
        assert_eq!(store.token_count(), 0);
    }

    #[test]
    fn per_subject_cap_evicts_the_oldest() {
        let store = MemoryRefreshStore::new();
        let mut evicted = Vec::new();
        for i in 0..4 {
            let s = session(i, "a");
            evicted.extend(store.create_sync(&s, hash(i), s.expires_at, 2).unwrap());
        }
        assert_eq!(
            evicted,
            vec![
                SessionId::parse("s0").unwrap(),
                SessionId::parse("s1").unwrap()
            ]
        );
        assert_eq!(store.len(), 2);
        assert_eq!(store.token_count(), 2);
    }
}
