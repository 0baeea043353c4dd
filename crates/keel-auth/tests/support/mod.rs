//! Scenarios every store must pass, run by `tests/refresh.rs` (memory) and
//! `tests/postgres.rs` (PostgreSQL), plus PostgreSQL setup; `login` is the login-policy
//! tests' setup.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub(crate) mod apikey;
pub(crate) mod http;
#[cfg(feature = "ratelimit")]
pub(crate) mod login;
pub(crate) mod mfa;

use std::sync::Arc;
use std::time::Duration;

use keel_auth::{Clock, Error, RefreshConfig, RefreshStore, RefreshTokens};

pub(crate) const HOUR: Duration = Duration::from_secs(3600);

pub(crate) fn clock() -> Clock {
    Clock::manual()
}

pub(crate) fn tokens(
    store: impl RefreshStore,
    clock: &Clock,
    config: RefreshConfig,
) -> RefreshTokens {
    RefreshTokens::new(store, config).with_clock(clock.clone())
}

fn invalid<T: std::fmt::Debug>(r: keel_auth::Result<T>) -> bool {
    matches!(r.err(), Some(Error::InvalidToken))
}

/// Rotation hands out a new token of the same session; the old one is then a reuse that
/// revokes the whole family (RFC 9700 §4.14), including the newest token.
pub(crate) async fn rotation_and_reuse(store: impl RefreshStore) {
    let c = clock();
    let t = tokens(store, &c, RefreshConfig::default());
    let first = t.issue("user-1").await.unwrap();
    let sid = first.session().id().clone();
    assert_eq!(first.session().subject(), "user-1");
    assert_eq!(first.expires_in(), t.config().idle_timeout());

    c.advance(Duration::from_secs(60));
    let second = t.refresh(first.token().expose_secret()).await.unwrap();
    assert_eq!(second.session().id(), &sid);
    assert_ne!(
        second.token().expose_secret(),
        first.token().expose_secret()
    );
    let third = t.refresh(second.token().expose_secret()).await.unwrap();
    assert_eq!(t.sessions("user-1").await.unwrap().len(), 1);

    // The attacker replays the first (rotated) token: the family dies.
    assert!(invalid(t.refresh(first.token().expose_secret()).await));
    assert!(invalid(t.refresh(third.token().expose_secret()).await));
    assert!(t.sessions("user-1").await.unwrap().is_empty());
    // Reuse of the middle token after revocation: still rejected.
    assert!(invalid(t.refresh(second.token().expose_secret()).await));
}

/// Idle timeout and absolute lifetime, on a manual clock (no sleeps).
pub(crate) async fn idle_and_absolute_expiry(store: impl RefreshStore) {
    let c = clock();
    let config = RefreshConfig::builder()
        .idle_timeout(HOUR)
        .absolute_lifetime(3 * HOUR)
        .build()
        .unwrap();
    let t = tokens(store, &c, config);

    // Idle: used within the hour → fine; not used for an hour → dead.
    let a = t.issue("idle").await.unwrap();
    c.advance(HOUR - Duration::from_secs(1));
    let a2 = t.refresh(a.token().expose_secret()).await.unwrap();
    assert_eq!(a2.expires_in(), HOUR);
    c.advance(HOUR);
    assert!(invalid(t.refresh(a2.token().expose_secret()).await));
    assert!(t.sessions("idle").await.unwrap().is_empty());

    // Absolute: refreshing every 50 minutes does not extend the session past 3 hours.
    let b = t.issue("absolute").await.unwrap();
    let end = b.session().expires_at();
    let mut token = b.token().clone();
    let mut refreshed = 0;
    loop {
        c.advance(Duration::from_secs(50 * 60));
        match t.refresh(token.expose_secret()).await {
            Ok(next) => {
                assert!(next.expires_at() <= end, "token outlives its session");
                token = next.token().clone();
                refreshed += 1;
            }
            Err(e) => {
                assert!(matches!(e, Error::InvalidToken), "{e:?}");
                break;
            }
        }
    }
    // 50, 100, 150 minutes succeed; 200 minutes is past the 180-minute end.
    assert_eq!(refreshed, 3);
    assert!(c.now() >= end);
}

