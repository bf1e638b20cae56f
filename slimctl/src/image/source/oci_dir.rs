//! An OCI image layout directory (`oci-layout`, `index.json`, `blobs/`): blobs are files, so each
//! layer is opened directly in order.

use super::archive::{blob_key, oci_manifest, open_blob, LayerVisitor, Manifest};
use super::ImageSource;
use crate::error::ImageError;
use std::path::{Path, PathBuf};

pub struct OciDir {
    dir: PathBuf,
    name: String,
}

impl OciDir {
    pub fn open(dir: &Path) -> Result<OciDir, ImageError> {
        let name = format!("OCI layout {}", dir.display());
        if !dir.join("index.json").is_file() {
            return Err(ImageError::corrupt(&name, "no index.json: not an OCI image layout directory"));
        }
        Ok(OciDir { dir: dir.to_owned(), name })
    }

    fn blob(&self, digest: &str) -> Result<Vec<u8>, ImageError> {
        let path = self.dir.join(blob_key(digest, &self.name)?);
        std::fs::read(&path).map_err(|source| ImageError::Read { path, source })
    }
}

impl ImageSource for OciDir {
    fn name(&self) -> &str {
        &self.name
    }

    fn read_layers(
        &self,
        want: &dyn Fn(&str) -> bool,
        on_layer: &mut LayerVisitor<'_>,
    ) -> Result<Manifest, ImageError> {
        let index_path = self.dir.join("index.json");
        let index = std::fs::read(&index_path).map_err(|source| ImageError::Read { path: index_path, source })?;
        let manifest = oci_manifest(&index, &self.name, &|d| self.blob(d))?;
        let mut done = std::collections::HashSet::new();
        for key in &manifest.layer_keys {
            if !want(key) || !done.insert(key.clone()) {
                continue;
            }
            let path = self.dir.join(key);
            let file = std::fs::File::open(&path).map_err(|source| ImageError::Read { path: path.clone(), source })?;
            let mut layer = open_blob(Box::new(file), &format!("{}: {key}", self.name), |source| ImageError::Read {
                path: path.clone(),
                source,
            })?;
            // Blobs are files of their own, mostly compressed: contents are not read back at random.
            on_layer(key, &mut layer, None)?;
        }
        Ok(manifest)
    }
}
