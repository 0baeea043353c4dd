//! [`MemoryTokenVersions`]: token versions in process memory.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use super::{MAX_REVOKED_SESSIONS, RevocationState, TokenVersions};
use crate::store::StoreFuture;

/// Token versions and revoked sessions in process memory: for tests, and for a single
/// process (a restart forgets every revocation — and keeps accepting tokens issued with
/// version 0, so use [`PgTokenVersions`](crate::PgTokenVersions) for real deployments).
///
/// Memory: one entry per subject ever revoked (about 100 bytes plus its live revoked
/// sessions, at most [`MAX_REVOKED_SESSIONS`]); expired session revocations are dropped on
/// the next write for that subject.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> keel_auth::Result<()> {
/// use std::time::SystemTime;
/// use keel_auth::{MemoryTokenVersions, TokenVersions};
///
/// let store = MemoryTokenVersions::new();
/// let now = SystemTime::now();
/// assert_eq!(store.get("u1", now).await?.version(), 0);
/// assert_eq!(store.bump("u1", now).await?, 1);
/// assert_eq!(store.get("u1", now).await?.version(), 1);
/// # Ok(()) }
/// ```
#[derive(Debug, Default)]
pub struct MemoryTokenVersions {
    subjects: Mutex<HashMap<Box<str>, Entry>>,
}

#[derive(Debug, Default)]
struct Entry {
    version: u64,
    sessions: Vec<(Box<str>, SystemTime)>,
}

impl MemoryTokenVersions {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Box<str>, Entry>> {
        // Nothing in here panics while holding the lock; if something did, the map is
        // still consistent (every update is a single assignment).
        self.subjects
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl TokenVersions for MemoryTokenVersions {
    fn get<'a>(&'a self, subject: &'a str, now: SystemTime) -> StoreFuture<'a, RevocationState> {
        let state = self
            .lock()
            .get(subject)
            .map_or_else(RevocationState::default, |e| {
                RevocationState::new(
                    e.version,
                    e.sessions
                        .iter()
                        .filter(|(_, until)| *until > now)
                        .map(|(sid, _)| sid.to_string()),
                )
            });
        Box::pin(async move { Ok(state) })
    }

    fn bump<'a>(&'a self, subject: &'a str, _now: SystemTime) -> StoreFuture<'a, u64> {
        let version = {
            let mut map = self.lock();
            let e = map.entry(subject.into()).or_default();
            e.version = e.version.saturating_add(1);
            e.version
        };
        Box::pin(async move { Ok(version) })
    }

    fn revoke_session<'a>(
        &'a self,
        subject: &'a str,
        sid: &'a str,
        until: SystemTime,
        now: SystemTime,
    ) -> StoreFuture<'a, ()> {
        {
            let mut map = self.lock();
            let e = map.entry(subject.into()).or_default();
            e.sessions.retain(|(_, u)| *u > now);
            if let Some((_, u)) = e.sessions.iter_mut().find(|(s, _)| &**s == sid) {
                *u = (*u).max(until);
            } else if e.sessions.len() >= MAX_REVOKED_SESSIONS {
                tracing::debug!("too many revoked sessions for one subject; bumping its version");
                e.version = e.version.saturating_add(1);
            } else {
                e.sessions.push((sid.into(), until));
            }
        }
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn sessions_expire_and_overflow_bumps_the_version() {
        let s = MemoryTokenVersions::new();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let later = now + Duration::from_secs(60);
        s.revoke_session("u", "a", later, now).await.unwrap();
        assert_eq!(s.get("u", now).await.unwrap().revoked_sessions(), ["a"]);
        assert!(
            s.get("u", later)
                .await
                .unwrap()
                .revoked_sessions()
                .is_empty()
        );
        for i in 1..MAX_REVOKED_SESSIONS {
            s.revoke_session("u", &i.to_string(), later, now)
                .await
                .unwrap();
        }
        let st = s.get("u", now).await.unwrap();
        assert_eq!(
            (st.version(), st.revoked_sessions().len()),
            (0, MAX_REVOKED_SESSIONS)
        );
        s.revoke_session("u", "one-too-many", later, now)
            .await
            .unwrap();
        let st = s.get("u", now).await.unwrap();
        assert_eq!(
            (st.version(), st.revoked_sessions().len()),
            (1, MAX_REVOKED_SESSIONS)
        );
        // Expired revocations are dropped on the next write.
        s.revoke_session("u", "b", later + Duration::from_secs(60), later)
            .await
            .unwrap();
        assert_eq!(s.get("u", later).await.unwrap().revoked_sessions(), ["b"]);
    }
}
