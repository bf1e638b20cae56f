//! The index of an image's files: each layer read into a [`LayerIndex`] by one builder
//! ([`layer`]) that both scanners feed (a tar stream: [`tar`]; a directory in the engine's
//! storage: [`dir`]), with what the select stage needs of contents ([`elf`], [`facts`]); then
//! the layers stacked bottom to top with whiteouts and opaque directories applied, as the
//! container will see it ([`FileIndex`]), and paths resolved inside it ([`resolve`]).

pub mod dir;
pub mod elf;
pub mod entry;
pub mod facts;
pub mod layer;
pub mod resolve;
pub mod tar;

use entry::{parent, Entry};
use layer::LayerIndex;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, RandomState};
use std::ops::Bound;

/// One entry per path: the keys are boxed (no spare capacity) and the entries compact (see
/// [`entry`]), since an image may hold a million paths.
#[derive(Debug, Default, Clone)]
pub struct FileIndex {
    entries: BTreeMap<Box<str>, Entry>,
}

/// What one layer did to the filesystem below it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct LayerChanges {
    pub added: u64,
    pub modified: u64,
    pub removed: u64,
}

/// Accounting of bytes that lower layers store but the final image cannot see, as dive defines it:
/// every path that appears in more than one layer (a later copy, or a whiteout) is an
/// inefficiency, and all of its copies' bytes count as wasted.
#[derive(Debug, Default)]
pub struct WasteTracker {
    /// By a 128-bit hash of the path, with keys drawn at random for this run (so an image cannot
    /// be made to collide): most paths appear once, and a copy of every path would cost as much
    /// as the index's own.
    paths: HashMap<u128, PathWaste>,
    /// The names of the paths seen twice or more, the only ones reported by name.
    names: HashMap<u128, Box<str>>,
    keys: (RandomState, RandomState),
}

#[derive(Debug, Clone, Copy)]
struct PathWaste {
    appearances: u32,
    cumulative: u64,
    min: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Inefficiency {
    pub path: String,
    pub appearances: u32,
    pub cumulative_bytes: u64,
}

impl WasteTracker {
    fn key(&self, path: &str) -> u128 {
        (u128::from(self.keys.0.hash_one(path)) << 64) | u128::from(self.keys.1.hash_one(path))
    }

    fn seen(&self, path: &str) -> bool {
        self.paths.contains_key(&self.key(path))
    }

    fn record(&mut self, path: &str, size: u64) {
        let key = self.key(path);
        let w = self.paths.entry(key).or_insert(PathWaste { appearances: 0, cumulative: 0, min: u64::MAX });
        w.appearances += 1;
        w.cumulative += size;
        w.min = w.min.min(size);
        if w.appearances == 2 {
            self.names.insert(key, path.into());
        }
    }

    /// Paths seen in two or more layers, largest waste first.
    pub fn inefficiencies(&self) -> Vec<Inefficiency> {
        let mut v: Vec<_> = self
            .paths
            .iter()
            .filter(|(_, w)| w.appearances > 1 && w.cumulative > 0)
            .map(|(k, w)| Inefficiency {
                path: self.names.get(k).map(|n| n.to_string()).unwrap_or_default(),
                appearances: w.appearances,
                cumulative_bytes: w.cumulative,
            })
            .collect();
        v.sort_by(|a, b| b.cumulative_bytes.cmp(&a.cumulative_bytes).then_with(|| a.path.cmp(&b.path)));
        v
    }

    /// The sum over [`Self::inefficiencies`], without building and sorting that list.
    pub fn wasted_bytes(&self) -> u64 {
        self.paths.values().filter(|w| w.appearances > 1).map(|w| w.cumulative).sum()
    }

    /// dive's efficiency score: the bytes each path needs at least once, over all bytes stored.
    pub fn efficiency(&self) -> f64 {
        let (min, all) = self.paths.values().fold((0u64, 0u64), |(m, a), w| (m + w.min, a + w.cumulative));
        if all == 0 {
            1.0
        } else {
            min as f64 / all as f64
        }
    }
}

/// The lexicographic range of every path strictly below `dir`.
fn below(dir: &str) -> (Bound<String>, Bound<String>) {
    if dir == "/" {
        (Bound::Excluded("/".to_owned()), Bound::Unbounded)
    } else {
        // '0' is the byte after '/', so "dir0" bounds every "dir/..." key.
        (Bound::Excluded(format!("{dir}/")), Bound::Excluded(format!("{dir}0")))
    }
}

impl FileIndex {
    pub fn new() -> FileIndex {
        let mut entries = BTreeMap::new();
        entries.insert("/".into(), Entry::dir(0o755, 0));
        FileIndex { entries }
    }

    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.entries.get(path)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.entries.iter().map(|(p, e)| (&**p, e))
    }

