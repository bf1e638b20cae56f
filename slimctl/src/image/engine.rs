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
    /// The config as the engine describes it: all a run needs, known before the image is read.
    pub run_config: super::ImageConfig,
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
        let id = info.id.clone().ok_or_else(|| ImageError::EngineAnswer {
            action: format!("inspecting image {reference}"),
            detail: "the engine returned no image id".into(),
        })?;
        let run_config = run_config(&info, &id, reference)?;
        Ok(EngineImage {
            run_config,
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

/// The image's config rebuilt from the engine's inspect answer, which carries the stored
/// config's `config` object field for field (Docker's names), its platform and its layers.
fn run_config(
    info: &bollard::models::ImageInspect,
    id: &str,
    reference: &str,
) -> Result<super::ImageConfig, ImageError> {
    let what = format!("image {reference}");
    let answer = |detail: String| ImageError::EngineAnswer { action: format!("inspecting {what}"), detail };
    let digest: crate::digest::Digest = id.parse().map_err(|e| answer(format!("image id {id:?}: {e}")))?;
    let mut raw = serde_json::json!({
        "architecture": info.architecture.clone().unwrap_or_else(|| "amd64".into()),
        "os": info.os.clone().unwrap_or_else(|| "linux".into()),
        "config": serde_json::to_value(&info.config).map_err(|e| answer(e.to_string()))?,
        "rootfs": {"type": "layers", "diff_ids": info.root_fs.as_ref().and_then(|r| r.layers.clone()).unwrap_or_default()},
    });
    if let Some(v) = info.variant.as_ref().filter(|v| !v.is_empty()) {
        raw["variant"] = v.clone().into();
    }
    super::ImageConfig::from_value(raw, digest, &what)
}

impl EngineImage {
    /// Keep a copy of the first read in `dir` for the passes after it (build reads twice).
    pub fn with_local_copy(mut self, dir: &Path) -> EngineImage {
        self.local_copy = Some(dir.join("image.tar"));
        self
    }
}

/// Copies everything read through it into a file, on a thread of its own: the copy costs as
/// much CPU as the index, and the reader should not wait for it.
struct Tee<R> {
    inner: R,
    pending: Vec<u8>,
    to_writer: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    writer: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

/// What the reader hands the copying thread at a time.
const TEE_CHUNK: usize = 1 << 20;

impl<R: Read> Tee<R> {
    fn new(inner: R, file: std::fs::File) -> Tee<R> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(8);
        let writer = std::thread::spawn(move || {
            let mut file = file;
            for chunk in rx {
                file.write_all(&chunk)?;
            }
            Ok(())
        });
        Tee { inner, pending: Vec::with_capacity(TEE_CHUNK), to_writer: Some(tx), writer: Some(writer) }
    }

    fn hand_over(&mut self) -> std::io::Result<()> {
        let chunk = std::mem::replace(&mut self.pending, Vec::with_capacity(TEE_CHUNK));
        let gone = || std::io::Error::other("the thread copying the image stopped");
        self.to_writer.as_ref().ok_or_else(gone)?.send(chunk).map_err(|_| gone())
    }

    /// Hands over the rest and waits for the copy to be complete.
    fn finish(mut self) -> std::io::Result<()> {
        self.hand_over()?;
        drop(self.to_writer.take());
        let writer = self.writer.take().expect("joined once");
        writer.join().map_err(|_| std::io::Error::other("the thread copying the image panicked"))?
    }
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pending.extend_from_slice(&buf[..n]);
        if self.pending.len() >= TEE_CHUNK {
            self.hand_over()?;
        }
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

    fn stored_file(&self) -> Option<PathBuf> {
        self.local_copy.clone().filter(|_| self.copied.load(Ordering::Acquire))
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
                let mut tee = Tee::new(reader, file);
                let r = walk(bar.wrap_read(&mut tee), &self.name, want, on_layer);
                let flushed = tee.finish().map_err(|source| ImageError::Write { path: copy.clone(), source });
                r.and_then(|m| flushed.map(|_| m))
            }
            // Nothing keeps the stream: its offsets point nowhere.
            None => walk(bar.wrap_read(reader), &self.name, want, &mut |key, layer, _| on_layer(key, layer, None)),
        };
        bar.finish_and_clear();
        if r.is_ok() && self.local_copy.is_some() {
            self.copied.store(true, Ordering::Release);
        }
        r
    }
}
