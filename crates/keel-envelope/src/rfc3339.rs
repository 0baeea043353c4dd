//! RFC 3339 timestamps on the wire (feature `time`): a drop-in for
//! `time::serde::rfc3339` that writes through a stack buffer instead of a heap `String`.
//!
//! `#[serde(with = "keel_envelope::rfc3339")]` on an [`OffsetDateTime`] field produces
//! exactly the bytes `#[serde(with = "time::serde::rfc3339")]` does (fractional seconds
//! only when non-zero, trailing zeros trimmed, `Z` for UTC, `±hh:mm` otherwise) and fails
//! exactly where it fails (a year outside 0–9999, an offset with seconds), with the same
//! message. The allocation is gone — `time::serde::rfc3339` formats into a `String` that
//! grows twice per timestamp, on every response that carries one — and a UTC timestamp
//! is written digit by digit (time's formatter writes the rest). Deserializing is time's.
//!
//! ```
//! use time::OffsetDateTime;
//! use time::macros::datetime;
//!
//! #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
//! struct Event {
//!     #[serde(with = "keel_envelope::rfc3339")]
//!     at: OffsetDateTime,
//!     #[serde(with = "keel_envelope::rfc3339::option")]
//!     ended: Option<OffsetDateTime>,
//! }
//!
//! let e = Event { at: datetime!(2024-05-06 07:08:09.120 UTC), ended: None };
//! let json = serde_json::to_string(&e)?;
//! assert_eq!(json, r#"{"at":"2024-05-06T07:08:09.12Z","ended":null}"#);
//! assert_eq!(serde_json::from_str::<Event>(&json)?, e);
//! # Ok::<(), serde_json::Error>(())
//! ```

use serde::ser::{Error as _, Serializer};
use serde::{Deserializer, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The longest RFC 3339 text time writes: `9999-12-31T23:59:59.999999999+23:59`.
const MAX_LEN: usize = 35;

/// Formats `datetime` as RFC 3339 into `buf` and returns the text; time's error for a
/// value RFC 3339 cannot express.
fn format<'b>(
    datetime: &OffsetDateTime,
    buf: &'b mut [u8; MAX_LEN],
) -> Result<&'b str, time::error::Format> {
    let written = match utc_fast(datetime, buf) {
        Some(n) => n,
        None => {
            let mut out = &mut buf[..];
            datetime.format_into(&mut out, &Rfc3339)?
        }
    };
    // time writes ASCII only; the fallback is unreachable but keeps this panic-free.
    buf.get(..written)
        .and_then(|b| std::str::from_utf8(b).ok())
        .ok_or(time::error::Format::InvalidComponent("rfc3339"))
}

/// The common case, UTC with a four-digit year, written digit by digit (time's general
/// formatter costs about ten times as much); `None` for everything else, which time
/// formats. Same bytes as time: `Z`, the fraction only when non-zero, trailing zeros
/// trimmed (tests/rfc3339.rs compares the two).
fn utc_fast(datetime: &OffsetDateTime, buf: &mut [u8; MAX_LEN]) -> Option<usize> {
    if !datetime.offset().is_utc() {
        return None;
    }
    let year = u32::try_from(datetime.year()).ok().filter(|y| *y <= 9999)?;
    let (hour, minute, second, nanos) = datetime.to_hms_nano();
    let fields = [
        (year, 4, 0),
        (u32::from(u8::from(datetime.month())), 2, 5),
        (u32::from(datetime.day()), 2, 8),
        (u32::from(hour), 2, 11),
        (u32::from(minute), 2, 14),
        (u32::from(second), 2, 17),
    ];
    buf[..19].copy_from_slice(b"0000-00-00T00:00:00");
    for (value, width, at) in fields {
        write_digits(&mut buf[at..at + width], value);
    }
    let mut len = 19;
    if nanos != 0 {
        let mut digits = [0; 9];
        write_digits(&mut digits, nanos);
        let kept = 9 - digits.iter().rev().take_while(|d| **d == b'0').count();
        buf[19] = b'.';
        buf[20..20 + kept].copy_from_slice(&digits[..kept]);
        len = 20 + kept;
    }
    buf[len] = b'Z';
    Some(len + 1)
}

/// `value` as zero-padded decimal digits filling `out` (`value` fits: callers pass
/// values below `10^out.len()`).
fn write_digits(out: &mut [u8], mut value: u32) {
    for d in out.iter_mut().rev() {
        *d = b'0' + u8::try_from(value % 10).unwrap_or(0);
        value /= 10;
    }
}

/// Serializes an [`OffsetDateTime`] as RFC 3339 text, byte for byte as
/// `time::serde::rfc3339::serialize`, without allocating.
///
/// # Errors
/// The serializer's error for a datetime RFC 3339 cannot express (year outside 0–9999,
/// an offset with seconds), with time's message; or the serializer's own error.
pub fn serialize<S: Serializer>(
    datetime: &OffsetDateTime,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut buf = [0; MAX_LEN];
    format(datetime, &mut buf)
        .map_err(S::Error::custom)?
        .serialize(serializer)
}

/// Deserializes RFC 3339 text into an [`OffsetDateTime`] (time's own parser,
/// `time::serde::rfc3339::deserialize`).
///
/// # Errors
/// The deserializer's error for text that is not an RFC 3339 timestamp.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<OffsetDateTime, D::Error> {
    time::serde::rfc3339::deserialize(deserializer)
}

/// The same for `Option<OffsetDateTime>` (`None` is `null`), as
/// `time::serde::rfc3339::option`.
pub mod option {
    use super::{MAX_LEN, format};
    use serde::ser::{Error as _, Serializer};
    use serde::{Deserializer, Serialize};
    use time::OffsetDateTime;

    /// Serializes an optional [`OffsetDateTime`] as RFC 3339 text or `null`.
    ///
    /// # Errors
    /// As [`super::serialize`].
    // `&Option<T>` is the signature `#[serde(with)]` calls.
    #[allow(clippy::ref_option)]
    pub fn serialize<S: Serializer>(
        datetime: &Option<OffsetDateTime>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut buf = [0; MAX_LEN];
        match datetime {
            Some(d) => Some(format(d, &mut buf).map_err(S::Error::custom)?),
            None => None,
        }
        .serialize(serializer)
    }

    /// Deserializes RFC 3339 text or `null`.
    ///
    /// # Errors
    /// As [`super::deserialize`].
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<OffsetDateTime>, D::Error> {
        time::serde::rfc3339::option::deserialize(deserializer)
    }
}
