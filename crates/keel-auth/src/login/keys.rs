//! Limiter keys: keyed hashes (HMAC-SHA256 under a server secret) of fixed size.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keel_crypto::{SecretKey, hmac_sha256};
use zeroize::Zeroizing;

use super::input::LoginEmail;

/// Bytes of a keyed hash kept in a limiter key: 128 bits, so collisions between accounts
/// are out of reach, and the text form is always [`KEY_TEXT_LEN`] characters.
const TAG_LEN: usize = 16;
/// Length of the text form of every limiter key (base64url of 16 bytes, no padding).
pub const KEY_TEXT_LEN: usize = 22;

/// The account identity the login limits count against: HMAC-SHA256 of the normalized
/// e-mail under the policy's secret, truncated to 128 bits.
///
/// Fixed size whatever the input, and no personal data: without the secret it does not
/// reveal the address, and it cannot be computed for a guessed address. Its text form
/// ([`Display`](fmt::Display)) is [`KEY_TEXT_LEN`] characters of base64url.
///
/// ```
/// use keel_auth::login::{AccountKey, LoginPolicy, KEY_TEXT_LEN};
/// use keel_crypto::SecretKey;
///
/// let policy = LoginPolicy::builder(SecretKey::from_bytes([7; 32])).build()?;
/// let short = policy.account_key(&"a@b.c".parse()?);
/// let long = policy.account_key(&format!("{}@example.org", "x".repeat(64)).parse()?);
/// assert_eq!(short.to_string().len(), KEY_TEXT_LEN);
/// assert_eq!(long.to_string().len(), KEY_TEXT_LEN);
/// assert_ne!(short, long);
/// # Ok::<(), keel_auth::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AccountKey([u8; TAG_LEN]);

impl AccountKey {
    /// The raw 16 bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; TAG_LEN] {
        &self.0
    }
}

impl fmt::Display for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&URL_SAFE_NO_PAD.encode(self.0))
    }
}

impl fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountKey({self})")
    }
}

/// Shortest master secret [`derive_policy_secret`] accepts: 32 bytes.
pub const MIN_MASTER_SECRET_LEN: usize = 32;

/// A [`LoginPolicy`](super::LoginPolicy) secret derived from a server secret every
/// replica already shares (the HS256 signing key, say), so the replicas agree on account
/// keys and device tokens without a second secret to distribute: HMAC-SHA256 of a fixed
/// label (`keel-auth/login/policy-secret/v1`) under `master`. The result keys the login
/// policy only and reveals nothing about `master`; changing `master` (a key rotation)
/// resets every login counter and invalidates every device token, as a new policy secret
/// does.
///
/// # Errors
/// [`Error::Config`](crate::Error::Config) when `master` is shorter than
/// [`MIN_MASTER_SECRET_LEN`] bytes (a derived key is no stronger than its master).
///
/// ```
/// use keel_auth::login::{LoginPolicy, derive_policy_secret};
///
/// let master = b"a 32-byte-or-longer random server secret";
/// let replica_a = LoginPolicy::builder(derive_policy_secret(master)?).build()?;
/// let replica_b = LoginPolicy::builder(derive_policy_secret(master)?).build()?;
/// let email = "ada@example.org".parse()?;
/// assert_eq!(replica_a.account_key(&email), replica_b.account_key(&email));
/// assert!(derive_policy_secret(b"short").is_err());
/// # Ok::<(), keel_auth::Error>(())
/// ```
pub fn derive_policy_secret(master: &[u8]) -> crate::Result<SecretKey> {
    if master.len() < MIN_MASTER_SECRET_LEN {
        return Err(crate::Error::Config(format!(
            "the master secret of a login policy must be at least {MIN_MASTER_SECRET_LEN} bytes"
        )));
    }
    let derived = Zeroizing::new(hmac_sha256(master, b"keel-auth/login/policy-secret/v1"));
    Ok(SecretKey::from_bytes(*derived))
}

/// The subkeys of a policy, derived once from its secret (one per use, so a value of one
/// kind can never be mistaken for another).
pub(crate) struct Keys {
    account: Zeroizing<[u8; 32]>,
    address: Zeroizing<[u8; 32]>,
    pair: Zeroizing<[u8; 32]>,
}

impl Keys {
    pub(crate) fn derive(secret: &SecretKey) -> (Self, SecretKey) {
        let sub = |label: &[u8]| Zeroizing::new(hmac_sha256(secret.expose_secret(), label));
        let device = sub(b"keel-auth/login/device-token/v1");
        (
            Self {
                account: sub(b"keel-auth/login/account/v1"),
                address: sub(b"keel-auth/login/address/v1"),
                pair: sub(b"keel-auth/login/pair/v1"),
            },
            SecretKey::from_bytes(*device),
        )
    }

    pub(crate) fn account(&self, email: &LoginEmail) -> AccountKey {
        AccountKey(truncate(&hmac_sha256(
            &*self.account,
            email.as_str().as_bytes(),
        )))
    }

