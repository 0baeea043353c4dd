//! What `json_response` allocates per response, counted with a counting global allocator
//! (so this binary holds one test: libtest's parallel test threads would be counted too).
//!
//! Once a thread has served a response, a body costs one allocation of its exact size
//! whatever its length (up to the 16 KiB the thread keeps): none for regrowth, none for
//! a `Bytes` shared header. The rest is the response itself: the header map's two
//! tables and axum's boxed body.
#![cfg(feature = "axum")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::alloc::System;

use http::StatusCode;
use keel_envelope::Envelope;
use keel_envelope::axum::json_response;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

#[derive(serde::Serialize)]
struct User {
    id: u64,
    email: String,
    first_name: &'static str,
    last_name: &'static str,
    phone: Option<&'static str>,
}

/// `f`'s result and the heap allocations (including reallocations) it made.
fn counted<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let region = Region::new(GLOBAL);
    let out = f();
    let stats = region.change();
    (out, stats.allocations + stats.reallocations)
}

/// The response's body length, read without allocating (the body is one `Bytes` frame).
fn body_len(res: &axum::response::Response) -> u64 {
    axum::body::HttpBody::size_hint(res.body()).exact().unwrap()
}

#[test]
fn a_response_allocates_its_body_once_its_headers_and_its_box() {
    let user = User {
        id: 7,
        email: "ada@example.com".to_owned(),
        first_name: "Ada",
        last_name: "Lovelace",
        phone: Some("+442071838750"),
    };
    // A list of 40 users: about 4 KiB, three doublings past a 512-byte buffer.
    let users: Vec<&User> = std::iter::repeat_n(&user, 40).collect();
    let one = Envelope::new(&user);
    let many = Envelope::new(&users);
    // The thread's buffer is made (and grown to its high-water mark) on first use.
    drop(json_response(StatusCode::OK, &many));

    for _ in 0..3 {
        let (res, allocations) = counted(|| json_response(StatusCode::OK, &one));
        assert_eq!(
            body_len(&res),
            serde_json::to_vec(&one).unwrap().len() as u64
        );
        // Body, the header map's indices and entries, the boxed body.
        assert_eq!(allocations, 4, "one user");
        drop(res);
        let (res, allocations) = counted(|| json_response(StatusCode::OK, &many));
        assert!(body_len(&res) > 4_000);
        assert_eq!(allocations, 4, "forty users");
        drop(res);
    }

    // The way it was: a fresh 512-byte `Vec` per body, grown by doubling, and `Bytes`'
    // shared header (its length is not its capacity).
    let (_, before) = counted(|| {
        let mut buf = Vec::with_capacity(512);
        serde_json::to_writer(&mut buf, &many).unwrap();
        bytes::Bytes::from(buf)
    });
    assert!(before >= 5, "{before}");
}
