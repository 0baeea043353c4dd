//! Refresh tokens over the in-memory store: rotation, reuse detection, lifetimes on a
//! manual clock, logout, caps, concurrency.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use keel_auth::MemoryRefreshStore;

#[tokio::test]
async fn rotation_and_reuse_revokes_the_family() {
    support::rotation_and_reuse(MemoryRefreshStore::new()).await;
}

#[tokio::test]
async fn idle_and_absolute_lifetimes() {
    support::idle_and_absolute_expiry(MemoryRefreshStore::new()).await;
}

#[tokio::test]
async fn logout_and_logout_everywhere() {
    support::logout_and_logout_everywhere(MemoryRefreshStore::new()).await;
}

#[tokio::test]
async fn oldest_sessions_end_beyond_the_per_subject_cap() {
    support::per_subject_cap(MemoryRefreshStore::new()).await;
}

#[tokio::test]
async fn malformed_tokens_are_rejected_opaquely() {
    support::malformed_tokens(MemoryRefreshStore::new()).await;
}

#[tokio::test]
async fn ending_a_session_revokes_its_access_tokens() {
    support::sessions_end_their_access_tokens(MemoryRefreshStore::new()).await;
}

#[tokio::test]
async fn purge_drops_ended_sessions() {
    support::purge_ended(MemoryRefreshStore::new(), false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_at_most_one_succeeds() {
    let store = Arc::new(MemoryRefreshStore::new());
    support::concurrent_refresh(Arc::clone(&store), 32).await;
    assert!(store.is_empty());
}

#[tokio::test]
async fn store_capacity_refuses_logins_instead_of_evicting_others() {
    let store = Arc::new(MemoryRefreshStore::builder().max_sessions(3).build());
    let t = support::tokens(Arc::clone(&store), &support::clock(), Default::default());
    let mut issued = Vec::new();
    for i in 0..3 {
        issued.push(t.issue(&format!("user-{i}")).await.unwrap());
    }
    assert!(matches!(
        t.issue("user-3").await,
        Err(keel_auth::Error::Store(_))
    ));
    for s in &issued {
        assert!(t.refresh(s.token().expose_secret()).await.is_ok());
    }
    // Logging out frees a slot.
    t.revoke_subject("user-0").await.unwrap();
    assert!(t.issue("user-3").await.is_ok());
}

#[test]
fn secrets_are_redacted_in_debug() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let t = support::tokens(
        MemoryRefreshStore::new(),
        &support::clock(),
        Default::default(),
    );
    let issued = rt.block_on(t.issue("u")).unwrap();
    let dbg = format!("{issued:?}");
    assert!(!dbg.contains(issued.token().expose_secret()), "{dbg}");
    assert!(dbg.contains("REDACTED"));
}
