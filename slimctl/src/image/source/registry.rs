//! Images in a registry, named as skopeo names them: `docker://HOST[:PORT]/REPO[:TAG|@DIGEST]`.
//! Read over the OCI distribution API (oci-client): the manifest or index (this host's platform,
//! or `--platform`), the config, then each layer blob streamed straight into the index as it
//! arrives. A copy of each blob goes to the run's work dir while it streams, so the writer's
//! second pass (layers are compressed: contents cannot be read again at an offset) reads the disk,
//! not the network. Pushing (`--output docker://…`) lives in `write/push.rs` and uses the same
//! client set-up.

use super::archive::{blob_key, open_blob, LayerVisitor, Manifest};
use super::ImageSource;
use crate::error::ImageError;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use tokio::runtime::Handle;

/// Manifest media types slimctl reads (Docker's and OCI's, single images and indexes).
pub const MANIFEST_TYPES: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

/// Command-line settings for every registry this process talks to.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// `--creds USER:PASS`: wins over ~/.docker/config.json.
    pub creds: Option<(String, String)>,
    /// `--insecure-registry HOST[:PORT]`: plain HTTP (localhost and 127.0.0.1 always are).
    pub insecure: Vec<String>,
    /// `--platform os/arch[/variant]` for an index; default: this host's.
    pub platform: Option<Platform>,
}

static OPTIONS: OnceLock<RegistryOptions> = OnceLock::new();

/// Sets the registry options, once, before any registry is contacted.
pub fn configure(options: RegistryOptions) {
    let _ = OPTIONS.set(options);
}

fn options() -> RegistryOptions {
    OPTIONS.get().cloned().unwrap_or_default()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

impl std::str::FromStr for Platform {
    type Err = String;
    fn from_str(s: &str) -> Result<Platform, String> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts[..] {
            [os, arch] if !os.is_empty() && !arch.is_empty() => {
                Ok(Platform { os: os.into(), arch: arch.into(), variant: None })
            }
            [os, arch, variant] if !os.is_empty() && !arch.is_empty() && !variant.is_empty() => {
                Ok(Platform { os: os.into(), arch: arch.into(), variant: Some(variant.into()) })
            }
            _ => Err(format!("{s:?}: expected os/arch or os/arch/variant, e.g. linux/amd64 or linux/arm64/v8")),
        }
    }
}

impl Platform {
    /// This host's, in the OCI spelling.
    pub fn host() -> Platform {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        Platform { os: "linux".into(), arch: arch.into(), variant: None }
    }
}

/// A registry image reference, parsed from `docker://…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryRef {
    pub reference: Reference,
}

impl RegistryRef {
    /// `docker://HOST[:PORT]/REPO[:TAG|@DIGEST]` (the `docker://` already stripped or not).
    pub fn parse(s: &str) -> Result<RegistryRef, String> {
        let rest = s.strip_prefix("docker://").unwrap_or(s);
        let reference: Reference = rest.parse().map_err(|e| {
            format!("{s:?} is not a registry image reference (docker://HOST[:PORT]/REPO[:TAG|@DIGEST]): {e}")
        })?;
        Ok(RegistryRef { reference })
    }

    pub fn registry(&self) -> &str {
        self.reference.resolve_registry()
    }
}

impl std::fmt::Display for RegistryRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "docker://{}", self.reference.whole())
    }
}

/// Whether `registry` (HOST[:PORT]) is spoken to in plain HTTP.
fn plain_http(registry: &str, insecure: &[String]) -> bool {
    let host = host_of(registry);
    matches!(host, "localhost" | "127.0.0.1" | "[::1]")
        || insecure.iter().any(|i| i == registry || (!i.contains(':') && i == host))
}

fn host_of(registry: &str) -> &str {
    if registry.starts_with('[') {
        return registry.split_inclusive(']').next().unwrap_or(registry);
    }
    registry.rsplit_once(':').map_or(registry, |(h, _)| h)
}

/// A client for the registry of `r`, with its credentials stored.
pub struct Session {
    pub client: Client,
    pub reference: Reference,
    auth: RegistryAuth,
}

