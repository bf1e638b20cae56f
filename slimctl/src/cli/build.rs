//! `slimctl build`

use super::{open_source, table, Failure, WorkDir, EXIT_OK};
use slimctl::build::{build, BuildPlan, BuildReport, Stages};
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

pub async fn run(args: &BuildArgs, work: &WorkDir) -> Result<u8, Failure> {
    if !args.no_trace {
        return Err(Failure::input(
            "tracing the running container is not available in this version yet; \
             pass --no-trace and name what the app needs with --include PATH",
        ));
    }
    let plan = BuildPlan {
        includes: args.includes.clone(),
        excludes: args.excludes.clone(),
        seeds: Vec::new(),
        source_date_epoch: source_date_epoch()?,
    };
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

    let work_path = work.path().to_owned();
    let (built, stages) = tokio::task::spawn_blocking(move || {
        let mut stages = Stages::default();
        let built = build(source.as_ref(), &plan, &work_path, &mut stages);
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

    let report = BuildReport::new(&built, output_desc, tag_out, stages.0);
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
    let stages: Vec<String> = r.stages.iter().map(|s| format!("{} {:.2}s", s.name, s.seconds)).collect();
    println!("time: {}", stages.join(", "));
    let libs: Vec<_> = r.unresolved.iter().filter(|u| !matches!(u.wanted_by, slimctl::closure::Reason::Included { .. })).collect();
    for u in libs.iter().take(10) {
        eprintln!("warning: {} (wanted as {})", u.error, u.wanted_by);
    }
}
