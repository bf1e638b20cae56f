//! Writes the slim layer: exactly the keep-set, in path order, with the original metadata and
//! xattrs. Deterministic: sorted entries, no host-dependent fields, mtimes clamped to
//! SOURCE_DATE_EPOCH when it is set, so the same input gives the same bytes.

use super::extract::Contents;
use crate::digest::HashingWriter;
use crate::image::{Entry, FileIndex, Kind};
use crate::select::KeepSet;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;

#[derive(Debug, Clone)]
pub struct LayerBlob {
    /// Of the uncompressed tar: both the diff_id and the blob digest.
    pub digest: crate::digest::Digest,
    pub size: u64,
    pub files: u64,
    /// Regular-file bytes in the layer (hard links counted once).
    pub content_bytes: u64,
}

fn header_for(entry: &Entry, mtime: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_mode(entry.mode);
    h.set_uid(entry.uid);
    h.set_gid(entry.gid);
    h.set_mtime(mtime);
    h.set_size(0);
    h
}

/// Writes the layer for `keep` to `out` and returns its digest and size.
pub fn write_layer<W: Write>(
    index: &FileIndex,
    keep: &KeepSet,
    contents: &mut dyn Contents,
    source_date_epoch: Option<u64>,
    overrides: &BTreeMap<String, Vec<u8>>,
    perms: &super::perms::PathPerms,
    out: W,
) -> std::io::Result<(LayerBlob, W)> {
    let mut builder = tar::Builder::new(HashingWriter::new(out));
    builder.mode(tar::HeaderMode::Complete);
    let mut w =
        LayerWriter { builder, contents, overrides, holders: shared_contents(index, keep), files: 0, content_bytes: 0 };
    for path in keep.paths.keys() {
        if path == "/" {
            continue;
        }
        let Some(entry) = index.get(path) else {
            return Err(std::io::Error::other(format!("{path}: kept but not in the index")));
        };
        let mtime = source_date_epoch.map_or(entry.mtime, |e| entry.mtime.min(e));
        w.append(path, entry, mtime, perms.get(path.as_str()))?;
    }
    let (files, content_bytes) = (w.files, w.content_bytes);
    let hashing = w.builder.into_inner()?;
    let (digest, size, out) = hashing.finish();
    Ok((LayerBlob { digest, size, files, content_bytes }, out))
}

/// The layer being written, entry by entry.
struct LayerWriter<'a, 'c, W: Write> {
    builder: tar::Builder<HashingWriter<W>>,
    contents: &'c mut dyn Contents,
    overrides: &'a BTreeMap<String, Vec<u8>>,
    /// The content sources that a kept hard link shares (only those can have a second holder),
    /// each with the first kept path (in path order) that carries it, once written: the others
    /// link to it. Keys and paths borrow from the index and the keep-set.
    holders: HashMap<(usize, &'a str), Option<&'a str>>,
    files: u64,
    content_bytes: u64,
}

impl<'a, W: Write> LayerWriter<'a, '_, W> {
    fn append(
        &mut self,
        path: &'a str,
        entry: &'a Entry,
        mtime: u64,
        perm: Option<&super::perms::PathPerm>,
    ) -> std::io::Result<()> {
        let mut h = header_for(entry, mtime);
        if let Some(p) = perm {
            h.set_mode(p.mode);
            if let Some((uid, gid)) = p.owner {
                h.set_uid(uid);
                h.set_gid(gid);
            }
        }
        let name = &path[1..];
        let b = &mut self.builder;
        if !entry.xattrs().is_empty() {
            let exts: Vec<(String, &[u8])> =
                entry.xattrs().iter().map(|(k, v)| (format!("SCHILY.xattr.{k}"), v.as_slice())).collect();
            b.append_pax_extensions(exts.iter().map(|(k, v)| (k.as_str(), *v)))?;
        }
        self.files += 1;
        match &entry.kind {
            Kind::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                b.append_data(&mut h, format!("{name}/"), std::io::empty())
            }
            Kind::Symlink { target } => {
                h.set_entry_type(tar::EntryType::Symlink);
                b.append_link(&mut h, name, &**target)
            }
            Kind::File | Kind::Hardlink { .. } if self.overrides.contains_key(path) => {
                // Rewritten content (the package database): same metadata, new bytes.
                let data = &self.overrides[path];
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(data.len() as u64);
                self.content_bytes += data.len() as u64;
                b.append_data(&mut h, name, &data[..])
            }
            Kind::File | Kind::Hardlink { .. } => self.append_content(h, path, entry),
            Kind::Char { major, minor } | Kind::Block { major, minor } => {
                let char_dev = matches!(entry.kind, Kind::Char { .. });
                h.set_entry_type(if char_dev { tar::EntryType::Char } else { tar::EntryType::Block });
                h.set_device_major(*major)?;
                h.set_device_minor(*minor)?;
                b.append_data(&mut h, name, std::io::empty())
            }
            Kind::Fifo => {
                h.set_entry_type(tar::EntryType::Fifo);
                b.append_data(&mut h, name, std::io::empty())
            }
        }
    }

    /// A file's content, the first time its source is kept; a hard link to that path after.
    fn append_content(&mut self, mut h: tar::Header, path: &'a str, entry: &'a Entry) -> std::io::Result<()> {
        let name = &path[1..];
        let key = entry.content_source(path).expect("files have content");
        if let Some(Some(holder)) = self.holders.get(&key) {
            h.set_entry_type(tar::EntryType::Link);
            return self.builder.append_link(&mut h, name, &holder[1..]);
        }
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(entry.size);
        let reader = self.contents.open(path, entry)?;
        self.builder.append_data(&mut h, name, reader)?;
        self.content_bytes += entry.size;
        if let Some(slot) = self.holders.get_mut(&key) {
            *slot = Some(path);
        }
        Ok(())
    }
}

