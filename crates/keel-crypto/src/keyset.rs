//! The key set behind [`KeyRing`](crate::KeyRing) and [`Signer`](crate::Signer): keys with
//! 32-bit ids, one primary, and the rotation steps `add` → `promote` → `retire` → `remove`,
//! each logged at `info`, written once for both.

use crate::error::{Error, Result};
use crate::key::{SecretKey, parse_key_list};

/// The lifecycle state of a key in a [`KeyRing`](crate::KeyRing) or a
/// [`Signer`](crate::Signer).
///
/// ```
/// use keel_crypto::{KeyRing, KeyState, SecretKey};
///
/// let mut ring = KeyRing::generate(1)?;
/// ring.add(2, SecretKey::generate()?)?;
/// assert_eq!(ring.state(2), Some(KeyState::Active));
/// ring.retire(2)?;
/// assert_eq!(ring.state(2), Some(KeyState::Retired));
/// # Ok::<(), keel_crypto::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyState {
    /// Encrypts or signs new data.
    Primary,
    /// Decrypts or verifies; can be promoted. Freshly added keys are active so every instance
    /// can read with them before any instance writes with them.
    Active,
    /// Decrypts or verifies only, and every use is logged at `info` so operators can see
    /// whether data under it remains before removing it. Promoting it makes it primary again.
    Retired,
}

/// One key of a [`KeySet`]: its id, whether it is retired, and what the owner keeps for it
/// (an AES key schedule, keyed HMAC states).
#[derive(Clone)]
pub(crate) struct KeyEntry<T> {
    id: u32,
    retired: bool,
    value: T,
}

impl<T> KeyEntry<T> {
    /// The key id.
    pub(crate) const fn id(&self) -> u32 {
        self.id
    }

    /// Whether the key is retired (readable, every use logged).
    pub(crate) const fn is_retired(&self) -> bool {
        self.retired
    }

    /// The owner's per-key state.
    pub(crate) const fn value(&self) -> &T {
        &self.value
    }
}

/// Keys with ids and exactly one primary. `owner` names the type in log events (`"KeyRing"`,
/// `"Signer"`), so operators can tell an encryption key from a signing key.
///
/// Invariant: the primary is always in the set (`remove` and `retire` refuse it, `promote`
/// only accepts present ids).
#[derive(Clone)]
pub(crate) struct KeySet<T> {
    owner: &'static str,
    entries: Vec<KeyEntry<T>>,
    primary: u32,
}

impl<T> KeySet<T> {
    /// A set with one key, which is primary.
    pub(crate) fn new(owner: &'static str, id: u32, value: T) -> Self {
        Self {
            owner,
            entries: vec![KeyEntry {
                id,
                retired: false,
                value,
            }],
            primary: id,
        }
    }

    /// Parses a key list (`"1:<b64>,*2:<b64>"`, see
    /// [`parse_key_list`](crate::key::parse_key_list)); `state` turns each key into what the
    /// owner keeps, and the keys themselves are zeroized when parsing ends.
    pub(crate) fn parse(
        owner: &'static str,
        text: &str,
        state: impl Fn(&SecretKey) -> T,
    ) -> Result<Self> {
        let (keys, primary) = parse_key_list(text)?;
        Ok(Self {
            owner,
            entries: keys
                .iter()
                .map(|(id, key)| KeyEntry {
                    id: *id,
                    retired: false,
                    value: state(key),
                })
                .collect(),
            primary,
        })
    }

    /// Adds a non-primary key.
    pub(crate) fn add(&mut self, id: u32, value: T) -> Result<()> {
        if self.get(id).is_some() {
            return Err(Error::DuplicateKey(id));
        }
        self.entries.push(KeyEntry {
            id,
            retired: false,
            value,
        });
        tracing::info!(keys = self.owner, key_id = id, "key added");
        Ok(())
    }

    /// Makes `id` the primary; a retired key becomes active again.
    pub(crate) fn promote(&mut self, id: u32) -> Result<()> {
        let entry = self.get_mut(id).ok_or(Error::UnknownKey(id))?;
        entry.retired = false;
        self.primary = id;
        tracing::info!(keys = self.owner, key_id = id, "key promoted to primary");
        Ok(())
    }

    /// Marks `id` read-only with every use logged.
    pub(crate) fn retire(&mut self, id: u32) -> Result<()> {
        if id == self.primary {
            return Err(Error::PrimaryKey(id));
        }
        self.get_mut(id).ok_or(Error::UnknownKey(id))?.retired = true;
        tracing::info!(keys = self.owner, key_id = id, "key retired (read only)");
        Ok(())
    }

