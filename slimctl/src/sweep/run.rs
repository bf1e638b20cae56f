//! A driver run in a container of an image, under the sensor: the original's (what the loads
//! touch joins the keep-set) or a slim image's (verify: what fails there).

use super::driver::{Driver, Outcome};
use crate::image::ImageConfig;
use crate::run::exec::HasShell;
use crate::run::stdin::StdinFeed;
use crate::run::touched::Touched;
use crate::run::{trace_run, ContinueAfter, ProbePlan, RunError, RunSpec, Traced};
use crate::select::{Reached, Runtime};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How long a whole driver may run (each item has its own limit of a few seconds).
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// One driver's run.
pub struct SweepRun {
    pub driver: Driver,
    pub outcome: Outcome,
    /// Paths first used while an item loaded → the item's position.
    pub files: BTreeMap<String, usize>,
    /// Everything the run touched and looked for (verify names what the slim image lacks).
    pub touched: Touched,
    /// The container's last output, when the driver did not finish.
    pub logs_tail: String,
    pub exit_code: Option<i64>,
    /// The system calls the run made (the seccomp profile allows them too).
    pub syscalls: std::collections::BTreeSet<String>,
    pub seconds: f64,
}

/// Runs `driver` in a container made like `spec` (the image, its user, environment, working
/// directory and mounts), with no network: loading a library needs none, and a module that
/// connects somewhere at import time must not reach the app's neighbours.
pub async fn run_driver(
    docker: &bollard::Docker,
    config: &ImageConfig,
    spec: &RunSpec,
    driver: Driver,
    seccomp: Option<&str>,
) -> Result<SweepRun, RunError> {
    let (tx, items) = oneshot::channel();
    let _ = tx.send(driver.items);
    run_driver_fed(docker, config, spec, (driver.runtime, driver.interpreter), items, seccomp).await
}

/// [`run_driver`] started before its items are known: the container and the interpreter start
/// at once, and the driver waits on stdin for the items, which come when `items` is sent (the
/// closure that names them is computed meanwhile). A sender dropped unsent is a run over no
/// items.
pub async fn run_driver_fed(
    docker: &bollard::Docker,
    config: &ImageConfig,
    spec: &RunSpec,
    (runtime, interpreter): (Runtime, String),
    items: oneshot::Receiver<Vec<Reached>>,
    seccomp: Option<&str>,
) -> Result<SweepRun, RunError> {
    let started = Instant::now();
    let (input, feed) = StdinFeed::new();
    let mut spec = RunSpec {
        entrypoint: Some(Driver::entrypoint(runtime, &interpreter)),
        cmd: Some(Vec::new()),
        stdin: Some(feed),
        network: Some("none".into()),
        networks: Vec::new(),
        stack: None,
        expose: Vec::new(),
        no_publish: true,
        healthcheck: None,
        run_id: crate::run::run_id(),
        ..spec.clone()
    };
    if let Some(json) = seccomp {
        spec.security_opt.push(format!("seccomp={json}"));
    }
    let plan = ProbePlan {
        http: false,
        healthcheck: false,
        continue_after: Some(ContinueAfter::Exit),
        run_timeout: RUN_LIMIT,
        stop_grace: Duration::from_millis(500),
        lenient: true,
        ..ProbePlan::default()
    };
    let has_shell = HasShell::known(false);
    let deliver = async move {
        let driver = Driver { runtime, interpreter, items: items.await.unwrap_or_default() };
        let _ = input.send(driver.input());
        driver
    };
    let traced = trace_run(Traced { docker, config, spec: &spec, plan: &plan, has_shell: &has_shell });
    let (run, driver) = tokio::join!(traced, deliver);
    let run = run?;
    let outcome = driver.parse(&run.report.stdout);
    let files = run
        .touched
        .marked
        .iter()
        .filter_map(|(path, step)| {
            let i = usize::try_from(*step).ok().filter(|i| *i < driver.items.len())?;
            Some((path.clone(), i))
        })
        .collect();
    let logs_tail = if outcome.done { String::new() } else { run.report.logs_tail.clone() };
    Ok(SweepRun {
        driver,
        outcome,
        files,
        touched: run.touched,
        logs_tail,
        exit_code: run.report.exit_code,
        syscalls: run.report.syscalls,
        seconds: started.elapsed().as_secs_f64(),
    })
}

impl SweepRun {
    /// What the build report says of this run.
    pub fn report(&self) -> super::SweepReport {
        let o = &self.outcome;
        let failed = o
            .failed
            .iter()
            .map(|(i, error)| super::FailedItem { what: self.driver.items[*i].what(), error: error.clone() })
            .collect();
        super::SweepReport {
            runtime: self.driver.runtime,
            interpreter: self.driver.interpreter.clone(),
            items: self.driver.items.len(),
            loaded: if o.done { self.driver.items.len() - o.failed.len() } else { 0 },
            failed,
            files: self.files.len(),
            complete: o.started && o.done,
            seconds: self.seconds,
        }
    }
}