/// Logout (by token and by sid) and logout everywhere; other subjects are untouched.
pub(crate) async fn logout_and_logout_everywhere(store: impl RefreshStore) {
    let c = clock();
    let t = tokens(store, &c, RefreshConfig::default());
    let s1 = t.issue("u").await.unwrap();
    let s2 = t.issue("u").await.unwrap();
    let s3 = t.issue("u").await.unwrap();
    let other = t.issue("v").await.unwrap();
    assert_eq!(t.sessions("u").await.unwrap().len(), 3);

    let revoked = t.revoke(s1.token().expose_secret()).await.unwrap();
    assert_eq!(revoked.as_ref(), Some(s1.session().id()));
    assert!(invalid(t.refresh(s1.token().expose_secret()).await));
    assert_eq!(t.revoke("not-a-token").await.unwrap(), None);

    // A subject's logout cannot end another subject's session: answered as unknown,
    // nothing revoked; its owner's logout can.
    let s4 = t.issue("u").await.unwrap();
    assert_eq!(
        t.revoke_for("v", s4.token().expose_secret()).await.unwrap(),
        None
    );
    let s4 = t.refresh(s4.token().expose_secret()).await.unwrap();
    assert_eq!(
        t.revoke_for("u", s4.token().expose_secret())
            .await
            .unwrap()
            .as_ref(),
        Some(s4.session().id())
    );
    assert!(invalid(t.refresh(s4.token().expose_secret()).await));
    assert_eq!(t.revoke_for("u", "not-a-token").await.unwrap(), None);
    assert!(matches!(
        t.revoke_for("", s4.token().expose_secret()).await,
        Err(Error::InvalidInput(_))
    ));

    assert!(t.revoke_session(s2.session().id()).await.unwrap());
    assert!(!t.revoke_session(s2.session().id()).await.unwrap());
    assert!(invalid(t.refresh(s2.token().expose_secret()).await));

    let all = t.revoke_subject("u").await.unwrap();
    assert_eq!(all, vec![s3.session().id().clone()]);
    assert!(invalid(t.refresh(s3.token().expose_secret()).await));
    assert!(t.sessions("u").await.unwrap().is_empty());

    let still = t.refresh(other.token().expose_secret()).await.unwrap();
    assert_eq!(still.session().subject(), "v");
}

/// A subject's oldest sessions end when it exceeds the cap.
pub(crate) async fn per_subject_cap(store: impl RefreshStore) {
    let c = clock();
    let config = RefreshConfig::builder()
        .max_sessions_per_subject(2)
        .build()
        .unwrap();
    let t = tokens(store, &c, config);
    let s1 = t.issue("capped").await.unwrap();
    c.advance(Duration::from_secs(1));
    let s2 = t.issue("capped").await.unwrap();
    c.advance(Duration::from_secs(1));
    let s3 = t.issue("capped").await.unwrap();
    assert_eq!(s3.evicted(), std::slice::from_ref(s1.session().id()));
    assert!(invalid(t.refresh(s1.token().expose_secret()).await));
    let live: Vec<_> = t
        .sessions("capped")
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id().clone())
        .collect();
    assert_eq!(
        live,
        vec![s2.session().id().clone(), s3.session().id().clone()]
    );
}

/// Garbage never reaches the store and gets the one opaque error.
pub(crate) async fn malformed_tokens(store: impl RefreshStore) {
    let c = clock();
    let t = tokens(store, &c, RefreshConfig::default());
    let long = "a".repeat(100_000);
    let almost = "A".repeat(42) + "=";
    for bad in ["", "x", long.as_str(), almost.as_str(), "a b"] {
        assert!(invalid(t.refresh(bad).await), "{bad:.20}");
    }
    // Well-formed but never issued.
    assert!(invalid(t.refresh(&"A".repeat(43)).await));
    assert!(matches!(t.issue("").await, Err(Error::InvalidInput(_))));
    assert!(matches!(
        t.issue(&"x".repeat(257)).await,
        Err(Error::InvalidInput(_))
    ));
}

