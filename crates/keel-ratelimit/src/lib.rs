// The README is the crate doc. Some of its examples need `axum`, `errors` and `redis`, so `cargo test --doc`
// runs them only when those features are on (CI tests doctests with `--all-features`);
// the README itself stays free of feature gates so that it pastes cleanly.
#![cfg_attr(
    any(not(doctest), all(feature = "axum", feature = "errors", feature = "redis")),
    doc = include_str!("../README.md")
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod clock;
mod decision;
mod error;
#[cfg(feature = "errors")]
mod errors;
mod gcra;
mod headers;
mod key;
mod keyed;
mod limiter;
mod quota;
mod table;

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis;

pub use clock::Clock;
pub use decision::{Decision, HeaderStyle, QuotaState, Source};
pub use error::{Error, QuotaError, QuotaErrorKind};
pub use headers::{
    RATELIMIT, RATELIMIT_POLICY, X_RATELIMIT_LIMIT, X_RATELIMIT_REMAINING, X_RATELIMIT_RESET,
};
pub use key::Key;
pub use keyed::{KeyedLimiter, KeyedLimiterBuilder, LimiterStats, MAX_QUOTAS};
pub use limiter::Limiter;
pub use quota::Quota;
pub use table::WhenFull;
