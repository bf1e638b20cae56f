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
    /// The image (in the engine); with a Compose file, by default its target service's.
    #[arg(required_unless_present = "compose_files")]
    pub image: Option<String>,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub probes: ProbeArgs,
    /// Write the profile here (default: stdout).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub async fn run(args: &ProfileArgs) -> Result<u8, Failure> {
    let (mut run, mut probes) = (args.run.clone(), args.probes.clone());
    let target_image = super::stack::prepare(&mut run, &mut probes).await?;
    let image = args.image.clone().or(target_image).ok_or_else(|| Failure::usage("no image given"))?;
    let args = &ProfileArgs { run, probes, image: Some(image.clone()), output: args.output.clone() };
    if !matches!(ImageRef::parse(&image), ImageRef::Engine(_)) {
        return Err(Failure::input(format!(
            "{image}: profiling runs the image, so it must be in the engine (docker load first)"
        )));
    }
    let plan = args.probes.plan(args.run.show_logs)?;
    let opened = open_source(&image, None).await?;
    let docker = opened.docker.expect("engine image");
    let run_config = opened.run_config.expect("engine image");
    let reading = Reading::start(Arc::from(opened.source), Vec::new());
    let spec = args.run.spec(&run_config.digest)?;
    let image_name = image;
    let Overlapped { run: traced, image, .. } =
        trace_while_reading(&docker, &run_config, &spec, &plan, reading).await?;
    let profile = Profile::from_run(&image_name, &image.config.digest, &traced, &plan, args.run.stack.as_deref());
    match &args.output {
        Some(path) => {
            super::build::write_profile(path, &profile)?;
            eprintln!(
                "profile of {} written to {}: {} paths used, {} directories written into, {} syscalls",
                image_name,
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
