//! The request and response bodies of the session routes, with serde (and, with feature
//! `utoipa`, OpenAPI schemas whose bounds match what the flow accepts).
//!
//! Secrets (passwords, tokens, codes) are kept out of every `Debug`. Answers carrying
//! tokens or codes must not be cached: send them with `Cache-Control: no-store` (RFC 6749
//! §5.1).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::login::DeviceToken;

/// `Debug` for a struct whose listed fields are secrets.
macro_rules! redacted_debug {
    ($name:ident { $($field:ident),* } secret { $($secret:ident),* }) => {
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    $(.field(stringify!($field), &self.$field))*
                    $(.field(stringify!($secret), &"[REDACTED]"))*
                    .finish()
            }
        }
    };
}

/// Tokens of a session (RFC 6749 §5.1 plus the refresh token).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct TokenPair {
    /// The access token (JWT, `Authorization: Bearer`).
    pub access_token: String,
    /// Always `Bearer`.
    #[cfg_attr(feature = "utoipa", schema(example = "Bearer"))]
    pub token_type: String,
    /// Access-token lifetime in seconds.
    #[cfg_attr(feature = "utoipa", schema(example = 900))]
    pub expires_in: u64,
    /// Opaque refresh token, single use: a refresh returns a new one.
    pub refresh_token: String,
}
redacted_debug!(TokenPair { token_type, expires_in } secret { access_token, refresh_token });

/// A login that needs its second factor.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct MfaRequired {
    /// Always `true`.
    pub mfa_required: bool,
    /// Single-use challenge for the second-factor step.
    pub mfa_token: String,
    /// Its lifetime in seconds.
    pub expires_in: u64,
}
redacted_debug!(MfaRequired { mfa_required, expires_in } secret { mfa_token });

/// The body of a login answer: tokens, or the second factor to give (a client tells
/// them apart by `mfa_required`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub enum LoginAnswer {
    /// Signed in.
    Tokens(TokenPair),
    /// Complete with the second factor.
    MfaRequired(MfaRequired),
}

/// What a login with the right password leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginOutcome {
    /// Signed in.
    Tokens {
        /// The session's tokens.
        tokens: TokenPair,
        /// A device token for the client to keep (normally the cookie of
        /// [`DeviceToken::set_cookie`]): its owner's later logins are counted apart from
        /// an attacker's, so a lockout does not lock them out. `None` if one could not be
        /// issued (logged).
        device: Option<DeviceToken>,
    },
    /// The account has a second factor: complete with
    /// [`SessionFlow::complete_mfa`](super::SessionFlow::complete_mfa).
    MfaRequired(MfaRequired),
}

/// A TOTP enrollment to confirm with a first code.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct MfaEnrollment {
    /// The secret in base32, for manual entry.
    pub secret: String,
    /// The `otpauth://` URI, for a QR code.
    pub otpauth_uri: String,
}
redacted_debug!(MfaEnrollment {} secret { secret, otpauth_uri });

/// Recovery codes, shown once.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema), schema(as = RecoveryCodes))]
pub struct RecoveryCodeList {
    /// Single-use codes accepted in place of a TOTP code.
    pub recovery_codes: Vec<String>,
}
redacted_debug!(RecoveryCodeList {} secret { recovery_codes });

impl From<crate::RecoveryCodes> for RecoveryCodeList {
    fn from(codes: crate::RecoveryCodes) -> Self {
        Self {
            recovery_codes: codes.iter().map(str::to_owned).collect(),
        }
    }
}

/// A created API key: the secret is shown once.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema), schema(as = CreatedKey))]
pub struct IssuedApiKey {
    /// Key id.
    pub id: String,
    /// The key (`X-API-Key: …`).
    pub key: String,
}
redacted_debug!(IssuedApiKey { id } secret { key });

impl From<crate::CreatedApiKey> for IssuedApiKey {
    fn from(created: crate::CreatedApiKey) -> Self {
        Self {
            id: created.record().id.clone(),
            key: created.key().expose_secret().to_owned(),
        }
    }
}

/// Login request body.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct LoginRequest {
    /// E-mail address (case-insensitive).
    #[cfg_attr(
        feature = "utoipa",
        schema(example = "ada@example.org", min_length = 3, max_length = 254)
    )]
    pub email: String,
    /// Password.
    #[cfg_attr(feature = "utoipa", schema(example = "correct horse battery staple",
        format = Password, min_length = 1, max_length = 1024))]
    pub password: String,
}
redacted_debug!(LoginRequest { email } secret { password });

/// Second-factor body: a login challenge and a TOTP or recovery code.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema), schema(as = MfaLogin))]
pub struct MfaLoginRequest {
    /// The `mfa_token` of the login answer.
    #[cfg_attr(feature = "utoipa", schema(min_length = 1, max_length = 256))]
    pub mfa_token: String,
    /// A 6-digit TOTP code or a recovery code.
    #[cfg_attr(
        feature = "utoipa",
        schema(example = "123456", min_length = 1, max_length = 64)
    )]
    pub code: String,
}
redacted_debug!(MfaLoginRequest {} secret { mfa_token, code });

/// A TOTP code.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct CodeRequest {
    /// The 6-digit code the authenticator app shows.
    #[cfg_attr(
        feature = "utoipa",
        schema(example = "123456", min_length = 1, max_length = 64)
    )]
    pub code: String,
}
redacted_debug!(CodeRequest {} secret { code });

