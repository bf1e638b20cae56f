//! Walks an image archive as one stream: `docker save` output (docker-archive, with `manifest.json`)
//! or an OCI image layout packed in a tar (`index.json` + `blobs/`). Layer blobs are handed to the
//! caller as readers while the stream passes; nothing is unpacked to disk.
//!
//! The archive's member order is not the layer order (docker save sorts layer directories by id and
//! writes `manifest.json` last), so the caller indexes each layer under its key and learns the order
//! from the returned [`Manifest`].

use crate::error::ImageError;
use flate2::read::MultiGzDecoder;
use std::collections::HashMap;
use std::io::Read;

/// Small JSON members (manifests, configs) are kept in memory; anything larger is not metadata.
const SMALL_LIMIT: u64 = 16 << 20;
const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// What an image archive says about its single image.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The config JSON, as stored (its sha256 is the image id).
    pub config: Vec<u8>,
    /// Layer keys bottom to top (member names for docker-archive, `blobs/sha256/HEX` for OCI).
    pub layer_keys: Vec<String>,
    pub repo_tags: Vec<String>,
}

/// Called with a layer's key, a reader of its uncompressed tar, and where that tar starts in the
/// source's stored file ([`super::ImageSource::stored_file`]) when it is stored uncompressed:
/// then any file's content can be read again there, at random.
pub type LayerVisitor<'a> = dyn FnMut(&str, &mut dyn Read, Option<u64>) -> Result<(), ImageError> + 'a;

fn is_layer_head(name: &str, head: &[u8]) -> bool {
    if name.ends_with("layer.tar") || head.starts_with(GZIP_MAGIC) || head.starts_with(ZSTD_MAGIC) {
        return true;
    }
    // A tar member: "ustar" magic, or the all-zero end blocks of an empty layer.
    head.len() >= 512 && (&head[257..262] == b"ustar" || head.iter().all(|b| *b == 0))
}

/// Wraps a layer blob in the decompressor its magic bytes call for.
pub fn decompress<'a>(head: &[u8], r: Box<dyn Read + 'a>, what: &str) -> Result<Box<dyn Read + 'a>, ImageError> {
    if head.starts_with(GZIP_MAGIC) {
        Ok(Box::new(MultiGzDecoder::new(r)))
    } else if head.starts_with(ZSTD_MAGIC) {
        Err(ImageError::Unsupported {
            what: what.to_owned(),
            detail: "zstd-compressed layers are not supported yet; re-save the image with gzip or uncompressed layers"
                .into(),
        })
    } else {
        Ok(r)
    }
}

/// A layer blob's uncompressed tar: its first bytes are sniffed for the compression, then put
/// back in front of the rest. `read_err` names a failure to read those first bytes.
pub fn open_blob<'a>(
    mut raw: Box<dyn Read + 'a>,
    what: &str,
    read_err: impl FnOnce(std::io::Error) -> ImageError,
) -> Result<Box<dyn Read + 'a>, ImageError> {
    let mut head = [0u8; 4];
    let n = read_head(&mut raw, &mut head).map_err(read_err)?;
    let reader: Box<dyn Read + 'a> = Box::new(std::io::Cursor::new(head[..n].to_vec()).chain(raw));
    decompress(&head[..n], reader, what)
}

