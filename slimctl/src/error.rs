//! Errors of the library. Each names the thing that is wrong and what the user can do about it;
//! [`ErrorClass`] says whose it is, which the CLI turns into an exit code in one table.

use crate::engine::EngineError;
use std::path::PathBuf;

/// Whose a failure is, for exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// A command line that cannot mean anything (a malformed reference or option).
    Usage,
    /// Bad image, archive, path or option.
    Input,
    /// Docker engine unreachable, permissions, disk.
    Environment,
    /// The target failed under its probes: never answered, exited early, a probe could not run.
    Probe,
    /// slimctl itself: a worker that stopped, an answer that contradicts what it just did.
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("image {name:?} is not in the Docker engine (no registry is consulted); build or load it first, or check the name with `docker images`")]
    NotFound { name: String },
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A registry failed or refused; `input` when the user can fix it (credentials, name).
    #[error("{image}: {action} failed: {detail}")]
    Registry { image: String, action: String, detail: String, input: bool },
    #[error("{what} is not a valid image: {detail}")]
    Corrupt { what: String, detail: String },
    #[error("{what}: {detail}")]
    Unsupported { what: String, detail: String },
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
}

/// The innermost message of an error chain.
pub fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    let mut msg = e.to_string();
    while let Some(next) = cur.source() {
        msg = next.to_string();
        cur = next;
    }
    msg
}

/// Every message of an error chain, outermost first: for --json and logs.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> Vec<String> {
    std::iter::successors(Some(e), |e| e.source()).map(|e| e.to_string()).collect()
}

impl ImageError {
    pub fn class(&self) -> ErrorClass {
        match self {
            ImageError::Engine(_) | ImageError::Write { .. } | ImageError::Registry { input: false, .. } => {
                ErrorClass::Environment
            }
            _ => ErrorClass::Input,
        }
    }

    /// Details often quote bytes of the damaged input (the tar crate echoes header fields): keep
    /// them printable and short so the error stays one readable line.
    pub(crate) fn corrupt(what: impl Into<String>, detail: impl Into<String>) -> ImageError {
        let detail: String = detail.into();
        let mut clean: String = detail.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        if clean.chars().count() > 240 {
            clean = clean.chars().take(240).collect::<String>() + "…";
        }
        ImageError::Corrupt { what: what.into(), detail: clean }
    }
}