    /// Every entry strictly below `dir`, in path order.
    pub fn subtree<'a>(&'a self, dir: &str) -> impl Iterator<Item = (&'a str, &'a Entry)> + 'a {
        let (lo, hi) = below(dir);
        self.entries
            .range::<str, _>((lo.as_ref().map(String::as_str), hi.as_ref().map(String::as_str)))
            .map(|(p, e)| (&**p, e))
    }

    /// Every entry whose path starts with `prefix`, in path order.
    pub fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a Entry)> + 'a {
        self.entries
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .map(|(p, e)| (&**p, e))
            .take_while(move |(p, _)| p.starts_with(prefix))
    }

    /// Bytes visible in the merged filesystem (regular files; hard links counted once).
    pub fn visible_bytes(&self) -> u64 {
        self.entries.values().map(Entry::stored_bytes).sum()
    }

    fn remove_subtree(&mut self, dir: &str, mut on_removed: impl FnMut(&str, &Entry)) -> u64 {
        let doomed: Vec<Box<str>> = self.subtree(dir).map(|(p, _)| p.into()).collect();
        for p in &doomed {
            if let Some(e) = self.entries.remove(p) {
                on_removed(p, &e);
            }
        }
        doomed.len() as u64
    }

    /// Stacks `layer` on top. Per the OCI layer spec, whiteouts and opaque markers hide only what
    /// lower layers hold, whatever their position in the layer's own archive.
    pub fn apply_layer(&mut self, layer: LayerIndex, mut waste: Option<&mut WasteTracker>) -> LayerChanges {
        let mut changes = LayerChanges::default();

        for dir in &layer.opaques {
            changes.removed += self.remove_subtree(dir, |p, e| {
                if let Some(w) = waste.as_deref_mut() {
                    w.record(p, e.stored_bytes());
                }
            });
        }
        for path in &layer.whiteouts {
            let Some(old) = self.entries.remove(path.as_str()) else { continue };
            let mut size = old.stored_bytes();
            if old.is_dir() {
                changes.removed += self.remove_subtree(path, |_, e| size += e.stored_bytes());
            }
            changes.removed += 1;
            if let Some(w) = waste.as_deref_mut() {
                // A directory that no lower layer declared (only implied by its files) still
                // appeared below: the whiteout is its second appearance.
                if !w.seen(path) {
                    w.record(path, 0);
                }
                w.record(path, size);
            }
        }

        for (path, entry) in layer.entries {
            if let Some(w) = waste.as_deref_mut() {
                w.record(&path, entry.stored_bytes());
            }
            self.ensure_parents(&path, entry.layer);
            match self.entries.get(&*path).map(Entry::is_dir) {
                Some(was_dir) => {
                    // A directory keeps its children only if it stays a directory.
                    if was_dir && !entry.is_dir() {
                        changes.removed += self.remove_subtree(&path, |_, _| {});
                    }
                    // Re-declaring a directory (new mode, or a file added inside) leaves it as it was.
                    if !(was_dir && entry.is_dir()) {
                        changes.modified += 1;
                    }
                }
                None => changes.added += 1,
            }
            self.entries.insert(path, entry);
        }
        changes
    }

    /// Rebuilds the map with full nodes. Layers list their paths in order, mostly, and a B-tree
    /// filled in order leaves each node about half empty: measured on 400k paths, 190 bytes a
    /// path where 105 suffice.
    pub fn compact(&mut self) {
        self.entries = std::mem::take(&mut self.entries).into_iter().collect();
    }

    /// Archives may omit the directories leading to a file; the runtime creates them, so must we.
    fn ensure_parents(&mut self, path: &str, layer: u16) {
        let mut p = parent(path);
        let mut missing = Vec::new();
        while p != "/" && !self.entries.get(p).is_some_and(Entry::is_dir) {
            missing.push(p.to_owned());
            p = parent(p);
        }
        for m in missing {
            self.entries.insert(m.into(), Entry::dir(0o755, layer));
        }
    }

    #[cfg(test)]
    pub fn insert_for_test(&mut self, path: &str, entry: Entry) {
        self.ensure_parents(path, entry.layer);
        self.entries.insert(path.into(), entry);
    }
}

#[cfg(test)]
mod tests {
    use super::tar::{scan_layer, tests::layer_tar};
    use super::*;

