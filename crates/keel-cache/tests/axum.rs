//! `X-Cache` through a real axum handler (cache-aside), via `Router::oneshot`.
#![cfg(feature = "axum")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use http::{Request, StatusCode};
use keel_cache::{Cache, Key, Lookup};
use tower::ServiceExt;

#[derive(Clone)]
struct AppState {
    cache: Cache<Key, String>,
    db_calls: Arc<AtomicUsize>,
}

async fn user(
    State(state): State<AppState>,
    Path(id): Path<u64>,
) -> Result<Lookup<Json<String>>, StatusCode> {
    let calls = Arc::clone(&state.db_calls);
    let found = state
        .cache
        .get_or_load(Key::new("user").arg(id), move || async move {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::io::Error>(format!("user {id}"))
        })
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    Ok(found.map(Json))
}

#[tokio::test]
async fn handler_answers_miss_then_hit() {
    let state = AppState {
        cache: Cache::builder("users").build(),
        db_calls: Arc::new(AtomicUsize::new(0)),
    };
    let app = Router::new()
        .route("/users/{id}", get(user))
        .with_state(state.clone());
    for expected in ["MISS", "HIT", "HIT"] {
        let res = app
            .clone()
            .oneshot(
                Request::get("/users/7")
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["x-cache"], expected);
        let body = http_body_util::BodyExt::collect(res.into_body())
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(&body[..], br#""user 7""#);
    }
    assert_eq!(state.db_calls.load(Ordering::SeqCst), 1);
}