    /// Removes `id`; its state is dropped (and zeroized by its own `Drop`).
    pub(crate) fn remove(&mut self, id: u32) -> Result<()> {
        if id == self.primary {
            return Err(Error::PrimaryKey(id));
        }
        let pos = self
            .entries
            .iter()
            .position(|e| e.id == id)
            .ok_or(Error::UnknownKey(id))?;
        self.entries.remove(pos);
        tracing::info!(keys = self.owner, key_id = id, "key removed");
        Ok(())
    }

    /// The primary's id.
    pub(crate) const fn primary_id(&self) -> u32 {
        self.primary
    }

    /// The primary entry.
    pub(crate) fn primary(&self) -> Result<&KeyEntry<T>> {
        self.get(self.primary)
            .ok_or(Error::UnknownKey(self.primary))
    }

    /// The entry with this id.
    pub(crate) fn get(&self, id: u32) -> Option<&KeyEntry<T>> {
        // A linear scan: rings hold a handful of keys, and this beats hashing for < ~16.
        self.entries.iter().find(|e| e.id == id)
    }

    fn get_mut(&mut self, id: u32) -> Option<&mut KeyEntry<T>> {
        self.entries.iter_mut().find(|e| e.id == id)
    }

    /// All ids, in insertion order.
    pub(crate) fn ids(&self) -> Vec<u32> {
        self.entries.iter().map(|e| e.id).collect()
    }

    /// The state of `id`, `None` if absent.
    pub(crate) fn state(&self, id: u32) -> Option<KeyState> {
        let entry = self.get(id)?;
        Some(if id == self.primary {
            KeyState::Primary
        } else if entry.retired {
            KeyState::Retired
        } else {
            KeyState::Active
        })
    }

    /// Logs a successful use of a retired key (`operation`: "decrypt", "verify"…), the
    /// signal that tells operators whether the key can be removed yet.
    pub(crate) fn log_retired_use(&self, id: u32, operation: &'static str, purpose: &str) {
        tracing::info!(
            keys = self.owner,
            key_id = id,
            operation,
            purpose,
            "retired key used"
        );
    }

    /// `(id, state)` pairs for `Debug` output: ids and states, never key material.
    pub(crate) fn describe(&self) -> Vec<(u32, KeyState)> {
        self.entries
            .iter()
            .filter_map(|e| Some((e.id, self.state(e.id)?)))
            .collect()
    }
}

