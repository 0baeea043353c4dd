//! Authentication: HS256 access tokens (jsonwebtoken with the `rust_crypto` backend) and
//! the extractor that turns `Authorization: Bearer` into a [`Caller`].

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{FromRef, FromRequestParts};
use http::header;
use http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use keel_errors::ApiError;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{Caller, Role};

/// Issuer claim of every token.
pub const ISSUER: &str = "keel-reference-service";

/// The `WWW-Authenticate` challenge for a missing token (RFC 6750 §3).
const CHALLENGE: &str = "Bearer realm=\"keel\"";
/// The challenge for a token that is malformed, forged or expired.
const CHALLENGE_INVALID: &str = "Bearer realm=\"keel\", error=\"invalid_token\", error_description=\"The access token is invalid or expired\"";

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: Uuid,
    /// The user's role when the token was issued.
    pub role: Role,
    /// Expiry (seconds since the epoch).
    pub exp: u64,
    /// Issued at (seconds since the epoch).
    pub iat: u64,
    /// Unique token id (for audit logs and future revocation lists).
    pub jti: Uuid,
    /// Issuer.
    pub iss: String,
}

/// Issues and verifies access tokens.
#[derive(Clone)]
pub struct TokenService {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl fmt::Debug for TokenService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenService")
            .field("keys", &"[REDACTED]")
            .field("ttl", &self.ttl)
            .finish()
    }
}

/// An access token as returned by login.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AccessToken {
    /// The JWT.
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: String,
    /// Lifetime in seconds.
    #[schema(example = 900)]
    pub expires_in: u64,
}

impl TokenService {
    /// A token service signing with `secret` (HS256), tokens valid for `ttl`.
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss"]);
        validation.set_issuer(&[ISSUER]);
        // Clock skew between replicas; tokens live for minutes.
        validation.leeway = 30;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        }
    }

    /// Issues a token for `user` with `role`.
    ///
    /// # Errors
    /// 500 when signing fails (it does not for HS256 with a valid key).
    pub fn issue(&self, user: Uuid, role: Role) -> Result<AccessToken, ApiError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let claims = Claims {
            sub: user,
            role,
            iat: now,
            exp: now + self.ttl.as_secs(),
            jti: Uuid::new_v4(),
            iss: ISSUER.to_owned(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(ApiError::internal)?;
        Ok(AccessToken {
            access_token: token,
            token_type: "Bearer".to_owned(),
            expires_in: self.ttl.as_secs(),
        })
    }

    /// Verifies signature, algorithm, issuer and expiry, and returns the claims.
    ///
    /// # Errors
    /// 401 `UNAUTHENTICATED` with an `invalid_token` challenge; the reason is logged at
    /// debug level only (a client learns nothing about which check failed).
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|d| d.claims)
            .map_err(|e| {
                tracing::debug!(reason = ?e.kind(), "rejected access token");
                invalid_token()
            })
    }
}

fn invalid_token() -> ApiError {
    ApiError::unauthenticated("The access token is invalid or expired")
        .with_www_authenticate(CHALLENGE_INVALID)
}

/// The bearer token of a request, if it carries one.
pub fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .filter(|t| !t.is_empty())
}

/// The authenticated caller, from `Authorization: Bearer <jwt>`: 401 `UNAUTHENTICATED`
/// with a `WWW-Authenticate` challenge when the header is missing, not a bearer token, or
/// the token is invalid or expired.
impl<S> FromRequestParts<S> for Caller
where
    TokenService: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if !parts.headers.contains_key(header::AUTHORIZATION) {
            return Err(ApiError::unauthenticated("Authentication required")
                .with_www_authenticate(CHALLENGE));
        }
        let token = bearer(parts).ok_or_else(invalid_token)?;
        let claims = TokenService::from_ref(state).verify(token)?;
        Ok(Self {
            id: claims.sub,
            role: claims.role,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn round_trip() {
        let svc = TokenService::new(SECRET, Duration::from_secs(60));
        let id = Uuid::new_v4();
        let t = svc.issue(id, Role::Admin).unwrap();
        assert_eq!(t.token_type, "Bearer");
        assert_eq!(t.expires_in, 60);
        let c = svc.verify(&t.access_token).unwrap();
        assert_eq!((c.sub, c.role, c.iss.as_str()), (id, Role::Admin, ISSUER));
        assert!(c.exp > c.iat);
    }

    #[test]
    fn forged_and_expired_tokens_are_rejected() {
        let svc = TokenService::new(SECRET, Duration::from_secs(60));
        let other = TokenService::new(
            b"another secret of at least 32 bytes!!",
            Duration::from_secs(60),
        );
        let forged = other.issue(Uuid::new_v4(), Role::Admin).unwrap();
        let err = svc.verify(&forged.access_token).unwrap_err();
        assert_eq!(err.code(), "UNAUTHENTICATED");
        assert!(err.www_authenticate().unwrap().contains("invalid_token"));

        // Expired beyond the leeway.
        let claims = Claims {
            sub: Uuid::new_v4(),
            role: Role::User,
            iat: 1,
            exp: 2,
            jti: Uuid::new_v4(),
            iss: ISSUER.into(),
        };
        let old = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert_eq!(svc.verify(&old).unwrap_err().code(), "UNAUTHENTICATED");

        // `alg: none` and garbage.
        assert!(svc.verify("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.").is_err());
        assert!(svc.verify("garbage").is_err());
    }
}
