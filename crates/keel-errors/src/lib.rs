#![doc = include_str!("../README.md")]
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
