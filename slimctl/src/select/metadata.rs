//! Package metadata that stays true in the slim image: scanners (Syft, Trivy, Grype) read the
//! distribution's release file and the package databases, and list every package a database
//! names with the files it names. So the release files are always kept; each package database
//! keeps the records of the packages that still have a file, their file lists trimmed to the
//! files kept; the records of packages gone entirely go with them.

use super::keep::{KeepSet, Reason};
use super::packages::{self, md5sums_paths, Package, PackageChange, APK_INSTALLED, DPKG_INFO, DPKG_STATUS};
use crate::image::index::resolve::resolve;
use crate::image::FileIndex;
use std::collections::{BTreeMap, HashSet};

/// What says which distribution (and release) an image is.
const RELEASE_FILES: &[&str] = &[
    "/etc/os-release",
    "/usr/lib/os-release",
    "/etc/debian_version",
    "/etc/alpine-release",
    "/etc/redhat-release",
    "/etc/system-release",
    "/etc/lsb-release",
];

/// Keeps the release files `index` has, with the symlinks on their way.
pub fn keep_release_files(index: &FileIndex, keep: &mut KeepSet) {
    for path in RELEASE_FILES {
        if let Ok(r) = resolve(index, path, "/", true) {
            for link in &r.symlinks {
                keep.keep_with_parents(link, Reason::PackageMetadata);
            }
            keep.keep_with_parents(&r.path, Reason::PackageMetadata);
        }
    }
}

/// The metadata records of the packages `changes` says keep a file, kept, and the files that
/// list files rewritten (into `overrides`) to list only what `keep` holds.
pub fn keep_package_records(
    index: &FileIndex,
    inventory: &[Package],
    changes: &[PackageChange],
    keep: &mut KeepSet,
    overrides: &mut BTreeMap<String, Vec<u8>>,
) {
    let kept: HashSet<(&str, &str)> =
        changes.iter().filter(|c| c.status != "removed").map(|c| (c.manager, c.name.as_str())).collect();
    let kept_packages: Vec<&Package> =
        inventory.iter().filter(|p| kept.contains(&(p.manager, p.name.as_str()))).collect();
    // Records first: a file list names its own record files (a RECORD lists METADATA), and the
    // trimmed lists are read against the keep-set with them in it.
    let mut lists: Vec<(String, ListKind)> = Vec::new();
    for p in &kept_packages {
        for (path, kind) in record_files(index, p) {
            if index.get(&path).is_some_and(|e| !e.is_dir()) {
                keep.keep_with_parents(&path, Reason::PackageMetadata);
                if kind != ListKind::Whole {
                    lists.push((path, kind));
                }
            }
        }
    }
    for (path, kind) in lists {
        if let Some(text) = index.get(&path).and_then(|e| e.captured()) {
            let text = String::from_utf8_lossy(text);
            overrides.insert(path.clone(), trim_list(index, keep, &path, &text, kind).into_bytes());
        }
    }
    let held = std::cell::RefCell::new(&mut *keep);
    let status = packages::rewrite_dpkg_status(
        index,
        |name| kept.contains(&("dpkg", name)),
        |p| holds(index, &mut held.borrow_mut(), p),
    );
    if let Some(status) = status {
        if index.get(DPKG_STATUS).is_some_and(|e| !e.is_dir() && !e.is_symlink()) {
            keep.keep_with_parents(DPKG_STATUS, Reason::PackageMetadata);
            overrides.insert(DPKG_STATUS.to_owned(), status);
        }
    }
    let apk_db = resolve(index, APK_INSTALLED, "/", true).ok();
    if let Some((r, db)) = apk_db.as_ref().and_then(|r| Some((r, index.get(&r.path)?.captured()?))) {
        let db = String::from_utf8_lossy(db);
        for link in &r.symlinks {
            keep.keep_with_parents(link, Reason::PackageMetadata);
        }
        keep.keep_with_parents(&r.path, Reason::PackageMetadata);
        overrides.insert(r.path.clone(), rewrite_apk(index, keep, &db, &kept).into_bytes());
    }
}