impl Session {
    pub async fn open(r: &RegistryRef) -> Result<Session, ImageError> {
        install_crypto();
        let opts = options();
        let registry = r.registry().to_owned();
        let protocol = if plain_http(&registry, &opts.insecure) {
            oci_client::client::ClientProtocol::HttpsExcept(vec![registry.clone()])
        } else {
            oci_client::client::ClientProtocol::Https
        };
        let config = oci_client::client::ClientConfig {
            protocol,
            connect_timeout: Some(std::time::Duration::from_secs(15)),
            read_timeout: Some(std::time::Duration::from_secs(120)),
            ..Default::default()
        };
        let client = Client::new(config);
        let auth = credentials(&registry, &opts);
        client.store_auth_if_needed(&registry, &auth).await;
        Ok(Session { client, reference: r.reference.clone(), auth })
    }

    pub fn error(&self, action: &str, e: oci_client::errors::OciDistributionError) -> ImageError {
        let shown = RegistryRef { reference: self.reference.clone() }.to_string();
        registry_error(&shown, action, &self.auth, e)
    }

    pub fn at_digest(&self, digest: &str) -> Reference {
        self.reference.clone_with_digest(digest.to_owned())
    }
}

/// rustls needs one process-wide crypto provider; ring is the one built here.
fn install_crypto() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// `--creds`, else the Docker client's config (`auths`, credential helpers), else anonymous.
fn credentials(registry: &str, opts: &RegistryOptions) -> RegistryAuth {
    if let Some((user, pass)) = &opts.creds {
        return RegistryAuth::Basic(user.clone(), pass.clone());
    }
    // Docker Hub's credentials are stored under its legacy index URL.
    let key =
        if registry == "docker.io" || registry == "index.docker.io" { "https://index.docker.io/v1/" } else { registry };
    match docker_credential::get_credential(key) {
        Ok(docker_credential::DockerCredential::UsernamePassword(u, p)) => RegistryAuth::Basic(u, p),
        Ok(docker_credential::DockerCredential::IdentityToken(t)) => RegistryAuth::Bearer(t),
        Err(_) => RegistryAuth::Anonymous,
    }
}

/// Whether a registry's message refuses for want of credentials. A status is matched as one
/// (`code: 401`, `401 Unauthorized`), never as digits anywhere: `127.0.0.1:40401` is a port.
fn says_denied(detail: &str) -> bool {
    ["code: 401", "401 Unauthorized", "UNAUTHORIZED", "DENIED"].iter().any(|s| detail.contains(s))
}

fn registry_error(
    image: &str,
    action: &str,
    auth: &RegistryAuth,
    e: oci_client::errors::OciDistributionError,
) -> ImageError {
    use oci_client::errors::OciDistributionError as E;
    let detail = crate::error::root_cause(&e);
    let denied =
        matches!(&e, E::AuthenticationFailure(_) | E::UnauthorizedError { .. } | E::ServerError { code: 401, .. })
            || says_denied(&detail);
    let hint = if denied {
        match auth {
            RegistryAuth::Anonymous => {
                "; the registry wants credentials: give --creds USER:PASS or log in (`docker login`, ~/.docker/config.json)"
            }
            _ => "; the registry refused the credentials given (--creds or ~/.docker/config.json)",
        }
    } else if ["manifest unknown", "manifest_unknown", "name unknown", "name_unknown", "404"]
        .iter()
        .any(|s| detail.to_lowercase().contains(s))
    {
        "; check the repository and tag (no such image there)"
    } else {
        ""
    };
    ImageError::Registry {
        image: image.to_owned(),
        action: action.to_owned(),
        detail: format!("{detail}{hint}"),
        input: !hint.is_empty(),
    }
}

/// A registry image: its manifest and config were fetched at open; layers stream on read.
pub struct RegistryImage {
    session: Session,
    handle: Handle,
    name: String,
    manifest: Manifest,
    /// Layer keys to their descriptors' digests and sizes.
    layers: Vec<(String, String, u64)>,
    /// Blobs already read are kept here (the run's work dir) for later passes.
    local_copy: Option<PathBuf>,
}

