//! axum integration (feature `axum`): the [`Authenticated`] extractor, [`Principal`] (an
//! access token or an API key), the [`RequireRole`] /
//! [`RequirePermission`] guards, RFC 6750 rejections ([`AuthRejection`]) and token responses
//! ([`NoStore`], `IntoResponse` for [`AccessTokenResponse`](crate::AccessTokenResponse));
//! [`VerifyBearerLayer`], middleware recording a valid optional bearer token for what
//! behaves differently for authenticated callers (health details for admins);
//! with features `errors` and `ratelimit`, the ready-made session routes
//! ([`SessionRoutes`], module [`routes`]).
//!
//! Every extractor takes the [`Authenticator`](crate::Authenticator) from the router state
//! through `FromRef`.
//!
//! ```
//! use axum::{Router, routing::get, extract::FromRef};
//! use keel_auth::{AccessTokens, Authenticator, Key, KeySet, MemoryTokenVersions, Revocations};
//! use keel_auth::axum::{Authenticated, RequirePermission};
//!
//! keel_auth::permission!(ReportsRead = "reports:read");
//!
//! #[derive(Clone, FromRef)]
//! struct AppState {
//!     auth: Authenticator,
//! }
//!
//! async fn me(user: Authenticated) -> String {
//!     user.sub.clone()
//! }
//!
//! async fn reports(caller: RequirePermission<ReportsRead>) -> String {
//!     format!("reports for {}", caller.sub)
//! }
//!
//! # fn main() -> keel_auth::Result<()> {
//! let tokens = AccessTokens::builder("https://auth.example.com", KeySet::new(Key::generate_hs256("k1")?)?)
//!     .audience("reports-api")
//!     .build()?;
//! let auth = Authenticator::new(tokens).with_revocations(Revocations::new(MemoryTokenVersions::new()));
//! let app: Router = Router::new()
//!     .route("/me", get(me))
//!     .route("/reports", get(reports))
//!     .with_state(AppState { auth });
//! # drop(app); Ok(()) }
//! ```

mod apikey;
#[cfg(feature = "utoipa")]
mod apikey_scheme;
mod authenticated;
mod guard;
mod principal;
mod rejection;
mod response;
#[cfg(all(feature = "errors", feature = "ratelimit"))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "errors", feature = "ratelimit"))))]
pub mod routes;
mod verify_bearer;

pub use apikey::{
    ApiKeyAuth, ApiKeyRejection, ApiKeyRejectionKind, MAX_API_KEY_HEADER_LEN, X_API_KEY,
};
#[cfg(feature = "utoipa")]
#[cfg_attr(docsrs, doc(cfg(feature = "utoipa")))]
pub use apikey_scheme::ApiKeyScheme;
pub use authenticated::Authenticated;
pub use guard::{Permission, RequirePermission, RequireRole, Role};
pub use principal::{Principal, PrincipalRejection};
pub use rejection::{AuthRejection, AuthRejectionKind};
pub use response::NoStore;
#[cfg(all(feature = "errors", feature = "ratelimit", feature = "validation"))]
#[cfg_attr(
    docsrs,
    doc(cfg(all(feature = "errors", feature = "ratelimit", feature = "validation")))
)]
pub use routes::password_policy_rule;
#[cfg(all(feature = "errors", feature = "ratelimit"))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "errors", feature = "ratelimit"))))]
pub use routes::{
    DEFAULT_BODY_LIMIT, SessionPaths, SessionRoute, SessionRoutes, default_password_rule,
};
pub use verify_bearer::{ResponseFuture, VerifyBearer, VerifyBearerLayer};
