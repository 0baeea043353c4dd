//! Typed settings from the environment, with every problem reported at once.
//!
//! A service reads a few dozen variables at startup. Failing on the first bad one makes
//! an operator fix them one restart at a time; [`EnvReader`] instead records every
//! missing or malformed variable, keeps going with the default, and [`finish`]es with an
//! [`EnvError`] that lists them all, one line each, each naming its variable.
//!
//! Values are trimmed and an empty value means unset (so `FOO=` in a `.env` file or a
//! manifest does not silently become an empty setting). A value that is not valid UTF-8
//! is a problem, never read as unset. Messages quote a refused value only where the
//! getter's documentation says so, escaped and cut to [`MAX_QUOTED_CHARS`] characters, so a
//! stray newline cannot forge another line of the report; getters for secrets
//! ([`required`], [`number`], [`parse_with`]) never quote the value.
//!
//! ```
//! use std::collections::HashMap;
//! use std::time::Duration;
//! use keel_validation::env::EnvReader;
//!
//! let vars = HashMap::from([
//!     ("APP_WORKERS", "0"),
//!     ("APP_LOG", "xml"),
//!     ("APP_TIMEOUT_SECS", "30"),
//! ]);
//! let mut env = EnvReader::from_lookup(|var| vars.get(var).map(|v| v.to_string()));
//! let url = env.required("APP_DATABASE_URL", " (a PostgreSQL URL)");
//! let workers = env.number("APP_WORKERS", 1..=64_u32, "a number").unwrap_or(4);
//! let pretty = env.one_of("APP_LOG", &[("json", false), ("pretty", true)], false);
//! let timeout = env.secs("APP_TIMEOUT_SECS", 10, 1..=300);
//! assert_eq!(timeout, Duration::from_secs(30));
//!
//! let err = env.finish(url.map(|url| (url, workers, pretty))).unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "invalid configuration:\n  \
//!      - APP_DATABASE_URL is not set (a PostgreSQL URL)\n  \
//!      - APP_WORKERS must be a number in 1..=64\n  \
//!      - APP_LOG `xml` must be json or pretty"
//! );
//! assert_eq!(err.problems()[1].var(), "APP_WORKERS");
//! ```
//!
//! [`finish`]: EnvReader::finish
//! [`required`]: EnvReader::required
//! [`number`]: EnvReader::number
//! [`parse_with`]: EnvReader::parse_with

#[cfg(feature = "dotenv")]
mod dotenv;
mod problem;

use std::fmt::{self, Display, Write as _};
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

pub use problem::{EnvError, EnvProblem};

/// The most characters of a refused value a message quotes (the rest becomes `…`).
pub const MAX_QUOTED_CHARS: usize = 64;

/// What the lookup found for one variable.
enum Raw {
    Unset,
    Value(String),
    NotUnicode,
}

/// Reads typed settings from the environment (or any lookup function), collecting every
/// problem; see the [module docs](self).
///
/// Each getter returns the value, or the default / `None` after recording a problem
/// that names the variable. [`finish`](Self::finish) turns the problems into one
/// [`EnvError`].
pub struct EnvReader<'a> {
    lookup: Box<dyn Fn(&str) -> Raw + 'a>,
    problems: Vec<EnvProblem>,
}

impl fmt::Debug for EnvReader<'_> {
    // The lookup is opaque (and may see secrets); the problems quote no secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvReader")
            .field("problems", &self.problems)
            .finish_non_exhaustive()
    }
}

