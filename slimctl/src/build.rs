//! The build pipeline without tracing: inspect → select (closure of includes and config) → write.
//! Tracing ([3/5]) adds its touched paths as seeds to the same closure.

use crate::closure::{Closure, ClosureBuilder, Kept, Reason, Seed, Unresolved};
use crate::error::ImageError;
use crate::image::{Image, ImageSource};
use crate::write::{layer::write_layer, manifest, Spool, SlimImage};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("--include {path}: {error}; check the path with `slimctl xray` or `docker run --rm IMAGE ls -la DIR`")]
    IncludeMissing { path: String, error: String },
    #[error("writing the slim layer to {}: {source}", path.display())]
    WriteLayer { path: PathBuf, source: std::io::Error },
}

impl BuildError {
    pub fn class(&self) -> crate::error::ErrorClass {
        match self {
            BuildError::Image(e) => e.class(),
            BuildError::IncludeMissing { .. } => crate::error::ErrorClass::Input,
            BuildError::WriteLayer { .. } => crate::error::ErrorClass::Environment,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct BuildPlan {
    pub includes: Vec<String>,
    pub excludes: Vec<String>,
    /// Seeds from a trace (later issues); empty with `--no-trace`.
    pub seeds: Vec<Seed>,
    pub source_date_epoch: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Stage {
    pub name: &'static str,
    pub seconds: f64,
}

#[derive(Debug, Default)]
pub struct Stages(pub Vec<Stage>);

impl Stages {
    pub fn time<T>(&mut self, name: &'static str, f: impl FnOnce() -> T) -> T {
        let t = Instant::now();
        let r = f();
        self.0.push(Stage { name, seconds: t.elapsed().as_secs_f64() });
        r
    }
}

/// Everything the pipeline produced, before the image is placed anywhere.
pub struct Built {
    pub original: Image,
    pub closure: Closure,
    pub slim: SlimImage,
    /// The slim layer tar, in the work dir.
    pub layer_file: PathBuf,
}

/// Runs inspect → select → write. Blocking: call it off the async runtime's threads.
pub fn build(source: &dyn ImageSource, plan: &BuildPlan, work_dir: &Path, stages: &mut Stages) -> Result<Built, BuildError> {
    let original = stages.time("inspect", || Image::open(source, false))?;
    let closure = stages.time("select", || select(&original, plan))?;

    let spool = {
        let bar = crate::progress::spinner("collecting kept files");
        let r = stages.time("collect", || Spool::collect(source, &original, &closure.keep, work_dir));
        bar.finish_and_clear();
        r?
    };
    let layer_file = work_dir.join("slim-layer.tar");
    let slim = stages.time("write", || -> Result<SlimImage, BuildError> {
        let werr = |source| BuildError::WriteLayer { path: layer_file.clone(), source };
        let mut spool = spool;
        let file = std::fs::File::create(&layer_file).map_err(werr)?;
        let (blob, out) = write_layer(
            &original.index,
            &closure.keep,
            &mut spool,
            plan.source_date_epoch,
            std::io::BufWriter::with_capacity(1 << 20, file),
        )
        .map_err(werr)?;
        out.into_inner().map_err(|e| werr(e.into_error()))?;
        let comment = format!("kept {} of {} paths", blob.files, original.index.len());
        Ok(manifest::build(&original.config, blob, plan.source_date_epoch, &comment))
    })?;
    Ok(Built { original, closure, slim, layer_file })
}

/// The keep-set for `plan`. An explicit include that is not in the image is an error: the user
/// asked for something that cannot be delivered.
pub fn select(image: &Image, plan: &BuildPlan) -> Result<Closure, BuildError> {
    let closure = ClosureBuilder::new(&image.index, &image.config)
        .exclude(plan.excludes.iter().cloned())
        .config_seeds(&image.config)
        .includes(plan.includes.iter().cloned())
        .seeds(plan.seeds.iter().cloned())
        .build();
    if let Some(u) = closure.unresolved.iter().find(|u| matches!(u.wanted_by, Reason::Included { .. })) {
        return Err(BuildError::IncludeMissing { path: u.path.clone(), error: u.error.clone() });
    }
    Ok(closure)
}

#[derive(Debug, Serialize)]
pub struct ImageSummary {
    pub name: String,
    pub id: String,
    /// Bytes stored over all layers (what the registry and the engine hold).
    pub stored_bytes: u64,
    /// Bytes visible in the merged filesystem.
    pub visible_bytes: u64,
    pub paths: usize,
    pub layers: usize,
}

#[derive(Debug, Serialize)]
pub struct SlimSummary {
    pub id: String,
    pub manifest_digest: String,
    pub bytes: u64,
    pub layer_tar_bytes: u64,
    pub paths: u64,
    pub output: String,
    pub tag: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct BuildReport {
    pub original: ImageSummary,
    pub slim: SlimSummary,
    /// original stored bytes / slim bytes
    pub ratio: f64,
    pub stages: Vec<Stage>,
    pub unresolved: Vec<Unresolved>,
    pub kept: BTreeMap<String, Kept>,
}

impl BuildReport {
    pub fn new(built: &Built, output: String, tag: Option<String>, stages: Vec<Stage>) -> BuildReport {
        let o = &built.original;
        let stored = o.stored_bytes();
        let slim_bytes = built.slim.layer.content_bytes;
        BuildReport {
            original: ImageSummary {
                name: o.name.clone(),
                id: o.config.digest.clone(),
                stored_bytes: stored,
                visible_bytes: o.index.visible_bytes(),
                paths: o.index.len(),
                layers: o.layers.len(),
            },
            slim: SlimSummary {
                id: built.slim.config_digest.clone(),
                manifest_digest: built.slim.manifest_digest.clone(),
                bytes: slim_bytes,
                layer_tar_bytes: built.slim.layer.size,
                paths: built.slim.layer.files,
                output,
                tag,
            },
            ratio: if slim_bytes == 0 { f64::INFINITY } else { stored as f64 / slim_bytes as f64 },
            stages,
            unresolved: built.closure.unresolved.clone(),
            kept: built.closure.keep.paths.clone(),
        }
    }
}
