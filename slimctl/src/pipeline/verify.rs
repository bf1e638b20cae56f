//! Step verify round: the slim image of a round run under the probes the original answered, its
//! answers compared with the original's, and the files it looked for that the original has
//! named. `slimctl build` runs one per healing round, `slimctl verify` one; both here.

use super::error::PipelineError;
use crate::digest::Digest;
use crate::image::Image;
use crate::run::{ProbeFailure, ProbePlan, RunTemplate, TraceReport, TracedRun};
use crate::select::KeepSet;
use crate::sweep::{run_driver, SweepRun};
use crate::verify::{failure_logs, mismatched, missing_files, used_but_absent, Check, Missing, Round, Runner};

/// The original's runs under the verify probes: the first (a build's traced run, when verify has
/// no probes of its own), and a second one made only when an answer differs, to tell an answer
/// that varies by itself from a real difference.
pub struct Originals {
    pub first: TracedRun,
    second: Option<TraceReport>,
    /// Runs verify made itself.
    made: usize,
}

impl Originals {
    /// The first run is one made already (the traced run).
    pub fn given(first: TracedRun) -> Originals {
        Originals { first, second: None, made: 0 }
    }

    /// The first run made now. An original that fails under the probes it is to be compared by
    /// leaves nothing to compare against.
    pub async fn run(verifier: &Verifier<'_>) -> Result<Originals, PipelineError> {
        let spec = verifier.run.spec(&verifier.original.config.digest);
        let first = verifier.runner.original(&spec, verifier.replay, "verify: running the original").await?;
        if let Some(f) = &first.report.failure {
            return Err(crate::run::RunError::from(ProbeFailure::OriginalFailed(f.clone())).into());
        }
        Ok(Originals { first, second: None, made: 1 })
    }

    /// Runs of the original verify made itself.
    pub fn runs(&self) -> usize {
        self.made + usize::from(self.second.is_some())
    }
}

/// How verify runs both images, and what it replays.
pub struct Verifier<'a> {
    pub runner: Runner<'a>,
    pub original: &'a Image,
    pub run: &'a RunTemplate,
    /// The probes the original answered: replayed exactly on both.
    pub replay: &'a ProbePlan,
}

/// The slim image one round compares: in the engine by id, with its paths and size.
pub struct SlimUnderTest<'a> {
    pub id: &'a Digest,
    pub paths: &'a KeepSet,
    pub bytes: u64,
}

impl Verifier<'_> {
    /// Round `number`: the slim image runs, its answers are compared with the original's first
    /// run (the original runs again, once, when one differs), and what it missed is named: the
    /// files it looked for that the original has and, when an answer differs, the files the
    /// original used that it lacks (their likely cause).
    pub async fn round(
        &self,
        number: u32,
        slim: SlimUnderTest<'_>,
        originals: &mut Originals,
        swept: &[SweepRun],
    ) -> Result<Round, PipelineError> {
        // The sweep's driver runs beside the probes, in a container of its own.
        let sweeps = async {
            let mut out = Vec::new();
            for original in swept {
                out.push(self.sweep(original, &slim).await?);
            }
            Ok::<_, PipelineError>(out)
        };
        let (slim_run, sweeps) = tokio::join!(self.runner.slim(self.run.spec(slim.id), self.replay), sweeps);
        let (slim_run, sweeps) = (slim_run?, sweeps?);
        let spec = self.run.spec(&self.original.config.digest);
        let first = &originals.first.report;
        let mut checks = self.runner.checks(spec, self.replay, first, &mut originals.second, &slim_run.report).await?;
        let index = &self.original.index;
        let mut missing = missing_files(&slim_run.touched, index, slim.paths);
        if mismatched(&checks) {
            let used = originals.first.touched.paths.iter().map(|(p, t)| (p.as_str(), t.how, t.by.as_str()));
            let absent = used_but_absent(used, index, slim.paths, &missing);
            missing.extend(absent);
        }
        for (sweep_checks, sweep_missing) in sweeps {
            checks.extend(sweep_checks);
            for m in sweep_missing {
                if !missing.iter().any(|k| k.path == m.path) {
                    missing.push(m);
                }
            }
        }
        let slim_logs = failure_logs(&originals.first.report, &slim_run.report);
        Ok(Round { round: number, slim_bytes: slim.bytes, checks, missing, added: Vec::new(), slim_logs })
    }
}

