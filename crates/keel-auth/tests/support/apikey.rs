//! API-key scenarios every store must pass.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use keel_auth::{
    ApiKeyRecord, ApiKeyStore, ApiKeys, ApiKeysConfig, Clock, Error, NewApiKey, StoreFuture,
};
use keel_crypto::ApiKey;

use super::clock;

/// Counts lookups, to prove which rejections never reach the store.
pub(crate) struct Counting<S> {
    pub(crate) inner: S,
    pub(crate) finds: Arc<AtomicUsize>,
}

impl<S: ApiKeyStore> ApiKeyStore for Counting<S> {
    fn insert<'a>(&'a self, record: &'a ApiKeyRecord) -> StoreFuture<'a, bool> {
        self.inner.insert(record)
    }
    fn find<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<ApiKeyRecord>> {
        self.finds.fetch_add(1, Ordering::SeqCst);
        self.inner.find(id)
    }
    fn touch<'a>(
        &'a self,
        id: &'a str,
        now: SystemTime,
        interval: Duration,
    ) -> StoreFuture<'a, ()> {
        self.inner.touch(id, now, interval)
    }
    fn revoke<'a>(&'a self, id: &'a str, now: SystemTime) -> StoreFuture<'a, bool> {
        self.inner.revoke(id, now)
    }
    fn list<'a>(&'a self, subject: &'a str) -> StoreFuture<'a, Vec<ApiKeyRecord>> {
        self.inner.list(subject)
    }
}

pub(crate) fn keys(store: impl ApiKeyStore, clock: &Clock) -> ApiKeys {
    ApiKeys::new(store, ApiKeysConfig::builder("kl_test").build().unwrap())
        .with_clock(clock.clone())
}

fn invalid<T: std::fmt::Debug>(r: keel_auth::Result<T>) -> bool {
    matches!(r.err(), Some(Error::InvalidCredentials))
}

pub(crate) async fn create_verify_revoke(store: impl ApiKeyStore) {
    let c = clock();
    let keys = keys(store, &c);
    let created = keys
        .create(NewApiKey::new("billing", "billing worker").scopes([
            "invoices:write",
            "customers:read",
            "invoices:write",
        ]))
        .await
        .unwrap();
    let secret = created.key().expose_secret().to_owned();
    assert!(secret.starts_with("kl_test_"));
    let id = created.record().id.clone();
    assert!(secret.starts_with(&id) && id.len() == "kl_test_".len() + 8);

    let caller = keys.verify(&secret).await.unwrap();
    assert_eq!(caller.subject(), "billing");
    assert_eq!(caller.key_id(), id);
    assert_eq!(caller.scopes(), ["customers:read", "invoices:write"]);
    assert!(caller.has_scope("invoices:write") && !caller.has_scope("invoices:delete"));
    assert!(matches!(
        caller.require_scope("admin"),
        Err(Error::InsufficientScope)
    ));

    let listed = keys.list("billing").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].hash.verify(&ApiKey::parse(&secret).unwrap()));
    assert!(!format!("{listed:?}").contains(&secret[id.len()..]));

    assert!(keys.revoke(&id).await.unwrap());
    assert!(!keys.revoke(&id).await.unwrap());
    assert!(invalid(keys.verify(&secret).await));
    assert!(!keys.revoke("kl_test_nothere1").await.unwrap());
}

/// Every single-character typo in the random part or checksum is caught by the checksum,
/// before any lookup; so are garbage and over-long input.
pub(crate) async fn typos_never_reach_the_store(store: impl ApiKeyStore) {
    let c = clock();
    let finds = Arc::new(AtomicUsize::new(0));
    let keys = keys(
        Counting {
            inner: store,
            finds: Arc::clone(&finds),
        },
        &c,
    );
    let created = keys.create(NewApiKey::new("svc", "typos")).await.unwrap();
    let secret = created.key().expose_secret().to_owned();
    let body_start = "kl_test_".len();
    let mut typos = 0;
    for i in body_start..secret.len() {
        for replacement in [b'0', b'Z', b'q'] {
            let mut bytes = secret.clone().into_bytes();
            if bytes[i] == replacement {
                continue;
            }
            bytes[i] = replacement;
            let typo = String::from_utf8(bytes).unwrap();
            assert!(invalid(keys.verify(&typo).await), "typo at {i}");
            typos += 1;
        }
    }
    let long = "k".repeat(100_000);
    for garbage in ["", "kl_test_", "not a key", "Bearer x", long.as_str()] {
        assert!(invalid(keys.verify(garbage).await));
    }
    assert!(typos > 100);
    assert_eq!(finds.load(Ordering::SeqCst), 0, "a typo reached the store");
    // The real key does reach it.
    keys.verify(&secret).await.unwrap();
    assert_eq!(finds.load(Ordering::SeqCst), 1);
}

