//! Indexes one layer unpacked in the engine's storage ([`crate::image::source::storage`]) into
//! the same [`LayerIndex`] a layer tar gives, through the same [`LayerBuilder`]: overlayfs' own
//! forms of whiteouts (a 0:0 character device) and opaque directories (an xattr) are recognised
//! here. Contents stay where they are; the writer reads the kept ones there.

use super::elf::ElfInfo;
use super::entry::Kind;
use super::facts::Readers;
use super::layer::{Content, Decided, LayerBuilder, LayerIndex, Meta};
use crate::error::ImageError;
use crate::image::source::storage::LayerDirs;
use std::collections::HashMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

/// Extended attributes the storage itself puts on its files: overlayfs' and fuse-overlayfs' own
/// bookkeeping and the host's security labels. None of them was in the layer's tar.
fn storage_xattr(name: &str) -> bool {
    ["trusted.overlay.", "user.overlay.", "user.fuseoverlayfs.", "security.selinux"].iter().any(|p| name.starts_with(p))
}

/// overlayfs marks a directory that hides everything below it with this xattr set to "y".
fn overlay_opaque(path: &std::path::Path) -> bool {
    ["trusted.overlay.opaque", "user.overlay.opaque"]
        .iter()
        .any(|name| matches!(xattr::get(path, name), Ok(Some(v)) if v == b"y"))
}

/// The image's extended attributes of a file, sorted (the storage's own left out).
fn image_xattrs(path: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut xattrs = Vec::new();
    if let Ok(names) = xattr::list(path) {
        for n in names {
            let n = n.to_string_lossy().into_owned();
            if storage_xattr(&n) {
                continue;
            }
            if let Ok(Some(v)) = xattr::get(path, &n) {
                xattrs.push((n, v));
            }
        }
        xattrs.sort();
    }
    xattrs
}

/// Indexes layer `layer` of `dirs`. `what` names it in errors.
pub fn scan_layer_dir(dirs: &LayerDirs, layer: u16, what: &str, readers: &Readers) -> Result<LayerIndex, ImageError> {
    let root = dirs.path(usize::from(layer));
    let fail = |detail: String| ImageError::Read { path: root.to_owned(), source: std::io::Error::other(detail) };
    let mut out = LayerBuilder::new(layer, readers);
    // (device, inode) -> the first path of a file with several links in the layer.
    let mut inodes: HashMap<(u64, u64), String> = HashMap::new();
    let walk = walkdir::WalkDir::new(root).follow_links(false).min_depth(1).sort_by_file_name();
    for item in walk {
        let item = item.map_err(|e| fail(format!("walking the layer: {e}")))?;
        let rel = item.path().strip_prefix(root).map_err(|e| fail(e.to_string()))?;
        // The index names files by UTF-8 paths and the writer opens them by those names: a name
        // that is not UTF-8 could not be opened again (the stream reads it by offset instead).
        let Some(rel) = rel.to_str() else {
            return Err(fail(format!("{}: a name that is not UTF-8", rel.to_string_lossy())));
        };
        let path = format!("/{rel}");
        if out.marker(&path) {
            continue;
        }
        let meta = item.metadata().map_err(|e| fail(format!("{path}: {e}")))?;
        let Some(kind) = file_kind(&item, &meta, &path).map_err(fail)? else { continue };
        let found = Meta {
            mode: meta.mode(),
            uid: meta.uid().into(),
            gid: meta.gid().into(),
            size: if meta.is_file() { meta.size() } else { 0 },
            mtime: meta.mtime().max(0) as u64,
            xattrs: image_xattrs(item.path()),
        };
        match kind {
            Found::Whiteout => out.whiteout(path),
            Found::Entry(Kind::File) => {
                if meta.nlink() > 1 {
                    let key = (meta.dev(), meta.ino());
                    if let Some(first) = inodes.get(&key) {
                        out.hardlink(path, first.clone(), found);
                        continue;
                    }
                    inodes.insert(key, path.clone());
                }
                read_file(&mut out, dirs, layer, path, found).map_err(|e| fail(format!("{e} ({what})")))?;
            }
            Found::Entry(kind) => {
                if matches!(kind, Kind::Dir) && overlay_opaque(item.path()) {
                    out.opaque(path.clone());
                }
                out.other(path, kind, found);
            }
        }
    }
    out.finish().map_err(fail)
}

/// What a directory entry of a layer is.
enum Found {
    Entry(Kind),
    /// overlayfs' whiteout: a 0:0 character device.
    Whiteout,
}

/// None for a socket: no tar can hold one, so no layer did.
fn file_kind(item: &walkdir::DirEntry, meta: &std::fs::Metadata, path: &str) -> Result<Option<Found>, String> {
    let ft = meta.file_type();
    let rdev = meta.rdev();
    let device = || (nix::sys::stat::major(rdev) as u32, nix::sys::stat::minor(rdev) as u32);
    Ok(Some(Found::Entry(if ft.is_file() {
        Kind::File
    } else if ft.is_dir() {
        Kind::Dir
    } else if ft.is_symlink() {
        let target = std::fs::read_link(item.path()).map_err(|e| format!("{path}: {e}"))?;
        Kind::Symlink { target: target.to_string_lossy().into() }
    } else if ft.is_char_device() {
        if rdev == 0 {
            return Ok(Some(Found::Whiteout));
        }
        let (major, minor) = device();
        Kind::Char { major, minor }
    } else if ft.is_block_device() {
        let (major, minor) = device();
        Kind::Block { major, minor }
    } else if ft.is_fifo() {
        Kind::Fifo
    } else {
        return Ok(None);
    })))
}

