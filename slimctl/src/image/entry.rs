//! One file of an image's filesystem, as the index keeps it: metadata only, never contents.

use super::facts::Facts;
use crate::select::elf::ElfInfo;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Kind {
    File,
    Dir,
    Symlink {
        target: String,
    },
    /// A hard link to `target` (an absolute, normalized path) *in the same layer*: the content is that
    /// layer's file, even if a later layer replaced the path `target`.
    Hardlink {
        target: String,
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub kind: Kind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Content size. For a hard link: the size of the file it links to.
    pub size: u64,
    pub mtime: u64,
    /// Extended attributes (e.g. `security.capability`), sorted by name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub xattrs: Vec<(String, Vec<u8>)>,
    /// Index of the layer (bottom = 0) this entry comes from.
    pub layer: usize,
    #[serde(skip)]
    pub elf: Option<Box<ElfInfo>>,
    /// The `#!` line of a script, without the `#!`.
    #[serde(skip)]
    pub shebang: Option<Box<str>>,
    /// Contents of the few small files the select stage reads whole (ld.so configuration,
    /// package databases and manifests).
    #[serde(skip)]
    pub captured: Option<Box<[u8]>>,
    /// What content readers found in the file (see [`super::facts`]).
    #[serde(skip)]
    pub facts: Facts,
    /// Where the content is in the image's stored file ([`super::Image::stored`]), when the
    /// layer is stored uncompressed. For a hard link: its target's.
    #[serde(skip)]
    pub stored_at: Option<u64>,
    /// The image's lazy readers (bit i: its i-th reader) that want this file and read it only
    /// when asked ([`super::facts::FactSource`]).
    #[serde(skip)]
    pub lazy: u16,
}

impl Entry {
    pub fn is_dir(&self) -> bool {
        matches!(self.kind, Kind::Dir)
    }
    /// The facts the reader `name` found in this file, if it read it.
    pub fn facts_from(&self, name: &str) -> Option<&[String]> {
        self.facts.iter().find(|(n, _)| *n == name).map(|(_, f)| &f[..])
    }
    pub fn is_symlink(&self) -> bool {
        matches!(self.kind, Kind::Symlink { .. })
    }
    /// Bytes this entry itself stores in its layer (a hard link stores none).
    pub fn stored_bytes(&self) -> u64 {
        match self.kind {
            Kind::File => self.size,
            _ => 0,
        }
    }
    /// Makes this hard link share what was read from its target's content (which is its own).
    pub fn share_content_of(&mut self, target: &Entry) {
        self.size = target.size;
        self.elf = target.elf.clone();
        self.shebang = target.shebang.clone();
        self.facts = target.facts.clone();
        self.stored_at = target.stored_at;
        self.lazy = target.lazy;
    }

    /// Where this entry's content lives: (layer, path of the regular file).
    pub fn content_source<'a>(&'a self, path: &'a str) -> Option<(usize, &'a str)> {
        match &self.kind {
            Kind::File => Some((self.layer, path)),
            Kind::Hardlink { target } => Some((self.layer, target.as_str())),
            _ => None,
        }
    }
    pub fn dir(mode: u32, layer: usize) -> Entry {
        Entry { mode, ..Entry::bare(Kind::Dir, layer) }
    }

    /// An entry of `kind` with zeroed metadata and nothing read from a content yet: the base the
    /// readers of layers fill in.
    pub fn bare(kind: Kind, layer: usize) -> Entry {
        Entry {
            kind,
            mode: 0,
            uid: 0,
            gid: 0,
            size: 0,
            mtime: 0,
            xattrs: Vec::new(),
            layer,
            elf: None,
            shebang: None,
            captured: None,
            facts: Facts::default(),
            stored_at: None,
            lazy: 0,
        }
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