    /// The key of a client address (already reduced to its prefix).
    pub(crate) fn address(&self, address: IpAddr) -> Arc<str> {
        let bytes = ip_bytes(address);
        text(&truncate(&hmac_sha256(&*self.address, &bytes)))
    }

    /// The key of an (account, client) pair; `client` is an address or a device id,
    /// told apart by the tag byte.
    pub(crate) fn pair(&self, account: &AccountKey, tag: u8, client: &[u8; 16]) -> Arc<str> {
        let mut data = [0u8; 2 * TAG_LEN + 1];
        data[..TAG_LEN].copy_from_slice(&account.0);
        data[TAG_LEN] = tag;
        data[TAG_LEN + 1..].copy_from_slice(client);
        text(&truncate(&hmac_sha256(&*self.pair, &data)))
    }
}

/// Tag byte of a pair keyed by client address.
pub(crate) const PAIR_ADDRESS: u8 = 1;
/// Tag byte of a pair keyed by device id.
pub(crate) const PAIR_DEVICE: u8 = 2;

fn truncate(mac: &[u8; 32]) -> [u8; TAG_LEN] {
    let mut out = [0u8; TAG_LEN];
    out.copy_from_slice(&mac[..TAG_LEN]);
    out
}

fn text(tag: &[u8; TAG_LEN]) -> Arc<str> {
    Arc::from(URL_SAFE_NO_PAD.encode(tag))
}

/// 16 bytes for any address: IPv4 as an IPv4-mapped IPv6 address.
pub(crate) fn ip_bytes(address: IpAddr) -> [u8; 16] {
    match address {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// The network an address is counted under: the address itself for IPv4 (with the
/// default prefix of 32), its /64 for IPv6 — one IPv6 client usually holds a whole /64,
/// and counting single addresses would give it 2^64 budgets.
pub(crate) fn network(address: IpAddr, v4_prefix: u8, v6_prefix: u8) -> IpAddr {
    // An IPv4-mapped IPv6 address (dual-stack sockets) is counted as the IPv4 address.
    let address = match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    };
    match address {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let mask = u32::MAX
                .checked_shl(32 - u32::from(v4_prefix.min(32)))
                .unwrap_or(0);
            IpAddr::V4((bits & mask).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let mask = u128::MAX
                .checked_shl(128 - u32::from(v6_prefix.min(128)))
                .unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(bits & mask))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn check(input: &str, v4: u8, v6: u8, expected: &str) {
        let got = network(input.parse().unwrap(), v4, v6);
        assert_eq!(
            got,
            expected.parse::<IpAddr>().unwrap(),
            "{input} /{v4} /{v6}"
        );
    }

    #[test]
    fn networks() {
        check("192.0.2.77", 32, 64, "192.0.2.77");
        check("192.0.2.77", 24, 64, "192.0.2.0");
        check("192.0.2.77", 0, 64, "0.0.0.0");
        check("::ffff:192.0.2.77", 32, 64, "192.0.2.77");
        check("2001:db8:1:2:3:4:5:6", 32, 64, "2001:db8:1:2::");
        check("2001:db8:1:2:3:4:5:6", 32, 48, "2001:db8:1::");
        check("2001:db8:1:2:3:4:5:6", 32, 128, "2001:db8:1:2:3:4:5:6");
        check("2001:db8:1:2:3:4:5:6", 32, 200, "2001:db8:1:2:3:4:5:6");
    }

    #[test]
    fn policy_secrets_are_derived_deterministically_and_separated() {
        let master = [9u8; 32];
        let a = derive_policy_secret(&master).unwrap();
        let b = derive_policy_secret(&master).unwrap();
        assert_eq!(a.expose_secret(), b.expose_secret());
        assert_ne!(a.expose_secret(), &master);
        let label = b"keel-auth/login/policy-secret/v1";
        assert_eq!(a.expose_secret(), &hmac_sha256(&master, label));
        let other = derive_policy_secret(&[8u8; 33]).unwrap();
        assert_ne!(a.expose_secret(), other.expose_secret());
        assert!(derive_policy_secret(&[9u8; 31]).is_err());
        assert!(derive_policy_secret(&[]).is_err());
    }

    #[test]
    fn keys_are_fixed_size_and_separated_by_kind() {
        let (keys, _) = Keys::derive(&SecretKey::from_bytes([1; 32]));
        let email = LoginEmail::parse("ada@example.org").unwrap();
        let account = keys.account(&email);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let by_address = keys.pair(&account, PAIR_ADDRESS, &ip_bytes(ip));
        let by_device = keys.pair(&account, PAIR_DEVICE, &ip_bytes(ip));
        let address = keys.address(ip);
        for k in [&by_address, &by_device, &address] {
            assert_eq!(k.len(), KEY_TEXT_LEN);
        }
        assert_eq!(account.to_string().len(), KEY_TEXT_LEN);
        assert_ne!(by_address, by_device);
        assert_ne!(address, by_address);
        // Another secret, other keys.
        let (other, _) = Keys::derive(&SecretKey::from_bytes([2; 32]));
        assert_ne!(other.account(&email), account);
    }
}
