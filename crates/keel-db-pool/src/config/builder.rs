//! [`ConfigBuilder`]: every setting with its default, validated by `build`.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tracing::level_filters::LevelFilter;

use super::options::{PgBouncer, QueueMode, Recycling, SessionSetup, SslMode, StatementMode};
use super::url::{UrlTls, split_tls};
use super::{Config, OnConnect, SlowStatements, default_max_size};
use crate::Error;
use crate::session::{self, SessionParams};

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
///     .session_setup(SessionSetup::SetCommands) // behind PgBouncer in session pooling
///     .build()?;
/// assert_eq!(config.max_size(), 20);
/// # Ok::<(), keel_db_pool::Error>(())
/// ```
#[must_use]
pub struct ConfigBuilder {
    pub(super) pg: Result<tokio_postgres::Config, String>,
    pub(super) url_tls: UrlTls,
    pub(super) name: Option<String>,
    pub(super) max_size: Option<usize>,
    pub(super) min_idle: usize,
    pub(super) wait_timeout: Duration,
    pub(super) connect_timeout: Duration,
    pub(super) recycle_timeout: Duration,
    pub(super) max_lifetime: Option<Duration>,
    pub(super) max_lifetime_jitter: Option<Duration>,
    pub(super) idle_timeout: Option<Duration>,
    pub(super) recycling: Recycling,
    pub(super) queue_mode: QueueMode,
    pub(super) statement_timeout: Option<Duration>,
    pub(super) session: SessionParams,
    pub(super) session_setup: SessionSetup,
    pub(super) statement_mode: StatementMode,
    pub(super) pgbouncer: PgBouncer,
    pub(super) slow_statements: SlowStatements,
    pub(super) on_connect: Option<OnConnect>,
    pub(super) leak_threshold: Option<Duration>,
    pub(super) maintenance_interval: Duration,
    pub(super) startup_timeout: Duration,
    pub(super) tcp_keepalive: Option<Duration>,
    /// Set when `pg` already carries the session options (from `Config::to_builder`).
    pub(super) applied_options: bool,
    pub(super) env_error: Option<String>,
    pub(super) ssl_mode: Option<SslMode>,
    #[cfg(feature = "rustls")]
    pub(super) root_certs: Option<crate::tls::RootCerts>,
    #[cfg(feature = "rustls")]
    pub(super) tls: Option<rustls::ClientConfig>,
}

impl fmt::Debug for ConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigBuilder")
            .field("pg", &self.pg)
            .field("name", &self.name)
            .field("max_size", &self.max_size)
            .field("wait_timeout", &self.wait_timeout)
            .field("ssl_mode", &self.ssl_mode.or(self.url_tls.mode))
            .finish_non_exhaustive()
    }
}

impl Default for ConfigBuilder {
    fn default() -> Self {
        Self {
            pg: Err("no server configured: call `url(..)` or `pg_config(..)`".to_owned()),
            url_tls: UrlTls::default(),
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
            statement_mode: StatementMode::Cached,
            pgbouncer: PgBouncer::Off,
            slow_statements: SlowStatements::default(),
            on_connect: None,
            leak_threshold: Some(Duration::from_secs(60)),
            maintenance_interval: Duration::from_secs(1),
            startup_timeout: Duration::from_secs(10),
            tcp_keepalive: Some(Duration::from_secs(30)),
            applied_options: false,
            env_error: None,
            ssl_mode: None,
            #[cfg(feature = "rustls")]
            root_certs: None,
            #[cfg(feature = "rustls")]
            tls: None,
        }
    }
}

const MAX_TIMEOUT: Duration = Duration::from_secs(60 * 60);

impl ConfigBuilder {
    /// The server, as a URL (`postgres://user:password@host:port/dbname?sslmode=verify-full`)
    /// or libpq `key=value` string. Settings the URL carries (`application_name`,
    /// `connect_timeout`, `options`, `keepalives_idle`, `sslmode`, `sslrootcert`, …)
    /// win over the pool defaults; the setters below win over the URL.
    pub fn url(mut self, url: impl AsRef<str>) -> Self {
        self.pg = split_tls(url.as_ref())
            .and_then(|(rest, tls)| {
                self.url_tls = tls;
                tokio_postgres::Config::from_str(&rest).map_err(|e| e.to_string())
            })
            .map_err(|e| format!("invalid database URL: {e}"));
        self.applied_options = false;
        self
    }

