//! One layer's index, and the builder both layer scanners feed: a layer tar read as a stream
//! ([`super::tar`]) and a layer the engine keeps unpacked ([`super::dir`]) name the same things
//! (whiteouts, opaque directories, hard links, extended attributes, file contents), so what they
//! mean is decided here once.

use super::elf::{ElfInfo, MAGIC};
use super::entry::{join, parent, Entry, Kind};
use super::facts::{ContentReader, FactWorker, Facts, Readers, HEAD};
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::Arc;

pub const WHITEOUT_PREFIX: &str = ".wh.";
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// ELF files larger than this are indexed without dependency information (none exist in practice;
/// the bound keeps a hostile image from making us buffer gigabytes).
const ELF_READ_LIMIT: u64 = 1 << 30;

/// ELF files larger than this are parsed after the stream, where the image is stored, when it
/// is: reading a 90 MB libLLVM into memory to find its DT_NEEDED would set the peak memory.
const ELF_INLINE_LIMIT: u64 = 8 << 20;

#[derive(Debug, Default, Clone)]
pub struct LayerIndex {
    /// Entries in archive order.
    pub entries: Vec<(Box<str>, Entry)>,
    /// Paths deleted from lower layers (`.wh.NAME`).
    pub whiteouts: Vec<String>,
    /// Directories whose lower-layer contents are hidden (`.wh..wh..opq`).
    pub opaques: Vec<String>,
    /// Sum of regular-file sizes stored in this layer.
    pub bytes: u64,
    /// Hard links as (link, target) positions in `entries`: a link shares its target's facts,
    /// which may arrive after the scan ([`LayerIndex::complete`]).
    pub links: Vec<(usize, usize)>,
    /// Large ELF files (positions in `entries`) to parse where the image is stored.
    pub elf_later: Vec<usize>,
}

/// A member's metadata, as either scanner reads it.
#[derive(Debug, Default)]
pub struct Meta {
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    pub mtime: u64,
    /// Sorted by name.
    pub xattrs: Vec<(String, Vec<u8>)>,
}

/// Where a regular file's content can be read again, and who reads its facts.
pub struct Content<'w> {
    /// Its offset in the image's stored copy (a tar member stored as one run of bytes).
    pub stored_at: Option<u64>,
    /// Whether it can be read again later, where the image is stored: then lazy readers wait,
    /// and large ELF files are parsed there.
    pub random_access: bool,
    /// A thread that reads the facts beside the scan, and the layer's key for it.
    pub worker: Option<(&'w FactWorker, &'w str)>,
}

/// What reading a file's head decided.
pub enum Decided {
    Done,
    /// A large ELF file, to parse where the image is stored once the scan has passed.
    ElfLater,
}

pub struct LayerBuilder<'r> {
    layer: u16,
    readers: &'r Readers,
    out: LayerIndex,
    /// Hard links whose target is resolved at the end: (position of the link, target path).
    pending_links: Vec<(usize, Box<str>)>,
}

/// Contents kept in memory: what the closure and the package inventory read, with a size cap
/// per kind (package databases are larger than config files).
fn capture_limit(path: &str) -> Option<u64> {
    // `/lib` is a link to `usr/lib` on merged-/usr systems: a database written through it is there.
    if path == "/var/lib/dpkg/status" || path == "/lib/apk/db/installed" || path == "/usr/lib/apk/db/installed" {
        return Some(16 << 20);
    }
    if (path.starts_with("/var/lib/dpkg/info/")
        && (path.ends_with(".list") || path.ends_with(".md5sums") || path.ends_with(".conffiles")))
        || path.starts_with("/var/lib/dpkg/status.d/")
        || (path.contains(".dist-info/") && (path.ends_with("/RECORD") || path.ends_with("/METADATA")))
        || (path.contains(".egg-info") && is_egg_info_record(path))
    {
        return Some(4 << 20);
    }
    if path.contains("/specifications/") && path.ends_with(".gemspec") {
        return Some(256 * 1024);
    }
    wants_capture(path).then_some(64 * 1024)
}

/// setuptools' metadata: `X.egg-info` as a file, or its PKG-INFO and installed-files.txt.
fn is_egg_info_record(path: &str) -> bool {
    path.ends_with(".egg-info")
        || path.ends_with(".egg-info/PKG-INFO")
        || path.ends_with(".egg-info/installed-files.txt")
}

fn wants_capture(path: &str) -> bool {
    path.ends_with("/package.json")
        || path == "/etc/os-release"
        || path == "/usr/lib/os-release"
        || path == "/etc/ld.so.conf"
        || (path.starts_with("/etc/ld.so.conf.d/") && path.ends_with(".conf"))
        || (path.starts_with("/etc/ld-musl-") && path.ends_with(".path"))
}

