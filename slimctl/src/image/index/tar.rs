//! Reads one layer tarball as a stream into a [`LayerIndex`] (through the [`LayerBuilder`]):
//! entries, whiteouts and opaque-directory markers. File contents are read only where the select
//! stage needs them and are never kept beyond that.

use super::entry::{normalize_member, Kind};
use super::facts::{FactWorker, Readers};
use super::layer::{Content, LayerBuilder, LayerIndex, Meta};
use crate::error::ImageError;
use std::io::Read;

/// Indexes one layer. `what` names the layer in errors.
/// `readers` read what coverage rules need from file contents.
pub fn scan_layer<R: Read>(reader: R, layer: u16, what: &str, readers: &Readers) -> Result<LayerIndex, ImageError> {
    scan_layer_with(reader, layer, what, readers, None, None)
}

/// [`scan_layer`], the readers running on `worker` (their facts arrive with
/// [`LayerIndex::complete`]); `key` names the layer to the worker. `stored_at`: where the
/// layer's tar starts in the image's stored copy, when it has one.
pub fn scan_layer_with<R: Read>(
    reader: R,
    layer: u16,
    what: &str,
    readers: &Readers,
    worker: Option<(&FactWorker, &str)>,
    stored_at: Option<u64>,
) -> Result<LayerIndex, ImageError> {
    let corrupt = |detail: String| ImageError::corrupt(what, detail);
    let mut archive = tar::Archive::new(reader);
    let mut out = LayerBuilder::new(layer, readers);
    let entries = archive.entries().map_err(|e| corrupt(e.to_string()))?;
    for item in entries {
        let mut member =
            item.map_err(|e| corrupt(format!("reading a tar header: {e} (the archive is truncated or damaged)")))?;
        let name = String::from_utf8_lossy(&member.path_bytes()).into_owned();
        let path =
            normalize_member(&name).ok_or_else(|| corrupt(format!("entry {name:?} climbs out of the image root")))?;
        if out.marker(&path) {
            continue;
        }
        let Some(kind) = member_kind(&member, &path).map_err(corrupt)? else { continue };
        let meta = member_meta(&mut member);
        match kind {
            Kind::File => {
                // Sparse members are not stored as one run of bytes.
                let whole =
                    matches!(member.header().entry_type(), tar::EntryType::Regular | tar::EntryType::Continuous);
                let at = stored_at.filter(|_| whole).map(|at| at + member.raw_file_position());
                let how = Content { stored_at: at, random_access: at.is_some(), worker };
                out.file(path.clone(), meta, &mut member, &how).map_err(|e| {
                    corrupt(format!("{path}: reading contents: {e} (the archive is truncated or damaged)"))
                })?;
            }
            Kind::Hardlink { target } => out.hardlink(path, target.into(), meta),
            kind => out.other(path, kind, meta),
        }
    }
    out.finish().map_err(corrupt)
}

/// What a member is; None for what is no file (PAX/GNU extension headers are consumed by the tar
/// crate, anything else is skipped). A hard link's target is normalized like a member name.
fn member_kind<R: Read>(member: &tar::Entry<'_, R>, path: &str) -> Result<Option<Kind>, String> {
    let header = member.header();
    let link_target = || {
        member
            .link_name_bytes()
            .map(|b| String::from_utf8_lossy(&b).into_owned().into_boxed_str())
            .ok_or_else(|| format!("{path}: link without a target"))
    };
    let device =
        || (header.device_major().ok().flatten().unwrap_or(0), header.device_minor().ok().flatten().unwrap_or(0));
    Ok(Some(match header.entry_type() {
        tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => Kind::File,
        tar::EntryType::Directory => Kind::Dir,
        tar::EntryType::Symlink => Kind::Symlink { target: link_target()? },
        tar::EntryType::Link => {
            let target = link_target()?;
            let target =
                normalize_member(&target).ok_or_else(|| format!("{path}: hard link to {target:?} leaves the root"))?;
            Kind::Hardlink { target: target.into_boxed_str() }
        }
        tar::EntryType::Char => {
            let (major, minor) = device();
            Kind::Char { major, minor }
        }
        tar::EntryType::Block => {
            let (major, minor) = device();
            Kind::Block { major, minor }
        }
        tar::EntryType::Fifo => Kind::Fifo,
        _ => return Ok(None),
    }))
}

/// A member's metadata. Go's archive/tar, which Docker writes and reads layers with, takes an
/// empty or unparsable numeric field as 0; reading it the same way keeps us in step with the
/// engine. Extended attributes come from PAX `SCHILY.xattr.` records.
fn member_meta<R: Read>(member: &mut tar::Entry<'_, R>) -> Meta {
    let header = member.header();
    let mut meta = Meta {
        mode: header.mode().unwrap_or(0o644),
        uid: header.uid().unwrap_or(0),
        gid: header.gid().unwrap_or(0),
        size: member.size(),
        mtime: header.mtime().unwrap_or(0),
        xattrs: Vec::new(),
    };
    if let Ok(Some(pax)) = member.pax_extensions() {
        for ext in pax.flatten() {
            if let (Ok(key), value) = (ext.key(), ext.value_bytes()) {
                if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                    meta.xattrs.push((name.to_owned(), value.to_vec()));
                }
            }
        }
        meta.xattrs.sort();
    }
    meta
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
        let names: Vec<_> = l.entries.iter().map(|(p, _)| &**p).collect();
        assert_eq!(names, ["/etc", "/etc/hosts", "/bin/run", "/bin/run2", "/lib"]);
        assert_eq!(l.whiteouts, ["/etc/old"]);
        assert_eq!(l.opaques, ["/var/cache"]);
        let run = &l.entries[2].1;
        assert_eq!(run.shebang(), Some("/bin/sh -e"));
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
