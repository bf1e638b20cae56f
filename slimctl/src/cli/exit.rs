//! Every exit code slimctl gives, and what maps to each: one table.

use slimctl::error::ErrorClass;
use slimctl::pipeline::types::Outcome;

pub const OK: u8 = 0;
/// slimctl itself failed (a worker that stopped, an engine answer contradicting what it did).
pub const INTERNAL: u8 = 1;
/// A command line that cannot mean anything.
pub const USAGE: u8 = 2;
/// Bad image, archive, path or option.
pub const INPUT: u8 = 3;
/// The engine unreachable, no permission to load eBPF, disk.
pub const ENVIRONMENT: u8 = 4;
/// A CI gate failed (`--fail-if-larger-than`, `--min-ratio`, `xray --ci`).
pub const CI_GATE: u8 = 5;
/// The traced target failed under its probes: never answered, exited early, a probe errored;
/// or verify compared nothing.
pub const PROBE: u8 = 6;
/// Verify found the slim image behaving differently from the original.
pub const VERIFY: u8 = 7;
/// SIGINT or SIGTERM.
pub const INTERRUPTED: u8 = 130;

/// Whose a failure is → its exit code.
pub fn of_class(class: ErrorClass) -> u8 {
    match class {
        ErrorClass::Usage => USAGE,
        ErrorClass::Input => INPUT,
        ErrorClass::Environment => ENVIRONMENT,
        ErrorClass::Probe => PROBE,
        ErrorClass::Internal => INTERNAL,
    }
}

/// How verify came out → its exit code.
pub fn of_outcome(outcome: Outcome) -> u8 {
    match outcome {
        Outcome::Behaves => OK,
        Outcome::Differs => VERIFY,
        Outcome::ComparedNothing => PROBE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_and_outcome_has_its_own_code() {
        let classes =
            [ErrorClass::Usage, ErrorClass::Input, ErrorClass::Environment, ErrorClass::Probe, ErrorClass::Internal];
        let mut codes: Vec<u8> = classes.iter().map(|c| of_class(*c)).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), classes.len());
        assert_eq!(of_outcome(Outcome::Differs), VERIFY);
        assert_eq!(of_outcome(Outcome::ComparedNothing), PROBE);
    }
}
