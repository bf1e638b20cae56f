//! `slimctl profile IMAGE`: trace a run under probes and save what it touched, for
//! `slimctl build --from-profile` later.
use super::runargs::{ProbeArgs, RunArgs};
use super::{open_source, Failure, EXIT_OK};
use slimctl::image::ImageRef;
use slimctl::profile::Profile;
use slimctl::run::overlap::{trace_while_reading, Overlapped, Reading};
use std::path::PathBuf;
use std::sync::Arc;

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

pub async fn run(args: &ProfileArgs) -> Result<u8, Failure> {
    if !matches!(ImageRef::parse(&args.image), ImageRef::Engine(_)) {
        return Err(Failure::input(format!(
            "{}: profiling runs the image, so it must be in the engine (docker load first)",
            args.image
        )));
    }
    let plan = args.probes.plan(args.run.show_logs)?;
    let opened = open_source(&args.image, None).await?;
    let docker = opened.docker.expect("engine image");
    let run_config = opened.run_config.expect("engine image");
    let reading = Reading::start(Arc::from(opened.source), Vec::new());
    let spec = args.run.spec(&run_config.digest)?;
    let Overlapped { run: traced, image, .. } =
        trace_while_reading(&docker, &run_config, &spec, &plan, reading).await?;
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
