//! What a run does to the target: the probes, how long to wait, when tracing ends.

use super::exec::ExecProbe;
use super::http::HttpProbe;
use super::probe_container::ProbeContainer;
use super::proto::{Credentials, ProtoProbe, TcpProbe};
use super::ready::PortKind;
use std::collections::BTreeMap;
use std::time::Duration;

/// How long a stopped app may take to exit before SIGKILL, unless told otherwise.
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(1);

/// When tracing ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContinueAfter {
    /// Once the probes are done (the default when there are probes).
    Probe,
    /// When the container exits by itself (the default for images without probes: CLI/batch).
    Exit,
    /// This long after the probes (or the start, without probes).
    Timeout(Duration),
    /// When slimctl receives SIGUSR1.
    Signal,
    /// When the user presses Enter (or sends SIGUSR1), having exercised the app by hand at the
    /// addresses printed.
    Enter,
}

impl std::str::FromStr for ContinueAfter {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "probe" => Ok(ContinueAfter::Probe),
            "exit" => Ok(ContinueAfter::Exit),
            "signal" => Ok(ContinueAfter::Signal),
            "enter" => Ok(ContinueAfter::Enter),
            // mint's and SlimToolkit's `--continue-after 10`: seconds.
            _ if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                Ok(ContinueAfter::Timeout(Duration::from_secs(s.parse().map_err(|_| format!("{s:?}: too large"))?)))
            }
            _ => match s.strip_prefix("timeout:").map(|n| n.trim_end_matches('s').parse::<u64>()) {
                Some(Ok(n)) => Ok(ContinueAfter::Timeout(Duration::from_secs(n))),
                _ => Err(format!(
                    "--continue-after {s:?}: use probe, exit, timeout:SECONDS (or SECONDS), signal or enter"
                )),
            },
        }
    }
}

#[derive(Debug, Clone)]
pub struct ProbePlan {
    /// The user's HTTP probes; a probe without a port goes to every port that speaks HTTP.
    /// None: GET / on every port that speaks HTTP (unless `http` is false).
    pub http_probes: Vec<HttpProbe>,
    pub http: bool,
    /// Requests from an OpenAPI spec the user gave as a file.
    pub api_spec_requests: Vec<HttpProbe>,
    /// Paths on the app where its spec is (`--api-spec-path`): asked, and a spec that is not
    /// there fails the run.
    pub api_spec_paths: Vec<String>,
    /// Ask the well-known paths for a spec when none is named (a miss is a note, never a failure).
    pub api_discovery: bool,
    pub crawl: bool,
    pub crawl_limit: usize,
    /// `--probe-proto PORT:NAME`: the protocol of a port that is not on its well-known number.
    pub proto_probes: Vec<ProtoProbe>,
    /// `--tcp-probe PORT:SEND:EXPECT`.
    pub tcp_probes: Vec<TcpProbe>,
    /// `--probe-user/--probe-password/--probe-database` (else the image's environment).
    pub credentials: Credentials,
    /// What each port speaks, when known beforehand (a replay: as the traced run found).
    pub port_kinds: BTreeMap<u16, PortKind>,
    pub exec: Vec<ExecProbe>,
    /// `--host-exec`: shell commands run on this host once the app is ready, told where it is.
    pub host_exec: Vec<String>,
    /// `--http-port`: HTTP probes go to these ports only, and they are taken as HTTP.
    pub http_ports: Vec<u16>,
    /// The user's test container (`--probe-container`, `--probe-service`), run once the target
    /// is ready.
    pub test_container: Option<ProbeContainer>,
    pub healthcheck: bool,
    /// How long to wait for readiness, and for each probe to succeed.
    pub probe_timeout: Duration,
    /// Time limit of each request and each exec probe.
    pub request_timeout: Duration,
    /// None: probe if there is anything to probe, else wait for exit.
    pub continue_after: Option<ContinueAfter>,
    /// Upper bound for `exit`: a CLI image that never ends.
    pub run_timeout: Duration,
    /// From the stop signal to SIGKILL: a shutdown that reads files within it is still traced.
    pub stop_grace: Duration,
    pub show_logs: bool,
    pub ring_size: u32,
    /// A run that fails under the probes still returns its trace, with `failure` set (verify:
    /// a slim image that crashes is a mismatch to explain, not an error to stop at).
    pub lenient: bool,
}

impl Default for ProbePlan {
    fn default() -> Self {
        ProbePlan {
            http_probes: Vec::new(),
            http: true,
            api_spec_requests: Vec::new(),
            api_spec_paths: Vec::new(),
            api_discovery: false,
            crawl: false,
            crawl_limit: 100,
            proto_probes: Vec::new(),
            tcp_probes: Vec::new(),
            credentials: Credentials::default(),
            port_kinds: BTreeMap::new(),
            exec: Vec::new(),
            http_ports: Vec::new(),
            host_exec: Vec::new(),
            test_container: None,
            healthcheck: true,
            probe_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
            continue_after: None,
            run_timeout: Duration::from_secs(600),
            stop_grace: DEFAULT_STOP_GRACE,
            show_logs: false,
            ring_size: sensor::sensor::DEFAULT_RING_SIZE,
            lenient: false,
        }
    }
}

impl ProbePlan {
    /// Whether the run exercises a service (probes, readiness) or waits for it to finish.
    pub fn after(&self, ports: &[u16]) -> ContinueAfter {
        let probing = !ports.is_empty()
            || !self.exec.is_empty()
            || !self.host_exec.is_empty()
            || !self.tcp_probes.is_empty()
            || self.test_container.is_some();
        self.continue_after.clone().unwrap_or(if probing { ContinueAfter::Probe } else { ContinueAfter::Exit })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_after_parses() {
        assert_eq!("probe".parse::<ContinueAfter>().unwrap(), ContinueAfter::Probe);
        assert_eq!("timeout:30".parse::<ContinueAfter>().unwrap(), ContinueAfter::Timeout(Duration::from_secs(30)));
        assert_eq!("timeout:5s".parse::<ContinueAfter>().unwrap(), ContinueAfter::Timeout(Duration::from_secs(5)));
        assert_eq!("enter".parse::<ContinueAfter>().unwrap(), ContinueAfter::Enter);
        assert!("later".parse::<ContinueAfter>().unwrap_err().contains("timeout:SECONDS"));
    }
}
