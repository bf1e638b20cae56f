//! Where the slim image goes: loaded into the engine under a tag, an OCI image layout directory,
//! a docker-archive tarball, or a registry (`push.rs`). All hold the same config and layer bytes.

use super::manifest::SlimImage;
use crate::digest::blob_path;
use crate::error::ImageError;
use oci_spec::image::{
    DescriptorBuilder, ImageIndex, ImageIndexBuilder, MediaType, OciLayoutBuilder, Platform, SCHEMA_VERSION,
};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Load into the engine and tag.
    Engine,
    OciDir(PathBuf),
    DockerArchive(PathBuf),
    /// Pushed to a registry: `docker://HOST[:PORT]/REPO[:TAG]`.
    Registry(crate::image::source::registry::RegistryRef),
}

impl std::str::FromStr for Output {
    type Err = String;
    fn from_str(s: &str) -> Result<Output, String> {
        if s == "docker" || s == "engine" {
            Ok(Output::Engine)
        } else if let Some(p) = s.strip_prefix("oci:").filter(|p| !p.is_empty()) {
            Ok(Output::OciDir(p.into()))
        } else if let Some(p) = s.strip_prefix("docker-archive:").filter(|p| !p.is_empty()) {
            Ok(Output::DockerArchive(p.into()))
        } else if s.starts_with("docker://") {
            let r = crate::image::source::registry::RegistryRef::parse(s)?;
            if r.reference.digest().is_some() {
                return Err(format!("{s:?}: a push names a tag, not a digest (the digest is the result)"));
            }
            Ok(Output::Registry(r))
        } else {
            Err(format!("{s:?}: expected `docker`, `oci:DIR`, `docker-archive:FILE` or `docker://HOST/REPO:TAG`"))
        }
    }
}

fn append_file<W: Write>(b: &mut tar::Builder<W>, name: &str, size: u64, data: impl Read) -> std::io::Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_size(size);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, name, data)
}

/// Writes a docker-archive (the `docker save`/`docker load` format) with one image.
pub fn write_docker_archive<W: Write>(
    slim: &SlimImage,
    layer_file: &Path,
    tag: Option<&str>,
    out: W,
) -> std::io::Result<W> {
    let layer_hex = slim.layer.digest.digest();
    let config_name = format!("{}.json", slim.config_digest.digest());
    let layer_name = format!("{layer_hex}/layer.tar");
    let manifest = serde_json::json!([{
        "Config": config_name,
        "RepoTags": tag.map(|t| vec![t.to_owned()]).unwrap_or_default(),
        "Layers": [layer_name],
    }]);
    let manifest = serde_json::to_vec(&manifest).expect("json");

    let mut b = tar::Builder::new(out);
    let mut dir = tar::Header::new_ustar();
    dir.set_mode(0o755);
    dir.set_mtime(0);
    dir.set_size(0);
    dir.set_entry_type(tar::EntryType::Directory);
    b.append_data(&mut dir, format!("{layer_hex}/"), std::io::empty())?;
    append_file(&mut b, &layer_name, slim.layer.size, File::open(layer_file)?)?;
    append_file(&mut b, &config_name, slim.config.len() as u64, &slim.config[..])?;
    append_file(&mut b, "manifest.json", manifest.len() as u64, &manifest[..])?;
    b.into_inner()
}

/// Writes an OCI image layout into `dir`, which must not exist or be empty.
/// `platform` is the slim image's (its config's os, architecture and variant).
pub fn write_oci_dir(
    slim: &SlimImage,
    platform: Platform,
    layer_file: &Path,
    tag: Option<&str>,
    dir: &Path,
) -> Result<(), ImageError> {
    let werr = |path: &Path| {
        let path = path.to_owned();
        move |source| ImageError::Write { path, source }
    };
    if dir.exists() {
        let mut entries = std::fs::read_dir(dir).map_err(werr(dir))?;
        if entries.next().is_some() {
            return Err(ImageError::Write {
                path: dir.to_owned(),
                source: std::io::Error::other(
                    "the directory is not empty; slimctl does not overwrite it, choose a new one",
                ),
            });
        }
    }
    for digest in [&slim.layer.digest, &slim.config_digest, &slim.manifest_digest] {
        let blob_dir = dir.join(blob_path(digest)).parent().expect("blobs/ALG/HEX").to_owned();
        std::fs::create_dir_all(&blob_dir).map_err(werr(&blob_dir))?;
    }
    let layer_dst = dir.join(blob_path(&slim.layer.digest));
    std::fs::copy(layer_file, &layer_dst).map_err(werr(&layer_dst))?;
    for (digest, bytes) in [(&slim.config_digest, &slim.config), (&slim.manifest_digest, &slim.manifest)] {
        let p = dir.join(blob_path(digest));
        std::fs::write(&p, bytes).map_err(werr(&p))?;
    }
    let files = [
        (
            dir.join("oci-layout"),
            serde_json::to_vec(&OciLayoutBuilder::default().image_layout_version("1.0.0").build().expect("fields set"))
                .expect("json"),
        ),
        (dir.join("index.json"), serde_json::to_vec(&index(slim, platform, tag)).expect("json")),
    ];
    for (p, bytes) in files {
        std::fs::write(&p, bytes).map_err(werr(&p))?;
    }
    Ok(())
}

