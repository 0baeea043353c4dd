//! The libpq TLS keys the driver does not know: `sslmode=verify-ca|verify-full` and
//! `sslrootcert=…` are taken out of the connection string before the driver parses
//! the rest (tokio-postgres only knows `disable`, `prefer` and `require`).

use std::path::PathBuf;

use super::options::SslMode;

/// TLS settings found in a connection string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct UrlTls {
    pub(crate) mode: Option<SslMode>,
    pub(crate) root_cert: Option<PathBuf>,
}

/// Removes `sslmode` and `sslrootcert` from a URL (`postgres://…?sslmode=…`) or a
/// libpq `key=value` string; returns the rest and what was removed.
pub(crate) fn split_tls(conn: &str) -> Result<(String, UrlTls), String> {
    let trimmed = conn.trim();
    if trimmed.starts_with("postgres://") || trimmed.starts_with("postgresql://") {
        split_url(trimmed)
    } else {
        split_key_values(trimmed)
    }
}

fn apply(tls: &mut UrlTls, key: &str, value: &str) -> Result<bool, String> {
    match key {
        "sslmode" => {
            tls.mode = Some(value.parse().map_err(|e: crate::Error| match e {
                crate::Error::Config(m) => m,
                other => other.to_string(),
            })?);
            Ok(true)
        }
        "sslrootcert" => {
            if value == "system" {
                return Err(
                    "sslrootcert=system is not supported: give the path of a PEM file with the root certificates"
                        .to_owned(),
                );
            }
            tls.root_cert = Some(PathBuf::from(value));
            Ok(true)
        }
        _ => Ok(false),
    }
}

fn split_url(url: &str) -> Result<(String, UrlTls), String> {
    let mut tls = UrlTls::default();
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), tls));
    };
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(key)?;
        let value = percent_decode(value)?;
        if !apply(&mut tls, &key, &value)? {
            kept.push(pair);
        }
    }
    let rest = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((rest, tls))
}

fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or("invalid percent-encoding in the database URL")?;
                out.push(hex);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| "the database URL is not valid UTF-8".to_owned())
}

/// libpq `key = value` pairs: values are bare words or single-quoted, with `\`
/// escaping the next character in both.
fn split_key_values(s: &str) -> Result<(String, UrlTls), String> {
    let mut tls = UrlTls::default();
    let mut kept = String::with_capacity(s.len());
    let mut chars = s.char_indices().peekable();
    loop {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let Some(&(start, _)) = chars.peek() else {
            break;
        };
        let mut key = String::new();
        while let Some((_, c)) = chars.next_if(|(_, c)| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        if chars.next_if(|(_, c)| *c == '=').is_none() {
            return Err(format!(
                "invalid connection string: expected `=` after {key:?}"
            ));
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        let quoted = chars.next_if(|(_, c)| *c == '\'').is_some();
        let mut closed = !quoted;
        while let Some((_, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, next)) = chars.next() {
                        value.push(next);
                    }
                }
                '\'' if quoted => {
                    closed = true;
                    break;
                }
                c if !quoted && c.is_whitespace() => break,
                c => value.push(c),
            }
        }
        if !closed {
            return Err("invalid connection string: unterminated quoted value".to_owned());
        }
        let end = chars.peek().map_or(s.len(), |(i, _)| *i);
        if !apply(&mut tls, &key, &value)? {
            if !kept.is_empty() {
                kept.push(' ');
            }
            kept.push_str(s[start..end].trim_end());
        }
    }
    Ok((kept, tls))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, rest: &str, mode: Option<SslMode>, root: Option<&str>) {
        let (r, tls) = split_tls(input).unwrap();
        assert_eq!(r, rest, "{input}");
        assert_eq!(tls.mode, mode, "{input}");
        assert_eq!(
            tls.root_cert.as_deref(),
            root.map(std::path::Path::new),
            "{input}"
        );
    }

    #[test]
    fn urls() {
        check("postgres://a@h/db", "postgres://a@h/db", None, None);
        check(
            "postgres://a@h/db?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem",
            "postgres://a@h/db",
            Some(SslMode::VerifyFull),
            Some("/etc/ca.pem"),
        );
        check(
            "postgresql://a@h/db?application_name=x&sslmode=require&connect_timeout=2",
            "postgresql://a@h/db?application_name=x&connect_timeout=2",
            Some(SslMode::Require),
            None,
        );
        assert!(split_tls("postgres://a@h/db?sslmode=allow").is_err());
        assert!(split_tls("postgres://a@h/db?sslrootcert=system").is_err());
        assert!(split_tls("postgres://a@h/db?sslmode=%zz").is_err());
    }

    #[test]
    fn key_values() {
        check(
            "host=h user=a sslmode=verify-ca sslrootcert='/a b/ca.pem'",
            "host=h user=a",
            Some(SslMode::VerifyCa),
            Some("/a b/ca.pem"),
        );
        check(
            "host = h  password='it\\'s' sslmode = disable dbname=x",
            "host = h password='it\\'s' dbname=x",
            Some(SslMode::Disable),
            None,
        );
        assert!(split_tls("host=h sslmode").is_err());
        assert!(split_tls("host='h").is_err());
    }
}
