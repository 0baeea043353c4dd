//! The handlers of [`SessionRoutes`](super::SessionRoutes): bounds, then the flow.

// `ApiError` (headers, fields, source) is the answer of every handler and of the password
// rule; it is built once per failed request, never passed through hot loops.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::extract::{FromRequestParts, OptionalFromRequestParts, State};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use keel_envelope::axum::Json;
use keel_envelope::{Envelope, FieldError, FieldPath};
use keel_errors::ApiError;
use keel_ratelimit::axum::ClientIp;
use secrecy::{ExposeSecret, SecretString};

use super::Shared;
#[cfg(feature = "utoipa")]
use super::openapi::{E401, E422, EnrollmentBody, Error, LoginBody, RecoveryCodesBody, TokenBody};
use crate::axum::{ApiKeyAuth, ApiKeyRejection, ApiKeyRejectionKind, Authenticated, NoStore};
use crate::flow::{
    Account, CodeRequest, LoginAnswer, LoginOutcome, LoginRequest, MfaEnrollment, MfaLoginRequest,
    PasswordChangeRequest, RecoveryCodeList, RefreshRequest, TokenPair,
};
use crate::login::{DEFAULT_MAX_PASSWORD_LEN, MAX_EMAIL_LEN, device_cookie};
use crate::token::Claims;

/// Longest token (refresh, MFA challenge) accepted: every token the crate issues is far
/// shorter.
const MAX_TOKEN_CHARS: usize = 256;
/// Longest TOTP or recovery code accepted.
const MAX_CODE_CHARS: usize = 64;

/// `Cache-Control: no-store` and `Pragma: no-cache` on every answer (tokens, secrets,
/// and errors about them).
pub(super) async fn no_store(res: Response) -> Response {
    (NoStore, res).into_response()
}

/// A 422 for `field` when its length in characters is outside `min..=max` or (with
/// `controls`) it holds a control character. Lengths are counted up to `max + 1` only.
fn bounded(
    field: &'static str,
    value: &str,
    min: usize,
    max: usize,
    controls: bool,
) -> Option<FieldError> {
    let path = FieldPath::root().key(field);
    let n = value.chars().take(max.saturating_add(1)).count();
    if n < min {
        let e = FieldError::new(
            &path,
            "too_short",
            format!("must be at least {min} characters"),
        );
        return Some(e.with_param("min", min));
    }
    if n > max {
        let e = FieldError::new(
            &path,
            "too_long",
            format!("must be at most {max} characters"),
        );
        return Some(e.with_param("max", max));
    }
    if controls && value.chars().any(char::is_control) {
        return Some(FieldError::new(
            &path,
            "control_chars",
            "must not contain control characters",
        ));
    }
    None
}

/// `Err(422)` with every field error found.
fn check<const N: usize>(found: [Option<FieldError>; N]) -> Result<(), ApiError> {
    let fields: Vec<FieldError> = found.into_iter().flatten().collect();
    if fields.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(fields))
    }
}

/// The rule [`SessionRoutes`](super::SessionRoutes) applies to a new password unless
/// given another: NIST SP 800-63B's length (8–128 characters), no control characters,
/// and not the account's login name, its local part or one of its
/// [context words](Account::context) (compared case-insensitively). Not a common-password
/// list: add one in your rule, or use `password_policy_rule` (feature `validation`:
/// keel-validation's `PasswordPolicy`, which has one).
///
/// # Errors
/// 422 `VALIDATION_ERROR` naming `new_password` (codes `password_too_short`,
/// `password_too_long`, `control_chars`, `password_matches_user_info`).
///
/// ```
/// use keel_auth::axum::default_password_rule;
/// use keel_auth::flow::Account;
/// use secrecy::SecretString;
///
/// let ada = Account::new("u1", "ada@example.org", "$argon2id$…").context(["Lovelace"]);
/// let rule = |pw: &str| default_password_rule(&ada, &SecretString::from(pw));
/// assert!(rule("correct horse battery staple").is_ok());
/// assert_eq!(rule("short").unwrap_err().status(), 422);
/// assert!(rule("LOVELACE").is_err() && rule("Ada@Example.org").is_err());
/// ```
pub fn default_password_rule(account: &Account, new: &SecretString) -> Result<(), ApiError> {
    let pw = new.expose_secret();
    let path = FieldPath::root().key("new_password");
    let n = pw.chars().take(129).count();
    let error = if n < 8 {
        Some(
            FieldError::new(&path, "password_too_short", "must be at least 8 characters")
                .with_param("min", 8),
        )
    } else if n > 128 {
        Some(
            FieldError::new(&path, "password_too_long", "must be at most 128 characters")
                .with_param("max", 128),
        )
    } else if pw.chars().any(char::is_control) {
        Some(FieldError::new(
            &path,
            "control_chars",
            "must not contain control characters",
        ))
    } else {
        let login = account.login();
        let local = login.split_once('@').map_or(login, |(l, _)| l);
        let words = account.context_words().iter().map(String::as_str);
        // Lowercased once (one copy of the secret), not once per word compared.
        let pw = pw.trim().to_lowercase();
        let same = |w: &str| !w.trim().is_empty() && w.trim().to_lowercase() == pw;
        [login, local].into_iter().chain(words).any(same).then(|| {
            FieldError::new(
                &path,
                "password_matches_user_info",
                "must not be your e-mail address or name",
            )
        })
    };
    check([error])
}

