//! One image through the pipeline, one short step per stage: check the arguments → open the
//! image → observe it (trace a run, or load saved profiles) → select and write → output →
//! verify and heal → report.

use super::summary::finish;
use super::BuildArgs;
use crate::cli::{open_source, Failure, WorkDir, EXIT_OK, EXIT_PROBE, EXIT_VERIFY};
use slimctl::build::{build_from, BuildPlan, BuildReport, Built, Stage, Stages};
use slimctl::error::ErrorClass;
use slimctl::image::{Image, ImageConfig, ImageRef, ImageSource};
use slimctl::naming::{output_tag, slim_tag};
use slimctl::profile::Profile;
use slimctl::run::http::HttpProbe;
use slimctl::run::overlap::{trace_while_reading, Overlapped, Reading};
use slimctl::run::traced::{ProbePlan, TraceReport};
use slimctl::select::resolve::resolve;
use slimctl::select::{rules, Reason, Seed, SelectPlan};
use slimctl::verify::{
    failure_logs, mismatched, missing_files, outcome, used_but_absent, Outcome, Round, Runner, VerifyReport,
};
use slimctl::write::output::{load_into_engine, write_docker_archive, write_oci_dir};
use slimctl::write::Output;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

/// Tools kept by --include-shell, when the image has them.
const SHELL_TOOLS: &[&str] = &[
    "sh", "bash", "ls", "cat", "cp", "mv", "rm", "mkdir", "echo", "env", "id", "pwd", "ps", "grep", "sed", "head",
    "tail", "stat", "find", "less", "vi",
];

/// One image, opened and ready for the stages after inspect.
struct Job<'a> {
    args: &'a BuildArgs,
    work: &'a WorkDir,
    source: Arc<dyn ImageSource>,
    docker: Option<bollard::Docker>,
    original: Arc<Image>,
    has_shell: bool,
    tag: String,
    plan: BuildPlan,
    stages: Stages,
}

/// What the run (or the saved profiles) showed, beyond the seeds already in the plan.
struct Observed {
    /// The traced run's report (none when built from profiles).
    trace: Option<TraceReport>,
    syscalls: BTreeSet<String>,
    /// The probes verify runs on the original and the slim image.
    replay: ProbePlan,
    /// The original's answers to `replay`: the traced run's, unless verify has probes of its own.
    first_original: Option<TraceReport>,
}

pub async fn run_one(args: &BuildArgs, work: &WorkDir) -> Result<u8, Failure> {
    let user_tag = args.tag.as_deref().map(output_tag).transpose().map_err(Failure::usage)?;
    let plan = build_plan(args)?;
    let probes = probe_plan(args)?;
    let opening = Opening::start(args, work, plan, user_tag).await?;
    let (job, observed) = match probes {
        None => {
            let mut job = opening.read().await?;
            let built = job.select_and_write().await?;
            job.output(&built).await?;
            return job.report(&built, None, None, EXIT_OK);
        }
        Some(probes) if !args.from_profile.is_empty() => {
            let mut job = opening.read().await?;
            let observed = job.load_profiles(&probes)?;
            (job, observed)
        }
        Some(probes) => opening.trace(&probes).await?,
    };
    let seccomp = job.write_seccomp(&observed.syscalls)?;
    job.verify_and_heal(observed, seccomp).await
}

fn source_date_epoch() -> Result<Option<u64>, Failure> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.is_empty() => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| Failure::input(format!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds"))),
        _ => Ok(None),
    }
}

fn build_plan(args: &BuildArgs) -> Result<BuildPlan, Failure> {
    if args.no_trace && !args.from_profile.is_empty() {
        return Err(Failure::usage("--from-profile builds without running the image already; drop --no-trace"));
    }
    let select = SelectPlan {
        includes: args.includes.clone(),
        excludes: args.excludes.clone(),
        seeds: Vec::new(),
        rules_off: args.rules.off.clone(),
        package_metadata: !args.no_package_metadata,
    };
    Ok(BuildPlan { select, source_date_epoch: source_date_epoch()? })
}

