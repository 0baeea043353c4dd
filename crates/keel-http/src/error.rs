//! The crate's error type.

/// Why a keel-http value could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting is outside its allowed range.
    #[error("{name} {reason}")]
    InvalidConfig {
        /// The setting (`header_read_timeout`, `max_connections`, …).
        name: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A CORS origin was refused (feature `cors`: `cors::parse_origin`).
    #[error("CORS origin `{origin}` {reason}")]
    InvalidOrigin {
        /// The origin as given (control characters escaped, cut to 100 characters).
        origin: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// [`Prometheus::install`](crate::prometheus::Prometheus::install): another `metrics`
    /// recorder was installed in the process first.
    #[error("another metrics recorder is already installed in this process")]
    RecorderInstalled,
}
