//! Session settings: as startup-packet `options` (`-c name=value`, no round trip), as
//! one `SET` batch per new connection, or as `SET LOCAL` per transaction (PgBouncer
//! transaction pooling).

use std::time::Duration;

/// The session settings of a pool.
#[derive(Debug, Clone)]
pub(crate) struct SessionParams {
    pub(crate) time_zone: Option<String>,
    pub(crate) statement_timeout: Option<Duration>,
    pub(crate) idle_in_transaction: Option<Duration>,
    pub(crate) lock_timeout: Option<Duration>,
    pub(crate) search_path: Option<String>,
    pub(crate) application_name: Option<String>,
    pub(crate) extra: Vec<(String, String)>,
}

impl Default for SessionParams {
    fn default() -> Self {
        Self {
            time_zone: Some("UTC".to_owned()),
            statement_timeout: Some(Duration::from_secs(30)),
            idle_in_transaction: Some(Duration::from_secs(60)),
            lock_timeout: None,
            search_path: None,
            application_name: None,
            extra: Vec::new(),
        }
    }
}

/// PostgreSQL reads time settings in whole milliseconds; round up so a sub-millisecond
/// setting never becomes 0 (= disabled).
fn millis(d: Duration) -> String {
    let ms = d.as_micros().div_ceil(1000).max(1);
    format!("{ms}ms")
}

impl SessionParams {
    /// `(name, value)` pairs in a stable order (application_name excluded: it has its
    /// own startup parameter).
    pub(crate) fn params(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(tz) = &self.time_zone {
            out.push(("TimeZone".to_owned(), tz.clone()));
        }
        if let Some(d) = self.statement_timeout {
            out.push(("statement_timeout".to_owned(), millis(d)));
        }
        if let Some(d) = self.idle_in_transaction {
            out.push(("idle_in_transaction_session_timeout".to_owned(), millis(d)));
        }
        if let Some(d) = self.lock_timeout {
            out.push(("lock_timeout".to_owned(), millis(d)));
        }
        if let Some(p) = &self.search_path {
            out.push(("search_path".to_owned(), p.clone()));
        }
        out.extend(self.extra.iter().cloned());
        out
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        for (name, value) in self.params() {
            if !is_identifier(&name) {
                return Err(format!(
                    "session parameter name {name:?} is not a plain identifier"
                ));
            }
            if value.chars().any(char::is_control) {
                return Err(format!(
                    "session parameter {name} contains control characters"
                ));
            }
        }
        if let Some(app) = &self.application_name {
            if app.chars().any(char::is_control) {
                return Err("application_name contains control characters".to_owned());
            }
        }
        Ok(())
    }
}

/// `[A-Za-z_][A-Za-z0-9_.]*`: GUC names, including `extension.setting`.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

/// Escapes a value for the startup `options` string: the server splits it on
/// whitespace, and a backslash escapes the next character.
fn escape_option(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if c == '\\' || c.is_whitespace() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The startup `options` string: the URL's own options first, then ours.
pub(crate) fn startup_options(existing: Option<&str>, params: &[(String, String)]) -> String {
    let mut parts: Vec<String> = existing
        .filter(|s| !s.trim().is_empty())
        .map(|s| vec![s.trim().to_owned()])
        .unwrap_or_default();
    for (name, value) in params {
        parts.push(format!("-c {name}={}", escape_option(value)));
    }
    parts.join(" ")
}

/// One `SET` (or, with `scope = "LOCAL "`, `SET LOCAL`) batch, values as standard
/// string literals (`'` doubled).
pub(crate) fn set_commands(params: &[(String, String)], scope: &str) -> Option<String> {
    if params.is_empty() {
        return None;
    }
    Some(
        params
            .iter()
            .map(|(name, value)| format!("SET {scope}{name} TO '{}';", value.replace('\'', "''")))
            .collect::<Vec<_>>()
            .join(" "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(existing: Option<&str>, params: &[(&str, &str)], expected: &str) {
        let params: Vec<_> = params
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        assert_eq!(startup_options(existing, &params), expected);
    }

    #[test]
    fn options_string() {
        check(None, &[], "");
        check(None, &[("TimeZone", "UTC")], "-c TimeZone=UTC");
        check(
            None,
            &[("search_path", "app, public")],
            r"-c search_path=app,\ public",
        );
        check(Some("-c a=b"), &[("x", r"c\d")], r"-c a=b -c x=c\\d");
    }

    #[test]
    fn set_batch_quotes() {
        let sql = set_commands(&[("search_path".into(), "it's".into())], "").unwrap();
        assert_eq!(sql, "SET search_path TO 'it''s';");
        let sql = set_commands(&[("TimeZone".into(), "UTC".into())], "LOCAL ").unwrap();
        assert_eq!(sql, "SET LOCAL TimeZone TO 'UTC';");
        assert_eq!(set_commands(&[], ""), None);
    }

    #[test]
    fn millis_round_up() {
        assert_eq!(millis(Duration::from_micros(1)), "1ms");
        assert_eq!(millis(Duration::from_millis(1500)), "1500ms");
        assert_eq!(millis(Duration::from_secs(30)), "30000ms");
    }

    #[test]
    fn identifiers() {
        assert!(is_identifier("work_mem"));
        assert!(is_identifier("pg_stat_statements.track"));
        assert!(!is_identifier("1abc"));
        assert!(!is_identifier("a b"));
        assert!(!is_identifier("a;b"));
        assert!(!is_identifier(""));
    }
}
