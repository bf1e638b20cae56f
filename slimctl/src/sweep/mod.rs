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

/// The drivers for what the rules reached, one per runtime the run showed an interpreter of.
pub fn plan(reached: &BTreeSet<Reached>, seeds: &[Seed]) -> Vec<Driver> {
    interpreters(seeds)
        .into_iter()
        .map(|(runtime, interpreter)| Driver { runtime, interpreter, items: items(reached, runtime) })
        .filter(|d| !d.items.is_empty())
        .collect()
}

/// What the driver of `runtime` loads of what the rules reached.
pub fn items(reached: &BTreeSet<Reached>, runtime: Runtime) -> Vec<Reached> {
    reached.iter().filter(|r| r.runtime == runtime).take(MAX_ITEMS).cloned().collect()
}

/// Each runtime the sweep has a driver for whose interpreter the run executed, with that
/// interpreter.
pub fn interpreters(seeds: &[Seed]) -> Vec<(Runtime, String)> {
    [Runtime::Python, Runtime::Node].into_iter().filter_map(|r| Some((r, interpreter(r, seeds)?))).collect()
}

/// The interpreter of `runtime` the run executed (the first, when it ran several).
fn interpreter(runtime: Runtime, seeds: &[Seed]) -> Option<String> {
    let is = |base: &str| match runtime {
        Runtime::Python => {
            base.strip_prefix("python3").is_some_and(|v| v.is_empty() || v.strip_prefix('.').is_some_and(digits))
        }
        Runtime::Node => base == "node" || base == "nodejs",
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
        let reached: BTreeSet<Reached> = [Reached::python("decimal"), Reached::python("json.loads")].into();
        let seeds = [exec("/usr/bin/sh"), exec("/usr/bin/python3.11"), exec("/usr/local/bin/python3")];
        let drivers = plan(&reached, &seeds);
        assert_eq!(drivers.len(), 1, "no node ran: no node driver");
        assert_eq!(drivers[0].interpreter, "/usr/bin/python3.11");
        assert_eq!(drivers[0].items.len(), 2);
        assert!(plan(&reached, &[exec("/usr/bin/python3-config")]).is_empty(), "no interpreter ran");
        assert!(plan(&BTreeSet::new(), &seeds).is_empty(), "nothing reached");
        let both: BTreeSet<Reached> = [Reached::python("json"), Reached::node("/app/node_modules/x/index.js")].into();
        let drivers = plan(&both, &[exec("/usr/bin/node"), exec("/usr/bin/python3")]);
        let planned: Vec<(Runtime, &str, usize)> =
            drivers.iter().map(|d| (d.runtime, d.interpreter.as_str(), d.items.len())).collect();
        assert_eq!(planned, [(Runtime::Python, "/usr/bin/python3", 1), (Runtime::Node, "/usr/bin/node", 1)]);
    }
}
