//! Running the target: a container made from the image with its own config (plus the user's
//! overrides), never privileged, traced ([`traced`]) while it is exercised ([`exercise`]), and
//! the clean-up that removes whatever a run created ([`cleanup`]). What a run reports
//! ([`report`]) and the probes it made ([`replay`]) are what verify and profiles use. One error
//! type for all of it ([`error`]).
pub mod cleanup;
pub mod container;
pub mod error;
pub mod exec;
pub mod exercise;
pub mod host_exec;
pub mod http;
pub mod listening;
pub mod openapi;
pub mod plan;
pub mod probe_container;
pub mod proto;
pub mod ready;
pub mod replay;
pub mod report;
pub mod stack;
pub mod stdin;
pub mod template;
pub mod touched;
pub mod traced;

pub use container::{Container, NetworkAttach, RunSpec};
pub use error::{ProbeError, ProbeFailure, RunError, SetupError};
pub use plan::{ContinueAfter, ProbePlan};
pub use replay::Replay;
pub use report::TraceReport;
pub use template::RunTemplate;
pub use traced::{trace_run, Traced, TracedRun};

pub use cleanup::LABEL;

/// An exit code as a user reads it: `exit 0`, `killed by signal 9` (the engine reports a process
/// killed by signal N as 128+N), `still running` (no code yet).
pub fn describe_exit(code: Option<i64>) -> String {
    match code {
        None => "still running".into(),
        Some(c) if (129..=128 + 64).contains(&c) => format!("killed by signal {}", c - 128),
        Some(c) => format!("exit {c}"),
    }
}

/// A short random id for one run, for labels and names.
pub fn run_id() -> String {
    let mut b = [0u8; 6];
    if getrandom(&mut b).is_err() {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        b.copy_from_slice(&(t.as_nanos() as u64 ^ std::process::id() as u64).to_le_bytes()[..6]);
    }
    hex::encode(b)
}

fn getrandom(buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exits_read_as_words_not_debug_output() {
        assert_eq!(describe_exit(Some(0)), "exit 0");
        assert_eq!(describe_exit(Some(3)), "exit 3");
        assert_eq!(describe_exit(Some(137)), "killed by signal 9");
        assert_eq!(describe_exit(Some(143)), "killed by signal 15");
        assert_eq!(describe_exit(None), "still running");
    }
}
