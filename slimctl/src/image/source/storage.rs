//! An engine image read where the engine keeps it unpacked: when Docker's storage is on this
//! host and readable (root, the overlay2 or fuse-overlayfs driver), each layer is a directory
//! holding exactly what the layer's tar held. Indexing those directories costs a `stat` per file
//! and a read of the few bytes the select stage needs, instead of `docker save` serializing every
//! byte of the image through the engine (which hashes it again on the way).
//!
//! What is read is checked, never trusted by name: the config file must hash to the image id, and
//! the top layer's directory must be the one the engine itself reports for the image. Anything
//! else (another driver, a remote engine, a storage root this user cannot read) falls back to
//! the stream. podman's storage (containers/storage with the overlay driver) is read the same
//! way, its layers found through its own layer store. Files are opened with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`
//! below the layer's directory: a symlink inside the image is never followed on the host.

use sha2::{Digest as _, Sha256};
use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// Drivers whose layer directories hold a layer's files as its tar did (whiteouts as `.wh.`
/// files, or as overlayfs' 0:0 character devices and opaque xattrs).
const DRIVERS: &[&str] = &["overlay2", "fuse-overlayfs"];

/// One image's layer directories, bottom to top.
#[derive(Debug)]
pub struct LayerDirs {
    dirs: Vec<LayerDir>,
}

#[derive(Debug)]
struct LayerDir {
    path: PathBuf,
    fd: OwnedFd,
}

impl LayerDirs {
    /// Opens each directory (no symlink is followed to reach it).
    pub fn open(paths: Vec<PathBuf>) -> std::io::Result<LayerDirs> {
        use nix::fcntl::OFlag;
        let dirs = paths
            .into_iter()
            .map(|path| {
                let fd = nix::fcntl::open(
                    &path,
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    nix::sys::stat::Mode::empty(),
                )
                .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))?;
                Ok(LayerDir { path, fd })
            })
            .collect::<std::io::Result<_>>()?;
        Ok(LayerDirs { dirs })
    }

    pub fn len(&self) -> usize {
        self.dirs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dirs.is_empty()
    }

    /// The directory of layer `layer` (bottom = 0).
    pub fn path(&self, layer: usize) -> &Path {
        &self.dirs[layer].path
    }

    /// Opens `path` (absolute, normalized, as the index names it) in layer `layer` for reading.
    /// The kernel refuses any symlink on the way and any escape from the layer's directory.
    pub fn open_file(&self, layer: usize, path: &str) -> std::io::Result<File> {
        use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
        let dir = self
            .dirs
            .get(layer)
            .ok_or_else(|| std::io::Error::other(format!("{path}: no layer {layer} in the engine's storage")))?;
        let rel = path.trim_start_matches('/');
        let how = OpenHow::new()
            .flags(OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NOCTTY | OFlag::O_NONBLOCK)
            .resolve(
                ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS | ResolveFlag::RESOLVE_NO_MAGICLINKS,
            );
        let fd = nix::fcntl::openat2(&dir.fd, rel, how)
            .map_err(|e| std::io::Error::other(format!("{path} in {}: {e}", dir.path.display())))?;
        let file = File::from(fd);
        if !file.metadata()?.is_file() {
            return Err(std::io::Error::other(format!("{path} in {}: not a regular file", dir.path.display())));
        }
        Ok(file)
    }
}

/// An image found in the engine's storage.
#[derive(Debug)]
pub struct Located {
    /// The config file, as stored: its sha256 is the image id.
    pub config: Vec<u8>,
    pub dirs: std::sync::Arc<LayerDirs>,
}

/// Why an image is streamed instead (for the debug log; none of these is an error).
pub type NotHere = String;

