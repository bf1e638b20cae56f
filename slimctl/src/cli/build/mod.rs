//! `slimctl build`

use super::runargs::{ProbeArgs, RunArgs};
use super::{open_source, table, Failure, WorkDir, EXIT_OK, EXIT_PROBE, EXIT_VERIFY};
use slimctl::build::{build_from, BuildPlan, BuildReport, Built, Stages};
use slimctl::closure::{Reason, Seed};
use slimctl::error::ErrorClass;
use slimctl::image::Image;
use slimctl::image::ImageRef;
use slimctl::naming::slim_tag;
use slimctl::run::http::HttpProbe;
use slimctl::run::traced::{trace_run, TraceError};
use slimctl::run::traced::{ProbePlan, TraceReport};
use slimctl::run::RunError;
use slimctl::units::human_bytes;
use slimctl::verify::{compare, missing_files, Round, VerifyReport};
use slimctl::write::output::{load_into_engine, write_docker_archive, write_oci_dir};
use slimctl::write::Output;
use std::path::PathBuf;

#[derive(clap::Args, Debug, Clone)]
pub struct BuildArgs {
    /// The image(s): NAME[:TAG] or ID in the engine, docker-archive:FILE, or oci:DIR. Several are
    /// processed one after the other, sharing one sensor, with a combined summary.
    #[arg(required_unless_present = "images_from")]
    pub images: Vec<String>,
    /// Read more images from FILE, one per line (# comments allowed).
    #[arg(long, value_name = "FILE")]
    pub images_from: Option<PathBuf>,
    /// The image being built (set per image).
    #[arg(skip)]
    pub image: String,
    /// No summary on stdout (one image of several under --json).
    #[arg(skip)]
    pub quiet: bool,
    /// Keep this path (a directory: with everything under it) and what it needs.
    #[arg(long = "include", value_name = "PATH")]
    pub includes: Vec<String>,
    /// Never keep this path or anything under it (parents of kept paths excepted).
    #[arg(long = "exclude", value_name = "PATH")]
    pub excludes: Vec<String>,
    /// Do not run and trace the container: keep only the entrypoint, the includes and their closure.
    #[arg(long)]
    pub no_trace: bool,
    /// Also keep a shell and basic tools (sh, ls, cat, ...) for debugging the slim image.
    #[arg(long)]
    pub include_shell: bool,
    /// Coverage rule off: do not keep the modules that kept Python code imports (also lazily,
    /// inside functions) unless the run used them.
    #[arg(long)]
    pub no_python_imports: bool,
    /// Coverage rule off: do not keep the programs that kept shell scripts name (on every
    /// branch) unless the run used them.
    #[arg(long)]
    pub no_shell_commands: bool,
    /// Coverage rule off: do not follow require()/import of kept JavaScript.
    #[arg(long)]
    pub no_node_requires: bool,
    /// Coverage rule off: do not add run-time data (CA certificates with a TLS library, all of
    /// zoneinfo once a zone was read, the locale archive, gconv lists, NSS modules).
    #[arg(long)]
    pub no_runtime_data: bool,
    /// Do not write a package database (dpkg status) listing the packages the slim image keeps
    /// files of (default: written, so that scanners see what is inside).
    #[arg(long)]
    pub no_package_metadata: bool,

    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub probes: ProbeArgs,
    /// Where the slim image goes: docker (load into the engine), oci:DIR, docker-archive:FILE.
    #[arg(long, default_value = "docker", value_name = "TARGET")]
    pub output: Output,
    /// Tag of the slim image (default: <repo>.slim:<tag>).
    #[arg(long)]
    pub tag: Option<String>,
    /// Print the report as JSON on stdout instead of the summary.
    #[arg(long)]
    pub json: bool,
    /// Also write the JSON report (every kept path and why) to FILE.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Do not verify: by default the original and the slim image are run with the same probes and
    /// their answers compared (needs --output docker).
    #[arg(long)]
    pub no_verify: bool,
    /// Do not heal: by default files the slim image looked for and the original has are added,
    /// and the image rebuilt, until verify passes or nothing new is missing.
    #[arg(long)]
    pub no_fix: bool,
    /// Write a seccomp profile (Docker/OCI JSON: default deny, allow the syscalls the traced runs
    /// made plus the runtime's start-up set) to FILE; verify then runs the slim image under it.
    #[arg(long, value_name = "FILE")]
    pub seccomp_profile: Option<PathBuf>,
    /// CI gate: exit 5 when the slim image is larger than SIZE (e.g. 50MB).
    #[arg(long, value_name = "SIZE", value_parser = slimctl::units::parse_bytes)]
    pub fail_if_larger_than: Option<u64>,
    /// CI gate: exit 5 when original/slim is below this ratio (e.g. 3).
    #[arg(long, value_name = "X")]
    pub min_ratio: Option<f64>,
    /// Build from saved profiles (`slimctl profile`) instead of running the image; several merge
    /// as a union. Verify (on by default) replays the profiles' probes.
    #[arg(long = "from-profile", value_name = "FILE")]
    pub from_profile: Vec<PathBuf>,
    /// Also save the traced run as a profile, for later `--from-profile` builds.
    #[arg(long, value_name = "FILE")]
    pub save_profile: Option<PathBuf>,
    /// Most self-healing rounds.
    #[arg(long, default_value_t = 3)]
    pub max_rounds: u32,
    /// An extra HTTP probe for verify only (same forms as --http-probe-cmd): a smoke test richer
    /// than the traced probes; repeatable.
    #[arg(long = "verify-http-probe-cmd", value_name = "METHOD:PATH")]
    pub verify_http_probes: Vec<String>,
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

/// Tools kept by --include-shell, when the image has them.
const SHELL_TOOLS: &[&str] = &[
    "sh", "bash", "ls", "cat", "cp", "mv", "rm", "mkdir", "echo", "env", "id", "pwd", "ps", "grep", "sed", "head",
    "tail", "stat", "find", "less", "vi",
];

pub fn trace_failure(e: TraceError) -> Failure {
    match e {
        TraceError::Sensor(e) => Failure::new(ErrorClass::Environment, e),
        TraceError::Run(RunError::Input(m)) => Failure::input(m),
        TraceError::Run(RunError::Engine(m)) => Failure::new(ErrorClass::Environment, m),
        TraceError::Probe(m) => Failure { code: EXIT_PROBE, message: m },
    }
}

pub async fn run(args: &BuildArgs, work: &WorkDir) -> Result<u8, Failure> {
    let mut images = args.images.clone();
    if let Some(f) = &args.images_from {
        let text =
            std::fs::read_to_string(f).map_err(|e| Failure::input(format!("cannot read {}: {e}", f.display())))?;
        images.extend(
            text.lines().map(|l| l.split('#').next().unwrap_or("").trim()).filter(|l| !l.is_empty()).map(str::to_owned),
        );
    }
    if images.is_empty() {
        return Err(Failure::usage("no image given"));
    }
    if images.len() == 1 {
        let one = BuildArgs { image: images[0].clone(), ..args.clone() };
        return run_one(&one, work).await;
    }
    if args.tag.is_some()
        || args.save_profile.is_some()
        || args.seccomp_profile.is_some()
        || !matches!(args.output, Output::Engine)
    {
        return Err(Failure::usage(
            "with several images, --tag, --save-profile, --seccomp-profile and --output other than docker name one image each: run them one by one",
        ));
    }
    // One after the other; the sensor loaded for the first serves the rest.
    let mut rows = Vec::new();
    let mut reports = Vec::new();
    let mut worst = EXIT_OK;
    for (i, image) in images.iter().enumerate() {
        if !args.json {
            println!("== [{}/{}] {image}", i + 1, images.len());
        }
        let report_path = work.path().join(format!("report-{i}.json"));
        let one = BuildArgs {
            image: image.clone(),
            report: Some(report_path.clone()),
            json: false,
            quiet: args.json,
            ..args.clone()
        };
        let result = run_one(&one, work).await;
        let (code, summary) = match result {
            Ok(code) => {
                let r: serde_json::Value =
                    std::fs::read(&report_path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
                let s = format!(
                    "{} -> {} ({:.1}x)",
                    human_bytes(r["original"]["stored_bytes"].as_u64().unwrap_or(0)),
                    human_bytes(r["slim"]["bytes"].as_u64().unwrap_or(0)),
                    r["ratio"].as_f64().unwrap_or(0.0)
                );
                reports.push(r);
                (code, s)
            }
            Err(f) => {
                eprintln!("slimctl: error: {image}: {}", f.message);
                (f.code, f.message.lines().next().unwrap_or("").to_owned())
            }
        };
        worst = worst.max(code);
        rows.push(vec![image.clone(), if code == EXIT_OK { "ok".into() } else { format!("exit {code}") }, summary]);
    }
    if let Some(path) = &args.report {
        std::fs::write(path, serde_json::to_vec_pretty(&reports).map_err(Failure::internal)?).map_err(|e| {
            Failure::new(ErrorClass::Environment, format!("cannot write report {}: {e}", path.display()))
        })?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports).map_err(Failure::internal)?);
    } else {
        println!();
        print!("{}", table::render(&["image", "result", "size"], &rows));
    }
    Ok(worst)
}

