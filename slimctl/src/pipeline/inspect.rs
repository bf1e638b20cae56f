//! Step inspect: the image named on the command line opened (the engine, its storage on this
//! host, a registry, a docker-archive, an OCI layout), its config known, its file index read.

use super::error::PipelineError;
use super::trace::Reading;
use crate::image::source::docker_archive::DockerArchive;
use crate::image::source::engine::EngineImage;
use crate::image::source::oci_dir::OciDir;
use crate::image::source::registry::{RegistryImage, RegistryRef};
use crate::image::{Image, ImageConfig, ImageRef, ImageSource};
use std::path::Path;
use std::sync::Arc;

/// An image opened from a command-line reference, not read yet.
pub struct Opened {
    pub reference: String,
    pub source: Arc<dyn ImageSource>,
    /// Connected when the image is in the engine.
    pub docker: Option<bollard::Docker>,
    pub repo_tags: Vec<String>,
    /// The engine's description of the image's config: enough to run it before it is read.
    pub run_config: Option<ImageConfig>,
}

/// Connects to the engine; the first connection of the process also removes what runs killed
/// outright left there (their containers, networks and volumes), and says so.
pub async fn connect() -> Result<bollard::Docker, PipelineError> {
    static SWEPT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let docker = crate::engine::connect().await?;
    if !SWEPT.swap(true, std::sync::atomic::Ordering::SeqCst) {
        let orphans = crate::run::cleanup::sweep_orphans(&docker).await;
        if orphans.any() {
            eprintln!("slimctl: removed {orphans} that killed runs left in the engine");
        }
    }
    Ok(docker)
}

/// Opens the image `reference` names. With `local_copy`, the first read of an engine image that
/// cannot be read in place, or of a registry image, is kept there for later passes.
pub async fn open(reference: &str, local_copy: Option<&Path>) -> Result<Opened, PipelineError> {
    let file = |source: Arc<dyn ImageSource>| Opened {
        reference: reference.to_owned(),
        source,
        docker: None,
        repo_tags: Vec::new(),
        run_config: None,
    };
    match ImageRef::parse(reference) {
        ImageRef::Engine(name) => {
            let docker = connect().await?;
            let mut img = EngineImage::inspect(&docker, &name).await?.with_storage().await;
            if let Some(dir) = local_copy.filter(|_| !img.read_in_place()) {
                img = img.with_local_copy(dir);
            }
            let (repo_tags, run_config) = (img.repo_tags.clone(), Some(img.run_config.clone()));
            Ok(Opened {
                reference: reference.to_owned(),
                source: Arc::new(img),
                docker: Some(docker),
                repo_tags,
                run_config,
            })
        }
        ImageRef::DockerArchive(p) => Ok(file(Arc::new(DockerArchive::open(&p)?))),
        ImageRef::OciDir(p) => Ok(file(Arc::new(OciDir::open(&p)?))),
        ImageRef::Registry(r) => {
            let r = RegistryRef::parse(&r).map_err(PipelineError::BadReference)?;
            let mut img = RegistryImage::open(&r).await?;
            if let Some(dir) = local_copy {
                img = img.with_local_copy(dir);
            }
            Ok(file(Arc::new(img)))
        }
    }
}

/// Opens `reference` and reads it whole (index with waste tracking for xray): off the async
/// runtime's threads.
pub async fn read(reference: &str, track_waste: bool) -> Result<Image, PipelineError> {
    let source = open(reference, None).await?.source;
    let image = tokio::task::spawn_blocking(move || Image::open(source.as_ref(), track_waste, &[]))
        .await
        .map_err(|source| PipelineError::Worker { what: "reading the image", source })??;
    Ok(image)
}

impl Opened {
    /// Starts reading the image on a blocking thread, the content readers of `readers` on.
    pub fn start_reading(&self, readers: Vec<Arc<dyn crate::image::index::facts::ContentReader>>) -> Reading {
        Reading::start(self.source.clone(), readers)
    }

    /// The engine and the engine's description of the image: what running it needs.
    pub fn runnable(&self, doing: &'static str) -> Result<(bollard::Docker, ImageConfig), PipelineError> {
        match (&self.docker, &self.run_config) {
            (Some(d), Some(c)) => Ok((d.clone(), c.clone())),
            _ => Err(not_in_engine(&self.reference, doing)),
        }
    }
}

/// What runs the image must find it in the engine: checked before anything is opened.
pub fn require_in_engine(reference: &str, doing: &'static str) -> Result<(), PipelineError> {
    if ImageRef::parse(reference).in_engine() {
        Ok(())
    } else {
        Err(not_in_engine(reference, doing))
    }
}

fn not_in_engine(reference: &str, doing: &'static str) -> PipelineError {
    let or = if doing == "tracing" { ", or build with --no-trace and --include" } else { "" };
    PipelineError::NotInEngine { image: reference.to_owned(), doing, or }
}
