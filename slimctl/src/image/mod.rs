//! The image model: an image is a config plus layers; slimctl reads it into a [`FileIndex`] of its
//! merged filesystem in one streaming pass, whatever the source.

pub mod archive;
pub mod config;
pub mod docker_archive;
pub mod engine;
pub mod entry;
pub mod facts;
pub mod index;
pub mod layer;
pub mod oci_dir;
pub mod registry;

use crate::error::ImageError;
use archive::{LayerVisitor, Manifest};
pub use config::ImageConfig;
pub use entry::{Entry, Kind};
pub use index::{FileIndex, LayerChanges, WasteTracker};
use layer::LayerIndex;
use std::collections::HashMap;
use std::path::PathBuf;

/// Where an image comes from.
pub trait ImageSource: Send + Sync {
    /// For messages: "image app:1", "archive /tmp/x.tar".
    fn name(&self) -> &str;
    /// Total bytes, when known, for progress.
    fn size_hint(&self) -> Option<u64> {
        None
    }
    /// A file holding the stream [`ImageSource::read_layers`] reads, byte for byte, once a read
    /// has completed: the offsets it passes to the visitor point into it.
    fn stored_file(&self) -> Option<PathBuf> {
        None
    }
    /// Streams the layer blobs that `want(key)` accepts, in any order, then returns the manifest.
    fn read_layers(&self, want: &dyn Fn(&str) -> bool, on_layer: &mut LayerVisitor<'_>)
        -> Result<Manifest, ImageError>;
}

/// How the user names an image on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    /// `NAME[:TAG]` or an id, in the engine.
    Engine(String),
    /// `docker-archive:FILE`
    DockerArchive(PathBuf),
    /// `oci:DIR`
    OciDir(PathBuf),
    /// `docker://HOST[:PORT]/REPO[:TAG|@DIGEST]`, read from the registry.
    Registry(String),
}

impl ImageRef {
    pub fn parse(s: &str) -> ImageRef {
        if let Some(p) = s.strip_prefix("docker-archive:") {
            ImageRef::DockerArchive(p.into())
        } else if let Some(p) = s.strip_prefix("oci:") {
            ImageRef::OciDir(p.into())
        } else if s.starts_with("docker://") {
            ImageRef::Registry(s.to_owned())
        } else {
            ImageRef::Engine(s.strip_prefix("docker:").unwrap_or(s).to_owned())
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct LayerInfo {
    pub key: String,
    pub diff_id: Option<String>,
    pub created_by: Option<String>,
    /// Regular-file bytes stored in the layer.
    pub bytes: u64,
    pub entries: u64,
    pub changes: LayerChanges,
}

pub struct Image {
    pub name: String,
    pub config: ImageConfig,
    pub repo_tags: Vec<String>,
    pub layers: Vec<LayerInfo>,
    pub index: FileIndex,
    /// Present when opened with waste tracking (xray).
    pub waste: Option<WasteTracker>,
    /// Where file contents can be read again ([`Entry::stored_at`] is an offset into it).
    pub stored: Option<PathBuf>,
    /// The content readers it was opened with ([`Entry::lazy`] names them by position).
    pub readers: Vec<std::sync::Arc<dyn facts::ContentReader>>,
}

impl Image {
    /// Reads the whole image once: every layer is indexed as it streams by (file contents go
    /// past `readers`), then the layers are stacked in manifest order.
    pub fn open(source: &dyn ImageSource, track_waste: bool, readers: &facts::Readers) -> Result<Image, ImageError> {
        let what = source.name().to_owned();
        let mut scanned: HashMap<String, LayerIndex> = HashMap::new();
        let worker = (!readers.is_empty()).then(facts::FactWorker::start);
        let manifest = source.read_layers(&|_| true, &mut |key, reader, stored_at| {
            let what = format!("{what}: layer {key}");
            let li = layer::scan_layer_with(reader, 0, &what, readers, worker.as_ref().map(|w| (w, key)), stored_at)?;
            scanned.insert(key.to_owned(), li);
            Ok(())
        })?;
        let mut read: HashMap<String, Vec<(usize, facts::Facts)>> = HashMap::new();
        for done in worker.map(facts::FactWorker::finish).unwrap_or_default() {
            read.entry(done.layer).or_default().push((done.entry, done.facts));
        }
        // Large ELF files wait for the stored copy, mapped: only the pages parsed are read.
        let stored = source.stored_file();
        let map = if scanned.values().any(|li| !li.elf_later.is_empty()) {
            let path =
                stored.as_ref().ok_or_else(|| ImageError::corrupt(&what, "no stored copy to parse ELF files in"))?;
            let file = std::fs::File::open(path).map_err(|source| ImageError::Read { path: path.clone(), source })?;
            // SAFETY: the stored copy is slimctl's own file in its work dir (or the user's archive,
            // opened read-only); nothing truncates it while it is mapped.
            let map = unsafe { memmap2::Mmap::map(&file) }
                .map_err(|source| ImageError::Read { path: path.clone(), source })?;
            Some(map)
        } else {
            None
        };
        for (key, li) in scanned.iter_mut() {
            li.complete(read.remove(key).unwrap_or_default(), map.as_deref());
        }
        drop(map);
        let config = ImageConfig::parse(&manifest.config, &what)?;
        let diff_ids = config.typed.rootfs().diff_ids().clone();
        if diff_ids.len() != manifest.layer_keys.len() {
            return Err(ImageError::corrupt(
                &what,
                format!("config lists {} layers, manifest {}", diff_ids.len(), manifest.layer_keys.len()),
            ));
        }
        let history = config.layer_history();

        let mut index = FileIndex::new();
        let mut waste = track_waste.then(WasteTracker::default);
        let mut layers = Vec::with_capacity(manifest.layer_keys.len());
        for (i, key) in manifest.layer_keys.iter().enumerate() {
            // The same blob may be listed twice (identical layers); only the last use can take it.
            let last_use = !manifest.layer_keys[i + 1..].contains(key);
            let mut li = if last_use { scanned.remove(key) } else { scanned.get(key).map(LayerIndex::clone_for_reuse) }
                .ok_or_else(|| {
                    ImageError::corrupt(
                        &what,
                        format!("the manifest lists layer {key}, which the archive does not hold (truncated?)"),
                    )
                })?;
            li.set_layer(i);
            let (bytes, entries) = (li.bytes, li.entries.len() as u64);
            let changes = index.apply_layer(li, waste.as_mut());
            layers.push(LayerInfo {
                key: key.clone(),
                diff_id: diff_ids.get(i).cloned(),
                created_by: history.get(i).cloned().flatten(),
                bytes,
                entries,
                changes,
            });
        }
        let readers = readers.to_vec();
        Ok(Image { name: what, config, repo_tags: manifest.repo_tags, layers, index, waste, stored, readers })
    }

    /// Bytes the image stores over all layers.
    pub fn stored_bytes(&self) -> u64 {
        self.layers.iter().map(|l| l.bytes).sum()
    }
}
