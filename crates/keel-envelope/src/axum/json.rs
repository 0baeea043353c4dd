use axum_core::extract::rejection::BytesRejection;
use axum_core::extract::{FromRequest, Request};
use bytes::Bytes;
use http::{HeaderMap, header};
use serde::de::DeserializeOwned;

use super::de_error::to_field_error;
use super::shape;
use super::{Rejection, RejectionKind, request_id_from_headers};

/// A JSON body extractor whose rejections are keel error envelopes.
///
/// Like axum's `Json`, it needs a JSON `Content-Type` and honours `DefaultBodyLimit`;
/// unlike it, every failure is a typed [`Rejection`] rendered as an envelope, a wrong
/// type or missing field names its path (`items[2].sku`), and the submitted value is
/// never echoed in the error.
///
/// ```
/// use axum::{Router, routing::post};
/// use keel_envelope::{Envelope, axum::Json};
///
/// #[derive(serde::Deserialize)]
/// struct Login { email: String }
///
/// async fn login(Json(body): Json<Login>) -> Envelope<String> {
///     Envelope::new(body.email)
/// }
/// let app: Router = Router::new().route("/login", post(login));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Rejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let request_id = request_id_from_headers(req.headers()).map(str::to_owned);
        if !is_json_content_type(req.headers()) {
            return Err(Rejection::new(
                RejectionKind::UnsupportedMediaType,
                request_id,
            ));
        }
        let bytes = match Bytes::from_request(req, state).await {
            Ok(b) => b,
            Err(e) => return Err(Rejection::new(bytes_rejection_kind(&e), request_id)),
        };
        Self::from_bytes(&bytes).map_err(|kind| Rejection::new(kind, request_id))
    }
}

impl<T: DeserializeOwned> Json<T> {
    /// Deserializes a JSON body that has already been read.
    ///
    /// # Errors
    /// [`RejectionKind::MalformedJson`] for a syntax error, [`RejectionKind::InvalidField`]
    /// for a type or shape mismatch — including a body that is not a JSON object when `T`
    /// is a struct or a map (serde's derive would accept the array form `[null, null]`).
    ///
    /// ```
    /// use keel_envelope::axum::{Json, RejectionKind};
    /// let err = Json::<Vec<u8>>::from_bytes(b"[1, 2,").unwrap_err();
    /// assert!(matches!(err, RejectionKind::MalformedJson { .. }));
    ///
    /// #[derive(Debug, serde::Deserialize)]
    /// struct Patch { name: Option<String> }
    /// let err = Json::<Patch>::from_bytes(b"[null]").unwrap_err();
    /// assert!(matches!(err, RejectionKind::InvalidField(_)));
    /// ```
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, RejectionKind> {
        // A struct (or map) target takes a JSON object only: serde's derive would also
        // take the array form (`[null, null]`), which no API documents.
        if shape::expects_object::<T>() && !shape::is_object(bytes) {
            // Syntax errors keep their own answer (400); a well-formed non-object is 422.
            serde_json::from_slice::<serde::de::IgnoredAny>(bytes).map_err(|e| malformed(&e))?;
            return Err(RejectionKind::InvalidField(
                crate::FieldError::new(
                    &crate::FieldPath::root(),
                    "invalid_type",
                    "expected a JSON object",
                )
                .with_param("expected", "object"),
            ));
        }
        let de = &mut serde_json::Deserializer::from_slice(bytes);
        let value = serde_path_to_error::deserialize(&mut *de).map_err(|err| {
            let inner = err.inner();
            match inner.classify() {
                serde_json::error::Category::Data => {
                    RejectionKind::InvalidField(to_field_error(err.path(), &inner.to_string()))
                }
                _ => malformed(inner),
            }
        })?;
        // Trailing garbage after the value is a syntax error.
        de.end().map_err(|e| malformed(&e))?;
        Ok(Self(value))
    }
}

fn malformed(e: &serde_json::Error) -> RejectionKind {
    RejectionKind::MalformedJson {
        line: e.line(),
        column: e.column(),
    }
}

pub(super) fn bytes_rejection_kind(e: &BytesRejection) -> RejectionKind {
    match e {
        BytesRejection::FailedToBufferBody(
            axum_core::extract::rejection::FailedToBufferBody::LengthLimitError(_),
        ) => RejectionKind::PayloadTooLarge,
        _ => RejectionKind::BodyUnreadable,
    }
}

fn is_json_content_type(headers: &HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct.split(';').next().unwrap_or("").trim();
    let Some((ty, subtype)) = essence.split_once('/') else {
        return false;
    };
    ty.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json")
            || subtype.len() > 5 && subtype[subtype.len() - 5..].eq_ignore_ascii_case("+json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(ct: Option<&str>, expected: bool) {
        let mut h = HeaderMap::new();
        if let Some(ct) = ct {
            h.insert(header::CONTENT_TYPE, ct.parse().unwrap());
        }
        assert_eq!(is_json_content_type(&h), expected, "{ct:?}");
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Patch {
        first: Option<String>,
        last: Option<String>,
    }

    #[test]
    fn a_struct_takes_an_object_only() {
        for body in [&b"[null, null]"[..], b"null", b"\"x\"", b"1"] {
            let Err(RejectionKind::InvalidField(fe)) = Json::<Patch>::from_bytes(body) else {
                panic!("{body:?} accepted");
            };
            assert_eq!((fe.field.as_str(), fe.code.as_ref()), ("", "invalid_type"));
        }
        let malformed = Json::<Patch>::from_bytes(b"[null,");
        assert!(matches!(
            malformed,
            Err(RejectionKind::MalformedJson { .. })
        ));
        assert!(Json::<Patch>::from_bytes(b" {\"first\": null}").is_ok());
        // A sequence target still takes an array.
        assert!(Json::<Vec<Option<u8>>>::from_bytes(b"[null, null]").is_ok());
    }

    #[test]
    fn content_types() {
        check(Some("application/json"), true);
        check(Some("Application/JSON; charset=utf-8"), true);
        check(Some("application/problem+json"), true);
        check(Some("application/+json"), false);
        check(Some("text/plain"), false);
        check(Some("application/jsonx"), false);
        check(None, false);
    }
}
