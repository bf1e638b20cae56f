//! Command strings the user gives (`--cmd`, `--entrypoint`, `--exec` in an image without a
//! shell, `--probe-cmd`, a Compose file's string `command:`), split into an argv the one way a
//! shell would: quotes group words, backslashes escape. Nothing else in slimctl splits commands.

/// A command string that cannot be split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgvError {
    #[error("{0:?}: unbalanced quotes (or a trailing backslash)")]
    Unbalanced(String),
    #[error("{text:?}: not a JSON array of strings: {detail}")]
    NotJson { text: String, detail: String },
}

/// `s` split into words as a POSIX shell splits a command line (no expansion, no operators).
pub fn shell_words(s: &str) -> Result<Vec<String>, ArgvError> {
    shlex::split(s).ok_or_else(|| ArgvError::Unbalanced(s.to_owned()))
}

/// A command as a flag takes it: a JSON array (`["sh", "-c", "echo hi"]`), exactly as given, or
/// a string split into shell words.
pub fn command(s: &str) -> Result<Vec<String>, ArgvError> {
    if s.trim_start().starts_with('[') {
        serde_json::from_str(s).map_err(|e| ArgvError::NotJson { text: s.to_owned(), detail: e.to_string() })
    } else {
        shell_words(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_words_stay_one_argument() {
        assert_eq!(command(r#"bash -c "echo hello world""#).unwrap(), ["bash", "-c", "echo hello world"]);
        assert_eq!(command("sh -c 'ls -l /tmp' x").unwrap(), ["sh", "-c", "ls -l /tmp", "x"]);
        assert_eq!(shell_words(r"printf a\ b").unwrap(), ["printf", "a b"]);
        assert_eq!(command("  /app/server   --port 8080 ").unwrap(), ["/app/server", "--port", "8080"]);
    }

    #[test]
    fn json_arrays_are_taken_as_they_are() {
        assert_eq!(command(r#"["sh", "-c", "echo 'a b'"]"#).unwrap(), ["sh", "-c", "echo 'a b'"]);
        assert!(matches!(command(r#"["sh", 1]"#), Err(ArgvError::NotJson { .. })));
    }

    #[test]
    fn unbalanced_quotes_are_an_error_naming_the_string() {
        let e = command(r#"bash -c "echo"#).unwrap_err();
        assert_eq!(e.to_string(), r#""bash -c \"echo": unbalanced quotes (or a trailing backslash)"#);
    }
}
