//! The session flows (`keel_auth::flow`) over the PostgreSQL stores built by
//! `AuthComponents::postgres` and an account table in the same schema, against a real
//! server (`KEEL_TEST_DATABASE_URL`), each test in its own schema: login and its attacker
//! paths (one answer, input checked first, failure-only limits, the owner's device),
//! the outdated-hash upgrade, TOTP step-up, refresh rotation with roles read again,
//! logout, logout everywhere and password change.
#![cfg(all(feature = "postgres", feature = "ratelimit"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use keel_auth::admission::{HashPurpose, PasswordAdmission};
use keel_auth::flow::{
    Account, AccountStore, AuthComponents, LoginOutcome, SessionFlow, TokenPair,
};
use keel_auth::login::{LoginEmail, LoginPolicy};
use keel_auth::{Clock, Error, Key, KeySet, StoreFuture, migrations};
use keel_crypto::{Argon2Params, AsyncPasswordHasher, KeyRing, PasswordHasher, SecretKey, Totp};
use keel_db_pool::{Config, Pool};
use secrecy::SecretString;

const PASSWORD: &str = "correct horse battery staple";

/// Accounts in `<schema>.accounts`, counting lookups (to prove what never reaches the
/// database) and able to fail its writes (to prove what is best effort).
struct PgAccounts {
    pool: Pool,
    schema: String,
    lookups: AtomicUsize,
    fail_writes: AtomicBool,
}

impl PgAccounts {
    fn account(row: &tokio_postgres::Row) -> Account {
        Account::new(
            row.get::<_, String>(0),
            row.get::<_, String>(1),
            row.get::<_, String>(2),
        )
        .roles([row.get::<_, String>(3)])
    }
}

impl AccountStore for PgAccounts {
    fn find_by_login<'a>(&'a self, login: &'a LoginEmail) -> StoreFuture<'a, Option<Account>> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        let sql = format!(
            "SELECT subject, email, hash, role FROM {}.accounts WHERE email = $1",
            self.schema
        );
        Box::pin(async move {
            let row = self.pool.query_opt(&sql, &[&login.as_str()]).await;
            Ok(row.map_err(Error::store)?.as_ref().map(Self::account))
        })
    }

    fn find_by_subject<'a>(&'a self, subject: &'a str) -> StoreFuture<'a, Option<Account>> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        let sql = format!(
            "SELECT subject, email, hash, role FROM {}.accounts WHERE subject = $1",
            self.schema
        );
        Box::pin(async move {
            let row = self.pool.query_opt(&sql, &[&subject]).await;
            Ok(row.map_err(Error::store)?.as_ref().map(Self::account))
        })
    }

    fn set_password_hash<'a>(&'a self, subject: &'a str, hash: &'a str) -> StoreFuture<'a, bool> {
        let sql = format!(
            "UPDATE {}.accounts SET hash = $2 WHERE subject = $1",
            self.schema
        );
        Box::pin(async move {
            if self.fail_writes.load(Ordering::SeqCst) {
                return Err(Error::store(std::io::Error::other(
                    "write refused by the test",
                )));
            }
            let n = self.pool.execute(&sql, &[&subject, &hash]).await;
            Ok(n.map_err(Error::store)? == 1)
        })
    }
}

struct Setup {
    flow: SessionFlow,
    accounts: Arc<PgAccounts>,
    parts: AuthComponents,
    clock: Clock,
}

fn hasher(memory_kib: u32) -> AsyncPasswordHasher {
    AsyncPasswordHasher::new(
        PasswordHasher::new().with_params(Argon2Params::new(memory_kib, 1, 1).unwrap()),
    )
}

