//! The Redis value format: a fixed binary header, then the value as JSON.
//!
//! ```text
//! "kc" 0x01 | schema u32 BE | kind u8 (0 value, 1 not-found) | stale window ms u64 BE | load µs u32 BE | JSON
//! ```
//!
//! The format byte and the caller's schema version make a layout change a *miss*, never a
//! decode error surfacing to callers. JSON keeps the values readable with `redis-cli` and
//! tolerant of added optional fields; the header stays 20 bytes.

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

const MAGIC: [u8; 3] = *b"kc\x01";
pub(crate) const HEADER_LEN: usize = 20;

#[derive(Debug, PartialEq)]
pub(crate) struct Decoded<V> {
    pub(crate) value: Option<V>,
    pub(crate) stale_ms: u64,
    pub(crate) load_micros: u32,
}

/// Why stored bytes could not be decoded.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DecodeError {
    Truncated,
    Format,
    Schema { found: u32 },
    Kind(u8),
    Json(String),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("shorter than the header"),
            Self::Format => f.write_str("not the keel-cache format (or another format version)"),
            Self::Schema { found } => write!(f, "written with schema version {found}"),
            Self::Kind(k) => write!(f, "unknown entry kind {k}"),
            Self::Json(e) => write!(f, "value does not deserialize: {e}"),
        }
    }
}

pub(crate) fn encode<V: Serialize>(
    value: Option<&V>,
    schema: u32,
    stale_ms: u64,
    load_micros: u32,
) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&schema.to_be_bytes());
    out.push(u8::from(value.is_none()));
    out.extend_from_slice(&stale_ms.to_be_bytes());
    out.extend_from_slice(&load_micros.to_be_bytes());
    if let Some(v) = value {
        serde_json::to_writer(&mut out, v)?;
    }
    Ok(out)
}

pub(crate) fn decode<V: DeserializeOwned>(
    bytes: &[u8],
    schema: u32,
) -> Result<Decoded<V>, DecodeError> {
    let Some((header, body)) = bytes.split_at_checked(HEADER_LEN) else {
        return Err(DecodeError::Truncated);
    };
    if header[..3] != MAGIC {
        return Err(DecodeError::Format);
    }
    let found = u32::from_be_bytes([header[3], header[4], header[5], header[6]]);
    if found != schema {
        return Err(DecodeError::Schema { found });
    }
    let mut stale = [0u8; 8];
    stale.copy_from_slice(&header[8..16]);
    let stale_ms = u64::from_be_bytes(stale);
    let load_micros = u32::from_be_bytes([header[16], header[17], header[18], header[19]]);
    let value = match header[7] {
        0 => Some(serde_json::from_slice(body).map_err(|e| DecodeError::Json(e.to_string()))?),
        1 => None,
        k => return Err(DecodeError::Kind(k)),
    };
    Ok(Decoded {
        value,
        stale_ms,
        load_micros,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct User {
        id: u64,
        name: String,
    }

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct UserV2 {
        id: u64,
        email: String,
    }

    fn user() -> User {
        User {
            id: 7,
            name: "Ada".into(),
        }
    }

    #[test]
    fn round_trips_values_and_not_found() {
        let bytes = encode(Some(&user()), 3, 1500, 42).unwrap();
        assert_eq!(&bytes[HEADER_LEN..], br#"{"id":7,"name":"Ada"}"#);
        assert_eq!(
            decode::<User>(&bytes, 3).unwrap(),
            Decoded {
                value: Some(user()),
                stale_ms: 1500,
                load_micros: 42
            }
        );
        let none = encode::<User>(None, 3, 0, 0).unwrap();
        assert_eq!(none.len(), HEADER_LEN);
        assert_eq!(decode::<User>(&none, 3).unwrap().value, None);
    }

    #[test]
    fn shared_values_are_stored_as_the_value_itself() {
        // `Arc<V>` (serde `rc`): the cheap-to-clone way to cache a value that owns strings.
        let shared = std::sync::Arc::new(user());
        let bytes = encode(Some(&shared), 3, 0, 0).unwrap();
        assert_eq!(bytes, encode(Some(&user()), 3, 0, 0).unwrap());
        let back = decode::<std::sync::Arc<User>>(&bytes, 3).unwrap();
        assert_eq!(back.value.as_deref(), Some(&user()));
    }

    #[test]
    fn schema_change_and_garbage_are_decode_errors_not_panics() {
        let bytes = encode(Some(&user()), 1, 0, 0).unwrap();
        assert_eq!(
            decode::<User>(&bytes, 2).unwrap_err(),
            DecodeError::Schema { found: 1 }
        );
        assert!(matches!(
            decode::<UserV2>(&bytes, 1),
            Err(DecodeError::Json(_))
        ));
        assert_eq!(
            decode::<User>(b"kc", 1).unwrap_err(),
            DecodeError::Truncated
        );
        assert_eq!(
            decode::<User>(&[0u8; 32], 1).unwrap_err(),
            DecodeError::Format
        );
        let mut bad_kind = bytes;
        bad_kind[7] = 9;
        assert_eq!(
            decode::<User>(&bad_kind, 1).unwrap_err(),
            DecodeError::Kind(9)
        );
        // A pickle, as a typical FastAPI service stores.
        assert!(
            decode::<User>(
                b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x03Ada\x94.",
                1
            )
            .is_err()
        );
        assert!(!DecodeError::Schema { found: 1 }.to_string().is_empty());
    }
}
