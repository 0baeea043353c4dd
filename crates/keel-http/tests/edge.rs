//! The edge layers: request-id rules over a real socket (bytes no client library would
//! send), security headers on every kind of response, sensitive-header marking.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use keel_http::request_id::is_valid_request_id;
use keel_http::security_headers::DEFAULTS;
use keel_http::{
    EdgeLayer, SecurityHeaders, SetRequestIdLayer, SetSecurityHeadersLayer, X_REQUEST_ID,
};
use keel_testkit::TestServer;
use tower::ServiceExt;

fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let head = response.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// `TestServer::request` takes text; non-UTF-8 ids need raw bytes.
async fn send_bytes(server: &TestServer, raw: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    s.write_all(raw).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

fn request_with_id(id: &[u8]) -> Vec<u8> {
    let mut r = b"GET /id HTTP/1.1\r\nHost: test\r\nConnection: close\r\nX-Request-Id: ".to_vec();
    r.extend_from_slice(id);
    r.extend_from_slice(b"\r\n\r\n");
    r
}

/// Echoes the request id the handler saw, so the test checks both directions.
fn id_app() -> Router {
    Router::new()
        .route(
            "/id",
            get(|h: HeaderMap| async move {
                h.get(X_REQUEST_ID)
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .unwrap_or_default()
            }),
        )
        .layer(EdgeLayer::new(SecurityHeaders::api()))
}

#[tokio::test]
async fn sane_request_ids_are_kept_and_insane_ones_replaced_over_a_socket() {
    let server = TestServer::start(id_app()).await;

    let r = send_bytes(&server, &request_with_id(b"abc-123")).await;
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert_eq!(header(&r, "x-request-id"), Some("abc-123"));
    assert!(
        r.ends_with("\r\n\r\nabc-123"),
        "the handler saw the same id: {r}"
    );

    let long = vec![b'x'; 129];
    let invalid: [&[u8]; 5] = [
        b"\xff\xfe-not-utf8",   // obs-text: not UTF-8
        "caf\u{e9}".as_bytes(), // UTF-8, not ASCII
        b"two words",           // a space
        b"tab\there",           // a control character
        &long,                  // too long
    ];
    let mut seen = HashSet::new();
    for id in invalid {
        let r = send_bytes(&server, &request_with_id(id)).await;
        assert!(r.starts_with("HTTP/1.1 200"), "{id:?}: {r}");
        let echoed = header(&r, "x-request-id").expect("a generated id");
        assert_ne!(echoed.as_bytes(), id);
        assert!(uuid::Uuid::parse_str(echoed).is_ok(), "a UUID: {echoed}");
        assert!(keel_envelope::is_valid_request_id(echoed));
        assert!(r.ends_with(echoed), "the handler saw the replacement: {r}");
        assert!(seen.insert(echoed.to_owned()), "ids are unique");
    }

    // No id at all: one is generated.
    let r = server.get("/id").await;
    assert_eq!(header(&r, "x-request-id").map(str::len), Some(36), "{r}");
}

#[test]
fn the_rule_is_keel_envelopes() {
    // Every single byte, and the length boundary, agree with the wire format's rule.
    for b in 0u8..=255 {
        let Ok(v) = HeaderValue::from_bytes(&[b]) else {
            continue;
        };
        let text = std::str::from_utf8(&[b]).map(str::to_owned).ok();
        let envelope = text.is_some_and(|t| keel_envelope::is_valid_request_id(&t));
        assert_eq!(is_valid_request_id(&v), envelope, "byte {b:#x}");
    }
    for len in [1, 127, 128, 129, 1000] {
        let s = "a".repeat(len);
        let v = HeaderValue::from_str(&s).unwrap();
        assert_eq!(
            is_valid_request_id(&v),
            keel_envelope::is_valid_request_id(&s),
            "{len}"
        );
    }
}

#[test]
fn generated_ids_are_unique_version_8_uuids() {
    let mut seen = HashSet::new();
    for _ in 0..10_000 {
        let id = keel_http::RequestId::generate();
        let parsed = uuid::Uuid::parse_str(id.as_str()).unwrap();
        assert_eq!(parsed.get_version_num(), 8, "{id}");
        assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122);
        assert_eq!(id.to_header_value(), id.as_str());
        assert!(seen.insert(id));
    }
}

async fn call(app: &Router, req: Request<Body>) -> axum::response::Response {
    app.clone().oneshot(req).await.unwrap()
}