/// A flow over a fresh schema (every keel-auth table plus `accounts`); `None` when no
/// server is configured (a failure under `KEEL_REQUIRE_SERVICES=1`).
async fn setup() -> Option<Setup> {
    let url = keel_testkit::database_url()?;
    let config = Config::builder().url(&url).max_size(8).build().unwrap();
    let pool = Pool::connect(config).await.expect("connect to PostgreSQL");
    let schema = keel_testkit::unique_name("keel_auth_flow");
    migrations::apply(&pool, &schema).await.unwrap();
    pool.execute(
        &format!(
            "CREATE TABLE {schema}.accounts (subject text PRIMARY KEY, email text UNIQUE NOT NULL, \
             hash text NOT NULL, role text NOT NULL)"
        ),
        &[],
    )
    .await
    .unwrap();
    let clock = Clock::manual();
    let mut parts = AuthComponents::postgres(pool.clone(), &schema, "flow-test")
        .keys(KeySet::new(Key::generate_hs256("k1").unwrap()).unwrap())
        .mfa_key_ring(Arc::new(KeyRing::generate(1).unwrap()))
        .login_policy(LoginPolicy::builder(SecretKey::from_bytes([7; 32])))
        .admission(PasswordAdmission::new(hasher(64)))
        .build()
        .unwrap();
    parts.mfa = parts.mfa.clone().with_clock(clock.clone());
    let accounts = Arc::new(PgAccounts {
        pool,
        schema,
        lookups: AtomicUsize::new(0),
        fail_writes: AtomicBool::new(false),
    });
    let flow = SessionFlow::new(parts.clone(), Arc::clone(&accounts));
    Some(Setup {
        flow,
        accounts,
        parts,
        clock,
    })
}

impl Setup {
    /// Inserts an account with `password` hashed by `admission`.
    async fn add(&self, subject: &str, email: &str, role: &str, admission: &PasswordAdmission) {
        let hash = admission
            .hash(HashPurpose::Signup, &SecretString::from(PASSWORD))
            .await
            .unwrap();
        let sql = format!(
            "INSERT INTO {}.accounts (subject, email, hash, role) VALUES ($1, $2, $3, $4)",
            self.accounts.schema
        );
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
            [&subject, &email, &hash, &role];
        assert_eq!(self.accounts.pool.execute(&sql, &params).await.unwrap(), 1);
    }

    async fn stored_hash(&self, subject: &str) -> String {
        let sql = format!(
            "SELECT hash FROM {}.accounts WHERE subject = $1",
            self.accounts.schema
        );
        self.accounts
            .pool
            .query_one(&sql, &[&subject])
            .await
            .unwrap()
            .get(0)
    }

    async fn sql(&self, sql: &str, subject: &str) {
        let sql = sql.replace("{schema}", &self.accounts.schema);
        self.accounts.pool.execute(&sql, &[&subject]).await.unwrap();
    }

    async fn login(
        &self,
        email: &str,
        password: &str,
        from: &str,
    ) -> keel_auth::Result<LoginOutcome> {
        self.flow
            .login(email, &SecretString::from(password), ip(from), None)
            .await
    }

    async fn tokens(&self, email: &str) -> TokenPair {
        match self.login(email, PASSWORD, "192.0.2.1").await.unwrap() {
            LoginOutcome::Tokens { tokens, .. } => tokens,
            LoginOutcome::MfaRequired(_) => panic!("unexpected MFA challenge"),
        }
    }