/// The first line of `buf`, trimmed, if not empty (a `#!` line without its `#!`).
pub fn first_line(buf: &[u8]) -> Option<String> {
    let line = buf.split(|b| *b == b'\n').next()?;
    let line = String::from_utf8_lossy(line).trim().to_owned();
    (!line.is_empty()).then_some(line)
}

impl<'r> LayerBuilder<'r> {
    pub fn new(layer: u16, readers: &'r Readers) -> LayerBuilder<'r> {
        LayerBuilder { layer, readers, out: LayerIndex::default(), pending_links: Vec::new() }
    }

    /// Records `path` as a whiteout or an opaque marker when its name says it is one (`.wh.NAME`,
    /// `.wh..wh..opq`): both scanners see those as files. Returns whether it was one.
    pub fn marker(&mut self, path: &str) -> bool {
        let base = path.rsplit('/').next().unwrap_or("");
        if base == OPAQUE_MARKER {
            self.out.opaques.push(parent(path).to_owned());
        } else if let Some(hidden) = base.strip_prefix(WHITEOUT_PREFIX) {
            self.out.whiteouts.push(join(parent(path), hidden));
        } else {
            return false;
        }
        true
    }

    /// A path deleted from the layers below (overlayfs' 0:0 character device).
    pub fn whiteout(&mut self, path: String) {
        self.out.whiteouts.push(path);
    }

    /// A directory that hides what the layers below hold in it (overlayfs' opaque xattr).
    pub fn opaque(&mut self, dir: String) {
        self.out.opaques.push(dir);
    }

    fn entry(&self, kind: Kind, meta: Meta) -> Entry {
        let mut e = Entry {
            mode: meta.mode & 0o7777,
            uid: meta.uid,
            gid: meta.gid,
            size: meta.size,
            mtime: meta.mtime,
            ..Entry::bare(kind, self.layer)
        };
        if !meta.xattrs.is_empty() {
            e.extra_mut().xattrs = meta.xattrs;
        }
        e
    }

    fn push(&mut self, path: String, entry: Entry) -> usize {
        self.out.entries.push((path.into_boxed_str(), entry));
        self.out.entries.len() - 1
    }

    /// A member that is neither a regular file nor a hard link. A directory stores no bytes.
    pub fn other(&mut self, path: String, kind: Kind, mut meta: Meta) {
        if matches!(kind, Kind::Dir) {
            meta.size = 0;
        }
        let e = self.entry(kind, meta);
        self.push(path, e);
    }

    /// A hard link to `target` (an absolute, normalized path) in this layer: it shares its
    /// target's content, resolved once the layer is scanned.
    pub fn hardlink(&mut self, path: String, target: String, meta: Meta) {
        let e = self.entry(Kind::Hardlink { target: target.clone().into_boxed_str() }, meta);
        let at = self.push(path, e);
        self.pending_links.push((at, target.into_boxed_str()));
    }

    /// A regular file: what the select stage needs of its content is read from `content`
    /// (small files it captures whole, ELF headers, `#!` lines, what content readers want).
    pub fn file<R: Read>(
        &mut self,
        path: String,
        meta: Meta,
        content: &mut R,
        how: &Content<'_>,
    ) -> std::io::Result<Decided> {
        self.out.bytes += meta.size;
        let mut e = self.entry(Kind::File, meta);
        e.stored_at = how.stored_at;
        let (decided, facts) = read_content_facts(content, &path, &mut e, self.readers, how.random_access)?;
        let at = self.out.entries.len();
        if let Some((content, wanting)) = facts {
            let read = match how.worker {
                Some((w, key)) => w.submit(key, at, &path, content, wanting),
                None => Some(super::facts::read_all(&path, &content, &wanting)),
            };
            if let Some(facts) = read {
                e.extra_mut().facts = facts;
            }
        }
        e.shrink();
        self.push(path, e);
        if let Decided::ElfLater = decided {
            self.out.elf_later.push(at);
        }
        Ok(decided)
    }

    /// The ELF facts of the last file added, parsed now (a scanner that can map the file).
    pub fn set_last_elf(&mut self, elf: Option<ElfInfo>) {
        let Some((_, e)) = self.out.entries.last_mut() else { return };
        self.out.elf_later.pop();
        if let Some(elf) = elf {
            e.extra_mut().elf = Some(elf);
        }
    }

    /// The layer's index, its hard links resolved: each points at its target's position (the
    /// last entry of that path before the link) and shares what was read of its content. A link
    /// to a link points at the file. A link whose target the layer does not hold is an error
    /// naming both.
    pub fn finish(mut self) -> Result<LayerIndex, String> {
        let wanted: HashSet<&str> = self.pending_links.iter().map(|(_, t)| &**t).collect();
        let links: HashMap<usize, &str> = self.pending_links.iter().map(|(at, t)| (*at, &**t)).collect();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let mut resolved = Vec::with_capacity(links.len());
        for (i, (path, _)) in self.out.entries.iter().enumerate() {
            if let Some(target) = links.get(&i) {
                let pos = *seen
                    .get(target)
                    .ok_or_else(|| format!("{path}: hard link to {target}, which the layer does not hold"))?;
                resolved.push((i, pos));
            }
            if wanted.contains(&**path) {
                seen.insert(path, i);
            }
        }
        for &(link, target) in &resolved {
            let (src_path, src) = self.out.entries[target].clone();
            let e = &mut self.out.entries[link].1;
            e.share_content_of(&src);
            // A link to a link is a link to the file.
            let file = match &src.kind {
                Kind::Hardlink { target: deeper } => deeper.clone(),
                _ => src_path,
            };
            e.kind = Kind::Hardlink { target: file };
        }
        // Chains resolve to the first file: positions follow the same way.
        let mut by_link: HashMap<usize, usize> = HashMap::new();
        for (link, target) in resolved {
            let file = by_link.get(&target).copied().unwrap_or(target);
            by_link.insert(link, file);
            self.out.links.push((link, file));
        }
        Ok(self.out)
    }
}

/// Reads just enough of a regular file to learn what the select stage needs: small files it
/// reads whole, ELF headers, `#!` lines; returns the content when a reader asks for it.
/// `random_access`: the content can be read again later, where the image is stored.
#[allow(clippy::type_complexity)]
fn read_content_facts<R: Read>(
    r: &mut R,
    path: &str,
    entry: &mut Entry,
    readers: &Readers,
    random_access: bool,
) -> std::io::Result<(Decided, Option<(Vec<u8>, Vec<Arc<dyn ContentReader>>)>)> {
    if capture_limit(path).is_some_and(|limit| entry.size <= limit) {
        let mut buf = Vec::with_capacity(entry.size as usize);
        r.read_to_end(&mut buf)?;
        entry.extra_mut().captured = Some(buf.into_boxed_slice());
        return Ok((Decided::Done, None));
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
    let wanting = wanting_readers(readers, path, entry, head, random_access);
    if !elf && wanting.is_empty() {
        if let Some(line) = head.strip_prefix(b"#!").and_then(first_line) {
            entry.extra_mut().shebang = Some(line.into_boxed_str());
        }
        return Ok((Decided::Done, None));
    }
    if elf && wanting.is_empty() && entry.size > ELF_INLINE_LIMIT && random_access {
        return Ok((Decided::ElfLater, None));
    }
    let mut buf = Vec::with_capacity(entry.size as usize);
    buf.extend_from_slice(head);
    r.read_to_end(&mut buf)?;
    if elf {
        if let Some(info) = ElfInfo::parse(&buf) {
            entry.extra_mut().elf = Some(info);
        }
    } else if let Some(line) = buf.strip_prefix(b"#!").and_then(first_line) {
        entry.extra_mut().shebang = Some(line.into_boxed_str());
    }
    Ok((Decided::Done, (!wanting.is_empty()).then_some((buf, wanting))))
}

/// The readers that want the file now; those that read lazily and can read it later, where the
/// image is stored, are marked on the entry instead.
fn wanting_readers(
    readers: &Readers,
    path: &str,
    entry: &mut Entry,
    head: &[u8],
    random_access: bool,
) -> Vec<Arc<dyn ContentReader>> {
    let mut wanting = Vec::new();
    for (i, reader) in readers.iter().enumerate() {
        if !reader.wants(path, entry.size, head) {
            continue;
        }
        if reader.lazy() && random_access && i < 16 {
            entry.lazy |= 1 << i;
        } else {
            wanting.push(reader.clone());
        }
    }
    wanting
}

impl LayerIndex {
    /// Takes facts read by a worker and large ELF files parsed where the image is stored
    /// (`stored`: that file's bytes), then gives each hard link its target's.
    pub fn complete(&mut self, done: impl IntoIterator<Item = (usize, Facts)>, stored: Option<&[u8]>) {
        for (i, facts) in done {
            if let Some((_, e)) = self.entries.get_mut(i) {
                e.extra_mut().facts = facts;
                e.shrink();
            }
        }
        for &i in &self.elf_later {
            let e = &mut self.entries[i].1;
            let bytes = e.stored_at.and_then(|at| {
                let start = usize::try_from(at).ok()?;
                stored?.get(start..start.checked_add(usize::try_from(e.size).ok()?)?)
            });
            if let Some(elf) = bytes.and_then(ElfInfo::parse) {
                e.extra_mut().elf = Some(elf);
            }
        }
        for &(link, target) in &self.links {
            let src = self.entries[target].1.clone();
            self.entries[link].1.share_content_of(&src);
        }
    }

    /// Renumbers the entries once the layer's position in the image is known.
    pub fn set_layer(&mut self, layer: u16) {
        for (_, e) in &mut self.entries {
            e.layer = layer;
        }
    }
}