/// Finds image `id` (`sha256:HEX`) under the engine's storage `root` for `driver`. `upper_dir`:
/// the top layer's directory as the engine reports it (`GraphDriver.Data.UpperDir`). Docker's
/// layout, or podman's (containers/storage) when the root holds `overlay-images`.
pub fn locate(root: &Path, driver: &str, id: &str, upper_dir: Option<&str>) -> Result<Located, NotHere> {
    if driver == "overlay" && root.join("overlay-images").is_dir() {
        return locate_containers_storage(root, id, upper_dir);
    }
    if !DRIVERS.contains(&driver) {
        return Err(format!("the {driver} storage driver is read through the engine's stream"));
    }
    let hex = id.strip_prefix("sha256:").filter(|h| is_hex64(h)).ok_or_else(|| format!("image id {id:?}"))?;
    let meta = root.join("image").join(driver);
    let config = read_config(&meta.join("imagedb/content/sha256").join(hex), hex)?;
    let diff_ids = diff_ids(&config)?;
    let mut paths = Vec::with_capacity(diff_ids.len());
    for chain in chain_ids(&diff_ids) {
        let cache_id_path = meta.join("layerdb/sha256").join(chain.trim_start_matches("sha256:")).join("cache-id");
        let cache_id =
            std::fs::read_to_string(&cache_id_path).map_err(|e| format!("{}: {e}", cache_id_path.display()))?;
        let cache_id = cache_id.trim();
        if !is_hex64(cache_id) {
            return Err(format!("{}: {cache_id:?} is no layer id", cache_id_path.display()));
        }
        paths.push(root.join(driver).join(cache_id).join("diff"));
    }
    located(config, paths, upper_dir)
}

/// The config, checked against the image id `hex`.
fn read_config(path: &Path, hex: &str) -> Result<Vec<u8>, NotHere> {
    let config = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if hex::encode(Sha256::digest(&config)) != hex {
        return Err(format!("{} does not hash to the image id", path.display()));
    }
    Ok(config)
}

fn located(config: Vec<u8>, paths: Vec<PathBuf>, upper_dir: Option<&str>) -> Result<Located, NotHere> {
    // The engine's own word on where the top layer lives must agree with ours.
    match (paths.last(), upper_dir) {
        (Some(top), Some(upper)) if top == Path::new(upper) => {}
        (None, None) => {}
        (top, upper) => {
            return Err(format!("the engine reports the top layer at {upper:?}, the layer store at {top:?}"))
        }
    }
    let dirs = LayerDirs::open(paths).map_err(|e| e.to_string())?;
    Ok(Located { config, dirs: std::sync::Arc::new(dirs) })
}

