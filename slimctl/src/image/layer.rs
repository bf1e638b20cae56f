//! Reads one layer tarball as a stream and turns it into a [`LayerIndex`]: entries, whiteouts and
//! opaque-directory markers. File contents are read only where the select stage needs them (ELF
//! headers, `#!` lines, ld.so configuration, package databases, what a content reader asks for)
//! and are never kept beyond that.

use super::entry::{normalize_member, parent, Entry, Kind};
use super::facts::{ContentReader, FactWorker, Facts, Readers, HEAD};
use crate::error::ImageError;
use crate::select::elf::{ElfInfo, MAGIC};
use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;

pub(super) const WHITEOUT_PREFIX: &str = ".wh.";
pub(super) const OPAQUE_MARKER: &str = ".wh..wh..opq";
/// ELF files larger than this are indexed without dependency information (none exist in practice;
/// the bound keeps a hostile image from making us buffer gigabytes).
const ELF_READ_LIMIT: u64 = 1 << 30;

/// ELF files larger than this are parsed after the stream, where the image is stored, when it
/// is: reading a 90 MB libLLVM into memory to find its DT_NEEDED would set the peak memory.
const ELF_INLINE_LIMIT: u64 = 8 << 20;

#[derive(Debug, Default)]
pub struct LayerIndex {
    /// Entries in archive order.
    pub entries: Vec<(String, Entry)>,
    /// Paths deleted from lower layers (`.wh.NAME`).
    pub whiteouts: Vec<String>,
    /// Directories whose lower-layer contents are hidden (`.wh..wh..opq`).
    pub opaques: Vec<String>,
    /// Sum of regular-file sizes stored in this layer.
    pub bytes: u64,
    /// Hard links as (link, target) positions in `entries`: a link shares its target's facts,
    /// which a [`FactWorker`] fills in after the scan.
    pub links: Vec<(usize, usize)>,
    /// Large ELF files (positions in `entries`) to parse where the image is stored.
    pub elf_later: Vec<usize>,
}

/// Contents kept in memory: what the closure and the package inventory read, with a size cap
/// per kind (package databases are larger than config files).
fn capture_limit(path: &str) -> Option<u64> {
    if path == "/var/lib/dpkg/status" || path == "/lib/apk/db/installed" {
        return Some(16 << 20);
    }
    if (path.starts_with("/var/lib/dpkg/info/") && path.ends_with(".list"))
        || path.starts_with("/var/lib/dpkg/status.d/")
        || (path.contains(".dist-info/") && (path.ends_with("/RECORD") || path.ends_with("/METADATA")))
    {
        return Some(4 << 20);
    }
    wants_capture(path).then_some(64 * 1024)
}

fn wants_capture(path: &str) -> bool {
    path.ends_with("/package.json")
        || path == "/etc/ld.so.conf"
        || (path.starts_with("/etc/ld.so.conf.d/") && path.ends_with(".conf"))
        || (path.starts_with("/etc/ld-musl-") && path.ends_with(".path"))
}

/// Indexes one layer. `what` names the layer in errors.
/// `readers` read what coverage rules need from file contents.
pub fn scan_layer<R: Read>(reader: R, layer: usize, what: &str, readers: &Readers) -> Result<LayerIndex, ImageError> {
    scan_layer_with(reader, layer, what, readers, None, None)
}