/// The layout's index: one manifest, for the slim image's platform, named by `tag`.
fn index(slim: &SlimImage, platform: Platform, tag: Option<&str>) -> ImageIndex {
    let mut desc = DescriptorBuilder::default()
        .media_type(MediaType::ImageManifest)
        .digest(slim.manifest_digest.clone())
        .size(slim.manifest.len() as u64)
        .platform(platform);
    if let Some(t) = tag {
        desc = desc.annotations([("org.opencontainers.image.ref.name".to_owned(), t.to_owned())]);
    }
    ImageIndexBuilder::default()
        .schema_version(SCHEMA_VERSION)
        .media_type(MediaType::ImageIndex)
        .manifests(vec![desc.build().expect("descriptor fields are set")])
        .build()
        .expect("index fields are set")
}

/// Loads the image into the engine and returns the id the engine gives it. The docker-archive
/// streams straight into the request as it is written: nothing is staged on disk.
pub async fn load_into_engine(
    docker: &bollard::Docker,
    slim: &SlimImage,
    layer_file: &Path,
    tag: &str,
) -> Result<String, ImageError> {
    use futures_util::StreamExt;
    let (writer, reader) = tokio::io::duplex(1 << 20);
    let sink = tokio_util::io::SyncIoBridge::new(writer);
    let (slim_copy, layer, tag_owned) = (slim.clone(), layer_file.to_owned(), tag.to_owned());
    let writing = tokio::task::spawn_blocking(move || {
        let mut sink = write_docker_archive(&slim_copy, &layer, Some(&tag_owned), sink)?;
        sink.flush()?;
        sink.shutdown()
    });
    let body = tokio_util::io::ReaderStream::with_capacity(reader, 1 << 20);
    let options = bollard::query_parameters::ImportImageOptionsBuilder::default().quiet(true).build();
    let mut progress = docker.import_image_stream(options, body, None);
    let mut loaded: Result<(), ImageError> = Ok(());
    while let Some(msg) = progress.next().await {
        if let Err(e) = msg {
            loaded = Err(crate::engine::EngineError::failed(format!("loading the slim image as {tag}"), e).into());
            break;
        }
    }
    drop(progress);
    let written = writing.await.map_err(std::io::Error::other).and_then(|r| r);
    // The engine's refusal explains a broken pipe on our side, not the other way round.
    loaded?;
    written.map_err(|source| ImageError::Write { path: layer_file.to_owned(), source })?;
    let info = docker.inspect_image(tag).await.map_err(|e| {
        ImageError::from(crate::engine::EngineError::failed(format!("inspecting the loaded image {tag}"), e))
    })?;
    Ok(info.id.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::ImageConfig;
    use crate::write::manifest;

    #[test]
    fn an_oci_layout_names_the_images_own_platform() {
        let config = ImageConfig::parse(
            br#"{"architecture":"arm64","variant":"v8","os":"linux","config":{},
                "rootfs":{"type":"layers","diff_ids":[]}}"#,
            "t",
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let layer_file = dir.path().join("layer.tar");
        std::fs::write(&layer_file, b"layer bytes").unwrap();
        let digest = crate::digest::sha256_digest(b"layer bytes");
        let layer = super::super::LayerBlob { digest: digest.clone(), size: 11, files: 0, content_bytes: 0 };
        let slim = manifest::build(&config, layer, None, "test", &Default::default());
        let out = dir.path().join("oci");
        write_oci_dir(&slim, config.platform(), &layer_file, Some("app:1"), &out).unwrap();
        let index: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
        let m = &index["manifests"][0];
        assert_eq!(m["platform"], serde_json::json!({"architecture": "arm64", "os": "linux", "variant": "v8"}));
        assert_eq!(m["digest"], slim.manifest_digest.to_string());
        assert_eq!(m["annotations"]["org.opencontainers.image.ref.name"], "app:1");
        assert_eq!(std::fs::read(out.join("blobs/sha256").join(digest.digest())).unwrap(), b"layer bytes");
        assert!(out.join("blobs/sha256").join(slim.config_digest.digest()).is_file());
    }
}
