//! The wall clock, for the APIs that have an `_at(…, now)` twin taking the time explicitly.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};

/// Seconds since the Unix epoch.
///
/// # Errors
/// [`Error::InvalidParameter`] if the system clock is before 1970.
pub(crate) fn unix_now() -> Result<u64> {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .map_err(|_| Error::InvalidParameter("system clock is before 1970".into()))
}
