#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod clock;
mod error;
pub mod migrations;
mod refresh;
mod store;

pub use clock::Clock;
pub use error::{Error, Result};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use refresh::PgRefreshStore;
pub use refresh::{
    IssuedRefreshToken, MemoryRefreshStore, MemoryRefreshStoreBuilder, RefreshConfig,
    RefreshConfigBuilder, RefreshStore, RefreshToken, RefreshTokens, RevokeReason, RotateOutcome,
    Session, SessionId,
};
pub use store::{MAX_SUBJECT_LEN, SecretHash, StoreFuture};
