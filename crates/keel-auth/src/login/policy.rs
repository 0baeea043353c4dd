//! [`LoginPolicy`]: failure-only login limits, known-device exemption, signup quota.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use keel_crypto::{SecretKey, Signer};
use keel_ratelimit::{Key, KeyedLimiter, Limiter, Quota};

use super::device::{DeviceToken, Devices, new_device_id};
use super::inflight::{Admit, InFlight, InFlightGuard};
use super::input::{DEFAULT_MAX_PASSWORD_LEN, LoginEmail, check_password};
use super::keys::{AccountKey, Keys, PAIR_ADDRESS, PAIR_DEVICE, ip_bytes, network};
use crate::clock::Clock;
use crate::error::{Error, Result};

/// `Retry-After` when a network already has its maximum of attempts in flight.
const BUSY_RETRY: Duration = Duration::from_secs(1);

/// The limiters of a policy, for statistics (`as_keyed().stats()`, `as_redis().stats()`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LoginLimiters {
    /// Failed logins per client network (all accounts).
    pub address: Limiter,
    /// Failed logins per (account, client network) or (account, known device).
    pub pair: Limiter,
    /// Failed logins per account from clients that are not known devices.
    pub account: Limiter,
    /// Signups per client network.
    pub signup: Limiter,
}

impl LoginLimiters {
    /// Limiters built elsewhere — e.g. on a Redis Cluster
    /// (`RedisLimiterBuilder::connect_cluster`), or failing closed — for
    /// [`LoginPolicyBuilder::build_with`]. Each carries its own quotas.
    ///
    /// ```
    /// use keel_auth::login::{LoginLimiters, LoginPolicy};
    /// use keel_ratelimit::Limiter;
    ///
    /// let limiters = LoginLimiters::new(
    ///     Limiter::memory_from_spec("50/hour")?,
    ///     Limiter::memory_from_spec("5/hour")?,
    ///     Limiter::memory_from_spec("10/hour")?,
    ///     Limiter::memory_from_spec("3/minute")?,
    /// );
    /// let policy = LoginPolicy::builder(keel_crypto::SecretKey::from_bytes([1; 32])).build_with(limiters);
    /// assert_eq!(policy.limiters().signup.quotas()[0].count(), 3);
    /// # Ok::<(), keel_ratelimit::Error>(())
    /// ```
    #[must_use]
    pub fn new(address: Limiter, pair: Limiter, account: Limiter, signup: Limiter) -> Self {
        Self {
            address,
            pair,
            account,
            signup,
        }
    }
}

/// Login and signup abuse policy: failure-only limits per client network, per (account,
/// client) and per account, an exemption for known devices, and a signup quota.
/// Cheap to clone. See the [module docs](super) for the design and a complete login.
pub struct LoginPolicy {
    inner: Arc<Inner>,
}