impl RegistryImage {
    pub async fn open(r: &RegistryRef) -> Result<RegistryImage, ImageError> {
        let session = Session::open(r).await?;
        let name = format!("image {r}");
        let (bytes, _) = session
            .client
            .pull_manifest_raw(&session.reference, &session.auth, MANIFEST_TYPES)
            .await
            .map_err(|e| session.error("fetching the manifest", e))?;
        let manifest_bytes = match pick_from_index(&bytes, &options().platform.unwrap_or_else(Platform::host), &name)? {
            Some(digest) => {
                session
                    .client
                    .pull_manifest_raw(&session.at_digest(&digest), &session.auth, MANIFEST_TYPES)
                    .await
                    .map_err(|e| session.error("fetching the platform's manifest", e))?
                    .0
            }
            None => bytes,
        };
        let manifest: oci_spec::image::ImageManifest = serde_json::from_slice(&manifest_bytes)
            .map_err(|e| ImageError::corrupt(&name, format!("its manifest does not parse: {e}")))?;
        let mut config = Vec::new();
        session
            .client
            .pull_blob(&session.reference, manifest.config().digest().as_ref(), &mut config)
            .await
            .map_err(|e| session.error("fetching the config", e))?;
        let mut layers = Vec::new();
        for l in manifest.layers() {
            let digest = l.digest().to_string();
            layers.push((blob_key(&digest, &name)?, digest, l.size()));
        }
        let manifest =
            Manifest { config, layer_keys: layers.iter().map(|(k, _, _)| k.clone()).collect(), repo_tags: Vec::new() };
        Ok(RegistryImage { session, handle: Handle::current(), name, manifest, layers, local_copy: None })
    }

    /// Keeps each blob under `dir` as it streams, for later passes.
    pub fn with_local_copy(mut self, dir: &Path) -> RegistryImage {
        self.local_copy = Some(dir.join("registry-blobs"));
        self
    }

    /// The image's config, as stored (known since open).
    pub fn config(&self) -> &[u8] {
        &self.manifest.config
    }

    fn stream_layer(&self, digest: &str) -> Result<Box<dyn Read + Send>, ImageError> {
        let sized = self
            .handle
            .block_on(self.session.client.pull_blob_stream(&self.session.reference, digest))
            .map_err(|e| self.session.error(&format!("fetching layer {digest}"), e))?;
        let stream = tokio_util::io::StreamReader::new(sized.stream);
        Ok(Box::new(tokio_util::io::SyncIoBridge::new_with_handle(stream, self.handle.clone())))
    }
}

/// The digest of the manifest for `platform` when `bytes` is an index (None: it is a manifest).
fn pick_from_index(bytes: &[u8], platform: &Platform, what: &str) -> Result<Option<String>, ImageError> {
    let v: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ImageError::corrupt(what, format!("its manifest does not parse: {e}")))?;
    let Some(list) = v.get("manifests").and_then(|m| m.as_array()) else {
        return Ok(None);
    };
    let matches = |m: &serde_json::Value| {
        let p = &m["platform"];
        p["os"] == platform.os.as_str()
            && p["architecture"] == platform.arch.as_str()
            && platform.variant.as_deref().is_none_or(|v| p["variant"] == v)
    };
    let offered: Vec<String> = list
        .iter()
        .filter_map(|m| {
            let p = &m["platform"];
            let (os, arch) = (p["os"].as_str()?, p["architecture"].as_str()?);
            Some(match p["variant"].as_str() {
                Some(v) => format!("{os}/{arch}/{v}"),
                None => format!("{os}/{arch}"),
            })
        })
        .collect();
    let chosen = list.iter().find(|m| matches(m)).ok_or_else(|| ImageError::Unsupported {
        what: what.to_owned(),
        detail: format!(
            "no manifest for {}/{}{} (the index offers {}); choose one with --platform",
            platform.os,
            platform.arch,
            platform.variant.as_deref().map(|v| format!("/{v}")).unwrap_or_default(),
            if offered.is_empty() { "none".to_owned() } else { offered.join(", ") }
        ),
    })?;
    chosen["digest"]
        .as_str()
        .map(|d| Some(d.to_owned()))
        .ok_or_else(|| ImageError::corrupt(what, "an index entry without a digest"))
}

/// Copies what is read through it into a file; the file is renamed into place only once the
/// whole blob went through (a blob cut short is never taken for a complete copy).
struct TeeToFile<R> {
    inner: R,
    file: std::fs::File,
    partial: PathBuf,
    done: PathBuf,
    finished: bool,
}

impl<R: Read> Read for TeeToFile<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 {
            if !self.finished {
                self.finished = true;
                self.file.flush()?;
                std::fs::rename(&self.partial, &self.done)?;
            }
        } else {
            self.file.write_all(&buf[..n])?;
        }
        Ok(n)
    }
}

impl ImageSource for RegistryImage {
    fn name(&self) -> &str {
        &self.name
    }

    fn size_hint(&self) -> Option<u64> {
        Some(self.layers.iter().map(|(_, _, s)| *s).sum())
    }

