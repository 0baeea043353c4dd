//! [`Config`] and [`ConfigBuilder`]: where to connect, how many connections, and every
//! timeout, with defaults that never hang.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::Error;
use crate::session::{self, SessionParams};

/// The hook type run on every new connection; see [`ConfigBuilder::on_connect`].
pub(crate) type OnConnect = Arc<
    dyn for<'a> Fn(&'a tokio_postgres::Client) -> BoxFuture<'a, Result<(), Error>> + Send + Sync,
>;

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

/// How the session settings reach the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionSetup {
    /// In the startup packet's `options` (`-c name=value`): no extra round trip, and
    /// in effect before the first query. **The default.** PgBouncer rejects unknown
    /// startup parameters unless `ignore_startup_parameters = options`, and then ignores
    /// them: use [`SetCommands`](SessionSetup::SetCommands) behind PgBouncer.
    StartupOptions,
    /// One `SET` batch right after connecting (one round trip per new connection).
    /// Works through PgBouncer in session mode; in transaction mode session settings do
    /// not stick, so set them on the role (`ALTER ROLE … SET`) instead.
    SetCommands,
}

/// Validated pool configuration. Build one with [`Config::from_url`],
/// [`Config::from_env`] or [`Config::builder`].
///
/// ```
/// use std::time::Duration;
/// use keel_db_pool::Config;
///
/// let config = Config::from_url("postgres://app:secret@db.internal:5432/app")?;
/// assert_eq!(config.wait_timeout(), Duration::from_secs(5));
/// assert_eq!(config.statement_timeout(), Some(Duration::from_secs(30)));
/// assert!(!format!("{config:?}").contains("secret"));
/// # Ok::<(), keel_db_pool::Error>(())
/// ```
#[derive(Clone)]
pub struct Config {
    pub(crate) pg: tokio_postgres::Config,
    pub(crate) name: String,
    pub(crate) max_size: usize,
    pub(crate) min_idle: usize,
    pub(crate) wait_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) recycle_timeout: Duration,
    pub(crate) max_lifetime: Option<Duration>,
    pub(crate) max_lifetime_jitter: Duration,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) recycling: Recycling,
    pub(crate) queue_mode: QueueMode,
    pub(crate) statement_timeout: Option<Duration>,
    pub(crate) session: SessionParams,
    pub(crate) session_setup: SessionSetup,
    pub(crate) session_sql: Option<String>,
    pub(crate) on_connect: Option<OnConnect>,
    pub(crate) leak_threshold: Option<Duration>,
    pub(crate) maintenance_interval: Duration,
    pub(crate) startup_timeout: Duration,
    #[cfg(feature = "rustls")]
    pub(crate) tls: Option<rustls::ClientConfig>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // tokio_postgres::Config's Debug redacts the password.
        f.debug_struct("Config")
            .field("pg", &self.pg)
            .field("name", &self.name)
            .field("max_size", &self.max_size)
            .field("min_idle", &self.min_idle)
            .field("wait_timeout", &self.wait_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("recycle_timeout", &self.recycle_timeout)
            .field("max_lifetime", &self.max_lifetime)
            .field("max_lifetime_jitter", &self.max_lifetime_jitter)
            .field("idle_timeout", &self.idle_timeout)
            .field("recycling", &self.recycling)
            .field("queue_mode", &self.queue_mode)
            .field("session", &self.session)
            .field("session_setup", &self.session_setup)
            .field("on_connect", &self.on_connect.is_some())
            .field("leak_threshold", &self.leak_threshold)
            .field("maintenance_interval", &self.maintenance_interval)
            .field("startup_timeout", &self.startup_timeout)
            .finish_non_exhaustive()
    }
}

/// The pool-sizing rule of thumb (PostgreSQL wiki, HikariCP): `cores × 2 + 1`.
///
/// ```
/// assert!(keel_db_pool::default_max_size() >= 3);
/// ```
pub fn default_max_size() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    cores * 2 + 1
}

impl Config {
    /// A builder with every default; set the server with [`ConfigBuilder::url`].
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// Defaults for the server at `url` (`postgres://user:pass@host:port/db?sslmode=…`,
    /// or libpq `key=value` form).
    ///
    /// # Errors
    /// [`Error::Config`] when the URL does not parse or lacks a host or user.
    ///
    /// ```
    /// let config = keel_db_pool::Config::from_url("postgres://app@localhost/app")?;
    /// assert!(keel_db_pool::Config::from_url("mysql://nope").is_err());
    /// # Ok::<(), keel_db_pool::Error>(())
    /// ```
    pub fn from_url(url: &str) -> Result<Self, Error> {
        Self::builder().url(url).build()
    }