    fn stack(layers: &[Vec<u8>]) -> (FileIndex, WasteTracker, Vec<LayerChanges>) {
        let mut idx = FileIndex::new();
        let mut waste = WasteTracker::default();
        let mut changes = Vec::new();
        for (i, l) in layers.iter().enumerate() {
            let li = scan_layer(&l[..], i as u16, "t", &[]).unwrap();
            changes.push(idx.apply_layer(li, Some(&mut waste)));
        }
        (idx, waste, changes)
    }

    #[test]
    fn whiteout_removes_file_and_counts_as_waste() {
        let big = "x".repeat(1000);
        let (idx, waste, changes) = stack(&[
            layer_tar(&[("data/", 'd', ""), ("data/big", 'f', &big), ("data/keep", 'f', "k")]),
            layer_tar(&[("data/.wh.big", 'f', "")]),
        ]);
        assert!(idx.get("/data/big").is_none());
        assert!(idx.get("/data/keep").is_some());
        assert_eq!(changes[1].removed, 1);
        // dive: the file (1000) plus its whiteout (sized as what it hides, 1000).
        assert_eq!(waste.wasted_bytes(), 2000);
        let ineff = waste.inefficiencies();
        assert_eq!(ineff[0].path, "/data/big");
        // Needed at least once: min(1000, 1000) + 1 ("keep"); stored in all: 2000 + 1.
        assert!((waste.efficiency() - 1001.0 / 2001.0).abs() < 1e-9);
    }

    #[test]
    fn whiteout_of_directory_removes_subtree() {
        let (idx, waste, _) = stack(&[
            layer_tar(&[("opt/app/a", 'f', "aaaa"), ("opt/app/sub/b", 'f', "bb"), ("opt/other", 'f', "o")]),
            layer_tar(&[("opt/.wh.app", 'f', "")]),
        ]);
        assert!(idx.get("/opt/app").is_none());
        assert!(idx.get("/opt/app/sub/b").is_none());
        assert!(idx.get("/opt/other").is_some());
        assert_eq!(waste.inefficiencies()[0].cumulative_bytes, 6);
    }

    #[test]
    fn opaque_dir_hides_lower_children_but_not_its_own() {
        let (idx, _, _) = stack(&[
            layer_tar(&[("var/cache/old", 'f', "1"), ("var/cache/sub/x", 'f', "2")]),
            // The marker comes after the new file: order inside the layer must not matter.
            layer_tar(&[("var/cache/new", 'f', "3"), ("var/cache/.wh..wh..opq", 'f', "")]),
        ]);
        assert!(idx.get("/var/cache").is_some());
        assert!(idx.get("/var/cache/new").is_some());
        assert!(idx.get("/var/cache/old").is_none());
        assert!(idx.get("/var/cache/sub").is_none());
    }

    #[test]
    fn overwrite_is_modification_and_waste() {
        let (idx, waste, changes) = stack(&[
            layer_tar(&[("etc/conf", 'f', "one")]),
            layer_tar(&[("etc/", 'd', ""), ("etc/conf", 'f', "three")]),
        ]);
        assert_eq!(idx.get("/etc/conf").unwrap().size, 5);
        assert_eq!(idx.get("/etc/conf").unwrap().layer, 1);
        assert_eq!(changes[1].modified, 1);
        assert_eq!(changes[1].added, 0);
        assert_eq!(waste.wasted_bytes(), 8);
    }

    #[test]
    fn file_replacing_directory_drops_its_children() {
        let (idx, _, _) = stack(&[layer_tar(&[("srv/x/y", 'f', "1")]), layer_tar(&[("srv/x", 'f', "now a file")])]);
        assert!(!idx.get("/srv/x").unwrap().is_dir());
        assert!(idx.get("/srv/x/y").is_none());
    }

    #[test]
    fn missing_parents_are_synthesized() {
        let (idx, _, _) = stack(&[layer_tar(&[("a/b/c", 'f', "1")])]);
        assert!(idx.get("/a").unwrap().is_dir());
        assert!(idx.get("/a/b").unwrap().is_dir());
    }

    #[test]
    fn subtree_is_exact() {
        let (idx, _, _) = stack(&[layer_tar(&[("ab/x", 'f', "1"), ("a/y", 'f', "2"), ("a-z/w", 'f', "3")])]);
        let under: Vec<_> = idx.subtree("/a").map(|(p, _)| p).collect();
        assert_eq!(under, ["/a/y"]);
    }
}
