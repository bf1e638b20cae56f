//! The one pass over an image's layers that an SBOM needs beyond the index: the SHA-1 and
//! SHA-256 of every regular file (SPDX requires SHA-1), and the Maven coordinates inside Java
//! archives. Layers stream by; nothing is unpacked to disk.

use crate::error::ImageError;
use crate::image::index::entry::normalize_member;
use crate::image::{FileIndex, ImageSource};
use sha1::Digest as _;
use std::collections::HashMap;
use std::io::Read;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileDigest {
    pub sha1: [u8; 20],
    pub sha256: [u8; 32],
}

impl FileDigest {
    pub fn of(bytes: &[u8]) -> FileDigest {
        FileDigest { sha1: sha1::Sha1::digest(bytes).into(), sha256: sha2::Sha256::digest(bytes).into() }
    }
    pub fn sha1_hex(&self) -> String {
        hex::encode(self.sha1)
    }
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }
}

/// A Java package found in an archive's `META-INF/maven/GROUP/ARTIFACT/pom.properties`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MavenCoordinates {
    /// The archive, as the image holds it.
    pub archive: String,
    pub group: String,
    pub artifact: String,
    pub version: String,
}

/// What the pass read, by final path in the image.
#[derive(Debug, Default)]
pub struct Contents {
    pub digests: HashMap<String, FileDigest>,
    pub maven: Vec<MavenCoordinates>,
    /// The licenses Debian's machine-readable copyright files name, by file.
    pub copyright: HashMap<String, Vec<String>>,
}

/// Java archives read whole for their coordinates, at most this large.
const ARCHIVE_MAX: u64 = 512 << 20;

/// Copyright files read whole, at most this large.
const COPYRIGHT_MAX: u64 = 4 << 20;

fn is_copyright(path: &str) -> bool {
    path.starts_with("/usr/share/doc/") && path.ends_with("/copyright")
}

fn is_java_archive(path: &str) -> bool {
    [".jar", ".war", ".ear"].iter().any(|x| path.ends_with(x))
}

/// What one layer holds, by path in that layer.
#[derive(Default)]
struct LayerContents {
    digests: HashMap<String, FileDigest>,
    maven: HashMap<String, Vec<MavenCoordinates>>,
    copyright: HashMap<String, Vec<String>>,
}

/// What a pass reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Every file's digests and the Java archives' coordinates (an SBOM).
    Everything,
    /// The Java archives' coordinates only (VEX: which Java packages the image holds).
    JavaArchives,
}

/// Reads every layer of `source` and keeps what the final filesystem (`index`) shows.
pub fn read(source: &dyn ImageSource, index: &FileIndex, want: Want) -> Result<Contents, ImageError> {
    let mut by_layer: HashMap<String, LayerContents> = HashMap::new();
    let doing = match want {
        Want::Everything => "hashing the files of",
        Want::JavaArchives => "reading the Java archives of",
    };
    let bar = crate::progress::spinner(&format!("{doing} {}", source.name()));
    let manifest = source.read_layers(&|_| true, &mut |key, reader, _| {
        let what = format!("{}: layer {key}", source.name());
        by_layer.insert(key.to_owned(), read_layer(reader, &what, want)?);
        Ok(())
    });
    bar.finish_and_clear();
    let manifest = manifest?;
    let mut out = Contents::default();
    for (path, entry) in index.iter() {
        let Some((layer, src)) = entry.content_source(path) else { continue };
        let Some(lc) = manifest.layer_keys.get(layer).and_then(|k| by_layer.get(k)) else { continue };
        if let Some(d) = lc.digests.get(src) {
            out.digests.insert(path.to_owned(), *d);
        }
        if let Some(found) = lc.maven.get(src) {
            out.maven.extend(found.iter().map(|m| MavenCoordinates { archive: path.to_owned(), ..m.clone() }));
        }
        if let Some(names) = lc.copyright.get(src) {
            out.copyright.insert(path.to_owned(), names.clone());
        }
    }
    Ok(out)
}

