//! `slimctl build`

use super::runargs::{ProbeArgs, RunArgs};
use super::{open_source, table, Failure, WorkDir, EXIT_OK, EXIT_PROBE};
use slimctl::build::{build_from, BuildPlan, BuildReport, Stages};
use slimctl::error::ErrorClass;
use slimctl::image::Image;
use slimctl::run::traced::{trace_run, TraceError};
use slimctl::run::RunError;
use slimctl::image::ImageRef;
use slimctl::naming::slim_tag;
use slimctl::units::human_bytes;
use slimctl::write::output::{load_into_engine, write_docker_archive, write_oci_dir};
use slimctl::write::Output;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct BuildArgs {
    /// The image: NAME[:TAG] or ID in the engine, docker-archive:FILE, or oci:DIR.
    pub image: String,
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
    "sh", "bash", "ls", "cat", "cp", "mv", "rm", "mkdir", "echo", "env", "id", "pwd", "ps", "grep", "sed", "head", "tail",
    "stat", "find", "less", "vi",
];


fn trace_failure(e: TraceError) -> Failure {
    match e {
        TraceError::Sensor(e) => Failure::new(ErrorClass::Environment, e),
        TraceError::Run(RunError::Input(m)) => Failure::input(m),
        TraceError::Run(RunError::Engine(m)) => Failure::new(ErrorClass::Environment, m),
        TraceError::Probe(m) => Failure { code: EXIT_PROBE, message: m },
    }
}


pub async fn run(args: &BuildArgs, work: &WorkDir) -> Result<u8, Failure> {
    let mut plan = BuildPlan {
        includes: args.includes.clone(),
        excludes: args.excludes.clone(),
        seeds: Vec::new(),
        source_date_epoch: source_date_epoch()?,
    };
    let probes = if args.no_trace { None } else { Some(args.probes.plan(args.run.show_logs)?) };
    if probes.is_some() && !matches!(ImageRef::parse(&args.image), ImageRef::Engine(_)) {
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
    let original: Image = {
        let src = source.clone();
        let t = std::time::Instant::now();
        let img = tokio::task::spawn_blocking(move || Image::open(src.as_ref(), false)).await??;
        stages.0.push(slimctl::build::Stage { name: "inspect", seconds: t.elapsed().as_secs_f64() });
        img
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

    let mut trace_report = None;
    if let Some(probes) = probes {
        let docker = docker.as_ref().expect("engine images come with the engine");
        let spec = args.run.spec(&original.config.digest)?;
        let has_shell = slimctl::resolve::resolve(&original.index, "/bin/sh", "/", true).is_ok();
        let t = std::time::Instant::now();
        let traced = trace_run(docker, &original.config, &spec, &probes, has_shell).await.map_err(trace_failure)?;
        stages.0.push(slimctl::build::Stage { name: "run+trace", seconds: t.elapsed().as_secs_f64() });
        for p in traced.report.http.iter().filter(|p| p.status.is_some_and(|s| s >= 500) || p.error.is_some()) {
            match (p.status, &p.error) {
                (Some(st), _) => eprintln!("warning: {} {} on port {} answered {st} while traced", p.method, p.path, p.port),
                (None, Some(e)) => eprintln!("warning: {} {} on port {} failed while traced: {e}", p.method, p.path, p.port),
                _ => {}
            }
        }
        for e in traced.report.exec.iter().filter(|e| e.exit_code != Some(0)) {
            eprintln!("warning: {} probe {:?} exited with {:?}", e.source, e.command, e.exit_code);
        }
        plan.seeds = traced.touched.seeds();
        trace_report = Some(traced.report);
    }

    let work_path = work.path().to_owned();
    let (built, stages) = tokio::task::spawn_blocking(move || {
        let built = build_from(source.as_ref(), original, &plan, &work_path, &mut stages);
        built.map(|b| (b, stages))
    })
    .await??;
    let mut stages = stages;

    let started = std::time::Instant::now();
    let (output_desc, tag_out) = match &args.output {
        Output::Engine => {
            let docker = docker.expect("engine connected above");
            let bar = slimctl::progress::spinner(&format!("loading {tag} into the engine"));
            let id = load_into_engine(&docker, &built.slim, &built.layer_file, &tag, work.path()).await;
            bar.finish_and_clear();
            let id = id?;
            if id != built.slim.config_digest {
                return Err(Failure::internal(format!(
                    "the engine gave the slim image id {id}, expected {}",
                    built.slim.config_digest
                )));
            }
            (format!("docker:{tag}"), Some(tag.clone()))
        }
        Output::OciDir(dir) => {
            write_oci_dir(&built.slim, &built.layer_file, Some(&tag), dir)?;
            (format!("oci:{}", dir.display()), Some(tag.clone()))
        }
        Output::DockerArchive(file) => {
            let werr = |e: std::io::Error| {
                Failure::new(slimctl::error::ErrorClass::Environment, format!("cannot write {}: {e}", file.display()))
            };
            let f = std::fs::File::create(file).map_err(werr)?;
            let w = write_docker_archive(&built.slim, &built.layer_file, Some(&tag), std::io::BufWriter::new(f)).map_err(werr)?;
            w.into_inner().map_err(|e| werr(e.into_error()))?;
            (format!("docker-archive:{}", file.display()), Some(tag.clone()))
        }
    };
    stages.0.push(slimctl::build::Stage { name: "output", seconds: started.elapsed().as_secs_f64() });

    let mut report = BuildReport::new(&built, output_desc, tag_out, stages.0);
    report.trace = trace_report;
    if let Some(path) = &args.report {
        let json = serde_json::to_vec_pretty(&report).map_err(Failure::internal)?;
        std::fs::write(path, json).map_err(|e| {
            Failure::new(slimctl::error::ErrorClass::Environment, format!("cannot write report {}: {e}", path.display()))
        })?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).map_err(Failure::internal)?);
    } else {
        print_summary(&report);
    }
    Ok(EXIT_OK)
}

fn print_summary(r: &BuildReport) {
    let rows = vec![
        vec!["original".into(), r.original.name.clone(), human_bytes(r.original.stored_bytes), r.original.paths.to_string()],
        vec![
            "slim".into(),
            r.slim.output.clone(),
            human_bytes(r.slim.bytes),
            r.slim.paths.to_string(),
        ],
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
    let stages: Vec<String> = r.stages.iter().map(|s| format!("{} {:.2}s", s.name, s.seconds)).collect();
    println!("time: {}", stages.join(", "));
    let libs: Vec<_> = r.unresolved.iter().filter(|u| !matches!(u.wanted_by, slimctl::closure::Reason::Included { .. })).collect();
    for u in libs.iter().take(10) {
        eprintln!("warning: {} (wanted as {})", u.error, u.wanted_by);
    }
}
