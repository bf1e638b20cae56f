//! `slimctl sbom IMAGE` and `build --sbom`: the SBOM of an image, from any source; for a slim
//! image, read back from the layer just written, its original named as ancestor.

use super::error::PipelineError;
use super::slim::Built;
use crate::error::ImageError;
use crate::image::source::archive::{LayerVisitor, Manifest};
use crate::image::{Image, ImageSource};
use crate::sbom::{describe, Sbom, Subject};

/// The SBOM of the image `reference` names (engine, docker-archive:, oci:, docker://).
pub async fn of_reference(reference: &str, source_date_epoch: Option<u64>) -> Result<Sbom, PipelineError> {
    let source = super::inspect::open(reference, None).await?.source;
    let reference = reference.to_owned();
    tokio::task::spawn_blocking(move || -> Result<Sbom, PipelineError> {
        let image = Image::open(source.as_ref(), false, &[])?;
        let subject = Subject { name: reference, id: image.config.digest.to_string(), manifest_digest: None };
        Ok(describe(source.as_ref(), &image, subject, None, crate::sbom::created_now(source_date_epoch))?)
    })
    .await
    .map_err(|source| PipelineError::Worker { what: "reading the image for its SBOM", source })?
}

/// The slim image as written to the work dir: its config and its one layer.
pub struct Written<'a> {
    pub built: &'a Built,
}

impl ImageSource for Written<'_> {
    fn name(&self) -> &str {
        "the slim image"
    }
    fn read_layers(
        &self,
        want: &dyn Fn(&str) -> bool,
        on_layer: &mut LayerVisitor<'_>,
    ) -> Result<Manifest, ImageError> {
        let key = self.built.slim.layer.digest.to_string();
        if want(&key) {
            let path = &self.built.layer_file;
            let file = std::fs::File::open(path).map_err(|source| ImageError::Read { path: path.clone(), source })?;
            on_layer(&key, &mut std::io::BufReader::with_capacity(1 << 20, file), None)?;
        }
        Ok(Manifest { config: self.built.slim.config.clone(), layer_keys: vec![key], repo_tags: Vec::new() })
    }
}

/// The SBOM of the slim image `built` holds, named `name` (its tag), its original `original`.
pub fn of_built(
    built: &Built,
    image: &Image,
    name: &str,
    original: &str,
    manifest_digest: Option<String>,
    source_date_epoch: Option<u64>,
) -> Result<Sbom, PipelineError> {
    let source = Written { built };
    let subject = Subject { name: name.to_owned(), id: built.slim.config_digest.to_string(), manifest_digest };
    let ancestor =
        Subject { name: original.to_owned(), id: built.original.config.digest.to_string(), manifest_digest: None };
    Ok(describe(&source, image, subject, Some(ancestor), crate::sbom::created_now(source_date_epoch))?)
}
