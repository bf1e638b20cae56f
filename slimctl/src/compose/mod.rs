//! Compose files: the stack a target needs to start (its database, its queue), read from the
//! file the user already has. No compose binary is involved: the file is read here
//! (docker-compose-types for its model) and the stack is run through the Engine API by
//! [`crate::run::stack`].
pub mod interpolate;
pub mod load;
pub mod model;
pub mod resolve;

pub use model::*;
pub use resolve::Resolved;
use std::path::PathBuf;

/// A Compose file slimctl cannot use; all are the user's input to fix.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("{}:{line}:{column}: {message}", file.display())]
    Parse { file: PathBuf, line: usize, column: usize, message: String },
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{what} {name:?} is not in the Compose file (services: {})", services.join(", "))]
    UnknownService { name: String, what: String, services: Vec<String> },
    #[error("{0}")]
    Invalid(String),
}

/// Reads the files (the first is the project's, the others override it) and resolves the
/// stack of `target` (else the one service nothing depends on), with the probe service's
/// settings when one is named.
pub fn open(files: &[PathBuf], target: Option<&str>, probe: Option<&str>) -> Result<Resolved, ComposeError> {
    let loaded = load::load(files)?;
    resolve::resolve(&loaded, target, probe)
}