/// The probes of the traced run; none with --no-trace.
fn probe_plan(args: &BuildArgs) -> Result<Option<ProbePlan>, Failure> {
    if args.no_trace {
        return Ok(None);
    }
    if args.from_profile.is_empty() && !matches!(ImageRef::parse(&args.image), ImageRef::Engine(_)) {
        return Err(Failure::input(format!(
            "{}: tracing runs the image, so it must be in the engine: `docker load -i FILE` first, or use --no-trace \
             with --include",
            args.image
        )));
    }
    let mut plan = args.probes.plan(args.run.show_logs)?;
    for p in &args.verify_http_probes {
        // Checked now, used by verify.
        HttpProbe::parse(p).map_err(Failure::usage)?;
    }
    plan.lenient = false;
    Ok(Some(plan))
}

/// The image opened, its reading under way: a traced run goes on beside it.
struct Opening<'a> {
    job: JobParts<'a>,
    run_config: Option<ImageConfig>,
    reading: Reading,
    started: Instant,
}

/// What a job has before its image is read.
struct JobParts<'a> {
    args: &'a BuildArgs,
    work: &'a WorkDir,
    source: Arc<dyn ImageSource>,
    docker: Option<bollard::Docker>,
    tag: String,
    plan: BuildPlan,
}

impl<'a> Opening<'a> {
    /// Opens the image and starts reading its config and file index (rules' content readers
    /// included), once.
    async fn start(
        args: &'a BuildArgs,
        work: &'a WorkDir,
        plan: BuildPlan,
        user_tag: Option<String>,
    ) -> Result<Opening<'a>, Failure> {
        let started = Instant::now();
        let opened = open_source(&args.image, Some(work.path())).await?;
        // Loading needs the engine even when the input is a file.
        let docker = match (&args.output, opened.docker) {
            (Output::Engine, None) => Some(slimctl::image::engine::connect().await?),
            (_, d) => d,
        };
        let tag = user_tag.unwrap_or_else(|| match ImageRef::parse(&args.image) {
            ImageRef::Engine(name) => slim_tag(&name, &opened.repo_tags),
            _ => "slimctl-output.slim:latest".to_owned(),
        });
        let source: Arc<dyn ImageSource> = Arc::from(opened.source);
        let reading = Reading::start(source.clone(), rules::readers(&rules::all_except(&plan.select.rules_off)));
        let job = JobParts { args, work, source, docker, tag, plan };
        Ok(Opening { job, run_config: opened.run_config, reading, started })
    }

    /// Waits for the image to be read: inspect ends here.
    async fn read(self) -> Result<Job<'a>, Failure> {
        let (original, _) = self.reading.finish().await?;
        let mut stages = Stages::default();
        stages.since("inspect", self.started);
        Ok(self.job.with_image(original, stages))
    }

    /// Round 0: the original under the sensor, while the image is read.
    async fn trace(self, probes: &ProbePlan) -> Result<(Job<'a>, Observed), Failure> {
        let (docker, config) = match (&self.job.docker, &self.run_config) {
            (Some(d), Some(c)) => (d.clone(), c.clone()),
            _ => return Err(Failure::internal("a traced build opens an engine image")),
        };
        let args = self.job.args;
        let spec = args.run.spec(&config.digest)?;
        let traced = trace_while_reading(&docker, &config, &spec, probes, self.reading).await;
        let Overlapped { run: traced, image, read, trace } = traced?;
        // The two stages overlap: each is reported with its own time.
        let mut stages = Stages::default();
        stages.0.push(Stage { name: "inspect", seconds: read.as_secs_f64() });
        stages.0.push(Stage { name: "run+trace", seconds: trace.as_secs_f64() });
        let mut job = self.job.with_image(image, stages);
        super::summary::warn_probes(&traced.report);
        job.plan.select.seeds = traced.touched.seeds();
        if let Some(path) = &args.save_profile {
            let profile =
                Profile::from_run(&args.image, &job.original.config.digest, &traced, probes, args.run.stack.as_deref());
            super::write_profile(path, &profile)?;
        }
        let replay = ProbePlan { lenient: true, ..probes.replay(&traced.report) };
        // With probes of its own, verify needs a run of the original under its plan; without,
        // the traced run is it.
        let first_original = args.verify_http_probes.is_empty().then(|| traced.report.clone());
        let syscalls = traced.report.syscalls.clone();
        Ok((job, Observed { trace: Some(traced.report), syscalls, replay, first_original }))
    }
}