/// [`scan_layer`], the readers running on `worker` (their facts arrive with
/// [`LayerIndex::apply_facts`]); `key` names the layer to the worker.
pub fn scan_layer_with<R: Read>(
    reader: R,
    layer: usize,
    what: &str,
    readers: &Readers,
    worker: Option<(&FactWorker, &str)>,
    stored_at: Option<u64>,
) -> Result<LayerIndex, ImageError> {
    let corrupt = |detail: String| ImageError::corrupt(what, detail);
    let mut archive = tar::Archive::new(reader);
    let mut out = LayerIndex::default();
    // path -> position in `out.entries`, to resolve hard links within the layer.
    let mut seen: HashMap<String, usize> = HashMap::new();

    let entries = archive.entries().map_err(|e| corrupt(e.to_string()))?;
    for item in entries {
        let mut tar_entry =
            item.map_err(|e| corrupt(format!("reading a tar header: {e} (the archive is truncated or damaged)")))?;
        let raw_name = tar_entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw_name).into_owned();
        let path =
            normalize_member(&name).ok_or_else(|| corrupt(format!("entry {name:?} climbs out of the image root")))?;

        let base = path.rsplit('/').next().unwrap_or("");
        if base == OPAQUE_MARKER {
            out.opaques.push(parent(&path).to_owned());
            continue;
        }
        if let Some(hidden) = base.strip_prefix(WHITEOUT_PREFIX) {
            let dir = parent(&path);
            out.whiteouts.push(super::entry::join(dir, hidden));
            continue;
        }

        let header = tar_entry.header();
        // Go's archive/tar, which Docker writes and reads layers with, takes an empty or
        // unparsable numeric field as 0; reading it the same way keeps us in step with the engine.
        let mode = header.mode().unwrap_or(0o644);
        let uid = header.uid().unwrap_or(0);
        let gid = header.gid().unwrap_or(0);
        let mtime = header.mtime().unwrap_or(0);
        let size = tar_entry.size();
        let device = |h: &tar::Header| -> (u32, u32) {
            (h.device_major().ok().flatten().unwrap_or(0), h.device_minor().ok().flatten().unwrap_or(0))
        };
        let link_target = || {
            tar_entry
                .link_name_bytes()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .ok_or_else(|| corrupt(format!("{path}: link without a target")))
        };
        let etype = header.entry_type();
        let kind = match etype {
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => Kind::File,
            tar::EntryType::Directory => Kind::Dir,
            tar::EntryType::Symlink => Kind::Symlink { target: link_target()? },
            tar::EntryType::Link => {
                let target = link_target()?;
                let target = normalize_member(&target)
                    .ok_or_else(|| corrupt(format!("{path}: hard link to {target:?} leaves the root")))?;
                Kind::Hardlink { target }
            }
            tar::EntryType::Char => {
                let (major, minor) = device(header);
                Kind::Char { major, minor }
            }
            tar::EntryType::Block => {
                let (major, minor) = device(header);
                Kind::Block { major, minor }
            }
            tar::EntryType::Fifo => Kind::Fifo,
            // PAX/GNU extension headers are consumed by the tar crate; anything else is not a file.
            _ => continue,
        };

        let mut xattrs = Vec::new();
        if let Ok(Some(pax)) = tar_entry.pax_extensions() {
            for ext in pax.flatten() {
                if let (Ok(key), value) = (ext.key(), ext.value_bytes()) {
                    if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                        xattrs.push((name.to_owned(), value.to_vec()));
                    }
                }
            }
            xattrs.sort();
        }

        let mut entry = Entry {
            mode: mode & 0o7777,
            uid,
            gid,
            size: if matches!(etype, tar::EntryType::Directory) { 0 } else { size },
            mtime,
            xattrs,
            // Sparse members are not stored as one run of bytes.
            stored_at: stored_at
                .filter(|_| matches!(etype, tar::EntryType::Regular | tar::EntryType::Continuous))
                .map(|at| at + tar_entry.raw_file_position()),
            ..Entry::bare(kind, layer)
        };

        match &entry.kind {
            Kind::File => {
                out.bytes += size;
                let random_access = entry.stored_at.is_some();
                let to_read =
                    read_content_facts(&mut tar_entry, &path, &mut entry, readers, random_access).map_err(|e| {
                        corrupt(format!("{path}: reading contents: {e} (the archive is truncated or damaged)"))
                    })?;
                if let Decided::ElfLater = to_read {
                    out.elf_later.push(out.entries.len());
                }
                if let Decided::Facts(content, wanting) = to_read {
                    entry.facts = match worker {
                        Some((w, key)) => w.submit(key, out.entries.len(), &path, content, wanting).unwrap_or_default(),
                        None => super::facts::read_all(&path, &content, &wanting),
                    };
                }
            }
            Kind::Hardlink { target } => {
                // A hard link shares its target's content and so its facts.
                let Some(&pos) = seen.get(target) else {
                    return Err(corrupt(format!("{path}: hard link to {target}, which the layer does not hold")));
                };
                out.links.push((out.entries.len(), pos));
                let src = &out.entries[pos].1;
                entry.share_content_of(src);
                // Extended attributes belong to the inode, which the link shares.
                if entry.xattrs.is_empty() {
                    entry.xattrs = src.xattrs.clone();
                }
                if let Kind::Hardlink { target: deeper } = &src.kind {
                    entry.kind = Kind::Hardlink { target: deeper.clone() };
                }
            }
            _ => {}
        }

        seen.insert(path.clone(), out.entries.len());
        out.entries.push((path, entry));
    }
    Ok(out)
}

