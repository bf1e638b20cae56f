//! The image model, as go-containerregistry shapes it: an image is a config plus layers.
//! [`source`] is where images come from (the engine, its storage on this host, a registry, a
//! docker-archive, an OCI layout), all behind [`ImageSource`]; [`index`] is what slimctl makes of
//! one, in one streaming pass whatever the source: a [`FileIndex`] of its merged filesystem.
//! Nothing here knows the later stages.

pub mod config;
pub mod index;
pub mod source;

use crate::error::ImageError;
pub use config::ImageConfig;
pub use index::entry::{Entry, Kind};
use index::facts;
use index::layer::LayerIndex;
pub use index::{FileIndex, LayerChanges, WasteTracker};
use source::storage;
pub use source::{ImageRef, ImageSource};
use std::collections::HashMap;
use std::path::PathBuf;

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

/// Layer `i`'s number in the index: an image has at most 65,535 layers (the engine allows 127).
fn layer_number(i: usize, what: &str) -> Result<u16, ImageError> {
    u16::try_from(i).map_err(|_| ImageError::corrupt(what, format!("{} layers: more than an image can have", i + 1)))
}

/// Maps an image's stored copy ([`Store::File`]) to read contents at their offsets.
pub(crate) fn map_stored(path: &std::path::Path) -> Result<memmap2::Mmap, ImageError> {
    let read = |source| ImageError::Read { path: path.to_owned(), source };
    let file = std::fs::File::open(path).map_err(read)?;
    // SAFETY: the stored copy is slimctl's own file in its work dir (or the user's archive,
    // opened read-only); nothing truncates it while it is mapped.
    unsafe { memmap2::Mmap::map(&file) }.map_err(read)
}

/// Where an opened image's file contents can be read again, at random.
#[derive(Debug, Clone)]
pub enum Store {
    /// Nowhere (compressed layers): a second pass over the source collects what is kept.
    None,
    /// One file holding the stream as read; [`Entry::stored_at`] are offsets into it.
    File(PathBuf),
    /// The engine's unpacked layers: a content is the file at its path in its layer's directory.
    Dirs(std::sync::Arc<storage::LayerDirs>),
}

pub struct Image {
    pub name: String,
    pub config: ImageConfig,
    pub repo_tags: Vec<String>,
    pub layers: Vec<LayerInfo>,
    pub index: FileIndex,
    /// Present when opened with waste tracking (xray).
    pub waste: Option<WasteTracker>,
    /// Where file contents can be read again.
    pub store: Store,
    /// The content readers it was opened with ([`Entry::lazy`] names them by position).
    pub readers: Vec<std::sync::Arc<dyn facts::ContentReader>>,
    /// Where deferred facts are read, made once: every select of a build (the sweep's, the
    /// write's, each healing round's) asks the same files, and reading them is most of a select.
    fact_source: std::sync::OnceLock<facts::FactSource>,
}

