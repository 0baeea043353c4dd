//! keel-validation vs `validator` 0.21 and `garde` 0.23 on a typical FastAPI service's
//! 5-field signup payload (email, first/last name, password without the
//! common-list lookup, phone).
//!
//! Targets (issue #3): valid payload normalize + validate ≤ garde validate only;
//! all-invalid payload including building the error list ≤ 1.2 µs; error JSON ≤
//! validator's.
//!
//! On a shared 2-core machine criterion's groups drift between functions measured
//! seconds apart, so the first target, `paired`, interleaves ~1 ms batches of Keel
//! and each peer for 200 rounds and prints time ratios (fastest batches and median
//! per round): `cargo bench -p keel-benches --bench validation -- paired` runs only it.

use std::hint::black_box;
use std::sync::LazyLock;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use keel_validation::{PasswordPolicy, Validate as _};

static NO_COMMON: PasswordPolicy = PasswordPolicy::nist().reject_common(false);

#[derive(Clone, Debug, PartialEq, keel_validation::Validate)]
struct KeelSignup {
    #[normalize(email)]
    #[validate(email)]
    email: String,
    #[normalize(collapse_whitespace, title_case)]
    #[validate(length(min = 1, max = 50))]
    first_name: String,
    #[normalize(collapse_whitespace, title_case)]
    #[validate(length(min = 1, max = 50))]
    last_name: String,
    #[validate(password(policy = NO_COMMON))]
    password: String,
    #[normalize(phone)]
    #[validate(phone)]
    phone: String,
}

static PHONE_RE: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"^\+[1-9]\d{7,14}$").unwrap_or_else(|_| unreachable!()));

#[derive(Clone, validator::Validate)]
struct ValidatorSignup {
    #[validate(email)]
    email: String,
    #[validate(length(min = 1, max = 50))]
    first_name: String,
    #[validate(length(min = 1, max = 50))]
    last_name: String,
    #[validate(length(min = 8, max = 128))]
    password: String,
    #[validate(regex(path = *PHONE_RE))]
    phone: String,
}

#[derive(Clone, garde::Validate)]
struct GardeSignup {
    #[garde(email)]
    email: String,
    #[garde(length(chars, min = 1, max = 50))]
    first_name: String,
    #[garde(length(chars, min = 1, max = 50))]
    last_name: String,
    #[garde(length(chars, min = 8, max = 128))]
    password: String,
    #[garde(pattern(r"^\+[1-9]\d{7,14}$"))]
    phone: String,
}

macro_rules! payload {
    ($t:ident, $e:expr, $f:expr, $l:expr, $p:expr, $ph:expr) => {
        $t {
            email: $e.into(),
            first_name: $f.into(),
            last_name: $l.into(),
            password: $p.into(),
            phone: $ph.into(),
        }
    };
}

const VALID: [&str; 5] = [
    "ada.lovelace@example.com",
    "Ada",
    "Lovelace",
    "analytical engine 1843",
    "+442079460018",
];
const LONG_NAME: &str = "Lovelace-Byron-King-Noel-Ockham-Horsley-Towers-Leicestershire";
const INVALID: [&str; 5] = ["ada@@example", "", LONG_NAME, "short", "555-0100"];