impl<'a> JobParts<'a> {
    fn with_image(self, original: Image, stages: Stages) -> Job<'a> {
        let mut plan = self.plan;
        if self.args.include_shell {
            plan.select.includes.extend(shell_tools(&original, &plan.select.includes));
        }
        let has_shell = resolve(&original.index, "/bin/sh", "/", true).is_ok();
        Job {
            args: self.args,
            work: self.work,
            source: self.source,
            docker: self.docker,
            original: Arc::new(original),
            has_shell,
            tag: self.tag,
            plan,
            stages,
        }
    }
}

impl<'a> Job<'a> {
    fn engine(&self) -> &bollard::Docker {
        self.docker.as_ref().expect("traced builds and engine outputs connect to the engine when they open")
    }

    fn load_profiles(&mut self, probes: &ProbePlan) -> Result<Observed, Failure> {
        let mut profiles = Vec::new();
        for f in &self.args.from_profile {
            let p = Profile::read(f).map_err(Failure::input)?;
            if p.image.id != self.original.config.digest {
                eprintln!(
                    "warning: profile {} was recorded against {} ({}), not {} ({}); paths that moved will be \
                     missing -- verify will tell",
                    f.display(),
                    p.image.name,
                    p.image.id,
                    self.args.image,
                    self.original.config.digest
                );
            }
            profiles.push(p);
        }
        self.plan.select.seeds = slimctl::profile::merged_seeds(&profiles);
        let replay = slimctl::profile::replay_plan(&profiles, probes);
        let syscalls = slimctl::profile::merged_syscalls(&profiles);
        Ok(Observed { trace: None, syscalls, replay, first_original: None })
    }

    /// --seccomp-profile: the profile of the syscalls seen, written now; verify runs under it.
    fn write_seccomp(&self, syscalls: &BTreeSet<String>) -> Result<Option<String>, Failure> {
        let Some(path) = &self.args.seccomp_profile else { return Ok(None) };
        let profile = slimctl::seccomp::profile(syscalls, true);
        let json = serde_json::to_string_pretty(&profile).map_err(Failure::internal)?;
        std::fs::write(path, &json).map_err(|e| {
            Failure::new(ErrorClass::Environment, format!("cannot write seccomp profile {}: {e}", path.display()))
        })?;
        Ok(Some(json))
    }

    /// select → collect → write, off the async runtime's threads.
    async fn select_and_write(&mut self) -> Result<Built, Failure> {
        let (source, original, plan) = (self.source.clone(), self.original.clone(), self.plan.clone());
        let (work_path, mut stages) = (self.work.path().to_owned(), std::mem::take(&mut self.stages));
        let (built, stages) = tokio::task::spawn_blocking(move || {
            let built = build_from(source.as_ref(), original, &plan, &work_path, &mut stages);
            (built, stages)
        })
        .await?;
        self.stages = stages;
        Ok(built?)
    }

