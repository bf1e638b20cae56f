//! `slimctl diff A B`: the paths added, removed and changed from one image to another, and what
//! happened to A's packages.

use crate::image::Image;
use crate::select::packages::{compare, inventory};
pub use crate::select::packages::{tally, PackageChange};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct FileChange {
    pub path: String,
    pub bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct Diff {
    pub a: String,
    pub b: String,
    pub added: Vec<FileChange>,
    pub removed: Vec<FileChange>,
    pub changed: Vec<FileChange>,
    pub added_bytes: u64,
    pub removed_bytes: u64,
    pub packages: Vec<PackageChange>,
}

/// What changed from `a` to `b` (named `a_name`, `b_name`), largest first.
pub fn diff(a_name: &str, b_name: &str, a: &Image, b: &Image) -> Diff {
    let (mut added, mut removed, mut changed) = (Vec::new(), Vec::new(), Vec::new());
    for (path, ea) in a.index.iter() {
        match b.index.get(path) {
            None => removed.push(FileChange { path: path.to_owned(), bytes: ea.stored_bytes() }),
            Some(_) if path == "/" => {}
            Some(eb) => {
                if ea.kind != eb.kind
                    || ea.size != eb.size
                    || ea.mode != eb.mode
                    || ea.uid != eb.uid
                    || ea.gid != eb.gid
                {
                    changed.push(FileChange { path: path.to_owned(), bytes: eb.stored_bytes() });
                }
            }
        }
    }
    for (path, eb) in b.index.iter() {
        if a.index.get(path).is_none() {
            added.push(FileChange { path: path.to_owned(), bytes: eb.stored_bytes() });
        }
    }
    let by_size = |v: &mut Vec<FileChange>| v.sort_by(|x, y| y.bytes.cmp(&x.bytes).then(x.path.cmp(&y.path)));
    by_size(&mut added);
    by_size(&mut removed);
    by_size(&mut changed);
    Diff {
        a: a_name.to_owned(),
        b: b_name.to_owned(),
        added_bytes: added.iter().map(|f| f.bytes).sum(),
        removed_bytes: removed.iter().map(|f| f.bytes).sum(),
        added,
        removed,
        changed,
        packages: compare(&inventory(&a.index), |p| b.index.get(p).is_some()),
    }
}
