//! Access tokens: signed JWTs with a `kid`, a rotating [`KeySet`] (HS256 or Ed25519, JWKS for
//! the public keys), typed [`Claims`], and the RFC 6749 [`AccessTokenResponse`].

mod access;
mod authenticator;
mod claims;
mod key;
mod keyset;
mod response;
mod verified;

pub use access::{
    ACCESS_TOKEN_TYP, AccessTokens, AccessTokensBuilder, DEFAULT_LEEWAY, DEFAULT_MAX_CLAIM_ENTRIES,
    DEFAULT_MAX_TOKEN_LEN, DEFAULT_TTL, MAX_ID_LEN,
};
pub use authenticator::{Authenticator, DEFAULT_REALM};
pub use claims::Claims;
pub use key::{Algorithm, Key, MAX_KID_LEN, MIN_HMAC_SECRET_LEN};
pub use keyset::{KeySet, MAX_KEYS};
pub use response::{AccessToken, AccessTokenResponse, NO_STORE_HEADERS};
pub use verified::{DEFAULT_TOKEN_CACHE_BYTES, DEFAULT_TOKEN_CACHE_ENTRIES, TokenCacheLimits};
