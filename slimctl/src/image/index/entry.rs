//! One file of an image's filesystem, as the index keeps it: metadata only, never contents.
//! An index holds one entry per path of the image, so an entry is kept small: what only some
//! files have (extended attributes, ELF facts, a `#!` line, a captured content, content readers'
//! facts) lives behind one optional box, and the kinds with a target hold it as a boxed str.

use super::elf::ElfInfo;
use super::facts::Facts;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Kind {
    File,
    Dir,
    Symlink {
        target: Box<str>,
    },
    /// A hard link to `target` (an absolute, normalized path) *in the same layer*: the content is that
    /// layer's file, even if a later layer replaced the path `target`.
    Hardlink {
        target: Box<str>,
    },
    Char {
        major: u32,
        minor: u32,
    },
    Block {
        major: u32,
        minor: u32,
    },
    Fifo,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    pub mode: u32,
    /// Index of the layer (bottom = 0) this entry comes from.
    pub layer: u16,
    /// The image's lazy readers (bit i: its i-th reader) that want this file and read it only
    /// when asked ([`super::facts::FactSource`]).
    pub lazy: u16,
    pub uid: u64,
    pub gid: u64,
    /// Content size. For a hard link: the size of the file it links to.
    pub size: u64,
    pub mtime: u64,
    /// Where the content is in the image's stored file ([`crate::image::Store::File`]), when
    /// the layer is stored uncompressed. For a hard link: its target's.
    pub stored_at: Option<u64>,
    /// What few entries have.
    pub(super) extra: Option<Box<Extra>>,
}

/// The parts of an entry that only some files have.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extra {
    /// Extended attributes (e.g. `security.capability`), sorted by name.
    pub xattrs: Vec<(String, Vec<u8>)>,
    pub elf: Option<ElfInfo>,
    /// The `#!` line of a script, without the `#!`.
    pub shebang: Option<Box<str>>,
    /// Contents of the few small files the select stage reads whole (ld.so configuration,
    /// package databases and manifests).
    pub captured: Option<Box<[u8]>>,
    /// What content readers found in the file (see [`super::facts`]).
    pub facts: Facts,
}

impl Extra {
    fn is_empty(&self) -> bool {
        self.xattrs.is_empty()
            && self.elf.is_none()
            && self.shebang.is_none()
            && self.captured.is_none()
            && self.facts.is_empty()
    }
}

impl Entry {
    pub fn is_dir(&self) -> bool {
        matches!(self.kind, Kind::Dir)
    }
    pub fn is_symlink(&self) -> bool {
        matches!(self.kind, Kind::Symlink { .. })
    }
    /// The layer this entry comes from, as an index into the image's layers.
    pub fn layer(&self) -> usize {
        usize::from(self.layer)
    }
    pub fn xattrs(&self) -> &[(String, Vec<u8>)] {
        self.extra.as_ref().map_or(&[], |x| &x.xattrs)
    }
    pub fn elf(&self) -> Option<&ElfInfo> {
        self.extra.as_ref()?.elf.as_ref()
    }
    pub fn shebang(&self) -> Option<&str> {
        self.extra.as_ref()?.shebang.as_deref()
    }
    pub fn captured(&self) -> Option<&[u8]> {
        self.extra.as_ref()?.captured.as_deref()
    }
    /// The facts the reader `name` found in this file, if it read it.
    pub fn facts_from(&self, name: &str) -> Option<&[String]> {
        self.extra.as_ref()?.facts.iter().find(|(n, _)| *n == name).map(|(_, f)| &f[..])
    }
    /// The rare parts, to fill in; dropped again by [`Entry::shrink`] when nothing was.
    pub fn extra_mut(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Default::default)
    }
    /// Drops an empty [`Extra`], so that an entry that got nothing rare keeps no box.
    pub fn shrink(&mut self) {
        if self.extra.as_ref().is_some_and(|x| x.is_empty()) {
            self.extra = None;
        }
    }
    /// Bytes this entry itself stores in its layer (a hard link stores none).
    pub fn stored_bytes(&self) -> u64 {
        match self.kind {
            Kind::File => self.size,
            _ => 0,
        }
    }
    /// Makes this hard link share what was read from its target's content (which is its own):
    /// its size, where it is stored, its ELF facts, `#!` line and readers' facts, and the
    /// inode's extended attributes unless the link carries its own.
    pub fn share_content_of(&mut self, target: &Entry) {
        self.size = target.size;
        self.stored_at = target.stored_at;
        self.lazy = target.lazy;
        let from = target.extra.as_deref().cloned().unwrap_or_default();
        let x = self.extra_mut();
        x.elf = from.elf;
        x.shebang = from.shebang;
        x.facts = from.facts;
        if x.xattrs.is_empty() {
            x.xattrs = from.xattrs;
        }
        self.shrink();
    }

    /// Where this entry's content lives: (layer, path of the regular file).
    pub fn content_source<'a>(&'a self, path: &'a str) -> Option<(usize, &'a str)> {
        match &self.kind {
            Kind::File => Some((self.layer(), path)),
            Kind::Hardlink { target } => Some((self.layer(), target)),
            _ => None,
        }
    }
    pub fn dir(mode: u32, layer: u16) -> Entry {
        Entry { mode, ..Entry::bare(Kind::Dir, layer) }
    }

    /// An entry of `kind` with zeroed metadata and nothing read from a content yet: the base the
    /// readers of layers fill in.
    pub fn bare(kind: Kind, layer: u16) -> Entry {
        Entry { kind, mode: 0, layer, lazy: 0, uid: 0, gid: 0, size: 0, mtime: 0, stored_at: None, extra: None }
    }
}

/// Turns a tar member name into an absolute, normalized image path (`./usr/bin/` → `/usr/bin`).
/// Returns `None` for a name that climbs out of the root with `..`: such names come only from
/// hostile or broken archives, and the caller rejects the archive.
pub fn normalize_member(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len() + 1);
    for comp in name.split('/') {
        match comp {
            "" | "." => {}
            ".." => return None,
            c => {
                out.push('/');
                out.push_str(c);
            }
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    Some(out)
}

/// The parent of a normalized absolute path (`/` is its own parent).
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// Joins a normalized directory and a single name.
pub fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names_normalize() {
        assert_eq!(normalize_member("./usr/bin/").as_deref(), Some("/usr/bin"));
        assert_eq!(normalize_member("etc//passwd").as_deref(), Some("/etc/passwd"));
        assert_eq!(normalize_member("./").as_deref(), Some("/"));
        assert_eq!(normalize_member("a/../../etc"), None);
        assert_eq!(normalize_member("../x"), None);
    }

    #[test]
    fn parents_and_joins() {
        assert_eq!(parent("/usr/bin"), "/usr");
        assert_eq!(parent("/usr"), "/");
        assert_eq!(parent("/"), "/");
        assert_eq!(join("/", "etc"), "/etc");
        assert_eq!(join("/etc", "passwd"), "/etc/passwd");
    }
}
