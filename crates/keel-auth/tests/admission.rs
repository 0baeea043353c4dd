//! Password-hash admission with real Argon2id hashing (cheap parameters): a signup flood
//! is shed with `Overloaded` while logins keep succeeding.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use keel_auth::Error;
use keel_auth::admission::{HashPurpose, PasswordAdmission};
use keel_crypto::{Argon2Params, AsyncPasswordHasher, PasswordHasher};
use secrecy::SecretString;
use tokio::task::JoinSet;

fn admission(concurrency: usize, signups: usize, signup_queue: usize) -> PasswordAdmission {
    let hasher = PasswordHasher::new().with_params(Argon2Params::new(64, 1, 1).unwrap());
    PasswordAdmission::builder(AsyncPasswordHasher::with_max_concurrency(
        hasher,
        concurrency,
    ))
    .signup_concurrency(signups)
    .signup_queue(signup_queue)
    .login_queue(64)
    .retry_after(Duration::from_secs(2))
    .build()
    .unwrap()
}

/// Lets every spawned task run up to its next await point (current-thread runtime).
async fn settle() {
    for _ in 0..64 {
        tokio::task::yield_now().await;
    }
}

fn pw(s: &str) -> SecretString {
    SecretString::from(s)
}

/// The signup slots are busy (two long signups hold them) and the signup queue is full:
/// every further signup is refused at once, while logins hash on the reserved slots.
#[tokio::test(flavor = "current_thread")]
async fn signup_flood_is_shed_while_logins_keep_succeeding() {
    let a = admission(4, 2, 4);
    let stored = a
        .hash(HashPurpose::Signup, &pw("owner-password"))
        .await
        .unwrap();

    // Two slow signups in progress.
    let slow1 = a.acquire(HashPurpose::Signup).await.unwrap();
    let slow2 = a.acquire(HashPurpose::Signup).await.unwrap();
    // Four real signups queue behind them.
    let mut queued = JoinSet::new();
    for i in 0..4 {
        let a = a.clone();
        queued.spawn(async move {
            a.hash(HashPurpose::Signup, &pw(&format!("queued-{i}")))
                .await
        });
    }
    settle().await;
    let s = a.stats();
    assert_eq!(
        (s.running, s.running_signups, s.waiting_signups),
        (2, 2, 4),
        "{s:?}"
    );

    // The flood: 200 concurrent signups, all refused without waiting.
    let mut flood = JoinSet::new();
    for i in 0..200 {
        let a = a.clone();
        flood.spawn(async move {
            a.hash(HashPurpose::Signup, &pw(&format!("flood-{i}")))
                .await
        });
    }
    // Logins during the flood, with real verification.
    let mut logins = JoinSet::new();
    for i in 0..40 {
        let (a, stored) = (a.clone(), stored.clone());
        logins.spawn(async move {
            let password = if i % 2 == 0 {
                "owner-password"
            } else {
                "wrong"
            };
            (i, a.verify(&pw(password), &stored).await)
        });
    }
    let mut shed = 0;
    while let Some(r) = flood.join_next().await {
        match r.unwrap() {
            Err(Error::Overloaded { retry_after }) => {
                assert_eq!(retry_after, Duration::from_secs(2));
                shed += 1;
            }
            other => panic!("a flood signup was not shed: {other:?}"),
        }
    }
    assert_eq!(shed, 200);
    while let Some(r) = logins.join_next().await {
        let (i, result) = r.unwrap();
        assert_eq!(result.unwrap(), i % 2 == 0, "login {i}");
    }
    let s = a.stats();
    assert_eq!((s.shed_signups, s.shed_logins), (200, 0), "{s:?}");
    assert_eq!((s.running_signups, s.waiting_signups), (2, 4), "{s:?}");

    // The slow signups end: the queued ones run and produce real hashes.
    drop((slow1, slow2));
    let mut n = 0;
    while let Some(r) = queued.join_next().await {
        let phc = r.unwrap().unwrap();
        assert!(phc.starts_with("$argon2id$"));
        n += 1;
    }
    assert_eq!(n, 4);
    let s = a.stats();
    assert_eq!(
        (s.running, s.waiting_logins, s.waiting_signups),
        (0, 0, 0),
        "{s:?}"
    );
}

/// An uncontrolled flood on a multi-threaded runtime: however the hashes interleave,
/// signups never hold more than their slots, every signup either hashes or is shed, and
/// every login succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_flood_never_exceeds_the_signup_share() {
    let hasher = PasswordHasher::new().with_params(Argon2Params::new(256, 2, 1).unwrap());
    let a = PasswordAdmission::builder(AsyncPasswordHasher::with_max_concurrency(hasher, 2))
        .signup_concurrency(1)
        .signup_queue(2)
        .login_queue(64)
        .build()
        .unwrap();
    let stored = a.hash(HashPurpose::Signup, &pw("pw")).await.unwrap();

    let mut flood = JoinSet::new();
    for i in 0..300 {
        let a = a.clone();
        flood.spawn(async move {
            let r = a
                .hash(HashPurpose::Signup, &pw(&format!("flood-{i}")))
                .await;
            (r, a.stats().running_signups)
        });
    }
    let mut logins = JoinSet::new();
    for _ in 0..30 {
        let (a, stored) = (a.clone(), stored.clone());
        logins.spawn(async move { a.verify(&pw("pw"), &stored).await });
    }
    let (mut hashed, mut shed) = (0, 0);
    while let Some(r) = flood.join_next().await {
        let (result, running_signups) = r.unwrap();
        assert!(running_signups <= 1, "signups held {running_signups} slots");
        match result {
            Ok(phc) => {
                assert!(phc.starts_with("$argon2id$"));
                hashed += 1;
            }
            Err(Error::Overloaded { .. }) => shed += 1,
            Err(e) => panic!("{e:?}"),
        }
    }
    while let Some(r) = logins.join_next().await {
        assert!(r.unwrap().unwrap(), "a login failed during the flood");
    }
    assert_eq!(hashed + shed, 300);
    assert!(
        shed > 0,
        "300 concurrent signups against 3 places: some must be shed"
    );
    let s = a.stats();
    assert_eq!(s.shed_logins, 0, "{s:?}");
    assert_eq!(s.shed_signups, shed, "{s:?}");
}

/// Unknown accounts cost one verification, like known ones, and answer the same `false`.
#[tokio::test(flavor = "current_thread")]
async fn unknown_accounts_spend_one_dummy_verification() {
    let a = admission(2, 1, 4);
    let stored = a.hash(HashPurpose::Signup, &pw("right")).await.unwrap();
    assert!(
        a.verify_or_dummy(&pw("right"), Some(&stored))
            .await
            .unwrap()
    );
    assert!(
        !a.verify_or_dummy(&pw("wrong"), Some(&stored))
            .await
            .unwrap()
    );
    assert!(!a.verify_or_dummy(&pw("right"), None).await.unwrap());

    // The dummy path goes through admission like a real verification: with every slot
    // and the login queue taken it is shed too.
    let full = PasswordAdmission::builder(AsyncPasswordHasher::with_max_concurrency(
        PasswordHasher::new().with_params(Argon2Params::new(64, 1, 1).unwrap()),
        1,
    ))
    .login_queue(0)
    .build()
    .unwrap();
    let held = full.acquire(HashPurpose::Login).await.unwrap();
    assert!(matches!(
        full.verify_or_dummy(&pw("x"), None).await,
        Err(Error::Overloaded { .. })
    ));
    drop(held);
    assert!(!full.verify_or_dummy(&pw("x"), None).await.unwrap());
}
