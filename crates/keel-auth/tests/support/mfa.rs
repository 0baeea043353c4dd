//! MFA scenarios every store must pass.

use std::sync::Arc;
use std::time::Duration;

use keel_auth::{Clock, Error, Mfa, MfaConfig, MfaMethod, MfaStore};
use keel_crypto::{KeyRing, Totp};
use tokio::sync::Barrier;

use super::clock;

pub(crate) const STEP: Duration = Duration::from_secs(30);

pub(crate) fn mfa(store: impl MfaStore, clock: &Clock, config: MfaConfig) -> Mfa {
    let keys = Arc::new(KeyRing::generate(1).unwrap());
    Mfa::new(store, keys, config).with_clock(clock.clone())
}

pub(crate) fn config() -> MfaConfig {
    MfaConfig::builder("Acme").build().unwrap()
}

/// Enrolls and confirms `subject`; returns the user's authenticator.
pub(crate) async fn enrolled(mfa: &Mfa, subject: &str) -> (Totp, Vec<String>) {
    let enrollment = mfa.enroll(subject, "ada@example.com").await.unwrap();
    let app = Totp::from_base32(enrollment.secret_base32()).unwrap();
    let codes = mfa
        .confirm(subject, &app.code_at(mfa.clock().unix_secs()))
        .await
        .unwrap();
    (app, codes.iter().map(str::to_owned).collect())
}

fn now_code(mfa: &Mfa, app: &Totp) -> String {
    app.code_at(mfa.clock().unix_secs())
}

pub(crate) async fn enroll_confirm_and_log_in(store: impl MfaStore) {
    let c = clock();
    let mfa = mfa(store, &c, config());
    let enrollment = mfa.enroll("u1", "ada@example.com").await.unwrap();
    assert!(
        enrollment
            .uri()
            .starts_with("otpauth://totp/Acme:ada%40example.com?secret="),
        "{}",
        enrollment.uri()
    );
    assert!(!format!("{enrollment:?}").contains(enrollment.secret_base32()));
    assert!(!mfa.is_enabled("u1").await.unwrap());
    // A pending factor cannot be used for login.
    assert!(matches!(
        mfa.begin("u1", "login").await,
        Err(Error::InvalidInput(_))
    ));

    let app = Totp::from_base32(enrollment.secret_base32()).unwrap();
    let wrong = if now_code(&mfa, &app) == "000000" {
        "111111"
    } else {
        "000000"
    };
    assert!(matches!(
        mfa.confirm("u1", wrong).await,
        Err(Error::InvalidCredentials)
    ));
    let codes = mfa.confirm("u1", &now_code(&mfa, &app)).await.unwrap();
    assert_eq!(codes.len(), 10);
    assert!(mfa.is_enabled("u1").await.unwrap());
    assert_eq!(mfa.recovery_codes_left("u1").await.unwrap(), 10);
    // Re-enrollment needs disabling first; confirming twice fails.
    assert!(matches!(
        mfa.enroll("u1", "x").await,
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        mfa.confirm("u1", &now_code(&mfa, &app)).await,
        Err(Error::InvalidCredentials)
    ));

    // Login step-up: the confirmation's step is spent (replay), the next one works.
    let challenge = mfa.begin("u1", "login").await.unwrap();
    assert!(!format!("{challenge:?}").contains(challenge.expose_secret()));
    assert!(matches!(
        mfa.complete(challenge.expose_secret(), "login", &now_code(&mfa, &app))
            .await,
        Err(Error::InvalidCredentials)
    ));
    c.advance(STEP);
    let ok = mfa
        .complete(challenge.expose_secret(), "login", &now_code(&mfa, &app))
        .await
        .unwrap();
    assert_eq!((ok.subject(), ok.method()), ("u1", MfaMethod::Totp));
    // Single use: the challenge is gone.
    c.advance(STEP);
    assert!(matches!(
        mfa.complete(challenge.expose_secret(), "login", &now_code(&mfa, &app))
            .await,
        Err(Error::InvalidToken)
    ));

    // Disable: gone, codes too; enrollment possible again.
    assert!(mfa.disable("u1").await.unwrap());
    assert!(!mfa.is_enabled("u1").await.unwrap());
    assert_eq!(mfa.recovery_codes_left("u1").await.unwrap(), 0);
    assert!(mfa.enroll("u1", "x").await.is_ok());
}

