//! Setup shared by the login-policy tests: a policy on a manual limiter clock, addresses,
//! and one-line failed and successful logins.

use std::net::IpAddr;

use keel_auth::Error;
use keel_auth::login::{DeviceToken, LoginAttempt, LoginEmail, LoginPolicy};
use keel_crypto::SecretKey;
use keel_ratelimit::Clock;

/// The key of every policy built here (keyed-hash limiter keys, device tokens).
pub(crate) const SECRET: [u8; 32] = [42; 32];

/// The default policy, its in-memory limiters on `clock`.
pub(crate) fn policy(clock: &Clock) -> LoginPolicy {
    LoginPolicy::builder(SecretKey::from_bytes(SECRET))
        .limiter_clock(clock.clone())
        .build()
        .unwrap()
}

pub(crate) fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub(crate) fn email(s: &str) -> LoginEmail {
    LoginEmail::parse(s).unwrap()
}

/// The `n`-th of many attacker addresses (distinct /32s).
pub(crate) fn attacker(n: u32) -> IpAddr {
    IpAddr::V4((0xCB00_7100 + n).into())
}

/// A login attempt of `who` from `from`, with a device token when given.
pub(crate) async fn begin(
    p: &LoginPolicy,
    who: &str,
    from: IpAddr,
    device: Option<&DeviceToken>,
) -> Result<LoginAttempt, Error> {
    p.check_login(&email(who), from, device.map(DeviceToken::as_str))
        .await
}

/// A wrong password of `who` from `from` (an unknown device); panics when the attempt is
/// refused, so a test that expects it to be admitted says so by calling this.
pub(crate) async fn fail(p: &LoginPolicy, who: &str, from: IpAddr) {
    begin(p, who, from, None).await.unwrap().failed().await;
}

/// A correct password of `who` from `from`; the device token the success issues. Panics
/// when the attempt is refused.
pub(crate) async fn succeed(
    p: &LoginPolicy,
    who: &str,
    from: IpAddr,
    device: Option<&DeviceToken>,
) -> DeviceToken {
    begin(p, who, from, device)
        .await
        .unwrap()
        .succeeded()
        .await
        .unwrap()
}

pub(crate) fn is_limited<T: std::fmt::Debug>(r: &Result<T, Error>) -> bool {
    matches!(r, Err(Error::RateLimited { .. }))
}