/// The caller of a bearer route: an access token's subject and session. A valid API key
/// is refused 403 (keys never manage sessions), an invalid one 401.
pub(super) struct SessionUser(Arc<Claims>);

impl SessionUser {
    fn subject(&self) -> &str {
        &self.0.sub
    }
}

impl FromRequestParts<Shared> for SessionUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, ApiError> {
        if <ApiKeyAuth as OptionalFromRequestParts<Shared>>::from_request_parts(parts, state)
            .await?
            .is_some()
        {
            tracing::debug!("session route refused: called with an API key");
            return Err(ApiKeyRejection::new(ApiKeyRejectionKind::InsufficientScope).into());
        }
        let Authenticated(claims) =
            <Authenticated as FromRequestParts<Shared>>::from_request_parts(parts, state).await?;
        Ok(Self(claims))
    }
}

/// Exchanges e-mail and password for tokens, or for a TOTP challenge when the account has
/// a second factor. Only failures count against the limits.
#[cfg_attr(feature = "utoipa", utoipa::path(post, path = "/api/v1/auth/login", request_body = LoginRequest,
    responses(
        (status = 200, description = "Tokens, or `{mfa_required, mfa_token, expires_in}`", body = LoginBody),
        (status = 400, response = Error), (status = 401, response = E401), (status = 413, response = Error),
        (status = 415, response = Error), (status = 422, response = E422))))]
pub(super) async fn login(
    State(s): State<Shared>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Json(req): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    check([
        bounded("email", &req.email, 3, MAX_EMAIL_LEN, false),
        bounded(
            "password",
            &req.password,
            1,
            DEFAULT_MAX_PASSWORD_LEN,
            false,
        ),
    ])?;
    // The first `keel_device` cookie of any `Cookie` header (HTTP/2 may split them); a
    // forged, foreign or expired one is not honoured by the policy, never an error.
    let device = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(device_cookie);
    let password = SecretString::from(req.password);
    let outcome = s.0.flow.login(&req.email, &password, ip, device).await?;
    let (answer, device) = match outcome {
        LoginOutcome::Tokens { tokens, device } => (LoginAnswer::Tokens(tokens), device),
        LoginOutcome::MfaRequired(challenge) => (LoginAnswer::MfaRequired(challenge), None),
    };
    let mut res = Envelope::new(answer).into_response();
    let cookie = device.map(|d| d.set_cookie(s.0.login_cookie_path));
    if let Some(v) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(res)
}

/// Completes a login with the second factor.
#[cfg_attr(feature = "utoipa", utoipa::path(post, path = "/api/v1/auth/login/mfa", request_body = MfaLoginRequest,
    responses((status = 200, description = "Tokens", body = TokenBody),
        (status = 400, response = Error), (status = 401, response = E401), (status = 415, response = Error),
        (status = 422, response = E422))))]
pub(super) async fn login_mfa(
    State(s): State<Shared>,
    Json(req): Json<MfaLoginRequest>,
) -> Result<Envelope<TokenPair>, ApiError> {
    check([
        bounded("mfa_token", &req.mfa_token, 1, MAX_TOKEN_CHARS, false),
        bounded("code", &req.code, 1, MAX_CODE_CHARS, false),
    ])?;
    let tokens = s.0.flow.complete_mfa(&req.mfa_token, &req.code).await?;
    Ok(Envelope::new(tokens))
}

fn refresh_token(req: &RefreshRequest) -> Result<&str, ApiError> {
    let t = &req.refresh_token;
    check([bounded("refresh_token", t, 1, MAX_TOKEN_CHARS, true)])?;
    Ok(t)
}

