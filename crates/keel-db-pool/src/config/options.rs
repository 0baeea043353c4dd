//! The small option types of a [`Config`](crate::Config): recycling, queue order,
//! session setup, statement mode, PgBouncer mode and TLS mode.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// How a connection taken from the idle queue is checked before it is handed out.
///
/// ```
/// use std::time::Duration;
/// use keel_db_pool::{Config, Recycling};
///
/// let config = Config::builder()
///     .url("postgres://app@localhost/app")
///     .recycling(Recycling::VerifyIfIdle(Duration::from_secs(5)))
///     .build()?;
/// assert_eq!(config.recycling(), Recycling::VerifyIfIdle(Duration::from_secs(5)));
/// # Ok::<(), keel_db_pool::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Recycling {
    /// Only check that the driver has not seen the socket close. Free, but a socket
    /// dropped silently by a firewall or failover fails the first query on it.
    Fast,
    /// Run an empty query (one round trip) on every checkout.
    Verified,
    /// Run an empty query only when the connection was not handed out for at least
    /// this long (HikariCP's "alive bypass window"). **The default**, with 1 s: busy connections
    /// cost nothing, connections that sat through a network event are verified.
    VerifyIfIdle(Duration),
}

/// Order in which idle connections are reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueueMode {
    /// Oldest-returned first: spreads load over all connections, so none ever idles
    /// out.
    Fifo,
    /// Most-recently-returned first (**the default**): hot connections stay hot and
    /// surplus ones idle out after the idle timeout, so the pool shrinks after a burst.
    Lifo,
}

/// How the session settings (`TimeZone`, `statement_timeout`, `search_path`, …)
/// reach the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionSetup {
    /// In the startup packet's `options` (`-c name=value`): no extra round trip, and
    /// in effect before the first query. **The default.** PgBouncer 1.18 rejects the
    /// `options` startup parameter (or, with `ignore_startup_parameters = options`,
    /// drops it): use [`SetCommands`](SessionSetup::SetCommands) behind PgBouncer in
    /// session pooling and [`SetLocal`](SessionSetup::SetLocal) in transaction pooling.
    StartupOptions,
    /// One `SET` batch right after connecting (one round trip per new connection).
    /// Works directly and through PgBouncer in session pooling; in transaction pooling
    /// a session setting lands on whichever server connection ran the batch.
    SetCommands,
    /// `SET LOCAL` of every setting at the start of each transaction opened by the
    /// transaction helpers (one extra round trip per transaction), nothing per
    /// connection. For PgBouncer in transaction pooling, where no session state
    /// survives a transaction. Statements run outside a transaction get the server's
    /// defaults: set those on the role (`ALTER ROLE app SET statement_timeout = '30s'`,
    /// see [`Config::role_settings_sql`](crate::Config::role_settings_sql)).
    SetLocal,
}

/// How the statement helpers (`query`, `execute`, …) send statements.
///
/// ```
/// use keel_db_pool::{Config, StatementMode};
///
/// let config = Config::builder()
///     .url("postgres://app@pgbouncer:6432/app")
///     .pgbouncer_transaction_mode()
///     .build()?;
/// assert_eq!(config.statement_mode(), StatementMode::Unnamed);
/// # Ok::<(), keel_db_pool::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StatementMode {
    /// Named prepared statements, cached per connection (**the default**): one round
    /// trip per execution after the first, plans reused by the server.
    #[default]
    Cached,
    /// The unnamed statement: parse, bind and execute in one round trip with the
    /// parameter types known up front, nothing kept on the server between
    /// statements. The parameter types of each SQL text are learned once per pool
    /// (inside a transaction, so the server connection is pinned). For PgBouncer
    /// before 1.21 in transaction pooling, where a named statement prepared on one
    /// server connection is missing on the next.
    Unnamed,
}

