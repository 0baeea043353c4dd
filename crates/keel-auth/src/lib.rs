#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod admission;
mod apikey;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;
mod clock;
mod error;
#[cfg(feature = "errors")]
mod errors;
#[cfg(feature = "ratelimit")]
#[cfg_attr(docsrs, doc(cfg(feature = "ratelimit")))]
pub mod flow;
#[cfg(feature = "ratelimit")]
#[cfg_attr(docsrs, doc(cfg(feature = "ratelimit")))]
pub mod login;
mod mfa;
pub mod migrations;
#[cfg(feature = "postgres")]
mod pg;
mod refresh;
pub mod revocation;
mod store;
pub mod token;

#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use apikey::PgApiKeyStore;
pub use apikey::{
    ApiKeyPrincipal, ApiKeyRecord, ApiKeyStore, ApiKeys, ApiKeysConfig, ApiKeysConfigBuilder,
    CreatedApiKey, MAX_API_KEY_LEN, MAX_SCOPES, MemoryApiKeyStore, NewApiKey,
};
pub use clock::Clock;
pub use error::{Error, Result};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use mfa::PgMfaStore;
pub use mfa::{
    ChallengeRecord, MemoryMfaStore, MemoryMfaStoreBuilder, Mfa, MfaChallenge, MfaConfig,
    MfaConfigBuilder, MfaMethod, MfaStore, MfaVerified, RecoveryCodes, SealedTotpSecret,
    TotpEnrollment, TotpRecord,
};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use refresh::PgRefreshStore;
pub use refresh::{
    IssuedRefreshToken, MemoryRefreshStore, MemoryRefreshStoreBuilder, RefreshConfig,
    RefreshConfigBuilder, RefreshStore, RefreshToken, RefreshTokens, RevokeReason, RotateOutcome,
    Session, SessionId,
};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use revocation::PgTokenVersions;
pub use revocation::{MemoryTokenVersions, RevocationState, Revocations, TokenVersions};
pub use store::{MAX_SUBJECT_LEN, SecretHash, StoreFuture};
pub use token::{
    AccessToken, AccessTokenResponse, AccessTokens, Authenticator, Claims, Key, KeySet,
};
