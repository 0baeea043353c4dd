//! OpenAPI schemas of the wire format (feature `utoipa`): the envelopes, the error body,
//! field errors, `meta` and pagination, written from the serializers' actual output
//! (members omitted when empty are optional), so no service keeps a doc-only copy.
//!
//! ```
//! use keel_envelope::{Envelope, ErrorEnvelope};
//! use utoipa::{PartialSchema, ToSchema};
//!
//! #[derive(serde::Serialize, utoipa::ToSchema)]
//! struct User { id: u64 }
//!
//! // A handler documents `body = Envelope<User>` and `body = ErrorEnvelope`.
//! let schema = serde_json::to_value(Envelope::<User>::schema()).unwrap();
//! assert_eq!(schema["required"], serde_json::json!(["success", "data"]));
//! assert_eq!(ErrorEnvelope::name(), "ErrorEnvelope");
//! ```

use std::borrow::Cow;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type,
};
use utoipa::{PartialSchema, ToSchema};

use crate::{Envelope, ErrorBody, ErrorEnvelope, FieldError, MAX_REQUEST_ID_LEN, Meta, Pagination};

type Schemas = Vec<(String, RefOr<Schema>)>;

fn reference<T: ToSchema>() -> RefOr<Schema> {
    RefOr::Ref(utoipa::openapi::Ref::from_schema_name(T::name()))
}

fn string(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .description(Some(description))
}

fn count(description: &str, min: u64) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Integer))
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::Int64,
        )))
        .minimum(Some(min as f64))
        .description(Some(description))
}

fn free_object(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Object))
        .description(Some(description))
}

fn success(value: bool) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Boolean))
        .enum_values(Some([value]))
        .description(Some(if value {
            "Always `true`."
        } else {
            "Always `false`."
        }))
}

impl PartialSchema for Pagination {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .description(Some("`meta.pagination` of a list response."))
            .property("page", count("1-based page number.", 1))
            .required("page")
            .property("limit", count("Items per page.", 1))
            .required("limit")
            .property("total", count("Items in the whole collection.", 0))
            .required("total")
            .property(
                "total_pages",
                count("Number of pages (0 for an empty collection).", 0),
            )
            .required("total_pages")
            .into()
    }
}

impl ToSchema for Pagination {}

impl PartialSchema for Meta {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .description(Some(
                "Request id, pagination and application-defined members.",
            ))
            .property(
                "request_id",
                string("The `X-Request-Id` answered.").max_length(Some(MAX_REQUEST_ID_LEN)),
            )
            .property("pagination", reference::<Pagination>())
            // `with_extra` members hold any JSON value, not only objects.
            .additional_properties(Some(AdditionalProperties::FreeForm(true)))
            .into()
    }
}

impl ToSchema for Meta {
    fn schemas(schemas: &mut Schemas) {
        schemas.push((Pagination::name().into_owned(), Pagination::schema()));
    }
}

impl PartialSchema for FieldError {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .description(Some("One invalid field; never the submitted value."))
            .property(
                "field",
                string("Dotted path (`address.city`, `items[2].sku`)."),
            )
            .required("field")
            .property("pointer", string("JSON pointer (RFC 6901) to the field."))
            .required("pointer")
            .property(
                "code",
                string("Stable rule code (`too_short`, `invalid_type`, …)."),
            )
            .required("code")
            .property("message", string("English message."))
            .required("message")
            .property("params", free_object("Rule parameters (`min`, `max`, …)."))
            .into()
    }
}

impl ToSchema for FieldError {}

impl PartialSchema for ErrorBody {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .description(Some("The `error` member of an error envelope."))
            .property(
                "code",
                string("Stable machine code (`VALIDATION_ERROR`, `NOT_FOUND`, `RATE_LIMITED`, …)."),
            )
            .required("code")
            .property("message", string("Public message; never internals."))
            .required("message")
            .property(
                "fields",
                ArrayBuilder::new()
                    .items(reference::<FieldError>())
                    .description(Some("Field errors, in the order of the request's fields.")),
            )
            .property(
                "details",
                free_object("Public details, e.g. `retry_after` (seconds)."),
            )
            .into()
    }
}