async fn run_one(args: &BuildArgs, work: &WorkDir) -> Result<u8, Failure> {
    let mut plan = BuildPlan {
        includes: args.includes.clone(),
        excludes: args.excludes.clone(),
        seeds: Vec::new(),
        source_date_epoch: source_date_epoch()?,
        rules_off: [
            ("python-imports", args.no_python_imports),
            ("shell-commands", args.no_shell_commands),
            ("node-requires", args.no_node_requires),
            ("runtime-data", args.no_runtime_data),
            ("package-metadata", args.no_package_metadata),
        ]
        .iter()
        .filter(|(_, off)| *off)
        .map(|(r, _)| r.to_string())
        .collect(),
    };
    if args.no_trace && !args.from_profile.is_empty() {
        return Err(Failure::usage("--from-profile builds without running the image already; drop --no-trace"));
    }
    let probes = if args.no_trace { None } else { Some(args.probes.plan(args.run.show_logs)?) };
    if probes.is_some() && args.from_profile.is_empty() && !matches!(ImageRef::parse(&args.image), ImageRef::Engine(_))
    {
        return Err(Failure::input(format!(
            "{}: tracing runs the image, so it must be in the engine: `docker load -i FILE` first, or use --no-trace \
             with --include",
            args.image
        )));
    }
    let (source, docker, repo_tags) = open_source(&args.image, Some(work.path())).await?;
    // Loading needs the engine even when the input is a file.
    let docker = match (&args.output, docker) {
        (Output::Engine, None) => Some(slimctl::image::engine::connect().await?),
        (_, d) => d,
    };
    let tag = args.tag.clone().unwrap_or_else(|| match ImageRef::parse(&args.image) {
        ImageRef::Engine(name) => slim_tag(&name, &repo_tags),
        _ => "slimctl-output.slim:latest".to_owned(),
    });

    let mut stages = Stages::default();
    let source: std::sync::Arc<dyn slimctl::image::ImageSource> = std::sync::Arc::from(source);
    let original: std::sync::Arc<Image> = {
        let src = source.clone();
        let t = std::time::Instant::now();
        let img = tokio::task::spawn_blocking(move || Image::open(src.as_ref(), false)).await??;
        stages.0.push(slimctl::build::Stage { name: "inspect", seconds: t.elapsed().as_secs_f64() });
        std::sync::Arc::new(img)
    };

    if args.include_shell {
        for dir in original.config.path_dirs() {
            for tool in SHELL_TOOLS {
                let p = format!("{}/{tool}", dir.trim_end_matches('/'));
                if slimctl::resolve::resolve(&original.index, &p, "/", true).is_ok() && !plan.includes.contains(&p) {
                    plan.includes.push(p);
                }
            }
        }
    }

    let Some(probes) = probes else {
        let (built, stages) = select_and_write(&source, &original, &plan, work, stages).await?;
        let (report, _) = emit(args, &docker, &tag, work, &built, stages, None, None).await?;
        return finish(args, &report, EXIT_OK);
    };

    let docker_ref = docker.as_ref().expect("engine images come with the engine");
    let has_shell = slimctl::resolve::resolve(&original.index, "/bin/sh", "/", true).is_ok();
    // Round 0: the original under the sensor -- or the saved profiles of earlier runs.
    let (trace_report, syscalls, mut replay, mut first_original): (
        Option<TraceReport>,
        std::collections::BTreeSet<String>,
        ProbePlan,
        Option<TraceReport>,
    ) = if args.from_profile.is_empty() {
        let spec = args.run.spec(&original.config.digest)?;
        let t = std::time::Instant::now();
        let traced = trace_run(docker_ref, &original.config, &spec, &probes, has_shell).await.map_err(trace_failure)?;
        stages.0.push(slimctl::build::Stage { name: "run+trace", seconds: t.elapsed().as_secs_f64() });
        warn_probes(&traced.report);
        plan.seeds = traced.touched.seeds();
        if let Some(path) = &args.save_profile {
            write_profile(path, &slimctl::profile::Profile::from_run(&args.image, &original.config.digest, &traced))?;
        }
        let replay = ProbePlan { lenient: true, ..probes.replay(&traced.report) };
        // With probes of its own, verify needs two runs of the original under its plan;
        // without, the traced run is the first of them.
        let first = args.verify_http_probes.is_empty().then(|| traced.report.clone());
        (Some(traced.report.clone()), traced.report.syscalls.clone(), replay, first)
    } else {
        let mut profiles = Vec::new();
        for f in &args.from_profile {
            let p = slimctl::profile::Profile::read(f).map_err(Failure::input)?;
            if p.image.id != original.config.digest {
                eprintln!(
                        "warning: profile {} was recorded against {} ({}), not {} ({}); paths that moved will be missing -- verify will tell",
                        f.display(),
                        p.image.name,
                        p.image.id,
                        args.image,
                        original.config.digest
                    );
            }
            profiles.push(p);
        }
        plan.seeds = slimctl::profile::merged_seeds(&profiles);
        let mut http_probes: Vec<HttpProbe> = Vec::new();
        for p in profiles.iter().flat_map(|p| p.http_probes.iter()) {
            if !http_probes.contains(p) {
                http_probes.push(p.clone());
            }
        }
        let exec: Vec<String> = profiles.iter().flat_map(|p| p.exec_probes.iter()).map(|c| c.join(" ")).collect();
        let syscalls = profiles.iter().flat_map(|p| p.syscalls.iter().cloned()).collect();
        let replay = ProbePlan { http_probes, exec, crawl: false, lenient: true, ..probes.clone() };
        (None, syscalls, replay, None)
    };
    let seccomp_json = match &args.seccomp_profile {
        Some(path) => {
            let profile = slimctl::seccomp::profile(&syscalls, true);
            let json = serde_json::to_string_pretty(&profile).map_err(Failure::internal)?;
            std::fs::write(path, &json).map_err(|e| {
                Failure::new(ErrorClass::Environment, format!("cannot write seccomp profile {}: {e}", path.display()))
            })?;
            Some(json)
        }
        None => None,
    };

    let verify = !args.no_verify && matches!(args.output, Output::Engine);
    for p in &args.verify_http_probes {
        replay.http_probes.push(HttpProbe::parse(p).map_err(Failure::usage)?);
    }
    let mut rounds: Vec<Round> = Vec::new();
    let mut second_original: Option<TraceReport> = None;
    let mut superseded: Vec<String> = Vec::new();
    let mut round: u32 = 0;
    loop {
        let (built, round_stages) =
            select_and_write(&source, &original, &plan, work, std::mem::take(&mut stages)).await?;
        stages = round_stages;
        if !verify {
            let (report, _) = emit(args, &docker, &tag, work, &built, stages, trace_report, None).await?;
            return finish(args, &report, EXIT_OK);
        }
        let (_, slim_id) = output(args, &docker, &tag, work, &built, &mut stages).await?;

        let t = std::time::Instant::now();
        while first_original.is_none() || second_original.is_none() {
            // A second run of the original tells answers that vary by themselves from differences.
            let bar = slimctl::progress::spinner("verify: running the original");
            let again =
                trace_run(docker_ref, &original.config, &args.run.spec(&original.config.digest)?, &replay, has_shell)
                    .await;
            bar.finish_and_clear();
            let again = again.map_err(trace_failure)?.report;
            if let Some(f) = &again.failure {
                return Err(Failure {
                    code: EXIT_PROBE,
                    message: format!("verify: the original failed under the verify probes: {f}"),
                });
            }
            if first_original.is_none() {
                first_original = Some(again);
            } else {
                second_original = Some(again);
            }
        }
        let bar = slimctl::progress::spinner("verify: running the slim image");
        let mut slim_spec = args.run.spec(&slim_id)?;
        if let Some(json) = &seccomp_json {
            slim_spec.security_opt.push(format!("seccomp={json}"));
        }
        let slim_run = trace_run(docker_ref, &original.config, &slim_spec, &replay, has_shell).await;
        bar.finish_and_clear();
        let slim_run = slim_run.map_err(trace_failure)?;
        let checks = compare(first_original.as_ref().expect("run above"), second_original.as_ref(), &slim_run.report);
        let missing = missing_files(&slim_run.touched, &original.index, &built.closure.keep);
        stages.0.push(slimctl::build::Stage { name: "verify", seconds: t.elapsed().as_secs_f64() });
        let ok = checks.iter().all(|c| c.verdict.ok());
        let added: Vec<String> = if ok && missing.is_empty() || args.no_fix || round >= args.max_rounds {
            Vec::new()
        } else {
            let seeded: std::collections::HashSet<&str> = plan.seeds.iter().map(|s| s.path.as_str()).collect();
            missing.iter().map(|m| m.path.clone()).filter(|p| !seeded.contains(p.as_str())).collect()
        };
        rounds.push(Round {
            round,
            slim_bytes: built.slim.layer.content_bytes,
            checks,
            missing: missing.clone(),
            added: added.clone(),
        });
        if added.is_empty() {
            for old in superseded {
                remove_image(docker_ref, &old).await;
            }
            let verify_report = VerifyReport { ok: ok && missing.is_empty(), rounds };
            let code = if verify_report.ok { EXIT_OK } else { EXIT_VERIFY };
            let (report, _) = emit_report(args, &tag, &built, stages, trace_report, Some(verify_report))?;
            return finish(args, &report, code);
        }
        // Self-healing: what the slim image looked for and the original has goes in, with its closure.
        round += 1;
        for m in &missing {
            if added.contains(&m.path) {
                plan.seeds.push(Seed {
                    path: m.path.clone(),
                    reason: Reason::Healed { by: m.by.clone(), round },
                    optional: true,
                });
            }
        }
        superseded.push(slim_id);
    }
}