/// The public rotation methods of [`KeyRing`](crate::KeyRing) and [`Signer`](crate::Signer),
/// written once. The type has a `keys: KeySet<_>` field and a `fn key_state(&SecretKey)`
/// building what it keeps per key; `$use`/`$uses` name what non-primary keys still do
/// ("decrypt", "verify"), `$make` what the primary does ("encrypt", "sign").
macro_rules! rotation_methods {
    ($ty:ident, $use:literal, $make:literal) => {
        #[doc = concat!(
            "Adds a non-primary key that can ", $use, " (rotation step 1): roll it out ",
            "everywhere before promoting it, so no instance meets data it cannot ", $use, "."
        )]
        ///
        /// # Errors
        /// [`Error::DuplicateKey`](crate::Error::DuplicateKey) if the id is taken.
        ///
        /// ```
        #[doc = concat!("let mut keys = keel_crypto::", stringify!($ty), "::generate(1)?;")]
        /// keys.add(2, keel_crypto::SecretKey::generate()?)?;
        /// assert_eq!(keys.primary_id(), 1);
        /// assert_eq!(keys.state(2), Some(keel_crypto::KeyState::Active));
        /// # Ok::<(), keel_crypto::Error>(())
        /// ```
        pub fn add(&mut self, id: u32, key: $crate::SecretKey) -> $crate::Result<()> {
            let entry = Self::key_state(&key);
            drop(key); // zeroized now: only the derived key state is kept
            self.keys.add(id, entry)
        }

        #[doc = concat!(
            "Makes key `id` the primary (rotation step 2): from now on it ", $make, "s. ",
            "A retired key becomes active again."
        )]
        ///
        /// # Errors
        /// [`Error::UnknownKey`](crate::Error::UnknownKey) if no key has this id.
        ///
        /// ```
        #[doc = concat!("let mut keys = keel_crypto::", stringify!($ty), "::generate(1)?;")]
        /// keys.add(2, keel_crypto::SecretKey::generate()?)?;
        /// keys.promote(2)?;
        /// assert_eq!(keys.primary_id(), 2);
        /// # Ok::<(), keel_crypto::Error>(())
        /// ```
        pub fn promote(&mut self, id: u32) -> $crate::Result<()> {
            self.keys.promote(id)
        }

        #[doc = concat!(
            "Marks key `id` ", $use, "-only and logs every later use at `info` ",
            "(\"retired key used\", rotation step 3): when the log stays quiet, remove it."
        )]
        ///
        /// # Errors
        /// [`Error::UnknownKey`](crate::Error::UnknownKey), or
        /// [`Error::PrimaryKey`](crate::Error::PrimaryKey) for the primary key.
        ///
        /// ```
        #[doc = concat!("let mut keys = keel_crypto::", stringify!($ty), "::generate(1)?;")]
        /// keys.add(2, keel_crypto::SecretKey::generate()?)?;
        /// keys.retire(2)?;
        /// assert_eq!(keys.state(2), Some(keel_crypto::KeyState::Retired));
        /// assert!(keys.retire(1).is_err()); // the primary
        /// # Ok::<(), keel_crypto::Error>(())
        /// ```
        pub fn retire(&mut self, id: u32) -> $crate::Result<()> {
            self.keys.retire(id)
        }

        #[doc = concat!(
            "Removes key `id` (rotation step 4): what it protected no longer ", $use, "s, ",
            "exactly like garbage. Its key state is zeroized."
        )]
        ///
        /// # Errors
        /// [`Error::UnknownKey`](crate::Error::UnknownKey), or
        /// [`Error::PrimaryKey`](crate::Error::PrimaryKey) for the primary key.
        ///
        /// ```
        #[doc = concat!("let mut keys = keel_crypto::", stringify!($ty), "::generate(1)?;")]
        /// keys.add(2, keel_crypto::SecretKey::generate()?)?;
        /// keys.promote(2)?;
        /// keys.remove(1)?;
        /// assert_eq!(keys.key_ids(), vec![2]);
        /// assert!(keys.remove(2).is_err()); // the primary
        /// # Ok::<(), keel_crypto::Error>(())
        /// ```
        pub fn remove(&mut self, id: u32) -> $crate::Result<()> {
            self.keys.remove(id)
        }

        #[doc = concat!("The id of the primary key, the one that ", $make, "s.")]
        ///
        /// ```
        #[doc = concat!("assert_eq!(keel_crypto::", stringify!($ty), "::generate(3)?.primary_id(), 3);")]
        /// # Ok::<(), keel_crypto::Error>(())
        /// ```
        #[must_use]
        pub const fn primary_id(&self) -> u32 {
            self.keys.primary_id()
        }

        /// The ids of all keys, in insertion order.
        ///
        /// ```
        #[doc = concat!("assert_eq!(keel_crypto::", stringify!($ty), "::generate(3)?.key_ids(), vec![3]);")]
        /// # Ok::<(), keel_crypto::Error>(())
        /// ```
        #[must_use]
        pub fn key_ids(&self) -> Vec<u32> {
            self.keys.ids()
        }

        /// The state of key `id`, `None` if absent.
        ///
        /// ```
        /// use keel_crypto::KeyState;
        #[doc = concat!("let keys = keel_crypto::", stringify!($ty), "::generate(1)?;")]
        /// assert_eq!(keys.state(1), Some(KeyState::Primary));
        /// assert_eq!(keys.state(2), None);
        /// # Ok::<(), keel_crypto::Error>(())
        /// ```
        #[must_use]
        pub fn state(&self, id: u32) -> Option<$crate::KeyState> {
            self.keys.state(id)
        }
    };
}

pub(crate) use rotation_methods;

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> KeySet<&'static str> {
        let mut set = KeySet::new("Test", 1, "one");
        set.add(2, "two").unwrap();
        set
    }

    #[test]
    fn lifecycle_and_refusals() {
        let mut set = set();
        assert_eq!(set.primary_id(), 1);
        assert_eq!(set.state(2), Some(KeyState::Active));
        assert!(matches!(set.add(2, "again"), Err(Error::DuplicateKey(2))));
        assert!(matches!(set.retire(1), Err(Error::PrimaryKey(1))));
        assert!(matches!(set.remove(1), Err(Error::PrimaryKey(1))));
        assert!(matches!(set.promote(3), Err(Error::UnknownKey(3))));
        assert!(matches!(set.retire(3), Err(Error::UnknownKey(3))));
        assert!(matches!(set.remove(3), Err(Error::UnknownKey(3))));
        set.retire(2).unwrap();
        assert_eq!(set.state(2), Some(KeyState::Retired));
        assert!(set.get(2).unwrap().is_retired());
        set.promote(2).unwrap();
        assert_eq!(set.state(2), Some(KeyState::Primary));
        assert!(!set.get(2).unwrap().is_retired(), "promotion un-retires");
        assert_eq!(*set.primary().unwrap().value(), "two");
        set.remove(1).unwrap();
        assert_eq!(set.ids(), vec![2]);
        assert_eq!(set.describe(), vec![(2, KeyState::Primary)]);
        assert_eq!(set.state(1), None);
    }
}
