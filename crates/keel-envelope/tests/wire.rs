#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The wire format end to end: deterministic bytes, round trips, and the axum
//! extractors' rejections through a real `Router`.

use keel_envelope::{
    EitherEnvelope, Envelope, ErrorBody, ErrorEnvelope, FieldError, FieldPath, Meta, PageRequest,
    Pagination, Value, code,
};

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Item {
    sku: String,
    qty: u32,
}

fn sample_error() -> ErrorEnvelope {
    let fields = (0..20)
        .map(|i| {
            FieldError::new(
                &FieldPath::root().key("items").index(i).key("sku"),
                "too_short",
                "must be at least 2 characters",
            )
            .with_param("min", 2u32)
            .with_param("max", 20u32)
        })
        .collect();
    let mut body = ErrorBody::new(code::VALIDATION_ERROR, "Validation failed").with_fields(fields);
    for k in ["zeta", "alpha", "mid"] {
        body = body.with_detail(k, k);
    }
    ErrorEnvelope::new(body).with_request_id("r-1")
}

#[test]
fn same_input_gives_byte_identical_json() {
    let first = serde_json::to_vec(&sample_error()).unwrap();
    for _ in 0..50 {
        assert_eq!(serde_json::to_vec(&sample_error()).unwrap(), first);
    }
    // Field errors keep insertion order; details are sorted by key.
    let s = String::from_utf8(first).unwrap();
    assert!(s.find("items[0].sku").unwrap() < s.find("items[19].sku").unwrap());
    assert!(s.find("\"alpha\"").unwrap() < s.find("\"mid\"").unwrap());
}

#[test]
fn success_round_trips_with_all_meta() {
    let env = Envelope::new(vec![Item {
        sku: "a1".into(),
        qty: 2,
    }])
    .with_message("ok")
    .with_request_id("r-2")
    .with_pagination(Pagination::new(2, 10, 11).unwrap())
    .with_meta("api_version", "1")
    .with_meta("request_id", "ignored: reserved");
    let json = serde_json::to_string(&env).unwrap();
    assert_eq!(
        json,
        r#"{"success":true,"data":[{"sku":"a1","qty":2}],"message":"ok","meta":{"request_id":"r-2","pagination":{"page":2,"limit":10,"total":11,"total_pages":2},"api_version":"1"}}"#
    );
    let back: Envelope<Vec<Item>> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, env);
}

#[test]
fn empty_members_are_omitted() {
    assert_eq!(
        serde_json::to_string(&Envelope::new(1)).unwrap(),
        r#"{"success":true,"data":1}"#
    );
    assert_eq!(
        serde_json::to_string(&ErrorEnvelope::new(ErrorBody::new(code::NOT_FOUND, "x"))).unwrap(),
        r#"{"success":false,"error":{"code":"NOT_FOUND","message":"x"}}"#
    );
    assert!(Meta::default().is_empty());
}