/// A regular file read in place for its facts: large ELF files are mapped, so only the pages
/// their headers sit on are read.
fn read_file(out: &mut LayerBuilder<'_>, dirs: &LayerDirs, layer: u16, path: String, meta: Meta) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("{path}: reading contents: {e}");
    let mut file = dirs.open_file(usize::from(layer), &path).map_err(fail)?;
    let how = Content { stored_at: None, random_access: true, worker: None };
    if let Decided::ElfLater = out.file(path.clone(), meta, &mut file, &how).map_err(fail)? {
        // SAFETY: a read-only private mapping of a file in the engine's storage of an image's
        // lower layer, which the engine never writes once the layer is committed.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(fail)?;
        out.set_last_elf(ElfInfo::parse(&map));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A layer as the engine unpacks it, scanned like its tar would be.
    #[test]
    fn a_layer_directory_indexes_like_its_tar() {
        let root = tempfile::tempdir().unwrap();
        let d = root.path();
        std::fs::create_dir_all(d.join("usr/bin")).unwrap();
        std::fs::create_dir_all(d.join("var/cache")).unwrap();
        std::fs::create_dir_all(d.join("etc")).unwrap();
        std::fs::write(d.join("usr/bin/run"), "#!/bin/sh -e\necho hi\n").unwrap();
        std::fs::set_permissions(d.join("usr/bin/run"), std::fs::Permissions::from_mode(0o4755)).unwrap();
        std::fs::hard_link(d.join("usr/bin/run"), d.join("usr/bin/run2")).unwrap();
        std::fs::copy("/bin/ls", d.join("usr/bin/ls")).unwrap();
        std::os::unix::fs::symlink("usr/lib", d.join("lib")).unwrap();
        std::fs::write(d.join("etc/.wh.old"), "").unwrap();
        std::fs::write(d.join("var/cache/.wh..wh..opq"), "").unwrap();
        std::fs::write(d.join("etc/ld.so.conf"), "include /etc/ld.so.conf.d/*.conf\n").unwrap();
        nix::unistd::mkfifo(&d.join("etc/pipe"), nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let caps = b"\x01\x00\x00\x02\x00\x20\x00\x00";
        let with_xattr = xattr::set(d.join("usr/bin/ls"), "user.test", caps).is_ok();
        // overlayfs' forms: a 0:0 character device hides a path, an xattr makes a directory opaque.
        let overlay_whiteout = nix::sys::stat::mknod(
            &d.join("etc/gone"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o600),
            0,
        )
        .is_ok();

        // overlay2's opaque directory (a trusted.* xattr: root only).
        std::fs::create_dir_all(d.join("srv/www")).unwrap();
        let overlay_opaque = xattr::set(d.join("srv/www"), "trusted.overlay.opaque", b"y").is_ok();

        let dirs = LayerDirs::open(vec![d.to_owned()]).unwrap();
        let l = scan_layer_dir(&dirs, 0, "test layer", &[]).unwrap();
        let get = |p: &str| &l.entries.iter().find(|(q, _)| &**q == p).unwrap_or_else(|| panic!("{p} indexed")).1;
        let names: Vec<_> = l.entries.iter().map(|(p, _)| &**p).collect();
        assert!(!names.iter().any(|n| n.contains(".wh.") || *n == "/etc/gone"), "{names:?}");
        assert!(l.whiteouts.contains(&"/etc/old".to_owned()));
        if overlay_whiteout {
            assert!(l.whiteouts.contains(&"/etc/gone".to_owned()), "{:?}", l.whiteouts);
        }
        let want_opaques: &[&str] = if overlay_opaque { &["/srv/www", "/var/cache"] } else { &["/var/cache"] };
        let mut opaques = l.opaques.clone();
        opaques.sort();
        assert_eq!(opaques, want_opaques);
        // The marker is the storage's, not the image's: it is no xattr of the directory.
        assert!(get("/srv/www").xattrs().is_empty() && get("/srv/www").is_dir());
        let run = get("/usr/bin/run");
        assert_eq!(run.shebang(), Some("/bin/sh -e"));
        assert_eq!(run.mode, 0o4755);
        assert_eq!(run.kind, Kind::File);
        let run2 = get("/usr/bin/run2");
        assert_eq!(run2.kind, Kind::Hardlink { target: "/usr/bin/run".into() });
        assert_eq!((run2.stored_bytes(), run2.shebang()), (0, Some("/bin/sh -e")));
        let ls = get("/usr/bin/ls");
        assert!(ls.elf().is_some_and(|e| e.needed.iter().any(|n| n.starts_with("libc.so"))));
        if with_xattr {
            assert_eq!(ls.xattrs(), [("user.test".to_owned(), caps.to_vec())]);
        }
        assert_eq!(get("/lib").kind, Kind::Symlink { target: "usr/lib".into() });
        assert_eq!(get("/etc/pipe").kind, Kind::Fifo);
        assert_eq!(get("/etc/ld.so.conf").captured(), Some(&b"include /etc/ld.so.conf.d/*.conf\n"[..]));
        assert!(get("/usr").is_dir());
        let conf = "include /etc/ld.so.conf.d/*.conf\n".len() as u64;
        assert_eq!(l.bytes, 21 + std::fs::metadata("/bin/ls").unwrap().len() + conf);

        // A name that is not UTF-8 cannot be indexed in place (the caller streams the image).
        use std::os::unix::ffi::OsStrExt;
        std::fs::write(d.join(std::ffi::OsStr::from_bytes(b"caf\xe9")), "x").unwrap();
        let err = scan_layer_dir(&dirs, 0, "test layer", &[]).unwrap_err().to_string();
        assert!(err.contains("not UTF-8"), "{err}");
    }
}
