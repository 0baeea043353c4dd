//! keel-envelope: serializing `Envelope<T>` vs serializing the bare `T` with serde_json.
//!
//! Targets (issue #2): at most +60 ns for a small object, at most 5 % for bodies ≥ 2 KB.

#![allow(clippy::expect_used)] // bench setup with constant inputs

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use keel_envelope::Envelope;
use serde::Serialize;

#[derive(Serialize, Clone)]
struct User {
    id: u64,
    email: String,
    first_name: String,
    last_name: String,
    role: &'static str,
    created_at: String,
}

fn user(i: u64) -> User {
    User {
        id: i,
        email: format!("user{i}@example.com"),
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
        role: "user",
        created_at: "2026-11-22T03:00:00Z".into(),
    }
}

/// Serializes like `keel_envelope::axum::json_response` does: into a 512-byte buffer, so
/// neither side pays serde_json's 128-byte-then-double growth for a body just over 128.
fn write<T: Serialize>(value: &T) -> usize {
    let mut buf = Vec::with_capacity(512);
    match serde_json::to_writer(&mut buf, value) {
        Ok(()) => buf.len(),
        Err(_) => 0,
    }
}

fn bench(c: &mut Criterion) {
    let small = user(1);
    let list: Vec<User> = (0..20).map(user).collect();
    let mut g = c.benchmark_group("envelope/small");
    g.bench_function("bare_serde_json", |b| {
        b.iter(|| write(black_box(&small)));
    });
    g.bench_function("keel_envelope", |b| {
        b.iter(|| write(&Envelope::new(black_box(&small))));
    });
    // With `meta.request_id`: adds the id's allocation and ~35 output bytes.
    g.bench_function("keel_envelope_request_id", |b| {
        b.iter(|| {
            let env = Envelope::new(black_box(&small)).with_request_id("req-0123456789");
            write(&env)
        });
    });
    g.finish();

    let pagination = keel_envelope::Pagination::new(1, 20, 57).expect("valid pagination");
    let mut g = c.benchmark_group("envelope/list20");
    g.bench_function("bare_serde_json", |b| {
        b.iter(|| write(black_box(&list)));
    });
    g.bench_function("keel_envelope", |b| {
        b.iter(|| {
            let env = Envelope::new(black_box(&list))
                .with_request_id("req-0123456789")
                .with_pagination(pagination);
            write(&env)
        });
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = keel_benches::criterion_config();
    targets = bench
}
criterion_main!(benches);