impl Verifier<'_> {
    /// The sweep's driver in the slim image, beside the original's run of it: the files the
    /// slim run looked for that the original has, and each item that stopped loading.
    async fn sweep(
        &self,
        original: &SweepRun,
        slim: &SlimUnderTest<'_>,
    ) -> Result<(Vec<Check>, Vec<Missing>), PipelineError> {
        let bar = crate::progress::spinner("verify: sweeping the slim image");
        let spec = self.run.spec(slim.id);
        let seccomp = self.runner.seccomp.as_deref();
        let run = run_driver(self.runner.docker, self.runner.config, &spec, original.driver.clone(), seccomp).await;
        bar.finish_and_clear();
        let run = run?;
        let index = &self.original.index;
        let mut missing = missing_files(&run.touched, index, slim.paths);
        let (checks, absent) = super::sweep::slim_checks(original, &run, index, slim.paths);
        missing.extend(absent.into_iter().filter(|m| !missing.iter().any(|k| k.path == m.path)).collect::<Vec<_>>());
        Ok((checks, missing))
    }
}

/// `slimctl verify ORIGINAL SLIM`, as asked.
pub struct VerifyRequest {
    pub original: String,
    pub slim: String,
    pub run: RunTemplate,
    pub probes: ProbePlan,
    /// The seccomp profile (JSON) the slim image runs under.
    pub seccomp: Option<String>,
    /// Load what the coverage rules reach from the original's run in both images, and compare.
    pub sweep: bool,
}

/// What `slimctl verify` found: the round, and the probes that failed on the original.
pub struct Verified {
    pub report: crate::verify::VerifyReport,
    pub probe_errors: Vec<String>,
}

/// Runs the original under the probes (traced, while both images are read), then the slim
/// image under what the original answered, and compares: one verify round. With the sweep,
/// what the rules reach from the original's run is loaded in the original, then in the slim
/// image, as a build's verify does. `work` holds a copy of the original when its files must be
/// read where the engine cannot be read in place.
pub async fn verify_images(req: &VerifyRequest, work: &std::path::Path) -> Result<Verified, PipelineError> {
    for img in [&req.original, &req.slim] {
        super::inspect::require_in_engine(img, "verify")?;
    }
    // Both images are read while the original runs: nothing in the first run needs them.
    let opened = super::inspect::open(&req.original, Some(work)).await?;
    let (docker, run_config) = opened.runnable("verify")?;
    let readers = if req.sweep { crate::select::rules::readers(&crate::select::rules::all()) } else { Vec::new() };
    let original = opened.start_reading(readers);
    let slim = super::inspect::open(&req.slim, None).await?.start_reading(Vec::new());
    let bar = crate::progress::spinner("verify: running the original");
    let spec = req.run.spec(&run_config.digest);
    let traced = super::trace::trace_while_reading(&docker, &run_config, &spec, &req.probes, original).await;
    bar.finish_and_clear();
    let super::trace::Overlapped { run: first, image: original, .. } = traced?;
    let (slim, _) = slim.finish().await?;
    let swept = if req.sweep {
        super::sweep::sweep_for_verify(&docker, &original, &spec, &first.touched).await?
    } else {
        Vec::new()
    };
    let replay = crate::run::Replay::of(&req.probes, &first.report).plan(&req.probes);
    let runner = Runner {
        docker: &docker,
        config: &original.config,
        has_shell: original.has_shell(),
        seccomp: req.seccomp.clone(),
    };
    let verifier = Verifier { runner, original: &original, run: &req.run, replay: &replay };
    let probe_errors = crate::verify::probe_errors(&first.report);
    let mut originals = Originals { first, second: None, made: 1 };
    let paths = KeepSet::of_paths(slim.index.iter().map(|(p, _)| p));
    let under_test = SlimUnderTest { id: &slim.config.digest, paths: &paths, bytes: slim.index.visible_bytes() };
    let round = verifier.round(0, under_test, &mut originals, &swept).await?;
    Ok(Verified { report: crate::verify::VerifyReport::new(vec![round], originals.runs()), probe_errors })
}
