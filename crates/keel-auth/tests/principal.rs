//! `Principal` through a real `Router`: an API key when one is presented (a bad key never
//! falls back to a bearer token), else a bearer token; each credential's own rejections
//! and challenges; scopes checked against the credential used.
#![cfg(feature = "axum")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use axum::Router;
use axum::extract::FromRef;
use axum::routing::get;
use http::StatusCode;
use keel_auth::axum::{Principal, PrincipalRejection};
use keel_auth::{
    AccessTokens, ApiKeys, ApiKeysConfig, Authenticator, Claims, Key, KeySet, MemoryApiKeyStore,
    MemoryTokenVersions, NewApiKey, Revocations,
};
use support::http::Answer;

#[derive(Clone, FromRef)]
struct State {
    auth: Authenticator,
    keys: ApiKeys,
}

struct Fixture {
    state: State,
    app: Router,
}

async fn describe(caller: Option<Principal>) -> String {
    let Some(caller) = caller else {
        return "nobody".to_owned();
    };
    let kind = if caller.is_api_key() { "key" } else { "token" };
    format!(
        "{kind} {} {:?} {:?} {}",
        caller.subject(),
        caller.roles(),
        caller.session(),
        caller.has_role("admin")
    )
}

async fn read(caller: Principal) -> Result<String, PrincipalRejection> {
    caller.require_scope("reports:read")?;
    Ok(caller.subject().to_owned())
}

fn fixture() -> Fixture {
    let keys = KeySet::new(Key::generate_hs256("k1").unwrap()).unwrap();
    let tokens = AccessTokens::builder("https://issuer.test", keys)
        .build()
        .unwrap();
    let auth =
        Authenticator::new(tokens).with_revocations(Revocations::new(MemoryTokenVersions::new()));
    let config = ApiKeysConfig::builder("kl_test").build().unwrap();
    let state = State {
        auth,
        keys: ApiKeys::new(MemoryApiKeyStore::new(), config),
    };
    let app = Router::new()
        .route("/who", get(describe))
        .route(
            "/whoami",
            get(|p: Principal| async move { p.subject().to_owned() }),
        )
        .route("/read", get(read))
        .with_state(state.clone());
    Fixture { state, app }
}

impl Fixture {
    async fn token(&self, claims: Claims) -> String {
        let t = self.state.auth.issue(claims).await.unwrap();
        format!("Bearer {}", t.as_str())
    }

    async fn key(&self, spec: NewApiKey) -> String {
        let created = self.state.keys.create(spec).await.unwrap();
        created.key().expose_secret().to_owned()
    }

    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        support::http::get(&self.app, path, headers).await
    }
}

fn check(a: &Answer, status: StatusCode, challenge: Option<&str>) {
    assert_eq!(
        (a.status, a.challenge.as_deref()),
        (status, challenge),
        "{}",
        a.body
    );
}

#[tokio::test]
async fn a_token_or_a_key_and_what_each_carries() {
    let f = fixture();
    let admin = f
        .token(Claims::new("ada").roles(["admin"]).session("s1"))
        .await;
    let a = f.get("/who", &[("authorization", &admin)]).await;
    assert_eq!(a.body, r#"token ada ["admin"] Some("s1") true"#);
    let key = f
        .key(NewApiKey::new("billing", "b").scope("reports:read"))
        .await;
    let a = f.get("/who", &[("x-api-key", &key)]).await;
    assert_eq!(a.body, "key billing [] None false");
    let scheme = format!("ApiKey {key}");
    let a = f.get("/who", &[("authorization", &scheme)]).await;
    assert_eq!(a.body, "key billing [] None false");
    // Both: the key decides.
    let a = f
        .get("/who", &[("authorization", &admin), ("x-api-key", &key)])
        .await;
    assert_eq!(a.body, "key billing [] None false");
    assert_eq!(f.get("/who", &[]).await.body, "nobody");
}

#[tokio::test]
async fn each_credential_is_rejected_as_its_own_extractor_would() {
    let f = fixture();
    check(
        &f.get("/whoami", &[]).await,
        StatusCode::UNAUTHORIZED,
        Some(r#"Bearer realm="api""#),
    );
    let bad_token = [("authorization", "Bearer x.y.z")];
    let invalid_token = Some(r#"Bearer realm="api", error="invalid_token""#);
    check(
        &f.get("/whoami", &bad_token).await,
        StatusCode::UNAUTHORIZED,
        invalid_token,
    );
    check(
        &f.get("/who", &bad_token).await,
        StatusCode::UNAUTHORIZED,
        invalid_token,
    );
    // A bad key never falls back to a valid bearer token sent with it.
    let admin = f.token(Claims::new("ada").roles(["admin"])).await;
    let bad_key = [
        ("authorization", admin.as_str()),
        ("x-api-key", "kl_test_nope"),
    ];
    let invalid_key = Some(r#"ApiKey realm="api", error="invalid_key""#);
    check(
        &f.get("/whoami", &bad_key).await,
        StatusCode::UNAUTHORIZED,
        invalid_key,
    );
    check(
        &f.get("/who", &bad_key).await,
        StatusCode::UNAUTHORIZED,
        invalid_key,
    );
    // A revoked key is a bad key.
    let created = f
        .state
        .keys
        .create(NewApiKey::new("old", "o"))
        .await
        .unwrap();
    f.state.keys.revoke(&created.record().id).await.unwrap();
    let revoked = [("x-api-key", created.key().expose_secret())];
    check(
        &f.get("/whoami", &revoked).await,
        StatusCode::UNAUTHORIZED,
        invalid_key,
    );
}

#[tokio::test]
async fn scopes_are_checked_against_the_credential_used() {
    let f = fixture();
    let reader = f
        .key(NewApiKey::new("reader", "r").scope("reports:read"))
        .await;
    let a = f.get("/read", &[("x-api-key", &reader)]).await;
    assert_eq!((a.status, a.body.as_str()), (StatusCode::OK, "reader"));
    let writer = f
        .key(NewApiKey::new("writer", "w").scope("reports:write"))
        .await;
    check(
        &f.get("/read", &[("x-api-key", &writer)]).await,
        StatusCode::FORBIDDEN,
        Some(r#"ApiKey realm="api", error="insufficient_scope""#),
    );
    let scoped = f
        .token(Claims::new("ada").permissions(["reports:read"]))
        .await;
    let a = f.get("/read", &[("authorization", &scoped)]).await;
    assert_eq!((a.status, a.body.as_str()), (StatusCode::OK, "ada"));
    let plain = f.token(Claims::new("bob").roles(["admin"])).await;
    check(
        &f.get("/read", &[("authorization", &plain)]).await,
        StatusCode::FORBIDDEN,
        Some(r#"Bearer realm="api", error="insufficient_scope""#),
    );
}