impl Clone for LoginPolicy {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

struct Inner {
    keys: Keys,
    devices: Devices,
    limiters: LoginLimiters,
    in_flight: Arc<InFlight>,
    max_password_len: usize,
    ipv4_prefix: u8,
    ipv6_prefix: u8,
    clock: Clock,
}

impl fmt::Debug for LoginPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = &self.inner.limiters;
        f.debug_struct("LoginPolicy")
            .field("address_failures", &l.address.quotas())
            .field("pair_failures", &l.pair.quotas())
            .field("account_failures", &l.account.quotas())
            .field("signups", &l.signup.quotas())
            .field("device_ttl", &self.inner.devices.ttl())
            .field("secret", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

/// Builder of a [`LoginPolicy`]. Every default is documented on its setter and in
/// `docs/auth.md`.
///
/// ```
/// use std::time::Duration;
/// use keel_auth::login::{LoginPolicy, Quota};
/// use keel_crypto::SecretKey;
///
/// let policy = LoginPolicy::builder(SecretKey::from_bytes([1; 32]))
///     .address_failures([Quota::per_hour(100).burst(20)])
///     .pair_failures([Quota::per_hour(12).burst(5)])
///     .account_failures([Quota::per_hour(10).burst(10)])
///     .signups([Quota::per_minute(5), Quota::per_day(50)])
///     .device_ttl(Duration::from_secs(30 * 86_400))
///     .build()?;
/// # let _ = policy;
/// # Ok::<(), keel_auth::Error>(())
/// ```
#[must_use]
pub struct LoginPolicyBuilder {
    secret: SecretKey,
    address: Vec<Quota>,
    pair: Vec<Quota>,
    account: Vec<Quota>,
    signup: Vec<Quota>,
    device_ttl: Duration,
    device_signer: Option<Signer>,
    max_password_len: usize,
    ipv4_prefix: u8,
    ipv6_prefix: u8,
    max_in_flight: u32,
    max_keys: usize,
    limiter_clock: keel_ratelimit::Clock,
    clock: Clock,
}

impl fmt::Debug for LoginPolicyBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginPolicyBuilder")
            .field("address_failures", &self.address)
            .field("pair_failures", &self.pair)
            .field("account_failures", &self.account)
            .field("signups", &self.signup)
            .field("device_ttl", &self.device_ttl)
            .field("secret", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

impl LoginPolicyBuilder {
    /// Failed logins per client network, whatever the account (default 100 per hour,
    /// burst 20). Stops one client from spraying guesses over many accounts. Successes
    /// do not count, and do not clear it (see the module docs).
    pub fn address_failures(mut self, quotas: impl IntoIterator<Item = Quota>) -> Self {
        self.address = quotas.into_iter().collect();
        self
    }

    /// Failed logins per (account, client network) — or (account, known device) —
    /// (default 12 per hour, burst 5). The owner's own typos land here; a success clears it.
    pub fn pair_failures(mut self, quotas: impl IntoIterator<Item = Quota>) -> Self {
        self.pair = quotas.into_iter().collect();
        self
    }

    /// Failed logins per account from clients that are not known devices, all networks
    /// together (default 10 per hour, burst 10). Stops distributed guessing on one
    /// account; known devices are exempt, so it cannot lock the owner out of the devices
    /// they use. A success clears it.
    pub fn account_failures(mut self, quotas: impl IntoIterator<Item = Quota>) -> Self {
        self.account = quotas.into_iter().collect();
        self
    }

    /// Signups per client network, successful or not (default 5 per minute).
    pub fn signups(mut self, quotas: impl IntoIterator<Item = Quota>) -> Self {
        self.signup = quotas.into_iter().collect();
        self
    }

    /// How long a device token stays valid (default 30 days; renewed at every login).
    pub const fn device_ttl(mut self, ttl: Duration) -> Self {
        self.device_ttl = ttl;
        self
    }

    /// Signs device tokens with `signer` (key ids, rotation) instead of a key derived from
    /// the policy secret.
    pub fn device_signer(mut self, signer: Signer) -> Self {
        self.device_signer = Some(signer);
        self
    }

    /// Longest accepted password in bytes (default [`DEFAULT_MAX_PASSWORD_LEN`]).
    pub const fn max_password_len(mut self, bytes: usize) -> Self {
        self.max_password_len = bytes;
        self
    }

    /// The prefix lengths a client address is counted under (default /32 for IPv4, /64
    /// for IPv6: one IPv6 subscriber usually holds a whole /64).
    pub const fn address_prefixes(mut self, ipv4: u8, ipv6: u8) -> Self {
        self.ipv4_prefix = ipv4;
        self.ipv6_prefix = ipv6;
        self
    }

    /// Most login attempts of one client network between check and count at once, per
    /// replica (default 4); more are answered [`Error::RateLimited`] at once.
    pub const fn max_in_flight_per_address(mut self, n: u32) -> Self {
        self.max_in_flight = n;
        self
    }

    /// Key cap of each in-memory limiter (default 100 000; the least recently useful key
    /// goes first). Also the cap on networks with attempts in flight.
    pub const fn max_keys(mut self, n: usize) -> Self {
        self.max_keys = n;
        self
    }

    /// The wall clock device tokens are issued and checked with (default the system
    /// clock; [`Clock::manual`] in tests).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The monotonic clock of the in-memory limiters (default monotonic;
    /// [`keel_ratelimit::Clock::manual`] in tests). Redis limiters use the Redis clock.
    pub fn limiter_clock(mut self, clock: keel_ratelimit::Clock) -> Self {
        self.limiter_clock = clock;
        self
    }

    /// Builds a policy with in-memory limiters (one replica, or per-replica limits).
    ///
    /// # Errors
    /// [`Error::Config`] for an invalid quota (zero, too many, absurd size).
    pub fn build(self) -> Result<LoginPolicy> {
        let memory = |name: &str, quotas: &[Quota]| {
            KeyedLimiter::builder()
                .quotas(quotas.iter().copied())
                .max_keys(self.max_keys)
                .clock(self.limiter_clock.clone())
                .build()
                .map(Limiter::from)
                .map_err(|e| Error::Config(format!("login policy, {name} limit: {e}")))
        };
        let limiters = LoginLimiters {
            address: memory("address", &self.address)?,
            pair: memory("pair", &self.pair)?,
            account: memory("account", &self.account)?,
            signup: memory("signup", &self.signup)?,
        };
        Ok(self.finish(limiters))
    }

    /// Builds a policy whose limits live in Redis, shared by every replica (keys
    /// `<prefix>:login:address:…`, `…:login:pair:…`, `…:login:account:…`,
    /// `…:signup:address:…`, each a fixed-size keyed hash). When Redis fails the limiters
    /// fall back to memory (keel-ratelimit's fail-open default).
    ///
    /// For a Redis Cluster, TLS with a private CA, or to share the connection with other
    /// limiters, use [`build_redis`](Self::build_redis).
    ///
    /// # Errors
    /// [`Error::Config`] for an invalid quota or Redis URL. An unreachable Redis is not an
    /// error here: the connection is made lazily.
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub async fn connect_redis(self, url: &str, prefix: &str) -> Result<LoginPolicy> {
        let conn = keel_ratelimit::redis::RedisTarget::node(url)
            .and_then(|t| t.connect_lazy(Duration::from_millis(250)))
            .map_err(|e| Error::Config(format!("login policy, Redis: {e}")))?;
        self.build_redis(&conn, prefix)
    }

    /// As [`connect_redis`](Self::connect_redis), on a connection made elsewhere: one
    /// node or a Redis Cluster, TLS with a private CA
    /// ([`RedisTarget`](keel_ratelimit::redis::RedisTarget)), shared with the service's
    /// other limiters. Every limit key is one Redis key, so a cluster spreads them over
    /// its masters.
    ///
    /// # Errors
    /// [`Error::Config`] for an invalid quota.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use keel_auth::login::LoginPolicy;
    /// use keel_crypto::SecretKey;
    /// use keel_ratelimit::redis::RedisTarget;
    ///
    /// let conn = RedisTarget::cluster(["redis://10.0.0.1:6379", "redis://10.0.0.2:6379"])?
    ///     .connect_lazy(Duration::from_millis(250))?;
    /// let policy = LoginPolicy::builder(SecretKey::generate()?).build_redis(&conn, "myapp")?;
    /// # drop(policy); Ok(()) }
    /// ```
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn build_redis(
        self,
        conn: &keel_ratelimit::redis::RedisConnection,
        prefix: &str,
    ) -> Result<LoginPolicy> {
        use keel_ratelimit::redis::RedisLimiter;
        let redis = |name: &str, quotas: &[Quota]| {
            RedisLimiter::builder()
                .quotas(quotas.iter().copied())
                .prefix(format!("{prefix}:{name}"))
                .timeout(Duration::from_millis(100))
                .build(conn.clone())
                .map(Limiter::from)
                .map_err(|e| Error::Config(format!("login policy, Redis limiter: {e}")))
        };
        let limiters = LoginLimiters {
            address: redis("login:address", &self.address)?,
            pair: redis("login:pair", &self.pair)?,
            account: redis("login:account", &self.account)?,
            signup: redis("signup:address", &self.signup)?,
        };
        Ok(self.finish(limiters))
    }

    /// Builds a policy on limiters built elsewhere ([`LoginLimiters::new`]); the quotas set
    /// on this builder are not used, each limiter has its own.
    pub fn build_with(self, limiters: LoginLimiters) -> LoginPolicy {
        self.finish(limiters)
    }

    fn finish(self, limiters: LoginLimiters) -> LoginPolicy {
        let (keys, device_key) = Keys::derive(&self.secret);
        let signer = self
            .device_signer
            .unwrap_or_else(|| Signer::new(1, device_key));
        LoginPolicy {
            inner: Arc::new(Inner {
                keys,
                devices: Devices::new(signer, self.device_ttl),
                limiters,
                in_flight: InFlight::new(self.max_in_flight, self.max_keys),
                max_password_len: self.max_password_len,
                ipv4_prefix: self.ipv4_prefix,
                ipv6_prefix: self.ipv6_prefix,
                clock: self.clock,
            }),
        }
    }
}

impl LoginPolicy {
    /// A builder with the default limits. `secret` keys the account hashes and (unless
    /// [`device_signer`](LoginPolicyBuilder::device_signer) is set) the device tokens:
    /// 32 random bytes, kept like any other server key. Changing it resets every counter
    /// and invalidates every device token.
    pub fn builder(secret: SecretKey) -> LoginPolicyBuilder {
        LoginPolicyBuilder {
            secret,
            address: vec![Quota::per_hour(100).burst(20)],
            pair: vec![Quota::per_hour(12).burst(5)],
            account: vec![Quota::per_hour(10).burst(10)],
            signup: vec![Quota::per_minute(5)],
            device_ttl: Duration::from_secs(30 * 86_400),
            device_signer: None,
            max_password_len: DEFAULT_MAX_PASSWORD_LEN,
            ipv4_prefix: 32,
            ipv6_prefix: 64,
            max_in_flight: 4,
            max_keys: 100_000,
            limiter_clock: keel_ratelimit::Clock::default(),
            clock: Clock::system(),
        }
    }

    /// Checks a submitted e-mail and password before any other work: sizes first, then
    /// the address syntax. Returns the normalized address.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (the message names the field, never echoes the value).
    ///
    /// ```
    /// # let policy = keel_auth::login::LoginPolicy::builder(keel_crypto::SecretKey::from_bytes([1; 32])).build()?;
    /// let email = policy.check_input(" Ada@Example.org", "hunter2")?;
    /// assert_eq!(email.as_str(), "ada@example.org");
    /// assert!(policy.check_input("ada@example.org", &"x".repeat(100_000)).is_err());
    /// # Ok::<(), keel_auth::Error>(())
    /// ```
    pub fn check_input(&self, email: &str, password: &str) -> Result<LoginEmail> {
        check_password(password, self.inner.max_password_len)?;
        LoginEmail::parse(email)
    }

    /// The keyed hash the limits count `email` under.
    #[must_use]
    pub fn account_key(&self, email: &LoginEmail) -> AccountKey {
        self.inner.keys.account(email)
    }

    /// The limiters, for statistics.
    #[must_use]
    pub fn limiters(&self) -> &LoginLimiters {
        &self.inner.limiters
    }

    /// Admits a login attempt for `email` from `address` (the client IP: the peer, or what
    /// a trusted proxy reports), with the device token the client sent, if any. Call it
    /// after [`check_input`](Self::check_input) and before looking the account up or
    /// hashing; then report the outcome with [`LoginAttempt::failed`] or
    /// [`LoginAttempt::succeeded`].
    ///
    /// A valid device token for this account makes the attempt a known device: only its
    /// (account, device) budget applies. Otherwise the attempt must pass the network's
    /// failure budget (checked), and consumes one unit of the (account, network) and the
    /// account budgets (refunded by a success, which clears them).
    ///
    /// # Errors
    /// [`Error::RateLimited`] with the wait; [`Error::Overloaded`] when too many networks
    /// have attempts in flight on this replica; [`Error::Store`] when Redis fails and the
    /// limiter is configured to fail closed.
    pub async fn check_login(
        &self,
        email: &LoginEmail,
        address: IpAddr,
        device_token: Option<&str>,
    ) -> Result<LoginAttempt> {
        let inner = &*self.inner;
        let account = inner.keys.account(email);
        let now = inner.clock.unix_secs();
        if let Some(id) = device_token.and_then(|t| inner.devices.verify(&account, t, now)) {
            let pair = Key::text(inner.keys.pair(&account, PAIR_DEVICE, &id));
            charge(&inner.limiters.pair, &pair, "device").await?;
            return Ok(LoginAttempt {
                policy: self.clone(),
                account,
                pair,
                client: Client::Device(id),
            });
        }

        let net = network(address, inner.ipv4_prefix, inner.ipv6_prefix);
        let net_key = inner.keys.address(net);
        let guard = match inner.in_flight.enter(&net_key) {
            Admit::Yes(guard) => guard,
            Admit::Busy => {
                tracing::debug!("login refused: attempts already in flight for this network");
                return Err(Error::RateLimited {
                    retry_after: BUSY_RETRY,
                });
            }
            Admit::Full => {
                tracing::warn!("login refused: too many networks with attempts in flight");
                return Err(Error::Overloaded {
                    retry_after: BUSY_RETRY,
                });
            }
        };
        let address_key = Key::text(net_key);
        let peek = inner
            .limiters
            .address
            .peek_key(&address_key, 1)
            .await
            .map_err(Error::store)?;
        if peek.is_denied() {
            return Err(limited(peek.retry_after(), "address"));
        }
        let pair = Key::text(inner.keys.pair(&account, PAIR_ADDRESS, &ip_bytes(net)));
        charge(&inner.limiters.pair, &pair, "pair").await?;
        charge(
            &inner.limiters.account,
            &account_limiter_key(&account),
            "account",
        )
        .await?;
        Ok(LoginAttempt {
            policy: self.clone(),
            account,
            pair,
            client: Client::Network {
                key: address_key,
                _in_flight: guard,
            },
        })
    }

    /// Counts one signup from `address` against the signup quota (every signup counts,
    /// successful or not). Call it after validating the signup body and before hashing.
    ///
    /// # Errors
    /// [`Error::RateLimited`] with the wait; [`Error::Store`] as for
    /// [`check_login`](Self::check_login).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), keel_auth::Error> {
    /// use keel_auth::{Error, login::LoginPolicy};
    /// let policy = LoginPolicy::builder(keel_crypto::SecretKey::from_bytes([1; 32])).build()?;
    /// let ip = "198.51.100.7".parse().unwrap();
    /// for _ in 0..5 {
    ///     policy.check_signup(ip).await?;
    /// }
    /// assert!(matches!(policy.check_signup(ip).await, Err(Error::RateLimited { .. })));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn check_signup(&self, address: IpAddr) -> Result<()> {
        let inner = &*self.inner;
        let net = network(address, inner.ipv4_prefix, inner.ipv6_prefix);
        charge(
            &inner.limiters.signup,
            &Key::text(inner.keys.address(net)),
            "signup",
        )
        .await
    }
}

fn account_limiter_key(account: &AccountKey) -> Key {
    Key::text(account.to_string())
}

/// Consumes one unit of `key`, or says how long to wait.
async fn charge(limiter: &Limiter, key: &Key, scope: &'static str) -> Result<()> {
    let decision = limiter.check_key(key, 1).await.map_err(Error::store)?;
    if decision.is_denied() {
        return Err(limited(decision.retry_after(), scope));
    }
    Ok(())
}

fn limited(retry_after: Option<Duration>, scope: &'static str) -> Error {
    tracing::info!(scope, "login rate limited");
    Error::RateLimited {
        retry_after: retry_after.unwrap_or(Duration::from_secs(1)),
    }
}

enum Client {
    /// A known device (valid device token for this account).
    Device([u8; 16]),
    /// Any other client, counted by network.
    Network { key: Key, _in_flight: InFlightGuard },
}

/// An admitted login attempt: report how it ended with [`failed`](Self::failed) or
/// [`succeeded`](Self::succeeded). Dropping it without either (e.g. the database was down)
/// counts nothing further.
#[must_use = "report the outcome with `failed` or `succeeded`"]
pub struct LoginAttempt {
    policy: LoginPolicy,
    account: AccountKey,
    pair: Key,
    client: Client,
}

impl fmt::Debug for LoginAttempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginAttempt")
            .field("account", &self.account)
            .field("known_device", &self.is_known_device())
            .finish_non_exhaustive()
    }
}

