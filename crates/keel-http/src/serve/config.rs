//! [`ServeConfig`] and its builder.

use std::time::Duration;

use crate::Error;

/// Default of [`ServeConfig::header_read_timeout`].
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Default of [`ServeConfig::max_connections`].
///
/// An idle HTTP/1.1 connection costs hyper about 8–16 KiB of buffers plus a Tokio task
/// and a file descriptor, so 1024 connections stay under ~20 MiB. A service's throughput
/// is bounded by CPU and its database pool long before that (32 busy connections saturate
/// two cores), and a reverse proxy in front multiplexes thousands of clients over far
/// fewer upstream connections.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// Default of [`ServeConfig::max_shedding`].
pub const DEFAULT_MAX_SHEDDING: usize = 64;

/// Default of [`ServeConfig::drain_timeout`].
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest accepted [`ServeConfig::header_read_timeout`].
pub const MAX_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(3600);

/// The transport bounds of [`serve`](mod@crate::serve). `Default` gives the documented
/// defaults; [`ServeConfig::builder`] changes them.
///
/// ```
/// use std::time::Duration;
/// use keel_http::ServeConfig;
///
/// let config = ServeConfig::builder()
///     .header_read_timeout(Duration::from_secs(5))
///     .max_connections(256)
///     .build()?;
/// assert_eq!(config.max_connections(), 256);
/// assert_eq!(config.max_shedding(), 64);
/// assert!(ServeConfig::builder().max_connections(0).build().is_err());
/// # Ok::<(), keel_http::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeConfig {
    header_read_timeout: Duration,
    max_connections: usize,
    max_shedding: usize,
    drain_timeout: Duration,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl ServeConfig {
    /// The defaults: 10 s header-read timeout, 1024 connections, 64 concurrent sheds,
    /// 30 s drain.
    pub const fn new() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_shedding: DEFAULT_MAX_SHEDDING,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
        }
    }

    /// A builder starting from the defaults.
    pub const fn builder() -> ServeConfigBuilder {
        ServeConfigBuilder {
            config: Self::new(),
        }
    }

    /// Time allowed for a request head (request line and headers) to arrive, and for an
    /// idle kept-alive connection to start its next request; the connection is closed
    /// after it.
    pub const fn header_read_timeout(&self) -> Duration {
        self.header_read_timeout
    }

    /// Connections served at once; connections beyond it are shed.
    pub const fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// Shed connections answered with a 503 at the same time; beyond it, excess
    /// connections are closed without an answer.
    pub const fn max_shedding(&self) -> usize {
        self.max_shedding
    }

    /// How long in-flight requests may take to finish once shutdown starts.
    pub const fn drain_timeout(&self) -> Duration {
        self.drain_timeout
    }
}

/// Builder of [`ServeConfig`].
#[derive(Debug, Clone, Copy)]
#[must_use]
pub struct ServeConfigBuilder {
    config: ServeConfig,
}

impl ServeConfigBuilder {
    /// See [`ServeConfig::header_read_timeout`]; 1 ms to 1 hour.
    pub const fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.config.header_read_timeout = timeout;
        self
    }

    /// See [`ServeConfig::max_connections`]; at least 1.
    pub const fn max_connections(mut self, n: usize) -> Self {
        self.config.max_connections = n;
        self
    }

    /// See [`ServeConfig::max_shedding`]; 0 closes excess connections without an answer.
    pub const fn max_shedding(mut self, n: usize) -> Self {
        self.config.max_shedding = n;
        self
    }

    /// See [`ServeConfig::drain_timeout`].
    pub const fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.config.drain_timeout = timeout;
        self
    }

    /// The configuration.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a header-read timeout under 1 ms or over
    /// [`MAX_HEADER_READ_TIMEOUT`], or no connections at all.
    pub fn build(self) -> Result<ServeConfig, Error> {
        let c = self.config;
        if c.header_read_timeout < Duration::from_millis(1)
            || c.header_read_timeout > MAX_HEADER_READ_TIMEOUT
        {
            return Err(Error::InvalidConfig {
                name: "header_read_timeout",
                reason: "must be between 1 ms and 1 hour",
            });
        }
        if c.max_connections == 0 {
            return Err(Error::InvalidConfig {
                name: "max_connections",
                reason: "must be at least 1",
            });
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(b: ServeConfigBuilder, ok: bool) {
        assert_eq!(b.build().is_ok(), ok, "{b:?}");
    }

    #[test]
    fn bounds() {
        check(ServeConfig::builder(), true);
        check(ServeConfig::builder().max_shedding(0), true);
        check(ServeConfig::builder().max_connections(0), false);
        check(
            ServeConfig::builder().header_read_timeout(Duration::ZERO),
            false,
        );
        check(
            ServeConfig::builder().header_read_timeout(Duration::from_secs(3601)),
            false,
        );
        assert_eq!(ServeConfig::builder().build(), Ok(ServeConfig::default()));
    }
}