/// Interleaved Keel/peer time ratios (see the module docs). Runs with no filter or
/// a filter containing "paired".
#[allow(clippy::print_stderr)]
fn paired(_: &mut Criterion) {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if !(filters.is_empty() || filters.iter().any(|f| f.contains("paired"))) {
        return;
    }
    let time = |f: &mut dyn FnMut(), n: u32| {
        let start = std::time::Instant::now();
        for _ in 0..n {
            f();
        }
        start.elapsed().as_secs_f64()
    };
    let report = |name: &str, n: u32, keel: &[f64], peer: &[f64]| {
        let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
        let mut ratios: Vec<f64> = keel.iter().zip(peer).map(|(k, p)| k / p).collect();
        ratios.sort_by(f64::total_cmp);
        eprintln!(
            "paired {name}: Keel/peer time {:.2} (fastest batches), median per round {:.2}, {} rounds; fastest keel {:.0} ns, peer {:.0} ns",
            min(keel) / min(peer),
            ratios[ratios.len() / 2],
            ratios.len(),
            min(keel) * 1e9 / f64::from(n),
            min(peer) * 1e9 / f64::from(n),
        );
    };
    let rounds = |n: u32, keel: &mut dyn FnMut(), peer: &mut dyn FnMut()| {
        let (mut k, mut p) = (Vec::new(), Vec::new());
        for _ in 0..200 {
            k.push(time(keel, n));
            p.push(time(peer, n));
        }
        (k, p)
    };

    let [e, f, l, p, ph] = VALID;
    let mut keel = payload!(KeelSignup, e, f, l, p, ph);
    let vali = payload!(ValidatorSignup, e, f, l, p, ph);
    let gard = payload!(GardeSignup, e, f, l, p, ph);
    let (k, g) = rounds(
        5_000,
        &mut || {
            let v = black_box(&mut keel);
            v.normalize();
            _ = black_box(v.validate().is_ok());
        },
        &mut || _ = black_box(garde::Validate::validate(black_box(&gard)).is_ok()),
    );
    report(
        "valid: keel normalize+validate vs garde validate",
        5_000,
        &k,
        &g,
    );
    let (k, g) = rounds(
        5_000,
        &mut || _ = black_box(black_box(&keel).validate().is_ok()),
        &mut || _ = black_box(garde::Validate::validate(black_box(&gard)).is_ok()),
    );
    report("valid: keel validate only vs garde validate", 5_000, &k, &g);
    let (k, v) = rounds(
        5_000,
        &mut || {
            let v = black_box(&mut keel);
            v.normalize();
            _ = black_box(v.validate().is_ok());
        },
        &mut || _ = black_box(validator::Validate::validate(black_box(&vali)).is_ok()),
    );
    report(
        "valid: keel normalize+validate vs validator validate",
        5_000,
        &k,
        &v,
    );

    let [e, f, l, p, ph] = INVALID;
    let mut keel = payload!(KeelSignup, e, f, l, p, ph);
    let vali = payload!(ValidatorSignup, e, f, l, p, ph);
    let gard = payload!(GardeSignup, e, f, l, p, ph);
    let (k, g) = rounds(
        500,
        &mut || {
            let v = black_box(&mut keel);
            v.normalize();
            _ = black_box(v.validate().err().map(|e| e.len()));
        },
        &mut || {
            _ = black_box(
                garde::Validate::validate(black_box(&gard))
                    .err()
                    .map(|e| e.iter().count()),
            );
        },
    );
    report(
        "invalid: keel normalize+validate vs garde validate",
        500,
        &k,
        &g,
    );
    let (k, v) = rounds(
        500,
        &mut || {
            let v = black_box(&mut keel);
            v.normalize();
            _ = black_box(v.validate().err().map(|e| e.len()));
        },
        &mut || {
            _ = black_box(
                validator::Validate::validate(black_box(&vali))
                    .err()
                    .map(|e| e.errors().len()),
            );
        },
    );
    report(
        "invalid: keel normalize+validate vs validator validate",
        500,
        &k,
        &v,
    );

    let envelope = keel
        .validate()
        .err()
        .unwrap_or_default()
        .into_error_envelope(None);
    let vali_errors = validator::Validate::validate(&vali).err();
    let (k, v) = rounds(
        500,
        &mut || _ = black_box(serde_json::to_vec(black_box(&envelope)).map(|v| v.len())),
        &mut || _ = black_box(serde_json::to_vec(black_box(&vali_errors)).map(|v| v.len())),
    );
    report(
        "error JSON: keel 422 envelope vs validator errors",
        500,
        &k,
        &v,
    );
    eprintln!(
        "error JSON sizes: keel {} bytes, validator {} bytes",
        serde_json::to_vec(&envelope).map_or(0, |v| v.len()),
        serde_json::to_vec(&vali_errors).map_or(0, |v| v.len())
    );
}

