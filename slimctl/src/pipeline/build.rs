//! `build` of one image, the steps in order: inspect → run+trace (or saved profiles) → select →
//! write → output → verify round → heal, the last four again while healing adds what the slim
//! image missed. Each step is a function of its own module; this file only strings them.

use super::error::PipelineError;
use super::inspect::{self, Opened};
use super::profile::{self, Profile};
use super::report::BuildReport;
use super::slim::{build_from, BuildPlan, Built, Stage, Stages};
use super::trace::{trace_while_reading, Overlapped, Reading};
use super::verify::{Originals, SlimUnderTest, Verifier};
use super::{heal, output};
use crate::image::{Image, ImageSource};
use crate::naming::slim_tag;
use crate::run::http::HttpProbe;
use crate::run::{ProbePlan, Replay, RunTemplate, TraceReport, TracedRun};
use crate::select::{rules, Seed, SelectPlan};
use crate::verify::{probe_errors, Round, Runner, VerifyReport};
use crate::write::Output;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// What to build, as the command line asked.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    pub image: String,
    /// Includes, excludes, rules off, package metadata; the seeds come from the run.
    pub select: SelectPlan,
    /// Keep a shell and basic tools for debugging.
    pub include_shell: bool,
    /// Load what the coverage rules reached in the original (and in verify, the slim image).
    pub sweep: bool,
    pub source_date_epoch: Option<u64>,
    pub run: RunTemplate,
    /// The traced run's probes; none: no run (`--no-trace`).
    pub probes: Option<ProbePlan>,
    /// Saved profiles to build from instead of a run (with their files, for messages).
    pub profiles: Vec<(PathBuf, Profile)>,
    pub save_profile: Option<PathBuf>,
    pub seccomp_profile: Option<PathBuf>,
    pub output: Output,
    /// The slim image's name (checked); default `<repo>.slim:<tag>`.
    pub tag: Option<String>,
    pub verify: VerifyPlan,
    /// SBOM and VEX documents of the slim image.
    pub documents: super::documents::Documents,
    /// Changes to the slim image's config (the traced run uses the original's).
    pub edits: crate::write::edits::ConfigEdits,
    /// Modes and owners of paths in the slim layer (`--path-perms`).
    pub perms: crate::write::perms::PathPerms,
}

/// Verify and healing, as asked.
#[derive(Debug, Clone)]
pub struct VerifyPlan {
    pub on: bool,
    /// Add what the slim image missed and rebuild, until it behaves or nothing new is missing.
    pub heal: bool,
    pub max_rounds: u32,
    /// HTTP probes for verify only (a smoke test richer than the traced probes).
    pub extra_http: Vec<HttpProbe>,
}

/// What the run (or the saved profiles) showed, beyond the image itself.
pub struct Observed {
    pub seeds: Vec<Seed>,
    pub syscalls: BTreeSet<String>,
    /// The probes verify runs on the original and the slim image.
    pub replay: ProbePlan,
    /// The original's first run under `replay`, when one was made already: the traced run, unless
    /// verify has probes of its own.
    pub first_original: Option<TracedRun>,
    /// The traced run's report (none when built from profiles).
    pub trace: Option<TraceReport>,
    /// The profile to save (`--save-profile`), once the sweep has added its part.
    pub profile: Option<Profile>,
}

/// One image, opened and read: what the steps after inspect work on.
pub struct Job<'a> {
    pub req: &'a BuildRequest,
    pub work: &'a Path,
    pub source: Arc<dyn ImageSource>,
    pub docker: Option<bollard::Docker>,
    pub original: Arc<Image>,
    pub tag: String,
    pub plan: BuildPlan,
    pub stages: Stages,
    /// The closure of `plan` as it stands, when a step computed it already (the sweep): the
    /// next write takes it instead of selecting again.
    pub selected: Option<crate::select::Closure>,
}