    /// Places the slim image where --output says.
    async fn output(&mut self, built: &Built) -> Result<(), Failure> {
        let started = Instant::now();
        match &self.args.output {
            Output::Engine => {
                let bar = slimctl::progress::spinner(&format!("loading {} into the engine", self.tag));
                let id = load_into_engine(self.engine(), &built.slim, &built.layer_file, &self.tag).await;
                bar.finish_and_clear();
                let id = id?;
                if id != built.slim.config_digest.as_ref() {
                    return Err(Failure::internal(format!(
                        "the engine gave the slim image id {id}, expected {}",
                        built.slim.config_digest
                    )));
                }
            }
            Output::OciDir(dir) => {
                let platform = self.original.config.platform();
                write_oci_dir(&built.slim, platform, &built.layer_file, Some(&self.tag), dir)?
            }
            Output::DockerArchive(file) => {
                let werr = |e: std::io::Error| {
                    Failure::new(ErrorClass::Environment, format!("cannot write {}: {e}", file.display()))
                };
                let f = std::fs::File::create(file).map_err(werr)?;
                let w =
                    write_docker_archive(&built.slim, &built.layer_file, Some(&self.tag), std::io::BufWriter::new(f))
                        .map_err(werr)?;
                w.into_inner().map_err(|e| werr(e.into_error()))?;
            }
            Output::Registry(dest) => {
                let bar = slimctl::progress::spinner(&format!("pushing to {dest}"));
                let digest = slimctl::write::push::push(&built.slim, &built.layer_file, dest).await;
                bar.finish_and_clear();
                eprintln!("pushed {dest}@{}", digest?);
            }
        }
        self.stages.since("output", started);
        Ok(())
    }

    /// Verify (on by default, for images loaded into the engine) and self-healing: rebuild with
    /// what the slim image looked for and the original has, until it behaves or nothing new is
    /// missing.
    async fn verify_and_heal(mut self, mut observed: Observed, seccomp: Option<String>) -> Result<u8, Failure> {
        let verify = !self.args.no_verify && self.can_verify().await;
        for p in &self.args.verify_http_probes {
            observed.replay.http_probes.push(HttpProbe::parse(p).map_err(Failure::usage)?);
        }
        let mut rounds: Vec<Round> = Vec::new();
        let mut second_original: Option<TraceReport> = None;
        let mut superseded: Vec<String> = Vec::new();
        let original_runs = usize::from(observed.first_original.is_none());
        for round in 0.. {
            let built = self.select_and_write().await?;
            self.output(&built).await?;
            if !verify {
                return self.report(&built, observed.trace, None, EXIT_OK);
            }
            let started = Instant::now();
            let runner = Runner {
                docker: self.engine(),
                config: &self.original.config,
                has_shell: self.has_shell,
                seccomp: seccomp.clone(),
            };
            self.first_original(&runner, &mut observed).await?;
            let slim_run = runner.slim(self.args.run.spec(&built.slim.config_digest)?, &observed.replay).await?;
            let first = observed.first_original.as_ref().expect("run above");
            let spec = self.args.run.spec(&self.original.config.digest)?;
            let checks = runner.checks(spec, &observed.replay, first, &mut second_original, &slim_run.report).await?;
            let mut missing = missing_files(&slim_run.touched, &self.original.index, &built.closure.keep);
            if mismatched(&checks) {
                let used = self.plan.select.seeds.iter().filter_map(|s| match &s.reason {
                    Reason::Traced { how, by } => Some((s.path.as_str(), how.as_str(), by.as_str())),
                    _ => None,
                });
                let absent = used_but_absent(used, &self.original.index, &built.closure.keep, &missing);
                missing.extend(absent);
            }
            self.stages.since("verify", started);
            let differs = outcome(&checks, &missing) == Outcome::Differs;
            let added = if !differs || self.args.no_fix || round >= self.args.max_rounds {
                Vec::new()
            } else {
                let seeded: std::collections::HashSet<&str> =
                    self.plan.select.seeds.iter().map(|s| s.path.as_str()).collect();
                missing.iter().map(|m| m.path.clone()).filter(|p| !seeded.contains(p.as_str())).collect::<Vec<_>>()
            };
            let slim_bytes = built.slim.layer.content_bytes;
            let slim_logs = failure_logs(first, &slim_run.report);
            rounds.push(Round { round, slim_bytes, checks, missing: missing.clone(), added: added.clone(), slim_logs });
            if added.is_empty() {
                for old in superseded {
                    remove_image(self.engine(), &old).await;
                }
                let report = VerifyReport::new(rounds, original_runs + usize::from(second_original.is_some()));
                let code = match report.outcome {
                    Outcome::Behaves => EXIT_OK,
                    Outcome::Differs => EXIT_VERIFY,
                    Outcome::ComparedNothing => EXIT_PROBE,
                };
                return self.report(&built, observed.trace, Some(report), code);
            }
            // Self-healing: what the slim image looked for and the original has goes in, with its closure.
            let round = round + 1;
            for m in missing.into_iter().filter(|m| added.contains(&m.path)) {
                let reason = Reason::Healed { by: m.by, round };
                self.plan.select.seeds.push(Seed { path: m.path, reason, optional: true });
            }
            superseded.push(built.slim.config_digest.to_string());
        }
        unreachable!("the loop returns once nothing is added")
    }

