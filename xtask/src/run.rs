//! `cargo xtask run`: the reference service against throwaway local servers.

/// Not yet available: arrives with the reference service (issue 9).
pub(crate) fn run(_args: &[String]) -> Result<(), String> {
    Err("`cargo xtask run` arrives with the reference service (examples/reference-service)".into())
}