    /// Reads `DATABASE_URL` and the optional overrides listed at
    /// [`ConfigBuilder::from_env`].
    ///
    /// # Errors
    /// [`Error::Config`] when `DATABASE_URL` is missing or a value is invalid.
    ///
    /// ```no_run
    /// let config = keel_db_pool::Config::from_env()?;
    /// # Ok::<(), keel_db_pool::Error>(())
    /// ```
    pub fn from_env() -> Result<Self, Error> {
        ConfigBuilder::from_env().build()
    }

    /// The effective driver configuration (startup options included; `Debug` redacts
    /// the password).
    pub fn pg_config(&self) -> &tokio_postgres::Config {
        &self.pg
    }

    /// The pool's name, used in logs and as the `pool` metrics label.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Maximum number of open connections.
    pub fn max_size(&self) -> usize {
        self.max_size
    }

    /// Connections kept open even when idle (best effort, in the background).
    pub fn min_idle(&self) -> usize {
        self.min_idle
    }

    /// Longest a [`Pool::get`](crate::Pool::get) waits, connecting included.
    pub fn wait_timeout(&self) -> Duration {
        self.wait_timeout
    }

    /// Longest opening and setting up one connection may take.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// Longest the checkout check of an idle connection may take.
    pub fn recycle_timeout(&self) -> Duration {
        self.recycle_timeout
    }

    /// Connections are closed after this age (minus jitter).
    pub fn max_lifetime(&self) -> Option<Duration> {
        self.max_lifetime
    }

    /// Connections idle this long are closed (while more than `min_idle` are open).
    pub fn idle_timeout(&self) -> Option<Duration> {
        self.idle_timeout
    }

    /// The checkout check.
    pub fn recycling(&self) -> Recycling {
        self.recycling
    }

    /// `statement_timeout` set on every connection.
    pub fn statement_timeout(&self) -> Option<Duration> {
        self.statement_timeout
    }

    /// Held-connection warning threshold.
    pub fn leak_threshold(&self) -> Option<Duration> {
        self.leak_threshold
    }

    /// A builder holding this configuration, to change a few settings.
    ///
    /// ```
    /// let base = keel_db_pool::Config::from_url("postgres://app@localhost/app")?;
    /// let small = base.to_builder().max_size(2).build()?;
    /// assert_eq!(small.max_size(), 2);
    /// # Ok::<(), keel_db_pool::Error>(())
    /// ```
    pub fn to_builder(&self) -> ConfigBuilder {
        ConfigBuilder {
            pg: Ok(self.pg.clone()),
            name: Some(self.name.clone()),
            max_size: Some(self.max_size),
            min_idle: self.min_idle,
            wait_timeout: self.wait_timeout,
            connect_timeout: self.connect_timeout,
            recycle_timeout: self.recycle_timeout,
            max_lifetime: self.max_lifetime,
            max_lifetime_jitter: Some(self.max_lifetime_jitter),
            idle_timeout: self.idle_timeout,
            recycling: self.recycling,
            queue_mode: self.queue_mode,
            statement_timeout: self.statement_timeout,
            session: self.session.clone(),
            session_setup: self.session_setup,
            on_connect: self.on_connect.clone(),
            leak_threshold: self.leak_threshold,
            maintenance_interval: self.maintenance_interval,
            startup_timeout: self.startup_timeout,
            tcp_keepalive: None,
            applied_options: true,
            env_error: None,
            #[cfg(feature = "rustls")]
            tls: self.tls.clone(),
        }
    }
}

