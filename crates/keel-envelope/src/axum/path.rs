use axum::extract::path::ErrorKind as PathErrorKind;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, RawPathParams};
use http::request::Parts;
use serde::de::DeserializeOwned;

use super::de_error::field_error_at;
use super::{Rejection, RejectionKind, request_id_from_headers};
use crate::{FieldError, FieldPath};

/// A path-parameter extractor whose rejections are keel error envelopes.
///
/// Like axum's `Path` (it runs axum's own parameter deserializer), but a parameter that
/// does not parse is a 422 `VALIDATION_ERROR` naming the parameter (`GET /items/abc` on
/// `/items/{id}` with `Path<u64>`: field `id`, code `invalid_type`, "expected u64"),
/// never echoing the submitted value; a parameter that is not UTF-8 once
/// percent-decoded is a 400 `BAD_REQUEST` naming it; a route whose parameters do not
/// match the type is a 500 (a bug in the server, logged by keel-errors).
///
/// ```
/// use axum::{Router, routing::get};
/// use keel_envelope::{Envelope, axum::Path};
///
/// async fn item(Path(id): Path<u64>) -> Envelope<u64> {
///     Envelope::new(id)
/// }
///
/// #[derive(serde::Deserialize)]
/// struct OrderLine { order: u64, line: u32 }
///
/// async fn line(Path(p): Path<OrderLine>) -> Envelope<u32> {
///     Envelope::new(p.line)
/// }
///
/// let app: Router = Router::new()
///     .route("/items/{id}", get(item))
///     .route("/orders/{order}/lines/{line}", get(line));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(e) => {
                // Only on failure: the names of the route's parameters, for the errors
                // axum reports by position (a tuple) or without a name (one value).
                let names: Vec<String> = RawPathParams::from_request_parts(parts, state)
                    .await
                    .map(|raw| raw.iter().map(|(name, _)| name.to_owned()).collect())
                    .unwrap_or_default();
                Err(Rejection::new(
                    path_rejection_kind(&e, &names),
                    request_id_from_headers(&parts.headers).map(str::to_owned),
                ))
            }
        }
    }
}

impl From<PathRejection> for Rejection {
    /// axum's own `Path` rejection, mapped as [`Path`] maps it (without the request id,
    /// and without the parameter's name where axum does not report it).
    fn from(e: PathRejection) -> Self {
        Rejection::new(path_rejection_kind(&e, &[]), None)
    }
}

/// The kind for axum's `PathRejection`; `names` are the route's parameter names in order
/// (empty when unknown). Never uses the submitted value.
pub(crate) fn path_rejection_kind(e: &PathRejection, names: &[String]) -> RejectionKind {
    let PathRejection::FailedToDeserializePathParams(failed) = e else {
        // `MissingPathParams` (the route has none) or a future variant.
        return RejectionKind::PathMismatch {
            reason: e.body_text(),
        };
    };
    let single = || match names {
        [only] => only.as_str(),
        _ => "",
    };
    match failed.kind() {
        PathErrorKind::ParseErrorAtKey {
            key, expected_type, ..
        } => RejectionKind::InvalidField(invalid_type(key, expected_type)),
        PathErrorKind::ParseErrorAtIndex {
            index,
            expected_type,
            ..
        } => RejectionKind::InvalidField(invalid_type(
            names.get(*index).map_or("", String::as_str),
            expected_type,
        )),
        PathErrorKind::ParseError { expected_type, .. } => {
            RejectionKind::InvalidField(invalid_type(single(), expected_type))
        }
        PathErrorKind::DeserializeError { key, message, .. } => {
            RejectionKind::InvalidField(field_error_at(field(key), message))
        }
        PathErrorKind::InvalidUtf8InPathParam { key } => {
            RejectionKind::MalformedPathParam(FieldError::new(
                &field(key),
                "invalid_encoding",
                "is not valid UTF-8 once percent-decoded",
            ))
        }
        // A struct field the route does not define: the route and the type disagree.
        PathErrorKind::Message(m) if m.starts_with("missing field") => {
            RejectionKind::PathMismatch { reason: m.clone() }
        }
        // A custom `Deserialize` failing on the whole value: its message may quote the
        // value, so only serde's `expected …` part survives.
        PathErrorKind::Message(m) => {
            RejectionKind::InvalidField(field_error_at(field(single()), m))
        }
        // `WrongNumberOfParameters`, `UnsupportedType`, future kinds: nothing the client
        // can fix.
        other => RejectionKind::PathMismatch {
            reason: other.to_string(),
        },
    }
}

fn field(name: &str) -> FieldPath {
    let root = FieldPath::root();
    if name.is_empty() {
        root
    } else {
        root.key(name)
    }
}

fn invalid_type(name: &str, expected: &str) -> FieldError {
    FieldError::new(&field(name), "invalid_type", format!("expected {expected}"))
        .with_param("expected", expected.to_owned())
}
