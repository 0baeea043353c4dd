//! [`DeviceToken`]: proof that a client logged into an account before (OWASP "device
//! cookies"), so a lockout of that account does not lock it out.

use std::fmt;
use std::time::Duration;

use keel_crypto::Signer;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::keys::AccountKey;

/// Name of the cookie [`DeviceToken::set_cookie`] writes and [`device_cookie`] reads.
pub const DEVICE_COOKIE: &str = "keel_device";
/// The purpose a device token is signed for (keel-crypto purpose binding).
const PURPOSE: &str = "keel-auth/login-device";
/// Longest token text looked at; anything longer is ignored without decoding.
const MAX_TOKEN_LEN: usize = 160;
/// Bytes of a device id.
const DEVICE_ID_LEN: usize = 16;

/// A signed, expiring token naming one device and one account, issued by
/// [`LoginAttempt::succeeded`](super::LoginAttempt::succeeded).
///
/// Send it back to the client (normally as an `HttpOnly; Secure; SameSite=Strict` cookie
/// scoped to the login path: [`set_cookie`](Self::set_cookie)) and pass it to
/// [`LoginPolicy::check_login`](super::LoginPolicy::check_login) on the next login.
/// A client presenting a valid token for the account it logs into is a **known device**:
/// it is exempt from the per-account and per-address failure limits (its failures count
/// against its own (account, device) budget instead), so an attacker who has locked the
/// account from elsewhere cannot keep its owner out.
///
/// It is a bearer credential for that exemption (not for the account: the password is
/// still required), so its text is kept out of `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceToken {
    token: Zeroizing<String>,
    max_age: Duration,
}

impl DeviceToken {
    /// The token text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.token
    }

    /// How long it stays valid.
    #[must_use]
    pub const fn max_age(&self) -> Duration {
        self.max_age
    }

    /// A `Set-Cookie` value for it: `keel_device=<token>; Max-Age=…; Path=<path>;
    /// HttpOnly; Secure; SameSite=Strict`. `path` should be the login route, so the cookie
    /// is sent nowhere else.
    ///
    /// ```
    /// # use keel_auth::login::{LoginEmail, LoginPolicy};
    /// # use keel_crypto::SecretKey;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), keel_auth::Error> {
    /// # let policy = LoginPolicy::builder(SecretKey::from_bytes([3; 32])).build()?;
    /// # let email = LoginEmail::parse("ada@example.org")?;
    /// # let attempt = policy.check_login(&email, "192.0.2.1".parse().unwrap(), None).await?;
    /// if let Some(device) = attempt.succeeded().await {
    ///     let cookie = device.set_cookie("/api/v1/auth/login");
    ///     assert!(cookie.starts_with("keel_device="));
    ///     assert!(cookie.ends_with("; Path=/api/v1/auth/login; HttpOnly; Secure; SameSite=Strict"));
    /// }
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn set_cookie(&self, path: &str) -> String {
        format!(
            "{DEVICE_COOKIE}={}; Max-Age={}; Path={path}; HttpOnly; Secure; SameSite=Strict",
            self.as_str(),
            self.max_age.as_secs()
        )
    }
}

impl fmt::Debug for DeviceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceToken")
            .field("token", &"[REDACTED]")
            .field("max_age", &self.max_age)
            .finish()
    }
}

/// The value of the [`DEVICE_COOKIE`] cookie in a `Cookie` request header, if any.
///
/// ```
/// use keel_auth::login::device_cookie;
/// assert_eq!(device_cookie("theme=dark; keel_device=abc; x=y"), Some("abc"));
/// assert_eq!(device_cookie("theme=dark"), None);
/// ```
#[must_use]
pub fn device_cookie(cookie_header: &str) -> Option<&str> {
    cookie_header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == DEVICE_COOKIE)
        .map(|(_, value)| value.trim_matches('"'))
        .filter(|v| !v.is_empty())
}

/// Issues and checks device tokens for a policy.
pub(crate) struct Devices {
    signer: Signer,
    ttl: Duration,
}

