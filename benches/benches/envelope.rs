//! keel-envelope: serializing `Envelope<T>` vs serializing the bare `T` with serde_json,
//! and reading a request body with `keel_envelope::axum::Json` (path-reporting errors,
//! objects only where a struct is expected) vs `serde_json::from_slice`.
//!
//! Targets (issue #2): at most +60 ns for a small object, at most 5 % for bodies ≥ 2 KB.

#![allow(clippy::expect_used)] // bench setup with constant inputs

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use keel_envelope::Envelope;
use serde::{Deserialize, Serialize};

/// A request body with nested structs, a list of them and an optional struct: every
/// depth the extractor's object-only rule applies to.
#[derive(Deserialize)]
#[allow(dead_code)]
struct Order {
    customer: Customer,
    lines: Vec<Line>,
    note: Option<String>,
    gift: Option<Address>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Customer {
    email: String,
    name: String,
    address: Address,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Address {
    street: String,
    city: String,
    zip: String,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Line {
    sku: String,
    qty: u32,
    price_cents: u64,
}

fn order_body() -> Vec<u8> {
    let lines: Vec<String> = (0..10)
        .map(|i| {
            format!(
                r#"{{"sku":"SKU-{i:04}","qty":{i},"price_cents":{}}}"#,
                1000 + i
            )
        })
        .collect();
    format!(
        r#"{{"customer":{{"email":"ada@example.com","name":"Ada Lovelace","address":{{"street":"12 St James's Square","city":"London","zip":"SW1Y 4JH"}}}},"lines":[{}],"note":"leave at the door","gift":{{"street":"1 Main St","city":"Springfield","zip":"12345"}}}}"#,
        lines.join(",")
    )
    .into_bytes()
}

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

    let body = order_body();
    let mut g = c.benchmark_group("envelope/json_extract");
    g.bench_function("bare_serde_json", |b| {
        b.iter(|| serde_json::from_slice::<Order>(black_box(&body)).is_ok());
    });
    // What `Json::from_bytes` did before structs took objects only at every depth:
    // path-reporting serde over serde_json, then the trailing-bytes check.
    g.bench_function("path_to_error", |b| {
        b.iter(|| {
            let de = &mut serde_json::Deserializer::from_slice(black_box(&body));
            serde_path_to_error::deserialize::<_, Order>(&mut *de).is_ok() && de.end().is_ok()
        });
    });
    g.bench_function("keel_json", |b| {
        b.iter(|| keel_envelope::axum::Json::<Order>::from_bytes(black_box(&body)).is_ok());
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = keel_benches::criterion_config();
    targets = bench
}
criterion_main!(benches);
