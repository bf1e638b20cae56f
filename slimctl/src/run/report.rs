//! What a traced run reports: the probes and their answers, how it ended, what the sensor
//! counted. Verify compares two of these; profiles keep one.
use super::container::Stopped;
use super::exec::ExecResult;
use super::http::ProbeResult;
use super::probe_container::TestResult;
use super::proto::ProtoResult;
use super::ready::PortReady;
use super::stack::StackReport;
use super::touched::TraceStats;
use sensor::Counters;
use serde::Serialize;
use std::collections::BTreeSet;

/// The report of a traced run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TraceReport {
    pub argv: Vec<String>,
    pub stats: TraceStats,
    pub counters: Counters,
    pub syscalls: BTreeSet<String>,
    /// The exposed ports, once they listened, and what each speaks.
    pub ready: Vec<PortReady>,
    pub http: Vec<ProbeResult>,
    /// Protocol and line probes.
    pub proto: Vec<ProtoResult>,
    pub exec: Vec<ExecResult>,
    /// The user's test container against the target.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tests: Vec<TestResult>,
    /// The Compose stack the target ran in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack: Option<StackReport>,
    /// A service's state once probed: "running", or how it ended (verify compares it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_probes: Option<String>,
    /// The container's exit code (after our stop signal, for services).
    pub exit_code: Option<i64>,
    /// Whether the container exited by itself (CLI/batch images) rather than being stopped.
    pub exited_by_itself: bool,
    /// Last lines of the container's output.
    pub logs_tail: String,
    /// Standard output of a run to completion (up to 64 KiB), compared by verify.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stdout: String,
    pub commands: Vec<Vec<String>>,
    /// Why the run failed under the probes (lenient runs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    pub run_seconds: f64,
    /// From the container's start to the end of the exercise (probes, or its run to completion).
    pub probe_seconds: f64,
    /// Stopping the container and collecting the last events.
    pub stop_seconds: f64,
    /// How the run ended when stopped: by itself, on the signal, or killed.
    pub stopped: Stopped,
    /// The sensor loaded for an earlier run of this process served this one too.
    pub sensor_reused: bool,
}
