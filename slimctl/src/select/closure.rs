//! The closure: from seed paths to everything they need to work, computed against the image's
//! index only. The core follows what the loader and the kernel follow (symlinks, parents, ELF
//! interpreter and libraries, `#!` interpreters, subtrees of includes); coverage rules
//! ([`super::rules`]) add what the app can reach by other means, through [`Cx`].

use super::keep::{KeepSet, Reason, Seed, Unresolved};
use super::ldso::LibSearch;
use super::packages::{Package, PackageChange};
use super::reached::Reached;
use super::rules::{self, Rule};
use crate::image::index::entry::{join, parent};
use crate::image::index::facts::FactSource;
use crate::image::index::resolve::{resolve, ResolveError, Resolved};
use crate::image::{Entry, FileIndex, ImageConfig, Kind};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// Facts as indexed, for closures built without a stored image.
static INDEXED_FACTS: std::sync::LazyLock<FactSource> = std::sync::LazyLock::new(FactSource::indexed);

#[derive(Debug, Default)]
pub struct Closure {
    pub keep: KeepSet,
    pub unresolved: Vec<Unresolved>,
    /// Optional seeds that are not image files (pseudo-files, volumes, runtime products).
    pub skipped: usize,
    /// Kept files written with new content (the rewritten package database).
    pub overrides: BTreeMap<String, Vec<u8>>,
    /// How much of each package of the image the keep-set holds (filled by [`super::select`]).
    pub packages: Vec<PackageChange>,
    /// What the coverage rules reached without the run loading it (a module found statically):
    /// what the sweep loads to check.
    pub reached: std::collections::BTreeSet<Reached>,
    /// Paths an `--exclude-glob` dropped, with the glob.
    pub excluded: BTreeMap<String, String>,
    /// Exclude globs no path of the image matches.
    pub unmatched_globs: Vec<String>,
}

struct Work {
    path: String,
    cwd: String,
    reason: Reason,
    /// A directory brings its whole subtree (an include, a rule's data set).
    subtree: bool,
    optional: bool,
}

/// A DT_NEEDED the loader's search path does not find: settled once the rest is known.
struct MissingLib {
    soname: String,
    requester: String,
}

/// The closure in progress, as coverage rules see it: the image, what is kept so far, and ways
/// to want more. What a rule wants is resolved, kept and followed like everything else.
pub struct Cx<'a> {
    index: &'a FileIndex,
    facts: &'a FactSource,
    config: &'a ImageConfig,
    libs: LibSearch,
    path_dirs: Vec<String>,
    excludes: Vec<String>,
    queue: VecDeque<Work>,
    /// The image's packages, for libraries a package loads by path first.
    packages: &'a [Package],
    missing_libs: Vec<MissingLib>,
    /// The files the traced run used (seeds, resolved): known before any rule looks, whatever
    /// order the work is done in.
    used_by_run: std::collections::HashSet<String>,
    out: Closure,
}