/// Builds a [`Config`]; every setter has a production default, listed in the crate
/// README, and [`build`](ConfigBuilder::build) validates the result.
///
/// ```
/// use std::time::Duration;
/// use keel_db_pool::{Config, SessionSetup};
///
/// let config = Config::builder()
///     .url("postgres://app@localhost:5432/app")
///     .max_size(20)
///     .wait_timeout(Duration::from_secs(2))
///     .statement_timeout(Some(Duration::from_secs(10)))
///     .search_path("app, public")
///     .session_setup(SessionSetup::SetCommands) // behind PgBouncer
///     .build()?;
/// assert_eq!(config.max_size(), 20);
/// # Ok::<(), keel_db_pool::Error>(())
/// ```
#[must_use]
pub struct ConfigBuilder {
    pg: Result<tokio_postgres::Config, String>,
    name: Option<String>,
    max_size: Option<usize>,
    min_idle: usize,
    wait_timeout: Duration,
    connect_timeout: Duration,
    recycle_timeout: Duration,
    max_lifetime: Option<Duration>,
    max_lifetime_jitter: Option<Duration>,
    idle_timeout: Option<Duration>,
    recycling: Recycling,
    queue_mode: QueueMode,
    statement_timeout: Option<Duration>,
    session: SessionParams,
    session_setup: SessionSetup,
    on_connect: Option<OnConnect>,
    leak_threshold: Option<Duration>,
    maintenance_interval: Duration,
    startup_timeout: Duration,
    tcp_keepalive: Option<Duration>,
    /// Set when `pg` already carries the session options (from `Config::to_builder`).
    applied_options: bool,
    env_error: Option<String>,
    #[cfg(feature = "rustls")]
    tls: Option<rustls::ClientConfig>,
}

impl fmt::Debug for ConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigBuilder")
            .field("pg", &self.pg)
            .field("name", &self.name)
            .field("max_size", &self.max_size)
            .field("wait_timeout", &self.wait_timeout)
            .finish_non_exhaustive()
    }
}

impl Default for ConfigBuilder {
    fn default() -> Self {
        Self {
            pg: Err("no server configured: call `url(..)` or `pg_config(..)`".to_owned()),
            name: None,
            max_size: None,
            min_idle: 0,
            wait_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            recycle_timeout: Duration::from_secs(5),
            max_lifetime: Some(Duration::from_secs(30 * 60)),
            max_lifetime_jitter: None,
            idle_timeout: Some(Duration::from_secs(10 * 60)),
            recycling: Recycling::VerifyIfIdle(Duration::from_secs(1)),
            queue_mode: QueueMode::Lifo,
            statement_timeout: Some(Duration::from_secs(30)),
            session: SessionParams::default(),
            session_setup: SessionSetup::StartupOptions,
            on_connect: None,
            leak_threshold: Some(Duration::from_secs(60)),
            maintenance_interval: Duration::from_secs(1),
            startup_timeout: Duration::from_secs(10),
            tcp_keepalive: Some(Duration::from_secs(30)),
            applied_options: false,
            env_error: None,
            #[cfg(feature = "rustls")]
            tls: None,
        }
    }
}

const MAX_TIMEOUT: Duration = Duration::from_secs(60 * 60);

