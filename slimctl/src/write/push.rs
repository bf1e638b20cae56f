//! Pushes the slim image to a registry (`--output docker://HOST[:PORT]/REPO[:TAG]`) over the OCI
//! distribution API: each blob is checked for first (a re-slim whose layer did not change uploads
//! nothing but the manifest), the layer streams from the work dir in 4 MiB chunks (one PATCH each), then the manifest is put.

use super::manifest::SlimImage;
use crate::error::ImageError;
use crate::image::source::registry::{RegistryRef, Session};
use std::path::Path;

/// Pushes `slim` (its layer in `layer_file`) to `dest`; returns the manifest digest the registry
/// answered with.
pub async fn push(slim: &SlimImage, layer_file: &Path, dest: &RegistryRef) -> Result<String, ImageError> {
    let session = Session::open(dest).await?;
    let reference = &session.reference;
    let layer_digest = slim.layer.digest.to_string();
    let exists = |digest: String| {
        let session = &session;
        async move { session.client.blob_exists(reference, &digest).await.map_err(|e| session.error("checking a blob", e)) }
    };
    if !exists(layer_digest.clone()).await? {
        let file = tokio::fs::File::open(layer_file)
            .await
            .map_err(|source| ImageError::Read { path: layer_file.to_owned(), source })?;
        let stream =
            futures_util::TryStreamExt::map_err(tokio_util::io::ReaderStream::with_capacity(file, 4 << 20), |e| {
                oci_client::errors::OciDistributionError::GenericError(Some(format!("reading the slim layer: {e}")))
            });
        session
            .client
            .push_blob_stream(reference, stream, &layer_digest, Some(slim.layer.size))
            .await
            .map_err(|e| session.error("uploading the layer", e))?;
    }
    let config_digest = slim.config_digest.to_string();
    if !exists(config_digest.clone()).await? {
        session
            .client
            .push_blob(reference, slim.config.clone(), &config_digest)
            .await
            .map_err(|e| session.error("uploading the config", e))?;
    }
    let content_type = http::HeaderValue::from_static("application/vnd.oci.image.manifest.v1+json");
    session
        .client
        .push_manifest_raw(reference, slim.manifest.clone(), content_type)
        .await
        .map_err(|e| session.error("putting the manifest", e))?;
    Ok(slim.manifest_digest.to_string())
}