pub(crate) async fn challenge_limits(store: impl MfaStore) {
    let c = clock();
    let mfa = mfa(store, &c, config());
    let (app, _) = enrolled(&mfa, "u2").await;
    c.advance(STEP);

    // Five wrong codes, then even the right one finds the challenge dead.
    let ch = mfa.begin("u2", "login").await.unwrap();
    for wrong in ["000000", "111111", "222222", "333333", "444444"] {
        if wrong == now_code(&mfa, &app) {
            continue;
        }
        assert!(matches!(
            mfa.complete(ch.expose_secret(), "login", wrong).await,
            Err(Error::InvalidCredentials)
        ));
    }
    let _ = mfa.complete(ch.expose_secret(), "login", "555555").await;
    assert!(matches!(
        mfa.complete(ch.expose_secret(), "login", &now_code(&mfa, &app))
            .await,
        Err(Error::InvalidToken)
    ));

    // Purpose-bound: a "login" challenge does not complete "delete-account".
    let ch = mfa.begin("u2", "login").await.unwrap();
    assert!(matches!(
        mfa.complete(ch.expose_secret(), "delete-account", &now_code(&mfa, &app))
            .await,
        Err(Error::InvalidToken)
    ));

    // Short-lived: dead after its lifetime.
    let ch = mfa.begin("u2", "login").await.unwrap();
    c.advance(mfa.config().challenge_ttl());
    assert!(matches!(
        mfa.complete(ch.expose_secret(), "login", &now_code(&mfa, &app))
            .await,
        Err(Error::InvalidToken)
    ));

    // Garbage challenges and codes: typed errors, no panic.
    let huge = "9".repeat(10_000);
    assert!(matches!(
        mfa.complete(&huge, "login", "123456").await,
        Err(Error::InvalidToken)
    ));
    let ch = mfa.begin("u2", "login").await.unwrap();
    assert!(matches!(
        mfa.complete(ch.expose_secret(), "login", &huge).await,
        Err(Error::InvalidCredentials)
    ));
    assert!(matches!(
        mfa.begin("u2", "Bad Purpose").await,
        Err(Error::InvalidInput(_))
    ));

    // At most 3 live challenges per subject: a fourth ends the oldest.
    let first = mfa.begin("u2", "login").await.unwrap();
    for _ in 0..3 {
        mfa.begin("u2", "login").await.unwrap();
    }
    c.advance(STEP);
    assert!(matches!(
        mfa.complete(first.expose_secret(), "login", &now_code(&mfa, &app))
            .await,
        Err(Error::InvalidToken)
    ));
}

pub(crate) async fn recovery_codes_are_single_use(store: impl MfaStore) {
    let c = clock();
    let mfa = mfa(store, &c, config());
    let (_, codes) = enrolled(&mfa, "u3").await;

    let ch = mfa.begin("u3", "login").await.unwrap();
    let ok = mfa
        .complete(ch.expose_secret(), "login", &codes[0])
        .await
        .unwrap();
    assert_eq!(ok.method(), MfaMethod::RecoveryCode);
    assert_eq!(mfa.recovery_codes_left("u3").await.unwrap(), 9);
    let ch = mfa.begin("u3", "login").await.unwrap();
    assert!(matches!(
        mfa.complete(ch.expose_secret(), "login", &codes[0]).await,
        Err(Error::InvalidCredentials)
    ));
    // Typed sloppily: lower case, no dashes.
    let sloppy = codes[1].replace('-', "").to_lowercase();
    assert_eq!(
        mfa.verify_code("u3", &sloppy).await.unwrap(),
        MfaMethod::RecoveryCode
    );
    assert!(matches!(
        mfa.verify_code("u3", &sloppy).await,
        Err(Error::InvalidCredentials)
    ));

    // Regenerating invalidates the old set.
    let fresh = mfa.regenerate_recovery_codes("u3").await.unwrap();
    assert_eq!(mfa.recovery_codes_left("u3").await.unwrap(), 10);
    assert!(matches!(
        mfa.verify_code("u3", &codes[2]).await,
        Err(Error::InvalidCredentials)
    ));
    let first = fresh.iter().next().unwrap().to_owned();
    assert_eq!(
        mfa.verify_code("u3", &first).await.unwrap(),
        MfaMethod::RecoveryCode
    );
    assert!(matches!(
        mfa.regenerate_recovery_codes("nobody").await,
        Err(Error::InvalidInput(_))
    ));
}

