//! keel-http's JSON event format against tracing-subscriber's `json()`: the same object
//! for the same events (the timestamp aside), and valid JSON for hostile field values.
#![cfg(feature = "json-log")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use keel_http::json_log::json_subscriber;
use keel_testkit::LogCapture;
use serde_json::Value;
use tracing_subscriber::EnvFilter;

#[derive(Debug)]
struct Id(#[allow(dead_code)] u32);

fn events() {
    tracing::info!("no span, message only");
    let span = tracing::info_span!(
        "request",
        method = "GET",
        route = "/users/{id}",
        request_id = "3f2c",
        late = tracing::field::Empty
    );
    let _entered = span.enter();
    tracing::warn!(
        status = 503_u16,
        signed = -7_i64,
        latency_ms = 1.25_f64,
        ok = false,
        big = u128::MAX,
        id = ?Id(7),
        text = "quote \" backslash \\ newline \n tab \t bell \u{7} café",
        "request finished"
    );
    span.record("late", 42_u64);
    let err = std::io::Error::other("disk \"full\"");
    tracing::error!(
        error = &err as &dyn std::error::Error,
        "inside, after a record"
    );
    let child = tracing::debug_span!("child");
    let _c = child.enter();
    tracing::info!(target: "custom::target", nan = f64::NAN, "in a span without fields");
}

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn capture(
    subscriber: impl tracing::Subscriber + Send + Sync + 'static,
    logs: &LogCapture,
) -> Vec<Value> {
    tracing::subscriber::with_default(subscriber, events);
    lines(&logs.text())
}

#[test]
fn same_objects_as_tracing_subscribers_json() {
    let ours_logs = LogCapture::new();
    let ours = capture(
        json_subscriber(ours_logs.clone(), EnvFilter::new("debug")).finish(),
        &ours_logs,
    );
    let theirs_logs = LogCapture::new();
    let theirs = capture(
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(EnvFilter::new("debug"))
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(theirs_logs.clone())
            .finish(),
        &theirs_logs,
    );
    assert_eq!(ours.len(), 4, "{}", ours_logs.text());
    assert_eq!(ours.len(), theirs.len());
    for (mut a, mut b) in ours.into_iter().zip(theirs) {
        let ta = a.as_object_mut().unwrap().remove("timestamp").unwrap();
        let tb = b.as_object_mut().unwrap().remove("timestamp").unwrap();
        let (ta, tb) = (
            ta.as_str().unwrap().to_owned(),
            tb.as_str().unwrap().to_owned(),
        );
        // Same RFC 3339 shape: `YYYY-MM-DDTHH:MM:SS.ffffffZ`, same date.
        assert_eq!(ta.len(), tb.len(), "{ta} vs {tb}");
        assert_eq!(ta[..10], tb[..10]);
        assert!(ta.ends_with('Z') && ta.as_bytes()[19] == b'.', "{ta}");
        assert_eq!(a, b);
    }
}

#[test]
fn one_line_per_event_even_with_newlines_in_values() {
    let logs = LogCapture::new();
    let got = capture(
        json_subscriber(logs.clone(), EnvFilter::new("debug")).finish(),
        &logs,
    );
    assert_eq!(logs.text().lines().count(), got.len());
    assert_eq!(
        got[1]["fields"]["text"],
        "quote \" backslash \\ newline \n tab \t bell \u{7} café"
    );
    assert_eq!(got[2]["span"]["late"], 42);
    assert_eq!(got[3]["fields"]["nan"], Value::Null);
    assert_eq!(got[3]["span"]["name"], "child");
}
