//! python-email-validator's syntax test suite (which embeds the pyIsEmail /
//! isemail `tests.xml` cases) run against keel-validation's email policy.
//!
//! `tests/data/email/corpus.jsonl` holds every input of email-validator 2.4.0's
//! `tests/test_syntax.py` with the verdict and normalized form that
//! email-validator 2.4.0 itself returns with its default options and
//! `check_deliverability=False` (see `tests/data/email/README.md`). The policy of
//! keel-validation is "the same verdict as email-validator's defaults", except for
//! the divergences listed in `tests/data/email/divergences.tsv`, each of which is
//! also listed and argued in `docs/validation.md`. Agreement must be 100 %.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use keel_validation::normalize::{EmailCase, email_with};
use keel_validation::rules::{EmailOptions, email};

#[derive(serde::Deserialize)]
struct Case {
    group: String,
    input: String,
    valid: bool,
    normalized: Option<String>,
    error: Option<String>,
    valid_extended: bool,
}

fn divergences(text: &str) -> HashMap<String, (bool, String)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut cols = l.split('\t');
            let input: String = serde_json::from_str(cols.next().unwrap()).unwrap();
            let ours = cols.next().unwrap() == "valid";
            let why = cols.next().unwrap_or_default().to_owned();
            (input, (ours, why))
        })
        .collect()
}

fn cases() -> Vec<Case> {
    let cases: Vec<Case> = include_str!("data/email/corpus.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(cases.len() > 250, "corpus truncated: {}", cases.len());
    cases
}

#[test]
fn corpus_agrees_with_the_written_policy() {
    let cases = cases();
    let div = divergences(include_str!("data/email/divergences.tsv"));
    let opts = EmailOptions::new();
    let mut failures = Vec::new();
    let mut used = 0;
    for c in &cases {
        let ours = email(c.input.as_str(), &opts).is_ok();
        let expected = match div.get(&c.input) {
            Some((v, _)) => {
                used += 1;
                *v
            }
            None => c.valid,
        };
        if ours != expected {
            failures.push(format!(
                "{:?} [{}]: ours {ours}, policy {expected} (email-validator: {:?})",
                c.input, c.group, c.error
            ));
            continue;
        }
        // Same normalized form where both accept (domain lowercased, local part kept).
        if ours && c.valid && !div.contains_key(&c.input) {
            let mut s = c.input.clone();
            email_with(&mut s, EmailCase::DomainOnly);
            if Some(&s) != c.normalized.as_ref() {
                failures.push(format!(
                    "{:?}: normalized {s:?}, email-validator {:?}",
                    c.input, c.normalized
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(used, div.len(), "stale entries in divergences.tsv");
}

/// With `allow_quoted_local` and `allow_domain_literal` on, the verdicts match
/// email-validator with the same options on (normalized forms differ: we keep
/// quotes as written, see docs/validation.md).
#[test]
fn corpus_agrees_with_extended_options() {
    let div = divergences(include_str!("data/email/divergences-extended.tsv"));
    let opts = EmailOptions::new()
        .allow_quoted_local(true)
        .allow_domain_literal(true);
    let mut failures = Vec::new();
    let mut used = 0;
    for c in cases() {
        let ours = email(c.input.as_str(), &opts).is_ok();
        let expected = match div.get(&c.input) {
            Some((v, _)) => {
                used += 1;
                *v
            }
            None => c.valid_extended,
        };
        if ours != expected {
            failures.push(format!(
                "{:?} [{}]: ours {ours}, policy {expected}",
                c.input, c.group
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(used, div.len(), "stale entries in divergences-extended.tsv");
}

#[test]
fn long_inputs_are_bounded() {
    // email-validator's own regression inputs for quadratic behaviour.
    let opts = EmailOptions::new();
    let start = std::time::Instant::now();
    assert!(email(&format!("{}@example.com", "\u{301}".repeat(50_000)), &opts).is_err());
    assert!(email(&format!("me@\u{e9}.xn--{}.com", "9".repeat(200_000)), &opts).is_err());
    assert!(email(&format!("me@{}.com", "\u{660}".repeat(40_000)), &opts).is_err());
    assert!(start.elapsed() < std::time::Duration::from_secs(1));
}
