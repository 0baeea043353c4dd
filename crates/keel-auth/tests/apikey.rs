//! API keys over the in-memory store, and the axum extractor through a real `Router`.
#![allow(clippy::unwrap_used)]

mod support;

use keel_auth::MemoryApiKeyStore;
use support::apikey;

#[tokio::test]
async fn create_verify_revoke() {
    apikey::create_verify_revoke(MemoryApiKeyStore::new()).await;
}

#[tokio::test]
async fn typos_are_caught_by_the_checksum_before_any_lookup() {
    apikey::typos_never_reach_the_store(MemoryApiKeyStore::new()).await;
}

#[tokio::test]
async fn a_record_with_the_same_id_but_another_hash_is_refused() {
    apikey::same_id_wrong_secret(MemoryApiKeyStore::new()).await;
}

#[tokio::test]
async fn expiry_and_throttled_last_used() {
    apikey::expiry_and_last_used(MemoryApiKeyStore::new()).await;
}

#[tokio::test]
async fn input_limits() {
    apikey::input_limits(MemoryApiKeyStore::new()).await;
}

#[tokio::test]
async fn memory_store_is_bounded() {
    let keys = apikey::keys(MemoryApiKeyStore::with_capacity(2), &support::clock());
    keys.create(keel_auth::NewApiKey::new("a", "1"))
        .await
        .unwrap();
    keys.create(keel_auth::NewApiKey::new("b", "1"))
        .await
        .unwrap();
    assert!(matches!(
        keys.create(keel_auth::NewApiKey::new("c", "1")).await,
        Err(keel_auth::Error::Store(_))
    ));
}

#[cfg(feature = "axum")]
mod extractor {
    use axum::Router;
    use axum::extract::FromRef;
    use axum::routing::get;
    use http::StatusCode;
    use keel_auth::axum::{ApiKeyAuth, ApiKeyRejection};
    use keel_auth::{ApiKeys, MemoryApiKeyStore, NewApiKey};

    use super::{apikey, support};

    #[derive(Clone, FromRef)]
    struct State {
        keys: ApiKeys,
    }

    async fn whoami(caller: ApiKeyAuth) -> String {
        caller.subject().to_owned()
    }

    async fn write(caller: ApiKeyAuth) -> Result<&'static str, ApiKeyRejection> {
        caller.require_scope("events:write")?;
        Ok("written")
    }

    async fn maybe(caller: Option<ApiKeyAuth>) -> String {
        caller.map_or_else(|| "anonymous".to_owned(), |c| c.subject().to_owned())
    }

    async fn setup() -> (Router, String, String) {
        let keys = apikey::keys(MemoryApiKeyStore::new(), &support::clock());
        let reader = keys
            .create(NewApiKey::new("reader-svc", "r").scope("events:read"))
            .await
            .unwrap();
        let writer = keys
            .create(NewApiKey::new("writer-svc", "w").scope("events:write"))
            .await
            .unwrap();
        let app = Router::new()
            .route("/whoami", get(whoami))
            .route("/write", get(write))
            .route("/maybe", get(maybe))
            .with_state(State { keys });
        (
            app,
            reader.key().expose_secret().to_owned(),
            writer.key().expose_secret().to_owned(),
        )
    }

    async fn call(
        app: &Router,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Option<String>, String) {
        let answer = support::http::get(app, path, headers).await;
        (answer.status, answer.challenge, answer.body)
    }

    #[tokio::test]
    async fn both_headers_forms_authenticate() {
        let (app, reader, _) = setup().await;
        let auth = format!("ApiKey {reader}");
        let (s, _, body) = call(&app, "/whoami", &[("authorization", &auth)]).await;
        assert_eq!((s, body.as_str()), (StatusCode::OK, "reader-svc"));
        let (s, _, body) = call(&app, "/whoami", &[("x-api-key", &reader)]).await;
        assert_eq!((s, body.as_str()), (StatusCode::OK, "reader-svc"));
        // A bearer token next to X-API-Key is left alone.
        let (s, _, _) = call(
            &app,
            "/whoami",
            &[("authorization", "Bearer abc"), ("x-api-key", &reader)],
        )
        .await;
        assert_eq!(s, StatusCode::OK);
    }

    #[tokio::test]
    async fn rejections_are_opaque_401s() {
        let (app, reader, writer) = setup().await;
        let (s, challenge, _) = call(&app, "/whoami", &[]).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(challenge.as_deref(), Some(r#"ApiKey realm="api""#));

        let mut typo = reader.clone().into_bytes();
        let last = typo.len() - 1;
        typo[last] = if typo[last] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(typo).unwrap();
        let long = "k".repeat(10_000);
        let both = [
            ("authorization", format!("ApiKey {reader}")),
            ("x-api-key", writer.clone()),
        ];
        let cases: Vec<Vec<(&str, &str)>> = vec![
            vec![("x-api-key", typo.as_str())],
            vec![("x-api-key", "kl_test_garbage")],
            vec![("x-api-key", long.as_str())],
            vec![
                ("x-api-key", reader.as_str()),
                ("x-api-key", reader.as_str()),
            ],
            both.iter().map(|(k, v)| (*k, v.as_str())).collect(),
        ];
        let mut bodies = Vec::new();
        for headers in &cases {
            let (s, challenge, body) = call(&app, "/whoami", headers).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{headers:?}");
            assert_eq!(
                challenge.as_deref(),
                Some(r#"ApiKey realm="api", error="invalid_key""#)
            );
            assert!(!body.contains(&typo) && !body.contains(&reader));
            bodies.push(body);
        }
        // One answer for every cause (the request id, if any, aside: none here).
        assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");
        // Optional: absent is fine, bad is still rejected.
        let (s, _, body) = call(&app, "/maybe", &[]).await;
        assert_eq!((s, body.as_str()), (StatusCode::OK, "anonymous"));
        let (s, _, _) = call(&app, "/maybe", &[("x-api-key", typo.as_str())]).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn missing_scope_is_403() {
        let (app, reader, writer) = setup().await;
        let (s, challenge, _) = call(&app, "/write", &[("x-api-key", reader.as_str())]).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        assert_eq!(
            challenge.as_deref(),
            Some(r#"ApiKey realm="api", error="insufficient_scope""#)
        );
        let (s, _, body) = call(&app, "/write", &[("x-api-key", writer.as_str())]).await;
        assert_eq!((s, body.as_str()), (StatusCode::OK, "written"));
    }
}
