//! Software bills of materials: what an image holds, package by package and file by file, as
//! SPDX 2.3 or CycloneDX 1.5 JSON. The packages are the inventory the select stage reads
//! ([`crate::select::packages`]) plus the Java archives' coordinates; every regular file is
//! listed with its SHA-1 and SHA-256, under its package or on its own (the app's files).

pub mod content;
pub mod cyclonedx;
pub mod license;
pub mod purl;
pub mod spdx;

use crate::error::ImageError;
use crate::image::{Image, ImageSource};
use crate::select::packages::{inventory, Package};
use content::FileDigest;
use serde::Serialize;
use std::collections::BTreeMap;

/// The distribution, from `/etc/os-release`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Distro {
    pub id: String,
    pub version_id: String,
    pub name: String,
}

/// An image by name and id.
#[derive(Debug, Clone, Serialize)]
pub struct Subject {
    pub name: String,
    /// The config digest (`sha256:…`).
    pub id: String,
    /// The manifest digest in a registry, once pushed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_digest: Option<String>,
}

impl Subject {
    pub fn purl(&self) -> String {
        purl::oci(&self.name, self.manifest_digest.as_deref().unwrap_or(&self.id))
    }
}

/// One package of the image, as the SBOM lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Component {
    /// "deb", "apk", "pypi", "npm", "gem", "maven": the purl type.
    pub kind: &'static str,
    pub name: String,
    pub version: String,
    pub purl: String,
    pub licenses: Vec<String>,
    /// Its files the image holds, canonical paths.
    pub files: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Sbom {
    pub subject: Subject,
    /// The image it was made from (a slim image's original).
    pub ancestor: Option<Subject>,
    pub distro: Option<Distro>,
    pub components: Vec<Component>,
    /// Every regular file, with its digests.
    #[serde(skip)]
    pub files: BTreeMap<String, FileDigest>,
    /// RFC 3339.
    pub created: String,
    /// `slimctl-VERSION`.
    pub tool: String,
}

impl Sbom {
    /// Files no package lists: the app's own.
    pub fn unowned_files(&self) -> impl Iterator<Item = (&String, &FileDigest)> {
        let owned: std::collections::HashSet<&str> =
            self.components.iter().flat_map(|c| c.files.iter().map(String::as_str)).collect();
        self.files.iter().filter(move |(p, _)| !owned.contains(p.as_str()))
    }
}

pub const TOOL: &str = concat!("slimctl-", env!("CARGO_PKG_VERSION"));

/// `/etc/os-release` (or `/usr/lib/os-release`) of the image, through its symlinks.
pub fn distro(image: &Image) -> Option<Distro> {
    let text = ["/etc/os-release", "/usr/lib/os-release"].iter().find_map(|p| {
        let r = crate::image::index::resolve::resolve(&image.index, p, "/", true).ok()?;
        image.index.get(&r.path)?.captured().map(|b| String::from_utf8_lossy(b).into_owned())
    })?;
    let field = |k: &str| {
        text.lines().find_map(|l| {
            let v = l.strip_prefix(k)?.strip_prefix('=')?;
            Some(v.trim().trim_matches('"').to_owned())
        })
    };
    Some(Distro {
        id: field("ID")?,
        version_id: field("VERSION_ID").unwrap_or_default(),
        name: field("PRETTY_NAME").or_else(|| field("NAME")).unwrap_or_default(),
    })
}

fn component(p: &Package, distro: Option<&Distro>) -> Component {
    let kind = match p.manager {
        "dpkg" => "deb",
        "python" => "pypi",
        "node" => "npm",
        other => other,
    };
    // Python names compare normalized (PEP 503): `Flask` is `flask`, as scanners list it.
    let name = if kind == "pypi" { purl::pypi_name(&p.name) } else { p.name.clone() };
    Component {
        kind,
        name,
        version: p.version.clone(),
        purl: purl::of_package(p, distro),
        licenses: p.licenses.clone(),
        files: p.files.clone(),
    }
}

/// The SBOM of `image`, read from `source` (a second pass over its layers, for the digests).
pub fn describe(
    source: &dyn ImageSource,
    image: &Image,
    subject: Subject,
    ancestor: Option<Subject>,
    created: String,
) -> Result<Sbom, ImageError> {
    let contents = content::read(source, &image.index, content::Want::Everything)?;
    let distro = distro(image);
    let mut components: Vec<Component> =
        inventory(&image.index).iter().map(|p| component(p, distro.as_ref())).collect();
    for c in components.iter_mut().filter(|c| c.kind == "deb") {
        if let Some(names) = contents.copyright.get(&format!("/usr/share/doc/{}/copyright", c.name)) {
            c.licenses = names.clone();
        }
    }
    for m in &contents.maven {
        components.push(Component {
            kind: "maven",
            name: m.artifact.clone(),
            version: m.version.clone(),
            purl: purl::maven(&m.group, &m.artifact, &m.version),
            licenses: Vec::new(),
            files: vec![m.archive.clone()],
        });
    }
    // A package's files are the ones the image holds as regular files (its links and
    // directories are not files an SBOM lists).
    for c in &mut components {
        c.files.retain(|f| contents.digests.contains_key(f));
    }
    components.sort_by(|a, b| (a.kind, &a.name, &a.version).cmp(&(b.kind, &b.name, &b.version)));
    Ok(Sbom {
        subject,
        ancestor,
        distro,
        components,
        files: contents.digests.into_iter().collect(),
        created,
        tool: TOOL.to_owned(),
    })
}

/// The document's time: SOURCE_DATE_EPOCH when set (reproducible builds), else now.
pub fn created_now(source_date_epoch: Option<u64>) -> String {
    let secs = source_date_epoch.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
    });
    crate::write::manifest::rfc3339_from_epoch(secs)
}

/// The document formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    #[value(name = "spdx-json")]
    SpdxJson,
    #[value(name = "cyclonedx-json")]
    CyclonedxJson,
}

/// The document of `sbom` in `format`, as JSON bytes.
pub fn render(sbom: &Sbom, format: Format) -> Vec<u8> {
    let value = match format {
        Format::SpdxJson => spdx::document(sbom),
        Format::CyclonedxJson => cyclonedx::document(sbom),
    };
    let mut out = serde_json::to_vec_pretty(&value).unwrap_or_default();
    out.push(b'\n');
    out
}

/// A UUID made from `seed` (a name-based one: the same image gives the same serial number).
pub fn uuid_from(seed: &str) -> String {
    use sha2::Digest as _;
    let h = sha2::Sha256::digest(seed.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &x[..8], &x[8..12], &x[12..16], &x[16..20], &x[20..])
}