pub fn write_profile(path: &std::path::Path, p: &slimctl::profile::Profile) -> Result<(), Failure> {
    let json = serde_json::to_vec_pretty(p).map_err(Failure::internal)?;
    std::fs::write(path, json)
        .map_err(|e| Failure::new(ErrorClass::Environment, format!("cannot write profile {}: {e}", path.display())))
}

async fn remove_image(docker: &bollard::Docker, id: &str) {
    let opts = bollard::query_parameters::RemoveImageOptions { force: false, noprune: false, ..Default::default() };
    let _ = docker.remove_image(id, Some(opts), None).await;
}

fn warn_probes(r: &TraceReport) {
    for p in r.http.iter().filter(|p| p.status.is_some_and(|s| s >= 500) || p.error.is_some()) {
        match (p.status, &p.error) {
            (Some(st), _) => {
                eprintln!("warning: {} {} on port {} answered {st} while traced", p.method, p.path, p.port)
            }
            (None, Some(e)) => {
                eprintln!("warning: {} {} on port {} failed while traced: {e}", p.method, p.path, p.port)
            }
            _ => {}
        }
    }
    for e in r.exec.iter().filter(|e| e.exit_code != Some(0)) {
        eprintln!("warning: {} probe {:?} exited with {:?}", e.source, e.command, e.exit_code);
    }
}

