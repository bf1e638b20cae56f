//! Why a step of the pipeline failed: the stage's own error, kept whole (its causes are the
//! user's to read), or what only the pipeline can see.

use super::profile::ProfileError;
use crate::compose::ComposeError;
use crate::engine::EngineError;
use crate::error::{ErrorClass, ImageError};
use crate::run::RunError;
use crate::select::SelectError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Select(#[from] SelectError),
    #[error(transparent)]
    Compose(#[from] ComposeError),
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error(transparent)]
    FatBuild(#[from] crate::fatbuild::FatBuildError),
    /// A reference that names no image (a malformed `docker://` name).
    #[error("{0}")]
    BadReference(String),
    /// What the step needs is a run of the image, and it is not in the engine.
    #[error(
        "{image}: {doing} runs the image, so it must be in the engine: `docker load -i FILE` (or `skopeo copy`) \
         first{or}"
    )]
    NotInEngine { image: String, doing: &'static str, or: &'static str },
    /// A neighbour's image (a stack service, the probe container) is not in the engine.
    #[error(
        "{what}: image {image:?} is not in the engine (slimctl never pulls); build or load it first, or check the \
         name with `docker images`"
    )]
    NeighbourNotFound { what: String, image: String },
    #[error("cannot write {what} {}: {source}", path.display())]
    Write {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// One of slimctl's own workers stopped.
    #[error("{what} failed: {source}")]
    Worker {
        what: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },
    /// The engine contradicts what slimctl just did.
    #[error("{0}")]
    Contradiction(String),
    /// A vulnerability report that cannot be read.
    #[error(transparent)]
    Report(#[from] crate::vex::report::ReportError),
}

impl PipelineError {
    pub fn class(&self) -> ErrorClass {
        match self {
            PipelineError::Image(e) => e.class(),
            PipelineError::Run(e) => e.class(),
            PipelineError::Engine(_) | PipelineError::Write { .. } => ErrorClass::Environment,
            PipelineError::Select(e) => e.class(),
            PipelineError::FatBuild(e) => e.class(),
            PipelineError::Compose(_)
            | PipelineError::Profile(
                ProfileError::Read { .. } | ProfileError::Parse { .. } | ProfileError::Version { .. },
            )
            | PipelineError::NotInEngine { .. }
            | PipelineError::NeighbourNotFound { .. }
            | PipelineError::Report(_) => ErrorClass::Input,
            PipelineError::Profile(ProfileError::Write { .. }) => ErrorClass::Environment,
            PipelineError::Worker { .. } | PipelineError::Contradiction(_) => ErrorClass::Internal,
            PipelineError::BadReference(_) => ErrorClass::Usage,
        }
    }
}
