//! The `url` rule.

use crate::{AsText, Violation};

/// Options of [`url()`]: allowed schemes (default `http`, `https`), maximum length
/// (default 2048 bytes), whether a host is required (default yes).
///
/// ```
/// use keel_validation::rules::{UrlOptions, url};
/// const ANY: UrlOptions = UrlOptions::new().schemes(&["http", "https", "ftp"]);
/// assert!(url("ftp://example.com/x", &ANY).is_ok());
/// assert!(url("ftp://example.com/x", &UrlOptions::new()).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlOptions {
    schemes: &'static [&'static str],
    max_len: usize,
    require_host: bool,
}

impl Default for UrlOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl UrlOptions {
    /// `http`/`https`, a host, ≤ 2048 bytes.
    pub const fn new() -> Self {
        Self {
            schemes: &["http", "https"],
            max_len: 2048,
            require_host: true,
        }
    }
    /// Allowed schemes, lowercase. An empty list allows any scheme.
    #[must_use]
    pub const fn schemes(mut self, schemes: &'static [&'static str]) -> Self {
        self.schemes = schemes;
        self
    }
    /// Maximum length in bytes.
    #[must_use]
    pub const fn max_len(mut self, n: usize) -> Self {
        self.max_len = n;
        self
    }
    /// Whether a host is required (`mailto:` has none).
    #[must_use]
    pub const fn require_host(mut self, yes: bool) -> Self {
        self.require_host = yes;
        self
    }
}

fn fail(reason: &'static str, message: &'static str, opts: &UrlOptions) -> Violation {
    let v = Violation::new("invalid_url", message).with_param("reason", reason);
    if opts.schemes.is_empty() {
        v
    } else {
        v.with_param("schemes", opts.schemes.to_vec())
    }
}

/// An absolute URL (WHATWG URL parsing) with an allowed scheme.
///
/// Whitespace and control characters are rejected up front: the URL standard
/// silently strips tabs and newlines, which would make the stored value differ
/// from the validated one.
///
/// # Errors
/// `invalid_url` with `reason` (`too_long`, `invalid_chars`, `malformed`,
/// `scheme_not_allowed`, `missing_host`).
///
/// ```
/// use keel_validation::rules::{UrlOptions, url};
/// assert!(url("https://example.com/a?b=c", &UrlOptions::new()).is_ok());
/// assert!(url("javascript:alert(1)", &UrlOptions::new()).is_err());
/// assert!(url("https://exa mple.com", &UrlOptions::new()).is_err());
/// ```
pub fn url(value: &(impl AsText + ?Sized), opts: &UrlOptions) -> Result<(), Violation> {
    let s = value.as_text();
    if s.len() > opts.max_len {
        return Err(fail("too_long", "is too long for a URL", opts).with_param("max", opts.max_len));
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(fail(
            "invalid_chars",
            "must not contain spaces or control characters",
            opts,
        ));
    }
    let Ok(parsed) = ::url::Url::parse(s) else {
        return Err(fail("malformed", "must be a valid absolute URL", opts));
    };
    if !opts.schemes.is_empty() && !opts.schemes.contains(&parsed.scheme()) {
        return Err(fail(
            "scheme_not_allowed",
            "uses a scheme that is not allowed",
            opts,
        ));
    }
    if opts.require_host && parsed.host_str().is_none_or(str::is_empty) {
        return Err(fail("missing_host", "must have a host", opts));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let o = UrlOptions::new();
        for ok in [
            "http://a.b",
            "https://例子.测试/路径",
            "https://[::1]:8080/",
        ] {
            assert!(url(ok, &o).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "example.com",
            "https://",
            "file:///etc/passwd",
            "http://a\tb.c",
            "https://a.b/\u{0}",
        ] {
            assert!(url(bad, &o).is_err(), "{bad:?}");
        }
        assert!(url(&format!("https://a.b/{}", "x".repeat(5000)), &o).is_err());
        assert!(
            url(
                "mailto:a@b.c",
                &UrlOptions::new().schemes(&["mailto"]).require_host(false)
            )
            .is_ok()
        );
    }
}