/// A refresh token: the body of refresh and logout.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct RefreshRequest {
    /// The refresh token of the last token answer (single use).
    #[cfg_attr(
        feature = "utoipa",
        schema(
            min_length = 1,
            max_length = 256,
            pattern = r"^[^\x00-\x1F\x7F-\x9F]+$"
        )
    )]
    pub refresh_token: String,
}
redacted_debug!(RefreshRequest {} secret { refresh_token });

/// A password change.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema), schema(as = PasswordChange))]
pub struct PasswordChangeRequest {
    /// The current password.
    #[cfg_attr(feature = "utoipa", schema(format = Password, min_length = 1, max_length = 1024))]
    pub current_password: String,
    /// The new password: 8–128 characters, not a common password (a bundled list), not
    /// your e-mail or name.
    #[cfg_attr(feature = "utoipa", schema(format = Password, min_length = 8, max_length = 128))]
    pub new_password: String,
}
redacted_debug!(PasswordChangeRequest {} secret { current_password, new_password });

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets() {
        let pair = TokenPair {
            access_token: "acc-secret".into(),
            token_type: "Bearer".into(),
            expires_in: 900,
            refresh_token: "ref-secret".into(),
        };
        let login: LoginRequest =
            serde_json::from_str(r#"{"email":"a@b.c","password":"pw-secret"}"#).unwrap();
        let change: PasswordChangeRequest = serde_json::from_str(
            r#"{"current_password":"cur-secret","new_password":"new-secret"}"#,
        )
        .unwrap();
        let mfa: MfaLoginRequest =
            serde_json::from_str(r#"{"mfa_token":"tok-secret","code":"code-secret"}"#).unwrap();
        let refresh: RefreshRequest =
            serde_json::from_str(r#"{"refresh_token":"rt-secret"}"#).unwrap();
        let all = format!("{pair:?}{login:?}{change:?}{mfa:?}{refresh:?}");
        for secret in [
            "acc-", "ref-", "pw-", "cur-", "new-", "tok-", "code-", "rt-",
        ] {
            assert!(!all.contains(secret), "{secret} leaked: {all}");
        }
        assert!(all.contains("a@b.c") && all.contains("900"));
    }

    #[test]
    fn unknown_fields_are_refused() {
        let r = serde_json::from_str::<LoginRequest>(r#"{"email":"a","password":"b","x":1}"#);
        assert!(r.is_err());
        let r = serde_json::from_str::<CodeRequest>(r#"{"code":"1","admin":true}"#);
        assert!(r.is_err());
    }

    #[test]
    fn token_pair_is_the_rfc_6749_body_with_a_refresh_token() {
        let pair = TokenPair {
            access_token: "a".into(),
            token_type: "Bearer".into(),
            expires_in: 900,
            refresh_token: "r".into(),
        };
        assert_eq!(
            serde_json::to_value(&pair).unwrap(),
            serde_json::json!({"access_token": "a", "token_type": "Bearer", "expires_in": 900, "refresh_token": "r"})
        );
        // The login answer is untagged: the token body as is, or the challenge.
        let tokens = serde_json::to_value(LoginAnswer::Tokens(pair.clone())).unwrap();
        assert_eq!(tokens, serde_json::to_value(&pair).unwrap());
        let challenge = LoginAnswer::MfaRequired(MfaRequired {
            mfa_required: true,
            mfa_token: "m".into(),
            expires_in: 300,
        });
        let json = serde_json::to_value(&challenge).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"mfa_required": true, "mfa_token": "m", "expires_in": 300})
        );
        assert_eq!(
            serde_json::from_value::<LoginAnswer>(json).unwrap(),
            challenge
        );
    }

    #[cfg(feature = "utoipa")]
    #[test]
    fn schemas_carry_the_bounds_and_the_documented_names() {
        use utoipa::{PartialSchema, ToSchema};

        fn schema<T: PartialSchema>() -> serde_json::Value {
            serde_json::to_value(T::schema()).unwrap()
        }
        let login = schema::<LoginRequest>();
        assert_eq!(login["properties"]["email"]["maxLength"], 254);
        assert_eq!(login["properties"]["password"]["maxLength"], 1024);
        assert_eq!(login["properties"]["password"]["format"], "password");
        assert_eq!(login["additionalProperties"], false);
        let change = schema::<PasswordChangeRequest>();
        assert_eq!(change["properties"]["new_password"]["minLength"], 8);
        assert_eq!(change["properties"]["new_password"]["maxLength"], 128);
        let mfa = schema::<MfaLoginRequest>();
        assert_eq!(mfa["properties"]["mfa_token"]["maxLength"], 256);
        assert_eq!(mfa["properties"]["code"]["maxLength"], 64);
        assert_eq!(
            schema::<CodeRequest>()["properties"]["code"]["maxLength"],
            64
        );
        assert_eq!(
            schema::<TokenPair>()["required"],
            serde_json::json!(["access_token", "token_type", "expires_in", "refresh_token"])
        );
        let names = [
            MfaLoginRequest::name(),
            PasswordChangeRequest::name(),
            RecoveryCodeList::name(),
            IssuedApiKey::name(),
        ];
        assert_eq!(
            names,
            ["MfaLogin", "PasswordChange", "RecoveryCodes", "CreatedKey"]
        );
    }
}
