#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "cors")]
#[cfg_attr(docsrs, doc(cfg(feature = "cors")))]
pub mod cors;
pub mod edge;
mod error;
#[cfg(feature = "errors")]
#[cfg_attr(docsrs, doc(cfg(feature = "errors")))]
pub mod errors;
#[cfg(feature = "jobs")]
#[cfg_attr(docsrs, doc(cfg(feature = "jobs")))]
pub mod jobs;
#[cfg(feature = "json-log")]
#[cfg_attr(docsrs, doc(cfg(feature = "json-log")))]
pub mod json_log;
#[cfg(feature = "prometheus")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
pub mod prometheus;
pub mod request_id;
pub mod security_headers;
#[cfg(feature = "serve")]
#[cfg_attr(docsrs, doc(cfg(feature = "serve")))]
pub mod serve;
#[cfg(feature = "stack")]
#[cfg_attr(docsrs, doc(cfg(feature = "stack")))]
pub mod stack;
#[cfg(feature = "tracing")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
pub mod telemetry;
#[cfg(feature = "timeout")]
#[cfg_attr(docsrs, doc(cfg(feature = "timeout")))]
pub mod timeout;

pub use edge::{Edge, EdgeLayer};
pub use error::Error;
pub use request_id::{RequestId, SetRequestId, SetRequestIdLayer, X_REQUEST_ID};
pub use security_headers::{SecurityHeaders, SetSecurityHeaders, SetSecurityHeadersLayer};
#[cfg(feature = "serve")]
pub use serve::{Serve, ServeConfig, ServeConfigBuilder, serve, shutdown_signal};
#[cfg(feature = "tracing")]
pub use telemetry::{Telemetry, TelemetryLayer};
#[cfg(feature = "timeout")]
pub use timeout::{Timeout, TimeoutLayer};