/// podman's storage (containers/storage, overlay driver): the config is the image's "big data"
/// named by its digest; the layers are found from the image's top layer through their parents,
/// each checked against the config's diff id at its position.
fn locate_containers_storage(root: &Path, id: &str, upper_dir: Option<&str>) -> Result<Located, NotHere> {
    use base64::Engine as _;
    #[derive(serde::Deserialize)]
    struct StoredImage {
        id: String,
        layer: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct StoredLayer {
        id: String,
        parent: Option<String>,
        #[serde(rename = "diff-digest")]
        diff_digest: Option<String>,
    }
    let hex = id.strip_prefix("sha256:").filter(|h| is_hex64(h)).ok_or_else(|| format!("image id {id:?}"))?;
    let key = base64::engine::general_purpose::STANDARD.encode(format!("sha256:{hex}"));
    let config = read_config(&root.join("overlay-images").join(hex).join(format!("={key}")), hex)?;
    let diff_ids = diff_ids(&config)?;
    let read_json = |rel: &str| -> Result<Vec<u8>, NotHere> {
        let p = root.join(rel);
        std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))
    };
    let images: Vec<StoredImage> =
        serde_json::from_slice(&read_json("overlay-images/images.json")?).map_err(|e| format!("images.json: {e}"))?;
    let layers: Vec<StoredLayer> =
        serde_json::from_slice(&read_json("overlay-layers/layers.json")?).map_err(|e| format!("layers.json: {e}"))?;
    let image = images.iter().find(|i| i.id == hex).ok_or("the image is not in images.json")?;
    let by_id: std::collections::HashMap<&str, &StoredLayer> = layers.iter().map(|l| (l.id.as_str(), l)).collect();
    let mut chain = Vec::new();
    let mut next = image.layer.as_deref();
    while let Some(layer_id) = next {
        let layer = by_id.get(layer_id).ok_or_else(|| format!("layer {layer_id} is not in layers.json"))?;
        if chain.len() >= diff_ids.len() {
            return Err(format!("more layers in the store than the config's {}", diff_ids.len()));
        }
        chain.push(*layer);
        next = layer.parent.as_deref();
    }
    chain.reverse();
    if chain.len() != diff_ids.len() {
        return Err(format!("{} layers in the store, {} in the config", chain.len(), diff_ids.len()));
    }
    let mut paths = Vec::with_capacity(chain.len());
    for (layer, diff_id) in chain.iter().zip(&diff_ids) {
        if layer.diff_digest.as_deref() != Some(diff_id.as_str()) || !is_hex64(&layer.id) {
            return Err(format!("layer {} does not hold {diff_id}", layer.id));
        }
        paths.push(root.join("overlay").join(&layer.id).join("diff"));
    }
    located(config, paths, upper_dir)
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn diff_ids(config: &[u8]) -> Result<Vec<String>, NotHere> {
    #[derive(serde::Deserialize)]
    struct RootFs {
        #[serde(default)]
        diff_ids: Vec<String>,
    }
    #[derive(serde::Deserialize)]
    struct Config {
        rootfs: RootFs,
    }
    let c: Config = serde_json::from_slice(config).map_err(|e| format!("image config: {e}"))?;
    if let Some(bad) = c.rootfs.diff_ids.iter().find(|d| !d.strip_prefix("sha256:").is_some_and(is_hex64)) {
        return Err(format!("image config: diff id {bad:?}"));
    }
    Ok(c.rootfs.diff_ids)
}