/// How a record file lists files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListKind {
    /// Kept as it is (it lists no files).
    Whole,
    /// One absolute path a line (dpkg's `.list`, `.conffiles`: the path is the first word).
    Paths,
    /// `HASH  relative/path` (dpkg's md5sums).
    Md5sums,
    /// Python's RECORD: `relative/path,hash,size`, relative to the site directory.
    Record,
    /// setuptools' installed-files.txt: paths relative to the egg-info directory.
    EggFiles,
}

/// The files of `p`'s record that a scanner reads.
fn record_files(index: &FileIndex, p: &Package) -> Vec<(String, ListKind)> {
    match p.manager {
        "dpkg" if p.record == DPKG_STATUS => {
            let names = [p.name.clone(), format!("{}:{}", p.name, p.arch)];
            let mut out = Vec::new();
            for (ext, kind) in
                [("list", ListKind::Paths), ("md5sums", ListKind::Md5sums), ("conffiles", ListKind::Paths)]
            {
                if let Some(path) =
                    names.iter().map(|n| format!("{DPKG_INFO}{n}.{ext}")).find(|f| index.get(f).is_some())
                {
                    out.push((path, kind));
                }
            }
            out
        }
        "dpkg" => vec![(p.record.clone(), ListKind::Whole), (format!("{}.md5sums", p.record), ListKind::Md5sums)],
        "python" if p.record.ends_with(".dist-info") => vec![
            (format!("{}/METADATA", p.record), ListKind::Whole),
            (format!("{}/top_level.txt", p.record), ListKind::Whole),
            (format!("{}/RECORD", p.record), ListKind::Record),
        ],
        "python" if index.get(&p.record).is_some_and(|e| e.is_dir()) => vec![
            (format!("{}/PKG-INFO", p.record), ListKind::Whole),
            (format!("{}/top_level.txt", p.record), ListKind::Whole),
            (format!("{}/installed-files.txt", p.record), ListKind::EggFiles),
        ],
        "python" | "node" | "gem" => vec![(p.record.clone(), ListKind::Whole)],
        _ => Vec::new(),
    }
}

/// Whether the slim image holds `path` as listed (a symlink listed is the link itself). The
/// symlinks on the way are kept with it: a package lists `/bin/dash` where the image has
/// `/usr/bin/dash` behind the `/bin` link, and a scanner looks the listed path up.
fn holds(index: &FileIndex, keep: &mut KeepSet, path: &str) -> bool {
    match resolve(index, path, "/", false) {
        Ok(r) if r.path == "/" => true,
        Ok(r) if keep.contains(&r.path) => {
            for link in &r.symlinks {
                keep.keep_with_parents(link, Reason::PackageMetadata);
            }
            true
        }
        _ => false,
    }
}

