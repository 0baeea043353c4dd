//! [`Claims`]: the typed, extensible payload of an access token.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The claims of an access token: registered claims (RFC 7519 §4.1), authorization data
/// (`roles`, and `scope` for permissions as in RFC 9068 §2.2.3), the revocation data keel-auth
/// checks (`ver`, `sid`) and your own claims, flattened into the same JSON object.
///
/// `iat`, `exp`, `iss`, `aud` and `jti` are filled in by
/// [`AccessTokens::issue`](super::AccessTokens::issue); `ver` by
/// [`Authenticator::issue`](crate::Authenticator::issue).
///
/// ```
/// use keel_auth::token::Claims;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Clone, Default, Serialize, Deserialize)]
/// struct Tenant {
///     tenant: String,
/// }
///
/// let claims = Claims::with_custom("user-42", Tenant { tenant: "acme".into() })
///     .roles(["admin"])
///     .permissions(["users:read", "users:write"])
///     .session("sess-7");
/// assert!(claims.has_role("admin"));
/// assert!(claims.has_permission("users:write"));
/// assert!(claims.require_permission("billing:read").is_err());
/// assert_eq!(claims.custom.tenant, "acme");
///
/// let json = serde_json::to_value(&claims).unwrap();
/// assert_eq!(json["scope"], "users:read users:write");
/// assert_eq!(json["tenant"], "acme");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Claims<C = ()> {
    /// Subject: whom the token is about (a user id). Revocation is per subject.
    pub sub: String,
    /// Roles granted to the subject when the token was issued.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Permissions (OAuth scopes), serialized as the space-separated `scope` claim.
    #[serde(
        default,
        rename = "scope",
        with = "scope",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub permissions: Vec<String>,
    /// The subject's token version at issue time; older than the current version means
    /// revoked.
    #[serde(default)]
    pub ver: u64,
    /// Unique token id.
    #[serde(default)]
    pub jti: String,
    /// Session id (e.g. the refresh-token family): lets one session be revoked alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Issued at, seconds since the Unix epoch.
    #[serde(default)]
    pub iat: u64,
    /// Expiry, seconds since the Unix epoch.
    #[serde(default)]
    pub exp: u64,
    /// Not before, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Audiences (a string or an array on the wire).
    #[serde(default, with = "audience", skip_serializing_if = "Vec::is_empty")]
    pub aud: Vec<String>,
    /// Your own claims, flattened into the payload. `()` for none.
    #[serde(flatten)]
    pub custom: C,
}

impl<C: Default> Claims<C> {
    /// Claims for `subject`, with default custom claims.
    ///
    /// ```
    /// let claims = keel_auth::token::Claims::<()>::new("user-1").roles(["admin"]);
    /// assert_eq!(claims.sub, "user-1");
    /// ```
    pub fn new(subject: impl Into<String>) -> Self {
        Self::with_custom(subject, C::default())
    }
}

impl<C> Claims<C> {
    /// Claims for `subject` with custom claims `custom`.
    pub fn with_custom(subject: impl Into<String>, custom: C) -> Self {
        Self {
            sub: subject.into(),
            roles: Vec::new(),
            permissions: Vec::new(),
            ver: 0,
            jti: String::new(),
            sid: None,
            iat: 0,
            exp: 0,
            nbf: None,
            iss: None,
            aud: Vec::new(),
            custom,
        }
    }

    /// Sets the roles.
    #[must_use]
    pub fn roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the permissions (scopes). A permission must not contain a space.
    #[must_use]
    pub fn permissions<I, S>(mut self, permissions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.permissions = permissions.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the session id.
    #[must_use]
    pub fn session(mut self, sid: impl Into<String>) -> Self {
        self.sid = Some(sid.into());
        self
    }

    /// Whether the token grants role `role`.
    #[must_use]
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// Whether the token grants permission `permission`.
    #[must_use]
    pub fn has_permission(&self, permission: &str) -> bool {
        self.permissions.iter().any(|p| p == permission)
    }

    /// `Ok` when the token grants role `role`.
    ///
    /// # Errors
    /// [`Error::InsufficientScope`] (403 `insufficient_scope`) otherwise.
    pub fn require_role(&self, role: &str) -> Result<()> {
        if self.has_role(role) {
            Ok(())
        } else {
            tracing::debug!(role, "missing required role");
            Err(Error::InsufficientScope)
        }
    }

    /// `Ok` when the token grants permission `permission`.
    ///
    /// # Errors
    /// [`Error::InsufficientScope`] (403 `insufficient_scope`) otherwise.
    pub fn require_permission(&self, permission: &str) -> Result<()> {
        if self.has_permission(permission) {
            Ok(())
        } else {
            tracing::debug!(permission, "missing required permission");
            Err(Error::InsufficientScope)
        }
    }
}

/// `scope`: a space-separated string on the wire, a list in memory.
mod scope {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[String], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.join(" "))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(s.split(' ')
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect())
    }
}

/// `aud`: a string or an array of strings (RFC 7519 §4.1.3); one audience is written as a
/// string.
mod audience {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }

    pub(super) fn serialize<S: Serializer>(v: &[String], s: S) -> Result<S::Ok, S::Error> {
        match v {
            [one] => one.serialize(s),
            many => many.serialize(s),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        Ok(match OneOrMany::deserialize(d)? {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_unit_custom_claims() {
        let mut c = Claims::<()>::new("u")
            .roles(["a", "b"])
            .permissions(["p:q"]);
        c.aud = vec!["api".into()];
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains(r#""aud":"api""#), "{json}");
        let back: Claims = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn audience_array_and_empty_scope() {
        let c: Claims = serde_json::from_str(
            r#"{"sub":"u","aud":["a","b"],"scope":"","jti":"j","iat":1,"exp":2}"#,
        )
        .unwrap();
        assert_eq!(c.aud, ["a", "b"]);
        assert!(c.permissions.is_empty());
    }

    #[test]
    fn require_helpers() {
        let c = Claims::<()>::new("u").roles(["admin"]);
        assert!(c.require_role("admin").is_ok());
        assert!(matches!(
            c.require_role("root"),
            Err(Error::InsufficientScope)
        ));
    }
}
