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
use std::path::{Path, PathBuf};

/// What to build.
#[derive(Debug, Clone)]
pub struct FatBuild {
    pub dockerfile: PathBuf,
    /// The context directory (default: the Dockerfile's).
    pub context: Option<PathBuf>,
    /// The tag the built image gets (default: [`FatBuild::tag`]'s).
    pub tag: Option<String>,
    /// `--build-arg KEY=VALUE`.
    pub build_args: Vec<(String, String)>,
    /// A stage of a multi-stage Dockerfile to stop at.
    pub stage: Option<String>,
}

impl FatBuild {
    /// The context directory: the one given, else the Dockerfile's.
    pub fn context_dir(&self) -> PathBuf {
        match &self.context {
            Some(d) => d.clone(),
            None => self.dockerfile.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(".".as_ref()).to_owned(),
        }
    }

    /// A name for images made from this context: its directory's name, as an image reference
    /// allows (lower case; letters, digits, `.`, `_`, `-`), else `app`.
    pub fn name(&self) -> String {
        name_of(&self.context_dir())
    }

    /// The tag the built image gets: the one given, else `<name>.fat:latest`.
    pub fn tag(&self) -> String {
        self.tag.clone().unwrap_or_else(|| format!("{}.fat:latest", self.name()))
    }

    /// Whether the Dockerfile can be read, before anything is sent to the engine.
    pub fn check(&self) -> Result<(), FatBuildError> {
        std::fs::metadata(&self.dockerfile)
            .and_then(|m| if m.is_file() { Ok(()) } else { Err(std::io::Error::other("not a file")) })
            .map_err(|source| FatBuildError::Dockerfile { path: self.dockerfile.clone(), source })
    }
}

fn name_of(dir: &Path) -> String {
    let base = dir.canonicalize().ok().and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()));
    let cleaned: String = base
        .unwrap_or_default()
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '-' })
        .collect();
    let trimmed = cleaned.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if trimmed.is_empty() {
        "app".to_owned()
    } else {
        trimmed.to_owned()
    }
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
    req.check()?;
    let dir = req.context_dir();
    let tag = req.tag();
    let context = Context::new(&dir, &req.dockerfile)?;
    let docker = crate::engine::connect().await?;
    let options = bollard::query_parameters::BuildImageOptionsBuilder::default()
        .dockerfile(&context.dockerfile_name)
        .t(&tag)
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
        .inspect_image(&tag)
        .await
        .map_err(|e| EngineError::failed(format!("inspecting the image it built, {tag}"), e))?;
    inspected
        .id
        .ok_or_else(|| EngineError::Answer { action: format!("inspecting {tag}"), detail: "no id".into() }.into())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_named_after_the_context_directory() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = dir.path().join("My App_2");
        std::fs::create_dir(&ctx).unwrap();
        assert_eq!(name_of(&ctx), "my-app_2");
        let odd = dir.path().join("--");
        std::fs::create_dir(&odd).unwrap();
        assert_eq!(name_of(&odd), "app");
        let req = FatBuild {
            dockerfile: ctx.join("Dockerfile"),
            context: None,
            tag: None,
            build_args: Vec::new(),
            stage: None,
        };
        assert_eq!(req.context_dir(), ctx);
        assert_eq!(req.tag(), "my-app_2.fat:latest");
        let bare = FatBuild { dockerfile: "Dockerfile".into(), ..req };
        assert_eq!(bare.context_dir(), Path::new("."));
    }
}