impl<'a> Cx<'a> {
    pub fn index(&self) -> &'a FileIndex {
        self.index
    }

    pub fn config(&self) -> &'a ImageConfig {
        self.config
    }

    /// What content reader `name` says of the file at `path` (read now if it waited).
    pub fn facts(&self, path: &str, entry: &Entry, name: &str) -> Option<Arc<[String]>> {
        self.facts.facts(path, entry, name)
    }

    /// [`Cx::facts`] of the file at `path` in the index.
    pub fn facts_at(&self, path: &str, name: &str) -> Option<Arc<[String]>> {
        self.facts.facts(path, self.index.get(path)?, name)
    }

    /// The image's packages (dpkg, apk, Python, Node) and their files.
    pub fn packages(&self) -> &'a [Package] {
        self.packages
    }

    /// What is kept so far.
    pub fn keep(&self) -> &KeepSet {
        &self.out.keep
    }

    /// Wants `path` (absolute, maybe through symlinks) kept: reported as unresolved when the image
    /// does not have it.
    pub fn want(&mut self, path: impl Into<String>, reason: Reason) {
        self.push(path.into(), "/", reason, false, false);
    }

    /// Wants `path` kept if the image has it; with `subtree`, a directory with all it holds.
    pub fn want_if_present(&mut self, path: impl Into<String>, reason: Reason, subtree: bool) {
        self.push(path.into(), "/", reason, subtree, true);
    }

    /// Whether the traced run used `path` (canonical): a rule tells what the app ran from what
    /// it only found by reading.
    pub fn used_by_run(&self, path: &str) -> bool {
        self.used_by_run.contains(path)
    }

    /// Records that a rule reached `item` without the run loading it: the sweep loads it.
    pub fn reach(&mut self, item: Reached) {
        self.out.reached.insert(item);
    }

    /// `path` resolved inside the image, following every symlink.
    pub fn resolve(&self, path: &str) -> Option<Resolved> {
        resolve(self.index, path, "/", true).ok()
    }

    /// The entry `path` leads to.
    pub fn entry(&self, path: &str) -> Option<&'a Entry> {
        self.resolve(path).and_then(|r| self.index.get(&r.path))
    }

    pub fn is_file(&self, path: &str) -> bool {
        self.entry(path).is_some_and(|e| !e.is_dir())
    }

    pub fn is_dir(&self, path: &str) -> bool {
        self.entry(path).is_some_and(|e| e.is_dir())
    }

    /// A program name as the runtime finds it: a path (relative to `workdir`) or a lookup
    /// through the image's PATH.
    pub fn find_program(&self, argv0: &str, workdir: &str) -> Option<String> {
        if argv0.contains('/') {
            return resolve(self.index, argv0, workdir, true).ok().map(|_| argv0.to_owned());
        }
        self.path_dirs.iter().map(|d| join(d.trim_end_matches('/'), argv0)).find(|cand| self.is_file(cand))
    }

    /// The image's PATH, for messages.
    pub fn path_dirs(&self) -> &[String] {
        &self.path_dirs
    }

    /// The library `soname` as the dynamic loader would find it for the ELF file at `requester`.
    pub fn find_library(&self, soname: &str, requester: &str) -> Option<Resolved> {
        let elf = self.index.get(requester)?.elf()?;
        self.libs.find(self.index, soname, elf, requester)
    }

    fn push(&mut self, path: String, cwd: &str, reason: Reason, subtree: bool, optional: bool) {
        // A file followed already (a canonical path, since only those are examined) would only
        // gain the reason: give it now rather than queue the work. The modules of an included
        // tree import the same few modules; queued, their wants grew with the tree.
        if !subtree && self.out.keep.examined(&path) && self.index.get(&path).is_some_and(|e| !e.is_symlink()) {
            self.out.keep.add(&path, reason);
            return;
        }
        self.queue.push_back(Work { path, cwd: cwd.to_owned(), reason, subtree, optional });
    }

    fn excluded(&self, path: &str) -> bool {
        covering_exclude(path, &self.excludes).is_some()
    }

    /// Whether `path` stays out for `reason`: an exclude wins over everything but healing (a
    /// verify round proved the slim image needs that very file).
    fn kept_out(&self, path: &str, reason: &Reason) -> bool {
        path != "/" && !matches!(reason, Reason::Healed { .. }) && self.excluded(path)
    }

    /// Marks a canonical path kept, with its parents. Returns whether it was new.
    fn mark(&mut self, path: &str, reason: Reason) -> bool {
        if self.kept_out(path, &reason) {
            return false;
        }
        self.out.keep.keep_with_parents(path, reason)
    }
}

/// The first of `excludes` (as `--exclude` takes them: a trailing `/` or none) that drops
/// `path`: the path itself or a directory above it.
pub fn covering_exclude<'e>(path: &str, excludes: &'e [String]) -> Option<&'e String> {
    excludes.iter().find(|ex| {
        let ex = ex.trim_end_matches('/');
        ex.is_empty() || path == ex || path.strip_prefix(ex).is_some_and(|rest| rest.starts_with('/'))
    })
}

