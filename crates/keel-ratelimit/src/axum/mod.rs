//! tower / axum integration: [`RateLimitLayer`] and its [`KeyExtractor`]s; the
//! [`ClientIp`] extractor for limits checked inside handlers.
//!
//! ```
//! use std::net::SocketAddr;
//! use axum::{Router, routing::get};
//! use keel_ratelimit::{HeaderStyle, Limiter, axum::{KeyExtractor, RateLimitLayer, TrustedProxies}};
//!
//! let limiter = Limiter::memory_from_spec("100/minute; 1000/hour")?;
//! let key = KeyExtractor::client_ip(TrustedProxies::cidrs(["10.0.0.0/8"])?);
//! let app: Router = Router::new()
//!     .route("/", get(|| async { "hello" }))
//!     .route("/health", get(|| async { "ok" }))
//!     .layer(
//!         RateLimitLayer::new(limiter, key)
//!             .exempt(|parts| parts.uri.path() == "/health")
//!             .header_style(HeaderStyle::Ietf),
//!     );
//! // axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
//! # Ok::<(), keel_ratelimit::Error>(())
//! ```

mod client_ip;
mod extract;
mod layer;
mod render;

pub use client_ip::ClientIp;
pub use extract::{
    ForwardedHeader, KeyExtractor, MAX_FORWARDED_HOPS, MAX_HEADER_KEY_LEN, TrustedProxies,
};
pub use layer::{MissingKey, RateLimit, RateLimitLayer, ResponseFuture};
#[cfg(feature = "errors")]
pub use render::EnvelopeRenderer;
pub use render::{PlainTextRenderer, Renderer};
