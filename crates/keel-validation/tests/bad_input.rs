//! Hostile input: megabyte strings, control characters, mixed scripts, deep nesting.
//! Bounded work, a clear error, never a panic.
#![cfg(all(feature = "derive", feature = "html"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use keel_validation::{Validate, ValidationErrors};
use serde::Deserialize;

#[derive(Debug, Deserialize, Validate)]
struct Profile {
    #[normalize(email)]
    #[validate(email)]
    email: String,
    #[normalize(strip_html, collapse_whitespace, title_case)]
    #[validate(length(min = 1, max = 50))]
    name: String,
    #[validate(username)]
    username: String,
    #[validate(password)]
    password: String,
    #[normalize(phone)]
    #[validate(phone)]
    phone: String,
    #[validate(url)]
    website: String,
    #[normalize(trim)]
    #[validate(length(max = 500))]
    bio: String,
}

fn codes(e: &ValidationErrors) -> Vec<(String, String)> {
    e.iter()
        .map(|f| (f.field.clone(), f.code.to_string()))
        .collect()
}

#[test]
fn megabyte_strings_are_rejected_quickly() {
    let big = "a".repeat(1 << 20);
    let p = Profile {
        email: format!("{big}@example.com"),
        name: big.clone(),
        username: big.clone(),
        password: big.clone(),
        phone: "1".repeat(1 << 20),
        website: format!("https://example.com/{big}"),
        bio: big,
    };
    let start = Instant::now();
    let e = p.clean().unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(
        codes(&e),
        [
            ("email", "invalid_email"),
            ("name", "too_long"),
            ("username", "invalid_username"),
            ("password", "password_too_long"),
            ("phone", "invalid_phone"),
            ("website", "invalid_url"),
            ("bio", "too_long"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
}

#[test]
fn control_characters_and_mixed_scripts() {
    let p = Profile {
        email: "ada@exa\u{0}mple.com".into(),
        name: "Ada\u{1b}[31m".into(),
        username: "аdmin".into(), // Cyrillic а
        password: "correct\u{0}horse battery".into(),
        phone: "+44\u{0}2079460018".into(),
        website: "https://exa\u{7}mple.com".into(),
        bio: "line\u{85}break".into(),
    };
    let e = p.clean().unwrap_err();
    assert_eq!(
        codes(&e),
        [
            ("email", "invalid_email"),
            ("name", "control_chars"),
            ("username", "invalid_username"),
            ("password", "control_chars"),
            ("phone", "invalid_phone"),
            ("website", "invalid_url"),
            ("bio", "control_chars"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    // A right-to-left label next to a digit-only label breaks the Bidi rule.
    let bidi = keel_validation::rules::email("me@1.xn--4dbc.com", &Default::default());
    assert!(bidi.is_err());
}

#[derive(Debug, Deserialize, Validate)]
struct Node {
    #[validate(length(min = 1))]
    name: String,
    #[validate(nested)]
    children: Vec<Node>,
}

#[test]
fn deep_nesting() {
    // 200 levels built in Rust: the error path is complete.
    let mut node = Node {
        name: String::new(),
        children: vec![],
    };
    for _ in 0..200 {
        node = Node {
            name: "n".into(),
            children: vec![node],
        };
    }
    let e = node.validate().unwrap_err();
    assert_eq!(e.len(), 1);
    assert_eq!(e.as_slice()[0].field.matches("children[0]").count(), 200);
    assert!(e.as_slice()[0].pointer.ends_with("/children/0/name"));

    // 100 000 levels of JSON stop at serde_json's recursion limit: an error, no overflow.
    let deep = format!(
        "{}{}",
        r#"{"name":"x","children":["#.repeat(100_000),
        "]}".repeat(100_000)
    );
    assert!(serde_json::from_str::<Node>(&deep).is_err());
}
