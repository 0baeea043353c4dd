//! [`TotpReplayGuard`]: atomic verify-and-claim of TOTP steps in memory.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use super::Totp;
use crate::error::{Error, Result};
use crate::time::unix_now;

/// The default number of accounts a [`TotpReplayGuard`] tracks at once.
pub const DEFAULT_REPLAY_GUARD_CAPACITY: usize = 100_000;
/// The longest account id a [`TotpReplayGuard`] accepts, in bytes.
pub const MAX_REPLAY_GUARD_ACCOUNT_LEN: usize = 256;

/// One account's last claimed step and the Unix time after which no code for it, or any
/// earlier step, can verify any more (so the entry can go).
#[derive(Debug, Clone, Copy)]
struct Claimed {
    step: u64,
    useful_until: u64,
}

/// TOTP verification with replay protection in one atomic step, for a single process.
///
/// [`verify`](Self::verify) checks the code and, under one lock, claims its time step for
/// the account: of two concurrent requests carrying the same code exactly one succeeds, the
/// other gets [`Error::ReplayedCode`]. There is no read-compare-write for the caller to get
/// wrong.
///
/// The guard lives in this process's memory. With **several instances**, or to survive
/// restarts, keep the last step in your database instead and claim it with one conditional
/// `UPDATE` (see [`Totp::verify`]): it is the same compare-and-set, done by the database.
///
/// Bounded: an entry is dropped once its step has left every verification window (about
/// `(skew + 1) × step` seconds), and at most `capacity` accounts are tracked. When the
/// guard is full of live entries a new account gets [`Error::CapacityExceeded`]
/// (fail closed: a code is never accepted without its claim being recorded). Only codes
/// that verified create entries, so the bound is reached by that many accounts logging in
/// within one window, not by guessing.
///
/// ```
/// use keel_crypto::{Error, Totp, TotpReplayGuard};
///
/// let guard = TotpReplayGuard::new(); // share it: Arc<TotpReplayGuard> or app state
/// let totp = Totp::new(b"12345678901234567890")?;
/// let now = 1_700_000_000;
/// let code = totp.code_at(now);
///
/// let step = guard.verify_at(&totp, "user:42", &code, now)?;
/// assert_eq!(step, totp.counter_at(now));
/// // The same code again, even a second later: refused.
/// assert!(matches!(guard.verify_at(&totp, "user:42", &code, now + 1), Err(Error::ReplayedCode)));
/// // Another account is independent.
/// let other = Totp::new(b"abcdefghijklmnopqrst")?;
/// guard.verify_at(&other, "user:43", &other.code_at(now), now)?;
/// # Ok::<(), keel_crypto::Error>(())
/// ```
pub struct TotpReplayGuard {
    claimed: Mutex<HashMap<Box<str>, Claimed>>,
    capacity: usize,
}

