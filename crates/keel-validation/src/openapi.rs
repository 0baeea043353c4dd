//! OpenAPI schemas (feature `utoipa`) of the values the rules accept, so a request schema
//! states the rule its field is validated with instead of repeating it by hand.
//!
//! A schema here is **sound**: every string it accepts passes the normalizers and rules it
//! names (a schema-valid request is never rejected for that field); where a rule cannot be
//! expressed in JSON Schema (the common-password list, a real phone number), the schema's
//! description names it. Use the types as `#[schema(value_type = …)]` of a field: they
//! become components (`$ref`), the field keeps its own description, and
//! `Option<PersonName>` documents a nullable field.
//!
//! ```
//! use keel_validation::Validate;
//! use keel_validation::openapi::{EmailAddress, Password, PersonName};
//! use utoipa::PartialSchema;
//!
//! #[derive(serde::Deserialize, utoipa::ToSchema, Validate)]
//! struct Signup {
//!     /// Where we write to.
//!     #[schema(value_type = EmailAddress)]
//!     #[normalize(email)]
//!     #[validate(email)]
//!     email: String,
//!     /// Never shown again.
//!     #[schema(value_type = Password)]
//!     #[validate(password)]
//!     password: String,
//!     /// How we greet you.
//!     #[schema(value_type = PersonName)]
//!     #[normalize(strip_html, collapse_whitespace, title_case)]
//!     #[validate(length(min = 2, max = 50))]
//!     first_name: String,
//! }
//!
//! let schema = serde_json::to_value(Signup::schema())?;
//! assert_eq!(schema["properties"]["first_name"]["$ref"], "#/components/schemas/PersonName");
//! let name = serde_json::to_value(PersonName::schema())?;
//! assert_eq!((name["minLength"].as_u64(), name["maxLength"].as_u64()), (Some(2), Some(50)));
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::borrow::Cow;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, SchemaType, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::PasswordPolicy;
use crate::rules::email::EMAIL_MAX_BYTES;

/// The C0 and C1 controls (and DEL) the implicit `no_control_chars` rule rejects, as the
/// inside of a character class.
const CONTROLS: &str = r"\x00-\x1F\x7F-\x9F";

/// The ECMA-262 pattern of [`person_name`]: no `<`, `>`, `&` or control characters, and at
/// least `min_visible` characters that are not whitespace (so the name is still
/// `min_visible` long once whitespace is collapsed).
///
/// ```
/// assert_eq!(
///     keel_validation::openapi::person_name_pattern(2),
///     r"^[^<>&\x00-\x1F\x7F-\x9F]*(?:[^<>&\s\x00-\x1F\x7F-\x9F][^<>&\x00-\x1F\x7F-\x9F]*){2}$",
/// );
/// ```
pub fn person_name_pattern(min_visible: usize) -> String {
    // `<`, `>` and `&` (markup and character references) are left out: `strip_html`
    // rewrites them (`&` becomes `&amp;`, `&#1;` a control character), so the length
    // and the characters of the stored name would differ from the submitted ones.
    let any = format!("[^<>&{CONTROLS}]*");
    let visible = format!(r"[^<>&\s{CONTROLS}]");
    format!("^{any}(?:{visible}{any}){{{min_visible}}}$")
}

/// The schema of a person's name validated as
/// `#[normalize(strip_html, collapse_whitespace, title_case)]` +
/// `#[validate(length(min = min, max = max))]`: `min..=max` characters, at least `min` of
/// them visible, no `<`, `>`, `&` or control characters (a name with markup is cleaned,
/// not refused, but its length then depends on the cleaning, so the schema leaves it
/// out). [`PersonName`] is `person_name(2, 50)`.
pub fn person_name(min: usize, max: usize) -> Schema {
    let description = format!(
        "A person's name: {min}–{max} characters, at least {min} of them not whitespace; \
         no `<`, `>`, `&` or control characters. Stored with whitespace runs collapsed and \
         title-cased (`ada  LOVELACE` → `Ada Lovelace`)."
    );
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .description(Some(description))
        .min_length(Some(min))
        .max_length(Some(max))
        .pattern(Some(person_name_pattern(min)))
        .examples(["Ada"])
        .into()
}

/// The schema of an e-mail address validated as `#[normalize(email)]` +
/// `#[validate(email)]` with the default options: `format: email`, at most 254
/// characters; the description names what a format cannot say (at most 254 bytes in
/// UTF-8, no DNS lookup, stored trimmed and lowercased).
pub fn email_address() -> Schema {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
        .description(Some(format!(
            "An e-mail address (RFC 5322 syntax as e-mail providers accept it, at most \
             {EMAIL_MAX_BYTES} bytes in UTF-8; no DNS lookup). Stored trimmed, lowercased \
             and with an internationalized domain in its canonical form."
        )))
        .max_length(Some(EMAIL_MAX_BYTES))
        .examples(["ada@example.org"])
        .into()
}

/// The schema of a password validated with `policy` (`#[validate(password)]` uses
/// [`PasswordPolicy::nist`]): `min..=max` characters without control characters; the
/// description names the rules a schema cannot express (length counted after Unicode
/// NFKC, the common-password list, the account's e-mail and name, composition).
pub fn password(policy: &PasswordPolicy) -> Schema {
    let (min, max) = (policy.min(), policy.max());
    let mut description = format!(
        "A password: {min}–{max} characters (counted after Unicode NFKC normalization), no \
         control characters"
    );
    if policy.reject_common {
        description.push_str("; not one of the most common passwords");
    }
    if policy.reject_user_info {
        description.push_str("; not the account's e-mail address or name");
    }
    if policy.composition {
        description.push_str("; with an upper-case and a lower-case letter, a digit and a symbol");
    }
    description.push_str(". Rules a schema cannot express are answered 422 `VALIDATION_ERROR`.");
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Password)))
        .description(Some(description))
        .min_length(Some(min))
        .max_length(Some(max))
        .pattern(Some(format!("^[^{CONTROLS}]*$")))
        .examples(["correct horse battery staple"])
        .into()
}

macro_rules! component {
    ($(#[$doc:meta])* $name:ident => $schema:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                RefOr::T($schema)
            }
        }

        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }
    };
}

component! {
    /// Component `PersonName`: [`person_name`]`(2, 50)`, for a field with
    /// `#[normalize(strip_html, collapse_whitespace, title_case)]` and
    /// `#[validate(length(min = 2, max = 50))]`.
    PersonName => person_name(2, 50)
}

component! {
    /// Component `EmailAddress`: [`email_address`], for a field with `#[normalize(email)]`
    /// and `#[validate(email)]`.
    EmailAddress => email_address()
}

component! {
    /// Component `Password`: [`password`] of [`PasswordPolicy::nist`], for a field with
    /// `#[validate(password)]`.
    Password => password(&PasswordPolicy::nist())
}
