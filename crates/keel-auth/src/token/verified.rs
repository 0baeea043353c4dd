//! The verified-token cache of [`Authenticator`](super::Authenticator): an access token
//! whose signature and claims were verified once is remembered until it expires — so a
//! client sending the same token on every request pays one hash, a map lookup and a
//! comparison instead of base64, HMAC/EdDSA and JSON each time. A hit hands out the cached
//! claims themselves (an `Arc`), so it allocates nothing.
//!
//! Keying: an entry is found by the SHA-256 of the token's *signature* segment (one
//! block to hash, where the whole token is five or six) and matches only when the
//! presented signed part (`header.payload`) equals the one that entry verified. Together
//! that is exactly "this token": a cached signature with any other header or payload
//! misses and is verified in full (and fails). The signed part is compared with a plain
//! comparison: it is no secret (base64 JSON anyone holding the token reads), and the
//! comparison is only reached by presenting the signature of a cached token — the secret
//! part — which is never compared byte by byte, only hashed.
//!
//! What it does **not** skip: the revocation check (token version and session) still runs on
//! every request, exactly as without the cache, so revocation takes effect as fast as before.
//!
//! Bounds: entries and (estimated) bytes, split over a few shards. Only tokens that passed
//! verification are inserted, so garbage never occupies it. When a shard is full, a sweep
//! drops expired entries and entries not used since the previous sweep (a second-chance
//! policy: tokens in use survive, one-off tokens go); if nothing can go, the new token is
//! simply not cached. A flood of distinct (valid) tokens therefore cannot grow the cache past
//! its bounds, and costs at most one sweep of a shard per fill, amortized over the entries
//! it frees.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, RwLockWriteGuard};

use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::{AccessTokens, Claims};
use crate::Result;

/// Default bound on the tokens held by the verified-token cache: 10 000.
pub const DEFAULT_TOKEN_CACHE_ENTRIES: usize = 10_000;
/// Default bound on the estimated memory of the verified-token cache: 8 MiB.
pub const DEFAULT_TOKEN_CACHE_BYTES: usize = 8 * 1024 * 1024;

/// Fixed per-entry cost counted on top of the claims: the key, the entry, the map slot and
/// the `Arc` header.
const ENTRY_OVERHEAD: usize = 32 + size_of::<Entry>() + 16 + 16;
/// The most shards; fewer when the entry bound is small (each shard holds ≥ 256 entries).
const MAX_SHARDS: usize = 16;

/// Bounds of the verified-token cache ([`Authenticator::with_token_cache`](super::Authenticator::with_token_cache)).
///
/// ```
/// use keel_auth::token::TokenCacheLimits;
///
/// let limits = TokenCacheLimits::new(50_000, 32 * 1024 * 1024);
/// assert_eq!(limits.entries(), 50_000);
/// assert_eq!(TokenCacheLimits::default().entries(), keel_auth::token::DEFAULT_TOKEN_CACHE_ENTRIES);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenCacheLimits {
    entries: usize,
    bytes: usize,
}

impl TokenCacheLimits {
    /// At most `entries` tokens and about `bytes` bytes of cached claims (each entry is
    /// counted as its encoded claims plus a fixed overhead). Zero in either disables the
    /// cache.
    #[must_use]
    pub const fn new(entries: usize, bytes: usize) -> Self {
        Self { entries, bytes }
    }

    /// The bound on entries.
    #[must_use]
    pub const fn entries(self) -> usize {
        self.entries
    }

    /// The bound on estimated bytes.
    #[must_use]
    pub const fn bytes(self) -> usize {
        self.bytes
    }
}

impl Default for TokenCacheLimits {
    fn default() -> Self {
        Self::new(DEFAULT_TOKEN_CACHE_ENTRIES, DEFAULT_TOKEN_CACHE_BYTES)
    }
}

/// One verified token: its claims (type-erased: a `Claims<C>` for the `C` it was verified
/// as), the key generation it was verified under, and its validity window in Unix seconds
/// with the leeway applied.
struct Entry {
    /// The token's `header.payload`, which the key (the signature's digest) must come with.
    signed: Box<str>,
    claims: Arc<dyn Any + Send + Sync>,
    key_generation: u64,
    /// Valid from this second on (`max(iat, nbf) - leeway`).
    from: u64,
    /// Valid before this second (`exp + leeway`).
    until: u64,
    weight: usize,
    /// Used since the last sweep (second chance).
    used: AtomicBool,
}

#[derive(Default)]
struct Shard {
    map: HashMap<[u8; 32], Entry, BuildHasherDefault<DigestHasher>>,
    bytes: usize,
}

/// Hashes a key that is already a SHA-256 digest by taking 8 of its bytes (bytes 8..16:
/// the first 8 choose the shard, see [`shard_of`]). The digests are of whole tokens, and
/// only tokens that passed verification are inserted, so nobody can choose colliding
/// keys; SipHash over the 32 bytes on every request would buy nothing.
#[derive(Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // A `[u8; 32]` hashes as its length (a constant, folded in below), then one
        // `write` of its 32 bytes, of which 8 are taken.
        if let Some(word) = bytes.get(8..16).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
            self.0 ^= u64::from_le_bytes(word);
        } else {
            for &b in bytes {
                self.0 = self.0.rotate_left(8) ^ u64::from(b);
            }
        }
    }
}

/// The cache itself (crate-private; configured through [`TokenCacheLimits`]).
pub(crate) struct VerifiedTokens {
    shards: Box<[RwLock<Shard>]>,
    entries_per_shard: usize,
    bytes_per_shard: usize,
    limits: TokenCacheLimits,
}

