//! [`AccessToken`] (what [`AccessTokens::issue`](super::AccessTokens::issue) returns) and
//! [`AccessTokenResponse`] (RFC 6749 §5.1).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The response headers RFC 6749 §5.1 requires on any response carrying tokens:
/// `Cache-Control: no-store` and `Pragma: no-cache`.
pub const NO_STORE_HEADERS: [(&str, &str); 2] =
    [("cache-control", "no-store"), ("pragma", "no-cache")];

/// A freshly issued access token. `Debug` does not print the token.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    token: String,
    jti: String,
    expires_at: u64,
    expires_in: Duration,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &"[REDACTED]")
            .field("jti", &self.jti)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl AccessToken {
    pub(crate) fn new(token: String, jti: String, expires_at: u64, expires_in: Duration) -> Self {
        Self {
            token,
            jti,
            expires_at,
            expires_in,
        }
    }

    /// The compact JWT, for the `Authorization: Bearer` header.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.token
    }

    /// The compact JWT.
    #[must_use]
    pub fn into_string(self) -> String {
        self.token
    }

    /// The token id (`jti`), for audit logs.
    #[must_use]
    pub fn jti(&self) -> &str {
        &self.jti
    }

    /// Expiry, seconds since the Unix epoch (`exp`).
    #[must_use]
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }

    /// The lifetime the token was issued with.
    #[must_use]
    pub fn expires_in(&self) -> Duration {
        self.expires_in
    }

    /// The RFC 6749 §5.1 response body for this token (add a refresh token with
    /// [`AccessTokenResponse::with_refresh_token`]). With the `axum` feature, an
    /// `AccessToken` is also `IntoResponse` itself.
    #[must_use]
    pub fn into_token_response(self) -> AccessTokenResponse {
        AccessTokenResponse::from(self)
    }
}

impl From<AccessToken> for AccessTokenResponse {
    fn from(t: AccessToken) -> Self {
        Self {
            access_token: t.token,
            token_type: BEARER.into(),
            expires_in: t.expires_in.as_secs(),
            refresh_token: None,
            scope: None,
        }
    }
}

const BEARER: &str = "Bearer";

/// A successful token response (RFC 6749 §5.1):
/// `{"access_token": …, "token_type": "Bearer", "expires_in": 900, "refresh_token": …}`.
///
/// Send it with [`NO_STORE_HEADERS`]; with the `axum` feature it is `IntoResponse` and does
/// so itself. `Debug` does not print the tokens.
///
/// ```
/// use keel_auth::token::{AccessTokens, Claims, Key, KeySet};
///
/// let tokens = AccessTokens::builder("me", KeySet::new(Key::generate_hs256("k1")?)?).build()?;
/// let body = tokens
///     .issue(Claims::<()>::new("u"))?
///     .into_token_response()
///     .with_refresh_token("opaque-refresh-token");
/// let json = serde_json::to_value(&body).unwrap();
/// assert_eq!(json["token_type"], "Bearer");
/// assert_eq!(json["expires_in"], 900);
/// assert_eq!(json["refresh_token"], "opaque-refresh-token");
/// assert!(json.get("scope").is_none());
/// # Ok::<(), keel_auth::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AccessTokenResponse {
    /// The access token.
    pub access_token: String,
    /// Always `Bearer` (RFC 6750).
    pub token_type: String,
    /// Lifetime of the access token in seconds.
    pub expires_in: u64,
    /// The refresh token, when one is issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The granted scope, when it differs from the requested one (RFC 6749 §5.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl AccessTokenResponse {
    /// Adds a refresh token.
    #[must_use]
    pub fn with_refresh_token(mut self, refresh_token: impl Into<String>) -> Self {
        self.refresh_token = Some(refresh_token.into());
        self
    }

    /// Adds the granted scope.
    #[must_use]
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }
}

impl fmt::Debug for AccessTokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessTokenResponse")
            .field("access_token", &"[REDACTED]")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[REDACTED]"),
            )
            .field("scope", &self.scope)
            .finish()
    }
}
