//! Errors of the library. Each names the thing that is wrong and what the user can do about it;
//! [`ErrorClass`] maps them to the CLI's exit codes.

use std::path::PathBuf;

/// Whether a failure is the user's input or the environment, for exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Bad image, archive, path or option.
    Input,
    /// Docker engine unreachable, permissions, disk.
    Environment,
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("image {name:?} is not in the Docker engine (no registry is consulted); build or load it first, or check the name with `docker images`")]
    NotFound { name: String },
    #[error("cannot reach the engine at {endpoint}: {detail}; is dockerd (or `podman system service`) running, and is --engine / DOCKER_HOST right?")]
    EngineUnreachable {
        endpoint: String,
        /// The innermost cause, readable (hyper's outer messages hide it).
        detail: String,
        #[source]
        source: Option<bollard::errors::Error>,
    },
    #[error("the Docker engine failed while {action}: {}", engine_message(.source))]
    Engine {
        action: String,
        #[source]
        source: bollard::errors::Error,
    },
    /// The engine answered, but not what the API promises.
    #[error("the Docker engine failed while {action}: {detail}")]
    EngineAnswer { action: String, detail: String },
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

/// What the engine said: its own message for an API error, else the innermost cause (hyper's
/// outer messages, "client error (Connect)", hide the useful part).
pub fn engine_message(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        other => root_cause(other),
    }
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
            ImageError::EngineUnreachable { .. }
            | ImageError::Engine { .. }
            | ImageError::EngineAnswer { .. }
            | ImageError::Write { .. }
            | ImageError::Registry { input: false, .. } => ErrorClass::Environment,
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