impl<'a> EnvReader<'a> {
    /// Reads through `lookup` (a map in tests, a configuration store, …); `None` means
    /// unset.
    ///
    /// ```
    /// use keel_validation::env::EnvReader;
    /// let mut env = EnvReader::from_lookup(|var| (var == "PORT").then(|| " 8080 ".to_owned()));
    /// assert_eq!(env.number("PORT", 1..=65535_u16, "a port"), Some(8080));
    /// assert!(env.finish(Some(())).is_ok());
    /// ```
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String> + 'a) -> Self {
        Self {
            lookup: Box::new(move |var| lookup(var).map_or(Raw::Unset, Raw::Value)),
            problems: Vec::new(),
        }
    }

    /// Reads the process environment. A value that is not valid UTF-8 is reported as a
    /// problem (never read as unset, which would silently select the default).
    pub fn from_process_env() -> Self {
        Self {
            lookup: Box::new(|var| match std::env::var(var) {
                Ok(value) => Raw::Value(value),
                Err(std::env::VarError::NotPresent) => Raw::Unset,
                Err(std::env::VarError::NotUnicode(_)) => Raw::NotUnicode,
            }),
            problems: Vec::new(),
        }
    }

    /// `var`'s value, trimmed; `None` when unset or empty.
    pub fn optional(&mut self, var: &str) -> Option<String> {
        match (self.lookup)(var) {
            Raw::Unset => None,
            Raw::Value(value) => Some(value.trim())
                .filter(|v| !v.is_empty())
                .map(str::to_owned),
            Raw::NotUnicode => self.refuse(var, "is not valid UTF-8"),
        }
    }

    /// `var`'s value, or `default` when unset.
    pub fn or(&mut self, var: &str, default: &str) -> String {
        self.optional(var).unwrap_or_else(|| default.to_owned())
    }

    /// `var`'s value; when unset, records "`var` is not set`hint`" (the hint says what
    /// to set it to; start it with a space or a colon).
    pub fn required(&mut self, var: &str, hint: &str) -> Option<String> {
        let value = self.optional(var);
        if value.is_none() && !self.names(var) {
            self.problem(var, format!("is not set{hint}"));
        }
        value
    }

    /// A comma-separated list: entries trimmed, empty ones skipped; unset is empty.
    pub fn list(&mut self, var: &str) -> Vec<String> {
        let value = self.optional(var).unwrap_or_default();
        let entries = value.split(',').map(str::trim).filter(|e| !e.is_empty());
        entries.map(str::to_owned).collect()
    }

    /// `var` parsed with [`FromStr`]; a refusal quotes the value: "`var` \`value\` must
    /// be `expected`". Use [`parse_with`](Self::parse_with) for secrets.
    pub fn parse<T: FromStr>(&mut self, var: &str, expected: &str) -> Option<T> {
        let value = self.optional(var)?;
        match value.parse() {
            Ok(parsed) => Some(parsed),
            Err(_) => self.refuse(var, format!("{} must be {expected}", quoted(&value))),
        }
    }

    /// `var` converted by `convert` (often `str::parse` of a type whose error explains
    /// itself); a refusal reads "`var`: `error`" (the value is not quoted: the error
    /// decides what it shows).
    pub fn parse_with<T, E: Display>(
        &mut self,
        var: &str,
        convert: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        let value = self.optional(var)?;
        match convert(&value) {
            Ok(converted) => Some(converted),
            Err(error) => {
                let message = format!("{var}: {error}");
                self.problems.push(EnvProblem::new(var, message));
                None
            }
        }
    }

    /// A number in `range`; a refusal (not a number, or out of range) reads "`var` must
    /// be `what` in `start..=end`" without quoting the value.
    pub fn number<T>(&mut self, var: &str, range: RangeInclusive<T>, what: &str) -> Option<T>
    where
        T: FromStr + PartialOrd + Display,
    {
        let value = self.optional(var)?;
        match value.parse() {
            Ok(n) if range.contains(&n) => Some(n),
            _ => self.refuse(
                var,
                format!("must be {what} in {}..={}", range.start(), range.end()),
            ),
        }
    }

    /// Whole seconds in `range`, `default` seconds when unset or refused.
    pub fn secs(&mut self, var: &str, default: u64, range: RangeInclusive<u64>) -> Duration {
        let secs = self.number(var, range, "a whole number of seconds");
        Duration::from_secs(secs.unwrap_or(default))
    }

    /// Whole milliseconds in `range`, `default` milliseconds when unset or refused.
    pub fn millis(&mut self, var: &str, default: u64, range: RangeInclusive<u64>) -> Duration {
        let millis = self.number(var, range, "a whole number of milliseconds");
        Duration::from_millis(millis.unwrap_or(default))
    }

    /// `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off` (any case); `default` when unset.
    /// A refusal quotes the value: "`var` \`value\` must be true or false".
    pub fn flag(&mut self, var: &str, default: bool) -> bool {
        const FLAGS: [(&str, bool); 8] = [
            ("true", true),
            ("false", false),
            ("1", true),
            ("0", false),
            ("yes", true),
            ("no", false),
            ("on", true),
            ("off", false),
        ];
        self.choose(var, &FLAGS, default, "true or false")
    }

    /// The value paired with `var`'s value among `choices` (names compared ignoring
    /// ASCII case); `default` when unset. A refusal quotes the value and lists the
    /// choices: "`var` \`value\` must be a, b or c".
    pub fn one_of<T: Clone>(&mut self, var: &str, choices: &[(&str, T)], default: T) -> T {
        let mut names = String::new();
        for (i, (name, _)) in choices.iter().enumerate() {
            let sep = match i {
                0 => "",
                i if i + 1 == choices.len() => " or ",
                _ => ", ",
            };
            let _ = write!(names, "{sep}{name}");
        }
        self.choose(var, choices, default, &names)
    }

    fn choose<T: Clone>(&mut self, var: &str, choices: &[(&str, T)], default: T, names: &str) -> T {
        let Some(value) = self.optional(var) else {
            return default;
        };
        match choices.iter().find(|(n, _)| n.eq_ignore_ascii_case(&value)) {
            Some((_, chosen)) => chosen.clone(),
            None => {
                self.problem(var, format!("{} must be {names}", quoted(&value)));
                default
            }
        }
    }

    /// `value` (of `var`) when it starts with one of `schemes` followed by `://`;
    /// otherwise records "`var` must start with a:// or b://" (the value, maybe a URL
    /// with a password, is not quoted).
    pub fn scheme(&mut self, var: &str, value: String, schemes: &[&str]) -> Option<String> {
        let ok = schemes.iter().any(|s| {
            value
                .strip_prefix(s)
                .is_some_and(|rest| rest.starts_with("://"))
        });
        if ok {
            return Some(value);
        }
        let list: Vec<String> = schemes.iter().map(|s| format!("{s}://")).collect();
        self.refuse(var, format!("must start with {}", list.join(" or ")))
    }

    /// Records a problem of `var`: the message is "`var` `detail`".
    pub fn problem(&mut self, var: &str, detail: impl Display) {
        self.problems
            .push(EnvProblem::new(var, format!("{var} {detail}")));
    }

    /// Records a problem of `var` ("`var` `detail`") and returns `None`: the setting has
    /// no value.
    pub fn refuse<T>(&mut self, var: &str, detail: impl Display) -> Option<T> {
        self.problem(var, detail);
        None
    }

    /// The problems recorded so far, in the order found.
    pub fn problems(&self) -> &[EnvProblem] {
        &self.problems
    }

    /// `value` when no problem was recorded; otherwise an [`EnvError`] listing every
    /// problem.
    ///
    /// `value` is typically built from the `Option`s of the required settings, so it is
    /// `None` exactly when one of them was missing (and recorded).
    ///
    /// # Errors
    /// [`EnvError`] with every recorded problem; when `value` is `None` and nothing was
    /// recorded (a caller's bug, not an operator's), one problem saying a required
    /// setting is missing.
    pub fn finish<T>(self, value: Option<T>) -> Result<T, EnvError> {
        match value {
            Some(value) if self.problems.is_empty() => Ok(value),
            None if self.problems.is_empty() => Err(EnvError::new(vec![EnvProblem::new(
                "",
                "a required setting is missing".to_owned(),
            )])),
            _ => Err(EnvError::new(self.problems)),
        }
    }

    /// Whether a problem of `var` is already recorded (non-UTF-8: no "is not set" too).
    fn names(&self, var: &str) -> bool {
        self.problems.iter().any(|p| p.var() == var)
    }
}

/// `` `value` ``, control characters escaped and cut to [`MAX_QUOTED_CHARS`] characters.
fn quoted(value: &str) -> String {
    let mut out = String::from("`");
    for (i, c) in value.chars().enumerate() {
        if i == MAX_QUOTED_CHARS {
            out.push('…');
            break;
        }
        match c {
            '`' => out.push('\''),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out.push('`');
    out
}

#[cfg(test)]
mod tests;
