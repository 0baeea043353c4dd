// The README is the crate doc. Some of its examples need `axum`, so `cargo test --doc`
// runs them only when those features are on (CI tests doctests with `--all-features`);
// the README itself stays free of feature gates so that it pastes cleanly.
#![cfg_attr(
    any(not(doctest), feature = "axum"),
    doc = include_str!("../README.md")
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;
mod check;
mod error;
mod health;
#[cfg(feature = "metrics")]
mod metrics;
#[cfg(feature = "utoipa")]
#[cfg_attr(docsrs, doc(cfg(feature = "utoipa")))]
pub mod openapi;
mod options;
mod report;
mod slot;
mod status;
pub mod system;
mod time;

pub use check::{Check, IntoObservation, Observation};
pub use error::Error;
pub use health::{Health, HealthBuilder, Poller};
pub use options::{CheckOptions, CheckOptionsBuilder, Probes};
pub use report::{CONTENT_TYPE, CheckResult, Detail, HealthReport, Probe};
pub use status::{Criticality, Status};
