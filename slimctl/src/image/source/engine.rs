//! Images in the running Docker engine, read with `docker save` semantics (`GET /images/{id}/get`)
//! as a stream. The API version is negotiated: the engine here speaks 1.41 at most.

use super::archive::{walk, LayerVisitor, Manifest};
use super::ImageSource;
use crate::engine::EngineError;
use crate::error::{root_cause, ImageError};
use bollard::Docker;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::runtime::Handle;

/// Whether engine images may be read in the engine's storage ([`super::storage`]); on unless
/// `--image-read stream`.
static READ_IN_STORAGE: AtomicBool = AtomicBool::new(true);

/// `false`: always stream engine images (`docker save`), even where their layers could be read
/// in place.
pub fn read_in_storage(yes: bool) {
    READ_IN_STORAGE.store(yes, Ordering::Relaxed);
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
    pub run_config: crate::image::ImageConfig,
    /// Where the engine says the top layer is unpacked (`GraphDriver.Data.UpperDir`).
    upper_dir: Option<String>,
    /// The image in the engine's storage on this host, when it can be read there.
    storage: Option<super::storage::Located>,
}

impl EngineImage {
    pub async fn inspect(docker: &Docker, reference: &str) -> Result<EngineImage, ImageError> {
        let info = match docker.inspect_image(reference).await {
            Ok(i) => i,
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {
                return Err(ImageError::NotFound { name: reference.to_owned() })
            }
            Err(e) => return Err(EngineError::failed(format!("inspecting image {reference}"), e).into()),
        };
        let id = info.id.clone().ok_or_else(|| EngineError::Answer {
            action: format!("inspecting image {reference}"),
            detail: "the engine returned no image id".into(),
        })?;
        let run_config = run_config(&info, &id, reference)?;
        let upper_dir = info.graph_driver.as_ref().and_then(|g| g.data.get("UpperDir").cloned());
        Ok(EngineImage {
            upper_dir,
            storage: None,
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
) -> Result<crate::image::ImageConfig, ImageError> {
    let what = format!("image {reference}");
    let answer =
        |detail: String| ImageError::from(EngineError::Answer { action: format!("inspecting {what}"), detail });
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
    crate::image::ImageConfig::from_value(raw, digest, &what)
}

impl EngineImage {
    /// Reads the image in the engine's storage when it is on this host and readable there
    /// ([`super::storage`]); otherwise it is streamed, as without this.
    pub async fn with_storage(mut self) -> EngineImage {
        if !READ_IN_STORAGE.load(Ordering::Relaxed) {
            return self;
        }
        // Only a local engine's paths are this host's paths.
        if !crate::engine::is_local() {
            return self;
        }
        let Ok(info) = self.docker.info().await else { return self };
        let (Some(root), Some(driver)) = (info.docker_root_dir, info.driver) else { return self };
        let (root, upper, id) = (PathBuf::from(root), self.upper_dir.clone(), self.id.clone());
        let found =
            tokio::task::spawn_blocking(move || super::storage::locate(&root, &driver, &id, upper.as_deref())).await;
        match found {
            Ok(Ok(located)) => self.storage = Some(located),
            Ok(Err(why)) => crate::progress::debug(&format!("{}: streamed, not read in place: {why}", self.name)),
            Err(_) => {}
        }
        self
    }

    /// Whether the image is read in the engine's storage.
    pub fn read_in_place(&self) -> bool {
        self.storage.is_some()
    }

    /// Keep a copy of the first read in `dir` for the passes after it (build reads twice).
    pub fn with_local_copy(mut self, dir: &Path) -> EngineImage {
        self.local_copy = Some(dir.join("image.tar"));
        self
    }
}

/// The engine's stream, drained by a task of its own into a queue of up to [`AHEAD`] bytes and
/// read from there: the engine writes the image as fast as it can serialize it, instead of
/// waiting on a socket buffer (a few hundred KiB) each time the index pauses on a file.
struct Drained {
    chunks: tokio::sync::mpsc::UnboundedReceiver<std::io::Result<bytes::Bytes>>,
    current: bytes::Bytes,
    /// The queue's room, in bytes: the reader gives back what it took.
    room: std::sync::Arc<tokio::sync::Semaphore>,
    held: u32,
}

/// Bytes queued ahead of the reader at most. 4 MiB measured as fast as 16 MiB (postgres,
/// php-apache, python-web builds) with 15-20 MiB less peak RSS.
const AHEAD: u32 = 4 << 20;

impl Drained {
    fn start(
        handle: &Handle,
        stream: impl futures_util::Stream<Item = Result<bytes::Bytes, bollard::errors::Error>> + Send + 'static,
    ) -> Drained {
        use futures_util::StreamExt;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let room = std::sync::Arc::new(tokio::sync::Semaphore::new(AHEAD as usize));
        let queue_room = room.clone();
        handle.spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(item) = stream.next().await {
                let item = item.map_err(|e| std::io::Error::other(root_cause(&e)));
                if let Ok(chunk) = &item {
                    let Ok(taken) = queue_room.acquire_many(chunk_cost(chunk)).await else { break };
                    taken.forget();
                }
                let failed = item.is_err();
                // The reader gone (an error, an interrupt): stop asking the engine.
                if tx.send(item).is_err() || failed {
                    break;
                }
            }
        });
        Drained { chunks: rx, current: bytes::Bytes::new(), room, held: 0 }
    }
}

/// What a chunk takes of the queue's room (a chunk larger than the whole room takes it all).
fn chunk_cost(chunk: &bytes::Bytes) -> u32 {
    u32::try_from(chunk.len()).unwrap_or(u32::MAX).min(AHEAD)
}

impl Read for Drained {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            self.room.add_permits(std::mem::take(&mut self.held) as usize);
            match self.chunks.blocking_recv() {
                Some(Ok(chunk)) => {
                    self.held = chunk_cost(&chunk);
                    self.current = chunk;
                }
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
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

    fn in_storage(&self) -> Option<&super::storage::Located> {
        self.storage.as_ref()
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
        let reader = Drained::start(&self.handle, self.docker.export_image(&self.id));
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
