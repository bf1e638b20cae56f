//! `slimctl profile IMAGE`: trace a run under probes and save what it touched, for
//! `slimctl build --from-profile` later.
use super::runargs::{ProbeArgs, RunArgs};
use super::{open_source, Failure, EXIT_OK};
use slimctl::image::{Image, ImageRef};
use slimctl::profile::Profile;
use slimctl::run::traced::trace_run;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ProfileArgs {
    /// The image (in the engine).
    pub image: String,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub probes: ProbeArgs,
    /// Write the profile here (default: stdout).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub async fn run(args: &ProfileArgs, work: &super::WorkDir) -> Result<u8, Failure> {
    if !matches!(ImageRef::parse(&args.image), ImageRef::Engine(_)) {
        return Err(Failure::input(format!(
            "{}: profiling runs the image, so it must be in the engine (docker load first)",
            args.image
        )));
    }
    let plan = args.probes.plan(args.run.show_logs)?;
    let (src, docker, _) = open_source(&args.image, Some(work.path())).await?;
    let docker = docker.expect("engine image");
    let image = tokio::task::spawn_blocking(move || Image::open(src.as_ref(), false, &[])).await??;
    let has_shell = slimctl::select::resolve::resolve(&image.index, "/bin/sh", "/", true).is_ok();
    let traced = trace_run(&docker, &image.config, &args.run.spec(&image.config.digest)?, &plan, has_shell).await?;
    let profile = Profile::from_run(&args.image, &image.config.digest, &traced, &plan);
    match &args.output {
        Some(path) => {
            super::build::write_profile(path, &profile)?;
            eprintln!(
                "profile of {} written to {}: {} paths used, {} directories written into, {} syscalls",
                args.image,
                path.display(),
                profile.touched.len(),
                profile.written_in.len(),
                profile.syscalls.len()
            );
        }
        None => println!("{}", serde_json::to_string_pretty(&profile).map_err(Failure::internal)?),
    }
    Ok(EXIT_OK)
}