    fn read_layers(
        &self,
        want: &dyn Fn(&str) -> bool,
        on_layer: &mut LayerVisitor<'_>,
    ) -> Result<Manifest, ImageError> {
        let mut done = std::collections::HashSet::new();
        for (key, digest, _) in &self.layers {
            if !want(key) || !done.insert(key.clone()) {
                continue;
            }
            let copy = self.local_copy.as_ref().map(|dir| dir.join(key));
            let raw: Box<dyn Read + Send> = match &copy {
                Some(path) if path.is_file() => Box::new(
                    std::fs::File::open(path).map_err(|source| ImageError::Read { path: path.clone(), source })?,
                ),
                Some(path) => {
                    let partial = path.with_extension("partial");
                    let parent = path.parent().expect("blobs/ALG/HEX");
                    std::fs::create_dir_all(parent)
                        .map_err(|source| ImageError::Write { path: parent.to_owned(), source })?;
                    let file = std::fs::File::create(&partial)
                        .map_err(|source| ImageError::Write { path: partial.clone(), source })?;
                    Box::new(TeeToFile {
                        inner: self.stream_layer(digest)?,
                        file,
                        partial,
                        done: path.clone(),
                        finished: false,
                    })
                }
                None => self.stream_layer(digest)?,
            };
            let what = format!("{}: layer {digest}", self.name);
            let mut layer = open_blob(raw, &what, |e| ImageError::corrupt(&what, e.to_string()))?;
            on_layer(key, &mut layer, None)?;
            // The tar's end blocks may leave the compressed stream's tail unread: drain it so the
            // digest is checked and the copy completes.
            std::io::copy(&mut layer, &mut std::io::sink()).map_err(|e| ImageError::corrupt(&what, e.to_string()))?;
        }
        Ok(self.manifest.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CI run's registry listened on port 40401: a missing manifest there was taken for a 401.
    #[test]
    fn a_port_with_401_in_it_is_no_refusal() {
        let missing = "Registry error: url http://127.0.0.1:40401/v2/no/such/manifests/1, envelope: \
                       OCI API errors: [OCI API error: manifest unknown]";
        assert!(!says_denied(missing));
        assert!(says_denied("Server error: url http://127.0.0.1:5000/v2/, code: 401, message: "));
        assert!(says_denied("OCI API errors: [OCI API error: UNAUTHORIZED: authentication required]"));
    }

    #[test]
    fn references_parse_like_skopeo() {
        let r = RegistryRef::parse("docker://127.0.0.1:5000/team/app:1.2").unwrap();
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.reference.repository(), "team/app");
        assert_eq!(r.reference.tag(), Some("1.2"));
        let d = RegistryRef::parse(
            "docker://localhost:5000/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        )
        .unwrap();
        assert!(d.reference.digest().is_some());
        assert!(RegistryRef::parse("docker://UPPER/Case").is_err());
    }

    #[test]
    fn plain_http_only_for_loopback_and_named_hosts() {
        assert!(plain_http("127.0.0.1:5000", &[]));
        assert!(plain_http("localhost:5000", &[]));
        assert!(!plain_http("registry.example.com", &[]));
        assert!(plain_http("registry.lan:5000", &["registry.lan".into()]));
        assert!(plain_http("registry.lan:5000", &["registry.lan:5000".into()]));
        assert!(!plain_http("registry.lan:5001", &["registry.lan:5000".into()]));
    }

    #[test]
    fn platforms_parse_and_indexes_pick_them() {
        assert_eq!("linux/arm64/v8".parse::<Platform>().unwrap().variant.as_deref(), Some("v8"));
        assert!("linux".parse::<Platform>().is_err());
        let index = br#"{"schemaVersion":2,"manifests":[
            {"digest":"sha256:aa","platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
            {"digest":"sha256:bb","platform":{"os":"linux","architecture":"amd64"}}]}"#;
        let amd64 = Platform { os: "linux".into(), arch: "amd64".into(), variant: None };
        assert_eq!(pick_from_index(index, &amd64, "t").unwrap().as_deref(), Some("sha256:bb"));
        let arm = "linux/arm64".parse().unwrap();
        assert_eq!(pick_from_index(index, &arm, "t").unwrap().as_deref(), Some("sha256:aa"));
        let err = pick_from_index(index, &"linux/s390x".parse().unwrap(), "t").unwrap_err().to_string();
        assert!(err.contains("linux/arm64/v8, linux/amd64") && err.contains("--platform"), "{err}");
        assert_eq!(pick_from_index(br#"{"schemaVersion":2,"layers":[]}"#, &amd64, "t").unwrap(), None);
    }
}
