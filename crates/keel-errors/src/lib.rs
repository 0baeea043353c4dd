// The README is the crate doc. Some of its examples need `axum`, so `cargo test --doc`
// runs them only when those features are on (CI tests doctests with `--all-features`);
// the README itself stays free of feature gates so that it pastes cleanly.
#![cfg_attr(
    any(not(doctest), feature = "axum"),
    doc = include_str!("../README.md")
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod api_error;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;
mod kind;
mod problem;

pub use api_error::{ApiError, MAX_EXTRA_HEADER_BYTES, MAX_EXTRA_HEADERS};
pub use kind::ErrorKind;
pub use problem::{PROBLEM_JSON, ProblemDetails};

/// Re-export of the wire format crate, so `keel_errors::envelope::FieldError` is at hand.
pub use keel_envelope as envelope;
