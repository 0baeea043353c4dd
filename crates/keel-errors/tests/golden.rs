#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Golden JSON for every error kind in both renderings, plus the leak test.
//!
//! Goldens live in `tests/golden/<code>.{envelope,problem}.json`. To re-bless after an
//! intended wire change: `KEEL_BLESS=1 cargo test -p keel-errors --test golden`, then
//! review the diff: these files are the wire contract.

use std::time::Duration;

use keel_envelope::{FieldError, FieldPath};
use keel_errors::{ApiError, ErrorKind};

fn sample(kind: ErrorKind) -> ApiError {
    let err = match kind {
        ErrorKind::Validation => ApiError::validation(vec![
            FieldError::new(
                &FieldPath::root().key("email"),
                "invalid_email",
                "is not a valid email address",
            ),
            FieldError::new(
                &FieldPath::root().key("address").key("city"),
                "too_short",
                "must be at least 2 characters",
            )
            .with_param("min", 2u32),
        ]),
        ErrorKind::RateLimited => ApiError::rate_limited(Duration::from_millis(12_300)),
        ErrorKind::ServiceUnavailable => ApiError::service_unavailable("Database unavailable")
            .with_retry_after(Duration::from_secs(5)),
        ErrorKind::Unauthenticated => ApiError::unauthenticated("Token expired"),
        ErrorKind::Conflict => {
            ApiError::conflict("Email already registered").with_detail("field", "email")
        }
        ErrorKind::Internal => ApiError::internal(std::io::Error::other("disk on fire")),
        other => ApiError::from_kind(other),
    };
    err.with_request_id("req-0001")
}

fn check(path: &str, actual: &str) {
    let file = format!("{}/tests/golden/{path}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var("KEEL_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&file, format!("{actual}\n")).unwrap();
        return;
    }
    let expected =
        std::fs::read_to_string(&file).unwrap_or_else(|_| panic!("missing golden {file}"));
    assert_eq!(actual, expected.trim_end(), "golden mismatch for {path}");
}

#[test]
fn every_kind_in_both_renderings() {
    for kind in ErrorKind::ALL {
        let err = sample(kind);
        let envelope = serde_json::to_string_pretty(&err.to_envelope()).unwrap();
        let problem = serde_json::to_string_pretty(&err.to_problem()).unwrap();
        check(&format!("{}.envelope.json", kind.code()), &envelope);
        check(&format!("{}.problem.json", kind.code()), &problem);
        // The two renderings agree on status and code.
        let p: serde_json::Value = serde_json::from_str(&problem).unwrap();
        assert_eq!(p["status"], kind.status().as_u16());
        assert_eq!(p["code"], kind.code());
    }
}

#[test]
fn rendering_is_deterministic() {
    for kind in ErrorKind::ALL {
        let a = serde_json::to_vec(&sample(kind).to_envelope()).unwrap();
        let b = serde_json::to_vec(&sample(kind).to_envelope()).unwrap();
        assert_eq!(a, b);
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "query failed: SELECT * FROM users WHERE email = 'a@b.c' AND api_key = 'sk_live_SECRET123'"
)]
struct DbError;

#[test]
fn five_hundreds_never_leak_source_message_or_details() {
    let leaky = [
        ApiError::internal(DbError),
        ApiError::new(
            ErrorKind::Internal,
            "SELECT * FROM users; sk_live_SECRET123",
        )
        .with_source(DbError)
        .with_detail("sql", "SELECT * FROM users")
        .with_fields(vec![FieldError::new(
            &FieldPath::root().key("sql"),
            "x",
            "sk_live_SECRET123",
        )]),
        ApiError::service_unavailable("Database unavailable")
            .with_source(DbError)
            .with_detail("dsn", "postgres://u:sk_live_SECRET123@db"),
        ApiError::timeout().with_source(DbError),
    ];
    for err in leaky {
        let bodies = [
            serde_json::to_string(&err.to_envelope()).unwrap(),
            serde_json::to_string(&err.to_problem()).unwrap(),
        ];
        for body in bodies {
            assert!(!body.contains("SELECT"), "{body}");
            assert!(!body.contains("SECRET"), "{body}");
            assert!(!body.contains("postgres://"), "{body}");
        }
        // The chain is still available for the log.
        assert!(err.chain().contains("SELECT"));
    }
}

#[test]
fn bad_request_ids_are_not_trusted() {
    let long = "a".repeat(129);
    for bad in [
        "",
        "has space",
        "line\nbreak",
        "tab\t",
        long.as_str(),
        "ünïcode",
    ] {
        assert_eq!(
            ApiError::not_found("x").with_request_id(bad).request_id(),
            None,
            "{bad:?}"
        );
    }
    let ok = "a".repeat(128);
    assert_eq!(
        ApiError::not_found("x")
            .with_request_id(ok.clone())
            .request_id(),
        Some(ok.as_str())
    );
}
