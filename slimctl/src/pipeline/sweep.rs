//! Step sweep, between select and write: the closure's reached items ([`crate::select::Reached`])
//! loaded in the original under the sensor; what the loads touched becomes seeds, so the write
//! that follows keeps it. Verify loads the same items in the slim image ([`slim_checks`]).

use super::build::Job;
use super::error::PipelineError;
use crate::image::FileIndex;
use crate::select::{select, KeepSet};
use crate::sweep::{run_driver, seeds, SweepRun};
use crate::verify::{Check, Missing, Verdict};
use std::time::Instant;

/// Runs the sweep for `job`'s current seeds and adds what it touched to them. Returns the
/// original's runs, which verify compares the slim image's with.
pub async fn sweep_original(job: &mut Job<'_>) -> Result<Vec<SweepRun>, PipelineError> {
    if !crate::sweep::runtimes_run(&job.plan.select.seeds) {
        return Ok(Vec::new());
    }
    let started = Instant::now();
    let (original, plan) = (job.original.clone(), job.plan.select.clone());
    let closure = tokio::task::spawn_blocking(move || select(&original, &plan))
        .await
        .map_err(|source| PipelineError::Worker { what: "selecting for the sweep", source })??;
    job.stages.since("select", started);
    let started = Instant::now();
    let drivers = crate::sweep::plan(&closure.reached, &job.plan.select.seeds);
    let Some(docker) = job.docker.clone().filter(|_| !drivers.is_empty()) else {
        job.selected = Some(closure);
        return Ok(Vec::new());
    };
    let spec = job.req.run.spec(&job.original.config.digest);
    let mut runs = Vec::new();
    let mut added = 0;
    for driver in drivers {
        let bar = crate::progress::spinner(&format!(
            "sweep: loading {} {:?} module(s) the rules found in the original",
            driver.items.len(),
            driver.runtime
        ));
        let run = run_driver(&docker, &job.original.config, &spec, driver, None).await;
        bar.finish_and_clear();
        let run = run?;
        if !run.outcome.done {
            eprintln!(
                "warning: the sweep's {} driver did not finish ({}); what it loaded is kept, the rest is not checked{}",
                run.driver.interpreter,
                crate::run::describe_exit(run.exit_code),
                if run.logs_tail.is_empty() { String::new() } else { format!(":\n{}", run.logs_tail) }
            );
        }
        // Only what the rules missed: what they keep already stays theirs in the report.
        let index = &job.original.index;
        let new: Vec<_> = seeds(&run)
            .into_iter()
            .filter(|s| {
                crate::image::index::resolve::resolve(index, &s.path, "/", true)
                    .is_ok_and(|r| !closure.keep.contains(&r.path))
            })
            .collect();
        added += new.len();
        job.plan.select.seeds.extend(new);
        runs.push(run);
    }
    job.stages.since("sweep", started);
    // Nothing new to keep: the closure stands, and the write takes it.
    if added == 0 {
        job.selected = Some(closure);
    }
    Ok(runs)
}

/// The slim image's loads beside the original's: an item that loaded in the original and
/// fails in the slim image is a mismatch, with the files the original's load touched that the
/// slim image lacks as its likely cause.
pub fn slim_checks(
    original: &SweepRun,
    slim: &SweepRun,
    index: &FileIndex,
    keep: &KeepSet,
) -> (Vec<Check>, Vec<Missing>) {
    let mut checks = Vec::new();
    let mut missing = Vec::new();
    let (o, s) = (&original.outcome, &slim.outcome);
    let items = &original.driver.items;
    let mut loaded = 0;
    for (i, item) in items.iter().enumerate() {
        match (o.loaded(i), s.loaded(i)) {
            (Some(true), Some(true)) => loaded += 1,
            (Some(true), Some(false)) => {
                let error = s.failed.get(&i).cloned().unwrap_or_default();
                checks.push(Check {
                    what: format!("sweep: {}", item.what()),
                    original: "loads".into(),
                    slim: error,
                    verdict: Verdict::Mismatch,
                });
                let by = format!("sweep: {}", item.what());
                let used =
                    original.files.iter().filter(|(_, at)| **at == i).map(|(p, _)| (p.as_str(), "load", by.as_str()));
                let absent = crate::verify::used_but_absent(used, index, keep, &missing);
                missing.extend(absent);
            }
            _ => {}
        }
    }
    let checked = (0..items.len()).filter(|i| o.loaded(*i) == Some(true)).count();
    if checked > 0 && s.loaded(0).is_some() {
        checks.push(Check {
            what: format!("sweep: {:?} modules", original.driver.runtime),
            original: format!("{checked} load"),
            slim: format!("{loaded} load"),
            verdict: if loaded == checked { Verdict::Match } else { Verdict::Mismatch },
        });
    } else if checked > 0 {
        checks.push(Check {
            what: format!("sweep: {:?} modules", original.driver.runtime),
            original: format!("{checked} load"),
            slim: format!("the driver did not finish ({})", crate::run::describe_exit(slim.exit_code)),
            verdict: Verdict::Mismatch,
        });
    }
    (checks, missing)
}
