//! Abuse-resistant login and signup (feature `ratelimit`; `redis` for limits shared by
//! every replica).
//!
//! [`LoginPolicy`] decides whether a login or signup attempt may proceed **before** the
//! service looks the account up or hashes anything, and learns how the attempt ended:
//!
//! | limit | key | counts | cleared by a success |
//! |---|---|---|---|
//! | per client network | keyed hash of the IPv4 address / IPv6 /64 | failures | no |
//! | per (account, client) | keyed hash of (account, network) or (account, device) | failures | yes |
//! | per account | keyed hash of the normalized e-mail | failures from unknown devices | yes |
//! | signups per client network | keyed hash of the network | every signup | — |
//!
//! **Lockout resistance.** A per-account limit is what stops distributed guessing on one
//! account, and also what lets an attacker lock its owner out. Here the owner's devices
//! are exempt: a successful login returns a [`DeviceToken`] (a signed, expiring token
//! bound to that account, kept by the client as a cookie), and a client presenting one is
//! counted only against its own (account, device) budget. However many wrong passwords
//! arrive from however many addresses, the owner still logs in from a device they have used
//! within the token lifetime. A device they have never used is subject to the account
//! limit while an attack lasts; that is the price of stopping the attack, and it is
//! documented in `docs/auth.md` with the alternatives.
//!
//! **Failures only.** Successful logins never consume the network budget, so an office
//! behind one NAT logging in at nine o'clock is not throttled. The (account, client) and
//! account budgets are charged when the attempt is admitted — so that concurrent attempts
//! cannot all slip through before the first failure is counted — and cleared by a success.
//! The network budget is checked on admission and charged on failure, with at most
//! [`max_in_flight_per_address`](LoginPolicyBuilder::max_in_flight_per_address) attempts per
//! network between the two; a success does not clear it, because logging into one's own
//! account must not reset the budget for guessing at others.
//!
//! **Bounded keys, no personal data.** Every limiter key is HMAC-SHA256 under the policy
//! secret, truncated to 128 bits: [`KEY_TEXT_LEN`] characters whatever the input, and no
//! e-mail address or IP address in Redis. Input is checked first
//! ([`LoginPolicy::check_input`]: sizes, then syntax) so junk never reaches a limiter, a
//! database or a hash.
//!
//! Pair it with [`PasswordAdmission`](crate::admission::PasswordAdmission), which bounds the
//! hashing itself, and always spend one hash on unknown accounts
//! ([`verify_or_dummy`](crate::admission::PasswordAdmission::verify_or_dummy)).
//!
//! ```
//! use std::net::IpAddr;
//! use keel_auth::Error;
//! use keel_auth::admission::PasswordAdmission;
//! use keel_auth::login::{DeviceToken, LoginPolicy};
//! use keel_crypto::{Argon2Params, AsyncPasswordHasher, PasswordHasher, SecretKey};
//! use secrecy::SecretString;
//!
//! /// The login use case: `stored_hash` stands in for the repository lookup.
//! async fn login(
//!     policy: &LoginPolicy,
//!     admission: &PasswordAdmission,
//!     email: &str,
//!     password: &str,
//!     client: IpAddr,
//!     device_cookie: Option<&str>,
//!     stored_hash: impl Fn(&str) -> Option<String>,
//! ) -> Result<Option<DeviceToken>, Error> {
//!     let email = policy.check_input(email, password)?; // 400 before any work
//!     let attempt = policy.check_login(&email, client, device_cookie).await?; // 429
//!     let hash = stored_hash(email.as_str());
//!     let password = SecretString::from(password);
//!     if admission.verify_or_dummy(&password, hash.as_deref()).await? {
//!         Ok(attempt.succeeded().await) // issue the access token here
//!     } else {
//!         attempt.failed().await;
//!         Err(Error::InvalidCredentials) // 401, the same for every cause
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Error> {
//! # let hasher = PasswordHasher::new().with_params(Argon2Params::new(64, 1, 1)?);
//! # /*
//! let hasher = PasswordHasher::new();
//! # */
//! let admission = PasswordAdmission::new(AsyncPasswordHasher::new(hasher));
//! let policy = LoginPolicy::builder(SecretKey::generate()?).build()?;
//! let phc = admission.hash(keel_auth::admission::HashPurpose::Signup, &"s3cret-pass".into()).await?;
//! let lookup = |e: &str| (e == "ada@example.org").then(|| phc.clone());
//! let client: IpAddr = "192.0.2.10".parse().unwrap();
//!
//! let device = login(&policy, &admission, "Ada@example.org", "s3cret-pass", client, None, &lookup).await?;
//! assert!(device.is_some());
//! assert!(matches!(
//!     login(&policy, &admission, "ada@example.org", "wrong", client, None, &lookup).await,
//!     Err(Error::InvalidCredentials)
//! ));
//! # Ok(())
//! # }
//! ```

mod device;
mod inflight;
mod input;
mod keys;
mod policy;

pub use device::{DEVICE_COOKIE, DeviceToken, device_cookie};
pub use input::{DEFAULT_MAX_PASSWORD_LEN, LoginEmail, MAX_EMAIL_LEN, check_password};
pub use keel_ratelimit::Quota;
pub use keys::{AccountKey, KEY_TEXT_LEN, MIN_MASTER_SECRET_LEN, derive_policy_secret};
pub use policy::{LoginAttempt, LoginLimiters, LoginPolicy, LoginPolicyBuilder};
