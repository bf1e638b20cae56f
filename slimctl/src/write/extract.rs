//! Where the layer writer reads kept files' contents from. When the image is stored uncompressed
//! in one file (the engine's stream as it was read, a docker-archive), each content is read there
//! at its offset ([`Stored`]): no second pass. Otherwise (compressed layers) a second pass over
//! the original image copies the kept contents, as the layers stream by, into one spool file
//! ([`Spool`]); layers arrive in archive order, not path order, so the writer reads them back
//! from the spool in sorted order. The spool holds only kept bytes.

use crate::error::ImageError;
use crate::image::index::entry::normalize_member;
use crate::image::{Entry, FileIndex, Image, ImageSource, Kind};
use crate::select::KeepSet;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// A source of kept files' contents for the layer writer.
pub trait Contents {
    /// A reader of the content of `path`, whose index entry is `entry` (a file or a hard link).
    fn open(&mut self, path: &str, entry: &Entry) -> std::io::Result<Box<dyn Read + '_>>;
}

/// Contents read where the image stores them.
pub struct Stored {
    file: File,
}

impl Stored {
    /// When every kept content is stored at a known offset; None sends the writer to a spool.
    pub fn for_keep(image: &Image, keep: &KeepSet) -> Option<Stored> {
        let crate::image::Store::File(path) = &image.store else { return None };
        let all_stored = keep
            .paths
            .keys()
            .filter_map(|p| image.index.get(p))
            .filter(|e| matches!(e.kind, Kind::File | Kind::Hardlink { .. }))
            .all(|e| e.stored_at.is_some());
        all_stored.then(|| File::open(path).ok().map(|file| Stored { file })).flatten()
    }
}

impl Contents for Stored {
    fn open(&mut self, path: &str, entry: &Entry) -> std::io::Result<Box<dyn Read + '_>> {
        let at = entry.stored_at.ok_or_else(|| std::io::Error::other(format!("{path}: not stored at an offset")))?;
        self.file.seek(SeekFrom::Start(at))?;
        Ok(Box::new(std::io::BufReader::with_capacity(256 << 10, (&mut self.file).take(entry.size))))
    }
}

/// Contents read in the engine's storage, each file in its layer's directory.
pub struct InStorage {
    dirs: std::sync::Arc<crate::image::source::storage::LayerDirs>,
}

impl InStorage {
    pub fn of(image: &Image) -> Option<InStorage> {
        match &image.store {
            crate::image::Store::Dirs(dirs) => Some(InStorage { dirs: dirs.clone() }),
            _ => None,
        }
    }
}

impl Contents for InStorage {
    fn open(&mut self, path: &str, entry: &Entry) -> std::io::Result<Box<dyn Read + '_>> {
        let (layer, src) =
            entry.content_source(path).ok_or_else(|| std::io::Error::other(format!("{path}: has no content")))?;
        let file = self.dirs.open_file(layer, src)?;
        let len = file.metadata()?.len();
        if len != entry.size {
            return Err(std::io::Error::other(format!(
                "{path}: {len} bytes in the engine's storage, {} when indexed; did the image change?",
                entry.size
            )));
        }
        Ok(Box::new(std::io::BufReader::with_capacity(256 << 10, file.take(entry.size))))
    }
}

impl Contents for Spool {
    fn open(&mut self, path: &str, entry: &Entry) -> std::io::Result<Box<dyn Read + '_>> {
        let (layer, src) =
            entry.content_source(path).ok_or_else(|| std::io::Error::other(format!("{path}: has no content")))?;
        let src = src.to_owned();
        Ok(Box::new(self.open_chunk(layer, &src)?))
    }
}

pub struct Spool {
    file: File,
    /// (layer, path) → (offset, length)
    chunks: HashMap<(usize, String), (u64, u64)>,
}

/// The (layer, path) pairs whose contents the slim image needs.
pub fn wanted_contents(index: &FileIndex, keep: &KeepSet) -> HashSet<(usize, String)> {
    keep.paths
        .keys()
        .filter_map(|p| index.get(p).and_then(|e| e.content_source(p)).map(|(l, s)| (l, s.to_owned())))
        .collect()
}

impl Spool {
    pub fn collect(source: &dyn ImageSource, image: &Image, keep: &KeepSet, dir: &Path) -> Result<Spool, ImageError> {
        let wanted = wanted_contents(&image.index, keep);
        let mut by_key: HashMap<&str, HashSet<usize>> = HashMap::new();
        for (layer, _) in &wanted {
            by_key.entry(image.layers[*layer].key.as_str()).or_default().insert(*layer);
        }
        let spool_path = dir.join("contents.spool");
        // A self-healing rebuild collects again into the same work dir.
        let _ = std::fs::remove_file(&spool_path);
        let werr = |source: std::io::Error| ImageError::Write { path: spool_path.clone(), source };
        let mut file = File::options().read(true).write(true).create_new(true).open(&spool_path).map_err(werr)?;
        let mut chunks = HashMap::new();
        let mut offset = 0u64;
        let what = source.name().to_owned();

        source.read_layers(&|key| by_key.contains_key(key), &mut |key, reader, _| {
            let layers = &by_key[key];
            let mut archive = tar::Archive::new(reader);
            let entries = archive.entries().map_err(|e| ImageError::corrupt(&what, e.to_string()))?;
            for item in entries {
                let mut entry = item.map_err(|e| ImageError::corrupt(&what, format!("layer {key}: {e}")))?;
                if !matches!(entry.header().entry_type(), tar::EntryType::Regular | tar::EntryType::Continuous) {
                    continue;
                }
                let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
                let Some(path) = normalize_member(&name) else { continue };
                for &layer in layers {
                    if !wanted.contains(&(layer, path.clone())) || chunks.contains_key(&(layer, path.clone())) {
                        continue;
                    }
                    // A blob used at two layer positions is read once; later positions share the bytes.
                    if let Some(&(o, l)) = layers.iter().find_map(|other| chunks.get(&(*other, path.clone()))) {
                        chunks.insert((layer, path.clone()), (o, l));
                        continue;
                    }
                    let n = std::io::copy(&mut entry, &mut file)
                        .map_err(|e| ImageError::corrupt(&what, format!("layer {key}: {path}: {e}")))?;
                    chunks.insert((layer, path.clone()), (offset, n));
                    offset += n;
                }
            }
            Ok(())
        })?;
        file.flush().map_err(werr)?;

        if let Some((layer, path)) = wanted.iter().find(|w| !chunks.contains_key(*w)) {
            return Err(ImageError::corrupt(
                &what,
                format!("{path} (layer {layer}) was indexed but not found on the second read; did the image change?"),
            ));
        }
        Ok(Spool { file, chunks })
    }

    /// A reader over the content of (layer, path).
    pub fn open_chunk(&mut self, layer: usize, path: &str) -> std::io::Result<impl Read + '_> {
        let &(offset, len) = self
            .chunks
            .get(&(layer, path.to_owned()))
            .ok_or_else(|| std::io::Error::other(format!("{path}: not collected")))?;
        self.file.seek(SeekFrom::Start(offset))?;
        Ok((&mut self.file).take(len))
    }

    #[cfg(test)]
    pub fn from_parts(file: File, chunks: HashMap<(usize, String), (u64, u64)>) -> Spool {
        Spool { file, chunks }
    }
}
