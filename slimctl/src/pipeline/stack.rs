//! Before a run: the Compose stack and the probe container the flags name, resolved once (the
//! file read, every image looked up in the engine by id), so that every run of the command
//! (traced, verify, healing) gets the same.
use super::error::PipelineError;
use crate::compose::{ServiceRun, Stack};
use crate::engine::EngineError;
use crate::run::probe_container::ProbeContainer;
use std::path::PathBuf;
use std::sync::Arc;

/// What the flags name around the target.
#[derive(Debug, Clone, Default)]
pub struct StackRequest {
    /// `-f`: the Compose file, then its override files.
    pub compose_files: Vec<PathBuf>,
    pub target_service: Option<String>,
    /// A service of the Compose file as the probe container.
    pub probe_service: Option<String>,
    /// An image as the probe container.
    pub probe_container: Option<String>,
    /// The probe container's command.
    pub probe_cmd: Option<Vec<String>>,
}

/// The stack and the probe container, resolved.
#[derive(Debug, Default)]
pub struct Prepared {
    pub stack: Option<Arc<Stack>>,
    pub test_container: Option<ProbeContainer>,
    /// The target service's image: what to slim when no image is named.
    pub target_image: Option<String>,
}

/// Resolves the Compose stack and the probe container; says on stderr what the stack starts.
pub async fn prepare(req: &StackRequest) -> Result<Prepared, PipelineError> {
    let mut out = Prepared::default();
    if !req.compose_files.is_empty() {
        let resolved =
            crate::compose::open(&req.compose_files, req.target_service.as_deref(), req.probe_service.as_deref())?;
        let docker = super::inspect::connect().await?;
        let mut stack: Stack = resolved.stack;
        out.target_image = Some(stack.target_run.image.clone());
        let target = stack.target.clone();
        for (name, r) in stack.runs_mut() {
            // The target's image is the one being slimmed: named on the command line, or looked
            // up when the build opens it.
            if name != target {
                r.image_id = image_id(&docker, &format!("service {name}"), &r.image).await?;
            }
        }
        if let (Some(name), Some(mut r)) = (&req.probe_service, resolved.probe) {
            r.image_id = image_id(&docker, &format!("probe service {name}"), &r.image).await?;
            if let Some(cmd) = &req.probe_cmd {
                r.command = Some(cmd.clone());
            }
            out.test_container = Some(ProbeContainer { name: name.clone(), run: r, on_stack: true });
        }
        let started: Vec<&str> = stack.services.iter().map(|s| s.name.as_str()).collect();
        eprintln!(
            "stack {}: target {}; started first: {}",
            stack.project,
            stack.target,
            if started.is_empty() { "nothing".to_owned() } else { started.join(", ") }
        );
        out.stack = Some(Arc::new(stack));
    }
    if let Some(image) = &req.probe_container {
        let docker = super::inspect::connect().await?;
        let image_id = image_id(&docker, "probe container", image).await?;
        // On a stack it joins the target's networks, to reach it by its service name.
        let networks = out.stack.as_ref().map(|s| s.target_run.networks.clone()).unwrap_or_default();
        let command = req.probe_cmd.clone();
        let run = ServiceRun { image: image.clone(), image_id, command, networks, ..Default::default() };
        out.test_container = Some(ProbeContainer { name: image.clone(), run, on_stack: out.stack.is_some() });
    }
    Ok(out)
}

/// An image's id in the engine; never pulled.
async fn image_id(docker: &bollard::Docker, what: &str, image: &str) -> Result<String, PipelineError> {
    match docker.inspect_image(image).await {
        Ok(i) => i.id.ok_or_else(|| {
            EngineError::Answer { action: format!("inspecting image {image}"), detail: "no image id".into() }.into()
        }),
        Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {
            Err(PipelineError::NeighbourNotFound { what: what.to_owned(), image: image.to_owned() })
        }
        Err(e) => Err(EngineError::failed(format!("{what}: looking up image {image}"), e).into()),
    }
}
