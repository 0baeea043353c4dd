#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;
pub mod code;
mod either_envelope;
mod envelope;
mod error_envelope;
mod field_error;
mod field_path;
mod meta;
#[cfg(feature = "utoipa")]
#[cfg_attr(docsrs, doc(cfg(feature = "utoipa")))]
pub mod openapi;
mod pagination;
#[cfg(feature = "time")]
#[cfg_attr(docsrs, doc(cfg(feature = "time")))]
pub mod rfc3339;
#[cfg(feature = "utoipa")]
#[cfg_attr(docsrs, doc(cfg(feature = "utoipa")))]
mod schema;
mod tag;
mod value;

pub use either_envelope::EitherEnvelope;
pub use envelope::Envelope;
pub use error_envelope::{ErrorBody, ErrorEnvelope};
pub use field_error::FieldError;
pub use field_path::{FieldPath, PathSegment};
pub use meta::{MAX_REQUEST_ID_LEN, Meta, is_valid_request_id};
pub use pagination::{Page, PageBounds, PageError, PageParams, PageRequest, Pagination};
pub use value::Value;