impl Image {
    /// Reads the whole image once: every layer is indexed as it streams by (file contents go
    /// past `readers`), then the layers are stacked in manifest order. An image in the engine's
    /// storage on this host is indexed there instead.
    pub fn open(source: &dyn ImageSource, track_waste: bool, readers: &facts::Readers) -> Result<Image, ImageError> {
        if let Some(local) = source.in_storage() {
            // What cannot be read in place (a layer changed underneath, a name the index cannot
            // hold) is read through the stream, which reports its own errors.
            match Image::open_in_storage(source.name(), local, track_waste, readers) {
                Ok(image) => return Ok(image),
                Err(e) => crate::progress::debug(&format!("{}: not read in place ({e}); streaming it", source.name())),
            }
        }
        let what = source.name().to_owned();
        let mut scanned: HashMap<String, LayerIndex> = HashMap::new();
        let worker = (!readers.is_empty()).then(facts::FactWorker::start);
        let manifest = source.read_layers(&|_| true, &mut |key, reader, stored_at| {
            let what = format!("{what}: layer {key}");
            let li =
                index::tar::scan_layer_with(reader, 0, &what, readers, worker.as_ref().map(|w| (w, key)), stored_at)?;
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
            Some(map_stored(path)?)
        } else {
            None
        };
        for (key, li) in scanned.iter_mut() {
            li.complete(read.remove(key).unwrap_or_default(), map.as_deref());
        }
        drop(map);
        let config = ImageConfig::parse(&manifest.config, &what)?;
        let layer_keys = manifest.layer_keys;
        let mut image = Image::stack(what, config, &layer_keys, track_waste, |i, key| {
            // The same blob may be listed twice (identical layers); only the last use can take it.
            let last_use = !layer_keys[i + 1..].contains(key);
            if last_use {
                scanned.remove(key)
            } else {
                scanned.get(key).cloned()
            }
        })?;
        image.repo_tags = manifest.repo_tags;
        image.store = stored.map_or(Store::None, Store::File);
        image.readers = readers.to_vec();
        Ok(image)
    }

    /// Indexes the engine's unpacked layers in place, as many at a time as there are cores.
    fn open_in_storage(
        name: &str,
        local: &storage::Located,
        track_waste: bool,
        readers: &facts::Readers,
    ) -> Result<Image, ImageError> {
        let what = name.to_owned();
        let config = ImageConfig::parse(&local.config, &what)?;
        let keys: Vec<String> = config.typed.rootfs().diff_ids().clone();
        if keys.len() != local.dirs.len() {
            return Err(ImageError::corrupt(
                &what,
                format!("config lists {} layers, the engine's storage {}", keys.len(), local.dirs.len()),
            ));
        }
        layer_number(keys.len().saturating_sub(1), &what)?;
        let bar = crate::progress::spinner(&format!("indexing {what} in the engine's storage"));
        let next = std::sync::atomic::AtomicUsize::new(0);
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).min(keys.len()).max(1);
        let scanned: Vec<Result<(usize, LayerIndex), ImageError>> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        let mut done = Vec::new();
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            if i >= keys.len() {
                                return done;
                            }
                            let layer_what = format!("{what}: layer {}", keys[i]);
                            done.push(
                                index::dir::scan_layer_dir(&local.dirs, i as u16, &layer_what, readers)
                                    .map(|li| (i, li)),
                            );
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| {
                    w.join().unwrap_or_else(|_| {
                        vec![Err(ImageError::corrupt(&what, "indexing a layer in the engine's storage panicked"))]
                    })
                })
                .collect()
        });
        bar.finish_and_clear();
        let mut by_pos: HashMap<usize, LayerIndex> = HashMap::new();
        for r in scanned {
            let (i, li) = r?;
            by_pos.insert(i, li);
        }
        let mut image = Image::stack(what, config, &keys, track_waste, |i, _| by_pos.remove(&i))?;
        image.store = Store::Dirs(local.dirs.clone());
        image.readers = readers.to_vec();
        Ok(image)
    }

    /// Stacks the indexed layers bottom to top; `take(i, key)` gives layer i's index.
    fn stack(
        what: String,
        config: ImageConfig,
        layer_keys: &[String],
        track_waste: bool,
        mut take: impl FnMut(usize, &String) -> Option<LayerIndex>,
    ) -> Result<Image, ImageError> {
        let diff_ids = config.typed.rootfs().diff_ids().clone();
        if diff_ids.len() != layer_keys.len() {
            return Err(ImageError::corrupt(
                &what,
                format!("config lists {} layers, manifest {}", diff_ids.len(), layer_keys.len()),
            ));
        }
        let history = config.layer_history();

        let mut index = FileIndex::new();
        let mut waste = track_waste.then(WasteTracker::default);
        let mut layers = Vec::with_capacity(layer_keys.len());
        for (i, key) in layer_keys.iter().enumerate() {
            let mut li = take(i, key).ok_or_else(|| {
                ImageError::corrupt(
                    &what,
                    format!("the manifest lists layer {key}, which the archive does not hold (truncated?)"),
                )
            })?;
            li.set_layer(layer_number(i, &what)?);
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
        index.compact();
        Ok(Image {
            name: what,
            config,
            repo_tags: Vec::new(),
            layers,
            index,
            waste,
            store: Store::None,
            readers: Vec::new(),
            fact_source: std::sync::OnceLock::new(),
        })
    }

    /// The image's deferred facts, read where it is stored; shared by every caller, so a fact
    /// read once (and still in the source's bounded cache) is not read again.
    pub fn facts(&self) -> Result<&facts::FactSource, ImageError> {
        if let Some(f) = self.fact_source.get() {
            return Ok(f);
        }
        let made = facts::FactSource::of(self)?;
        Ok(self.fact_source.get_or_init(|| made))
    }

    /// Whether the image has `/bin/sh` (through its symlinks): what decides how command strings
    /// run in it.
    pub fn has_shell(&self) -> bool {
        index::resolve::resolve(&self.index, "/bin/sh", "/", true).is_ok()
    }

    /// Bytes the image stores over all layers.
    pub fn stored_bytes(&self) -> u64 {
        self.layers.iter().map(|l| l.bytes).sum()
    }
}