fn read_layer(reader: &mut dyn Read, what: &str, want: Want) -> Result<LayerContents, ImageError> {
    let corrupt = |detail: String| ImageError::corrupt(what, detail);
    let mut out = LayerContents::default();
    let mut archive = tar::Archive::new(reader);
    let entries = archive.entries().map_err(|e| corrupt(e.to_string()))?;
    let mut buf = vec![0u8; 1 << 16];
    for item in entries {
        let mut member = item.map_err(|e| corrupt(format!("reading a tar header: {e}")))?;
        if !matches!(member.header().entry_type(), tar::EntryType::Regular | tar::EntryType::Continuous) {
            continue;
        }
        let name = String::from_utf8_lossy(&member.path_bytes()).into_owned();
        let path = normalize_member(&name).ok_or_else(|| corrupt(format!("entry {name:?} climbs out of the root")))?;
        let jar = is_java_archive(&path) && member.size() <= ARCHIVE_MAX;
        if want == Want::JavaArchives && !jar {
            continue;
        }
        let keep_whole = jar || (is_copyright(&path) && member.size() <= COPYRIGHT_MAX);
        let mut whole = Vec::new();
        let (mut s1, mut s256) = (sha1::Sha1::new(), sha2::Sha256::new());
        loop {
            let n = member.read(&mut buf).map_err(|e| corrupt(format!("{path}: reading contents: {e}")))?;
            if n == 0 {
                break;
            }
            s1.update(&buf[..n]);
            s256.update(&buf[..n]);
            if keep_whole {
                whole.extend_from_slice(&buf[..n]);
            }
        }
        if jar {
            let found = maven_coordinates(&whole);
            if !found.is_empty() {
                out.maven.insert(path.clone(), found);
            }
        } else if keep_whole {
            let names = super::license::debian_copyright_licenses(&String::from_utf8_lossy(&whole));
            out.copyright.insert(path.clone(), names);
        }
        out.digests.insert(path, FileDigest { sha1: s1.finalize().into(), sha256: s256.finalize().into() });
    }
    Ok(out)
}

/// The coordinates of every `pom.properties` in a Java archive (a shaded jar holds several).
pub fn maven_coordinates(archive: &[u8]) -> Vec<MavenCoordinates> {
    let Ok(mut zip) = zip::ZipArchive::new(std::io::Cursor::new(archive)) else { return Vec::new() };
    let names: Vec<String> = zip
        .file_names()
        .filter(|n| n.starts_with("META-INF/maven/") && n.ends_with("/pom.properties"))
        .map(str::to_owned)
        .collect();
    let mut out = Vec::new();
    for name in names {
        let mut text = String::new();
        let Ok(mut f) = zip.by_name(&name) else { continue };
        if f.size() > 1 << 20 || f.read_to_string(&mut text).is_err() {
            continue;
        }
        let prop = |key: &str| {
            text.lines().find_map(|l| {
                let (k, v) = l.split_once('=')?;
                (k.trim() == key).then(|| v.trim().to_owned())
            })
        };
        if let (Some(group), Some(artifact), Some(version)) = (prop("groupId"), prop("artifactId"), prop("version")) {
            out.push(MavenCoordinates { archive: String::new(), group, artifact, version });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_the_known_ones() {
        let d = FileDigest::of(b"abc");
        assert_eq!(d.sha1_hex(), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(d.sha256_hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn one_pass_hashes_every_file_and_reads_copyright_files() {
        let copyright =
            "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nLicense: Expat\n";
        let tar = crate::image::index::tar::tests::layer_tar(&[
            ("usr/share/doc/a/copyright", 'f', copyright),
            ("usr/bin/a", 'f', "abc"),
        ]);
        let all = read_layer(&mut &tar[..], "t", Want::Everything).unwrap();
        assert_eq!(all.copyright["/usr/share/doc/a/copyright"], ["Expat"]);
        assert_eq!(all.digests["/usr/bin/a"], FileDigest::of(b"abc"));
        let jars = read_layer(&mut &tar[..], "t", Want::JavaArchives).unwrap();
        assert!(jars.copyright.is_empty() && jars.digests.is_empty());
    }

    #[test]
    fn coordinates_come_from_every_pom_properties() {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default();
        for (name, body) in [
            ("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n"),
            ("META-INF/maven/org.example/app/pom.properties", "#c\ngroupId=org.example\nartifactId=app\nversion=1.2\n"),
            ("META-INF/maven/com.google/gson/pom.properties", "version=2.10\ngroupId=com.google\nartifactId=gson\n"),
            ("META-INF/maven/bad/x/pom.properties", "groupId=bad\n"),
        ] {
            zip.start_file(name, opts).unwrap();
            std::io::Write::write_all(&mut zip, body.as_bytes()).unwrap();
        }
        let bytes = zip.finish().unwrap().into_inner();
        let got: Vec<(String, String, String)> =
            maven_coordinates(&bytes).into_iter().map(|m| (m.group, m.artifact, m.version)).collect();
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got.contains(&("org.example".into(), "app".into(), "1.2".into())));
        assert!(got.contains(&("com.google".into(), "gson".into(), "2.10".into())));
        assert!(maven_coordinates(b"not a zip").is_empty());
    }
}
