//! axum extractors (feature `axum`): deserialize, normalize, validate, and reject
//! with a 422 `VALIDATION_ERROR` envelope that lists every field error.
//!
//! | failure | status | `error.code` |
//! |---|---|---|
//! | wrong/missing `Content-Type`, body too large, not JSON, wrong type | as keel-envelope's [`Json`]: 415 / 413 / 400 / 422 | |
//! | a rule is broken | 422 | `VALIDATION_ERROR` with all `fields` |
//!
//! ```
//! use axum::{Router, routing::post, http::StatusCode};
//! use keel_envelope::Envelope;
//! use keel_validation::{Validate, axum::ValidJson};
//!
//! #[derive(serde::Deserialize, Validate)]
//! struct NewUser {
//!     #[normalize(email)]
//!     #[validate(email)]
//!     email: String,
//! }
//!
//! async fn create(ValidJson(user): ValidJson<NewUser>) -> (StatusCode, Envelope<String>) {
//!     (StatusCode::CREATED, Envelope::new(user.email))
//! }
//! let app: Router = Router::new().route("/users", post(create));
//! ```

use axum_core::extract::{FromRequest, FromRequestParts, Request};
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;
use keel_envelope::axum::{Json, Query, Rejection, json_response, request_id_from_headers};
use serde::de::DeserializeOwned;

use crate::{Validate, ValidationErrors};

/// Why [`ValidJson`] or [`Valid`] rejected a request.
///
/// ```
/// use axum::response::IntoResponse;
/// use keel_validation::{Path, ValidationErrors, Violation, axum::ValidRejection};
/// let mut errors = ValidationErrors::new();
/// errors.add(&Path::root().key("email"), Violation::new("invalid_email", "is not a valid email address"));
/// let r: ValidRejection<keel_envelope::axum::Rejection> =
///     ValidRejection::Invalid { errors, request_id: Some("r-1".into()) };
/// assert_eq!(r.errors().map(|e| e.len()), Some(1));
/// assert_eq!(r.into_response().status(), http::StatusCode::UNPROCESSABLE_ENTITY);
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum ValidRejection<R> {
    /// The inner extractor failed (its own response is used).
    Extract(R),
    /// The value broke at least one rule: 422 `VALIDATION_ERROR`.
    Invalid {
        /// Every field error, in declaration order.
        errors: ValidationErrors,
        /// The request id of the rejected request, when it had a sane one.
        request_id: Option<String>,
    },
}

impl<R> ValidRejection<R> {
    /// The validation errors, when the rejection is [`ValidRejection::Invalid`].
    pub fn errors(&self) -> Option<&ValidationErrors> {
        match self {
            Self::Invalid { errors, .. } => Some(errors),
            Self::Extract(_) => None,
        }
    }
}

impl<R: std::fmt::Display> std::fmt::Display for ValidRejection<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Extract(r) => r.fmt(f),
            Self::Invalid { errors, .. } => errors.fmt(f),
        }
    }
}

impl<R: std::error::Error> std::error::Error for ValidRejection<R> {}

impl<R: IntoResponse> IntoResponse for ValidRejection<R> {
    fn into_response(self) -> Response {
        match self {
            Self::Extract(r) => r.into_response(),
            Self::Invalid { errors, request_id } => invalid_response(errors, request_id),
        }
    }
}

fn invalid_response(errors: ValidationErrors, request_id: Option<String>) -> Response {
    tracing::debug!(
        errors = errors.len(),
        %errors,
        "request rejected by validation"
    );
    json_response(
        StatusCode::UNPROCESSABLE_ENTITY,
        &errors.into_error_envelope(request_id),
    )
}

/// A 422 `VALIDATION_ERROR` envelope without a request id. Return
/// `Result<_, ValidationErrors>` from a handler after an async check.
impl IntoResponse for ValidationErrors {
    fn into_response(self) -> Response {
        invalid_response(self, None)
    }
}

