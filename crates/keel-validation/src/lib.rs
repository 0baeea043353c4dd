#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod async_validate;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;
pub mod env;
mod error;
#[cfg(feature = "errors")]
mod errors;
pub mod normalize;
#[cfg(feature = "utoipa")]
#[cfg_attr(docsrs, doc(cfg(feature = "utoipa")))]
pub mod openapi;
mod path;
pub mod rules;
mod sensitive;
pub mod serde;
mod swar;
mod text;
mod validate;
mod validation_errors;
mod violation;

pub use async_validate::{AsyncValidate, validate_all};
pub use error::Error;
pub use path::Path;
pub use rules::password::PasswordPolicy;
pub use sensitive::Sensitive;
pub use text::{AsText, TextMut};
pub use validate::Validate;
pub use validation_errors::ValidationErrors;
pub use violation::Violation;

/// `#[derive(Validate)]`: implements [`Validate`] from `#[validate(...)]` and
/// `#[normalize(...)]` attributes. See the [crate docs](crate#the-derive-macro).
#[cfg(feature = "derive")]
#[cfg_attr(docsrs, doc(cfg(feature = "derive")))]
pub use keel_validation_derive::Validate;

/// `#[derive(RedactedDebug)]`: a `Debug` impl that prints `[REDACTED]` for every
/// field marked `#[validate(sensitive)]` or validated with `#[validate(password)]`.
#[cfg(feature = "derive")]
#[cfg_attr(docsrs, doc(cfg(feature = "derive")))]
pub use keel_validation_derive::RedactedDebug;

/// The wire types of field errors, re-exported from keel-envelope.
pub use keel_envelope::{FieldError, FieldPath, PathSegment, Value};

/// Items the derive macro expands to. Not public API.
#[doc(hidden)]
pub mod __private {
    pub use regex::Regex;

    /// The policy of a bare `#[validate(password)]`.
    pub const DEFAULT_PASSWORD_POLICY: crate::PasswordPolicy = crate::PasswordPolicy::nist();
}