async fn select_and_write(
    source: &std::sync::Arc<dyn slimctl::image::ImageSource>,
    original: &std::sync::Arc<Image>,
    plan: &BuildPlan,
    work: &WorkDir,
    mut stages: Stages,
) -> Result<(Built, Stages), Failure> {
    let (source, original, plan, work_path) = (source.clone(), original.clone(), plan.clone(), work.path().to_owned());
    Ok(tokio::task::spawn_blocking(move || {
        let built = build_from(source.as_ref(), original, &plan, &work_path, &mut stages);
        built.map(|b| (b, stages))
    })
    .await??)
}

/// Places the slim image where --output says. Returns the output's description and the image id.
async fn output(
    args: &BuildArgs,
    docker: &Option<bollard::Docker>,
    tag: &str,
    work: &WorkDir,
    built: &Built,
    stages: &mut Stages,
) -> Result<(String, String), Failure> {
    let started = std::time::Instant::now();
    match &args.output {
        Output::Engine => {
            let docker = docker.as_ref().expect("engine connected above");
            let bar = slimctl::progress::spinner(&format!("loading {tag} into the engine"));
            let id = load_into_engine(docker, &built.slim, &built.layer_file, tag, work.path()).await;
            bar.finish_and_clear();
            let id = id?;
            if id != built.slim.config_digest {
                return Err(Failure::internal(format!(
                    "the engine gave the slim image id {id}, expected {}",
                    built.slim.config_digest
                )));
            }
        }
        Output::OciDir(dir) => {
            write_oci_dir(&built.slim, &built.layer_file, Some(tag), dir)?;
        }
        Output::DockerArchive(file) => {
            let werr = |e: std::io::Error| {
                Failure::new(slimctl::error::ErrorClass::Environment, format!("cannot write {}: {e}", file.display()))
            };
            let f = std::fs::File::create(file).map_err(werr)?;
            let w = write_docker_archive(&built.slim, &built.layer_file, Some(tag), std::io::BufWriter::new(f))
                .map_err(werr)?;
            w.into_inner().map_err(|e| werr(e.into_error()))?;
        }
    }
    stages.0.push(slimctl::build::Stage { name: "output", seconds: started.elapsed().as_secs_f64() });
    Ok((output_desc(args, tag), built.slim.config_digest.clone()))
}

