//! [`EnvProblem`] and [`EnvError`]: what [`EnvReader`](super::EnvReader) found wrong.

use std::fmt;

/// One problem with one variable: its name and a message that names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvProblem {
    var: String,
    message: String,
}

impl EnvProblem {
    /// A problem of `var`; `message` names the variable (getters of
    /// [`EnvReader`](super::EnvReader) start it with `var`).
    pub fn new(var: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            var: var.into(),
            message: message.into(),
        }
    }

    /// The variable's name (empty for a problem of no single variable).
    pub fn var(&self) -> &str {
        &self.var
    }

    /// The message, e.g. ``KEEL_BIND `nowhere` must be an address``.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for EnvProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Every problem found in the environment, in the order found. `Display` writes
/// `invalid configuration:` and then one `  - message` line per problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct EnvError {
    problems: Vec<EnvProblem>,
}

impl EnvError {
    /// An error listing `problems`.
    pub fn new(problems: Vec<EnvProblem>) -> Self {
        Self { problems }
    }

    /// The problems, in the order found.
    pub fn problems(&self) -> &[EnvProblem] {
        &self.problems
    }

    /// The messages, in the order found.
    pub fn messages(&self) -> impl Iterator<Item = &str> {
        self.problems.iter().map(EnvProblem::message)
    }

    /// The problems, by value.
    pub fn into_problems(self) -> Vec<EnvProblem> {
        self.problems
    }
}

impl fmt::Display for EnvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid configuration:")?;
        for problem in &self.problems {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}