    /// The original's first run under the verify probes: the traced run, unless verify has
    /// probes of its own.
    /// Verify runs both images in the engine: the slim one must be loaded there, and the
    /// original there too (an archive or registry source may not be); says why when it cannot.
    async fn can_verify(&self) -> bool {
        let why = if !matches!(self.args.output, Output::Engine) {
            format!("the slim image goes to {}, not into an engine", output_desc(&self.args.output, &self.tag))
        } else if !matches!(ImageRef::parse(&self.args.image), ImageRef::Engine(_))
            && self.engine().inspect_image(self.original.config.digest.as_ref()).await.is_err()
        {
            format!("the original ({}) is not in the engine", self.args.image)
        } else {
            return true;
        };
        eprintln!(
            "note: verify skipped: {why}; with both images in an engine, `slimctl verify ORIGINAL SLIM` proves it"
        );
        false
    }

    async fn first_original(&self, runner: &Runner<'_>, observed: &mut Observed) -> Result<(), Failure> {
        if observed.first_original.is_some() {
            return Ok(());
        }
        let spec = self.args.run.spec(&self.original.config.digest)?;
        let first = runner.original(&spec, &observed.replay, "verify: running the original").await?.report;
        if let Some(f) = &first.failure {
            return Err(Failure::probe(format!("verify: the original failed under the verify probes: {f}")));
        }
        observed.first_original = Some(first);
        Ok(())
    }

    /// The report: written with --report, printed (summary or --json), CI gates applied.
    fn report(
        self,
        built: &Built,
        trace: Option<TraceReport>,
        verify: Option<VerifyReport>,
        code: u8,
    ) -> Result<u8, Failure> {
        let mut report =
            BuildReport::new(built, output_desc(&self.args.output, &self.tag), Some(self.tag), self.stages.0);
        report.trace = trace;
        report.verify = verify;
        if let Some(path) = &self.args.report {
            let json = serde_json::to_vec_pretty(&report).map_err(Failure::internal)?;
            std::fs::write(path, json).map_err(|e| {
                Failure::new(ErrorClass::Environment, format!("cannot write report {}: {e}", path.display()))
            })?;
        }
        finish(self.args, &report, code)
    }
}

/// --include-shell: the shell and basic tools the image has on its PATH.
fn shell_tools(original: &Image, already: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for dir in original.config.path_dirs() {
        for tool in SHELL_TOOLS {
            let p = format!("{}/{tool}", dir.trim_end_matches('/'));
            if resolve(&original.index, &p, "/", true).is_ok() && !already.contains(&p) && !out.contains(&p) {
                out.push(p);
            }
        }
    }
    out
}

fn output_desc(output: &Output, tag: &str) -> String {
    match output {
        Output::Engine => format!("docker:{tag}"),
        Output::OciDir(dir) => format!("oci:{}", dir.display()),
        Output::DockerArchive(file) => format!("docker-archive:{}", file.display()),
        Output::Registry(r) => r.to_string(),
    }
}

async fn remove_image(docker: &bollard::Docker, id: &str) {
    let opts = bollard::query_parameters::RemoveImageOptions { force: false, noprune: false, ..Default::default() };
    let _ = docker.remove_image(id, Some(opts), None).await;
}