    /// The server, as a driver configuration (for settings a URL cannot express, such
    /// as `hostaddr` lists). Its `ssl_mode` counts as set unless it is the driver's
    /// default (`prefer`).
    pub fn pg_config(mut self, config: tokio_postgres::Config) -> Self {
        self.url_tls = UrlTls {
            mode: match config.get_ssl_mode() {
                tokio_postgres::config::SslMode::Disable => Some(SslMode::Disable),
                tokio_postgres::config::SslMode::Require => Some(SslMode::Require),
                _ => None,
            },
            root_cert: None,
        };
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

    /// How the statement helpers send statements (default [`StatementMode::Cached`]).
    pub fn statement_mode(mut self, mode: StatementMode) -> Self {
        self.statement_mode = mode;
        self
    }

    /// Settings for PgBouncer (before 1.21) in **transaction** pooling:
    /// [`StatementMode::Unnamed`] (no named prepared statements survive a
    /// transaction there) and [`SessionSetup::SetLocal`] (no session setting
    /// survives one either). See `docs/db-pool.md` for what this costs and what to
    /// set on the role instead.
    ///
    /// ```
    /// use keel_db_pool::{Config, SessionSetup, StatementMode};
    ///
    /// let config = Config::builder()
    ///     .url("postgres://app@pgbouncer.internal:6432/app")
    ///     .pgbouncer_transaction_mode()
    ///     .build()?;
    /// assert_eq!(config.statement_mode(), StatementMode::Unnamed);
    /// assert_eq!(config.session_setup(), SessionSetup::SetLocal);
    /// assert!(config.pg_config().get_options().is_none());
    /// # Ok::<(), keel_db_pool::Error>(())
    /// ```
    pub fn pgbouncer_transaction_mode(mut self) -> Self {
        self.pgbouncer = PgBouncer::Transaction;
        self.statement_mode(StatementMode::Unnamed)
            .session_setup(SessionSetup::SetLocal)
    }

    /// The settings for what sits between the pool and PostgreSQL: `Transaction` is
    /// [`pgbouncer_transaction_mode`](Self::pgbouncer_transaction_mode), `Session` is
    /// [`SessionSetup::SetCommands`], `Off` changes nothing. The mode is kept:
    /// [`Config::pgbouncer`] (e.g. to decide whether to write
    /// [`role_settings_sql`](Config::role_settings_sql)).
    pub fn pgbouncer(mut self, mode: PgBouncer) -> Self {
        self.pgbouncer = mode;
        match mode {
            PgBouncer::Off => self,
            PgBouncer::Transaction => self.pgbouncer_transaction_mode(),
            PgBouncer::Session => self.session_setup(SessionSetup::SetCommands),
        }
    }

    /// Logs every statement run through the helpers that takes at least `threshold`,
    /// at `level`, with its duration and SQL text (at most 2 KiB of it) but never its
    /// parameters, and counts it in [`PoolStats::slow_statements`](crate::PoolStats)
    /// (also when `level` is `OFF`). Default: `WARN`, 1 s.
    ///
    /// ```
    /// use std::time::Duration;
    /// use keel_db_pool::{Config, LevelFilter};
    ///
    /// let config = Config::builder()
    ///     .url("postgres://app@localhost/app")
    ///     .log_slow_statements(LevelFilter::INFO, Duration::from_millis(250))
    ///     .build()?;
    /// assert_eq!(config.slow_statement_threshold(), Duration::from_millis(250));
    /// # Ok::<(), keel_db_pool::Error>(())
    /// ```
    pub fn log_slow_statements(mut self, level: LevelFilter, threshold: Duration) -> Self {
        self.slow_statements = SlowStatements { level, threshold };
        self
    }

    /// TLS mode; wins over the URL's `sslmode` (default: the URL's, else `prefer`, or
    /// `verify-full` when a root certificate is configured). See [`SslMode`].
    pub fn ssl_mode(mut self, mode: SslMode) -> Self {
        self.ssl_mode = Some(mode);
        self
    }

    /// Root certificate(s) the server's certificate must chain to, as PEM (one or
    /// more `CERTIFICATE` blocks); wins over the URL's `sslrootcert`. Makes the default
    /// mode `verify-full`. Invalid PEM fails [`build`](Self::build).
    #[cfg(feature = "rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
    pub fn ssl_root_cert_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_certs = Some(crate::tls::RootCerts::Pem(pem.into().into()));
        self
    }

