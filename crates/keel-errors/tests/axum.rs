#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(feature = "axum")]
//! axum integration through `Router` + `oneshot`: status, code, headers, request ids,
//! rendering choice, fallbacks, and every extractor rejection.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use keel_errors::ApiError;
use keel_errors::axum::{ErrorFormat, RenderErrorsLayer, method_not_allowed, not_found};
use serde_json::Value;
use tower::ServiceExt;

#[derive(Debug, serde::Deserialize)]
#[allow(dead_code)]
struct Body1 {
    name: String,
    age: u8,
}

fn app(format: ErrorFormat) -> Router {
    Router::new()
        .route("/conflict", get(|| async { Err::<(), _>(ApiError::conflict("Email already registered")) }))
        .route("/limited", get(|| async { Err::<(), _>(ApiError::rate_limited(Duration::from_millis(1500))) }))
        .route("/auth", get(|| async { Err::<(), _>(ApiError::unauthenticated("Token expired")) }))
        .route(
            "/boom",
            get(|| async { Err::<(), _>(ApiError::internal(std::io::Error::other("SELECT secret FROM t"))) }),
        )
        .route("/bare504", get(|| async { StatusCode::GATEWAY_TIMEOUT }))
        .route("/bare418", get(|| async { StatusCode::IM_A_TEAPOT }))
        .route(
            "/keel-json",
            post(|keel_envelope::axum::Json(b): keel_envelope::axum::Json<Body1>| async move { b.name }),
        )
        .route(
            "/axum-json",
            post(|b: Result<axum::Json<Body1>, axum::extract::rejection::JsonRejection>| async move {
                b.map(|axum::Json(b)| b.name).map_err(ApiError::from)
            }),
        )
        .route(
            "/axum-query",
            get(|q: Result<axum::extract::Query<Body1>, axum::extract::rejection::QueryRejection>| async move {
                q.map(|q| q.0.name).map_err(ApiError::from)
            }),
        )
        .route(
            "/keel-path/{id}",
            get(|keel_envelope::axum::Path(id): keel_envelope::axum::Path<u64>| async move { id.to_string() }),
        )
        .route(
            "/axum-path/{id}",
            get(|p: Result<axum::extract::Path<u64>, axum::extract::rejection::PathRejection>| async move {
                p.map(|p| p.0.to_string()).map_err(ApiError::from)
            }),
        )
        .route(
            "/keel-path-mismatch/{a}/{b}",
            get(|keel_envelope::axum::Path(a): keel_envelope::axum::Path<u64>| async move { a.to_string() }),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(64))
        .layer(RenderErrorsLayer::new().format(format))
}

async fn send(app: Router, req: Request<Body>) -> (StatusCode, http::HeaderMap, Value) {
    let res = app.oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, headers, json)
}

fn get_req(uri: &str) -> Request<Body> {
    Request::get(uri)
        .header("x-request-id", "req-abc")
        .body(Body::empty())
        .unwrap()
}

fn post_req(uri: &str, ct: Option<&str>, body: &'static str) -> Request<Body> {
    let mut b = Request::post(uri).header("x-request-id", "req-abc");
    if let Some(ct) = ct {
        b = b.header(header::CONTENT_TYPE, ct);
    }
    b.body(Body::from(body)).unwrap()
}

async fn check(req: Request<Body>, status: StatusCode, code: &str) -> (http::HeaderMap, Value) {
    let (s, h, body) = send(app(ErrorFormat::Envelope), req).await;
    assert_eq!(s, status, "{body}");
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert_eq!(body["meta"]["request_id"], "req-abc", "{body}");
    assert_eq!(h[header::CONTENT_TYPE], "application/json");
    (h, body)
}

