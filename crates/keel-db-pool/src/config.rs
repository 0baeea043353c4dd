//! [`Config`] and [`ConfigBuilder`]: where to connect, how many connections, and every
//! timeout, with defaults that never hang.
//!
//! The builder and its validation live in `builder`, the environment reader in `env`,
//! the small option enums in `options`, and the libpq TLS keys the driver does not
//! parse in `url`.

mod builder;
mod env;
mod options;
mod url;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tracing::level_filters::LevelFilter;

pub use builder::ConfigBuilder;
pub use env::EnvVarError;
pub use options::{PgBouncer, QueueMode, Recycling, SessionSetup, SslMode, StatementMode};

use crate::Error;
use crate::session::SessionParams;

/// The hook type run on every new connection; see [`ConfigBuilder::on_connect`].
pub(crate) type OnConnect = Arc<
    dyn for<'a> Fn(&'a tokio_postgres::Client) -> BoxFuture<'a, Result<(), Error>> + Send + Sync,
>;

/// Which statements are logged and counted as slow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SlowStatements {
    pub(crate) level: LevelFilter,
    pub(crate) threshold: Duration,
}

impl Default for SlowStatements {
    /// `WARN` at 1 s, as sqlx.
    fn default() -> Self {
        Self {
            level: LevelFilter::WARN,
            threshold: Duration::from_secs(1),
        }
    }
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
    /// `SET LOCAL …` batch run at the start of each transaction ([`SessionSetup::SetLocal`]).
    pub(crate) set_local_sql: Option<String>,
    pub(crate) statement_mode: StatementMode,
    pub(crate) pgbouncer: PgBouncer,
    pub(crate) slow_statements: SlowStatements,
    pub(crate) ssl_mode: SslMode,
    pub(crate) on_connect: Option<OnConnect>,
    pub(crate) leak_threshold: Option<Duration>,
    pub(crate) maintenance_interval: Duration,
    pub(crate) startup_timeout: Duration,
    #[cfg(feature = "rustls")]
    pub(crate) tls: crate::tls::TlsSettings,
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
            .field("statement_mode", &self.statement_mode)
            .field("pgbouncer", &self.pgbouncer)
            .field("slow_statements", &self.slow_statements)
            .field("ssl_mode", &self.ssl_mode)
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

    /// The PgBouncer mode set with [`ConfigBuilder::pgbouncer`] (or
    /// `DATABASE_POOL_PGBOUNCER`; `pgbouncer_transaction_mode()` is `Transaction`):
    /// e.g. whether the role's defaults need [`role_settings_sql`](Self::role_settings_sql).
    pub fn pgbouncer(&self) -> PgBouncer {
        self.pgbouncer
    }

    /// How the session settings reach the server.
    pub fn session_setup(&self) -> SessionSetup {
        self.session_setup
    }

    /// How the statement helpers send statements.
    pub fn statement_mode(&self) -> StatementMode {
        self.statement_mode
    }

    /// Statements taking at least this long are logged and counted as slow.
    pub fn slow_statement_threshold(&self) -> Duration {
        self.slow_statements.threshold
    }

    /// The level slow statements are logged at (`OFF`: counted only).
    pub fn slow_statement_level(&self) -> LevelFilter {
        self.slow_statements.level
    }

    /// The effective TLS mode (see [`SslMode`] for what each one checks).
    pub fn ssl_mode(&self) -> SslMode {
        self.ssl_mode
    }