impl LoginAttempt {
    /// The account's keyed hash (safe to log).
    #[must_use]
    pub fn account(&self) -> AccountKey {
        self.account
    }

    /// Whether the client presented a valid device token for this account.
    #[must_use]
    pub fn is_known_device(&self) -> bool {
        matches!(self.client, Client::Device(_))
    }

    /// The password was wrong (or the account does not exist): counts one failure against
    /// the client network. The (account, client) and account budgets were already charged
    /// by [`LoginPolicy::check_login`]. Limiter errors are logged, not returned: the
    /// answer to the client is "invalid credentials" either way.
    pub async fn failed(self) {
        if let Client::Network { key, .. } = &self.client {
            let limiter = &self.policy.inner.limiters.address;
            if let Err(e) = limiter.check_key(key, 1).await {
                tracing::warn!(error = %e, "could not count a failed login");
            }
        }
    }

    /// The password was right: clears the (account, client) and account failure budgets
    /// and returns a device token for the client to present next time (`None` only if
    /// one could not be issued; the reason is logged). The network budget is not cleared:
    /// a success proves the client knows *one* password, which says nothing about the
    /// other accounts it may be trying.
    pub async fn succeeded(self) -> Option<DeviceToken> {
        let inner = &*self.policy.inner;
        for (limiter, key) in [
            (&inner.limiters.pair, &self.pair),
            (&inner.limiters.account, &account_limiter_key(&self.account)),
        ] {
            if let Err(e) = limiter.reset_key(key).await {
                tracing::warn!(error = %e, "could not clear login failures after a success");
            }
        }
        let id = match &self.client {
            Client::Device(id) => Some(*id),
            Client::Network { .. } => new_device_id(),
        }?;
        inner
            .devices
            .issue(&self.account, &id, inner.clock.unix_secs())
    }
}
