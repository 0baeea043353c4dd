// The README is the crate doc. Some of its examples need `redis` and `axum`, so `cargo test --doc`
// runs them only when those features are on (CI tests doctests with `--all-features`);
// the README itself stays free of feature gates so that it pastes cleanly.
#![cfg_attr(
    any(not(doctest), all(feature = "redis", feature = "axum")),
    doc = include_str!("../README.md")
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;
mod builder;
mod cache;
mod clock;
mod entry;
mod error;
#[cfg(feature = "errors")]
mod errors;
mod flight;
mod key;
mod lookup;
#[cfg(feature = "metrics")]
mod metrics;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis;
mod stats;
mod tier;

pub use builder::{CacheBuilder, DEFAULT_MAX_CAPACITY, DEFAULT_MAX_KEY_LEN};
pub use cache::Cache;
pub use clock::Clock;
pub use error::{Error, LoadError};
pub use key::{CacheKey, Key, KeyPart};
pub use lookup::{CacheStatus, Lookup};
pub use stats::{CacheStats, Evictions, L2Stats};