impl TotpReplayGuard {
    /// A guard tracking up to [`DEFAULT_REPLAY_GUARD_CAPACITY`] accounts.
    ///
    /// ```
    /// let guard = keel_crypto::TotpReplayGuard::new();
    /// assert!(guard.is_empty());
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_REPLAY_GUARD_CAPACITY)
    }

    /// A guard tracking up to `capacity` accounts at once (at least 1).
    ///
    /// ```
    /// let guard = keel_crypto::TotpReplayGuard::with_capacity(10_000);
    /// ```
    #[must_use]
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            claimed: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// Verifies `code` for `account` at the current time and claims its step; see
    /// [`verify_at`](Self::verify_at).
    ///
    /// # Errors
    /// As [`verify_at`](Self::verify_at).
    ///
    /// ```
    /// let guard = keel_crypto::TotpReplayGuard::new();
    /// let totp = keel_crypto::Totp::new(&[7; 20])?;
    /// assert!(guard.verify(&totp, "user:1", "000000x").is_err());
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    pub fn verify(&self, totp: &Totp, account: &str, code: &str) -> Result<u64> {
        self.verify_at(totp, account, code, unix_now()?)
    }

    /// Verifies `code` for `account` at Unix time `unix` ([`Totp::verify_at`]) and, if it
    /// matches, claims the matched step atomically: the step must be later than the last
    /// step claimed for this account. Returns the step.
    ///
    /// # Errors
    /// [`Error::InvalidCode`] if the code does not match; [`Error::ReplayedCode`] if its step
    /// (or a later one) was already claimed for `account`; [`Error::CapacityExceeded`] if the
    /// guard is full of live entries; [`Error::InvalidParameter`] for an account id longer
    /// than [`MAX_REPLAY_GUARD_ACCOUNT_LEN`].
    ///
    /// ```
    /// use keel_crypto::{Error, Totp, TotpReplayGuard};
    ///
    /// let guard = TotpReplayGuard::new();
    /// let totp = Totp::new(&[7; 20])?;
    /// let (now, code) = (1_000_000, totp.code_at(1_000_000));
    /// // Two requests race with the same code: exactly one wins.
    /// let first = guard.verify_at(&totp, "user:1", &code, now);
    /// let second = guard.verify_at(&totp, "user:1", &code, now);
    /// assert!(first.is_ok());
    /// assert!(matches!(second, Err(Error::ReplayedCode)));
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    pub fn verify_at(&self, totp: &Totp, account: &str, code: &str, unix: u64) -> Result<u64> {
        if account.len() > MAX_REPLAY_GUARD_ACCOUNT_LEN {
            return Err(Error::InvalidParameter(format!(
                "TOTP replay guard account ids are at most {MAX_REPLAY_GUARD_ACCOUNT_LEN} bytes"
            )));
        }
        // The cheap stateless check first: a wrong code never takes the lock.
        let step = totp.verify_at(code, unix, None)?;
        let useful_until = step
            .saturating_add(totp.skew())
            .saturating_add(1)
            .saturating_mul(totp.step_seconds());
        let mut claimed = self.claimed.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(last) = claimed.get_mut(account) {
            if step <= last.step {
                tracing::debug!("TOTP code replayed");
                return Err(Error::ReplayedCode);
            }
            *last = Claimed { step, useful_until };
            return Ok(step);
        }
        if claimed.len() >= self.capacity {
            claimed.retain(|_, c| c.useful_until > unix);
            if claimed.len() >= self.capacity {
                tracing::error!(
                    capacity = self.capacity,
                    "TOTP replay guard is full; refusing the code"
                );
                return Err(Error::CapacityExceeded("TOTP replay guard"));
            }
        }
        claimed.insert(account.into(), Claimed { step, useful_until });
        Ok(step)
    }

    /// Drops the entries whose steps can no longer verify at Unix time `unix` (also done
    /// automatically when the guard is full). Returns how many remain.
    ///
    /// ```
    /// let guard = keel_crypto::TotpReplayGuard::new();
    /// let totp = keel_crypto::Totp::new(&[7; 20])?;
    /// guard.verify_at(&totp, "u", &totp.code_at(1_000_000), 1_000_000)?;
    /// assert_eq!(guard.prune_at(1_000_000), 1);
    /// assert_eq!(guard.prune_at(1_000_000 + 120), 0);
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    pub fn prune_at(&self, unix: u64) -> usize {
        let mut claimed = self.claimed.lock().unwrap_or_else(PoisonError::into_inner);
        claimed.retain(|_, c| c.useful_until > unix);
        claimed.len()
    }

    /// How many accounts are tracked.
    ///
    /// ```
    /// assert_eq!(keel_crypto::TotpReplayGuard::new().len(), 0);
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.claimed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether no account is tracked.
    ///
    /// ```
    /// assert!(keel_crypto::TotpReplayGuard::new().is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for TotpReplayGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for TotpReplayGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TotpReplayGuard")
            .field("accounts", &self.len())
            .field("capacity", &self.capacity)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totp() -> Totp {
        Totp::new(&[9; 20]).unwrap()
    }

    #[test]
    fn a_code_verifies_once_per_account() {
        let guard = TotpReplayGuard::new();
        let totp = totp();
        let t = 1_000_020;
        let code = totp.code_at(t);
        assert_eq!(
            guard.verify_at(&totp, "a", &code, t).unwrap(),
            totp.counter_at(t)
        );
        assert!(matches!(
            guard.verify_at(&totp, "a", &code, t + 29),
            Err(Error::ReplayedCode)
        ));
        // An older step inside the window is refused too (monotonic per account).
        let earlier = totp.code_at(t - 30);
        assert!(matches!(
            guard.verify_at(&totp, "a", &earlier, t),
            Err(Error::ReplayedCode)
        ));
        // The next step's code is accepted.
        let next = totp.code_at(t + 30);
        assert!(guard.verify_at(&totp, "a", &next, t + 30).is_ok());
        // Wrong codes never create entries.
        let mut wrong = code.into_bytes();
        wrong[5] = b'0' + (wrong[5] - b'0' + 1) % 10;
        let wrong = String::from_utf8(wrong).unwrap();
        assert!(matches!(
            guard.verify_at(&totp, "b", &wrong, t),
            Err(Error::InvalidCode)
        ));
        assert_eq!(guard.len(), 1);
    }

    #[test]
    fn concurrent_requests_with_one_code_have_one_winner() {
        let guard = TotpReplayGuard::new();
        let totp = totp();
        let t = 2_000_000;
        let code = totp.code_at(t);
        let winners = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| guard.verify_at(&totp, "victim", &code, t).is_ok()))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .filter(|ok| *ok)
                .count()
        });
        assert_eq!(winners, 1);
    }

    #[test]
    fn bounded_fails_closed_and_frees_expired_entries() {
        let guard = TotpReplayGuard::with_capacity(2);
        let totp = totp();
        let t = 3_000_000;
        let code = totp.code_at(t);
        guard.verify_at(&totp, "a", &code, t).unwrap();
        guard.verify_at(&totp, "b", &code, t).unwrap();
        assert!(matches!(
            guard.verify_at(&totp, "c", &code, t),
            Err(Error::CapacityExceeded(_))
        ));
        // Known accounts still work while full.
        assert!(
            guard
                .verify_at(&totp, "a", &totp.code_at(t + 30), t + 30)
                .is_ok()
        );
        // Once b's step left the window (skew 1, 30 s steps), its entry makes room.
        let later = t + 60;
        assert!(
            guard
                .verify_at(&totp, "c", &totp.code_at(later), later)
                .is_ok()
        );
        assert_eq!(
            guard.len(),
            2,
            "b expired; a (claimed at t + 30) is still live"
        );
        let long = "x".repeat(MAX_REPLAY_GUARD_ACCOUNT_LEN + 1);
        assert!(matches!(
            guard.verify_at(&totp, &long, &code, t),
            Err(Error::InvalidParameter(_))
        ));
    }

    #[test]
    fn an_expired_entry_no_longer_blocks_but_a_replay_cannot_verify_anyway() {
        let guard = TotpReplayGuard::new();
        let totp = totp();
        let t = 4_000_000;
        let code = totp.code_at(t);
        guard.verify_at(&totp, "a", &code, t).unwrap();
        assert_eq!(guard.prune_at(t + 120), 0);
        // After pruning, the old code is outside the window: still refused, as invalid.
        assert!(matches!(
            guard.verify_at(&totp, "a", &code, t + 120),
            Err(Error::InvalidCode)
        ));
    }
}