/// A record found by id whose hash belongs to another key is refused (constant-time
/// comparison of the full hash, not just the id).
pub(crate) async fn same_id_wrong_secret(store: impl ApiKeyStore) {
    let c = clock();
    let a = ApiKey::generate("kl_test").unwrap();
    let b = ApiKey::generate("kl_test").unwrap();
    let id = a.expose_secret()[.."kl_test_".len() + 8].to_owned();
    let record = ApiKeyRecord {
        id,
        subject: "svc".into(),
        name: "forged".into(),
        scopes: vec![],
        hash: b.hash(),
        created_at: c.now(),
        expires_at: None,
        revoked_at: None,
        last_used_at: None,
    };
    assert!(store.insert(&record).await.unwrap());
    assert!(
        !store.insert(&record).await.unwrap(),
        "duplicate id accepted"
    );
    let keys = keys(store, &c);
    assert!(invalid(keys.verify(a.expose_secret()).await));
}

/// Expiry on a manual clock, and last-used writes at most once per interval.
pub(crate) async fn expiry_and_last_used(store: impl ApiKeyStore) {
    let c = clock();
    let keys = keys(store, &c);
    let t0 = c.now();
    let created = keys
        .create(NewApiKey::new("svc", "expiring").expires_at(t0 + Duration::from_secs(3600)))
        .await
        .unwrap();
    let secret = created.key().expose_secret().to_owned();
    let last_used = |keys: ApiKeys| async move { keys.list("svc").await.unwrap()[0].last_used_at };
    assert_eq!(last_used(keys.clone()).await, None);
    keys.verify(&secret).await.unwrap();
    assert_eq!(last_used(keys.clone()).await, Some(t0));
    c.advance(Duration::from_secs(30));
    keys.verify(&secret).await.unwrap();
    assert_eq!(
        last_used(keys.clone()).await,
        Some(t0),
        "written twice within a minute"
    );
    c.advance(Duration::from_secs(31));
    keys.verify(&secret).await.unwrap();
    assert_eq!(last_used(keys.clone()).await, Some(c.now()));
    c.advance(Duration::from_secs(3600));
    assert!(invalid(keys.verify(&secret).await));
}

pub(crate) async fn input_limits(store: impl ApiKeyStore) {
    let c = clock();
    let keys = ApiKeys::new(
        store,
        ApiKeysConfig::builder("kl_test")
            .max_keys_per_subject(2)
            .build()
            .unwrap(),
    )
    .with_clock(c.clone());
    let many: Vec<String> = (0..33).map(|i| format!("s{i}")).collect();
    for bad in [
        NewApiKey::new("svc", "x").scopes(many),
        NewApiKey::new("svc", "x").scope("Bad Scope"),
        NewApiKey::new("svc", ""),
        NewApiKey::new("", "x"),
        NewApiKey::new("svc", "n".repeat(129)),
    ] {
        assert!(matches!(
            keys.create(bad).await,
            Err(Error::InvalidInput(_))
        ));
    }
    keys.create(NewApiKey::new("svc", "one")).await.unwrap();
    keys.create(NewApiKey::new("svc", "two")).await.unwrap();
    assert!(matches!(
        keys.create(NewApiKey::new("svc", "three")).await,
        Err(Error::InvalidInput(_))
    ));
    keys.create(NewApiKey::new("other", "one")).await.unwrap();
}
