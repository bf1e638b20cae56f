//! Images in the running Docker engine, read with `docker save` semantics (`GET /images/{id}/get`)
//! as a stream. The API version is negotiated: the engine here speaks 1.41 at most.

use super::archive::{walk, LayerVisitor, Manifest};
use super::ImageSource;
use crate::error::{root_cause, ImageError};
use bollard::Docker;
use futures_util::TryStreamExt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::runtime::Handle;
use tokio_util::io::{StreamReader, SyncIoBridge};

/// Connects to the engine named by DOCKER_HOST (or the local socket) and negotiates the API version.
pub async fn connect() -> Result<Docker, ImageError> {
    let endpoint = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
    let unreachable = |source: bollard::errors::Error| ImageError::EngineUnreachable {
        endpoint: endpoint.clone(),
        detail: root_cause(&source),
        source: Some(source),
    };
    let docker = Docker::connect_with_defaults().map_err(unreachable)?;
    let docker = tokio::time::timeout(std::time::Duration::from_secs(15), docker.negotiate_version())
        .await
        .map_err(|_| ImageError::EngineUnreachable {
            endpoint: endpoint.clone(),
            detail: "no answer within 15 s".into(),
            source: None,
        })?
        .map_err(unreachable)?;
    Ok(docker)
}

pub fn engine_error(action: &str, source: bollard::errors::Error) -> ImageError {
    ImageError::Engine { action: action.to_owned(), source }
}

pub struct EngineImage {
    docker: Docker,
    handle: Handle,
    /// Where the first read keeps a copy of the stream, so later passes read a local file instead
    /// of asking the engine to serialize the image again (that costs as much as the first pass).
    local_copy: Option<PathBuf>,
    copied: AtomicBool,
    pub id: String,
    name: String,
    pub repo_tags: Vec<String>,
    pub size: u64,
}

impl EngineImage {
    pub async fn inspect(docker: &Docker, reference: &str) -> Result<EngineImage, ImageError> {
        let info = match docker.inspect_image(reference).await {
            Ok(i) => i,
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {
                return Err(ImageError::NotFound { name: reference.to_owned() })
            }
            Err(e) => return Err(engine_error(&format!("inspecting image {reference}"), e)),
        };
        let id = info.id.ok_or_else(|| ImageError::EngineAnswer {
            action: format!("inspecting image {reference}"),
            detail: "the engine returned no image id".into(),
        })?;
        Ok(EngineImage {
            docker: docker.clone(),
            handle: Handle::current(),
            local_copy: None,
            copied: AtomicBool::new(false),
            name: format!("image {reference}"),
            id,
            repo_tags: info.repo_tags.unwrap_or_default(),
            size: info.size.unwrap_or(0).max(0) as u64,
        })
    }
}

impl EngineImage {
    /// Keep a copy of the first read in `dir` for the passes after it (build reads twice).
    pub fn with_local_copy(mut self, dir: &Path) -> EngineImage {
        self.local_copy = Some(dir.join("image.tar"));
        self
    }
}

/// Copies everything read through it into a file.
struct Tee<R> {
    inner: R,
    copy: std::io::BufWriter<std::fs::File>,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.write_all(&buf[..n])?;
        Ok(n)
    }
}

impl ImageSource for EngineImage {
    fn name(&self) -> &str {
        &self.name
    }

    fn size_hint(&self) -> Option<u64> {
        Some(self.size)
    }

    /// Must run outside the async runtime's threads (in `spawn_blocking`): it blocks on the stream.
    fn read_layers(
        &self,
        want: &dyn Fn(&str) -> bool,
        on_layer: &mut LayerVisitor<'_>,
    ) -> Result<Manifest, ImageError> {
        if let (Some(copy), true) = (&self.local_copy, self.copied.load(Ordering::Acquire)) {
            let file = std::fs::File::open(copy).map_err(|source| ImageError::Read { path: copy.clone(), source })?;
            return walk(std::io::BufReader::with_capacity(1 << 20, file), &self.name, want, on_layer);
        }
        let stream = self.docker.export_image(&self.id).map_err(|e| std::io::Error::other(root_cause(&e)));
        let reader = SyncIoBridge::new_with_handle(StreamReader::new(stream), self.handle.clone());
        let bar = crate::progress::bytes_bar(&format!("reading {}", self.name), Some(self.size));
        let reader = std::io::BufReader::with_capacity(1 << 20, reader);
        let r = match &self.local_copy {
            Some(copy) => {
                let file =
                    std::fs::File::create(copy).map_err(|source| ImageError::Write { path: copy.clone(), source })?;
                let mut tee = Tee { inner: reader, copy: std::io::BufWriter::with_capacity(1 << 20, file) };
                let r = walk(bar.wrap_read(&mut tee), &self.name, want, on_layer);
                let flushed = tee.copy.flush().map_err(|source| ImageError::Write { path: copy.clone(), source });
                r.and_then(|m| flushed.map(|_| m))
            }
            None => walk(bar.wrap_read(reader), &self.name, want, on_layer),
        };
        bar.finish_and_clear();
        if r.is_ok() && self.local_copy.is_some() {
            self.copied.store(true, Ordering::Release);
        }
        r
    }
}
