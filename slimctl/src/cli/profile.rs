//! `slimctl profile IMAGE`: trace a run under probes and save what it touched, for
//! `slimctl build --from-profile` later.
use super::runargs::{ProbeArgs, RunArgs};
use super::{exit, Failure};
use std::path::PathBuf;

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
    let prepared = slimctl::pipeline::prepare_stack(&args.run.stack_request(&args.probes)?).await?;
    let image = args.image.clone().or(prepared.target_image.clone()).ok_or_else(|| Failure::usage("no image given"))?;
    let run = args.run.template(&args.probes, &prepared)?;
    let plan = args.probes.plan(args.run.show_logs, &prepared)?;
    let profile = slimctl::pipeline::profile::record(&image, &run, &plan).await?;
    match &args.output {
        Some(path) => {
            profile.write(path).map_err(|e| Failure::of(slimctl::error::ErrorClass::Environment, &e))?;
            eprintln!(
                "profile of {} written to {}: {} paths used, {} directories written into, {} syscalls",
                image,
                path.display(),
                profile.touched.len(),
                profile.written_in.len(),
                profile.syscalls.len()
            );
        }
        None => println!("{}", serde_json::to_string_pretty(&profile).map_err(Failure::internal)?),
    }
    Ok(exit::OK)
}