/// The first line of `buf`, trimmed, if not empty (a `#!` line without its `#!`).
pub fn first_line(buf: &[u8]) -> Option<String> {
    let line = buf.split(|b| *b == b'\n').next()?;
    let line = String::from_utf8_lossy(line).trim().to_owned();
    (!line.is_empty()).then_some(line)
}

/// What reading a file's head decided.
pub(super) enum Decided {
    Done,
    /// Its content, for the readers that want it.
    Facts(Vec<u8>, Vec<Arc<dyn ContentReader>>),
    /// A large ELF file, parsed where the image is stored once the stream has passed.
    ElfLater,
}

/// Reads just enough of a regular file to learn what the select stage needs: small files it
/// reads whole, ELF headers, `#!` lines; returns the content when a reader asks for it.
/// `random_access`: the content can be read again later, where the image is stored.
pub(super) fn read_content_facts<R: Read>(
    r: &mut R,
    path: &str,
    entry: &mut Entry,
    readers: &Readers,
    random_access: bool,
) -> std::io::Result<Decided> {
    if capture_limit(path).is_some_and(|limit| entry.size <= limit) {
        let mut buf = Vec::with_capacity(entry.size as usize);
        r.read_to_end(&mut buf)?;
        entry.captured = Some(buf.into_boxed_slice());
        return Ok(Decided::Done);
    }
    let mut head = [0u8; HEAD];
    let mut got = 0;
    while got < HEAD {
        match r.read(&mut head[got..])? {
            0 => break,
            n => got += n,
        }
    }
    let head = &head[..got];
    let elf = head.starts_with(MAGIC) && entry.size <= ELF_READ_LIMIT;
    let mut wanting: Vec<Arc<dyn ContentReader>> = Vec::new();
    for (i, reader) in readers.iter().enumerate() {
        if !reader.wants(path, entry.size, head) {
            continue;
        }
        // Read when its rule asks, from where the image is stored.
        if reader.lazy() && random_access && i < 16 {
            entry.lazy |= 1 << i;
        } else {
            wanting.push(reader.clone());
        }
    }
    if !elf && wanting.is_empty() {
        if let Some(line) = head.strip_prefix(b"#!").and_then(first_line) {
            entry.shebang = Some(line.into_boxed_str());
        }
        return Ok(Decided::Done);
    }
    if elf && wanting.is_empty() && entry.size > ELF_INLINE_LIMIT && random_access {
        return Ok(Decided::ElfLater);
    }
    let mut buf = Vec::with_capacity(entry.size as usize);
    buf.extend_from_slice(head);
    r.read_to_end(&mut buf)?;
    if elf {
        entry.elf = ElfInfo::parse(&buf).map(Box::new);
    } else if let Some(line) = buf.strip_prefix(b"#!").and_then(first_line) {
        entry.shebang = Some(line.into_boxed_str());
    }
    Ok(if wanting.is_empty() { Decided::Done } else { Decided::Facts(buf, wanting) })
}

impl LayerIndex {
    /// Takes facts read by a worker and large ELF files parsed where the image is stored
    /// (`stored`: that file's bytes), then gives each hard link its target's.
    pub fn complete(&mut self, done: impl IntoIterator<Item = (usize, Facts)>, stored: Option<&[u8]>) {
        for (i, facts) in done {
            if let Some((_, e)) = self.entries.get_mut(i) {
                e.facts = facts;
            }
        }
        for &i in &self.elf_later {
            let e = &mut self.entries[i].1;
            let bytes = e.stored_at.and_then(|at| {
                let start = usize::try_from(at).ok()?;
                stored?.get(start..start.checked_add(usize::try_from(e.size).ok()?)?)
            });
            e.elf = bytes.and_then(ElfInfo::parse).map(Box::new);
        }
        for &(link, target) in &self.links {
            let (facts, elf) = (self.entries[target].1.facts.clone(), self.entries[target].1.elf.clone());
            let e = &mut self.entries[link].1;
            e.facts = facts;
            e.elf = elf;
        }
    }

