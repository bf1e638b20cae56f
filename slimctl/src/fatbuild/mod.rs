//! The fat image built from a Dockerfile through the engine's build API (Docker's classic
//! builder, or podman's Buildah behind its Docker-compatible API), before it is slimmed: a CI
//! post-build step in one command. Nothing is pulled (`FROM` names images the engine has), the
//! builder's intermediate containers are removed even when a step fails, and the image is tagged
//! so it stays the user's, as `docker build -t` leaves it.

pub mod context;

use crate::engine::{engine_message, EngineError};
use crate::error::ErrorClass;
use context::{Context, ContextError};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::path::PathBuf;

/// What to build.
#[derive(Debug, Clone)]
pub struct FatBuild {
    pub dockerfile: PathBuf,
    /// The context directory (default: the Dockerfile's).
    pub context: Option<PathBuf>,
    /// The tag the built image gets.
    pub tag: String,
    /// `--build-arg KEY=VALUE`.
    pub build_args: Vec<(String, String)>,
    /// A stage of a multi-stage Dockerfile to stop at.
    pub stage: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum FatBuildError {
    #[error("--dockerfile {}: cannot read it: {source}", path.display())]
    Dockerfile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Context(#[from] ContextError),
    /// A step of the Dockerfile failed: the builder's own words, and its last lines of output.
    #[error("building {dockerfile} failed: {message}{}", tail_of(.output))]
    Step { dockerfile: String, message: String, output: Vec<String> },
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl FatBuildError {
    pub fn class(&self) -> ErrorClass {
        match self {
            FatBuildError::Engine(_) => ErrorClass::Environment,
            _ => ErrorClass::Input,
        }
    }
}

fn tail_of(output: &[String]) -> String {
    let tail: Vec<&str> = output.iter().rev().take(8).rev().map(|l| l.trim_end()).filter(|l| !l.is_empty()).collect();
    if tail.is_empty() {
        String::new()
    } else {
        format!("\nlast lines of the build:\n  {}", tail.join("\n  "))
    }
}

/// Builds `req` in the engine; returns the image's id. The builder's steps are printed to
/// stderr as they come (`show`), or kept for the error when a step fails.
pub async fn build(req: &FatBuild, show: bool) -> Result<String, FatBuildError> {
    std::fs::metadata(&req.dockerfile)
        .and_then(|m| if m.is_file() { Ok(()) } else { Err(std::io::Error::other("not a file")) })
        .map_err(|source| FatBuildError::Dockerfile { path: req.dockerfile.clone(), source })?;
    let dir = match &req.context {
        Some(d) => d.clone(),
        None => req.dockerfile.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(".".as_ref()).to_owned(),
    };
    let context = Context::new(&dir, &req.dockerfile)?;
    let docker = crate::engine::connect().await?;
    let options = bollard::query_parameters::BuildImageOptionsBuilder::default()
        .dockerfile(&context.dockerfile_name)
        .t(&req.tag)
        .rm(true)
        .forcerm(true)
        .buildargs(&req.build_args.iter().cloned().collect::<HashMap<_, _>>())
        .target(req.stage.as_deref().unwrap_or(""))
        .build();

    // The context streams into the request as it is written: nothing is staged on disk.
    let (writer, reader) = tokio::io::duplex(1 << 20);
    let writing = tokio::task::spawn_blocking(move || {
        let mut sink = tokio_util::io::SyncIoBridge::new(writer);
        let n = context.write(&mut sink);
        let _ = sink.shutdown();
        n
    });
    let body = bollard::body_try_stream(tokio_util::io::ReaderStream::with_capacity(reader, 1 << 20));
    let shown = req.dockerfile.display().to_string();
    let mut output: Vec<String> = Vec::new();
    let mut failure: Option<FatBuildError> = None;
    let mut stream = docker.build_image(options, None, Some(body));
    while let Some(msg) = stream.next().await {
        match msg {
            Ok(info) => {
                if let Some(detail) = info.error_detail.and_then(|d| d.message) {
                    failure =
                        Some(FatBuildError::Step { dockerfile: shown.clone(), message: detail, output: Vec::new() });
                    break;
                }
                for line in info.stream.iter().flat_map(|s| s.lines()) {
                    if show && !line.trim().is_empty() {
                        eprintln!("  {line}");
                    }
                    output.push(line.to_owned());
                }
            }
            Err(e) => {
                failure = Some(step_or_engine(e, &shown));
                break;
            }
        }
    }
    drop(stream);
    let written = writing.await.map_err(|e| ContextError::Read { path: dir.clone(), source: std::io::Error::other(e) });
    if let Some(f) = failure {
        return Err(match f {
            FatBuildError::Step { dockerfile, message, .. } => FatBuildError::Step { dockerfile, message, output },
            other => other,
        });
    }
    written??;
    let inspected = docker
        .inspect_image(&req.tag)
        .await
        .map_err(|e| EngineError::failed(format!("inspecting the image it built, {}", req.tag), e))?;
    inspected
        .id
        .ok_or_else(|| EngineError::Answer { action: format!("inspecting {}", req.tag), detail: "no id".into() }.into())
}

/// The engine refuses a build it cannot start (a Dockerfile that does not parse, a base image
/// it lacks) with an error status, or ends the stream with an error: the user's to mend. Only
/// a connection that fails is the engine's.
fn step_or_engine(e: bollard::errors::Error, dockerfile: &str) -> FatBuildError {
    match &e {
        bollard::errors::Error::DockerResponseServerError { .. } => {
            FatBuildError::Step { dockerfile: dockerfile.to_owned(), message: engine_message(&e), output: Vec::new() }
        }
        bollard::errors::Error::DockerStreamError { error } => {
            FatBuildError::Step { dockerfile: dockerfile.to_owned(), message: error.clone(), output: Vec::new() }
        }
        _ => FatBuildError::Engine(EngineError::failed(format!("building {dockerfile}"), e)),
    }
}