#[test]
fn error_round_trips_and_response_dispatches_on_success() {
    let err = sample_error();
    let json = serde_json::to_string(&err).unwrap();
    let back: ErrorEnvelope = serde_json::from_str(&json).unwrap();
    assert_eq!(back, err);
    let r: EitherEnvelope<Vec<Item>> = serde_json::from_str(&json).unwrap();
    assert!(matches!(r, EitherEnvelope::Error(_)));
    // A success body never deserializes as an error envelope and vice versa.
    assert!(
        serde_json::from_str::<ErrorEnvelope>(
            r#"{"success":true,"error":{"code":"X","message":"y"}}"#
        )
        .is_err()
    );
    assert!(serde_json::from_str::<Envelope<u8>>(r#"{"success":false,"data":1}"#).is_err());
}

#[test]
fn values_keep_their_json_types() {
    let body = ErrorBody::new("X", "y")
        .with_detail("neg", -1i32)
        .with_detail("big", u64::MAX)
        .with_detail("f", 0.5)
        .with_detail("list", vec![1u8, 2])
        .with_detail("none", Value::Null);
    let json = serde_json::to_string(&body).unwrap();
    assert_eq!(
        json,
        r#"{"code":"X","message":"y","details":{"big":18446744073709551615,"f":0.5,"list":[1,2],"neg":-1,"none":null}}"#
    );
    assert_eq!(serde_json::from_str::<ErrorBody>(&json).unwrap(), body);
}

#[test]
fn page_request_defaults_and_rejects() {
    let r: PageRequest = serde_json::from_str("{}").unwrap();
    assert_eq!(
        r,
        PageRequest {
            page: None,
            limit: None
        }
    );
    let err = PageRequest {
        page: Some(1),
        limit: Some(0),
    }
    .resolve(&keel_envelope::PageBounds {
        default_limit: 10,
        max_limit: 50,
    })
    .unwrap_err();
    let fe = err.to_field_error();
    assert_eq!(
        (fe.field.as_str(), fe.params["max"].as_u64()),
        ("limit", Some(50))
    );
}

#[cfg(feature = "axum")]
mod axum_extractors {
    use axum::Router;
    use axum::body::Body;
    use axum::extract::DefaultBodyLimit;
    use axum::routing::{get, post};
    use http::{Request, StatusCode, header};
    use http_body_util::BodyExt;
    use keel_envelope::axum::{Json, Path, Query};
    use keel_envelope::{Envelope, PageRequest};
    use serde_json::Value;
    use tower::ServiceExt;

    use super::Item;

    fn app() -> Router {
        Router::new()
            .route(
                "/items",
                post(|Json(items): Json<Vec<Item>>| async move { Envelope::new(items.len()) }),
            )
            .route(
                "/page",
                get(|Query(p): Query<PageRequest>| async move { Envelope::new(p.page) }),
            )
            .layer(DefaultBodyLimit::max(1024))
    }

    async fn call(req: Request<Body>) -> (StatusCode, Value) {
        let res = app().oneshot(req).await.unwrap();
        let status = res.status();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    fn post_json(body: impl Into<Body>) -> Request<Body> {
        Request::post("/items")
            .header(header::CONTENT_TYPE, "application/json")
            .header("x-request-id", "rid-1")
            .body(body.into())
            .unwrap()
    }

    fn check(status: StatusCode, body: &Value, expected_status: StatusCode, code: &str) {
        assert_eq!(status, expected_status, "{body}");
        assert_eq!(body["error"]["code"], code, "{body}");
        assert_eq!(body["meta"]["request_id"], "rid-1", "{body}");
    }

    #[tokio::test]
    async fn accepts_valid_json() {
        let (s, body) = call(post_json(r#"[{"sku":"a","qty":1}]"#)).await;
        assert_eq!((s, body["data"].as_u64()), (StatusCode::OK, Some(1)));
    }

    #[tokio::test]
    async fn each_rejection_kind() {
        let (s, b) = call(post_json("[{")).await;
        check(s, &b, StatusCode::BAD_REQUEST, "MALFORMED_JSON");
        assert_eq!(b["error"]["details"]["line"], 1);
        let (s, b) = call(post_json("")).await;
        check(s, &b, StatusCode::BAD_REQUEST, "MALFORMED_JSON");
        let (s, b) = call(post_json(format!(
            r#"[{{"sku":"{}","qty":1}}]"#,
            "x".repeat(2000)
        )))
        .await;
        check(s, &b, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE");
        let (s, b) = call(post_json(r#"[{"sku":"a","qty":1},{"sku":"b","qty":-1}]"#)).await;
        check(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR");
        assert_eq!(b["error"]["fields"][0]["field"], "[1].qty");
        assert_eq!(b["error"]["fields"][0]["pointer"], "/1/qty");
        let (s, b) = call(post_json(r#"[{"qty":1}]"#)).await;
        check(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR");
        assert_eq!(b["error"]["fields"][0]["field"], "[0].sku");
        let req = Request::post("/items")
            .header("x-request-id", "rid-1")
            .body(Body::from("[]"))
            .unwrap();
        let (s, b) = call(req).await;
        check(
            s,
            &b,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
        );
    }

    #[tokio::test]
    async fn query_errors_name_the_parameter() {
        let req = Request::get("/page?page=abc")
            .header("x-request-id", "rid-1")
            .body(Body::empty())
            .unwrap();
        let (s, b) = call(req).await;
        check(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR");
        assert_eq!(b["error"]["fields"][0]["field"], "page");
        let req = Request::get("/page?page=3").body(Body::empty()).unwrap();
        let (s, b) = call(req).await;
        assert_eq!((s, b["data"].as_u64()), (StatusCode::OK, Some(3)));
    }

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Profile {
        name: Option<String>,
        address: Option<Address>,
    }

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Address {
        city: String,
        zip: String,
    }

    /// serde takes a struct from an array; the extractor does not, at any depth: 422 with
    /// the path, through a real router.
    #[tokio::test]
    async fn arrays_are_not_structs_at_any_depth() {
        let app = Router::new().route(
            "/profile",
            post(|Json(p): Json<Profile>| async move { Envelope::new(p.name) }),
        );
        let send = |body: &'static str| {
            let req = Request::post("/profile")
                .header(header::CONTENT_TYPE, "application/json")
                .header("x-request-id", "rid-1")
                .body(Body::from(body))
                .unwrap();
            let app = app.clone();
            async move {
                let res = app.oneshot(req).await.unwrap();
                let status = res.status();
                let bytes = res.into_body().collect().await.unwrap().to_bytes();
                (status, serde_json::from_slice::<Value>(&bytes).unwrap())
            }
        };
        for (body, field, pointer) in [
            (r#"[null, null]"#, "", ""),
            (
                r#"{"name":"Ada","address":["London","SW1"]}"#,
                "address",
                "/address",
            ),
        ] {
            let (s, b) = send(body).await;
            check(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR");
            let fe = &b["error"]["fields"][0];
            assert_eq!(
                (fe["field"].as_str(), fe["pointer"].as_str()),
                (Some(field), Some(pointer))
            );
            assert_eq!(fe["code"], "invalid_type");
            assert_eq!(fe["params"]["expected"], "a JSON object");
        }
        let (s, b) = send(r#"{"name":"Ada","address":{"city":"London","zip":"SW1"}}"#).await;
        assert_eq!((s, b["data"].as_str()), (StatusCode::OK, Some("Ada")));
    }

    #[derive(serde::Deserialize)]
    struct OrderLine {
        order: u64,
        line: u32,
    }

    #[derive(serde::Deserialize, serde::Serialize)]
    #[serde(rename_all = "lowercase")]
    enum Color {
        Red,
    }

    fn path_app() -> Router {
        Router::new()
            .route(
                "/items/{id}",
                get(|Path(id): Path<u64>| async move { Envelope::new(id) }),
            )
            .route(
                "/pairs/{order}/{line}",
                get(
                    |Path((o, l)): Path<(u64, u32)>| async move { Envelope::new(o + u64::from(l)) },
                ),
            )
            .route(
                "/orders/{order}/lines/{line}",
                get(|Path(p): Path<OrderLine>| async move {
                    Envelope::new(p.order + u64::from(p.line))
                }),
            )
            .route(
                "/colors/{color}",
                get(|Path(c): Path<Color>| async move { Envelope::new(c) }),
            )
            // A route and a type that disagree: two parameters, one `u64`.
            .route(
                "/mismatch/{a}/{b}",
                get(|Path(a): Path<u64>| async move { Envelope::new(a) }),
            )
            .route(
                "/none",
                get(|Path(a): Path<u64>| async move { Envelope::new(a) }),
            )
    }

    async fn path_call(uri: &str) -> (StatusCode, Value) {
        let req = Request::get(uri)
            .header("x-request-id", "rid-1")
            .body(Body::empty())
            .unwrap();
        let res = path_app().oneshot(req).await.unwrap();
        let status = res.status();
        assert_eq!(res.headers()["content-type"], "application/json");
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    /// `(uri, status, code, field, field code)`; the submitted value is never echoed.
    async fn check_path(uri: &str, status: StatusCode, code: &str, field: &str, fcode: &str) {
        let (s, b) = path_call(uri).await;
        check(s, &b, status, code);
        assert_eq!(b["error"]["fields"][0]["field"], field, "{uri}: {b}");
        assert_eq!(b["error"]["fields"][0]["code"], fcode, "{uri}: {b}");
        assert!(!b.to_string().contains("hunter2"), "{uri}: {b}");
    }

    #[tokio::test]
    async fn path_errors_name_the_parameter() {
        let (s, b) = path_call("/items/42").await;
        assert_eq!((s, b["data"].as_u64()), (StatusCode::OK, Some(42)));
        let (s, b) = path_call("/orders/1/lines/2").await;
        assert_eq!((s, b["data"].as_u64()), (StatusCode::OK, Some(3)));

        let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
        // One value: axum reports no name; the route's is used.
        check_path(
            "/items/hunter2",
            unprocessable,
            "VALIDATION_ERROR",
            "id",
            "invalid_type",
        )
        .await;
        let (_, b) = path_call("/items/abc").await;
        assert_eq!(b["error"]["fields"][0]["message"], "expected u64");
        assert_eq!(b["error"]["fields"][0]["params"]["expected"], "u64");
        // A tuple: axum reports the position.
        let (pairs, lines) = ("/pairs/1/hunter2", "/orders/hunter2/lines/1");
        check_path(
            pairs,
            unprocessable,
            "VALIDATION_ERROR",
            "line",
            "invalid_type",
        )
        .await;
        // A struct: axum reports the key.
        check_path(
            lines,
            unprocessable,
            "VALIDATION_ERROR",
            "order",
            "invalid_type",
        )
        .await;
        // A custom `Deserialize` error (an unknown variant) keeps only `expected …`.
        check_path(
            "/colors/hunter2",
            unprocessable,
            "VALIDATION_ERROR",
            "color",
            "unknown_variant",
        )
        .await;
        // Not UTF-8 once percent-decoded: 400 naming the parameter.
        check_path(
            "/items/%FF%FE",
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "id",
            "invalid_encoding",
        )
        .await;

        // The route and the type disagree: the server's bug, a bare 500.
        for uri in ["/mismatch/1/2", "/none"] {
            let (s, b) = path_call(uri).await;
            check(s, &b, StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR");
            assert_eq!(b["error"]["message"], "Internal server error");
            assert!(b["error"]["fields"].is_null(), "{b}");
        }
    }

    #[test]
    fn a_path_mismatch_says_why_in_the_log_only() {
        use keel_envelope::axum::{Rejection, RejectionKind};
        let r = Rejection::new(
            RejectionKind::PathMismatch {
                reason: "Wrong number of path arguments".to_owned(),
            },
            None,
        );
        assert!(r.to_string().contains("Wrong number of path arguments"));
        let body = serde_json::to_string(&r.to_error_envelope()).unwrap();
        assert!(!body.contains("Wrong number"), "{body}");
    }
}
