//! Every mix of critical / non-critical pass / warn / fail → overall status and HTTP code.
#![cfg(feature = "axum")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use http::Request;
use keel_health::{CheckOptions, Criticality, Health, Status};
use tower::ServiceExt;

const STATUSES: [Status; 3] = [Status::Pass, Status::Warn, Status::Fail];
const CRITICALITIES: [Criticality; 2] = [Criticality::Critical, Criticality::NonCritical];

/// The documented rule, written independently of `Status::aggregate`:
/// any critical fail → fail; else any fail or warn → warn; else pass.
fn documented(checks: &[(Status, Criticality)]) -> Status {
    if checks
        .iter()
        .any(|&(s, c)| s == Status::Fail && c == Criticality::Critical)
    {
        Status::Fail
    } else if checks.iter().any(|&(s, _)| s != Status::Pass) {
        Status::Warn
    } else {
        Status::Pass
    }
}

async fn check(checks: &[(Status, Criticality)], expected: Status, expected_code: u16) {
    let mut builder = Health::builder();
    for (i, &(status, criticality)) in checks.iter().enumerate() {
        builder = builder.check(
            CheckOptions::builder(format!("c{i}")).criticality(criticality),
            move || async move { status },
        );
    }
    let health = builder.build().unwrap();
    let report = health.ready().await;
    assert_eq!(report.status(), expected, "{checks:?}");
    assert_eq!(report.http_status_code(), expected_code, "{checks:?}");
    // The same through the router.
    let res = health
        .router::<()>()
        .oneshot(Request::get("/health/ready").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), expected_code, "{checks:?}");
    let body = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(body, format!(r#"{{"status":"{expected}"}}"#), "{checks:?}");
}

#[tokio::test]
async fn explicit_table() {
    use Criticality::{Critical as C, NonCritical as N};
    use Status::{Fail as F, Pass as P, Warn as W};
    // (checks, overall, HTTP)
    type Row = (&'static [(Status, Criticality)], Status, u16);
    let table: &[Row] = &[
        (&[], P, 200),
        (&[(P, C)], P, 200),
        (&[(W, C)], W, 200),
        (&[(F, C)], F, 503),
        (&[(P, N)], P, 200),
        (&[(W, N)], W, 200),
        (&[(F, N)], W, 200),
        (&[(P, C), (F, N)], W, 200),
        (&[(W, C), (F, N)], W, 200),
        (&[(F, C), (P, N)], F, 503),
        (&[(F, N), (F, N)], W, 200),
        (&[(P, C), (P, N)], P, 200),
    ];
    for (checks, status, code) in table {
        check(checks, *status, *code).await;
    }
}

#[tokio::test]
async fn every_pair_of_checks() {
    let singles: Vec<(Status, Criticality)> = STATUSES
        .iter()
        .flat_map(|&s| CRITICALITIES.iter().map(move |&c| (s, c)))
        .collect();
    let mut cases = 0;
    for &a in &singles {
        let expected = documented(&[a]);
        check(
            &[a],
            expected,
            if expected == Status::Fail { 503 } else { 200 },
        )
        .await;
        for &b in &singles {
            let expected = documented(&[a, b]);
            check(
                &[a, b],
                expected,
                if expected == Status::Fail { 503 } else { 200 },
            )
            .await;
            cases += 1;
        }
    }
    assert_eq!(cases, 36);
}