#[allow(clippy::too_many_arguments)]
async fn emit(
    args: &BuildArgs,
    docker: &Option<bollard::Docker>,
    tag: &str,
    work: &WorkDir,
    built: &Built,
    mut stages: Stages,
    trace: Option<TraceReport>,
    verify: Option<VerifyReport>,
) -> Result<(BuildReport, ()), Failure> {
    output(args, docker, tag, work, built, &mut stages).await?;
    emit_report(args, tag, built, stages, trace, verify)
}

fn output_desc(args: &BuildArgs, tag: &str) -> String {
    match &args.output {
        Output::Engine => format!("docker:{tag}"),
        Output::OciDir(dir) => format!("oci:{}", dir.display()),
        Output::DockerArchive(file) => format!("docker-archive:{}", file.display()),
    }
}

fn emit_report(
    args: &BuildArgs,
    tag: &str,
    built: &Built,
    stages: Stages,
    trace: Option<TraceReport>,
    verify: Option<VerifyReport>,
) -> Result<(BuildReport, ()), Failure> {
    let mut report = BuildReport::new(built, output_desc(args, tag), Some(tag.to_owned()), stages.0);
    report.trace = trace;
    report.verify = verify;
    if let Some(path) = &args.report {
        let json = serde_json::to_vec_pretty(&report).map_err(Failure::internal)?;
        std::fs::write(path, json).map_err(|e| {
            Failure::new(
                slimctl::error::ErrorClass::Environment,
                format!("cannot write report {}: {e}", path.display()),
            )
        })?;
    }
    Ok((report, ()))
}