#[tokio::test]
async fn handler_errors() {
    check(get_req("/conflict"), StatusCode::CONFLICT, "CONFLICT").await;
    let (h, body) = check(
        get_req("/limited"),
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMITED",
    )
    .await;
    assert_eq!(h[header::RETRY_AFTER], "2");
    assert_eq!(body["error"]["details"]["retry_after"], 2);
    let (h, _) = check(
        get_req("/auth"),
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
    )
    .await;
    assert_eq!(h[header::WWW_AUTHENTICATE], "Bearer");
    let (_, body) = check(
        get_req("/boom"),
        StatusCode::INTERNAL_SERVER_ERROR,
        "INTERNAL_ERROR",
    )
    .await;
    assert!(!body.to_string().contains("SELECT"));
}

#[tokio::test]
async fn fallbacks_and_bare_statuses() {
    check(get_req("/nope"), StatusCode::NOT_FOUND, "NOT_FOUND").await;
    check(
        post_req("/conflict", None, ""),
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
    )
    .await;
    check(get_req("/bare504"), StatusCode::GATEWAY_TIMEOUT, "TIMEOUT").await;
    // A status with no matching kind is left alone.
    let (s, _, body) = send(app(ErrorFormat::Envelope), get_req("/bare418")).await;
    assert_eq!((s, body), (StatusCode::IM_A_TEAPOT, Value::Null));
}