/// A JSON body that is deserialized (rejections as keel-envelope's
/// [`Json`]), normalized and validated.
///
/// ```
/// use keel_validation::{Validate, axum::ValidJson};
/// # #[derive(serde::Deserialize, Validate)] struct Signup { #[validate(length(min = 1))] name: String }
/// async fn signup(ValidJson(body): ValidJson<Signup>) -> String {
///     body.name
/// }
/// # let _: axum::Router = axum::Router::new().route("/", axum::routing::post(signup));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ValidJson<T>(pub T);

impl<T, S> FromRequest<S> for ValidJson<T>
where
    T: DeserializeOwned + Validate,
    S: Send + Sync,
{
    type Rejection = ValidRejection<Rejection>;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let request_id = request_id_from_headers(req.headers()).map(str::to_owned);
        let Json(value) = Json::<T>::from_request(req, state)
            .await
            .map_err(ValidRejection::Extract)?;
        match value.clean() {
            Ok(v) => Ok(Self(v)),
            Err(errors) => Err(ValidRejection::Invalid { errors, request_id }),
        }
    }
}

/// An extractor whose value can be validated: implemented for keel-envelope's
/// `Json` and `Query`. Implement it for your own extractors to use [`Valid`].
///
/// ```
/// use keel_envelope::axum::Json;
/// use keel_validation::{Validate, axum::HasValidatable};
/// #[derive(Validate)]
/// struct Body { #[validate(length(max = 3))] name: String }
/// let mut j = Json(Body { name: "toolong".into() });
/// assert!(j.value_mut().validate().is_err());
/// ```
pub trait HasValidatable {
    /// The extracted value.
    type Value: Validate;
    /// The extracted value, mutably (for normalization).
    fn value_mut(&mut self) -> &mut Self::Value;
}

impl<T: Validate> HasValidatable for Json<T> {
    type Value = T;
    fn value_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: Validate> HasValidatable for Query<T> {
    type Value = T;
    fn value_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

/// Wraps another extractor `E` (e.g. `Query<T>`): runs it, then normalizes and
/// validates the value it produced.
///
/// ```
/// use keel_envelope::axum::Query;
/// use keel_validation::{Validate, axum::Valid};
///
/// #[derive(serde::Deserialize, Validate)]
/// struct Search {
///     #[normalize(collapse_whitespace)]
///     #[validate(length(min = 2, max = 100))]
///     q: String,
/// }
///
/// async fn search(Valid(Query(s)): Valid<Query<Search>>) -> String {
///     s.q
/// }
/// let app: axum::Router = axum::Router::new().route("/search", axum::routing::get(search));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Valid<E>(pub E);

impl<S, E> FromRequest<S> for Valid<E>
where
    E: FromRequest<S> + HasValidatable,
    S: Send + Sync,
{
    type Rejection = ValidRejection<E::Rejection>;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let request_id = request_id_from_headers(req.headers()).map(str::to_owned);
        let extracted = E::from_request(req, state)
            .await
            .map_err(ValidRejection::Extract)?;
        check(extracted, request_id).map(Self)
    }
}

impl<S, E> FromRequestParts<S> for Valid<E>
where
    E: FromRequestParts<S> + HasValidatable,
    S: Send + Sync,
{
    type Rejection = ValidRejection<E::Rejection>;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let request_id = request_id_from_headers(&parts.headers).map(str::to_owned);
        let extracted = E::from_request_parts(parts, state)
            .await
            .map_err(ValidRejection::Extract)?;
        check(extracted, request_id).map(Self)
    }
}

fn check<E: HasValidatable, R>(
    mut extracted: E,
    request_id: Option<String>,
) -> Result<E, ValidRejection<R>> {
    let value = extracted.value_mut();
    value.normalize();
    match value.validate() {
        Ok(()) => Ok(extracted),
        Err(errors) => Err(ValidRejection::Invalid { errors, request_id }),
    }
}