/// `text` (the file list at `path`) with only the lines naming what the slim image holds.
fn trim_list(index: &FileIndex, keep: &mut KeepSet, path: &str, text: &str, kind: ListKind) -> String {
    let dir = crate::image::index::entry::parent(path);
    let site = crate::image::index::entry::parent(dir);
    let named = |line: &str| -> Option<String> {
        match kind {
            ListKind::Whole => None,
            ListKind::Paths => line.split_whitespace().next().map(str::to_owned),
            ListKind::Md5sums => md5sums_paths(line).next().map(|p| format!("/{p}")),
            ListKind::Record => line.split(',').next().map(|rel| packages::normal_join(site, rel)),
            ListKind::EggFiles => Some(packages::normal_join(dir, line.trim())),
        }
    };
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    // Twice: a listed link (`/bin`) is held once a later line (`/bin/ls`) has kept it.
    for line in &lines {
        named(line).map(|p| holds(index, keep, &p));
    }
    let mut out = String::with_capacity(text.len());
    for line in lines {
        if named(line).is_some_and(|p| holds(index, keep, &p)) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Alpine's installed database with the blocks of kept packages only, each listing only the
/// directories (`F:`) and files (`R:`) the slim image holds, with the lines that describe them.
fn rewrite_apk(index: &FileIndex, keep: &mut KeepSet, db: &str, kept: &HashSet<(&str, &str)>) -> String {
    let mut blocks = Vec::new();
    for block in db.split("\n\n").map(|b| b.trim_matches('\n')).filter(|b| !b.is_empty()) {
        let name = block.lines().find_map(|l| l.strip_prefix("P:")).unwrap_or_default();
        if !kept.contains(&("apk", name)) {
            continue;
        }
        let (mut out, mut dir, mut on) = (String::new(), String::new(), true);
        for line in block.lines() {
            if let Some(d) = line.strip_prefix("F:") {
                dir = d.to_owned();
                on = holds(index, keep, &format!("/{d}"));
            } else if let Some(f) = line.strip_prefix("R:") {
                on = holds(index, keep, &format!("/{dir}/{f}"));
            }
            if on {
                out.push_str(line);
                out.push('\n');
            }
        }
        blocks.push(out);
    }
    blocks.join("\n") + if blocks.is_empty() { "" } else { "\n" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::select::packages::tests::index;
    use crate::select::packages::{compare, inventory};

    fn run(idx: &FileIndex, kept: &[&str]) -> (KeepSet, BTreeMap<String, Vec<u8>>) {
        let mut keep = KeepSet::default();
        for k in kept {
            keep.keep_with_parents(k, Reason::WorkingDir);
        }
        keep_release_files(idx, &mut keep);
        let inv = inventory(idx);
        let changes = compare(&inv, |p| keep.contains(p));
        let mut overrides = BTreeMap::new();
        keep_package_records(idx, &inv, &changes, &mut keep, &mut overrides);
        (keep, overrides)
    }

    fn text(o: &BTreeMap<String, Vec<u8>>, p: &str) -> String {
        String::from_utf8(o.get(p).unwrap_or_else(|| panic!("{p} not rewritten")).clone()).unwrap()
    }

    #[test]
    fn dpkg_records_are_trimmed_to_the_kept_files_and_gone_with_their_package() {
        let status = "Package: coreutils\nStatus: install ok installed\nArchitecture: amd64\nVersion: 9.1\n\
                      Conffiles:\n /etc/x.conf 0a\n /etc/gone.conf 0b\nDescription: tools\n\n\
                      Package: gawk\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2\n";
        let idx = index(
            &[
                ("usr/lib/os-release", "ID=debian\nVERSION_ID=\"12\"\n"),
                ("etc/debian_version", "12.8\n"),
                ("var/lib/dpkg/status", status),
                ("var/lib/dpkg/info/coreutils.list", "/.\n/bin\n/bin/ls\n/bin/cat\n/etc/x.conf\n"),
                ("var/lib/dpkg/info/coreutils.md5sums", "aa  bin/ls\nbb  bin/cat\n"),
                ("var/lib/dpkg/info/coreutils.conffiles", "/etc/x.conf\n"),
                ("var/lib/dpkg/info/coreutils.postinst", "#!/bin/sh\n"),
                ("var/lib/dpkg/info/gawk:amd64.list", "/usr/bin/gawk\n"),
                ("var/lib/dpkg/info/gawk:amd64.md5sums", "cc  usr/bin/gawk\n"),
                ("usr/bin/ls", "x"),
                ("usr/bin/cat", "x"),
                ("usr/bin/gawk", "x"),
                ("etc/x.conf", "x"),
            ],
            &[("bin", "usr/bin"), ("etc/os-release", "../usr/lib/os-release")],
        );
        let (keep, o) = run(&idx, &["/usr/bin/ls"]);
        for p in ["/etc/os-release", "/usr/lib/os-release", "/etc/debian_version", "/var/lib/dpkg/status"] {
            assert!(keep.contains(p), "{p} not kept");
        }
        assert_eq!(
            text(&o, "/var/lib/dpkg/info/coreutils.list"),
            "/.\n/bin\n/bin/ls\n",
            "/bin/ls is listed, so the /bin link stays for it"
        );
        assert!(keep.contains("/bin"));
        assert_eq!(text(&o, "/var/lib/dpkg/info/coreutils.md5sums"), "aa  bin/ls\n");
        assert_eq!(text(&o, "/var/lib/dpkg/info/coreutils.conffiles"), "");
        assert!(!keep.contains("/var/lib/dpkg/info/coreutils.postinst"), "maintainer scripts are no metadata");
        assert!(!keep.contains("/var/lib/dpkg/info/gawk:amd64.list"), "a removed package's records go");
        assert!(!text(&o, "/var/lib/dpkg/status").contains("gawk"));
        assert!(
            text(&o, "/var/lib/dpkg/status").contains("Version: 9.1\nDescription: tools\n"),
            "conffiles not kept leave the status too"
        );
        assert_eq!(keep.paths["/var/lib/dpkg/info/coreutils.md5sums"].reasons[0].category(), "package-metadata");
    }

    #[test]
    fn distroless_apk_python_and_egg_info_records() {
        let apk = "P:musl\nV:1.2\nA:x86_64\nF:lib\nR:ld-musl.so.1\nZ:Q1a\nR:libc.so\nZ:Q1b\n\n\
                   P:curl\nV:8\nF:usr/bin\nR:curl\n";
        let idx = index(
            &[
                ("var/lib/dpkg/status.d/base", "Package: base\nVersion: 1\n"),
                ("var/lib/dpkg/status.d/base.md5sums", "aa  etc/a\nbb  etc/b\n"),
                ("var/lib/dpkg/status.d/gone", "Package: gone\nVersion: 1\n"),
                ("var/lib/dpkg/status.d/gone.md5sums", "cc  etc/c\n"),
                ("etc/a", "x"),
                ("etc/b", "x"),
                ("etc/c", "x"),
                ("lib/apk/db/installed", apk),
                ("lib/ld-musl.so.1", "x"),
                ("lib/libc.so", "x"),
                ("usr/bin/curl", "x"),
                ("site/six-1.dist-info/METADATA", "Name: six\nVersion: 1\n"),
                (
                    "site/six-1.dist-info/RECORD",
                    "six.py,,\nsix_extra.py,,\nsix-1.dist-info/METADATA,,\nsix-1.dist-info/RECORD,,\n",
                ),
                ("site/six-1.dist-info/INSTALLER", "pip\n"),
                ("site/six.py", "x"),
                ("site/six_extra.py", "x"),
                ("site/hum-4.egg-info/PKG-INFO", "Name: hum\nVersion: 4\n"),
                ("site/hum-4.egg-info/installed-files.txt", "../hum/__init__.py\n../hum/extra.py\nPKG-INFO\n"),
                ("site/hum/__init__.py", "x"),
                ("site/hum/extra.py", "x"),
            ],
            &[],
        );
        let (keep, o) = run(&idx, &["/etc/a", "/lib/ld-musl.so.1", "/site/six.py", "/site/hum/__init__.py"]);
        assert!(keep.contains("/var/lib/dpkg/status.d/base"));
        assert!(!keep.contains("/var/lib/dpkg/status.d/gone"));
        assert_eq!(text(&o, "/var/lib/dpkg/status.d/base.md5sums"), "aa  etc/a\n");
        assert_eq!(
            text(&o, APK_INSTALLED),
            "P:musl\nV:1.2\nA:x86_64\nF:lib\nR:ld-musl.so.1\nZ:Q1a\n\n",
            "apk ends each block with a blank line"
        );
        assert_eq!(
            text(&o, "/site/six-1.dist-info/RECORD"),
            "six.py,,\nsix-1.dist-info/METADATA,,\nsix-1.dist-info/RECORD,,\n"
        );
        assert!(!keep.contains("/site/six-1.dist-info/INSTALLER"));
        assert_eq!(text(&o, "/site/hum-4.egg-info/installed-files.txt"), "../hum/__init__.py\nPKG-INFO\n");
    }
}
