//! Revocation that takes effect now: per-subject token versions (`ver`), single-session
//! revocation (`sid`), stored in a [`TokenVersions`] store and checked through the cached
//! [`Revocations`].

mod cached;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
mod state;

pub use cached::{DEFAULT_CACHE_CAPACITY, DEFAULT_CACHE_TTL, Revocations, RevocationsBuilder};
pub use memory::MemoryTokenVersions;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::PgTokenVersions;
pub use state::{MAX_REVOKED_SESSIONS, RevocationState, TokenVersions};