    async fn authenticate(&self, token: &str) -> keel_auth::Result<Arc<keel_auth::Claims<()>>> {
        self.parts.authenticator.authenticate::<()>(token).await
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn invalid_credentials<T: std::fmt::Debug>(r: &keel_auth::Result<T>) -> bool {
    matches!(r, Err(Error::InvalidCredentials))
}

#[tokio::test]
async fn login_refresh_and_logout() {
    let Some(s) = setup().await else { return };
    s.add("u1", "ada@example.org", "user", &s.parts.admission)
        .await;

    let outcome = s
        .login(" Ada@Example.org", PASSWORD, "192.0.2.1")
        .await
        .unwrap();
    let LoginOutcome::Tokens { tokens, device } = outcome else {
        panic!("no MFA enrolled")
    };
    assert!(device.is_some(), "a success hands out a device token");
    assert_eq!(
        (tokens.token_type.as_str(), tokens.expires_in),
        ("Bearer", 900)
    );
    let claims = s.authenticate(&tokens.access_token).await.unwrap();
    assert_eq!(claims.sub, "u1");
    assert_eq!(claims.roles, ["user"]);
    let sid = claims
        .sid
        .clone()
        .expect("the access token names its session");

    // Rotation keeps the session; the spent token is a reuse that ends the session.
    let rotated = s.flow.refresh(&tokens.refresh_token).await.unwrap();
    assert_ne!(rotated.refresh_token, tokens.refresh_token);
    let again = s.authenticate(&rotated.access_token).await.unwrap();
    assert_eq!(again.sid.as_deref(), Some(sid.as_str()));
    assert!(matches!(
        s.flow.refresh(&tokens.refresh_token).await,
        Err(Error::InvalidToken)
    ));
    assert!(matches!(
        s.flow.refresh(&rotated.refresh_token).await,
        Err(Error::InvalidToken)
    ));

    // Logout ends the refresh session and, at once, that session's access tokens only.
    let a = s.tokens("ada@example.org").await;
    let b = s.tokens("ada@example.org").await;
    let a_sid = s.authenticate(&a.access_token).await.unwrap().sid.clone();
    s.flow
        .logout("u1", a_sid.as_deref(), &a.refresh_token)
        .await
        .unwrap();
    assert!(matches!(
        s.authenticate(&a.access_token).await,
        Err(Error::InvalidToken)
    ));
    assert!(matches!(
        s.flow.refresh(&a.refresh_token).await,
        Err(Error::InvalidToken)
    ));
    assert!(s.authenticate(&b.access_token).await.is_ok());
    // Logging out twice is not an error.
    s.flow
        .logout("u1", a_sid.as_deref(), &a.refresh_token)
        .await
        .unwrap();
    let b = s.flow.refresh(&b.refresh_token).await.unwrap();

    // Another subject's logout with this session's refresh token succeeds and ends nothing.
    s.add("u2", "bob@example.org", "user", &s.parts.admission)
        .await;
    s.flow.logout("u2", None, &b.refresh_token).await.unwrap();
    s.flow.refresh(&b.refresh_token).await.unwrap();
}

#[tokio::test]
async fn one_answer_for_every_failure_and_junk_never_reaches_the_database() {
    let Some(s) = setup().await else { return };
    s.add("u1", "ada@example.org", "user", &s.parts.admission)
        .await;

    let wrong = s
        .login("ada@example.org", "wrong password", "192.0.2.1")
        .await;
    let unknown = s.login("nobody@example.org", PASSWORD, "192.0.2.2").await;
    assert!(invalid_credentials(&wrong) && invalid_credentials(&unknown));
    let lookups = s.accounts.lookups.load(Ordering::SeqCst);
    assert_eq!(lookups, 2);

    // Malformed address, oversized password: the same answer, and no lookup and no
    // limiter charge: had the 100 attempts below been counted, the wrong passwords after
    // them would be refused (429) instead of answered 401.
    for _ in 0..50 {
        let r = s.login("not an address", PASSWORD, "192.0.2.3").await;
        assert!(invalid_credentials(&r));
        let huge = "x".repeat(100_000);
        let r = s.login("ada@example.org", &huge, "192.0.2.3").await;
        assert!(invalid_credentials(&r));
    }
    assert_eq!(s.accounts.lookups.load(Ordering::SeqCst), lookups);
    for _ in 0..4 {
        let r = s
            .login("ada@example.org", "wrong password", "192.0.2.3")
            .await;
        assert!(invalid_credentials(&r), "{r:?}");
    }
    s.tokens("ada@example.org").await;
}

#[tokio::test]
async fn failures_lock_the_account_for_strangers_but_not_for_its_owners_device() {
    let Some(s) = setup().await else { return };
    s.add("u1", "ada@example.org", "user", &s.parts.admission)
        .await;
    // The owner logs in once from home: a device token.
    let owner = s
        .flow
        .login(
            "ada@example.org",
            &PASSWORD.into(),
            ip("198.51.100.1"),
            None,
        )
        .await
        .unwrap();
    let LoginOutcome::Tokens {
        device: Some(device),
        ..
    } = owner
    else {
        panic!("no device token")
    };

    // Wrong passwords from many addresses spend the account budget (10 by default)...
    let mut limited = false;
    for n in 0..20u8 {
        let r = s
            .login("ada@example.org", "guess", &format!("203.0.113.{n}"))
            .await;
        if matches!(r, Err(Error::RateLimited { .. })) {
            limited = true;
            break;
        }
        assert!(invalid_credentials(&r));
    }
    assert!(limited, "the account budget stops distributed guessing");
    // ... so even the right password from a new device is refused while it lasts...
    let stranger = s.login("ada@example.org", PASSWORD, "198.51.100.99").await;
    assert!(matches!(stranger, Err(Error::RateLimited { .. })));
    // ... but the owner's device still gets in.
    let back = s
        .flow
        .login(
            "ada@example.org",
            &PASSWORD.into(),
            ip("198.51.100.1"),
            Some(device.as_str()),
        )
        .await
        .unwrap();
    assert!(matches!(back, LoginOutcome::Tokens { .. }));
}

#[tokio::test]
async fn successes_do_not_count_against_the_limits() {
    let Some(s) = setup().await else { return };
    s.add("u1", "ada@example.org", "user", &s.parts.admission)
        .await;
    // Many more successes from one address than any failure budget allows.
    for _ in 0..30 {
        s.tokens("ada@example.org").await;
    }
}

#[tokio::test]
async fn an_outdated_hash_is_upgraded_at_login_and_a_failed_upgrade_does_not_fail_it() {
    let Some(s) = setup().await else { return };
    let old = PasswordAdmission::new(hasher(32));
    s.add("u1", "ada@example.org", "user", &old).await;
    s.add("u2", "bob@example.org", "user", &old).await;
    let before = s.stored_hash("u1").await;
    assert!(s.parts.admission.needs_rehash(&before));

    s.tokens("ada@example.org").await;
    let after = s.stored_hash("u1").await;
    assert_ne!(after, before);
    assert!(!s.parts.admission.needs_rehash(&after));
    s.tokens("ada@example.org").await; // the new hash verifies

    s.accounts.fail_writes.store(true, Ordering::SeqCst);
    s.tokens("bob@example.org").await;
    assert!(s.parts.admission.needs_rehash(&s.stored_hash("u2").await));
}

#[tokio::test]
async fn totp_enrollment_and_login_step_up() {
    let Some(s) = setup().await else { return };
    s.add("u1", "ada@example.org", "user", &s.parts.admission)
        .await;
    let enrollment = s.flow.enroll_totp("u1").await.unwrap();
    assert!(
        enrollment.otpauth_uri.contains("ada%40example.org"),
        "{}",
        enrollment.otpauth_uri
    );
    assert!(!format!("{enrollment:?}").contains(&enrollment.secret));
    let app = Totp::from_base32(&enrollment.secret).unwrap();
    let code = |s: &Setup| app.code_at(s.clock.unix_secs());
    let codes = s.flow.confirm_totp("u1", &code(&s)).await.unwrap();
    assert_eq!(codes.recovery_codes.len(), 10);
    // An unknown subject cannot enroll.
    assert!(matches!(
        s.flow.enroll_totp("ghost").await,
        Err(Error::InvalidToken)
    ));

    // The right password now leads to a challenge, never to tokens.
    let challenge = match s
        .login("ada@example.org", PASSWORD, "192.0.2.1")
        .await
        .unwrap()
    {
        LoginOutcome::MfaRequired(m) => m,
        LoginOutcome::Tokens { .. } => panic!("tokens without the second factor"),
    };
    assert!(challenge.mfa_required);
    assert!(!format!("{challenge:?}").contains(&challenge.mfa_token));
    s.clock.advance(std::time::Duration::from_secs(30));
    let wrong = if code(&s) == "000000" {
        "111111"
    } else {
        "000000"
    };
    let r = s.flow.complete_mfa(&challenge.mfa_token, wrong).await;
    assert!(invalid_credentials(&r));
    let tokens = s
        .flow
        .complete_mfa(&challenge.mfa_token, &code(&s))
        .await
        .unwrap();
    assert_eq!(
        s.authenticate(&tokens.access_token).await.unwrap().sub,
        "u1"
    );
    // Single use.
    let r = s.flow.complete_mfa(&challenge.mfa_token, &code(&s)).await;
    assert!(matches!(r, Err(Error::InvalidToken)));

    // A recovery code works once.
    let recovery = &codes.recovery_codes[0];
    for expected_ok in [true, false] {
        let LoginOutcome::MfaRequired(ch) = s
            .login("ada@example.org", PASSWORD, "192.0.2.1")
            .await
            .unwrap()
        else {
            panic!("no challenge")
        };
        let r = s.flow.complete_mfa(&ch.mfa_token, recovery).await;
        assert_eq!(r.is_ok(), expected_ok, "{r:?}");
    }
    // A challenge for an account deleted meanwhile gives no tokens.
    let LoginOutcome::MfaRequired(ch) = s
        .login("ada@example.org", PASSWORD, "192.0.2.1")
        .await
        .unwrap()
    else {
        panic!("no challenge")
    };
    s.sql("DELETE FROM {schema}.accounts WHERE subject = $1", "u1")
        .await;
    s.clock.advance(std::time::Duration::from_secs(30));
    let r = s.flow.complete_mfa(&ch.mfa_token, &code(&s)).await;
    assert!(matches!(r, Err(Error::InvalidToken)), "{r:?}");
}

#[tokio::test]
async fn refresh_reads_roles_again_and_a_deleted_account_ends_its_session() {
    let Some(s) = setup().await else { return };
    s.add("u1", "ada@example.org", "admin", &s.parts.admission)
        .await;
    let tokens = s.tokens("ada@example.org").await;
    assert_eq!(
        s.authenticate(&tokens.access_token).await.unwrap().roles,
        ["admin"]
    );

    s.sql(
        "UPDATE {schema}.accounts SET role = 'user' WHERE subject = $1",
        "u1",
    )
    .await;
    let demoted = s.flow.refresh(&tokens.refresh_token).await.unwrap();
    assert_eq!(
        s.authenticate(&demoted.access_token).await.unwrap().roles,
        ["user"]
    );

    s.sql("DELETE FROM {schema}.accounts WHERE subject = $1", "u1")
        .await;
    let r = s.flow.refresh(&demoted.refresh_token).await;
    assert!(matches!(r, Err(Error::InvalidToken)));
    assert!(
        s.parts.refresh.sessions("u1").await.unwrap().is_empty(),
        "the session ended"
    );
}

#[tokio::test]
async fn logout_everywhere_ends_every_session() {
    let Some(s) = setup().await else { return };
    s.add("u1", "ada@example.org", "user", &s.parts.admission)
        .await;
    s.add("u2", "bob@example.org", "user", &s.parts.admission)
        .await;
    let (a, b) = (
        s.tokens("ada@example.org").await,
        s.tokens("ada@example.org").await,
    );
    let other = s.tokens("bob@example.org").await;
    s.flow.logout_everywhere("u1").await.unwrap();
    for t in [&a, &b] {
        assert!(matches!(
            s.authenticate(&t.access_token).await,
            Err(Error::InvalidToken)
        ));
        assert!(matches!(
            s.flow.refresh(&t.refresh_token).await,
            Err(Error::InvalidToken)
        ));
    }
    assert!(s.authenticate(&other.access_token).await.is_ok());
    s.flow.refresh(&other.refresh_token).await.unwrap();
    // New logins work again.
    let fresh = s.tokens("ada@example.org").await;
    assert!(s.authenticate(&fresh.access_token).await.is_ok());
}

#[derive(Debug, PartialEq)]
enum AppError {
    Auth(String),
    Weak,
}

impl From<Error> for AppError {
    fn from(e: Error) -> Self {
        Self::Auth(format!("{e:?}"))
    }
}

#[tokio::test]
async fn password_change_checks_the_current_one_then_the_rule_then_ends_every_session() {
    let Some(s) = setup().await else { return };
    s.add("u1", "ada@example.org", "user", &s.parts.admission)
        .await;
    let session = s.tokens("ada@example.org").await;
    let new = SecretString::from("a much better passphrase");
    let strong = |account: &Account, pw: &SecretString| {
        use secrecy::ExposeSecret;
        assert_eq!(account.subject(), "u1");
        if pw.expose_secret().len() < 12 {
            Err(AppError::Weak)
        } else {
            Ok(())
        }
    };
    let client = ip("192.0.2.1");

    // A wrong current password: refused before the rule is even asked.
    let r = s
        .flow
        .change_password("u1", client, &"wrong".into(), &"short".into(), strong)
        .await;
    assert_eq!(r, Err(AppError::from(Error::InvalidCredentials)));
    // The application's rule refuses a weak one; nothing changes.
    let before = s.stored_hash("u1").await;
    let r = s
        .flow
        .change_password("u1", client, &PASSWORD.into(), &"short".into(), strong)
        .await;
    assert_eq!(r, Err(AppError::Weak));
    assert_eq!(s.stored_hash("u1").await, before);
    s.flow.refresh(&session.refresh_token).await.unwrap();
    let session = s.tokens("ada@example.org").await;

    s.flow
        .change_password("u1", client, &PASSWORD.into(), &new, strong)
        .await
        .unwrap();
    assert!(matches!(
        s.authenticate(&session.access_token).await,
        Err(Error::InvalidToken)
    ));
    assert!(matches!(
        s.flow.refresh(&session.refresh_token).await,
        Err(Error::InvalidToken)
    ));
    assert!(invalid_credentials(
        &s.login("ada@example.org", PASSWORD, "192.0.2.1").await
    ));
    let r = s
        .login("ada@example.org", "a much better passphrase", "192.0.2.1")
        .await;
    assert!(matches!(r, Ok(LoginOutcome::Tokens { .. })));
}

#[tokio::test]
async fn guessing_the_current_password_with_a_stolen_token_hits_the_login_limits() {
    let Some(s) = setup().await else { return };
    s.add("u1", "ada@example.org", "user", &s.parts.admission)
        .await;
    let ok = |_: &Account, _: &SecretString| Ok::<(), Error>(());
    let mut limited = false;
    for n in 0..20u8 {
        let client = ip(&format!("203.0.113.{n}"));
        let r = s
            .flow
            .change_password(
                "u1",
                client,
                &"guess".into(),
                &"whatever-new-pass".into(),
                ok,
            )
            .await;
        if matches!(r, Err(Error::RateLimited { .. })) {
            limited = true;
            break;
        }
        assert!(invalid_credentials(&r));
    }
    assert!(limited);
}

#[tokio::test]
async fn the_builder_names_what_is_missing() {
    let Some(url) = keel_testkit::database_url() else {
        return;
    };
    let pool = Pool::connect(Config::builder().url(&url).build().unwrap())
        .await
        .unwrap();
    let r = AuthComponents::postgres(pool.clone(), "auth", "me").build();
    assert!(matches!(r, Err(Error::Config(m)) if m.contains("keys")));
    let r = AuthComponents::postgres(pool, "bad schema; DROP", "me")
        .keys(KeySet::new(Key::generate_hs256("k1").unwrap()).unwrap())
        .mfa_key_ring(Arc::new(KeyRing::generate(1).unwrap()))
        .login_policy(LoginPolicy::builder(SecretKey::from_bytes([7; 32])))
        .admission(PasswordAdmission::new(hasher(64)))
        .build();
    assert!(matches!(r, Err(Error::Config(_))));
}