/// Builds one image as `req` says, its work files in `work`. The report says what came out;
/// whether the slim image behaves is in its verify part.
pub async fn build(req: &BuildRequest, work: &Path) -> Result<BuildReport, PipelineError> {
    let started = Instant::now();
    if req.probes.is_some() && req.profiles.is_empty() {
        inspect::require_in_engine(&req.image, "tracing")?;
    }
    let opened = inspect::open(&req.image, Some(work)).await?;
    // Loading needs the engine even when the input is a file.
    let docker = match (&req.output, &opened.docker) {
        (Output::Engine, None) => Some(super::inspect::connect().await?),
        (_, d) => d.clone(),
    };
    let tag = req.tag.clone().unwrap_or_else(|| slim_tag(&req.image, &opened.repo_tags));
    let readers = rules::readers(&rules::all_except(&req.select.rules_off));
    let reading = opened.start_reading(readers);
    let parts = Parts { req, work, source: opened.source.clone(), docker, tag };
    let (mut job, mut observed) = match &req.probes {
        None => {
            let mut job = parts.read(reading, started).await?;
            let built = job.select_and_write().await?;
            job.output(&built).await?;
            return job.report(built, None, None, &[]);
        }
        Some(probes) if !req.profiles.is_empty() => {
            let mut job = parts.read(reading, started).await?;
            let observed = job.observe_profiles(probes);
            (job, observed)
        }
        Some(probes) => parts.trace(&opened, reading, probes).await?,
    };
    job.plan.select.seeds = observed.seeds.clone();
    let (swept, idle) = if req.sweep { super::sweep::sweep_original(&mut job).await? } else { Default::default() };
    let rest = async {
        // What the sweep's loads call is what the app calls once it reaches that code.
        let swept_calls: BTreeSet<String> = swept.iter().flat_map(|r| r.syscalls.iter().cloned()).collect();
        let mut syscalls = observed.syscalls.clone();
        syscalls.extend(swept_calls.iter().cloned());
        if let (Some(path), Some(mut profile)) = (&req.save_profile, observed.profile.take()) {
            profile.add_sweep(&job.plan.select.seeds[observed.seeds.len()..], &swept_calls);
            profile.write(path)?;
        }
        let seccomp = job.write_seccomp(&syscalls)?;
        job.verify_and_heal(observed, seccomp, swept).await
    };
    // Drivers with nothing to load end beside the steps that follow; their containers are gone
    // before the build returns, whatever it returns.
    let (result, _) = tokio::join!(rest, futures_util::future::join_all(idle));
    result
}

/// What a job has before its image is read.
struct Parts<'a> {
    req: &'a BuildRequest,
    work: &'a Path,
    source: Arc<dyn ImageSource>,
    docker: Option<bollard::Docker>,
    tag: String,
}

impl<'a> Parts<'a> {
    fn into_job(self, original: Image, stages: Stages) -> Job<'a> {
        let mut select = self.req.select.clone();
        if self.req.include_shell {
            select.includes.extend(shell_tools(&original, &select.includes));
        }
        Job {
            req: self.req,
            work: self.work,
            source: self.source,
            docker: self.docker,
            original: Arc::new(original),
            tag: self.tag,
            plan: BuildPlan {
                select,
                source_date_epoch: self.req.source_date_epoch,
                edits: self.req.edits.clone(),
                perms: self.req.perms.clone(),
            },
            stages,
            selected: None,
        }
    }

    /// Step inspect alone: waits for the image to be read.
    async fn read(self, reading: Reading, started: Instant) -> Result<Job<'a>, PipelineError> {
        let (original, _) = reading.finish().await?;
        let mut stages = Stages::default();
        stages.since("inspect", started);
        Ok(self.into_job(original, stages))
    }

    /// Step run+trace: the original under the sensor, while the image is read.
    async fn trace(
        self,
        opened: &Opened,
        reading: Reading,
        probes: &ProbePlan,
    ) -> Result<(Job<'a>, Observed), PipelineError> {
        let (docker, config) = opened.runnable("tracing")?;
        let req = self.req;
        let spec = req.run.traced_spec(&config.digest);
        let Overlapped { run: traced, image, read, trace } =
            trace_while_reading(&docker, &config, &spec, probes, reading).await?;
        // The two steps overlap: each is reported with its own time.
        let stages = Stages(vec![
            Stage { name: "inspect", seconds: read.as_secs_f64() },
            Stage { name: "run+trace", seconds: trace.as_secs_f64() },
        ]);
        let job = self.into_job(image, stages);
        for e in probe_errors(&traced.report) {
            eprintln!("warning: probe error (failed on the original while traced): {e}");
        }
        // Saved once the sweep has added its part.
        let profile = req.save_profile.as_ref().map(|_| {
            let stack = req.run.stack.as_deref();
            Profile::from_run(&req.image, &job.original.config.digest, &traced, probes, stack)
        });
        let replay = Replay::of(probes, &traced.report).plan(probes);
        let observed = Observed {
            profile,
            seeds: profile::traced_seeds(&traced.touched),
            syscalls: traced.report.syscalls.clone(),
            replay,
            trace: Some(traced.report.clone()),
            // With probes of its own, verify needs a run of the original under its plan; without,
            // the traced run is it.
            first_original: req.verify.extra_http.is_empty().then_some(traced),
        };
        Ok((job, observed))
    }
}

