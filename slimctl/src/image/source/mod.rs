//! Where images come from: the engine (streamed as `docker save` gives it, or read in place in
//! its storage on this host), a registry, a docker-archive file, an OCI layout. Each is an
//! [`ImageSource`]: a config and layer blobs, whatever the transport.

pub mod archive;
pub mod docker_archive;
pub mod engine;
pub mod oci_dir;
pub mod registry;
pub mod storage;

use crate::error::ImageError;
use archive::{LayerVisitor, Manifest};
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
    /// The image as the engine keeps it unpacked on this host, when it can be read there
    /// ([`storage`]): then it is indexed in place, and streamed with [`ImageSource::read_layers`]
    /// only if that fails.
    fn in_storage(&self) -> Option<&storage::Located> {
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

    /// Whether the image is in the engine (what running it needs).
    pub fn in_engine(&self) -> bool {
        matches!(self, ImageRef::Engine(_))
    }
}