    /// `ALTER ROLE CURRENT_USER SET …` statements that make the session settings the
    /// role's defaults, for [`SessionSetup::SetLocal`] (PgBouncer transaction pooling),
    /// where statements outside a transaction get only the role's settings. Run it
    /// once, as the application's role, e.g. from a migration. `None` when there is
    /// nothing to set.
    ///
    /// ```
    /// let config = keel_db_pool::Config::builder()
    ///     .url("postgres://app@pgbouncer:6432/app")
    ///     .pgbouncer_transaction_mode()
    ///     .build()?;
    /// let sql = config.role_settings_sql().unwrap();
    /// assert!(sql.contains("ALTER ROLE CURRENT_USER SET statement_timeout TO '30000ms';"));
    /// # Ok::<(), keel_db_pool::Error>(())
    /// ```
    pub fn role_settings_sql(&self) -> Option<String> {
        crate::session::set_commands(&self.session.params(), "")
            .map(|sql| sql.replace("SET ", "ALTER ROLE CURRENT_USER SET "))
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
            url_tls: url::UrlTls::default(),
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
            statement_mode: self.statement_mode,
            pgbouncer: self.pgbouncer,
            slow_statements: self.slow_statements,
            on_connect: self.on_connect.clone(),
            leak_threshold: self.leak_threshold,
            maintenance_interval: self.maintenance_interval,
            startup_timeout: self.startup_timeout,
            tcp_keepalive: None,
            applied_options: true,
            env_error: None,
            ssl_mode: Some(self.ssl_mode),
            #[cfg(feature = "rustls")]
            root_certs: self.tls.roots.clone(),
            #[cfg(feature = "rustls")]
            tls: self.tls.custom.clone(),
        }
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
        #[cfg(not(feature = "rustls"))]
        check_err(
            Config::builder().url(format!("{URL}?sslmode=require")),
            "sslmode=require needs TLS",
        );
        #[cfg(not(feature = "rustls"))]
        check_err(
            Config::builder().url(format!("{URL}?sslrootcert=/etc/ca.pem")),
            "sslrootcert needs TLS",
        );
        #[cfg(feature = "rustls")]
        {
            check_err(
                Config::builder().url(format!("{URL}?sslmode=verify-full")),
                "needs a root certificate",
            );
            check_err(
                Config::builder().url(format!(
                    "{URL}?sslmode=prefer&sslrootcert=/nonexistent/ca.pem"
                )),
                "plain text",
            );
            check_err(
                Config::builder().url(format!("{URL}?sslrootcert=/nonexistent/ca.pem")),
                "cannot read sslrootcert",
            );
        }
        check_err(
            Config::builder().url(format!("{URL}?sslmode=allow")),
            "sslmode",
        );
        check_err(
            Config::builder()
                .url(URL)
                .log_slow_statements(LevelFilter::WARN, Duration::from_secs(200_000)),
            "slow statement threshold",
        );
    }

    #[test]
    fn ssl_modes() {
        let c = Config::from_url(URL).unwrap();
        assert_eq!(c.ssl_mode(), SslMode::Prefer);
        let c = Config::from_url(&format!("{URL}?sslmode=disable")).unwrap();
        assert_eq!(c.ssl_mode(), SslMode::Disable);
        assert_eq!(
            c.pg_config().get_ssl_mode(),
            tokio_postgres::config::SslMode::Disable
        );
        #[cfg(feature = "rustls")]
        {
            let c = Config::from_url(&format!("{URL}?sslmode=require")).unwrap();
            assert_eq!(c.ssl_mode(), SslMode::Require);
            assert_eq!(
                c.pg_config().get_ssl_mode(),
                tokio_postgres::config::SslMode::Require
            );
            let again = c.to_builder().build().unwrap();
            assert_eq!(again.ssl_mode(), SslMode::Require);
        }
    }

    #[test]
    fn pgbouncer_transaction_mode() {
        let c = Config::builder()
            .url(URL)
            .search_path("app")
            .pgbouncer_transaction_mode()
            .build()
            .unwrap();
        assert_eq!(c.statement_mode(), StatementMode::Unnamed);
        assert!(c.pg_config().get_options().is_none());
        assert!(c.session_sql.is_none());
        let local = c.set_local_sql.as_deref().unwrap();
        assert!(local.contains("SET LOCAL search_path TO 'app';"), "{local}");
        assert!(
            local.contains("SET LOCAL statement_timeout TO '30000ms';"),
            "{local}"
        );
        let role = c.role_settings_sql().unwrap();
        assert!(
            role.starts_with("ALTER ROLE CURRENT_USER SET TimeZone TO 'UTC';"),
            "{role}"
        );
        let again = c.to_builder().build().unwrap();
        assert_eq!(again.statement_mode(), StatementMode::Unnamed);
        assert_eq!(again.session_setup(), SessionSetup::SetLocal);
    }

    #[test]
    fn slow_statement_defaults() {
        let c = Config::from_url(URL).unwrap();
        assert_eq!(c.slow_statement_threshold(), Duration::from_secs(1));
        assert_eq!(c.slow_statement_level(), LevelFilter::WARN);
    }
}