impl ToSchema for ErrorBody {
    fn schemas(schemas: &mut Schemas) {
        schemas.push((FieldError::name().into_owned(), FieldError::schema()));
    }
}

impl PartialSchema for ErrorEnvelope {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .description(Some("An error response."))
            .property("success", success(false))
            .required("success")
            .property("error", reference::<ErrorBody>())
            .required("error")
            .property("meta", reference::<Meta>())
            .into()
    }
}

impl ToSchema for ErrorEnvelope {
    fn schemas(schemas: &mut Schemas) {
        for (name, schema) in [
            (ErrorBody::name(), ErrorBody::schema()),
            (Meta::name(), Meta::schema()),
        ] {
            schemas.push((name.into_owned(), schema));
        }
        ErrorBody::schemas(schemas);
        Meta::schemas(schemas);
    }
}

impl<T: ToSchema> PartialSchema for Envelope<T> {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .description(Some("A success response."))
            .property("success", success(true))
            .required("success")
            .property("data", T::schema())
            .required("data")
            .property("message", string("Optional human-readable message."))
            .property("meta", reference::<Meta>())
            .into()
    }
}

impl<T: ToSchema> ToSchema for Envelope<T> {
    /// `Envelope_<T>`, so envelopes of different payloads never share a name.
    fn name() -> Cow<'static, str> {
        Cow::Owned(format!("Envelope_{}", T::name()))
    }

    fn schemas(schemas: &mut Schemas) {
        schemas.push((Meta::name().into_owned(), Meta::schema()));
        Meta::schemas(schemas);
        T::schemas(schemas);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(schema: RefOr<Schema>) -> serde_json::Value {
        serde_json::to_value(schema).unwrap_or_default()
    }

    #[test]
    fn error_envelope_requires_what_is_always_serialized() {
        let s = json(ErrorEnvelope::schema());
        assert_eq!(s["required"], serde_json::json!(["success", "error"]));
        assert_eq!(
            s["properties"]["success"]["enum"],
            serde_json::json!([false])
        );
        let mut all = Vec::new();
        ErrorEnvelope::schemas(&mut all);
        let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
        for n in ["ErrorBody", "Meta", "FieldError", "Pagination"] {
            assert!(names.contains(&n), "{n} in {names:?}");
        }
    }

    #[test]
    fn meta_extension_members_may_be_any_value() {
        // `with_extra("api_version", "2024-01")` writes a string.
        let meta = serde_json::to_value(Meta::default().with_extra("api_version", "2024-01"))
            .unwrap_or_default();
        assert!(meta["api_version"].is_string());
        assert_eq!(json(Meta::schema())["additionalProperties"], true);
    }

    #[test]
    fn envelope_inlines_its_payload() {
        let s = json(Envelope::<u64>::schema());
        assert_eq!(s["properties"]["data"]["type"], "integer");
        assert_eq!(
            s["properties"]["success"]["enum"],
            serde_json::json!([true])
        );
        assert_eq!(Envelope::<u64>::name(), "Envelope_u64");
    }

    #[test]
    fn required_members_match_serialization() {
        // What the serializers always write is required; what they omit when empty is not.
        let err =
            serde_json::to_value(ErrorEnvelope::new(ErrorBody::new("X", "y"))).unwrap_or_default();
        assert_eq!(
            err,
            serde_json::json!({"success": false, "error": {"code": "X", "message": "y"}})
        );
        let body = json(ErrorBody::schema());
        assert_eq!(body["required"], serde_json::json!(["code", "message"]));
        let page = Pagination::new(1, 20, 0).ok();
        let pagination = serde_json::to_value(page).unwrap_or_default();
        let mut keys: Vec<String> = pagination
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        let schema = json(Pagination::schema());
        let mut required: Vec<String> =
            serde_json::from_value(schema["required"].clone()).unwrap_or_default();
        keys.sort();
        required.sort();
        assert_eq!(required, keys);
    }
}
