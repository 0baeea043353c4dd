//! The axum extractors through a `Router`, and the golden 422 envelope of
//! a typical FastAPI service's signup payload with every field invalid.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(feature = "axum")]

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use keel_envelope::axum::Query;
use keel_validation::Validate;
use keel_validation::axum::{Valid, ValidJson};
use serde::Deserialize;
use tower::ServiceExt;

#[derive(Debug, Deserialize, Validate)]
struct Signup {
    #[normalize(email)]
    #[validate(email)]
    email: String,
    #[normalize(strip_html, collapse_whitespace, title_case)]
    #[validate(length(min = 1, max = 50))]
    first_name: String,
    #[normalize(strip_html, collapse_whitespace, title_case)]
    #[validate(length(min = 1, max = 50))]
    last_name: String,
    #[validate(password(context(email, first_name, last_name)))]
    password: String,
    #[normalize(phone)]
    #[validate(phone)]
    phone: String,
}

async fn signup(ValidJson(s): ValidJson<Signup>) -> String {
    format!("{}|{}|{}|{}", s.email, s.first_name, s.last_name, s.phone)
}

#[derive(Debug, Deserialize, Validate)]
struct Search {
    #[normalize(collapse_whitespace)]
    #[validate(length(min = 2, max = 20))]
    q: String,
    #[validate(range(min = 1, max = 100))]
    limit: Option<u32>,
}

async fn search(Valid(Query(s)): Valid<Query<Search>>) -> String {
    s.q
}

fn app() -> Router {
    Router::new()
        .route("/signup", post(signup))
        .route("/search", get(search))
}

async fn send(req: Request<Body>) -> (StatusCode, String) {
    let res = app().oneshot(req).await.unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

fn post_json(body: &str) -> Request<Body> {
    Request::post("/signup")
        .header("content-type", "application/json")
        .header("x-request-id", "req-golden-1")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

const ALL_INVALID: &str = r#"{
    "email": "ada@@example",
    "first_name": "<b></b>",
    "last_name": "Lovelace-Byron-King-Noel-of-Ockham-and-Horsley-Towers",
    "password": "iloveyou",
    "phone": "555-0100"
}"#;

#[tokio::test]
async fn golden_all_invalid_signup() {
    let (status, body) = send(post_json(ALL_INVALID)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let got: serde_json::Value = serde_json::from_str(&body).unwrap();
    let golden: serde_json::Value =
        serde_json::from_str(include_str!("data/golden/signup_all_invalid.json")).unwrap();
    assert_eq!(
        got,
        golden,
        "body:\n{}",
        serde_json::to_string_pretty(&got).unwrap()
    );
    // Byte-stable too: the same request gives the same bytes.
    let (_, again) = send(post_json(ALL_INVALID)).await;
    assert_eq!(body, again);
    assert!(!body.contains("iloveyou"));
}

#[tokio::test]
async fn valid_signup_is_normalized() {
    let (status, body) = send(post_json(
        r#"{"email":" Ada@Example.COM ","first_name":"  ada ","last_name":"<i>lovelace</i>","password":"analytical engine 1843","phone":"+44 20 7946 0018"}"#,
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, "ada@example.com|Ada|Lovelace|+442079460018");
}

#[tokio::test]
async fn extractor_rejections_keep_envelope_codes() {
    let (status, body) = send(Request::post("/signup").body(Body::from("{}")).unwrap()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(body.contains("UNSUPPORTED_MEDIA_TYPE"));

    let (status, body) = send(post_json("{\"email\":")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("MALFORMED_JSON"));

    let (status, body) = send(post_json(r#"{"email":"a@b.co"}"#)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains(r#""code":"required""#), "{body}");
}

#[tokio::test]
async fn valid_query() {
    let req = |uri: &str| Request::get(uri).body(Body::empty()).unwrap();
    let (status, body) = send(req("/search?q=%20%20rust%20%20lang")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "rust lang"));
    let (status, body) = send(req("/search?q=x&limit=500")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let fields: Vec<&str> = v["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["q", "limit"]);
    let (status, _) = send(req("/search?limit=abc&q=ok")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[cfg(feature = "errors")]
#[test]
fn into_api_error() {
    let errors = serde_json::from_str::<Signup>(ALL_INVALID)
        .unwrap()
        .clean()
        .unwrap_err();
    let n = errors.len();
    let api: keel_errors::ApiError = errors.into();
    assert_eq!(api.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(api.code(), "VALIDATION_ERROR");
    assert_eq!(api.fields().len(), n);
}