    /// Renumbers the entries once the layer's position in the image is known.
    pub fn set_layer(&mut self, layer: usize) {
        for (_, e) in &mut self.entries {
            e.layer = layer;
        }
    }

    pub fn clone_for_reuse(&self) -> LayerIndex {
        LayerIndex {
            entries: self.entries.clone(),
            whiteouts: self.whiteouts.clone(),
            opaques: self.opaques.clone(),
            bytes: self.bytes,
            links: self.links.clone(),
            elf_later: self.elf_later.clone(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds an in-memory layer tar. Each item: (name, kind char, data or link target).
    /// kind: 'f' file, 'x' executable file, 'd' dir, 'l' symlink, 'h' hard link.
    pub fn layer_tar(items: &[(&str, char, &str)]) -> Vec<u8> {
        let raw: Vec<(&str, char, &[u8])> = items.iter().map(|(n, k, d)| (*n, *k, d.as_bytes())).collect();
        layer_tar_bytes(&raw)
    }

    /// [`layer_tar`] with binary file contents.
    pub fn layer_tar_bytes(items: &[(&str, char, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, data) in items {
            let mut h = tar::Header::new_gnu();
            h.set_mtime(1_600_000_000);
            h.set_uid(0);
            h.set_gid(0);
            match kind {
                'f' | 'x' => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(if *kind == 'x' { 0o755 } else { 0o644 });
                    h.set_size(data.len() as u64);
                    b.append_data(&mut h, name, *data).unwrap();
                }
                'd' => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(0o755);
                    h.set_size(0);
                    b.append_data(&mut h, name, std::io::empty()).unwrap();
                }
                'l' | 'h' => {
                    h.set_entry_type(if *kind == 'l' { tar::EntryType::Symlink } else { tar::EntryType::Link });
                    h.set_mode(0o777);
                    h.set_size(0);
                    b.append_link(&mut h, name, String::from_utf8_lossy(data).as_ref()).unwrap();
                }
                other => panic!("unknown kind {other}"),
            }
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn scans_entries_whiteouts_and_opaques() {
        let tar = layer_tar(&[
            ("etc/", 'd', ""),
            ("etc/hosts", 'f', "127.0.0.1 localhost\n"),
            ("etc/.wh.old", 'f', ""),
            ("var/cache/.wh..wh..opq", 'f', ""),
            ("bin/run", 'x', "#!/bin/sh -e\necho hi\n"),
            ("bin/run2", 'h', "bin/run"),
            ("lib", 'l', "usr/lib"),
        ]);
        let l = scan_layer(&tar[..], 3, "test", &[]).unwrap();
        let names: Vec<_> = l.entries.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(names, ["/etc", "/etc/hosts", "/bin/run", "/bin/run2", "/lib"]);
        assert_eq!(l.whiteouts, ["/etc/old"]);
        assert_eq!(l.opaques, ["/var/cache"]);
        let run = &l.entries[2].1;
        assert_eq!(run.shebang.as_deref(), Some("/bin/sh -e"));
        assert_eq!(run.layer, 3);
        let run2 = &l.entries[3].1;
        assert_eq!(run2.kind, Kind::Hardlink { target: "/bin/run".into() });
        assert_eq!(run2.size, run.size);
        assert_eq!(run2.stored_bytes(), 0);
        assert_eq!(l.bytes, 20 + 21);
    }

    #[test]
    fn rejects_names_that_escape_the_root() {
        // tar::Builder refuses `..` itself, so forge the header by hand.
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..9].copy_from_slice(b"../escape");
        h.set_size(0);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        let mut tar = h.as_bytes().to_vec();
        tar.extend_from_slice(&[0u8; 1024]);
        let err = scan_layer(&tar[..], 0, "evil layer", &[]).unwrap_err().to_string();
        assert!(err.contains("climbs out"), "{err}");
    }

    #[test]
    fn truncated_layer_is_an_error_not_a_panic() {
        let tar = layer_tar(&[("big", 'f', &"x".repeat(5000))]);
        let err = scan_layer(&tar[..1500], 0, "cut layer", &[]).unwrap_err().to_string();
        assert!(err.contains("cut layer"), "{err}");
    }
}