impl Devices {
    pub(crate) const fn new(signer: Signer, ttl: Duration) -> Self {
        Self { signer, ttl }
    }

    pub(crate) const fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A token for `device` on `account`, valid from `now` (Unix seconds).
    pub(crate) fn issue(
        &self,
        account: &AccountKey,
        device: &[u8; DEVICE_ID_LEN],
        now: u64,
    ) -> Option<DeviceToken> {
        let mut payload = [0u8; 32];
        payload[..16].copy_from_slice(account.as_bytes());
        payload[16..].copy_from_slice(device);
        match self.signer.issue_at(PURPOSE, &payload, self.ttl, now) {
            Ok(token) => Some(DeviceToken {
                token: Zeroizing::new(token),
                max_age: self.ttl,
            }),
            Err(e) => {
                tracing::warn!(error = %e, "could not issue a device token");
                None
            }
        }
    }

    /// The device id of `token` when it is valid at `now` and was issued for `account`.
    pub(crate) fn verify(
        &self,
        account: &AccountKey,
        token: &str,
        now: u64,
    ) -> Option<[u8; DEVICE_ID_LEN]> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            tracing::debug!("device token ignored: empty or over-long");
            return None;
        }
        let verified = match self.signer.verify_token_at(PURPOSE, token, now) {
            Ok(v) => v,
            Err(e) => {
                tracing::debug!(error = %e, "device token ignored");
                return None;
            }
        };
        let payload = verified.payload();
        if payload.len() != 32 || !bool::from(payload[..16].ct_eq(account.as_bytes())) {
            tracing::debug!("device token ignored: issued for another account");
            return None;
        }
        let mut id = [0u8; DEVICE_ID_LEN];
        id.copy_from_slice(&payload[16..]);
        Some(id)
    }
}

/// A fresh random device id.
pub(crate) fn new_device_id() -> Option<[u8; DEVICE_ID_LEN]> {
    let mut id = [0u8; DEVICE_ID_LEN];
    match keel_crypto::fill_random(&mut id) {
        Ok(()) => Some(id),
        Err(e) => {
            tracing::warn!(error = %e, "no randomness for a device id");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use keel_crypto::SecretKey;

    use super::*;
    use crate::login::LoginEmail;
    use crate::login::keys::Keys;

    #[test]
    fn tokens_are_bound_to_account_purpose_and_time() {
        let (keys, device_key) = Keys::derive(&SecretKey::from_bytes([9; 32]));
        let devices = Devices::new(Signer::new(1, device_key), Duration::from_secs(100));
        let ada = keys.account(&LoginEmail::parse("ada@example.org").unwrap());
        let bob = keys.account(&LoginEmail::parse("bob@example.org").unwrap());
        let id = [5u8; 16];
        let token = devices.issue(&ada, &id, 1_000).unwrap();
        assert_eq!(token.max_age(), Duration::from_secs(100));
        assert!(!format!("{token:?}").contains(token.as_str()));
        assert_eq!(devices.verify(&ada, token.as_str(), 1_050), Some(id));
        assert_eq!(devices.verify(&ada, token.as_str(), 1_100), Some(id));
        assert_eq!(devices.verify(&ada, token.as_str(), 1_101), None, "expired");
        assert_eq!(
            devices.verify(&bob, token.as_str(), 1_050),
            None,
            "other account"
        );
        let mut tampered = token.as_str().to_owned();
        tampered.replace_range(30..31, if &tampered[30..31] == "A" { "B" } else { "A" });
        assert_eq!(devices.verify(&ada, &tampered, 1_050), None);
        assert_eq!(devices.verify(&ada, &"A".repeat(10_000), 1_050), None);
        assert_eq!(devices.verify(&ada, "", 1_050), None);
        // Another secret's token is worthless here.
        let (_, other_key) = Keys::derive(&SecretKey::from_bytes([8; 32]));
        let other = Devices::new(Signer::new(1, other_key), Duration::from_secs(100));
        let foreign = other.issue(&ada, &id, 1_000).unwrap();
        assert_eq!(devices.verify(&ada, foreign.as_str(), 1_050), None);
    }
}