    /// Root certificate(s) as a PEM file, read by [`build`](Self::build) (libpq's
    /// `sslrootcert`); wins over the URL's `sslrootcert`. Makes the default mode
    /// `verify-full`.
    #[cfg(feature = "rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
    pub fn ssl_root_cert_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.root_certs = Some(crate::tls::RootCerts::File(path.into()));
        self
    }

    /// A complete rustls client configuration (client certificates, system roots, a
    /// crypto provider of your choice). Its certificate verifier then decides what is
    /// verified, whatever the mode; TLS becomes mandatory (default mode `require`;
    /// `prefer` and `disable` are refused). Cannot be combined with the
    /// root-certificate setters.
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
    /// control characters, a TLS mode that needs the `rustls` feature or a root
    /// certificate that is missing, unreadable or not PEM, `sslmode=prefer` together
    /// with a root certificate.
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
        in_range(
            "slow statement threshold",
            self.slow_statements.threshold,
            Duration::ZERO,
            day,
        )?;
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
        let params = session.params();
        let (session_sql, set_local_sql) = match self.session_setup {
            SessionSetup::StartupOptions => {
                if !self.applied_options {
                    let options = session::startup_options(pg.get_options(), &params);
                    if !options.is_empty() {
                        pg.options(options);
                    }
                }
                (None, None)
            }
            SessionSetup::SetCommands => (session::set_commands(&params, ""), None),
            SessionSetup::SetLocal => (None, session::set_commands(&params, "LOCAL ")),
        };
        let ssl_mode = self.ssl_mode.or(self.url_tls.mode);
        pg.ssl_mode(match ssl_mode {
            Some(SslMode::Disable) => tokio_postgres::config::SslMode::Disable,
            Some(m) if m.requires_tls() => tokio_postgres::config::SslMode::Require,
            _ => tokio_postgres::config::SslMode::Prefer,
        });
        #[cfg(feature = "rustls")]
        let tls = crate::tls::resolve(
            ssl_mode,
            self.root_certs.or_else(|| {
                self.url_tls
                    .root_cert
                    .clone()
                    .map(crate::tls::RootCerts::File)
            }),
            self.tls,
        )
        .map_err(cfg_err)?;
        #[cfg(not(feature = "rustls"))]
        let ssl_mode = match (ssl_mode, &self.url_tls.root_cert) {
            (_, Some(_)) => {
                return Err(cfg_err(
                    "sslrootcert needs TLS: enable the `rustls` feature of keel-db-pool".to_owned(),
                ));
            }
            (Some(m), None) if m.requires_tls() => {
                return Err(cfg_err(format!(
                    "sslmode={m} needs TLS: enable the `rustls` feature of keel-db-pool"
                )));
            }
            (Some(SslMode::Prefer), None) => {
                tracing::warn!(
                    "sslmode=prefer without the `rustls` feature of keel-db-pool: connections are plain text"
                );
                SslMode::Prefer
            }
            (m, None) => m.unwrap_or(SslMode::Prefer),
        };
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
            set_local_sql,
            statement_mode: self.statement_mode,
            pgbouncer: self.pgbouncer,
            slow_statements: self.slow_statements,
            on_connect: self.on_connect,
            leak_threshold: self.leak_threshold,
            maintenance_interval: self.maintenance_interval,
            startup_timeout: self.startup_timeout,
            #[cfg(feature = "rustls")]
            ssl_mode: tls.mode,
            #[cfg(not(feature = "rustls"))]
            ssl_mode,
            #[cfg(feature = "rustls")]
            tls,
        })
    }
}
