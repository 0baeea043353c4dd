//! Turns serde errors into field errors without echoing the submitted value.
//!
//! serde's messages embed the offending input (`invalid type: string "hunter2",
//! expected u32`). The value could be a password, so only the `expected …` part and
//! the field name survive.

use std::borrow::Cow;

use crate::{FieldError, FieldPath, PathSegment};

pub(crate) fn to_field_error(path: &serde_path_to_error::Path, message: &str) -> FieldError {
    let mut field = FieldPath::root();
    for seg in path {
        match seg {
            serde_path_to_error::Segment::Seq { index } => field.push(PathSegment::Index(*index)),
            serde_path_to_error::Segment::Map { key }
            | serde_path_to_error::Segment::Enum { variant: key } => {
                field.push(PathSegment::Key(key.clone()));
            }
            serde_path_to_error::Segment::Unknown => {}
        }
    }
    field_error_at(field, message)
}

/// The field error for serde's `message` about the value at `field`, without the value.
pub(crate) fn field_error_at(mut field: FieldPath, message: &str) -> FieldError {
    let message = strip_position(message);
    // serde_path_to_error's path ends at the parent for a missing field but already
    // includes the key for unknown/duplicate ones: add the name only when absent.
    let mut at = |name: &str| {
        if field.segments().last() != Some(&PathSegment::Key(name.to_owned())) {
            field.push(PathSegment::Key(name.to_owned()));
        }
        field.clone()
    };
    if let Some(name) = between(message, "missing field `", "`") {
        return FieldError::new(&at(name), "required", "is required");
    }
    if let Some(name) = between(message, "unknown field `", "`") {
        return FieldError::new(&at(name), "unknown_field", "is not a known field");
    }
    if let Some(name) = between(message, "duplicate field `", "`") {
        return FieldError::new(&at(name), "duplicate_field", "appears more than once");
    }
    let expected = message
        .rfind(", expected ")
        .map(|i| &message[i + ", expected ".len()..]);
    let code = if message.starts_with("invalid type") {
        "invalid_type"
    } else if message.starts_with("invalid length") {
        "invalid_length"
    } else if message.starts_with("unknown variant") {
        "unknown_variant"
    } else {
        "invalid_value"
    };
    match expected {
        Some(exp) => FieldError::new(&field, code, format!("expected {}", truncate(exp, 120)))
            .with_param("expected", truncate(exp, 120).into_owned()),
        None => FieldError::new(&field, code, "is invalid"),
    }
}

fn strip_position(message: &str) -> &str {
    match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message,
    }
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = s.strip_prefix(start)?;
    rest.find(end).map(|i| &rest[..i])
}

fn truncate(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        Some((i, _)) => Cow::Owned(format!("{}…", &s[..i])),
        None => Cow::Borrowed(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        age: u32,
        tags: Vec<u8>,
    }

    fn check(json: &str, field: &str, code: &str, message: &str) {
        let de = &mut serde_json::Deserializer::from_str(json);
        let err = serde_path_to_error::deserialize::<_, Body>(de).unwrap_err();
        let fe = to_field_error(err.path(), &err.inner().to_string());
        assert_eq!(
            (fe.field.as_str(), fe.code.as_ref(), fe.message.as_ref()),
            (field, code, message)
        );
    }

    #[test]
    fn table() {
        check(
            r#"{"name":"a","tags":[]}"#,
            "age",
            "required",
            "is required",
        );
        check(
            r#"{"name":"a","age":"secret-pw","tags":[]}"#,
            "age",
            "invalid_type",
            "expected u32",
        );
        check(
            r#"{"name":"a","age":1,"tags":[1,300]}"#,
            "tags[1]",
            "invalid_value",
            "expected u8",
        );
        check(
            r#"{"name":"a","age":1,"tags":[],"x":1}"#,
            "x",
            "unknown_field",
            "is not a known field",
        );
    }

    #[test]
    fn never_echoes_the_value() {
        let de = &mut serde_json::Deserializer::from_str(r#"{"name":1,"age":"hunter2","tags":[]}"#);
        let err = serde_path_to_error::deserialize::<_, Body>(de).unwrap_err();
        let fe = to_field_error(err.path(), &err.inner().to_string());
        assert!(!serde_json::to_string(&fe).unwrap().contains("hunter2"));
    }
}
