//! The container engine slimctl talks to: Docker's, or podman's Docker-compatible API service,
//! on this host or remote; found as the user says (`--engine`, DOCKER_HOST, CONTAINER_HOST) and
//! reached with the API version negotiated (the engine here speaks 1.41 at most). What the
//! engine says when it fails is [`EngineError`], whichever stage asked.

use crate::error::root_cause;
use bollard::Docker;

/// The engine could not be reached, failed, or answered what the API does not promise.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot reach the engine at {endpoint}: {detail}; is dockerd (or `podman system service`) running, and is --engine / DOCKER_HOST right?")]
    Unreachable {
        endpoint: String,
        /// The innermost cause, readable (hyper's outer messages hide it).
        detail: String,
        #[source]
        source: Option<bollard::errors::Error>,
    },
    #[error("the engine failed while {action}: {}", engine_message(.source))]
    Failed {
        action: String,
        #[source]
        source: bollard::errors::Error,
    },
    /// The engine answered, but not what the API promises.
    #[error("the engine failed while {action}: {detail}")]
    Answer { action: String, detail: String },
}

impl EngineError {
    /// `action` failed with `source`.
    pub fn failed(action: impl Into<String>, source: bollard::errors::Error) -> EngineError {
        EngineError::Failed { action: action.into(), source }
    }

    /// The engine's status code, when it answered with an error.
    pub fn status(&self) -> Option<u16> {
        match self {
            EngineError::Failed {
                source: bollard::errors::Error::DockerResponseServerError { status_code, .. },
                ..
            } => Some(*status_code),
            _ => None,
        }
    }
}

/// What the engine said: its own message for an API error, else the innermost cause (hyper's
/// outer messages, "client error (Connect)", hide the useful part).
pub fn engine_message(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        other => root_cause(other),
    }
}

/// The engine's address given on the command line (`--engine`); set once, before any connect.
static ENGINE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Uses `url` (unix:///PATH, a socket path, tcp://HOST:PORT or http://…) instead of the
/// environment's engine for every connection of this process.
pub fn use_engine(url: &str) {
    let _ = ENGINE.set(url.to_owned());
}

/// Where the engine is, and who said so: `--engine`, then DOCKER_HOST, then CONTAINER_HOST
/// (podman's variable), then Docker's local socket.
pub fn endpoint() -> (String, &'static str) {
    if let Some(e) = ENGINE.get() {
        return (e.clone(), "--engine");
    }
    for var in ["DOCKER_HOST", "CONTAINER_HOST"] {
        if let Ok(v) = std::env::var(var) {
            if !v.is_empty() {
                return (v, var);
            }
        }
    }
    ("unix:///var/run/docker.sock".into(), "the default")
}

/// Whether slimctl can use `endpoint` as an engine address (for the CLI's argument check).
pub fn check_address(endpoint: &str) -> Result<String, String> {
    transport(endpoint).map(|_| endpoint.to_owned())
}

/// How bollard reaches an address.
#[derive(Debug, PartialEq)]
enum Transport {
    Unix(String),
    Http(String),
}

fn transport(endpoint: &str) -> Result<Transport, String> {
    if let Some(path) = endpoint.strip_prefix("unix://") {
        return Ok(Transport::Unix(path.to_owned()));
    }
    if endpoint.starts_with('/') {
        return Ok(Transport::Unix(endpoint.to_owned()));
    }
    if let Some(rest) = endpoint.strip_prefix("tcp://") {
        return Ok(Transport::Http(format!("http://{rest}")));
    }
    if endpoint.starts_with("http://") {
        return Ok(Transport::Http(endpoint.to_owned()));
    }
    Err(format!(
        "{endpoint:?} is no engine address slimctl can use: give unix:///PATH/TO.sock, a socket path, or tcp://HOST:PORT"
    ))
}

/// Whether the engine is on this host (a unix socket): only then are its paths this host's
/// paths and its containers' processes this kernel's.
pub fn is_local() -> bool {
    matches!(transport(&endpoint().0), Ok(Transport::Unix(_)))
}

/// bollard's timeout bounds a whole request, body included: exporting an image of 400k files
/// streams for minutes (measured: over 120 s on fuse-overlayfs). Steps that must not wait long
/// (version negotiation, probes, a container's start) have their own limits.
const REQUEST_TIMEOUT_S: u64 = 3600;

/// Connects to the engine (see [`endpoint`]) and negotiates the API version. Docker and podman's
/// Docker-compatible service are both engines here.
pub async fn connect() -> Result<Docker, EngineError> {
    let (endpoint, from) = endpoint();
    let shown = if from == "the default" { endpoint.clone() } else { format!("{endpoint} (from {from})") };
    let unreachable = |source: bollard::errors::Error| EngineError::Unreachable {
        endpoint: shown.clone(),
        detail: root_cause(&source),
        source: Some(source),
    };
    let docker = match transport(&endpoint) {
        Ok(Transport::Unix(path)) => Docker::connect_with_unix(&path, REQUEST_TIMEOUT_S, bollard::API_DEFAULT_VERSION),
        Ok(Transport::Http(url)) => Docker::connect_with_http(&url, REQUEST_TIMEOUT_S, bollard::API_DEFAULT_VERSION),
        Err(detail) => return Err(EngineError::Unreachable { endpoint: shown, detail, source: None }),
    }
    .map_err(unreachable)?;
    let docker = tokio::time::timeout(std::time::Duration::from_secs(15), docker.negotiate_version())
        .await
        .map_err(|_| EngineError::Unreachable {
            endpoint: shown.clone(),
            detail: "no answer within 15 s".into(),
            source: None,
        })?
        .map_err(unreachable)?;
    Ok(docker)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_addresses_map_to_transports() {
        assert_eq!(transport("unix:///run/podman/podman.sock"), Ok(Transport::Unix("/run/podman/podman.sock".into())));
        assert_eq!(transport("/tmp/p.sock"), Ok(Transport::Unix("/tmp/p.sock".into())));
        assert_eq!(transport("tcp://10.0.0.2:2375"), Ok(Transport::Http("http://10.0.0.2:2375".into())));
        let err = transport("ssh://host").unwrap_err();
        assert!(err.contains("ssh://host") && err.contains("unix:///"), "{err}");
    }
}
