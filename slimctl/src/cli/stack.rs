//! Before a run: the Compose stack and the probe container the flags name, resolved once
//! (the file read, every image looked up in the engine by id) and stored in the run and probe
//! arguments, so that every run of the command (traced, verify, healing) gets the same.
use super::runargs::{argv_arg, ProbeArgs, RunArgs};
use super::Failure;
use slimctl::compose::{ServiceRun, Stack};
use slimctl::run::probe_container::ProbeContainer;
use std::sync::Arc;

/// Resolves `--compose-file`/`--target-service`/`--probe-service` and `--probe-container`/
/// `--probe-cmd`. Returns the target service's image (what to slim when no image is named).
pub async fn prepare(run: &mut RunArgs, probes: &mut ProbeArgs) -> Result<Option<String>, Failure> {
    if probes.probe_cmd.is_some() && probes.probe_container.is_none() && probes.probe_service.is_none() {
        return Err(Failure::usage("--probe-cmd is the command of --probe-container or --probe-service: give one"));
    }
    let probe_cmd = probes.probe_cmd.as_deref().map(|c| argv_arg("--probe-cmd", c)).transpose()?;
    let mut target_image = None;
    if !run.compose_files.is_empty() {
        let resolved =
            slimctl::compose::open(&run.compose_files, run.target_service.as_deref(), probes.probe_service.as_deref())
                .map_err(Failure::input)?;
        let docker = slimctl::image::engine::connect().await?;
        let mut stack: Stack = resolved.stack;
        target_image = Some(stack.target_run.image.clone());
        let target = stack.target.clone();
        for (name, r) in stack.runs_mut() {
            // The target's image is the one being slimmed: named on the command line, or looked
            // up when the build opens it.
            if name != target {
                r.image_id = image_id(&docker, &format!("service {name}"), &r.image).await?;
            }
        }
        if let (Some(name), Some(mut r)) = (&probes.probe_service, resolved.probe) {
            r.image_id = image_id(&docker, &format!("probe service {name}"), &r.image).await?;
            if let Some(cmd) = &probe_cmd {
                r.command = Some(cmd.clone());
            }
            probes.test_container = Some(ProbeContainer { name: name.clone(), run: r, on_stack: true });
        }
        eprintln!(
            "stack {}: target {}; started first: {}",
            stack.project,
            stack.target,
            if stack.services.is_empty() {
                "nothing".to_owned()
            } else {
                stack.services.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
            }
        );
        run.stack = Some(Arc::new(stack));
    }
    if let Some(image) = &probes.probe_container {
        let docker = slimctl::image::engine::connect().await?;
        let image_id = image_id(&docker, "probe container", image).await?;
        // On a stack it joins the target's networks, to reach it by its service name.
        let networks = run.stack.as_ref().map(|s| s.target_run.networks.clone()).unwrap_or_default();
        let run_ = ServiceRun { image: image.clone(), image_id, command: probe_cmd, networks, ..Default::default() };
        probes.test_container = Some(ProbeContainer { name: image.clone(), run: run_, on_stack: run.stack.is_some() });
    }
    Ok(target_image)
}

/// The stack and probe container saved in profiles, for a re-slim that has no Compose file.
pub fn from_profiles(run: &mut RunArgs, profiles: &[slimctl::profile::Profile]) {
    if run.stack.is_none() {
        run.stack = slimctl::profile::merged_stack(profiles).map(Arc::new);
    }
}

/// An image's id in the engine; never pulled.
async fn image_id(docker: &bollard::Docker, what: &str, image: &str) -> Result<String, Failure> {
    match docker.inspect_image(image).await {
        Ok(i) => i.id.ok_or_else(|| Failure::internal(format!("the engine gave no id for {image}"))),
        Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {
            Err(Failure::input(format!(
                "{what}: image {image:?} is not in the engine (slimctl never pulls); build or load it first, or check \
             the name with `docker images`"
            )))
        }
        Err(e) => Err(Failure::new(
            slimctl::error::ErrorClass::Environment,
            format!("{what}: looking up image {image}: {}", slimctl::error::engine_message(&e)),
        )),
    }
}
