//! TOTP second factor over the in-memory store: enrollment, step-up challenges, attempt
//! and failure limits, recovery codes, replay races.
#![allow(clippy::unwrap_used, clippy::panic)]

mod support;

use keel_auth::MemoryMfaStore;
use support::mfa;

#[tokio::test]
async fn enroll_confirm_and_log_in() {
    mfa::enroll_confirm_and_log_in(MemoryMfaStore::new()).await;
}

#[tokio::test]
async fn challenges_are_limited_purpose_bound_and_short_lived() {
    mfa::challenge_limits(MemoryMfaStore::new()).await;
}

#[tokio::test]
async fn recovery_codes_are_single_use() {
    mfa::recovery_codes_are_single_use(MemoryMfaStore::new()).await;
}

#[tokio::test]
async fn failures_lock_code_entry_for_the_window() {
    mfa::failures_lock_code_entry(MemoryMfaStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_uses_of_one_totp_code_exactly_one_succeeds() {
    mfa::totp_replay_race(MemoryMfaStore::new(), 6).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_uses_of_one_recovery_code_exactly_one_succeeds() {
    mfa::recovery_code_race(MemoryMfaStore::new(), 8).await;
}

#[tokio::test]
async fn purge_removes_only_dead_rows() {
    mfa::purge_removes_only_dead_rows(MemoryMfaStore::new()).await;
}

#[tokio::test]
async fn memory_store_bounds_challenges() {
    let store = std::sync::Arc::new(MemoryMfaStore::builder().max_challenges(2).build());
    let c = support::clock();
    let m = mfa::mfa(std::sync::Arc::clone(&store), &c, mfa::config());
    mfa::enrolled(&m, "a").await;
    mfa::enrolled(&m, "b").await;
    mfa::enrolled(&m, "c").await;
    m.begin("a", "login").await.unwrap();
    m.begin("b", "login").await.unwrap();
    assert!(matches!(
        m.begin("c", "login").await,
        Err(keel_auth::Error::Store(_))
    ));
    // Expired ones make room.
    c.advance(m.config().challenge_ttl());
    m.begin("c", "login").await.unwrap();
    assert_eq!(store.challenge_count(), 1);
}