/// --include-shell: the shell and basic tools the image has on its PATH.
fn shell_tools(original: &Image, already: &[String]) -> Vec<String> {
    const SHELL_TOOLS: &[&str] = &[
        "sh", "bash", "ls", "cat", "cp", "mv", "rm", "mkdir", "echo", "env", "id", "pwd", "ps", "grep", "sed", "head",
        "tail", "stat", "find", "less", "vi",
    ];
    let mut out = Vec::new();
    for dir in original.config.path_dirs() {
        for tool in SHELL_TOOLS {
            let p = format!("{}/{tool}", dir.trim_end_matches('/'));
            let found = crate::image::index::resolve::resolve(&original.index, &p, "/", true).is_ok();
            if found && !already.contains(&p) && !out.contains(&p) {
                out.push(p);
            }
        }
    }
    out
}

impl Job<'_> {
    fn engine(&self) -> Result<&bollard::Docker, PipelineError> {
        self.docker.as_ref().ok_or_else(|| PipelineError::Contradiction("no engine connection for verify".into()))
    }

    /// Step run+trace, from saved profiles: their seeds, syscalls and probes, no run.
    fn observe_profiles(&mut self, probes: &ProbePlan) -> Observed {
        let id = &self.original.config.digest;
        for (file, p) in self.req.profiles.iter().filter(|(_, p)| &p.image.id != id) {
            eprintln!(
                "warning: profile {} was recorded against {} ({}), not {} ({id}); paths that moved will be missing \
                 -- verify will tell",
                file.display(),
                p.image.name,
                p.image.id,
                self.req.image,
            );
        }
        let profiles: Vec<Profile> = self.req.profiles.iter().map(|(_, p)| p.clone()).collect();
        Observed {
            seeds: profile::merged_seeds(&profiles),
            syscalls: profile::merged_syscalls(&profiles),
            replay: profile::replay_plan(&profiles, probes),
            first_original: None,
            trace: None,
            profile: None,
        }
    }

    /// --seccomp-profile: the profile of the syscalls seen, written now; verify runs under it.
    fn write_seccomp(&self, syscalls: &BTreeSet<String>) -> Result<Option<String>, PipelineError> {
        let Some(path) = &self.req.seccomp_profile else { return Ok(None) };
        let json = serde_json::to_string_pretty(&crate::seccomp::profile(syscalls, true))
            .expect("a seccomp profile is plain data");
        std::fs::write(path, &json).map_err(|source| PipelineError::Write {
            what: "seccomp profile",
            path: path.clone(),
            source,
        })?;
        Ok(Some(json))
    }

    /// Steps select → write, off the async runtime's threads.
    pub async fn select_and_write(&mut self) -> Result<Built, PipelineError> {
        let (source, original, plan) = (self.source.clone(), self.original.clone(), self.plan.clone());
        let (work, mut stages) = (self.work.to_owned(), std::mem::take(&mut self.stages));
        let selected = self.selected.take();
        let (built, stages) = tokio::task::spawn_blocking(move || {
            let built = build_from(source.as_ref(), original, &plan, selected, &work, &mut stages);
            (built, stages)
        })
        .await
        .map_err(|source| PipelineError::Worker { what: "select and write", source })?;
        self.stages = stages;
        built
    }

    /// Step output.
    pub async fn output(&mut self, built: &Built) -> Result<(), PipelineError> {
        let started = Instant::now();
        output::place(built, &self.req.output, &self.tag, self.docker.as_ref()).await?;
        self.stages.since("output", started);
        Ok(())
    }

    /// Steps verify round → heal, with select → write → output again for each round that adds
    /// what the slim image missed, until it behaves or nothing new is missing.
    async fn verify_and_heal(
        mut self,
        mut observed: Observed,
        seccomp: Option<String>,
        swept: Vec<crate::sweep::SweepRun>,
    ) -> Result<BuildReport, PipelineError> {
        let verify = self.req.verify.on && self.can_verify().await;
        observed.replay.http_probes.extend(self.req.verify.extra_http.iter().cloned());
        let mut rounds: Vec<Round> = Vec::new();
        let mut superseded: Vec<String> = Vec::new();
        let mut originals: Option<Originals> = observed.first_original.take().map(Originals::given);
        let trace = observed.trace.take();
        for number in 0.. {
            let built = self.select_and_write().await?;
            self.output(&built).await?;
            if !verify {
                return self.report(built, trace, None, &swept);
            }
            let started = Instant::now();
            let docker = self.engine()?.clone();
            let runner = Runner {
                docker: &docker,
                config: &self.original.config,
                has_shell: self.original.has_shell(),
                seccomp: seccomp.clone(),
            };
            let verifier = Verifier { runner, original: &self.original, run: &self.req.run, replay: &observed.replay };
            let originals = match &mut originals {
                Some(o) => o,
                None => originals.insert(Originals::run(&verifier).await?),
            };
            let slim = SlimUnderTest {
                id: &built.slim.config_digest,
                paths: &built.closure.keep,
                bytes: built.slim.layer.content_bytes,
            };
            let mut round = verifier.round(number, slim, originals, &swept).await?;
            self.stages.since("verify", started);
            let rounds_left = self.req.verify.heal && number < self.req.verify.max_rounds;
            round.added = heal::additions(&round, &self.plan.select.seeds, rounds_left);
            if round.added.is_empty() {
                rounds.push(round);
                for old in superseded {
                    remove_image(&docker, &old).await;
                }
                let report = VerifyReport::new(rounds, originals.runs());
                return self.report(built, trace, Some(report), &swept);
            }
            let healed = heal::seeds(&round, number + 1);
            for (path, exclude) in heal::over_excludes(&healed, &self.plan.select.excludes) {
                eprintln!(
                    "warning: keeping {path} although --exclude {exclude} drops it: the slim image needs it (verify \
                     round {number}); with --no-fix excludes stay absolute"
                );
            }
            self.plan.select.seeds.extend(healed);
            rounds.push(round);
            superseded.push(built.slim.config_digest.to_string());
        }
        unreachable!("the loop returns once nothing is added")
    }

    /// Verify runs both images in the engine: the slim one must be loaded there, and the
    /// original there too (an archive or registry source may not be); says why when it cannot.
    async fn can_verify(&self) -> bool {
        let why = if !matches!(self.req.output, Output::Engine) {
            format!("the slim image goes to {}, not into an engine", output::describe(&self.req.output, &self.tag))
        } else if !crate::image::ImageRef::parse(&self.req.image).in_engine() && !self.original_in_engine().await {
            format!("the original ({}) is not in the engine", self.req.image)
        } else {
            return true;
        };
        eprintln!(
            "note: verify skipped: {why}; with both images in an engine, `slimctl verify ORIGINAL SLIM` proves it"
        );
        false
    }

    async fn original_in_engine(&self) -> bool {
        match &self.docker {
            Some(d) => d.inspect_image(self.original.config.digest.as_ref()).await.is_ok(),
            None => false,
        }
    }

    /// The report of the build, with the SBOM and VEX documents asked for written.
    fn report(
        self,
        built: Built,
        trace: Option<TraceReport>,
        verify: Option<VerifyReport>,
        swept: &[crate::sweep::SweepRun],
    ) -> Result<BuildReport, PipelineError> {
        let slim = super::documents::Slim {
            built: &built,
            source: self.source.as_ref(),
            original_name: &self.req.image,
            tag: &self.tag,
            pushed: matches!(self.req.output, Output::Registry(_)),
            source_date_epoch: self.req.source_date_epoch,
        };
        // Reading the images again blocks (an engine source streams through the runtime).
        let documents = tokio::task::block_in_place(|| self.req.documents.write(&slim))?;
        let output = output::describe(&self.req.output, &self.tag);
        let mut report = BuildReport::new(built, output, Some(self.tag), self.stages.0);
        report.trace = trace;
        report.verify = verify;
        report.sweep = swept.iter().map(crate::sweep::SweepRun::report).collect();
        report.documents = documents;
        Ok(report)
    }
}

async fn remove_image(docker: &bollard::Docker, id: &str) {
    let opts = bollard::query_parameters::RemoveImageOptions { force: false, noprune: false, ..Default::default() };
    let _ = docker.remove_image(id, Some(opts), None).await;
}