fn finish(args: &BuildArgs, report: &BuildReport, code: u8) -> Result<u8, Failure> {
    if args.quiet {
    } else if args.json {
        println!("{}", serde_json::to_string_pretty(report).map_err(Failure::internal)?);
    } else {
        print_summary(report);
    }
    let mut code = code;
    if let Some(limit) = args.fail_if_larger_than {
        if report.slim.bytes > limit {
            eprintln!(
                "slimctl: error: CI gate: the slim image is {} (--fail-if-larger-than {})",
                human_bytes(report.slim.bytes),
                human_bytes(limit)
            );
            code = code.max(super::EXIT_CI_GATE);
        }
    }
    if let Some(min) = args.min_ratio {
        if report.ratio < min {
            eprintln!(
                "slimctl: error: CI gate: the slim image is only {:.1}x smaller (--min-ratio {min})",
                report.ratio
            );
            code = code.max(super::EXIT_CI_GATE);
        }
    }
    if code == EXIT_VERIFY {
        eprintln!(
            "slimctl: error: the slim image does not behave like the original (see the verify table{}); \
             add what it needs with --include, or more probes",
            if args.no_fix { "; --fix was off" } else { "" }
        );
    }
    Ok(code)
}

fn print_summary(r: &BuildReport) {
    let rows = vec![
        vec![
            "original".into(),
            r.original.name.clone(),
            human_bytes(r.original.stored_bytes),
            r.original.paths.to_string(),
        ],
        vec!["slim".into(), r.slim.output.clone(), human_bytes(r.slim.bytes), r.slim.paths.to_string()],
    ];
    print!("{}", table::render(&["", "image", "size", "paths"], &rows));
    println!(
        "{:.1}x smaller; {} paths removed; slim id {}",
        r.ratio,
        r.original.paths.saturating_sub(r.slim.paths as usize),
        r.slim.id
    );
    if let Some(t) = &r.trace {
        let answered = t.http.iter().filter(|p| p.answered()).count();
        let mut line = format!(
            "traced: {} events from {} processes, {} paths used, {} directories written into",
            t.stats.events, t.stats.processes, t.stats.paths, t.stats.written_in
        );
        if !t.http.is_empty() {
            line.push_str(&format!("; HTTP probes answered {answered}/{}", t.http.len()));
        }
        if !t.exec.is_empty() {
            let ok = t.exec.iter().filter(|e| e.exit_code == Some(0)).count();
            line.push_str(&format!("; exec probes ok {ok}/{}", t.exec.len()));
        }
        if t.exited_by_itself {
            line.push_str(&format!("; exited with code {}", t.exit_code.unwrap_or(-1)));
        }
        println!("{line}");
    }
    if let Some(v) = &r.verify {
        for round in &v.rounds {
            if let Some(last) = v.rounds.last() {
                if round.round == last.round {
                    let rows: Vec<Vec<String>> = round
                        .checks
                        .iter()
                        .map(|c| {
                            vec![
                                c.what.clone(),
                                c.original.clone(),
                                c.slim.clone(),
                                format!("{:?}", c.verdict).to_lowercase(),
                            ]
                        })
                        .collect();
                    if !rows.is_empty() {
                        print!("{}", table::render(&["verify", "original", "slim", "verdict"], &rows));
                    }
                }
            }
            for m in &round.missing {
                println!("round {}: slim image missed {} ({} by {})", round.round, m.path, m.how, m.by);
            }
            if !round.added.is_empty() {
                println!("round {}: added {} path(s) and rebuilt", round.round, round.added.len());
            }
        }
        println!("verify: {}", if v.ok { "the slim image behaves like the original" } else { "MISMATCH" });
    }
    println!(
        "packages: {} kept, {} partly kept, {} removed entirely (details: --report)",
        r.packages.kept,
        r.packages.partial.len(),
        r.packages.removed.len()
    );
    let parts: Vec<String> = r.bytes_by_reason.iter().map(|(k, v)| format!("{k} {}", human_bytes(*v))).collect();
    println!("slim bytes by reason: {}", parts.join(", "));
    let stages: Vec<String> = r.stages.iter().map(|s| format!("{} {:.2}s", s.name, s.seconds)).collect();
    println!("time: {}", stages.join(", "));
    let libs: Vec<_> =
        r.unresolved.iter().filter(|u| !matches!(u.wanted_by, slimctl::closure::Reason::Included { .. })).collect();
    for u in libs.iter().take(10) {
        eprintln!("warning: {} (wanted as {})", u.error, u.wanted_by);
    }
}
