//! The sweep: what the coverage rules reached by reading code ([`crate::select::Reached`]),
//! loaded for real. A small driver runs under the sensor in the original image and loads each
//! item, guarded and with a time limit; every file a load touches joins the keep-set with the
//! item as its reason. In verify the same driver runs in the slim image: an item that loads in
//! the original and fails there is a mismatch. A rule's reading is a guess; a load is a fact.
//!
//! Only library modules are loaded, never the app's own (importing the app's entry module may
//! start the app again): the rules report only those.

mod driver;
mod run;

pub use driver::{Driver, Outcome};
pub use run::{run_driver, run_driver_fed, SweepRun};

use crate::select::{Reached, Reason, Runtime, Seed};
use serde::Serialize;
use std::collections::BTreeSet;

/// At most this many items per runtime: a driver's command line and its report stay small.
pub const MAX_ITEMS: usize = 1500;

/// What the driver of `runtime` loads of what the rules reached.
pub fn items(reached: &BTreeSet<Reached>, runtime: Runtime) -> Vec<Reached> {
    reached.iter().filter(|r| r.runtime == runtime).take(MAX_ITEMS).cloned().collect()
}

/// Each runtime the sweep has a driver for whose interpreter the run executed, with that
/// interpreter.
pub fn interpreters(seeds: &[Seed]) -> Vec<(Runtime, String)> {
    [Runtime::Python, Runtime::Node, Runtime::Perl, Runtime::Ruby]
        .into_iter()
        .filter_map(|r| Some((r, interpreter(r, seeds)?)))
        .collect()
}

/// The interpreter of `runtime` the run executed (the first, when it ran several).
fn interpreter(runtime: Runtime, seeds: &[Seed]) -> Option<String> {
    let is = |base: &str| match runtime {
        Runtime::Python => {
            base.strip_prefix("python3").is_some_and(|v| v.is_empty() || v.strip_prefix('.').is_some_and(digits))
        }
        Runtime::Node => base == "node" || base == "nodejs",
        Runtime::Perl => base == "perl" || base.strip_prefix("perl5.").is_some_and(|v| v.split('.').all(digits)),
        // Debian's ruby3.1; ruby itself links to it.
        Runtime::Ruby => base == "ruby" || base.strip_prefix("ruby").is_some_and(|v| v.split('.').all(digits)),
    };
    seeds
        .iter()
        .filter(|s| matches!(&s.reason, Reason::Traced { how, .. } if &**how == "exec"))
        .map(|s| s.path.as_str())
        .find(|p| is(p.rsplit('/').next().unwrap_or("")))
        .map(str::to_owned)
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_digit())
}

/// What a sweep found, for the build report.
#[derive(Debug, Clone, Serialize)]
pub struct SweepReport {
    pub runtime: Runtime,
    pub interpreter: String,
    pub items: usize,
    pub loaded: usize,
    /// Items that failed to load in the original itself (an optional dependency the image lacks,
    /// a module for another platform): nothing to keep, nothing to compare.
    pub failed: Vec<FailedItem>,
    /// Image paths the loads touched first (they join the keep-set).
    pub files: usize,
    /// Whether the driver reported on every item (a driver killed midway did not).
    pub complete: bool,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct FailedItem {
    pub what: String,
    pub error: String,
}

/// The seeds a sweep of the original gives: each file a load touched first, named by its item.
pub fn seeds(run: &SweepRun) -> Vec<Seed> {
    run.files
        .iter()
        .map(|(path, item)| Seed {
            path: path.clone(),
            reason: Reason::Sweep { what: run.driver.items[*item].what().into() },
            optional: true,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec(path: &str) -> Seed {
        Seed { path: path.into(), reason: Reason::Traced { how: "exec".into(), by: "x[1]".into() }, optional: true }
    }

    #[test]
    fn a_driver_for_each_runtime_the_run_executed() {
        let seeds = [exec("/usr/bin/sh"), exec("/usr/bin/python3.11"), exec("/usr/local/bin/python3")];
        assert_eq!(interpreters(&seeds), [(Runtime::Python, "/usr/bin/python3.11".to_owned())], "no node ran");
        assert!(interpreters(&[exec("/usr/bin/python3-config"), exec("/usr/bin/perldoc")]).is_empty());
        let all =
            [exec("/usr/bin/ruby3.1"), exec("/usr/bin/perl5.36.0"), exec("/usr/bin/node"), exec("/usr/bin/python3")];
        let found: Vec<Runtime> = interpreters(&all).into_iter().map(|(r, _)| r).collect();
        assert_eq!(found, [Runtime::Python, Runtime::Node, Runtime::Perl, Runtime::Ruby]);
        let reached: BTreeSet<Reached> =
            [Reached::python("json"), Reached::node("/app/node_modules/x/index.js"), Reached::python("decimal")].into();
        let names: Vec<String> = items(&reached, Runtime::Python).into_iter().map(|r| r.name).collect();
        assert_eq!(names, ["decimal", "json"]);
        assert!(items(&reached, Runtime::Ruby).is_empty(), "nothing reached: the driver gets no items");
    }
}