impl ConfigBuilder {
    /// Reads the environment:
    ///
    /// | Variable | Setting |
    /// |---|---|
    /// | `DATABASE_URL` (required) | [`url`](Self::url) |
    /// | `DATABASE_POOL_MAX_SIZE` | [`max_size`](Self::max_size) |
    /// | `DATABASE_POOL_MIN_IDLE` | [`min_idle`](Self::min_idle) |
    /// | `DATABASE_POOL_WAIT_TIMEOUT` | [`wait_timeout`](Self::wait_timeout) |
    /// | `DATABASE_POOL_CONNECT_TIMEOUT` | [`connect_timeout`](Self::connect_timeout) |
    /// | `DATABASE_POOL_MAX_LIFETIME` | [`max_lifetime`](Self::max_lifetime) (`0` = none) |
    /// | `DATABASE_POOL_IDLE_TIMEOUT` | [`idle_timeout`](Self::idle_timeout) (`0` = none) |
    /// | `DATABASE_STATEMENT_TIMEOUT` | [`statement_timeout`](Self::statement_timeout) (`0` = none) |
    ///
    /// Durations are `250ms`, `5s`, `10m`, `1h`, or bare seconds. Errors (missing URL,
    /// bad number) surface from [`build`](Self::build).
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub(crate) fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let mut b = match get("DATABASE_URL") {
            Some(url) if !url.trim().is_empty() => Self::default().url(url.trim()),
            _ => Self {
                pg: Err("DATABASE_URL is not set".to_owned()),
                ..Self::default()
            },
        };
        let mut errors = Vec::new();
        let mut usize_var = |name: &str| -> Option<usize> {
            let v = get(name)?;
            match v.trim().parse() {
                Ok(n) => Some(n),
                Err(_) => {
                    errors.push(format!("{name}={v:?} is not a whole number"));
                    None
                }
            }
        };
        if let Some(n) = usize_var("DATABASE_POOL_MAX_SIZE") {
            b.max_size = Some(n);
        }
        if let Some(n) = usize_var("DATABASE_POOL_MIN_IDLE") {
            b.min_idle = n;
        }
        let mut dur_var = |name: &str| -> Option<Duration> {
            let v = get(name)?;
            match parse_duration(&v) {
                Some(d) => Some(d),
                None => {
                    errors.push(format!(
                        "{name}={v:?} is not a duration (e.g. `250ms`, `5s`, `10m`)"
                    ));
                    None
                }
            }
        };
        let nonzero = |d: Duration| (!d.is_zero()).then_some(d);
        if let Some(d) = dur_var("DATABASE_POOL_WAIT_TIMEOUT") {
            b.wait_timeout = d;
        }
        if let Some(d) = dur_var("DATABASE_POOL_CONNECT_TIMEOUT") {
            b.connect_timeout = d;
        }
        if let Some(d) = dur_var("DATABASE_POOL_MAX_LIFETIME") {
            b.max_lifetime = nonzero(d);
        }
        if let Some(d) = dur_var("DATABASE_POOL_IDLE_TIMEOUT") {
            b.idle_timeout = nonzero(d);
        }
        if let Some(d) = dur_var("DATABASE_STATEMENT_TIMEOUT") {
            b.statement_timeout = nonzero(d);
        }
        if !errors.is_empty() {
            b.env_error = Some(errors.join("; "));
        }
        b
    }

    /// The server, as a URL (`postgres://user:password@host:port/dbname?sslmode=prefer`)
    /// or libpq `key=value` string. Settings the URL carries (`application_name`,
    /// `connect_timeout`, `options`, `keepalives_idle`, …) win over the pool defaults.
    pub fn url(mut self, url: impl AsRef<str>) -> Self {
        self.pg = tokio_postgres::Config::from_str(url.as_ref())
            .map_err(|e| format!("invalid database URL: {e}"));
        self.applied_options = false;
        self
    }

    /// The server, as a driver configuration (for settings a URL cannot express, such
    /// as `hostaddr` lists).
    pub fn pg_config(mut self, config: tokio_postgres::Config) -> Self {
        self.pg = Ok(config);
        self.applied_options = false;
        self
    }

    /// The pool's name in logs and metrics (default `default`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Maximum open connections. Default: [`default_max_size`] (`cores × 2 + 1`), which
    /// is about what one PostgreSQL server can run in parallel; a bigger pool only
    /// queues inside the server instead of here.
    pub fn max_size(mut self, max_size: usize) -> Self {
        self.max_size = Some(max_size);
        self
    }

    /// Connections kept open when idle, opened in the background (default 0).
    pub fn min_idle(mut self, min_idle: usize) -> Self {
        self.min_idle = min_idle;
        self
    }

    /// Longest [`Pool::get`](crate::Pool::get) waits in total, including opening a
    /// connection (default 5 s; 1 ms ..= 1 h). A saturated pool answers
    /// [`Error::PoolTimeout`] instead of hanging.
    pub fn wait_timeout(mut self, timeout: Duration) -> Self {
        self.wait_timeout = timeout;
        self
    }

    /// Longest opening one connection (TCP, TLS, authentication, session setup) may take
    /// (default 5 s; 1 ms ..= 1 h). Also sets the driver's per-host connect timeout
    /// unless the URL sets `connect_timeout`.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Longest the checkout check of an idle connection may take (default 5 s).
    pub fn recycle_timeout(mut self, timeout: Duration) -> Self {
        self.recycle_timeout = timeout;
        self
    }

    /// Close connections after this age, so server-side memory is returned and DNS or
    /// failover changes are picked up (default 30 min; `None` = never).
    pub fn max_lifetime(mut self, lifetime: Option<Duration>) -> Self {
        self.max_lifetime = lifetime;
        self
    }

    /// Each connection's lifetime is shortened by a random amount up to this, so
    /// connections opened together do not all reconnect together (default: a tenth of
    /// the max lifetime).
    pub fn max_lifetime_jitter(mut self, jitter: Duration) -> Self {
        self.max_lifetime_jitter = Some(jitter);
        self
    }

    /// Close idle connections not handed out for this long, while more than `min_idle`
    /// are open (default 10 min; `None` = never).
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// The checkout check (default [`Recycling::VerifyIfIdle`] 1 s).
    pub fn recycling(mut self, recycling: Recycling) -> Self {
        self.recycling = recycling;
        self
    }

    /// Idle queue order (default [`QueueMode::Lifo`]).
    pub fn queue_mode(mut self, mode: QueueMode) -> Self {
        self.queue_mode = mode;
        self
    }

    /// `statement_timeout` on every connection (default 30 s; `None` = server default).
    /// A statement over it fails with [`Error::StatementTimeout`] and the connection
    /// stays usable.
    pub fn statement_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.statement_timeout = timeout;
        self
    }

    /// `idle_in_transaction_session_timeout` (default 60 s; `None` = server default): the
    /// server ends sessions that leave a transaction open and idle this long, so a
    /// forgotten transaction cannot hold locks forever.
    pub fn idle_in_transaction_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.session.idle_in_transaction = timeout;
        self
    }

    /// `lock_timeout` (default: server default).
    pub fn lock_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.session.lock_timeout = timeout;
        self
    }

    /// `TimeZone` (default `UTC`; `None` = server default).
    pub fn time_zone(mut self, tz: Option<&str>) -> Self {
        self.session.time_zone = tz.map(str::to_owned);
        self
    }

    /// `search_path` (default: server default), e.g. `"app, public"`.
    pub fn search_path(mut self, path: impl Into<String>) -> Self {
        self.session.search_path = Some(path.into());
        self
    }

    /// `application_name`, shown in `pg_stat_activity` (default: the URL's, else the
    /// executable's file name).
    pub fn application_name(mut self, name: impl Into<String>) -> Self {
        self.session.application_name = Some(name.into());
        self
    }

    /// Any other session setting, e.g. `.session_param("work_mem", "64MB")`.
    pub fn session_param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.session.extra.push((name.into(), value.into()));
        self
    }

    /// How the session settings are sent (default [`SessionSetup::StartupOptions`]).
    pub fn session_setup(mut self, setup: SessionSetup) -> Self {
        self.session_setup = setup;
        self
    }

    /// Runs on every new connection after the session settings, before first use; an
    /// error discards the connection and fails the checkout with [`Error::Connect`].
    ///
    /// ```
    /// let config = keel_db_pool::Config::builder()
    ///     .url("postgres://app@localhost/app")
    ///     .on_connect(|client| {
    ///         Box::pin(async move {
    ///             client.batch_execute("SET jit = off").await?;
    ///             Ok(())
    ///         })
    ///     })
    ///     .build()?;
    /// # Ok::<(), keel_db_pool::Error>(())
    /// ```
    pub fn on_connect<F>(mut self, hook: F) -> Self
    where
        F: for<'a> Fn(&'a tokio_postgres::Client) -> BoxFuture<'a, Result<(), Error>>
            + Send
            + Sync
            + 'static,
    {
        self.on_connect = Some(Arc::new(hook));
        self
    }

    /// Warn (through `tracing`, with the `get()` call site) when a connection is held
    /// longer than this (default 60 s, twice the statement timeout; `None` = off).
    pub fn leak_threshold(mut self, threshold: Option<Duration>) -> Self {
        self.leak_threshold = threshold;
        self
    }

    /// How often the background task reaps expired and idle connections, refills
    /// `min_idle`, and checks for leaks (default 1 s; 10 ms ..= 1 h).
    pub fn maintenance_interval(mut self, interval: Duration) -> Self {
        self.maintenance_interval = interval;
        self
    }

    /// How long [`Pool::connect`](crate::Pool::connect) retries before giving up
    /// (default 10 s; zero = one attempt, fail fast).
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// TCP keepalive idle time, so dead idle sockets are noticed (default 30 s, probes
    /// every 10 s, 3 probes; `None` = driver default). URL settings win.
    pub fn tcp_keepalive(mut self, idle: Option<Duration>) -> Self {
        self.tcp_keepalive = idle;
        self
    }

    /// TLS settings for `sslmode=prefer|require` (feature `rustls`). Without it the
    /// pool connects in plain text and rejects `sslmode=require`.
    #[cfg(feature = "rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
    pub fn tls(mut self, config: rustls::ClientConfig) -> Self {
        self.tls = Some(config);
        self
    }

    /// Validates and builds.
    ///
    /// # Errors
    /// [`Error::Config`] naming the problem: unparsable URL, no host or user, zero
    /// `max_size`, `min_idle > max_size`, a timeout out of range, a session value with
    /// control characters, `sslmode=require` without TLS.
    pub fn build(self) -> Result<Config, Error> {
        let cfg_err = |m: String| Error::Config(m);
        if let Some(e) = self.env_error {
            return Err(cfg_err(e));
        }
        let mut pg = self.pg.map_err(cfg_err)?;
        if pg.get_hosts().is_empty() && pg.get_hostaddrs().is_empty() {
            return Err(cfg_err("the database URL has no host".to_owned()));
        }
        if pg.get_user().is_none() {
            return Err(cfg_err("the database URL has no user".to_owned()));
        }
        let max_size = self.max_size.unwrap_or_else(default_max_size);
        if max_size == 0 {
            return Err(cfg_err("max_size must be at least 1".to_owned()));
        }
        if max_size > 10_000 {
            return Err(cfg_err(format!("max_size {max_size} is above 10000")));
        }
        if self.min_idle > max_size {
            return Err(cfg_err(format!(
                "min_idle {} is above max_size {max_size}",
                self.min_idle
            )));
        }
        let in_range = |name: &str, d: Duration, min: Duration, max: Duration| {
            if d < min || d > max {
                Err(cfg_err(format!(
                    "{name} {d:?} is outside {min:?} ..= {max:?}"
                )))
            } else {
                Ok(())
            }
        };
        let ms = Duration::from_millis(1);
        in_range("wait_timeout", self.wait_timeout, ms, MAX_TIMEOUT)?;
        in_range("connect_timeout", self.connect_timeout, ms, MAX_TIMEOUT)?;
        in_range("recycle_timeout", self.recycle_timeout, ms, MAX_TIMEOUT)?;
        in_range(
            "maintenance_interval",
            self.maintenance_interval,
            Duration::from_millis(10),
            MAX_TIMEOUT,
        )?;
        in_range(
            "startup_timeout",
            self.startup_timeout,
            Duration::ZERO,
            MAX_TIMEOUT,
        )?;
        let day = Duration::from_secs(24 * 60 * 60);
        if let Some(d) = self.statement_timeout {
            in_range("statement_timeout", d, ms, day)?;
        }
        if let Some(d) = self.session.idle_in_transaction {
            in_range("idle_in_transaction_timeout", d, ms, day)?;
        }
        if let Some(d) = self.session.lock_timeout {
            in_range("lock_timeout", d, ms, day)?;
        }
        if let Some(d) = self.leak_threshold {
            in_range("leak_threshold", d, ms, day)?;
        }
        if let Some(d) = self.idle_timeout {
            in_range("idle_timeout", d, ms, 365 * day)?;
        }
        if let Recycling::VerifyIfIdle(d) = self.recycling {
            in_range("recycling VerifyIfIdle", d, Duration::ZERO, 365 * day)?;
        }
        let jitter = match self.max_lifetime {
            Some(life) => {
                in_range("max_lifetime", life, Duration::from_millis(10), 365 * day)?;
                let jitter = self.max_lifetime_jitter.unwrap_or(life / 10);
                if jitter >= life {
                    return Err(cfg_err(format!(
                        "max_lifetime_jitter {jitter:?} must be below max_lifetime {life:?}"
                    )));
                }
                jitter
            }
            None => Duration::ZERO,
        };
        let mut session = self.session;
        session.statement_timeout = self.statement_timeout;
        if session.application_name.is_none() && pg.get_application_name().is_none() {
            session.application_name = std::env::current_exe()
                .ok()
                .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()));
        }
        session.validate().map_err(cfg_err)?;
        if let Some(name) = &session.application_name {
            pg.application_name(name.as_str());
        }
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(self.connect_timeout);
        }
        if let Some(idle) = self.tcp_keepalive {
            // Only override the driver defaults, never what the URL set.
            if pg.get_keepalives_idle() == Duration::from_secs(2 * 60 * 60) {
                pg.keepalives(true).keepalives_idle(idle);
            }
            if pg.get_keepalives_interval().is_none() {
                pg.keepalives_interval(Duration::from_secs(10));
            }
            if pg.get_keepalives_retries().is_none() {
                pg.keepalives_retries(3);
            }
        }
        let session_sql = match self.session_setup {
            SessionSetup::StartupOptions => {
                if !self.applied_options {
                    let options = session::startup_options(pg.get_options(), &session.params());
                    if !options.is_empty() {
                        pg.options(options);
                    }
                }
                None
            }
            SessionSetup::SetCommands => session::set_commands(&session.params()),
        };
        #[cfg(feature = "rustls")]
        let has_tls = self.tls.is_some();
        #[cfg(not(feature = "rustls"))]
        let has_tls = false;
        if pg.get_ssl_mode() == tokio_postgres::config::SslMode::Require && !has_tls {
            return Err(cfg_err(
                "sslmode=require needs TLS: enable the `rustls` feature and set `ConfigBuilder::tls`"
                    .to_owned(),
            ));
        }
        Ok(Config {
            pg,
            name: self.name.unwrap_or_else(|| "default".to_owned()),
            max_size,
            min_idle: self.min_idle,
            wait_timeout: self.wait_timeout,
            connect_timeout: self.connect_timeout,
            recycle_timeout: self.recycle_timeout,
            max_lifetime: self.max_lifetime,
            max_lifetime_jitter: jitter,
            idle_timeout: self.idle_timeout,
            recycling: self.recycling,
            queue_mode: self.queue_mode,
            statement_timeout: self.statement_timeout,
            session,
            session_setup: self.session_setup,
            session_sql,
            on_connect: self.on_connect,
            leak_threshold: self.leak_threshold,
            maintenance_interval: self.maintenance_interval,
            startup_timeout: self.startup_timeout,
            #[cfg(feature = "rustls")]
            tls: self.tls,
        })
    }
}

