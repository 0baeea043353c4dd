#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;
pub mod admission;
mod clock;
mod error;
#[cfg(feature = "errors")]
mod errors;
#[cfg(feature = "ratelimit")]
#[cfg_attr(docsrs, doc(cfg(feature = "ratelimit")))]
pub mod login;
pub mod migrations;
mod refresh;
pub mod revocation;
mod store;
pub mod token;

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
pub use revocation::{MemoryTokenVersions, RevocationState, Revocations, TokenVersions};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use revocation::PgTokenVersions;
pub use store::{MAX_SUBJECT_LEN, SecretHash, StoreFuture};
pub use token::{
    AccessToken, AccessTokenResponse, AccessTokens, Authenticator, Claims, Key, KeySet,
};
