//! [`Violation`]: one broken rule, before it is placed at a path.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use keel_envelope::{FieldError, FieldPath, Value};

/// One broken rule: a stable `code`, an English `message` rendered from `params`.
///
/// Rules return a `Violation`; [`ValidationErrors::add`](crate::ValidationErrors::add)
/// places it at a [`Path`](crate::Path) and turns it into a wire [`FieldError`].
/// A violation never carries the submitted value.
///
/// ```
/// use keel_validation::Violation;
/// let v = Violation::new("too_short", "must be at least 2 characters").with_param("min", 2u32);
/// assert_eq!(v.code(), "too_short");
/// assert_eq!(v.param("min").and_then(|p| p.as_u64()), Some(2));
/// ```
#[derive(Clone, PartialEq)]
pub struct Violation {
    code: Cow<'static, str>,
    message: Cow<'static, str>,
    params: BTreeMap<Cow<'static, str>, Value>,
}

impl fmt::Debug for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Violation")
            .field("code", &self.code)
            .field("message", &self.message)
            .field("params", &self.params)
            .finish()
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Violation {
    /// A violation with a code and an already rendered message.
    pub fn new(code: impl Into<Cow<'static, str>>, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            params: BTreeMap::new(),
        }
    }

    /// Adds a parameter the message was rendered from (`min`, `max`, …).
    #[must_use]
    pub fn with_param(
        mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<Value>,
    ) -> Self {
        self.params.insert(name.into(), value.into());
        self
    }

    /// Replaces the code.
    ///
    /// ```
    /// use keel_validation::Violation;
    /// assert_eq!(Violation::new("too_short", "m").with_code("name_too_short").code(), "name_too_short");
    /// ```
    #[must_use]
    pub fn with_code(mut self, code: impl Into<Cow<'static, str>>) -> Self {
        self.code = code.into();
        self
    }

    /// Replaces the message by `template` with `{param}` placeholders filled from
    /// the params (unknown placeholders stay as written).
    ///
    /// ```
    /// use keel_validation::Violation;
    /// let v = Violation::new("too_short", "x")
    ///     .with_param("min", 8u32)
    ///     .with_message("needs {min}+ characters");
    /// assert_eq!(v.message(), "needs 8+ characters");
    /// ```
    #[must_use]
    pub fn with_message(mut self, template: impl Into<Cow<'static, str>>) -> Self {
        let template = template.into();
        self.message = if template.contains('{') {
            Cow::Owned(render(&template, &self.params))
        } else {
            template
        };
        self
    }

    /// Drops every string-valued param. Used for fields marked `sensitive`, so that a
    /// custom rule that (wrongly) put the value into a param cannot leak it.
    #[must_use]
    pub fn redacted(mut self) -> Self {
        self.params
            .retain(|_, v| !matches!(v, Value::String(_) | Value::Array(_) | Value::Object(_)));
        self
    }

    /// The stable code.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The English message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// A parameter by name.
    pub fn param(&self, name: &str) -> Option<&Value> {
        self.params.get(name)
    }

    /// All parameters, sorted by name.
    pub fn params(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.params.iter().map(|(k, v)| (k.as_ref(), v))
    }

    /// The wire field error at `path`.
    pub fn into_field_error(self, path: &FieldPath) -> FieldError {
        let mut fe = FieldError::new(path, self.code, self.message);
        fe.params = self.params;
        fe
    }

    /// The wire field error with an already rendered dotted path and pointer.
    pub(crate) fn into_field_error_at(self, field: String, pointer: String) -> FieldError {
        FieldError {
            field,
            pointer,
            code: self.code,
            message: self.message,
            params: self.params,
        }
    }
}

fn render(template: &str, params: &BTreeMap<Cow<'static, str>, Value>) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(template.len() + 8);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('}') {
            Some(end) => {
                let name = &after[..end];
                match params.get(name) {
                    Some(v) => match v {
                        Value::String(s) => out.push_str(s),
                        Value::UInt(n) => {
                            let _ = write!(out, "{n}");
                        }
                        Value::Int(n) => {
                            let _ = write!(out, "{n}");
                        }
                        Value::Float(n) => {
                            let _ = write!(out, "{n}");
                        }
                        Value::Bool(b) => {
                            let _ = write!(out, "{b}");
                        }
                        other => {
                            let _ = write!(out, "{other:?}");
                        }
                    },
                    None => {
                        out.push('{');
                        out.push_str(name);
                        out.push('}');
                    }
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(template: &'static str, expected: &str) {
        let v = Violation::new("c", "m")
            .with_param("min", 2u32)
            .with_param("name", "x")
            .with_message(template);
        assert_eq!(v.message(), expected);
    }

    #[test]
    fn templates() {
        check("plain", "plain");
        check("at least {min}", "at least 2");
        check("{name}/{min}", "x/2");
        check("{unknown} {", "{unknown} {");
    }

    #[test]
    fn redacted_drops_strings() {
        let v = Violation::new("c", "m")
            .with_param("min", 2u32)
            .with_param("value", "hunter2")
            .redacted();
        assert!(v.param("value").is_none());
        assert!(v.param("min").is_some());
    }
}