fn bench(c: &mut Criterion) {
    let [e, f, l, p, ph] = VALID;
    let keel = payload!(KeelSignup, e, f, l, p, ph);
    let vali = payload!(ValidatorSignup, e, f, l, p, ph);
    let gard = payload!(GardeSignup, e, f, l, p, ph);
    assert!(keel.clone().clean().is_ok());
    assert!(validator::Validate::validate(&vali).is_ok());
    assert!(garde::Validate::validate(&gard).is_ok());

    let mut g = c.benchmark_group("validation/valid");
    // The payload is already in normal form (what most clients send), so running
    // `normalize` on the same value every iteration is honest: it is measured in
    // full and finds nothing to change.
    let mut clean = keel.clone();
    clean.normalize();
    assert_eq!(clean, keel, "VALID must already be in normal form");
    g.bench_function("keel_normalize_validate", |b| {
        b.iter(|| {
            let v = black_box(&mut clean);
            v.normalize();
            v.validate().is_ok()
        });
    });
    // A payload that needs rewriting (spaces, case, national phone format): a fresh
    // copy per iteration, so allocator and cache effects of the copies are included.
    let dirty = payload!(
        KeelSignup,
        "  Ada.Lovelace@Example.COM ",
        " ada ",
        "LOVELACE",
        "analytical engine 1843",
        "+44 20 7946 0018"
    );
    g.bench_function("keel_normalize_validate_dirty", |b| {
        b.iter_batched_ref(
            || dirty.clone(),
            |v| {
                v.normalize();
                v.validate().is_ok()
            },
            BatchSize::SmallInput,
        );
    });
    g.bench_function("keel_validate", |b| {
        b.iter(|| black_box(&keel).validate().is_ok());
    });
    g.bench_function("validator_validate", |b| {
        b.iter(|| validator::Validate::validate(black_box(&vali)).is_ok());
    });
    g.bench_function("garde_validate", |b| {
        b.iter(|| garde::Validate::validate(black_box(&gard)).is_ok());
    });
    g.finish();

    let [e, f, l, p, ph] = INVALID;
    let keel = payload!(KeelSignup, e, f, l, p, ph);
    let vali = payload!(ValidatorSignup, e, f, l, p, ph);
    let gard = payload!(GardeSignup, e, f, l, p, ph);
    let keel_errors = keel.clone().clean().err().unwrap_or_default();
    assert_eq!(keel_errors.len(), 5);
    let vali_errors = validator::Validate::validate(&vali).err();
    assert_eq!(
        vali_errors.as_ref().map(|e| e.field_errors().len()),
        Some(5)
    );
    assert!(garde::Validate::validate(&gard).is_err());

    let mut g = c.benchmark_group("validation/invalid");
    // INVALID is already in normal form, so normalize + validate can run on one value.
    let mut bad = keel.clone();
    bad.normalize();
    assert_eq!(bad, keel, "INVALID must already be in normal form");
    g.bench_function("keel_normalize_validate", |b| {
        b.iter(|| {
            let v = black_box(&mut bad);
            v.normalize();
            v.validate().err().map(|e| e.len())
        });
    });
    g.bench_function("validator_validate", |b| {
        b.iter(|| {
            validator::Validate::validate(black_box(&vali))
                .err()
                .map(|e| e.errors().len())
        });
    });
    g.bench_function("garde_validate", |b| {
        b.iter(|| {
            garde::Validate::validate(black_box(&gard))
                .err()
                .map(|e| e.iter().count())
        });
    });
    g.finish();

    let envelope = keel_errors.into_error_envelope(None);
    let mut g = c.benchmark_group("validation/error_json");
    g.bench_function("keel_envelope", |b| {
        b.iter(|| serde_json::to_vec(black_box(&envelope)).map(|v| v.len()));
    });
    g.bench_function("validator_errors", |b| {
        b.iter(|| serde_json::to_vec(black_box(&vali_errors)).map(|v| v.len()));
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = keel_benches::criterion_config();
    targets = paired, bench
}
criterion_main!(benches);
