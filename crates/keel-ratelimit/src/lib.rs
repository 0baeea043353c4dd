#![doc = include_str!("../README.md")]
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