/// The content sources of the kept hard links (a file they share may be kept under several
/// names; everything else has one holder).
fn shared_contents<'a>(index: &'a FileIndex, keep: &'a KeepSet) -> HashMap<(usize, &'a str), Option<&'a str>> {
    keep.paths
        .keys()
        .filter_map(|p| {
            let e = index.get(p)?;
            matches!(e.kind, Kind::Hardlink { .. }).then(|| e.content_source(p)).flatten()
        })
        .map(|key| (key, None))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::index::tar::{scan_layer, tests::layer_tar};

    /// Contents from the test layer's own bytes, by content path.
    struct Bodies(HashMap<&'static str, &'static str>);

    impl Contents for Bodies {
        fn open(&mut self, path: &str, entry: &Entry) -> std::io::Result<Box<dyn std::io::Read + '_>> {
            let (_, src) = entry.content_source(path).unwrap();
            Ok(Box::new(self.0[src].as_bytes()))
        }
    }

    #[test]
    fn a_shared_content_is_written_once_and_other_files_whole() {
        let mut index = FileIndex::new();
        let layer = layer_tar(&[("app/z", 'f', "zz"), ("app/a", 'h', "app/z"), ("app/m", 'f', "mm")]);
        index.apply_layer(scan_layer(&layer[..], 0, "t", &[]).unwrap(), None);
        let keep = KeepSet::of_paths(["/app", "/app/a", "/app/m", "/app/z"]);
        let mut bodies = Bodies(HashMap::from([("/app/z", "zz"), ("/app/m", "mm")]));
        let (blob, out) =
            write_layer(&index, &keep, &mut bodies, None, &BTreeMap::new(), &BTreeMap::new(), Vec::new()).unwrap();
        let mut seen = Vec::new();
        for e in tar::Archive::new(&out[..]).entries().unwrap() {
            let mut e = e.unwrap();
            let link = e.link_name().unwrap().map(|l| l.to_string_lossy().into_owned());
            let mut body = String::new();
            std::io::Read::read_to_string(&mut e, &mut body).unwrap();
            seen.push((e.path().unwrap().to_string_lossy().into_owned(), e.header().entry_type(), link, body));
        }
        use tar::EntryType::{Directory, Link, Regular};
        let want = [
            ("app/", Directory, None, ""),
            // The link comes first in path order: it carries the content, its target links to it.
            ("app/a", Regular, None, "zz"),
            ("app/m", Regular, None, "mm"),
            ("app/z", Link, Some("app/a"), ""),
        ];
        let got: Vec<_> = seen.iter().map(|(p, t, l, b)| (p.as_str(), *t, l.as_deref(), b.as_str())).collect();
        assert_eq!(got, want);
        assert_eq!((blob.files, blob.content_bytes), (4, 4));
    }
}
