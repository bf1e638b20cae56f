//! A docker-archive tarball on disk (`docker save -o FILE`), or an OCI layout packed in a tar.

use super::archive::{walk, LayerVisitor, Manifest};
use super::ImageSource;
use crate::error::ImageError;
use std::path::{Path, PathBuf};

pub struct DockerArchive {
    path: PathBuf,
    name: String,
}

impl DockerArchive {
    pub fn open(path: &Path) -> Result<DockerArchive, ImageError> {
        std::fs::metadata(path).map_err(|source| ImageError::Read { path: path.to_owned(), source })?;
        Ok(DockerArchive { path: path.to_owned(), name: format!("archive {}", path.display()) })
    }
}

impl ImageSource for DockerArchive {
    fn name(&self) -> &str {
        &self.name
    }

    fn size_hint(&self) -> Option<u64> {
        std::fs::metadata(&self.path).ok().map(|m| m.len())
    }

    fn stored_file(&self) -> Option<PathBuf> {
        Some(self.path.clone())
    }

    fn read_layers(
        &self,
        want: &dyn Fn(&str) -> bool,
        on_layer: &mut LayerVisitor<'_>,
    ) -> Result<Manifest, ImageError> {
        let file =
            std::fs::File::open(&self.path).map_err(|source| ImageError::Read { path: self.path.clone(), source })?;
        let bar = crate::progress::bytes_bar(&format!("reading {}", self.name), self.size_hint());
        let r = walk(bar.wrap_read(std::io::BufReader::with_capacity(1 << 20, file)), &self.name, want, on_layer);
        bar.finish_and_clear();
        r
    }
}