#[tokio::test]
async fn keel_json_rejections() {
    let j = Some("application/json");
    check(
        post_req("/keel-json", j, r#"{"name":"a","#),
        StatusCode::BAD_REQUEST,
        "MALFORMED_JSON",
    )
    .await;
    check(
        post_req("/keel-json", j, r#"{"name":"a","age":1} x"#),
        StatusCode::BAD_REQUEST,
        "MALFORMED_JSON",
    )
    .await;
    check(
        post_req("/keel-json", None, "{}"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
    )
    .await;
    check(
        post_req("/keel-json", Some("text/plain"), "{}"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
    )
    .await;
    let big: &'static str =
        Box::leak(format!(r#"{{"name":"{}","age":1}}"#, "x".repeat(200)).into_boxed_str());
    check(
        post_req("/keel-json", j, big),
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
    )
    .await;
    let (_, body) = check(
        post_req("/keel-json", j, r#"{"name":"a","age":"hunter2"}"#),
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_ERROR",
    )
    .await;
    assert_eq!(body["error"]["fields"][0]["field"], "age");
    assert_eq!(body["error"]["fields"][0]["pointer"], "/age");
    assert!(!body.to_string().contains("hunter2"));
    let (_, body) = check(
        post_req("/keel-json", j, r#"{"name":"a"}"#),
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_ERROR",
    )
    .await;
    assert_eq!(body["error"]["fields"][0]["field"], "age");
    assert_eq!(body["error"]["fields"][0]["code"], "required");
}

#[tokio::test]
async fn axum_rejections_are_mapped() {
    let j = Some("application/json");
    check(
        post_req("/axum-json", j, "{"),
        StatusCode::BAD_REQUEST,
        "MALFORMED_JSON",
    )
    .await;
    check(
        post_req("/axum-json", None, "{}"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
    )
    .await;
    let (_, body) = check(
        post_req("/axum-json", j, r#"{"name":"a","age":"hunter2"}"#),
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_ERROR",
    )
    .await;
    assert!(!body.to_string().contains("hunter2"));
    let big: &'static str =
        Box::leak(format!(r#"{{"name":"{}","age":1}}"#, "x".repeat(200)).into_boxed_str());
    check(
        post_req("/axum-json", j, big),
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
    )
    .await;
    check(
        get_req("/axum-query?name=a&age=x"),
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_ERROR",
    )
    .await;
}

#[tokio::test]
async fn problem_rendering_and_negotiation() {
    let (s, h, body) = send(app(ErrorFormat::Problem), get_req("/conflict?token=secret")).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(h[header::CONTENT_TYPE], "application/problem+json");
    assert_eq!(body["type"], "about:blank");
    assert_eq!(body["status"], 409);
    assert_eq!(body["code"], "CONFLICT");
    assert_eq!(body["request_id"], "req-abc");
    assert_eq!(body["instance"], "/conflict");

    // Extractor rejections are re-rendered too.
    let (s, h, body) = send(
        app(ErrorFormat::Problem),
        post_req("/keel-json", Some("application/json"), r#"{"name":"a"}"#),
    )
    .await;
    assert_eq!(
        (s, &h[header::CONTENT_TYPE]),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            &"application/problem+json".parse().unwrap()
        )
    );
    assert_eq!(body["errors"][0]["pointer"], "/age");

    let req = Request::get("/nope")
        .header(header::ACCEPT, "application/problem+json")
        .body(Body::empty())
        .unwrap();
    let (_, h, _) = send(app(ErrorFormat::Negotiate), req).await;
    assert_eq!(h[header::CONTENT_TYPE], "application/problem+json");
    let (_, h, _) = send(app(ErrorFormat::Negotiate), get_req("/nope")).await;
    assert_eq!(h[header::CONTENT_TYPE], "application/json");
}

#[tokio::test]
async fn invalid_request_id_is_not_echoed() {
    let req = Request::get("/nope")
        .header("x-request-id", "a".repeat(200))
        .body(Body::empty())
        .unwrap();
    let (_, _, body) = send(app(ErrorFormat::Envelope), req).await;
    assert!(body["meta"].get("request_id").is_none(), "{body}");
}

/// docs/errors.md: every error carries `Cache-Control: no-store`, whoever rendered it —
/// handler errors, extractor rejections (400, 422), bare statuses and other layers'
/// plain-text responses (a 429) — while successes and a deliberate `Cache-Control` are kept.
#[tokio::test]
async fn every_error_is_no_store() {
    let app = app(ErrorFormat::Envelope)
        .route(
            "/plain429",
            get(|| async {
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::CONTENT_TYPE, "text/plain")],
                    "slow down",
                )
            }),
        )
        .route(
            "/cached404",
            get(|| async {
                (
                    StatusCode::NOT_FOUND,
                    [(header::CACHE_CONTROL, "max-age=60")],
                    "gone",
                )
            }),
        )
        .route("/ok", get(|| async { "ok" }))
        .layer(RenderErrorsLayer::new());
    let cases = [
        (
            post_req("/keel-json", Some("application/json"), "{"),
            StatusCode::BAD_REQUEST,
        ),
        (
            post_req(
                "/keel-json",
                Some("application/json"),
                r#"{"name":"a","age":300}"#,
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (get_req("/limited"), StatusCode::TOO_MANY_REQUESTS),
        (get_req("/plain429"), StatusCode::TOO_MANY_REQUESTS),
        (get_req("/bare418"), StatusCode::IM_A_TEAPOT),
        (get_req("/bare504"), StatusCode::GATEWAY_TIMEOUT),
        (get_req("/missing"), StatusCode::NOT_FOUND),
    ];
    for (req, status) in cases {
        let uri = req.uri().clone();
        let res = app.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), status, "{uri}");
        assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store", "{uri}");
    }
    let res = app.clone().oneshot(get_req("/cached404")).await.unwrap();
    assert_eq!(res.headers()[header::CACHE_CONTROL], "max-age=60");
    let res = app.oneshot(get_req("/ok")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(!res.headers().contains_key(header::CACHE_CONTROL));
}

/// Extra headers render with the error in both formats; a repeated name keeps every
/// value; headers the renderer owns cannot be smuggled in.
#[tokio::test]
async fn extra_headers_render_in_both_formats() {
    use http::{HeaderName, HeaderValue};
    fn err() -> ApiError {
        let cookie = header::SET_COOKIE;
        ApiError::rate_limited(Duration::from_secs(7))
            .with_header(
                HeaderName::from_static("ratelimit"),
                HeaderValue::from_static(r#""5/minute";r=0;t=7"#),
            )
            .with_header(cookie.clone(), HeaderValue::from_static("a=; Max-Age=0"))
            .with_header(cookie, HeaderValue::from_static("b=; Max-Age=0"))
            .with_header(header::CONTENT_LENGTH, HeaderValue::from_static("9999"))
            .with_header(header::CACHE_CONTROL, HeaderValue::from_static("public"))
            .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
    }
    for format in [ErrorFormat::Envelope, ErrorFormat::Problem] {
        let app = Router::new()
            .route("/", get(|| async { Err::<(), _>(err()) }))
            .layer(RenderErrorsLayer::new().format(format));
        let (s, h, body) = send(app, get_req("/")).await;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(h["ratelimit"], r#""5/minute";r=0;t=7"#);
        let cookies: Vec<_> = h.get_all(header::SET_COOKIE).iter().collect();
        assert_eq!(cookies, ["a=; Max-Age=0", "b=; Max-Age=0"], "{format:?}");
        assert_eq!(h[header::RETRY_AFTER], "7");
        assert_eq!(h[header::CACHE_CONTROL], "no-store");
        assert_ne!(
            h.get(header::CONTENT_LENGTH).map(|v| v.as_bytes()),
            Some(&b"9999"[..])
        );
        assert_eq!(
            body["request_id"]
                .as_str()
                .or(body["meta"]["request_id"].as_str()),
            Some("req-abc")
        );
    }
    let e = err();
    assert_eq!(e.headers().len(), 3);
}

#[test]
fn extra_headers_are_bounded() {
    use http::{HeaderName, HeaderValue};
    let mut e = ApiError::bad_request("x");
    for i in 0..keel_errors::MAX_EXTRA_HEADERS + 5 {
        let name = HeaderName::try_from(format!("x-extra-{i}")).unwrap();
        e = e.with_header(name, HeaderValue::from_static("1"));
    }
    assert_eq!(e.headers().len(), keel_errors::MAX_EXTRA_HEADERS);

    let big = HeaderValue::try_from("v".repeat(keel_errors::MAX_EXTRA_HEADER_BYTES)).unwrap();
    let e = ApiError::bad_request("x")
        .with_header(
            HeaderName::from_static("x-a"),
            HeaderValue::from_static("small"),
        )
        .with_header(HeaderName::from_static("x-b"), big);
    assert_eq!(e.headers().len(), 1);
    assert!(e.headers().get("x-b").is_none());
}

/// `GET /items/abc` on a `Path<u64>` route: an envelope (or problem details) naming the
/// parameter, never axum's plain text, never the value; keel's and axum's `Path` agree.
#[tokio::test]
async fn path_rejections_are_keel_errors() {
    for uri in ["/keel-path/hunter2", "/axum-path/hunter2"] {
        let (s, h, body) = send(app(ErrorFormat::Envelope), get_req(uri)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{uri}: {body}");
        assert_eq!(h[header::CONTENT_TYPE], "application/json");
        assert_eq!(h[header::CACHE_CONTROL], "no-store");
        assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
        assert_eq!(body["meta"]["request_id"], "req-abc");
        assert!(!body.to_string().contains("hunter2"), "{body}");
        let field = &body["error"]["fields"][0];
        assert_eq!(field["code"], "invalid_type");
        // axum's own `Path` does not report the name of a single parameter.
        let name = if uri.starts_with("/keel") { "id" } else { "" };
        assert_eq!(field["field"], name, "{uri}: {body}");
    }
    let (s, h, body) = send(app(ErrorFormat::Problem), get_req("/keel-path/x")).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(h[header::CONTENT_TYPE], "application/problem+json");
    assert_eq!(body["errors"][0]["pointer"], "/id");
    assert_eq!(body["request_id"], "req-abc");

    let (s, _, body) = send(app(ErrorFormat::Envelope), get_req("/keel-path/%FF")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["fields"][0]["field"], "id");

    let (s, _, body) = send(
        app(ErrorFormat::Problem),
        get_req("/keel-path-mismatch/1/2"),
    )
    .await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["code"], "INTERNAL_ERROR");
    assert!(!body.to_string().contains("Wrong number"), "{body}");
}
