//! Where the dynamic loader finds a library, searched inside the image like ld.so would:
//! DT_RPATH (when there is no DT_RUNPATH), LD_LIBRARY_PATH, DT_RUNPATH, the directories of
//! /etc/ld.so.conf (what ld.so.cache is built from), then the default directories.
//! musl's loader reads /etc/ld-musl-ARCH.path instead; its directories are searched too.

use crate::image::index::elf::ElfInfo;
use crate::image::index::entry::parent;
use crate::image::index::resolve::{resolve, Resolved};
use crate::image::{FileIndex, Kind};

const DEFAULT_DIRS: &[&str] = &[
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/local/lib",
    "/usr/lib",
];

#[derive(Debug, Clone, Default)]
pub struct LibSearch {
    /// Directories from ld.so.conf / musl's path file, in order.
    pub conf_dirs: Vec<String>,
    pub ld_library_path: Vec<String>,
}

impl LibSearch {
    pub fn from_image(index: &FileIndex, ld_library_path: Option<&str>) -> LibSearch {
        let mut s = LibSearch {
            conf_dirs: Vec::new(),
            ld_library_path: ld_library_path
                .map(|p| p.split(':').filter(|d| !d.is_empty()).map(str::to_owned).collect())
                .unwrap_or_default(),
        };
        s.read_conf(index, "/etc/ld.so.conf", 0);
        for (path, e) in index.subtree("/etc") {
            if path.starts_with("/etc/ld-musl-") && path.ends_with(".path") {
                if let Some(text) = e.captured() {
                    let text = String::from_utf8_lossy(text);
                    s.conf_dirs.extend(
                        text.split([':', '\n']).map(str::trim).filter(|d| d.starts_with('/')).map(str::to_owned),
                    );
                }
            }
        }
        s
    }

    fn read_conf(&mut self, index: &FileIndex, path: &str, depth: u32) {
        if depth > 4 {
            return;
        }
        let Ok(r) = resolve(index, path, "/", true) else { return };
        let Some(text) = index.get(&r.path).and_then(|e| e.captured()) else { return };
        for line in String::from_utf8_lossy(text).lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            if let Some(pattern) = line.strip_prefix("include") {
                for pat in pattern.split_whitespace() {
                    for file in glob_files(index, pat) {
                        self.read_conf(index, &file, depth + 1);
                    }
                }
            } else if line.starts_with('/') {
                self.conf_dirs
                    .extend(line.split([' ', '\t', ':', ',']).filter(|d| d.starts_with('/')).map(str::to_owned));
            }
        }
    }

    /// Finds the library `soname` that `requester` (at canonical path `requester_path`) needs.
    pub fn find(&self, index: &FileIndex, soname: &str, requester: &ElfInfo, requester_path: &str) -> Option<Resolved> {
        if soname.contains('/') {
            return resolve(index, soname, parent(requester_path), true).ok();
        }
        let origin = parent(requester_path);
        let expand = |d: &String| d.replace("${ORIGIN}", origin).replace("$ORIGIN", origin);
        let rpath = if requester.runpath.is_empty() { requester.rpath.as_slice() } else { &[] };
        let dirs = rpath
            .iter()
            .map(expand)
            .chain(self.ld_library_path.iter().cloned())
            .chain(requester.runpath.iter().map(expand))
            .chain(self.conf_dirs.iter().cloned())
            .chain(DEFAULT_DIRS.iter().map(|d| (*d).to_owned()));
        for dir in dirs {
            let candidate = format!("{}/{}", dir.trim_end_matches('/'), soname);
            let Ok(r) = resolve(index, &candidate, "/", true) else { continue };
            let Some(entry) = index.get(&r.path) else { continue };
            if !matches!(entry.kind, Kind::File | Kind::Hardlink { .. }) {
                continue;
            }
            // ld.so skips libraries of the wrong class or machine and keeps searching.
            if entry.elf().is_some_and(|lib| requester.compatible(lib)) {
                return Some(r);
            }
        }
        None
    }
}

/// Files matching a glob whose only wildcard is `*` in the last component (`/etc/ld.so.conf.d/*.conf`).
fn glob_files(index: &FileIndex, pattern: &str) -> Vec<String> {
    let dir = parent(pattern);
    let name_pat = &pattern[dir.len()..].trim_start_matches('/');
    let Ok(r) = resolve(index, dir, "/", true) else { return Vec::new() };
    let (pre, post) = name_pat.split_once('*').unwrap_or((name_pat, ""));
    let exact = !name_pat.contains('*');
    let mut out: Vec<String> = index
        .subtree(&r.path)
        .filter(|(p, _)| parent(p) == r.path)
        .filter_map(|(p, _)| {
            let name = &p[r.path.len()..].trim_start_matches('/');
            let ok = if exact {
                *name == *name_pat
            } else {
                name.starts_with(pre) && name.ends_with(post) && name.len() >= pre.len() + post.len()
            };
            ok.then(|| p.to_owned())
        })
        .collect();
    out.sort();
    out
}
