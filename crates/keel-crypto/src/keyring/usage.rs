//! The per-key, per-process encryption counter that guards the random-nonce budget.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// The default per-key, per-process encryption limit: 2^30, a quarter of the NIST SP 800-38D
/// bound of 2^32 messages under one key with random 96-bit nonces.
pub const DEFAULT_USAGE_LIMIT: u64 = 1 << 30;
/// The largest accepted usage limit: the NIST SP 800-38D random-nonce bound itself.
pub const MAX_USAGE_LIMIT: u64 = 1 << 32;

/// Encryptions one key performed in this process.
#[derive(Debug, Default)]
pub(super) struct Usage(AtomicU64);

impl Usage {
    /// The count, never above `limit` (refusals park the counter just past it).
    pub(super) fn get(&self, limit: u64) -> u64 {
        self.0.load(Ordering::Relaxed).min(limit)
    }

    /// Counts one encryption by `key_id`; refuses past `limit`, warns once at 75 %.
    pub(super) fn reserve(&self, key_id: u32, limit: u64) -> Result<()> {
        let previous = self.0.fetch_add(1, Ordering::Relaxed);
        if previous >= limit {
            // Park the counter just above the limit: it cannot wrap after 2^64 refusals, and
            // only the first refusal (previous == limit) is logged at error level.
            self.0.store(limit + 1, Ordering::Relaxed);
            if previous == limit {
                tracing::error!(
                    key_id,
                    limit,
                    "key usage limit reached; refusing to encrypt"
                );
            } else {
                tracing::debug!(
                    key_id,
                    limit,
                    "key usage limit reached; refusing to encrypt"
                );
            }
            return Err(Error::KeyExhausted { key_id, limit });
        }
        if previous == limit - limit / 4 {
            tracing::warn!(
                key_id,
                used = previous + 1,
                limit,
                "key has used 75% of its encryption limit in this process; promote a new key"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_past_the_limit_and_stays_parked() {
        let usage = Usage::default();
        for _ in 0..3 {
            usage.reserve(1, 3).unwrap();
        }
        for _ in 0..5 {
            assert!(matches!(
                usage.reserve(1, 3),
                Err(Error::KeyExhausted {
                    key_id: 1,
                    limit: 3
                })
            ));
        }
        assert_eq!(usage.get(3), 3);
        assert_eq!(usage.0.load(Ordering::Relaxed), 4, "parked at limit + 1");
    }
}