pub struct ClosureBuilder<'a> {
    cx: Cx<'a>,
    rules: Vec<Box<dyn Rule>>,
}

impl<'a> ClosureBuilder<'a> {
    /// A closure over `index` with every coverage rule on.
    pub fn new(index: &'a FileIndex, config: &'a ImageConfig) -> ClosureBuilder<'a> {
        ClosureBuilder {
            cx: Cx {
                index,
                facts: &INDEXED_FACTS,
                config,
                libs: LibSearch::from_image(index, config.env_var("LD_LIBRARY_PATH").as_deref()),
                path_dirs: config.path_dirs(),
                excludes: Vec::new(),
                queue: VecDeque::new(),
                packages: &[],
                missing_libs: Vec::new(),
                used_by_run: Default::default(),
                out: Closure::default(),
            },
            rules: rules::all(),
        }
    }

    /// Where facts the index deferred are read (see [`FactSource::of`]).
    pub fn facts(mut self, facts: &'a FactSource) -> Self {
        self.cx.facts = facts;
        self
    }

    /// The coverage rules to apply (see [`rules::all_except`]).
    pub fn rules(mut self, rules: Vec<Box<dyn Rule>>) -> Self {
        self.rules = rules;
        self
    }

    /// The image's packages (see [`super::packages::inventory`]): a library that the loader's
    /// search path misses but the requester's own package ships is kept.
    pub fn packages(mut self, packages: &'a [Package]) -> Self {
        self.cx.packages = packages;
        self
    }

    /// Paths (and their subtrees) never kept, except as parents of kept paths.
    pub fn exclude(mut self, paths: impl IntoIterator<Item = String>) -> Self {
        self.cx.excludes.extend(paths.into_iter().map(|p| {
            let t = p.trim_end_matches('/');
            if t.is_empty() {
                "/".to_owned()
            } else {
                t.to_owned()
            }
        }));
        self
    }

    /// Seeds from the config: entrypoint program, user databases, working dir, volumes.
    pub fn config_seeds(mut self) -> Self {
        let cx = &mut self.cx;
        let config = cx.config;
        let workdir = config.workdir();
        if let Some(argv0) = config.argv().first().cloned() {
            let reason = Reason::Entrypoint { argv0: argv0.clone().into() };
            match cx.find_program(&argv0, &workdir) {
                Some(p) => cx.want(p, reason),
                None => cx.out.unresolved.push(Unresolved {
                    path: argv0.clone(),
                    wanted_by: reason,
                    error: format!("{argv0} is not in the image (searched {})", cx.path_dirs.join(":")),
                }),
            }
        }
        if let Some(user) = config.user() {
            for db in ["/etc/passwd", "/etc/group"] {
                if cx.index.get(db).is_some() || cx.resolve(db).is_some() {
                    cx.want(db, Reason::UserDatabase { user: user.clone().into() });
                }
            }
        }
        if workdir != "/" && cx.resolve(&workdir).is_some() {
            cx.want(workdir, Reason::WorkingDir);
        }
        for v in config.volumes() {
            if cx.resolve(&v).is_some() {
                cx.want(v, Reason::Volume);
            }
        }
        self
    }

    /// Explicit includes: a directory brings its whole subtree.
    pub fn includes(mut self, paths: impl IntoIterator<Item = String>) -> Self {
        for p in paths {
            self.cx.push(p.clone(), "/", Reason::Included { path: p.into() }, true, false);
        }
        self
    }

    pub fn seeds(mut self, seeds: impl IntoIterator<Item = Seed>) -> Self {
        for s in seeds {
            if matches!(s.reason, Reason::Traced { .. }) {
                if let Ok(r) = resolve(self.cx.index, &s.path, "/", true) {
                    self.cx.used_by_run.insert(r.path);
                }
            }
            self.cx.push(s.path, "/", s.reason, false, s.optional);
        }
        self
    }

    /// Follows everything from the seeds; then lets each rule look at the complete keep-set
    /// and follows what it adds.
    pub fn build(mut self) -> Closure {
        self.complete();
        for i in 0..self.rules.len() {
            self.rules[i].on_complete(&mut self.cx);
            self.complete();
        }
        self.cx.out
    }

    /// Follows all queued work, then settles the libraries the search path missed, until
    /// nothing is left.
    fn complete(&mut self) {
        loop {
            self.drain();
            let missing = std::mem::take(&mut self.cx.missing_libs);
            if missing.is_empty() {
                return;
            }
            for m in missing {
                self.settle(m);
            }
        }
    }

    /// A needed library the loader's search path does not find is still there at run time when
    /// the process loaded it by path first (the JVM's libjvm.so, before libjava.so needs it by
    /// name): kept already (the trace saw it mapped), or shipped by the requester's own package
    /// next to it. Only a library found neither way is unresolved.
    fn settle(&mut self, m: MissingLib) {
        let cx = &mut self.cx;
        let index = cx.index;
        let Some(elf) = index.get(&m.requester).and_then(|e| e.elf()) else { return };
        let named = |p: &str| p.rsplit('/').next() == Some(m.soname.as_str());
        let loadable = |p: &str| named(p) && index.get(p).and_then(|e| e.elf()).is_some_and(|lib| elf.compatible(lib));
        if cx.out.keep.paths.keys().any(|p| loadable(p)) {
            return;
        }
        let reason = Reason::ElfNeeded { of: m.requester.clone().into(), soname: m.soname.clone().into() };
        let owner = cx.packages.iter().find(|p| p.owns(&m.requester));
        if let Some(lib) = owner.and_then(|p| p.files.iter().find(|f| loadable(f))) {
            cx.want(lib.clone(), reason);
            return;
        }
        let error = format!("library {} not found in the image", m.soname);
        cx.out.unresolved.push(Unresolved { path: m.soname, wanted_by: reason, error });
    }

    fn drain(&mut self) {
        while let Some(work) = self.cx.queue.pop_front() {
            let r = match resolve(self.cx.index, &work.path, &work.cwd, true) {
                Ok(r) => r,
                Err(e) => {
                    // The links walked before the miss are still real; keep them for the record.
                    if !matches!(e, ResolveError::Loop { .. }) {
                        for s in e.symlinks().to_vec() {
                            self.cx.mark(&s, Reason::SymlinkOnPath { to: work.path.clone().into() });
                        }
                    }
                    if work.optional {
                        self.cx.out.skipped += 1;
                    } else {
                        self.cx.out.unresolved.push(Unresolved {
                            path: work.path,
                            wanted_by: work.reason,
                            error: e.to_string(),
                        });
                    }
                    continue;
                }
            };
            if self.cx.kept_out(&r.path, &work.reason) {
                continue;
            }
            for s in &r.symlinks {
                self.cx.mark(s, Reason::SymlinkOnPath { to: r.path.clone().into() });
            }
            self.cx.mark(&r.path, work.reason.clone());
            let subtree = work.subtree.then(|| match work.reason {
                Reason::Included { .. } => Reason::InIncludedDir { dir: r.path.clone().into() },
                // A subtree a coverage rule takes is that rule's.
                other => other,
            });
            self.examine(&r.path, subtree);
        }
    }

    /// Follows what a kept path needs: its subtree (taken for `subtree`'s reason), its link
    /// target, its ELF interpreter and libraries, what the rules see in it, its `#!`
    /// interpreter.
    fn examine(&mut self, path: &str, subtree: Option<Reason>) {
        if !self.cx.out.keep.examine_once(path) && subtree.is_none() {
            return;
        }
        let index = self.cx.index;
        let Some(entry) = index.get(path) else { return };
        if entry.is_dir() {
            if let Some(reason) = subtree {
                for (sub, _) in index.subtree(path) {
                    if self.cx.mark(sub, reason.clone()) {
                        self.examine(sub, None);
                    }
                }
            }
            return;
        }
        match &entry.kind {
            Kind::Symlink { target } => {
                self.cx.push(
                    target.to_string(),
                    parent(path),
                    Reason::SymlinkTarget { of: path.to_owned().into() },
                    false,
                    false,
                );
            }
            Kind::File | Kind::Hardlink { .. } => {
                self.follow_elf(path, entry);
                for rule in &mut self.rules {
                    rule.on_file(&mut self.cx, path, entry);
                }
                self.follow_shebang(path, entry);
            }
            _ => {}
        }
    }

    fn follow_elf(&mut self, path: &str, entry: &Entry) {
        let Some(elf) = entry.elf() else { return };
        let cx = &mut self.cx;
        if let Some(interp) = &elf.interp {
            cx.want(interp.clone(), Reason::ElfInterpreter { of: path.to_owned().into() });
        }
        for soname in &elf.needed {
            match cx.libs.find(cx.index, soname, elf, path) {
                Some(found) => {
                    for l in &found.symlinks {
                        cx.mark(l, Reason::SymlinkOnPath { to: found.path.clone().into() });
                    }
                    cx.want(
                        found.path,
                        Reason::ElfNeeded { of: path.to_owned().into(), soname: soname.clone().into() },
                    );
                }
                None => cx.missing_libs.push(MissingLib { soname: soname.clone(), requester: path.to_owned() }),
            }
        }
    }

    /// The kernel honours `#!` only on exec, which needs an execute bit: a library module with a
    /// stray `#!` line brings in nothing.
    fn follow_shebang(&mut self, path: &str, entry: &Entry) {
        let Some(line) = entry.shebang().filter(|_| entry.mode & 0o111 != 0) else { return };
        let mut words = line.split_whitespace();
        let Some(interp) = words.next() else { return };
        let reason = Reason::ScriptInterpreter { of: path.to_owned().into() };
        // `#!/usr/bin/env python3`: env runs the named program from PATH.
        if interp.ends_with("/env") {
            if let Some(prog) = words.find(|w| !w.starts_with('-')).and_then(|w| self.cx.find_program(w, "/")) {
                self.cx.want(prog, reason.clone());
            }
        }
        // An interpreter the original lacks too is the original's own broken `#!` (Debian's
        // stdlib `cgi.py` names /usr/local/bin/python): nothing to keep, nothing to warn of.
        self.cx.want_if_present(interp.to_owned(), reason, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::index::elf::fixture::elf;
    use crate::image::index::tar::{scan_layer, tests::layer_tar_bytes};
    use crate::select::rules::tests::config;

    const LD: &str = "/lib64/ld-linux-x86-64.so.2";

    /// Debian's merged-/usr layout in miniature: /bin, /lib, /lib64 are links into /usr, the
    /// shell is dash behind /usr/bin/sh, everything dynamically linked against libc.
    fn index() -> FileIndex {
        let dash = elf(Some(LD), &["libc.so.6"], &[]);
        let libc = elf(Some(LD), &[], &[]);
        let ld = elf(None, &[], &[]);
        let items: Vec<(&str, char, &[u8])> = vec![
            ("lib", 'l', b"usr/lib"),
            ("lib64", 'l', b"usr/lib64"),
            ("bin", 'l', b"usr/bin"),
            ("usr/bin/dash", 'x', &dash),
            ("usr/bin/sh", 'l', b"dash"),
            ("usr/lib/x86_64-linux-gnu/libc.so.6", 'x', &libc),
            ("usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", 'x', &ld),
            ("usr/lib64/ld-linux-x86-64.so.2", 'l', b"/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
            ("app/run.sh", 'x', b"#!/bin/sh\necho hi\n"),
            ("app/module.py", 'f', b"#!/bin/sh\necho hi\n"),
            ("app/old.py", 'x', b"#! /usr/local/bin/python\nprint(1)\n"),
            ("etc/passwd", 'f', b"root\n"),
            ("usr/share/doc/big", 'f', b"doc!\n"),
        ];
        let mut idx = FileIndex::new();
        idx.apply_layer(scan_layer(&layer_tar_bytes(&items)[..], 0, "test", &[]).unwrap(), None);
        idx
    }

    fn with_user(entrypoint: &str, user: &str) -> ImageConfig {
        let raw = format!(
            r#"{{"architecture":"amd64","os":"linux","config":{{"Entrypoint":["{entrypoint}"],"User":"{user}"}},"rootfs":{{"type":"layers","diff_ids":[]}}}}"#
        );
        ImageConfig::parse(raw.as_bytes(), "t").unwrap()
    }

    fn reasons(c: &Closure, p: &str) -> Vec<Reason> {
        c.keep
            .paths
            .get(p)
            .unwrap_or_else(|| panic!("{p} not kept: {:?}", c.keep.paths.keys().collect::<Vec<_>>()))
            .reasons
            .to_vec()
    }

    #[test]
    fn entrypoint_through_path_brings_interpreter_libraries_and_links() {
        let idx = index();
        let cfg = config("sh");
        let c = ClosureBuilder::new(&idx, &cfg).config_seeds().build();
        assert!(c.unresolved.is_empty(), "{:?}", c.unresolved);
        // PATH lookup of "sh": /usr/bin/sh found; /bin is a link to usr/bin.
        assert!(matches!(&reasons(&c, "/usr/bin/sh")[0], Reason::SymlinkOnPath { to } if &**to == "/usr/bin/dash"));
        assert!(matches!(&reasons(&c, "/usr/bin/dash")[0], Reason::Entrypoint { argv0 } if &**argv0 == "sh"));
        // PT_INTERP /lib64/ld-linux-x86-64.so.2 → /usr/lib64/... → /lib/... → /usr/lib/...
        for link in ["/lib64", "/usr/lib64/ld-linux-x86-64.so.2", "/lib"] {
            assert!(c.keep.contains(link), "{link}");
        }
        assert!(matches!(
            &reasons(&c, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")[0],
            Reason::ElfInterpreter { .. }
        ));
        assert!(reasons(&c, "/usr/lib/x86_64-linux-gnu/libc.so.6")
            .iter()
            .any(|r| matches!(r, Reason::ElfNeeded { soname, .. } if &**soname == "libc.so.6")));
        assert!(matches!(&reasons(&c, "/usr/lib")[0], Reason::Parent { .. }));
        assert!(!c.keep.contains("/etc/passwd"), "no USER, no passwd");
        assert!(!c.keep.contains("/usr/share/doc/big"));
    }

    #[test]
    fn scripts_bring_their_interpreter_only_when_executable() {
        let idx = index();
        let cfg = with_user("/app/run.sh", "1000");
        let c = ClosureBuilder::new(&idx, &cfg).config_seeds().build();
        assert!(matches!(&reasons(&c, "/usr/bin/dash")[0], Reason::ScriptInterpreter { .. }));
        assert!(c.keep.contains("/usr/lib/x86_64-linux-gnu/libc.so.6"));
        assert!(c.unresolved.is_empty(), "{:?}", c.unresolved);
        assert!(matches!(&reasons(&c, "/etc/passwd")[0], Reason::UserDatabase { .. }));

        let cfg = config("/app/module.py");
        let c = ClosureBuilder::new(&idx, &cfg).config_seeds().build();
        assert!(!c.keep.contains("/usr/bin/dash"), "a non-executable file's #! is not followed");
        let cfg = with_user("/app/old.py", "1000");
        let c = ClosureBuilder::new(&idx, &cfg).config_seeds().build();
        assert!(c.keep.contains("/app/old.py") && c.unresolved.is_empty(), "the original's own broken #!: {c:?}");
    }

    /// A JDK in miniature: libjava.so needs libjvm.so by name, which lives in lib/server, off
    /// the loader's search path (the launcher loads it by path first); one package ships both.
    fn jdk(with_package: bool) -> FileIndex {
        let libjava = elf(None, &["libjvm.so"], &["$ORIGIN"]);
        let libjvm = elf(None, &[], &[]);
        let status = "Package: jre\nStatus: install ok installed\nArchitecture: amd64\nVersion: 17\n";
        let list = "/usr/lib/jvm/lib/libjava.so\n/usr/lib/jvm/lib/server/libjvm.so\n";
        let mut items: Vec<(&str, char, &[u8])> =
            vec![("usr/lib/jvm/lib/libjava.so", 'f', &libjava), ("usr/lib/jvm/lib/server/libjvm.so", 'f', &libjvm)];
        if with_package {
            items.push(("var/lib/dpkg/status", 'f', status.as_bytes()));
            items.push(("var/lib/dpkg/info/jre.list", 'f', list.as_bytes()));
        }
        let mut idx = FileIndex::new();
        idx.apply_layer(scan_layer(&layer_tar_bytes(&items)[..], 0, "test", &[]).unwrap(), None);
        idx
    }

    fn traced(path: &str) -> Seed {
        Seed { path: path.into(), reason: Reason::Traced { how: "open".into(), by: "java[1]".into() }, optional: true }
    }

    #[test]
    fn a_library_loaded_by_path_first_is_not_a_missing_dependency() {
        const LIBJAVA: &str = "/usr/lib/jvm/lib/libjava.so";
        const LIBJVM: &str = "/usr/lib/jvm/lib/server/libjvm.so";
        let cfg = config("/usr/bin/java");
        // The trace saw both mapped: satisfied, no warning (whatever the queue order).
        let idx = jdk(false);
        let c = ClosureBuilder::new(&idx, &cfg).seeds([traced(LIBJAVA), traced(LIBJVM)]).build();
        assert!(c.unresolved.is_empty(), "{:?}", c.unresolved);
        // Not traced, but the requester's package ships it: kept as its dependency.
        let idx = jdk(true);
        let inventory = crate::select::packages::inventory(&idx);
        let c = ClosureBuilder::new(&idx, &cfg).packages(&inventory).seeds([traced(LIBJAVA)]).build();
        assert!(c.unresolved.is_empty(), "{:?}", c.unresolved);
        assert!(matches!(&reasons(&c, LIBJVM)[0], Reason::ElfNeeded { soname, .. } if &**soname == "libjvm.so"));
        // Neither: a real miss, reported.
        let idx = jdk(false);
        let c = ClosureBuilder::new(&idx, &cfg).seeds([traced(LIBJAVA)]).build();
        assert_eq!(c.unresolved.len(), 1, "{:?}", c.unresolved);
        assert_eq!(c.unresolved[0].path, "libjvm.so");
        assert!(!c.keep.contains(LIBJVM));
    }

    #[test]
    fn includes_take_subtrees_excludes_win_and_misses_are_reported() {
        let idx = index();
        let cfg = config("/app/run.sh");
        let c = ClosureBuilder::new(&idx, &cfg)
            .exclude(["/usr/share/doc/".to_owned()])
            .includes(["/usr/share".to_owned(), "/nope".to_owned()])
            .build();
        assert!(c.keep.contains("/usr/share"));
        assert!(!c.keep.contains("/usr/share/doc/big"));
        assert_eq!(c.unresolved.len(), 1);
        assert_eq!(c.unresolved[0].path, "/nope");
        assert!(matches!(c.unresolved[0].wanted_by, Reason::Included { .. }));
        // A file a verify round proved needed is kept through an exclude.
        let healed = Seed {
            path: "/usr/share/doc/big".into(),
            reason: Reason::Healed { by: "app[1]".into(), round: 1 },
            optional: true,
        };
        let c = ClosureBuilder::new(&idx, &cfg).exclude(["/usr/share/doc/".to_owned()]).seeds([healed]).build();
        assert!(c.keep.contains("/usr/share/doc/big"));

        let c = ClosureBuilder::new(&idx, &cfg).includes(["/app".to_owned()]).build();
        assert!(matches!(&reasons(&c, "/app/module.py")[0], Reason::InIncludedDir { .. }));
        assert!(c.keep.contains("/usr/bin/dash"), "an executable script inside an included dir brings its interpreter");
    }
}