/// `250ms`, `5s`, `10m`, `1h`, or bare seconds.
fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    match unit.trim() {
        "" | "s" => Some(Duration::from_secs(n)),
        "ms" => Some(Duration::from_millis(n)),
        "m" | "min" => n.checked_mul(60).map(Duration::from_secs),
        "h" => n.checked_mul(3600).map(Duration::from_secs),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "postgres://app:secret@localhost:5432/app";

    fn check_err(b: ConfigBuilder, expected: &str) {
        match b.build() {
            Err(Error::Config(m)) => assert!(m.contains(expected), "{m:?} lacks {expected:?}"),
            other => panic!("expected a config error containing {expected:?}, got {other:?}"),
        }
    }

    #[test]
    fn defaults_never_hang() {
        let c = Config::from_url(URL).unwrap();
        assert_eq!(c.wait_timeout(), Duration::from_secs(5));
        assert_eq!(c.connect_timeout(), Duration::from_secs(5));
        assert_eq!(c.recycle_timeout(), Duration::from_secs(5));
        assert_eq!(c.max_size(), default_max_size());
        assert_eq!(c.max_lifetime(), Some(Duration::from_secs(1800)));
        assert_eq!(c.max_lifetime_jitter, Duration::from_secs(180));
        assert_eq!(
            c.recycling(),
            Recycling::VerifyIfIdle(Duration::from_secs(1))
        );
        assert_eq!(
            c.pg_config().get_connect_timeout(),
            Some(&Duration::from_secs(5))
        );
        assert_eq!(c.pg_config().get_keepalives_idle(), Duration::from_secs(30));
        let options = c.pg_config().get_options().unwrap();
        assert!(options.contains("-c TimeZone=UTC"), "{options}");
        assert!(
            options.contains("-c statement_timeout=30000ms"),
            "{options}"
        );
        assert!(
            options.contains("-c idle_in_transaction_session_timeout=60000ms"),
            "{options}"
        );
        assert!(c.session_sql.is_none());
        assert!(!format!("{c:?}").contains("secret"));
    }

    #[test]
    fn url_settings_win() {
        let c = Config::from_url(
            "postgres://app@localhost/app?application_name=billing&connect_timeout=2&keepalives_idle=7&options=-c%20work_mem%3D8MB",
        )
        .unwrap();
        assert_eq!(c.pg_config().get_application_name(), Some("billing"));
        assert_eq!(
            c.pg_config().get_connect_timeout(),
            Some(&Duration::from_secs(2))
        );
        assert_eq!(c.pg_config().get_keepalives_idle(), Duration::from_secs(7));
        let options = c.pg_config().get_options().unwrap();
        assert!(options.starts_with("-c work_mem=8MB "), "{options}");
        assert!(options.contains("TimeZone=UTC"));
    }

    #[test]
    fn set_commands_mode() {
        let c = Config::builder()
            .url(URL)
            .session_setup(SessionSetup::SetCommands)
            .search_path("app, public")
            .build()
            .unwrap();
        assert!(c.pg_config().get_options().is_none());
        let sql = c.session_sql.as_deref().unwrap();
        assert!(sql.contains("SET search_path TO 'app, public'"), "{sql}");
        assert!(sql.contains("SET TimeZone TO 'UTC'"), "{sql}");
    }

    #[test]
    fn to_builder_does_not_duplicate_options() {
        let c = Config::from_url(URL).unwrap();
        let again = c.to_builder().max_size(3).build().unwrap();
        assert_eq!(c.pg_config().get_options(), again.pg_config().get_options());
        assert_eq!(again.max_size(), 3);
    }

    #[test]
    fn validation_errors() {
        check_err(Config::builder(), "no server configured");
        check_err(
            Config::builder().url("not a url at all ="),
            "invalid database URL",
        );
        check_err(Config::builder().url("postgres://app@/app"), "no host");
        check_err(Config::builder().url("postgres://localhost/app"), "no user");
        check_err(
            Config::builder().url(URL).max_size(0),
            "max_size must be at least 1",
        );
        check_err(
            Config::builder().url(URL).max_size(2).min_idle(3),
            "min_idle 3",
        );
        check_err(
            Config::builder().url(URL).wait_timeout(Duration::ZERO),
            "wait_timeout",
        );
        check_err(
            Config::builder()
                .url(URL)
                .connect_timeout(Duration::from_secs(7200)),
            "connect_timeout",
        );
        check_err(
            Config::builder()
                .url(URL)
                .statement_timeout(Some(Duration::from_secs(200_000))),
            "statement_timeout",
        );
        check_err(
            Config::builder()
                .url(URL)
                .max_lifetime(Some(Duration::from_secs(60)))
                .max_lifetime_jitter(Duration::from_secs(60)),
            "max_lifetime_jitter",
        );
        check_err(
            Config::builder().url(URL).time_zone(Some("UTC\n")),
            "control",
        );
        check_err(
            Config::builder().url(URL).session_param("bad name", "x"),
            "bad name",
        );
        check_err(
            Config::builder().url(format!("{URL}?sslmode=require")),
            "sslmode=require",
        );
    }

    #[test]
    fn env_lookup() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let c = ConfigBuilder::from_lookup(env(&[
            ("DATABASE_URL", URL),
            ("DATABASE_POOL_MAX_SIZE", "7"),
            ("DATABASE_POOL_MIN_IDLE", "2"),
            ("DATABASE_POOL_WAIT_TIMEOUT", "250ms"),
            ("DATABASE_POOL_MAX_LIFETIME", "0"),
            ("DATABASE_POOL_IDLE_TIMEOUT", "5m"),
            ("DATABASE_STATEMENT_TIMEOUT", "10s"),
        ]))
        .build()
        .unwrap();
        assert_eq!(c.max_size(), 7);
        assert_eq!(c.min_idle(), 2);
        assert_eq!(c.wait_timeout(), Duration::from_millis(250));
        assert_eq!(c.max_lifetime(), None);
        assert_eq!(c.idle_timeout(), Some(Duration::from_secs(300)));
        assert_eq!(c.statement_timeout(), Some(Duration::from_secs(10)));
        check_err(
            ConfigBuilder::from_lookup(env(&[])),
            "DATABASE_URL is not set",
        );
        check_err(
            ConfigBuilder::from_lookup(env(&[
                ("DATABASE_URL", URL),
                ("DATABASE_POOL_MAX_SIZE", "ten"),
            ])),
            "DATABASE_POOL_MAX_SIZE",
        );
        check_err(
            ConfigBuilder::from_lookup(env(&[
                ("DATABASE_URL", URL),
                ("DATABASE_POOL_WAIT_TIMEOUT", "5 parsecs"),
            ])),
            "DATABASE_POOL_WAIT_TIMEOUT",
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("5"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("-1s"), None);
        assert_eq!(parse_duration("1d"), None);
        assert_eq!(parse_duration(""), None);
    }
}
