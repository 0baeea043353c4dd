//! `keel_envelope::rfc3339` against `time::serde::rfc3339`: the same bytes, the same
//! errors, over the values where RFC 3339 formatting has choices to make (fractional
//! seconds and their trailing zeros, `Z` versus an offset, the ends of the year range).
#![cfg(feature = "time")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde::{Deserialize, Serialize};
use time::macros::{datetime, offset};
use time::{Duration, OffsetDateTime, UtcOffset};

#[derive(Serialize)]
struct Keel(#[serde(with = "keel_envelope::rfc3339")] OffsetDateTime);

#[derive(Serialize)]
struct Time(#[serde(with = "time::serde::rfc3339")] OffsetDateTime);

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct KeelOpt(#[serde(with = "keel_envelope::rfc3339::option")] Option<OffsetDateTime>);

#[derive(Serialize)]
struct TimeOpt(#[serde(with = "time::serde::rfc3339::option")] Option<OffsetDateTime>);

/// Serializes `dt` both ways, asserts the outcomes are identical (text or error message)
/// and that the text is `expected`.
#[track_caller]
fn check(dt: OffsetDateTime, expected: &str) {
    let ours = serde_json::to_string(&Keel(dt)).unwrap();
    let theirs = serde_json::to_string(&Time(dt)).unwrap();
    assert_eq!(ours, theirs, "{dt}");
    assert_eq!(ours, format!("\"{expected}\""));
    let opt = serde_json::to_string(&KeelOpt(Some(dt))).unwrap();
    assert_eq!(opt, serde_json::to_string(&TimeOpt(Some(dt))).unwrap());
    assert_eq!(opt, ours);
    // And it reads back to the same instant.
    let back: KeelOpt = serde_json::from_str(&ours).unwrap();
    assert_eq!(back, KeelOpt(Some(dt)));
}

#[test]
fn same_bytes_as_time() {
    check(datetime!(2024-05-06 07:08:09 UTC), "2024-05-06T07:08:09Z");
    // Fractional seconds: written only when non-zero, trailing zeros trimmed.
    check(
        datetime!(2024-05-06 07:08:09.5 UTC),
        "2024-05-06T07:08:09.5Z",
    );
    check(
        datetime!(2024-05-06 07:08:09.120 UTC),
        "2024-05-06T07:08:09.12Z",
    );
    check(
        datetime!(2024-05-06 07:08:09.000_001 UTC),
        "2024-05-06T07:08:09.000001Z",
    );
    check(
        datetime!(2024-05-06 07:08:09.000_000_001 UTC),
        "2024-05-06T07:08:09.000000001Z",
    );
    check(
        datetime!(2024-05-06 07:08:09.123_456_780 UTC),
        "2024-05-06T07:08:09.12345678Z",
    );
    // PostgreSQL `timestamptz` has microseconds.
    check(
        datetime!(2026-12-03 23:08:45.123_456 UTC),
        "2026-12-03T23:08:45.123456Z",
    );
    // Offsets other than UTC, both signs; `+00:00` is UTC and written `Z`.
    check(
        datetime!(2024-05-06 07:08:09 +05:30),
        "2024-05-06T07:08:09+05:30",
    );
    check(
        datetime!(2024-05-06 07:08:09 -09:45),
        "2024-05-06T07:08:09-09:45",
    );
    check(
        datetime!(2024-05-06 07:08:09 +00:00),
        "2024-05-06T07:08:09Z",
    );
    check(
        datetime!(2024-05-06 07:08:09 -00:30),
        "2024-05-06T07:08:09-00:30",
    );
    // Before 1970, and the ends of RFC 3339's year range.
    check(
        datetime!(1969-12-31 23:59:59.999_999_999 UTC),
        "1969-12-31T23:59:59.999999999Z",
    );
    check(datetime!(0000-01-01 00:00:00 UTC), "0000-01-01T00:00:00Z");
    // The longest text: nine fraction digits and an offset.
    check(
        datetime!(9999-12-31 23:59:59.999_999_999 +23:59),
        "9999-12-31T23:59:59.999999999+23:59",
    );
    check(OffsetDateTime::UNIX_EPOCH, "1970-01-01T00:00:00Z");
}

/// Instants spread over the whole RFC 3339 year range (every field, every fraction
/// length, UTC and offsets), from a fixed-seed generator: the UTC fast path and time's
/// formatter agree byte for byte.
#[test]
fn many_instants_match_time() {
    let first = datetime!(0000-01-01 00:00:00 UTC).unix_timestamp();
    let last = datetime!(9999-12-31 23:59:59 UTC).unix_timestamp();
    let span = u64::try_from(last - first).unwrap();
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..50_000 {
        let secs = first + i64::try_from(next() % (span + 1)).unwrap();
        // Every fraction length, and whole seconds, equally often.
        let nanos = match i % 11 {
            0 => 0,
            k => (next() % 1_000_000_000) / 10_u64.pow(k - 1) * 10_u64.pow(k - 1),
        };
        let dt = OffsetDateTime::from_unix_timestamp(secs).unwrap()
            + Duration::nanoseconds(i64::try_from(nanos).unwrap());
        let dt = if i % 5 == 0 {
            dt.to_offset(offset!(+05:30))
        } else {
            dt
        };
        let ours = serde_json::to_string(&Keel(dt));
        let theirs = serde_json::to_string(&Time(dt));
        match (ours, theirs) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{dt}"),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{dt}"),
            (a, b) => panic!("{dt}: keel {a:?}, time {b:?}"),
        }
    }
}

#[test]
fn every_fraction_length_matches_time() {
    let base = datetime!(2001-02-03 04:05:06 UTC);
    let mut nanos = 1;
    for _ in 0..9 {
        for digit in [1, 9] {
            let dt = base + Duration::nanoseconds(nanos * digit);
            let ours = serde_json::to_string(&Keel(dt)).unwrap();
            assert_eq!(ours, serde_json::to_string(&Time(dt)).unwrap(), "{dt}");
        }
        nanos *= 10;
    }
}

#[test]
fn what_rfc3339_cannot_express_fails_as_time_does() {
    let too_early = datetime!(0000-01-01 00:00:00 UTC) - Duration::nanoseconds(1);
    let seconds_offset =
        datetime!(2024-05-06 07:08:09 UTC).to_offset(UtcOffset::from_hms(1, 2, 3).unwrap());
    for dt in [too_early, seconds_offset] {
        let ours = serde_json::to_string(&Keel(dt)).unwrap_err().to_string();
        let theirs = serde_json::to_string(&Time(dt)).unwrap_err().to_string();
        assert_eq!(ours, theirs, "{dt}");
        let opt = serde_json::to_string(&KeelOpt(Some(dt))).unwrap_err();
        assert_eq!(opt.to_string(), theirs);
    }
}

#[test]
fn none_is_null_and_reads_back() {
    assert_eq!(serde_json::to_string(&KeelOpt(None)).unwrap(), "null");
    assert_eq!(serde_json::to_string(&TimeOpt(None)).unwrap(), "null");
    let back: KeelOpt = serde_json::from_str("null").unwrap();
    assert_eq!(back, KeelOpt(None));
    // Offsets survive the round trip.
    let dt = datetime!(2024-05-06 07:08:09.25 UTC).to_offset(offset!(-03:00));
    let json = serde_json::to_string(&KeelOpt(Some(dt))).unwrap();
    assert_eq!(json, "\"2024-05-06T04:08:09.25-03:00\"");
    let back: KeelOpt = serde_json::from_str(&json).unwrap();
    assert_eq!(back.0.unwrap().offset(), offset!(-03:00));
}

#[test]
fn bad_text_is_a_deserialize_error() {
    for text in [r#""2024-05-06""#, r#""2024-05-06T07:08:09""#, "17", r#""""#] {
        assert!(serde_json::from_str::<KeelOpt>(text).is_err(), "{text}");
    }
}