fn get_req(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

#[track_caller]
fn assert_security_headers(h: &HeaderMap, csp: &str) {
    for (name, value) in DEFAULTS {
        let want = if name == "content-security-policy" {
            csp
        } else {
            value
        };
        assert_eq!(
            h.get(name).map(HeaderValue::as_bytes),
            Some(want.as_bytes()),
            "{name}"
        );
    }
    assert!(h.contains_key(X_REQUEST_ID));
}

#[tokio::test]
async fn every_response_has_the_security_headers() {
    let app: Router = Router::new()
        .route("/ok", get(|| async { "ok" }))
        .route(
            "/error",
            get(|| async { StatusCode::SERVICE_UNAVAILABLE.into_response() }),
        )
        .route(
            "/html",
            get(|| async {
                (
                    [(header::CONTENT_SECURITY_POLICY, "default-src 'self'")],
                    "<p>docs</p>",
                )
            }),
        )
        .route(
            "/panic",
            get(|| async {
                if true {
                    panic!("handler bug");
                }
                "unreachable"
            }),
        )
        .layer(
            tower::ServiceBuilder::new()
                .layer(EdgeLayer::new(SecurityHeaders::api()))
                .layer(tower_http::catch_panic::CatchPanicLayer::new()),
        );
    let api = keel_http::security_headers::API_CSP;
    for (path, status) in [
        ("/ok", 200),
        ("/error", 503),
        ("/nowhere", 404),
        ("/panic", 500),
    ] {
        let res = call(&app, get_req(path)).await;
        assert_eq!(res.status(), status, "{path}");
        assert_security_headers(res.headers(), api);
        assert!(
            !res.headers()
                .contains_key(header::STRICT_TRANSPORT_SECURITY)
        );
    }
    let res = call(&app, Request::post("/ok").body(Body::empty()).unwrap()).await;
    assert_eq!(res.status(), 405);
    assert_security_headers(res.headers(), api);
    // A header the handler set is kept.
    let res = call(&app, get_req("/html")).await;
    assert_security_headers(res.headers(), "default-src 'self'");
}

#[tokio::test]
async fn credentials_are_marked_sensitive_both_ways() {
    let app: Router = Router::new()
        .route(
            "/",
            get(|h: HeaderMap| async move {
                let sensitive = [
                    header::AUTHORIZATION,
                    header::COOKIE,
                    header::PROXY_AUTHORIZATION,
                ]
                .iter()
                .all(|n| h.get_all(n).iter().all(HeaderValue::is_sensitive))
                    && h.get_all(header::COOKIE).iter().count() == 2;
                let other = h
                    .get(header::USER_AGENT)
                    .is_some_and(HeaderValue::is_sensitive);
                (
                    [(header::SET_COOKIE, "session=s3cret")],
                    format!("{sensitive} {other}"),
                )
            }),
        )
        .layer(EdgeLayer::new(SecurityHeaders::api()));
    let req = Request::get("/")
        .header(header::AUTHORIZATION, "Bearer t0ken")
        .header(header::COOKIE, "a=1")
        .header(header::COOKIE, "b=2")
        .header(header::PROXY_AUTHORIZATION, "Basic eA==")
        .header(header::USER_AGENT, "test")
        .body(Body::empty())
        .unwrap();
    let res = call(&app, req).await;
    assert!(res.headers()[header::SET_COOKIE].is_sensitive());
    assert!(!res.headers()[header::CONTENT_TYPE].is_sensitive());
    let body = http_body_util::BodyExt::collect(res.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(&body[..], b"true false");
}

#[tokio::test]
async fn the_standalone_layers_do_their_half() {
    let app: Router = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(SetSecurityHeadersLayer::new(
            SecurityHeaders::none().with_hsts(),
        ))
        .layer(SetRequestIdLayer::new());
    let req = Request::get("/")
        .header(X_REQUEST_ID, "two words")
        .body(Body::empty())
        .unwrap();
    let res = call(&app, req).await;
    assert_eq!(res.headers()[X_REQUEST_ID].len(), 36);
    assert_eq!(
        res.headers()[header::STRICT_TRANSPORT_SECURITY],
        keel_http::security_headers::HSTS
    );
    assert!(!res.headers().contains_key(header::X_FRAME_OPTIONS));

    // A response that already carries an id keeps it (the inner service decided).
    let app: Router = Router::new()
        .route("/", get(|| async { ([(X_REQUEST_ID, "inner")], "ok") }))
        .layer(SetRequestIdLayer::new());
    let res = call(&app, get_req("/")).await;
    assert_eq!(res.headers()[X_REQUEST_ID], "inner");
}

#[cfg(feature = "errors")]
#[tokio::test]
async fn panics_become_a_500_envelope_without_the_message() {
    let app: Router = Router::new()
        .route(
            "/",
            get(|| async {
                if true {
                    panic!("secret detail");
                }
                "unreachable"
            }),
        )
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            keel_http::errors::panic_response,
        ));
    assert_panic_envelope(call(&app, get_req("/")).await).await;

    // keel-http's own layer: the same envelope, for a panic in the handler's future
    // and in a service's `call`, and the service keeps serving.
    let app: Router = Router::new()
        .route(
            "/",
            get(|| async {
                if true {
                    panic!("secret detail");
                }
                "unreachable"
            }),
        )
        .route("/ok", get(|| async { "ok" }))
        .layer(keel_http::errors::CatchPanicLayer::new());
    assert_panic_envelope(call(&app, get_req("/")).await).await;
    // A panic in the inner service's `call` itself (axum's router calls lazily, so
    // this takes a bare service).
    let mut svc =
        tower::Layer::layer(
            &keel_http::errors::CatchPanicLayer::new(),
            tower::service_fn(
                |_: Request<Body>| -> std::future::Ready<
                    Result<axum::response::Response, std::convert::Infallible>,
                > { panic!("secret detail in call") },
            ),
        );
    let res = tower::Service::call(&mut svc, get_req("/")).await.unwrap();
    assert_panic_envelope(res).await;
    assert_eq!(call(&app, get_req("/ok")).await.status(), 200);
}

#[cfg(feature = "errors")]
async fn assert_panic_envelope(res: axum::response::Response) {
    assert_eq!(res.status(), 500);
    let body = http_body_util::BodyExt::collect(res.into_body())
        .await
        .unwrap()
        .to_bytes();
    let text = String::from_utf8_lossy(&body);
    assert!(!text.contains("secret detail"), "{text}");
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["code"], "INTERNAL_ERROR", "{text}");
}