/// What sits between the pool and PostgreSQL, with the names `DATABASE_POOL_PGBOUNCER`
/// takes (see [`ConfigBuilder::from_env`](crate::ConfigBuilder::from_env)); applied with
/// [`ConfigBuilder::pgbouncer`](crate::ConfigBuilder::pgbouncer).
///
/// ```
/// use keel_db_pool::{Config, PgBouncer, SessionSetup, StatementMode};
///
/// let mode: PgBouncer = "transaction".parse()?;
/// let config = Config::builder()
///     .url("postgres://app@pgbouncer:6432/app")
///     .pgbouncer(mode)
///     .build()?;
/// assert_eq!(config.statement_mode(), StatementMode::Unnamed);
/// assert_eq!(config.session_setup(), SessionSetup::SetLocal);
/// assert_eq!(PgBouncer::Session.to_string(), "session");
/// assert!("statement".parse::<PgBouncer>().is_err());
/// # Ok::<(), keel_db_pool::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PgBouncer {
    /// PostgreSQL directly, or a pooler that keeps sessions whole (`off`, **the
    /// default**): the settings are left as they are.
    #[default]
    Off,
    /// PgBouncer (before 1.21) in transaction pooling (`transaction`):
    /// [`StatementMode::Unnamed`] and [`SessionSetup::SetLocal`], as
    /// [`ConfigBuilder::pgbouncer_transaction_mode`](crate::ConfigBuilder::pgbouncer_transaction_mode).
    Transaction,
    /// PgBouncer in session pooling (`session`): [`SessionSetup::SetCommands`], since
    /// PgBouncer refuses the startup `options` parameter.
    Session,
}

impl PgBouncer {
    /// The name `DATABASE_POOL_PGBOUNCER` takes (`off`, `transaction`, `session`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Transaction => "transaction",
            Self::Session => "session",
        }
    }
}

impl fmt::Display for PgBouncer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PgBouncer {
    type Err = crate::Error;

    /// Parses `off`, `transaction` or `session`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "off" => Ok(Self::Off),
            "transaction" => Ok(Self::Transaction),
            "session" => Ok(Self::Session),
            other => Err(crate::Error::Config(format!(
                "PgBouncer mode {other:?} is not one of transaction, session, off"
            ))),
        }
    }
}

/// TLS to the server, with libpq's `sslmode` names (`?sslmode=verify-full` in the
/// URL, or [`ConfigBuilder::ssl_mode`](crate::ConfigBuilder::ssl_mode)).
///
/// | Mode | Encrypted | Certificate checked | Falls back to plain text |
/// |---|---|---|---|
/// | `disable` | no | – | – |
/// | `prefer` | if the server offers TLS | no | yes, when the server refuses TLS |
/// | `require` | yes | no — or chain only (as `verify-ca`) when a root certificate is configured | never |
/// | `verify-ca` | yes | chain to the configured root certificate | never |
/// | `verify-full` | yes | chain **and** host name | never |
///
/// Only `verify-full` protects against an active man in the middle. `prefer` and
/// `require` without a root certificate only protect against passive eavesdropping.
/// Any mode other than `disable` and `prefer` needs the `rustls` feature.
///
/// ```
/// use keel_db_pool::SslMode;
///
/// assert_eq!("verify-full".parse::<SslMode>().unwrap(), SslMode::VerifyFull);
/// assert_eq!(SslMode::VerifyCa.to_string(), "verify-ca");
/// assert!("allow".parse::<SslMode>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SslMode {
    /// Plain text.
    Disable,
    /// TLS when the server offers it, without verifying the certificate; plain text
    /// otherwise (libpq's default). Refused together with a root certificate or a
    /// `tls(..)` configuration, which mean verification was wanted.
    Prefer,
    /// TLS or no connection. Without a root certificate the certificate is not
    /// verified (encryption only); with one it behaves as `VerifyCa` (as libpq does).
    /// The default when a `tls(..)` configuration is given (its verifier decides).
    Require,
    /// TLS, and the certificate chain must lead to the configured root certificate;
    /// the host name is not checked.
    VerifyCa,
    /// TLS, the chain must lead to the configured root certificate **and** the
    /// certificate must name the host connected to (DNS name or IP address).
    VerifyFull,
}

impl SslMode {
    /// The libpq spelling (`verify-full`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }

    /// Whether a connection in this mode is always encrypted.
    pub fn requires_tls(self) -> bool {
        matches!(self, Self::Require | Self::VerifyCa | Self::VerifyFull)
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SslMode {
    type Err = crate::Error;

    /// Parses libpq's names; `allow` is not supported (it prefers plain text).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "disable" => Ok(Self::Disable),
            "prefer" => Ok(Self::Prefer),
            "require" => Ok(Self::Require),
            "verify-ca" => Ok(Self::VerifyCa),
            "verify-full" => Ok(Self::VerifyFull),
            other => Err(crate::Error::Config(format!(
                "sslmode {other:?} is not one of disable, prefer, require, verify-ca, verify-full"
            ))),
        }
    }
}
