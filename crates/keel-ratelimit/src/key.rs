//! [`Key`]: what a limit is counted against.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::Arc;

/// The identity a limit is counted against: a client IP, a string (API key, user id,
/// route name…) or the single global key.
///
/// Cheap to clone (IPs are inline, strings are shared). Its [`Display`](fmt::Display)
/// form (`ip:192.0.2.1`, `k:alice`, `global`) names the key in Redis and in logs; the
/// prefixes keep an IP key and a string key that look alike apart.
///
/// ```
/// use std::net::{IpAddr, Ipv4Addr};
/// use keel_ratelimit::Key;
///
/// let ip = Key::from(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
/// assert_eq!(ip.to_string(), "ip:192.0.2.1");
/// assert_eq!(Key::from("alice").to_string(), "k:alice");
/// assert_eq!(Key::global().to_string(), "global");
/// assert_ne!(Key::from("ip:192.0.2.1"), ip);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Key(Repr);

#[derive(Clone, PartialEq, Eq)]
enum Repr {
    Global,
    Ip(IpAddr),
    Text(Arc<str>),
}

impl Key {
    /// The one key shared by every request (a global limit).
    pub const fn global() -> Self {
        Self(Repr::Global)
    }

    /// A key for an IP address.
    pub const fn ip(ip: IpAddr) -> Self {
        Self(Repr::Ip(ip))
    }

    /// A key for a string (API key, user id…).
    pub fn text(s: impl Into<Arc<str>>) -> Self {
        Self(Repr::Text(s.into()))
    }

    /// The IP, for IP keys.
    ///
    /// ```
    /// assert!(keel_ratelimit::Key::from("x").as_ip().is_none());
    /// ```
    pub fn as_ip(&self) -> Option<IpAddr> {
        match &self.0 {
            Repr::Ip(ip) => Some(*ip),
            _ => None,
        }
    }

    /// The string, for string keys.
    ///
    /// ```
    /// assert_eq!(keel_ratelimit::Key::from("x").as_str(), Some("x"));
    /// ```
    pub fn as_str(&self) -> Option<&str> {
        match &self.0 {
            Repr::Text(s) => Some(s),
            _ => None,
        }
    }
}

impl Hash for Key {
    /// One hasher write per key where the derived impl makes several (tag, length, bytes):
    /// hashing is a good part of a limiter check. Consistent with `Eq`.
    fn hash<H: Hasher>(&self, state: &mut H) {
        match &self.0 {
            Repr::Global => state.write_u8(0),
            Repr::Ip(IpAddr::V4(v4)) => state.write_u64((1 << 32) | u64::from(u32::from(*v4))),
            Repr::Ip(IpAddr::V6(v6)) => {
                state.write_u8(2);
                state.write_u128(u128::from(*v6));
            }
            Repr::Text(s) => {
                state.write_u8(3);
                state.write(s.as_bytes());
                state.write_u8(0xff);
            }
        }
    }
}

impl From<IpAddr> for Key {
    fn from(ip: IpAddr) -> Self {
        Self::ip(ip)
    }
}

impl From<&str> for Key {
    fn from(s: &str) -> Self {
        Self::text(s)
    }
}

impl From<String> for Key {
    fn from(s: String) -> Self {
        Self::text(s)
    }
}

impl From<Arc<str>> for Key {
    fn from(s: Arc<str>) -> Self {
        Self::text(s)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Global => f.write_str("global"),
            Repr::Ip(ip) => write!(f, "ip:{ip}"),
            Repr::Text(s) => write!(f, "k:{s}"),
        }
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({self})")
    }
}