impl fmt::Debug for VerifiedTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedTokens")
            .field("limits", &self.limits)
            .field("shards", &self.shards.len())
            .finish_non_exhaustive()
    }
}

impl VerifiedTokens {
    /// `None` when either bound is zero (no cache).
    pub(crate) fn new(limits: TokenCacheLimits) -> Option<Self> {
        if limits.entries == 0 || limits.bytes == 0 {
            return None;
        }
        let shards = (limits.entries / 256).clamp(1, MAX_SHARDS);
        Some(Self {
            shards: (0..shards).map(|_| RwLock::default()).collect(),
            entries_per_shard: limits.entries / shards,
            bytes_per_shard: limits.bytes / shards,
            limits,
        })
    }

    pub(crate) fn limits(&self) -> TokenCacheLimits {
        self.limits
    }

    /// Verifies `token` with `tokens`, answering from the cache when this exact token was
    /// verified before, under the same keys, and is still inside its validity window.
    pub(crate) fn verify<C>(&self, tokens: &AccessTokens, token: &str) -> Result<Arc<Claims<C>>>
    where
        C: DeserializeOwned + Send + Sync + 'static,
    {
        if token.len() > tokens.max_token_len() {
            // Rejected by `verify` before any parsing; not worth hashing.
            return tokens.verify(token).map(Arc::new);
        }
        let Some((signed, signature)) = token.rsplit_once('.') else {
            // Not a JWS compact serialization: rejected by `verify`.
            return tokens.verify(token).map(Arc::new);
        };
        let key: [u8; 32] = Sha256::digest(signature.as_bytes()).into();
        // Read before verifying: a key change racing with this verification leaves the
        // entry under the old generation, where it is never found.
        let key_generation = tokens.key_generation();
        let now = tokens.clock().unix_secs();
        let shard = &self.shards[shard_of(&key, self.shards.len())];
        if let Some(claims) = Self::get::<C>(shard, &key, signed, key_generation, now) {
            return Ok(claims);
        }
        let (claims, payload_len) = tokens.verify_counted::<C>(token)?;
        let claims = Arc::new(claims);
        let leeway = tokens.leeway().as_secs();
        let entry = Entry {
            signed: signed.into(),
            claims: Arc::clone(&claims) as Arc<dyn Any + Send + Sync>,
            key_generation,
            from: claims
                .iat
                .max(claims.nbf.unwrap_or(0))
                .saturating_sub(leeway),
            until: claims.exp.saturating_add(leeway),
            weight: ENTRY_OVERHEAD
                .saturating_add(size_of::<Claims<C>>())
                .saturating_add(payload_len)
                .saturating_add(signed.len()),
            used: AtomicBool::new(false),
        };
        self.insert(shard, key, entry, now);
        Ok(claims)
    }

    fn get<C: Send + Sync + 'static>(
        shard: &RwLock<Shard>,
        key: &[u8; 32],
        signed: &str,
        key_generation: u64,
        now: u64,
    ) -> Option<Arc<Claims<C>>> {
        let shard = shard
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = shard.map.get(key)?;
        if entry.key_generation != key_generation
            || now < entry.from
            || now >= entry.until
            || *entry.signed != *signed
        {
            return None;
        }
        // A reference count, not a copy of the claims: a hit allocates nothing.
        let claims = Arc::clone(&entry.claims).downcast::<Claims<C>>().ok()?;
        if !entry.used.load(Ordering::Relaxed) {
            entry.used.store(true, Ordering::Relaxed);
        }
        Some(claims)
    }

    fn insert(&self, shard: &RwLock<Shard>, key: [u8; 32], entry: Entry, now: u64) {
        if entry.weight > self.bytes_per_shard {
            return;
        }
        let mut shard = write(shard);
        if let Some(old) = shard.map.remove(&key) {
            shard.bytes = shard.bytes.saturating_sub(old.weight);
        }
        if !self.fits(&shard, entry.weight) {
            sweep(&mut shard, now);
            if !self.fits(&shard, entry.weight) {
                // Everything left is in use: keep it, do not cache this token.
                return;
            }
        }
        shard.bytes = shard.bytes.saturating_add(entry.weight);
        shard.map.insert(key, entry);
    }

    fn fits(&self, shard: &Shard, weight: usize) -> bool {
        shard.map.len() < self.entries_per_shard
            && shard.bytes.saturating_add(weight) <= self.bytes_per_shard
    }

    /// Entries and estimated bytes held (for tests and the bench).
    #[cfg(test)]
    pub(crate) fn usage(&self) -> (usize, usize) {
        self.shards.iter().fold((0, 0), |(n, b), s| {
            let s = s.read().unwrap_or_else(std::sync::PoisonError::into_inner);
            (n + s.map.len(), b + s.bytes)
        })
    }
}

/// Drops expired entries and entries not used since the previous sweep; marks the rest
/// unused, so they survive the next sweep only if used meanwhile.
fn sweep(shard: &mut Shard, now: u64) {
    let mut freed = 0usize;
    shard.map.retain(|_, e| {
        let keep = now < e.until && e.used.swap(false, Ordering::Relaxed);
        if !keep {
            freed = freed.saturating_add(e.weight);
        }
        keep
    });
    shard.bytes = shard.bytes.saturating_sub(freed);
}

fn write(shard: &RwLock<Shard>) -> RwLockWriteGuard<'_, Shard> {
    shard
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn shard_of(key: &[u8; 32], shards: usize) -> usize {
    let mut first = [0u8; 8];
    first.copy_from_slice(&key[..8]);
    // `shards` ≤ 16, so the remainder always fits.
    usize::try_from(u64::from_le_bytes(first) % shards as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests;
