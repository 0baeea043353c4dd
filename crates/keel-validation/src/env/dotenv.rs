//! [`EnvReader::from_process_env_and_dotenv`]: the process environment after loading a
//! `.env` file (feature `dotenv`).

use super::EnvReader;

impl EnvReader<'static> {
    /// Loads `.env` from the current directory (or the nearest parent that has one) into
    /// the process environment, variables already set winning, then reads the process
    /// environment like [`from_process_env`](Self::from_process_env).
    ///
    /// A missing file is the normal case in production. A file that cannot be read or
    /// parsed is recorded as a problem of `.env`, which names the offending line by its
    /// variable and never quotes the line (it may hold a secret).
    ///
    /// ```no_run
    /// use keel_validation::env::EnvReader;
    /// let mut env = EnvReader::from_process_env_and_dotenv();
    /// let port = env.number("PORT", 1..=65535_u16, "a port").unwrap_or(8080);
    /// # let _ = port;
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "dotenv")))]
    pub fn from_process_env_and_dotenv() -> Self {
        let loaded = dotenvy::dotenv();
        let mut env = Self::from_process_env();
        if let Err(e) = loaded
            && let Some(problem) = dotenv_problem(&e)
        {
            env.problem(".env", problem);
        }
        env
    }
}

/// What is wrong with the `.env` file, without quoting its content; `None` when it is
/// just absent.
fn dotenv_problem(error: &dotenvy::Error) -> Option<String> {
    match error {
        _ if error.not_found() => None,
        dotenvy::Error::LineParse(line, _) => {
            // The variable's name (up to the first character a name cannot hold).
            let end = line.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
            let name = &line[..end.unwrap_or(line.len())];
            Some(format!("could not be parsed at the line of `{name}`"))
        }
        dotenvy::Error::Io(e) => Some(format!("could not be read: {e}")),
        // A substitution of a non-UTF-8 variable: its `Display` would quote the value.
        _ => Some("could not be read: it refers to a variable that is not valid UTF-8".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_never_quote_the_file() {
        let line = "KEEL_JWT_SECRET='hunter2-hunter2\nOTHER=1".to_owned();
        let problem = dotenv_problem(&dotenvy::Error::LineParse(line, 16)).unwrap_or_default();
        assert_eq!(
            problem,
            "could not be parsed at the line of `KEEL_JWT_SECRET`"
        );
        let not_unicode = std::env::VarError::NotUnicode("s3cr3t".into());
        let problem = dotenv_problem(&dotenvy::Error::EnvVar(not_unicode)).unwrap_or_default();
        assert!(!problem.contains("s3cr3t"), "{problem}");
        let io = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let problem = dotenv_problem(&dotenvy::Error::Io(io)).unwrap_or_default();
        assert!(problem.starts_with("could not be read: "), "{problem}");
    }

    #[test]
    fn a_missing_file_is_no_problem() {
        let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
        assert_eq!(dotenv_problem(&dotenvy::Error::Io(missing)), None);
    }
}
