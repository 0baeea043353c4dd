//! [`KeySet`]: the keys tokens are signed and verified with, and their rotation.

use std::sync::Arc;

use jsonwebtoken::jwk::JwkSet;

use super::Key;
use crate::{Error, Result};

/// The most keys a [`KeySet`] holds (a rotation needs two or three).
pub const MAX_KEYS: usize = 16;

/// The keys of an issuer: one **primary** key signs new tokens; every key in the set
/// verifies tokens carrying its `kid`. Rotation without logging anyone out:
///
/// 1. [`insert`](Self::insert) the new key (verifiers that do not sign can learn it first);
/// 2. [`set_primary`](Self::set_primary) to it — new tokens carry its `kid`, old tokens
///    still verify with the old key;
/// 3. after the access-token lifetime, [`remove`](Self::remove) the old key: tokens signed
///    with it are rejected from then on.
///
/// ```
/// use keel_auth::token::{Key, KeySet};
///
/// let mut keys = KeySet::new(Key::generate_hs256("k1")?)?;
/// keys.insert(Key::generate_hs256("k2")?)?;
/// keys.set_primary("k2")?;
/// assert_eq!(keys.primary().kid(), "k2");
/// keys.remove("k1")?;
/// assert!(keys.get("k1").is_none());
/// assert!(keys.remove("k2").is_err()); // the primary cannot be removed
/// # Ok::<(), keel_auth::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct KeySet {
    keys: Vec<Arc<Key>>,
    primary: usize,
}

impl KeySet {
    /// A set with `primary` as its only (signing) key.
    ///
    /// # Errors
    /// [`Error::Config`] when `primary` is verify-only.
    pub fn new(primary: Key) -> Result<Self> {
        if !primary.can_sign() {
            return Err(Error::Config("the primary key must be able to sign".into()));
        }
        Ok(Self {
            keys: vec![Arc::new(primary)],
            primary: 0,
        })
    }

    /// A set of verify-only keys: for services that accept tokens but never issue them
    /// (e.g. from another issuer's JWKS). [`AccessTokens::issue`](super::AccessTokens::issue)
    /// fails with such a set.
    ///
    /// # Errors
    /// [`Error::Config`] when `keys` is empty, has more than [`MAX_KEYS`] or a duplicate `kid`.
    pub fn verify_only(keys: impl IntoIterator<Item = Key>) -> Result<Self> {
        let mut set = Self {
            keys: Vec::new(),
            primary: 0,
        };
        for key in keys {
            set.insert(key)?;
        }
        if set.keys.is_empty() {
            return Err(Error::Config("a key set needs at least one key".into()));
        }
        Ok(set)
    }

    /// Adds a key that verifies tokens (and can later become primary).
    ///
    /// # Errors
    /// [`Error::Config`] when a key with the same `kid` exists or the set is full.
    pub fn insert(&mut self, key: Key) -> Result<()> {
        if self.get(key.kid()).is_some() {
            return Err(Error::Config(format!("duplicate key id {:?}", key.kid())));
        }
        if self.keys.len() >= MAX_KEYS {
            return Err(Error::Config(format!(
                "a key set holds at most {MAX_KEYS} keys"
            )));
        }
        self.keys.push(Arc::new(key));
        Ok(())
    }

    /// Makes the key `kid` the one new tokens are signed with.
    ///
    /// # Errors
    /// [`Error::Config`] when there is no such key or it cannot sign.
    pub fn set_primary(&mut self, kid: &str) -> Result<()> {
        let i = self
            .position(kid)
            .ok_or_else(|| Error::Config(format!("unknown key id {kid:?}")))?;
        if !self.keys[i].can_sign() {
            return Err(Error::Config(format!("key {kid:?} cannot sign")));
        }
        self.primary = i;
        Ok(())
    }

    /// Removes the key `kid`: tokens signed with it no longer verify.
    ///
    /// # Errors
    /// [`Error::Config`] when there is no such key, or it is the primary of a signing set.
    pub fn remove(&mut self, kid: &str) -> Result<Key> {
        let i = self
            .position(kid)
            .ok_or_else(|| Error::Config(format!("unknown key id {kid:?}")))?;
        if self.can_sign() && i == self.primary {
            return Err(Error::Config("the primary key cannot be removed".into()));
        }
        if self.keys.len() == 1 {
            return Err(Error::Config("a key set needs at least one key".into()));
        }
        let key = self.keys.remove(i);
        if i < self.primary {
            self.primary -= 1;
        }
        Ok(Arc::unwrap_or_clone(key))
    }

    /// The key that signs new tokens (for a verify-only set: its first key).
    #[must_use]
    pub fn primary(&self) -> &Key {
        &self.keys[self.primary]
    }

    /// Whether this set can issue tokens (its primary key can sign).
    #[must_use]
    pub fn can_sign(&self) -> bool {
        self.keys[self.primary].can_sign()
    }

    /// The key with id `kid`.
    #[must_use]
    pub fn get(&self, kid: &str) -> Option<&Key> {
        self.position(kid).map(|i| &*self.keys[i])
    }

    /// All keys, primary included.
    pub fn iter(&self) -> impl Iterator<Item = &Key> {
        self.keys.iter().map(|k| &**k)
    }

    /// The number of keys.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set is empty (never: a set always has a key).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The public keys as a JWKS document (RFC 7517 §5) for other services to verify
    /// tokens with: every Ed25519 key of the set, never an HMAC secret. Serve it at e.g.
    /// `/.well-known/jwks.json`.
    ///
    /// ```
    /// use keel_auth::token::{Key, KeySet};
    ///
    /// let keys = KeySet::new(Key::generate_ed25519("ed-1")?)?;
    /// let doc = serde_json::to_value(keys.jwks()).unwrap();
    /// assert_eq!(doc["keys"][0]["kid"], "ed-1");
    /// assert_eq!(doc["keys"][0]["kty"], "OKP");
    /// assert_eq!(doc["keys"][0]["alg"], "EdDSA");
    /// # Ok::<(), keel_auth::Error>(())
    /// ```
    #[must_use]
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: self.keys.iter().filter_map(|k| k.to_public_jwk()).collect(),
        }
    }

    fn position(&self, kid: &str) -> Option<usize> {
        self.keys.iter().position(|k| k.kid() == kid)
    }
}
