//! Step sweep, between select and write: the closure's reached items ([`crate::select::Reached`])
//! loaded in the original under the sensor; what the loads touched becomes seeds, so the write
//! that follows keeps it. Verify loads the same items in the slim image ([`slim_checks`]).

use super::build::Job;
use super::error::PipelineError;
use crate::image::{FileIndex, Image};
use crate::run::touched::Touched;
use crate::run::RunSpec;
use crate::select::{select, KeepSet, SelectPlan};
use crate::sweep::{run_driver, run_driver_fed, seeds, Driver, SweepRun};
use crate::verify::{Check, Missing, Verdict};
use std::time::Instant;
use tokio::sync::oneshot;

/// A driver that got no items: its container is ending on its own; the build awaits it last,
/// beside the steps that follow, rather than wait for it now.
pub type Idle = tokio::task::JoinHandle<Result<SweepRun, crate::run::RunError>>;

/// Runs the sweep for `job`'s current seeds and adds what it touched to them. Returns the
/// original's runs, which verify compares the slim image's with, and the drivers that had
/// nothing to load. Each driver's container starts while select computes what it loads: the
/// interpreter waits on stdin for its items.
pub async fn sweep_original(job: &mut Job<'_>) -> Result<(Vec<SweepRun>, Vec<Idle>), PipelineError> {
    let runtimes = crate::sweep::interpreters(&job.plan.select.seeds);
    if runtimes.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let started = Instant::now();
    let (original, plan) = (job.original.clone(), job.plan.select.clone());
    let selecting = tokio::task::spawn_blocking(move || select(&original, &plan));
    let Some(docker) = job.docker.clone() else {
        let closure =
            selecting.await.map_err(|source| PipelineError::Worker { what: "selecting for the sweep", source })??;
        job.stages.since("select", started);
        job.selected = Some(closure);
        return Ok((Vec::new(), Vec::new()));
    };
    let spec = job.req.run.spec(&job.original.config.digest);
    let mut drivers = Vec::new();
    for (runtime, interpreter) in runtimes {
        let (tx, items) = oneshot::channel();
        let (docker, config, spec) = (docker.clone(), job.original.config.clone(), spec.clone());
        let run =
            tokio::spawn(
                async move { run_driver_fed(&docker, &config, &spec, (runtime, interpreter), items, None).await },
            );
        drivers.push((runtime, tx, run));
    }
    let bar = crate::progress::spinner("sweep: loading the modules the rules found, in the original");
    let closure = selecting.await;
    let selected = Instant::now();
    let (mut active, mut idle) = (Vec::new(), Vec::new());
    for (runtime, tx, run) in drivers {
        // A failed select sends nothing: the drivers read no items and end.
        let items = match &closure {
            Ok(Ok(c)) => crate::sweep::items(&c.reached, runtime),
            _ => Vec::new(),
        };
        if items.is_empty() {
            idle.push(run);
        } else {
            let _ = tx.send(items);
            active.push(run);
        }
    }
    let runs = futures_util::future::join_all(active).await;
    bar.finish_and_clear();
    job.stages.add("select", selected - started);
    job.stages.since("sweep", selected);
    let closure = closure.map_err(|source| PipelineError::Worker { what: "selecting for the sweep", source })??;
    let mut swept = Vec::new();
    let mut added = 0;
    for run in runs {
        let run = run.map_err(|source| PipelineError::Worker { what: "the sweep's driver", source })??;
        if run.driver.items.is_empty() {
            continue;
        }
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
        swept.push(run);
    }
    // Nothing new to keep: the closure stands, and the write takes it.
    if added == 0 {
        job.selected = Some(closure);
    }
    Ok((swept, idle))
}

/// `slimctl verify`'s sweep of the original: what the rules reach from the files the original's
/// run used, loaded there, for the slim image's loads to be compared with (nothing is kept).
pub async fn sweep_for_verify(
    docker: &bollard::Docker,
    original: &Image,
    spec: &RunSpec,
    touched: &Touched,
) -> Result<Vec<SweepRun>, PipelineError> {
    let seeds = super::profile::traced_seeds(touched);
    let runtimes = crate::sweep::interpreters(&seeds);
    if runtimes.is_empty() {
        return Ok(Vec::new());
    }
    // The run's seeds alone, as a traced build's first select has them.
    let closure = select(original, &SelectPlan { seeds, ..SelectPlan::default() })?;
    let bar = crate::progress::spinner("verify: loading the modules the rules found, in the original");
    let runs = futures_util::future::join_all(runtimes.into_iter().filter_map(|(runtime, interpreter)| {
        let items = crate::sweep::items(&closure.reached, runtime);
        let driver = Driver { runtime, interpreter, items };
        (!driver.items.is_empty()).then(|| run_driver(docker, &original.config, spec, driver, None))
    }))
    .await;
    bar.finish_and_clear();
    let runs: Vec<SweepRun> = runs.into_iter().collect::<Result<_, _>>()?;
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