/// Reads up to `buf.len()` bytes, fewer only at end of stream.
pub fn read_head<R: Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Streams the archive, calling `on_layer(key, reader)` for each layer blob `want(key)` accepts.
pub fn walk<R: Read>(
    reader: R,
    what: &str,
    want: &dyn Fn(&str) -> bool,
    on_layer: &mut LayerVisitor<'_>,
) -> Result<Manifest, ImageError> {
    let corrupt = |detail: String| ImageError::corrupt(what, detail);
    let mut archive = tar::Archive::new(reader);
    let mut small: HashMap<String, Vec<u8>> = HashMap::new();
    let mut aliases: HashMap<String, String> = HashMap::new();
    let mut any = false;

    let entries = archive.entries().map_err(|e| corrupt(format!("not a tar archive: {e}")))?;
    for item in entries {
        let mut member = item.map_err(|e| corrupt(format!("damaged or truncated tar: {e}")))?;
        any = true;
        let name = member.path().map_err(|e| corrupt(e.to_string()))?;
        let Some(name) = crate::image::index::entry::normalize_member(&name.to_string_lossy()) else {
            return Err(corrupt("a member name climbs out of the archive".into()));
        };
        let name = name.trim_start_matches('/').to_owned();
        match member.header().entry_type() {
            tar::EntryType::Symlink | tar::EntryType::Link => {
                // docker save links a repeated layer to the first copy.
                if let Some(target) = member.link_name().ok().flatten() {
                    let dir = crate::image::index::entry::parent(&format!("/{name}")).to_owned();
                    let joined = format!("{dir}/{}", target.to_string_lossy());
                    if let Some(t) = crate::image::index::entry::normalize_member(&joined) {
                        aliases.insert(name, t.trim_start_matches('/').to_owned());
                    }
                }
                continue;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {}
            _ => continue,
        }
        let size = member.size();
        let mut head = [0u8; 512];
        let n = read_head(&mut member, &mut head).map_err(|e| corrupt(format!("{name}: {e}")))?;
        let head = &head[..n];

        if head.first() == Some(&b'{') || name.ends_with(".json") || name == "repositories" {
            if size <= SMALL_LIMIT {
                let mut buf = head.to_vec();
                member.read_to_end(&mut buf).map_err(|e| corrupt(format!("{name}: {e}")))?;
                small.insert(name, buf);
            }
            continue;
        }
        if is_layer_head(&name, head) && want(&name) {
            let stored_at = (!head.starts_with(GZIP_MAGIC)).then(|| member.raw_file_position());
            let chained: Box<dyn Read + '_> = Box::new(head.chain(&mut member));
            let mut layer = decompress(head, chained, &format!("{what}: layer {name}"))?;
            on_layer(&name, &mut layer, stored_at)?;
            // Drain what the visitor left (tar end padding) so the next member starts cleanly.
            std::io::copy(&mut layer, &mut std::io::sink()).map_err(|e| corrupt(format!("{name}: {e}")))?;
        }
    }
    if !any {
        return Err(corrupt("the archive is empty".into()));
    }
    manifest_from_members(&small, &aliases, what)
}

fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8], member: &str, what: &str) -> Result<T, ImageError> {
    serde_json::from_slice(bytes).map_err(|e| ImageError::corrupt(what, format!("{member}: {e}")))
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestItem {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// Reads the image's manifest from the small members the walk kept.
pub fn manifest_from_members(
    small: &HashMap<String, Vec<u8>>,
    aliases: &HashMap<String, String>,
    what: &str,
) -> Result<Manifest, ImageError> {
    let get = |member: &str| -> Result<&Vec<u8>, ImageError> {
        small.get(member).ok_or_else(|| {
            ImageError::corrupt(what, format!("{member} is missing (the archive is truncated or incomplete)"))
        })
    };
    let canonical = |k: &str| -> String {
        let mut k = k.trim_start_matches("./").to_owned();
        for _ in 0..8 {
            match aliases.get(&k) {
                Some(t) => k = t.clone(),
                None => break,
            }
        }
        k
    };

    if let Some(bytes) = small.get("manifest.json") {
        let items: Vec<DockerManifestItem> = parse_json(bytes, "manifest.json", what)?;
        let item = items.into_iter().next().ok_or_else(|| ImageError::corrupt(what, "manifest.json lists no image"))?;
        return Ok(Manifest {
            config: get(&canonical(&item.config))?.clone(),
            layer_keys: item.layers.iter().map(|l| canonical(l)).collect(),
            repo_tags: item.repo_tags.unwrap_or_default(),
        });
    }
    if let Some(bytes) = small.get("index.json") {
        return oci_manifest(bytes, what, &|digest| {
            let key = blob_key(digest, what)?;
            get(&key).cloned()
        });
    }
    Err(ImageError::corrupt(
        what,
        "it has neither manifest.json (docker save) nor index.json (OCI layout); the archive is truncated or not an image",
    ))
}

/// `sha256:HEX` → `blobs/sha256/HEX` ([`crate::digest::blob_path`]), refusing anything that is
/// not a digest (the digest becomes a path).
pub fn blob_key(digest: &str, what: &str) -> Result<String, ImageError> {
    let d: crate::digest::Digest =
        digest.parse().map_err(|_| ImageError::corrupt(what, format!("bad digest {digest:?}")))?;
    Ok(crate::digest::blob_path(&d).to_string_lossy().into_owned())
}

/// Follows an OCI index to this host's platform's image manifest (or the only one), then to its
/// config and layers.
pub fn oci_manifest(
    index_json: &[u8],
    what: &str,
    blob: &dyn Fn(&str) -> Result<Vec<u8>, ImageError>,
) -> Result<Manifest, ImageError> {
    use oci_spec::image::{Arch, ImageIndex, ImageManifest, MediaType, Os};
    let (host_os, host_arch) = (Os::default(), Arch::default());
    let mut index: ImageIndex = parse_json(index_json, "index.json", what)?;
    let mut ref_names = Vec::new();
    // Nested indexes (docker 25+ saves index.json → image index → manifest) are followed a few levels.
    for _ in 0..4 {
        let descs = index.manifests();
        let chosen = descs
            .iter()
            .find(|d| d.platform().as_ref().is_some_and(|p| *p.os() == host_os && *p.architecture() == host_arch))
            .or_else(|| descs.first())
            .ok_or_else(|| ImageError::corrupt(what, "index.json lists no manifest"))?
            .clone();
        if let Some(name) = chosen
            .annotations()
            .as_ref()
            .and_then(|a| a.get("io.containerd.image.name").or(a.get("org.opencontainers.image.ref.name")))
        {
            ref_names.push(name.clone());
        }
        let bytes = blob(chosen.digest().as_ref())?;
        if *chosen.media_type() == MediaType::ImageIndex {
            index = parse_json(&bytes, chosen.digest().as_ref(), what)?;
            continue;
        }
        let manifest: ImageManifest = parse_json(&bytes, chosen.digest().as_ref(), what)?;
        let config = blob(manifest.config().digest().as_ref())?;
        let layer_keys =
            manifest.layers().iter().map(|l| blob_key(l.digest().as_ref(), what)).collect::<Result<_, _>>()?;
        return Ok(Manifest { config, layer_keys, repo_tags: ref_names });
    }
    Err(ImageError::corrupt(what, "index.json nests image indexes too deeply"))
}
