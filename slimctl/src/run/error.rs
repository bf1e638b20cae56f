//! What can go wrong running the target, one error type for the whole run stage: at the bottom of
//! it, so every file of the stage uses it and none has to import another for it.

use crate::engine::EngineError;
use crate::error::{ErrorClass, ImageError};
use sensor::SensorError;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The eBPF sensor could not load, attach, or keep up.
    #[error(transparent)]
    Sensor(#[from] SensorError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The run's settings cannot run: the message says what to change.
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// The target did not behave under its probes.
    #[error(transparent)]
    Probe(#[from] ProbeError),
    /// The image a neighbour of the target runs (a stack service, the probe container) could not
    /// be looked up.
    #[error("{what}: {source}")]
    Image {
        what: String,
        #[source]
        source: Box<ImageError>,
    },
    /// One of slimctl's own workers stopped (a probe's thread, the sensor's reader).
    #[error("{what} failed: {source}")]
    Worker {
        what: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },
}

impl RunError {
    pub fn class(&self) -> ErrorClass {
        match self {
            RunError::Sensor(_) | RunError::Engine(_) => ErrorClass::Environment,
            RunError::Setup(_) => ErrorClass::Input,
            RunError::Probe(_) => ErrorClass::Probe,
            RunError::Image { source, .. } => source.class(),
            RunError::Worker { .. } => ErrorClass::Internal,
        }
    }
}

/// Settings the target (or a neighbour of it) cannot run with.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(
        "the image has no ENTRYPOINT or CMD, so there is nothing to run and trace; give one with --cmd or \
         --entrypoint (or use --no-trace with --include)"
    )]
    NothingToRun,
    #[error("probe port {port} is not exposed by the image (exposed: {}); add --expose {port}", exposed_list(.exposed))]
    PortNotExposed { port: u16, exposed: Vec<u16> },
    #[error("the container could not start: {message}; check the entrypoint and the --mount/--user/--workdir flags")]
    CannotStart { message: String },
    #[error(
        "{who} waits for {name} to be healthy, but {name} has no healthcheck (give it one in the Compose file, or \
         use condition: service_started)"
    )]
    NoHealthcheck { who: String, name: String },
    /// A neighbour of the target (`what` names it) cannot run; `hint` says which flag sets it.
    #[error("{what}: {source}{hint}")]
    Neighbour {
        what: String,
        hint: &'static str,
        #[source]
        source: Box<SetupError>,
    },
}

fn exposed_list(ports: &[u16]) -> String {
    if ports.is_empty() {
        return "none".into();
    }
    ports.iter().map(|p| format!("{p}/tcp")).collect::<Vec<_>>().join(", ")
}

/// How the target failed under its probes, with its last output when it printed any.
#[derive(Debug, thiserror::Error)]
#[error("{failure}{}", last_output(.logs))]
pub struct ProbeError {
    pub failure: ProbeFailure,
    /// The container's last lines of output (empty when it printed nothing or they were not
    /// asked for).
    pub logs: String,
}

fn last_output(logs: &str) -> String {
    if logs.trim().is_empty() {
        String::new()
    } else {
        format!("; its last output:\n{logs}")
    }
}

impl From<ProbeFailure> for ProbeError {
    fn from(failure: ProbeFailure) -> ProbeError {
        ProbeError { failure, logs: String::new() }
    }
}

impl From<ProbeFailure> for RunError {
    fn from(failure: ProbeFailure) -> RunError {
        RunError::Probe(failure.into())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProbeFailure {
    /// It exited while slimctl waited for it (`before`: what it was waiting for).
    #[error("the container ended ({}) before {before}", super::describe_exit(Some(*code)))]
    Ended { code: i64, before: String },
    #[error("port {port} was not published by the engine")]
    NotPublished { port: u16 },
    #[error(
        "the container never listened on port {} within {seconds} s; the app may listen on another port or need \
         longer to start (--probe-timeout)", ports_list(.ports)
    )]
    NeverListened { ports: Vec<u16>, seconds: u64 },
    #[error(
        "no answer to {method} {path} on port {port} within {seconds} s (last error: {last_error}); the app may \
         need longer to start (--probe-timeout)"
    )]
    NoAnswer { method: String, path: String, port: u16, seconds: u64, last_error: String },
    #[error("the {proto} probe on port {port} failed: {why}{}", login_hint(.why))]
    Protocol { proto: String, port: u16, why: String },
    #[error("--api-spec-path {path} on port {port}: {why}")]
    ApiSpec { path: String, port: u16, why: String },
    #[error(
        "the container was still running after {seconds} s; for a service, expose its port or give probes \
         (--http-probe-cmd, --exec); else raise --run-timeout"
    )]
    StillRunning { seconds: u64 },
    #[error("cannot wait for SIGUSR1: {0}")]
    Signal(#[source] std::io::Error),
    #[error("--host-exec {command}: cannot start `sh` on this host: {source}")]
    HostExec {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the sensor never saw the container's processes start; is the engine on this machine (DOCKER_HOST must be \
         local)?"
    )]
    NeverSeen,
    /// A dependency of the stack failed its condition.
    #[error("stack: {what}")]
    Dependency { what: String },
    /// Under verify, the image could not even start: a finding, not an error.
    #[error("{0}")]
    NotStarted(#[source] Box<RunError>),
    /// The original itself failed under the probes verify replays: nothing to compare against.
    #[error("verify: the original failed under the verify probes: {0}")]
    OriginalFailed(String),
}

fn ports_list(ports: &[u16]) -> String {
    ports.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
}

fn login_hint(why: &str) -> &'static str {
    if why.contains("password") || why.contains("authentication") {
        " (give the login with --probe-user/--probe-password/--probe-database)"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_failure_reads_as_one_sentence_with_the_last_output() {
        let e = RunError::from(ProbeError {
            failure: ProbeFailure::NeverListened { ports: vec![8080, 9090], seconds: 60 },
            logs: "Traceback...\nModuleNotFoundError: flask".into(),
        });
        let text = e.to_string();
        assert!(text.starts_with("the container never listened on port 8080, 9090 within 60 s;"), "{text}");
        assert!(text.ends_with("; its last output:\nTraceback...\nModuleNotFoundError: flask"), "{text}");
        assert_eq!(e.class(), ErrorClass::Probe);
        let quiet = ProbeError::from(ProbeFailure::Ended { code: 137, before: "listening on port 80".into() });
        assert_eq!(quiet.to_string(), "the container ended (killed by signal 9) before listening on port 80");
    }

    #[test]
    fn setup_errors_name_what_to_change() {
        let e = SetupError::PortNotExposed { port: 9000, exposed: vec![] };
        assert_eq!(e.to_string(), "probe port 9000 is not exposed by the image (exposed: none); add --expose 9000");
        let inner = SetupError::CannotStart { message: "no such file".into() };
        let e = SetupError::Neighbour {
            what: "probe container tests".into(),
            hint: " (--probe-cmd sets its command)",
            source: Box::new(inner),
        };
        assert!(e.to_string().starts_with("probe container tests: the container could not start: no such file"));
        assert!(e.to_string().ends_with("(--probe-cmd sets its command)"));
        assert_eq!(RunError::from(e).class(), ErrorClass::Input);
    }

    #[test]
    fn a_refused_login_hints_at_the_flags() {
        let e = ProbeFailure::Protocol {
            proto: "postgres".into(),
            port: 5432,
            why: "password authentication failed".into(),
        };
        assert!(e.to_string().ends_with("(give the login with --probe-user/--probe-password/--probe-database)"));
    }
}
