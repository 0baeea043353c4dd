//! Whether a type deserializes from a JSON object.
//!
//! serde's derived `Deserialize` for a struct also accepts a **sequence** of its fields
//! (`[null, null]` for `struct Patch { a: Option<u8>, b: Option<u8> }`), a compact form
//! no JSON API documents. [`Json`](super::Json) refuses a body that is not an object when
//! the target type asks for a struct or a map, so the OpenAPI `type: object` a handler
//! documents is the only shape it accepts.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// Whether `T` asks its deserializer for a struct or a map (looking through newtypes).
pub(super) fn expects_object<'de, T: Deserialize<'de>>() -> bool {
    matches!(T::deserialize(Probe), Err(Found::Object))
}

/// The probe's answer, carried as its "error".
#[derive(Debug)]
enum Found {
    Object,
    Other,
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("shape probe")
    }
}

impl std::error::Error for Found {}

impl de::Error for Found {
    fn custom<T: fmt::Display>(_msg: T) -> Self {
        Self::Other
    }
}

/// A deserializer that answers the first request with the shape asked for.
struct Probe;

impl<'de> Deserializer<'de> for Probe {
    type Error = Found;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Found> {
        Err(Found::Other)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Found> {
        Err(Found::Object)
    }

    fn deserialize_map<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Found> {
        Err(Found::Object)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Found> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf option unit unit_struct seq tuple tuple_struct enum identifier ignored_any
    }
}

/// Whether the first JSON token of `bytes` opens an object.
pub(super) fn is_object(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .is_some_and(|&b| b == b'{')
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct S {
        a: Option<u8>,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Wrapper(S);

    #[derive(Deserialize)]
    #[serde(untagged)]
    #[allow(dead_code)]
    enum Either {
        A(S),
        B(Vec<u8>),
    }

    #[test]
    fn shapes() {
        assert!(expects_object::<S>());
        assert!(expects_object::<Wrapper>());
        assert!(expects_object::<HashMap<String, u8>>());
        assert!(expects_object::<serde_json::Map<String, serde_json::Value>>());
        assert!(!expects_object::<Vec<S>>());
        assert!(!expects_object::<(u8, u8)>());
        assert!(!expects_object::<String>());
        assert!(!expects_object::<serde_json::Value>());
        assert!(!expects_object::<Either>());
        assert!(!expects_object::<Option<S>>());
    }

    #[test]
    fn first_token() {
        assert!(is_object(b" \n{}"));
        assert!(!is_object(b"[null, null]"));
        assert!(!is_object(b""));
        assert!(!is_object(b"null"));
    }
}
