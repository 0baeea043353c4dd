#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod config;
mod connection;
mod error;
#[cfg(feature = "errors")]
mod errors;
mod lease;
mod maintenance;
mod manager;
mod metrics;
mod migrate;
mod pool;
mod session;
mod statement;
#[cfg(feature = "rustls")]
mod tls;
mod transaction;

pub use config::{
    Config, ConfigBuilder, EnvVarError, PgBouncer, QueueMode, Recycling, SessionSetup, SslMode,
    StatementMode, default_max_size,
};
pub use connection::Connection;
pub use error::{Error, TlsFailure};
pub use metrics::{ClosedCounts, PoolStats, PoolStatus, WaitHistogram};
pub use migrate::{Migration, Migrator};
pub use pool::Pool;
pub use transaction::{RetryPolicy, Transaction, TransactionOptions};

/// The driver's client wrapper with a statement cache (what [`Connection`] derefs to).
pub use deadpool_postgres::ClientWrapper;
/// The boxed future a transaction closure returns: `|tx| Box::pin(async move { … })`.
pub use futures_util::future::BoxFuture;
/// The driver, re-exported so its types (`Row`, `types::ToSql`, …) match this crate's.
pub use tokio_postgres;
pub use tokio_postgres::error::{DbError, SqlState};
pub use tokio_postgres::types::ToSql;
pub use tokio_postgres::{IsolationLevel, Row};
/// The level type of [`ConfigBuilder::log_slow_statements`] (`tracing`'s).
pub use tracing::level_filters::LevelFilter;