/// Rotates a refresh token; presenting a spent one ends its whole session.
#[cfg_attr(feature = "utoipa", utoipa::path(post, path = "/api/v1/auth/refresh", request_body = RefreshRequest,
    responses((status = 200, description = "New tokens", body = TokenBody),
        (status = 400, response = Error), (status = 401, response = E401), (status = 415, response = Error),
        (status = 422, response = E422))))]
pub(super) async fn refresh(
    State(s): State<Shared>,
    Json(req): Json<RefreshRequest>,
) -> Result<Envelope<TokenPair>, ApiError> {
    let tokens = s.0.flow.refresh(refresh_token(&req)?).await?;
    Ok(Envelope::new(tokens))
}

/// Ends this session: its refresh token and its access tokens.
#[cfg_attr(feature = "utoipa", utoipa::path(post, path = "/api/v1/auth/logout", request_body = RefreshRequest,
    security(("bearer" = [])),
    responses((status = 204, description = "Logged out"),
        (status = 400, response = Error), (status = 401, response = E401), (status = 403, response = Error),
        (status = 415, response = Error), (status = 422, response = E422))))]
pub(super) async fn logout(
    State(s): State<Shared>,
    user: SessionUser,
    Json(req): Json<RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    let token = refresh_token(&req)?;
    let session = user.0.sid.as_deref();
    s.0.flow.logout(user.subject(), session, token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends every session of the caller, on every replica.
#[cfg_attr(feature = "utoipa", utoipa::path(post, path = "/api/v1/auth/logout-all", security(("bearer" = [])),
    responses((status = 204, description = "Every session ended"),
        (status = 401, response = E401), (status = 403, response = Error))))]
pub(super) async fn logout_all(
    State(s): State<Shared>,
    user: SessionUser,
) -> Result<StatusCode, ApiError> {
    s.0.flow.logout_everywhere(user.subject()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Changes the caller's password; every session ends.
#[cfg_attr(feature = "utoipa", utoipa::path(put, path = "/api/v1/auth/password", request_body = PasswordChangeRequest,
    security(("bearer" = [])),
    responses((status = 204, description = "Changed; log in again"),
        (status = 400, response = Error), (status = 401, response = E401), (status = 403, response = Error),
        (status = 415, response = Error), (status = 422, response = E422))))]
pub(super) async fn change_password(
    State(s): State<Shared>,
    user: SessionUser,
    ClientIp(ip): ClientIp,
    Json(req): Json<PasswordChangeRequest>,
) -> Result<StatusCode, ApiError> {
    let max = DEFAULT_MAX_PASSWORD_LEN;
    check([
        bounded("current_password", &req.current_password, 1, max, false),
        bounded("new_password", &req.new_password, 1, max, false),
    ])?;
    let current = SecretString::from(req.current_password);
    let new = SecretString::from(req.new_password);
    let rule = |account: &Account, new: &SecretString| (s.0.rule)(account, new);
    s.0.flow
        .change_password(user.subject(), ip, &current, &new, rule)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Starts a TOTP enrollment.
#[cfg_attr(feature = "utoipa", utoipa::path(post, path = "/api/v1/auth/mfa/totp", security(("bearer" = [])),
    responses((status = 200, description = "Secret and `otpauth://` URI", body = EnrollmentBody),
        (status = 401, response = E401), (status = 403, response = Error))))]
pub(super) async fn enroll_totp(
    State(s): State<Shared>,
    user: SessionUser,
) -> Result<Envelope<MfaEnrollment>, ApiError> {
    Ok(Envelope::new(s.0.flow.enroll_totp(user.subject()).await?))
}

/// Confirms the enrollment with a first code; answers the recovery codes.
#[cfg_attr(feature = "utoipa", utoipa::path(post, path = "/api/v1/auth/mfa/totp/confirm", request_body = CodeRequest,
    security(("bearer" = [])),
    responses((status = 200, description = "Enabled; recovery codes, shown once", body = RecoveryCodesBody),
        (status = 400, response = Error), (status = 401, response = E401), (status = 403, response = Error),
        (status = 415, response = Error), (status = 422, response = E422))))]
pub(super) async fn confirm_totp(
    State(s): State<Shared>,
    user: SessionUser,
    Json(req): Json<CodeRequest>,
) -> Result<Envelope<RecoveryCodeList>, ApiError> {
    check([bounded("code", &req.code, 1, MAX_CODE_CHARS, false)])?;
    let codes = s.0.flow.confirm_totp(user.subject(), &req.code).await?;
    Ok(Envelope::new(codes))
}