/// Ended sessions are deleted by `purge`. `revoked_kept`: whether the store keeps revoked
/// sessions until purged (PostgreSQL, for audits) or drops them at once (memory).
pub(crate) async fn purge_ended(store: impl RefreshStore, revoked_kept: bool) {
    let c = clock();
    let config = RefreshConfig::builder()
        .idle_timeout(HOUR)
        .absolute_lifetime(2 * HOUR)
        .build()
        .unwrap();
    let t = tokens(store, &c, config);
    let dead = t.issue("p").await.unwrap();
    let revoked = t.issue("p").await.unwrap();
    t.revoke(revoked.token().expose_secret()).await.unwrap();
    c.advance(90 * 60 * Duration::from_secs(1));
    let live = t.issue("p").await.unwrap();
    // Retention keeps them a while for audits…
    assert_eq!(t.purge(2 * HOUR).await.unwrap(), 0);
    c.advance(HOUR / 2);
    // …then the idle-dead one and (if kept) the revoked one go; the live one stays.
    let live = t.refresh(live.token().expose_secret()).await.unwrap();
    assert_eq!(
        t.purge(Duration::ZERO).await.unwrap(),
        1 + u64::from(revoked_kept)
    );
    assert_eq!(t.purge(Duration::ZERO).await.unwrap(), 0);
    assert!(invalid(t.refresh(dead.token().expose_secret()).await));
    assert!(t.refresh(live.token().expose_secret()).await.is_ok());
}

/// Of many concurrent refreshes with the same token, at most one succeeds; afterwards the
/// family is revoked (the losers were reuse).
pub(crate) async fn concurrent_refresh<S: RefreshStore>(store: S, attempts: usize) {
    let c = clock();
    let t = tokens(store, &c, RefreshConfig::default());
    let issued = t.issue("racer").await.unwrap();
    let token: Arc<str> = Arc::from(issued.token().expose_secret());
    let mut tasks = Vec::new();
    for _ in 0..attempts {
        let (t, token) = (t.clone(), Arc::clone(&token));
        tasks.push(tokio::spawn(async move { t.refresh(&token).await }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(next) => winners.push(next),
            Err(e) => assert!(matches!(e, Error::InvalidToken), "{e:?}"),
        }
    }
    assert!(winners.len() <= 1, "{} refreshes succeeded", winners.len());
    // Every loser presented a rotated token: the family is revoked, the winner's token too.
    if attempts > 1 {
        for w in &winners {
            assert!(invalid(t.refresh(w.token().expose_secret()).await));
        }
        assert!(t.sessions("racer").await.unwrap().is_empty());
    }
}

/// Ending a session (reuse, logout, eviction, logout everywhere) also ends its access
/// tokens when the refresh tokens are wired to `Revocations`.
pub(crate) async fn sessions_end_their_access_tokens(store: impl RefreshStore) {
    use keel_auth::{Claims, MemoryTokenVersions, Revocations};

    let c = clock();
    let revocations = Revocations::builder(MemoryTokenVersions::new())
        .clock(c.clone())
        .build();
    let config = RefreshConfig::builder()
        .max_sessions_per_subject(2)
        .build()
        .unwrap();
    let t = tokens(store, &c, config).with_revocations(revocations.clone(), HOUR);
    let access = |s: &keel_auth::IssuedRefreshToken| {
        Claims::<()>::new(s.session().subject()).session(s.session().id().as_str())
    };

    // Reuse: the thief's replay kills the owner's access token too.
    let a = t.issue("alice").await.unwrap();
    let a_access = access(&a);
    revocations.check(&a_access).await.unwrap();
    t.refresh(a.token().expose_secret()).await.unwrap();
    assert!(invalid(t.refresh(a.token().expose_secret()).await));
    assert!(revocations.check(&a_access).await.is_err());

    // Logout by token and by id.
    let b = t.issue("alice").await.unwrap();
    t.revoke(b.token().expose_secret()).await.unwrap();
    assert!(revocations.check(&access(&b)).await.is_err());
    let d = t.issue("alice").await.unwrap();
    assert!(t.revoke_session(d.session().id()).await.unwrap());
    assert!(revocations.check(&access(&d)).await.is_err());

    // Eviction by the per-subject cap (2).
    c.advance(Duration::from_secs(1));
    let e1 = t.issue("alice").await.unwrap();
    c.advance(Duration::from_secs(1));
    let e2 = t.issue("alice").await.unwrap();
    c.advance(Duration::from_secs(1));
    let e3 = t.issue("alice").await.unwrap();
    assert_eq!(e3.evicted(), std::slice::from_ref(e1.session().id()));
    assert!(revocations.check(&access(&e1)).await.is_err());
    revocations.check(&access(&e2)).await.unwrap();

    // Logout everywhere: every access token of the subject, none of another's.
    let bob = t.issue("bob").await.unwrap();
    t.revoke_subject("alice").await.unwrap();
    assert!(revocations.check(&access(&e2)).await.is_err());
    assert!(revocations.check(&access(&e3)).await.is_err());
    revocations.check(&access(&bob)).await.unwrap();
}
