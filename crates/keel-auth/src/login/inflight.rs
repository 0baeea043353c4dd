//! A per-replica cap on concurrent login attempts per client network.
//!
//! The per-address failure limit is *checked* before the password hash and *counted* after
//! it (only failures count). Without a cap, a client could start many attempts at once,
//! all checked before the first failure is counted. This table bounds that window: at most
//! `per_key` attempts of one network are between check and count at any time (per replica).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

pub(crate) struct InFlight {
    per_key: u32,
    max_keys: usize,
    map: Mutex<HashMap<Arc<str>, u32>>,
}

pub(crate) enum Admit {
    Yes(InFlightGuard),
    /// This network has `per_key` attempts in flight already.
    Busy,
    /// The table is full (`max_keys` networks in flight at once).
    Full,
}

impl InFlight {
    pub(crate) fn new(per_key: u32, max_keys: usize) -> Arc<Self> {
        Arc::new(Self {
            per_key: per_key.max(1),
            max_keys: max_keys.max(1),
            map: Mutex::new(HashMap::new()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Arc<str>, u32>> {
        // Counter updates never panic midway; a poisoned map is still consistent.
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn enter(self: &Arc<Self>, key: &Arc<str>) -> Admit {
        let mut map = self.lock();
        let len = map.len();
        match map.get_mut(key) {
            Some(n) if *n >= self.per_key => return Admit::Busy,
            Some(n) => *n += 1,
            None if len >= self.max_keys => return Admit::Full,
            None => {
                map.insert(Arc::clone(key), 1);
            }
        }
        Admit::Yes(InFlightGuard {
            table: Arc::clone(self),
            key: Arc::clone(key),
        })
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

/// One attempt in flight; leaving (drop) decrements and removes the entry at zero.
pub(crate) struct InFlightGuard {
    table: Arc<InFlight>,
    key: Arc<str>,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let mut map = self.table.lock();
        if let Some(n) = map.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_per_key_and_table_size_and_cleans_up() {
        let t = InFlight::new(2, 2);
        let a: Arc<str> = Arc::from("a");
        let b: Arc<str> = Arc::from("b");
        let c: Arc<str> = Arc::from("c");
        let a1 = t.enter(&a);
        let a2 = t.enter(&a);
        assert!(matches!(t.enter(&a), Admit::Busy));
        let b1 = t.enter(&b);
        assert!(matches!(t.enter(&c), Admit::Full));
        assert_eq!(t.len(), 2);
        drop((a1, b1));
        assert_eq!(t.len(), 1);
        assert!(matches!(t.enter(&c), Admit::Yes(_)));
        drop(a2);
        assert_eq!(t.len(), 0);
    }
}