/// The layers' chain ids (OCI image spec): each names a layer together with everything below it,
/// which is how the engine's layer store keys them.
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(below) => format!("sha256:{}", hex::encode(Sha256::digest(format!("{below} {d}")))),
        };
        out.push(next);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_spec() {
        let a = format!("sha256:{}", "a".repeat(64));
        let b = format!("sha256:{}", "b".repeat(64));
        let ids = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(ids[0], a);
        let expect = format!("sha256:{}", hex::encode(Sha256::digest(format!("{a} {b}"))));
        assert_eq!(ids[1], expect);
    }

    fn fake_store(root: &Path, config: &[u8], cache_id: &str) -> String {
        let hex = hex::encode(Sha256::digest(config));
        let meta = root.join("image/overlay2");
        std::fs::create_dir_all(meta.join("imagedb/content/sha256")).unwrap();
        std::fs::write(meta.join("imagedb/content/sha256").join(&hex), config).unwrap();
        let diff = format!("sha256:{}", "c".repeat(64));
        let chain = meta.join("layerdb/sha256").join(&diff[7..]);
        std::fs::create_dir_all(&chain).unwrap();
        std::fs::write(chain.join("cache-id"), cache_id).unwrap();
        format!("sha256:{hex}")
    }

    fn config() -> Vec<u8> {
        format!(r#"{{"rootfs":{{"type":"layers","diff_ids":["sha256:{}"]}}}}"#, "c".repeat(64)).into_bytes()
    }

    #[test]
    fn finds_a_layer_and_opens_only_what_is_beneath_it() {
        let root = tempfile::tempdir().unwrap();
        let cache = "d".repeat(64);
        let id = fake_store(root.path(), &config(), &cache);
        let diff = root.path().join("overlay2").join(&cache).join("diff");
        std::fs::create_dir_all(diff.join("etc")).unwrap();
        std::fs::write(diff.join("etc/hostname"), "box\n").unwrap();
        std::fs::write(root.path().join("host-secret"), "no").unwrap();
        std::os::unix::fs::symlink("/", diff.join("hostroot")).unwrap();
        std::os::unix::fs::symlink("etc", diff.join("etc2")).unwrap();
        let upper = diff.display().to_string();

        let found = locate(root.path(), "overlay2", &id, Some(&upper)).unwrap();
        assert_eq!(found.config, config());
        let mut s = String::new();
        std::io::Read::read_to_string(&mut found.dirs.open_file(0, "/etc/hostname").unwrap(), &mut s).unwrap();
        assert_eq!(s, "box\n");
        // Symlinks inside the image are never followed on the host, not even to a path that exists.
        for p in ["/hostroot/etc/passwd", "/etc2/hostname", "/../../host-secret", "/etc"] {
            assert!(found.dirs.open_file(0, p).is_err(), "{p} opened");
        }
    }

    #[test]
    fn a_config_that_does_not_hash_to_the_id_or_another_top_layer_is_not_used() {
        let root = tempfile::tempdir().unwrap();
        let cache = "d".repeat(64);
        let id = fake_store(root.path(), &config(), &cache);
        let diff = root.path().join("overlay2").join(&cache).join("diff");
        std::fs::create_dir_all(&diff).unwrap();
        let upper = diff.display().to_string();
        let other = format!("sha256:{}", "e".repeat(64));
        assert!(locate(root.path(), "overlay2", &other, Some(&upper)).is_err());
        let err = locate(root.path(), "overlay2", &id, Some("/var/lib/docker/overlay2/x/diff")).unwrap_err();
        assert!(err.contains("top layer"), "{err}");
        assert!(locate(root.path(), "btrfs", &id, Some(&upper)).unwrap_err().contains("btrfs"));
        // A cache-id that would walk out of the store is refused.
        let id = fake_store(root.path(), &config(), "../../../etc");
        assert!(locate(root.path(), "overlay2", &id, Some(&upper)).unwrap_err().contains("no layer id"));
    }

    /// podman's layout: big-data config, layers chained by parent, each checked by its diff id.
    #[test]
    fn finds_podman_layers_through_their_parents() {
        use base64::Engine as _;
        let root = tempfile::tempdir().unwrap();
        let (d0, d1) = (format!("sha256:{}", "1".repeat(64)), format!("sha256:{}", "2".repeat(64)));
        let config = format!(r#"{{"rootfs":{{"type":"layers","diff_ids":["{d0}","{d1}"]}}}}"#).into_bytes();
        let hex = hex::encode(Sha256::digest(&config));
        let key = base64::engine::general_purpose::STANDARD.encode(format!("sha256:{hex}"));
        let images = root.path().join("overlay-images");
        std::fs::create_dir_all(images.join(&hex)).unwrap();
        std::fs::write(images.join(&hex).join(format!("={key}")), &config).unwrap();
        let (l0, l1) = ("a".repeat(64), "b".repeat(64));
        std::fs::write(images.join("images.json"), format!(r#"[{{"id":"{hex}","layer":"{l1}"}}]"#)).unwrap();
        std::fs::create_dir_all(root.path().join("overlay-layers")).unwrap();
        let layers = |second_digest: &str| {
            format!(
                r#"[{{"id":"{l0}","diff-digest":"{d0}"}},{{"id":"{l1}","parent":"{l0}","diff-digest":"{second_digest}"}}]"#
            )
        };
        std::fs::write(root.path().join("overlay-layers/layers.json"), layers(&d1)).unwrap();
        for l in [&l0, &l1] {
            std::fs::create_dir_all(root.path().join("overlay").join(l).join("diff")).unwrap();
        }
        let upper = root.path().join("overlay").join(&l1).join("diff").display().to_string();
        let id = format!("sha256:{hex}");

        let found = locate(root.path(), "overlay", &id, Some(&upper)).unwrap();
        assert_eq!(found.dirs.len(), 2);
        assert_eq!(found.dirs.path(0), root.path().join("overlay").join(&l0).join("diff"));
        // A layer that does not hold the config's diff id at its position is not used.
        std::fs::write(root.path().join("overlay-layers/layers.json"), layers(&d0)).unwrap();
        let err = locate(root.path(), "overlay", &id, Some(&upper)).unwrap_err();
        assert!(err.contains("does not hold"), "{err}");
    }
}
