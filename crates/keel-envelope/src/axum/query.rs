use axum_core::extract::FromRequestParts;
use http::request::Parts;
use serde::de::DeserializeOwned;

use super::de_error::to_field_error;
use super::{Rejection, RejectionKind, request_id_from_headers};

/// A query-string extractor whose rejections are 422 envelopes naming the parameter.
///
/// ```
/// use axum::{Router, routing::get};
/// use keel_envelope::{Envelope, PageBounds, PageRequest, axum::Query};
///
/// async fn list(Query(req): Query<PageRequest>) -> Envelope<u64> {
///     let page = req.resolve(&PageBounds::default()).map(|p| p.page).unwrap_or(1);
///     Envelope::new(page)
/// }
/// let app: Router = Router::new().route("/items", get(list));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        Self::from_query(query).map_err(|kind| {
            Rejection::new(
                kind,
                request_id_from_headers(&parts.headers).map(str::to_owned),
            )
        })
    }
}

impl<T: DeserializeOwned> Query<T> {
    /// Deserializes a raw query string (without the `?`).
    ///
    /// # Errors
    /// [`RejectionKind::InvalidField`] naming the offending parameter.
    ///
    /// ```
    /// use keel_envelope::{PageRequest, axum::{Query, RejectionKind}};
    /// let Query(p) = Query::<PageRequest>::from_query("page=2").unwrap();
    /// assert_eq!(p.page, Some(2));
    /// let err = Query::<PageRequest>::from_query("page=abc").unwrap_err();
    /// assert!(matches!(err, RejectionKind::InvalidField(f) if f.field == "page"));
    /// ```
    pub fn from_query(query: &str) -> Result<Self, RejectionKind> {
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(Self)
            .map_err(|err| {
                RejectionKind::InvalidField(to_field_error(err.path(), &err.inner().to_string()))
            })
    }
}
