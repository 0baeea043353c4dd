//! axum integration (feature `axum`): the health endpoints as a [`Router`](::axum::Router)
//! and the [`DetailsPolicy`] deciding who sees more than the status.
//!
//! | path | probe | answers |
//! |---|---|---|
//! | `/health/live` | [`Probe::Liveness`](crate::Probe::Liveness) | liveness checks (none by default: from memory) |
//! | `/health/ready` | [`Probe::Readiness`](crate::Probe::Readiness) | 503 while draining or starting, else readiness checks |
//! | `/health/startup` | [`Probe::Startup`](crate::Probe::Startup) | startup checks until they passed once |
//! | `/health` | [`Probe::Full`](crate::Probe::Full) | every check plus uptime |
//!
//! Every answer is `application/health+json` with `Cache-Control: max-age` set to the
//! remaining freshness of the results; 200 for `pass`/`warn`, 503 for `fail`. The public
//! gets `{"status":"…"}` only; callers the policy authorizes get the whole report
//! (with `Cache-Control: private`).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use axum::{Router, body::Body, http::Request};
//! use keel_health::{Health, axum::{DetailsPolicy, HealthRouter}};
//! use tower::ServiceExt;
//!
//! let health = Health::builder().check("db:responseTime", || async { Err::<(), _>("refused") }).build()?;
//! let app: Router = Router::new().merge(
//!     HealthRouter::new(health.clone())
//!         .details(DetailsPolicy::bearer_token("s3cret").or(DetailsPolicy::loopback()))
//!         .into_router(),
//! );
//!
//! let res = app.clone().oneshot(Request::get("/health/ready").body(Body::empty())?).await?;
//! assert_eq!(res.status(), 503);
//! let body = axum::body::to_bytes(res.into_body(), usize::MAX).await?;
//! assert_eq!(&body[..], br#"{"status":"fail"}"#); // nothing about the database leaks
//!
//! let req = Request::get("/health/ready").header("authorization", "Bearer s3cret").body(Body::empty())?;
//! let body = axum::body::to_bytes(app.oneshot(req).await?.into_body(), usize::MAX).await?;
//! let json: serde_json::Value = serde_json::from_slice(&body)?;
//! assert_eq!(json["checks"]["db:responseTime"][0]["output"], "refused");
//! # Ok(()) }
//! ```

mod policy;
mod router;

pub use policy::DetailsPolicy;
pub use router::HealthRouter;