pub(crate) async fn failures_lock_code_entry(store: impl MfaStore) {
    let c = clock();
    let config = MfaConfig::builder("Acme")
        .failure_limit(3, Duration::from_secs(900))
        .build()
        .unwrap();
    let mfa = mfa(store, &c, config);
    let (app, _) = enrolled(&mfa, "u4").await;
    c.advance(STEP);
    let right = now_code(&mfa, &app);
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    for _ in 0..3 {
        assert!(matches!(
            mfa.verify_code("u4", wrong).await,
            Err(Error::InvalidCredentials)
        ));
    }
    match mfa.verify_code("u4", &right).await {
        Err(Error::RateLimited { retry_after }) => {
            assert!(retry_after <= Duration::from_secs(900) && !retry_after.is_zero());
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    // New challenges do not reset the budget.
    let ch = mfa.begin("u4", "login").await.unwrap();
    assert!(matches!(
        mfa.complete(ch.expose_secret(), "login", &right).await,
        Err(Error::RateLimited { .. })
    ));
    c.advance(Duration::from_secs(900));
    assert_eq!(
        mfa.verify_code("u4", &now_code(&mfa, &app)).await.unwrap(),
        MfaMethod::Totp
    );
}

/// `n` logins (each with its own challenge) submit the same TOTP code at the same moment:
/// exactly one succeeds.
pub(crate) async fn totp_replay_race(store: impl MfaStore, n: usize) {
    let c = clock();
    let mfa = mfa(store, &c, config());
    let (app, _) = enrolled(&mfa, "racer").await;
    for round in 0..5 {
        c.advance(STEP);
        let code = now_code(&mfa, &app);
        let mut challenges = Vec::new();
        for _ in 0..n {
            challenges.push(mfa.begin("racer", "login").await.unwrap());
        }
        // Only 3 challenges live per subject: the race uses the survivors plus direct
        // step-up checks, all with the same code.
        let barrier = Arc::new(Barrier::new(n));
        let mut tasks = Vec::new();
        for (i, challenge) in challenges.iter().enumerate() {
            let (mfa, code, barrier) = (mfa.clone(), code.clone(), Arc::clone(&barrier));
            let token = challenge.expose_secret().to_owned();
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                if i % 2 == 0 {
                    mfa.complete(&token, "login", &code)
                        .await
                        .map(|v| v.method())
                } else {
                    mfa.verify_code("racer", &code).await
                }
            }));
        }
        let mut ok = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(MfaMethod::Totp) => ok += 1,
                Ok(other) => panic!("unexpected {other:?}"),
                Err(Error::InvalidCredentials | Error::InvalidToken) => {}
                Err(e) => panic!("round {round}: unexpected error {e:?}"),
            }
        }
        assert_eq!(
            ok, 1,
            "round {round}: {ok} of {n} concurrent uses of one code succeeded"
        );
    }
}

/// `n` requests present the same recovery code at once: exactly one succeeds.
pub(crate) async fn recovery_code_race(store: impl MfaStore, n: usize) {
    let c = clock();
    let mfa = mfa(store, &c, config());
    let (_, codes) = enrolled(&mfa, "rc").await;
    let barrier = Arc::new(Barrier::new(n));
    let mut tasks = Vec::new();
    for _ in 0..n {
        let (mfa, code, barrier) = (mfa.clone(), codes[0].clone(), Arc::clone(&barrier));
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            mfa.verify_code("rc", &code).await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap().is_ok() {
            ok += 1;
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(mfa.recovery_codes_left("rc").await.unwrap(), 9);
}

/// `purge` deletes expired challenges and stale unconfirmed enrollments, nothing live.
pub(crate) async fn purge_removes_only_dead_rows(store: impl MfaStore) {
    let c = clock();
    let mfa = mfa(store, &c, config());
    let (app, _) = enrolled(&mfa, "live").await;
    let (other_app, _) = enrolled(&mfa, "other").await;
    mfa.enroll("pending", "p@example.com").await.unwrap();
    // (Another subject's: a new challenge may clean up its own subject's expired ones.)
    let old = mfa.begin("other", "login").await.unwrap();
    assert_eq!(mfa.purge().await.unwrap(), 0);

    c.advance(mfa.config().challenge_ttl() + STEP);
    let fresh = mfa.begin("live", "login").await.unwrap();
    // The expired challenge goes; the fresh one, the factor and the recent pending stay.
    assert_eq!(mfa.purge().await.unwrap(), 1);
    c.advance(Duration::from_secs(24 * 3600));
    // Now the pending enrollment is stale (and the fresh challenge expired).
    assert_eq!(mfa.purge().await.unwrap(), 2);
    assert!(mfa.is_enabled("live").await.unwrap());
    assert!(matches!(
        mfa.complete(old.expose_secret(), "login", &now_code(&mfa, &other_app))
            .await,
        Err(Error::InvalidToken)
    ));
    assert!(matches!(
        mfa.complete(fresh.expose_secret(), "login", &now_code(&mfa, &app))
            .await,
        Err(Error::InvalidToken)
    ));
    // The stale pending enrollment is gone: a new one starts cleanly.
    assert!(mfa.enroll("pending", "p@example.com").await.is_ok());
    assert_eq!(
        mfa.verify_code("live", &now_code(&mfa, &app))
            .await
            .unwrap(),
        MfaMethod::Totp
    );
}
