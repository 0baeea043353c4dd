//! `From` conversions for extractor rejections, so handlers can use `?` on them and
//! every rejection renders as a keel error.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use keel_envelope::axum::{Rejection, RejectionKind};
use keel_envelope::{FieldError, FieldPath};

use crate::{ApiError, ErrorKind};

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        let err = match r.kind() {
            RejectionKind::UnsupportedMediaType => {
                ApiError::from_kind(ErrorKind::UnsupportedMediaType)
            }
            RejectionKind::PayloadTooLarge => ApiError::from_kind(ErrorKind::PayloadTooLarge),
            RejectionKind::BodyUnreadable => {
                ApiError::bad_request("Request body could not be read")
            }
            RejectionKind::MalformedJson { line, column } => {
                ApiError::from_kind(ErrorKind::MalformedJson)
                    .with_detail("line", *line)
                    .with_detail("column", *column)
            }
            RejectionKind::InvalidField(fe) => ApiError::validation(vec![fe.clone()]),
            RejectionKind::MalformedPathParam(fe) => {
                ApiError::bad_request("Path parameter is malformed").with_fields(vec![fe.clone()])
            }
            // A server bug: logged with what does not match, rendered as a plain 500.
            RejectionKind::PathMismatch { .. } => ApiError::internal(r.clone()),
            // RejectionKind is non_exhaustive: a future kind keeps its own status/code.
            _ => ApiError::bad_request(r.to_error_body().message),
        };
        match r.request_id() {
            Some(id) => err.with_request_id(id),
            None => err,
        }
    }
}

/// axum's own `Json` rejections. Prefer `keel_envelope::axum::Json`, which names the
/// failing field; axum's rejection text embeds the submitted value, so only the kind of
/// failure is kept here.
impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::JsonDataError(_) => ApiError::validation(vec![FieldError::new(
                &FieldPath::root(),
                "invalid_shape",
                "does not match the expected shape",
            )]),
            JsonRejection::JsonSyntaxError(_) => ApiError::from_kind(ErrorKind::MalformedJson),
            JsonRejection::MissingJsonContentType(_) => {
                ApiError::from_kind(ErrorKind::UnsupportedMediaType)
            }
            JsonRejection::BytesRejection(b) => bytes_rejection(b.status()),
            // JsonRejection is non_exhaustive.
            other => status_rejection(other.status()),
        }
    }
}

/// axum's own `Query` rejection: 422 without echoing the query string.
impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        match r {
            QueryRejection::FailedToDeserializeQueryString(_) => {
                ApiError::validation(vec![FieldError::new(
                    &FieldPath::root(),
                    "invalid_query",
                    "query string does not match the expected parameters",
                )])
            }
            other => status_rejection(other.status()),
        }
    }
}

/// axum's `Path` rejection, mapped as keel-envelope's `Path` maps it: a parameter that
/// does not parse is 422 `VALIDATION_ERROR` naming the parameter when axum reports it
/// (prefer `keel_envelope::axum::Path`, which always names it), a parameter that is not
/// UTF-8 is 400, a route that does not match the type is 500. The value is never echoed.
impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::from(Rejection::from(r))
    }
}

fn bytes_rejection(status: http::StatusCode) -> ApiError {
    if status == http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::from_kind(ErrorKind::PayloadTooLarge)
    } else {
        ApiError::bad_request("Request body could not be read")
    }
}

fn status_rejection(status: http::StatusCode) -> ApiError {
    super::response::kind_for_status(status)
        .map_or_else(|| ApiError::bad_request("Bad request"), ApiError::from_kind)
}
