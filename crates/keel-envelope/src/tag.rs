//! Boolean tags for the `success` member, so deserialization picks the right shape.

use serde::de::{self, Deserialize, Deserializer};

/// Deserializes only from `true`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct True;
/// Deserializes only from `false`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct False;

impl<'de> Deserialize<'de> for True {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if bool::deserialize(d)? {
            Ok(Self)
        } else {
            Err(de::Error::custom("expected `success: true`"))
        }
    }
}

impl<'de> Deserialize<'de> for False {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if bool::deserialize(d)? {
            Err(de::Error::custom("expected `success: false`"))
        } else {
            Ok(Self)
        }
    }
}
