//! The keep-set: from seed paths to everything they need to work, computed against the image's
//! index only. Each kept path carries why it is kept, for the report.

use crate::image::entry::{join, parent};
use crate::image::{FileIndex, ImageConfig, Kind};
use crate::ldso::LibSearch;
use crate::resolve::{resolve, ResolveError};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet, VecDeque};

/// Why a path is in the slim image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// Asked for with `--include`.
    Included {
        path: String,
    },
    /// Inside a directory that was asked for.
    InIncludedDir {
        dir: String,
    },
    /// ENTRYPOINT/CMD program, found through the image's PATH.
    Entrypoint {
        argv0: String,
    },
    /// The config's USER needs the user and group databases.
    UserDatabase {
        user: String,
    },
    WorkingDir,
    Volume,
    /// A symlink followed while resolving another kept path.
    SymlinkOnPath {
        to: String,
    },
    /// Where a kept symlink points.
    SymlinkTarget {
        of: String,
    },
    Parent {
        of: String,
    },
    /// PT_INTERP of a kept ELF file.
    ElfInterpreter {
        of: String,
    },
    /// DT_NEEDED of a kept ELF file.
    ElfNeeded {
        of: String,
        soname: String,
    },
    /// The `#!` interpreter of a kept script.
    ScriptInterpreter {
        of: String,
    },
    /// Used by the traced container: `how` is the access (open, exec, stat, list, ...), `by`
    /// the process (`comm[pid]`).
    Traced {
        how: String,
        by: String,
    },
    /// A directory the traced container created files in (what it created is not copied).
    WrittenIn {
        by: String,
    },
    /// Looked up and not found by the slim image in verify round `round`, present in the original.
    Healed {
        by: String,
        round: u32,
    },
    /// Coverage rule python-imports: a module that kept Python code imports (maybe lazily).
    PythonImport {
        of: String,
        module: String,
    },
    /// Coverage rule shell-commands: a program a kept shell script names.
    ShellCommand {
        of: String,
        command: String,
    },
    /// Coverage rule node-requires: a module that kept JavaScript code loads (maybe lazily).
    NodeRequire {
        of: String,
        module: String,
    },
    /// Coverage rule runtime-data: data read by name at run time, kept because `because` is.
    RuntimeData {
        what: String,
        because: String,
    },
    /// The package database, rewritten to list only the packages that keep files.
    PackageMetadata,
}

impl Reason {
    /// Which part of the keep-set the reason belongs to, for the size accounting: what the run
    /// used, what that needs (closure), what a coverage rule added, what the user asked for.
    pub fn category(&self) -> &'static str {
        match self {
            Reason::Traced { .. } | Reason::WrittenIn { .. } => "traced",
            Reason::Healed { .. } => "healed",
            Reason::PythonImport { .. } => "coverage:python-imports",
            Reason::ShellCommand { .. } => "coverage:shell-commands",
            Reason::NodeRequire { .. } => "coverage:node-requires",
            Reason::RuntimeData { .. } => "coverage:runtime-data",
            Reason::PackageMetadata => "package-metadata",
            Reason::Included { .. } | Reason::InIncludedDir { .. } => "included",
            Reason::Entrypoint { .. } | Reason::UserDatabase { .. } | Reason::WorkingDir | Reason::Volume => "config",
            Reason::SymlinkOnPath { .. }
            | Reason::SymlinkTarget { .. }
            | Reason::Parent { .. }
            | Reason::ElfInterpreter { .. }
            | Reason::ElfNeeded { .. }
            | Reason::ScriptInterpreter { .. } => "closure",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Included { path } => write!(f, "--include {path}"),
            Reason::InIncludedDir { dir } => write!(f, "inside included {dir}"),
            Reason::Entrypoint { argv0 } => write!(f, "entrypoint {argv0}"),
            Reason::UserDatabase { user } => write!(f, "user database for USER {user}"),
            Reason::WorkingDir => write!(f, "working directory"),
            Reason::Volume => write!(f, "volume"),
            Reason::SymlinkOnPath { to } => write!(f, "symlink on the way to {to}"),
            Reason::SymlinkTarget { of } => write!(f, "target of symlink {of}"),
            Reason::Parent { of } => write!(f, "parent of {of}"),
            Reason::ElfInterpreter { of } => write!(f, "ELF interpreter of {of}"),
            Reason::ElfNeeded { of, soname } => write!(f, "{soname} needed by {of}"),
            Reason::ScriptInterpreter { of } => write!(f, "#! interpreter of {of}"),
            Reason::Traced { how, by } => write!(f, "{how} by {by}"),
            Reason::WrittenIn { by } => write!(f, "written into by {by}"),
            Reason::Healed { by, round } => write!(f, "missing in the slim image for {by} (added in round {round})"),
            Reason::PythonImport { of, module } => write!(f, "module {module} imported by {of}"),
            Reason::ShellCommand { of, command } => write!(f, "command {command} named by {of}"),
            Reason::NodeRequire { of, module } => write!(f, "module {module} loaded by {of}"),
            Reason::RuntimeData { what, because } => write!(f, "{what}, needed at run time by {because}"),
            Reason::PackageMetadata => write!(f, "package database, rewritten to the kept packages"),
        }
    }
}

/// Reasons kept per path: enough to explain it, bounded so that `/usr` does not list every file.
const MAX_REASONS: usize = 3;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Kept {
    pub reasons: Vec<Reason>,
    /// Reasons beyond the ones listed.
    #[serde(skip_serializing_if = "is_zero")]
    pub more: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct KeepSet {
    pub paths: BTreeMap<String, Kept>,
}

impl KeepSet {
    pub fn contains(&self, path: &str) -> bool {
        self.paths.contains_key(path)
    }
    pub fn len(&self) -> usize {
        self.paths.len()
    }
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }
    /// Keeps `path` and its parents (they must be in the index) for `reason`.
    pub fn keep_with_parents(&mut self, path: &str, reason: Reason) {
        if self.add(path, reason) {
            let mut child = path.to_owned();
            let mut p = parent(path).to_owned();
            while p != "/" {
                if !self.add(&p, Reason::Parent { of: child.clone() }) {
                    break;
                }
                child = p.clone();
                p = parent(&p).to_owned();
            }
        }
    }

    fn add(&mut self, path: &str, reason: Reason) -> bool {
        match self.paths.get_mut(path) {
            Some(k) => {
                if k.reasons.len() < MAX_REASONS && !k.reasons.contains(&reason) {
                    k.reasons.push(reason);
                } else {
                    k.more += 1;
                }
                false
            }
            None => {
                self.paths.insert(path.to_owned(), Kept { reasons: vec![reason], more: 0 });
                true
            }
        }
    }
}

/// A path to start from.
#[derive(Debug, Clone)]
pub struct Seed {
    pub path: String,
    pub reason: Reason,
    /// A traced path may not be an image file at all (/proc, a mounted volume, a file the app
    /// created): then it is skipped quietly instead of reported as unresolved.
    pub optional: bool,
}

/// Something the closure could not find. For explicit includes this is the user's error.
#[derive(Debug, Clone, Serialize)]
pub struct Unresolved {
    pub path: String,
    pub wanted_by: Reason,
    pub error: String,
}

#[derive(Debug, Default)]
pub struct Closure {
    pub keep: KeepSet,
    pub unresolved: Vec<Unresolved>,
    /// Optional seeds that are not image files (pseudo-files, volumes, runtime products).
    pub skipped: usize,
    /// Kept files written with new content (the rewritten package database).
    pub overrides: BTreeMap<String, Vec<u8>>,
    /// How much of each package of the image the keep-set holds (filled by `build::select`).
    pub packages: Vec<crate::packages::PackageChange>,
}

struct Work {
    path: String,
    cwd: String,
    reason: Reason,
    /// An explicit include of a directory takes its whole subtree.
    recursive: bool,
    optional: bool,
}

pub struct ClosureBuilder<'a> {
    index: &'a FileIndex,
    libs: LibSearch,
    path_dirs: Vec<String>,
    excludes: Vec<String>,
    queue: VecDeque<Work>,
    examined: HashSet<String>,
    out: Closure,
    python_imports: bool,
    shell_commands: bool,
    node_requires: bool,
    runtime_data: bool,
    subtree_reason: Option<Reason>,
    /// Python files kept only because a rule found them (not run by the app).
    static_python: HashSet<String>,
    /// sys.path of the image's Python installations, found on first use.
    py_path: Option<Vec<String>>,
    pythonpath: Vec<String>,
}

impl<'a> ClosureBuilder<'a> {
    pub fn new(index: &'a FileIndex, config: &ImageConfig) -> ClosureBuilder<'a> {
        ClosureBuilder {
            index,
            libs: LibSearch::from_image(index, config.env_var("LD_LIBRARY_PATH").as_deref()),
            path_dirs: config.path_dirs(),
            excludes: Vec::new(),
            queue: VecDeque::new(),
            examined: HashSet::new(),
            out: Closure::default(),
            python_imports: true,
            shell_commands: true,
            node_requires: true,
            runtime_data: true,
            subtree_reason: None,
            static_python: HashSet::new(),
            py_path: None,
            pythonpath: config
                .env_var("PYTHONPATH")
                .map(|p| {
                    p.split(':').filter(|d| d.starts_with('/')).map(|d| d.trim_end_matches('/').to_owned()).collect()
                })
                .unwrap_or_default(),
        }
    }

    /// Coverage rule runtime-data (on by default): see `runtime_data_seeds`.
    pub fn runtime_data(mut self, on: bool) -> Self {
        self.runtime_data = on;
        self
    }

    /// Coverage rule node-requires (on by default): follow the require/import of kept JavaScript.
    pub fn node_requires(mut self, on: bool) -> Self {
        self.node_requires = on;
        self
    }

    /// Coverage rule shell-commands (on by default): keep the programs kept shell scripts name.
    pub fn shell_commands(mut self, on: bool) -> Self {
        self.shell_commands = on;
        self
    }

    /// Coverage rule python-imports (on by default): follow the imports of kept Python code.
    pub fn python_imports(mut self, on: bool) -> Self {
        self.python_imports = on;
        self
    }

    /// Paths (and their subtrees) never kept, except as parents of kept paths.
    pub fn exclude(mut self, paths: impl IntoIterator<Item = String>) -> Self {
        self.excludes.extend(paths.into_iter().map(|p| {
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
    pub fn config_seeds(mut self, config: &ImageConfig) -> Self {
        let workdir = config.workdir();
        if let Some(argv0) = config.argv().first().cloned() {
            let reason = Reason::Entrypoint { argv0: argv0.clone() };
            match self.find_program(&argv0, &workdir) {
                Some(p) => self.push(p, "/", reason, false),
                None => self.out.unresolved.push(Unresolved {
                    path: argv0.clone(),
                    wanted_by: reason,
                    error: format!("{argv0} is not in the image (searched {})", self.path_dirs.join(":")),
                }),
            }
        }
        if let Some(user) = config.user() {
            for db in ["/etc/passwd", "/etc/group"] {
                if self.index.get(db).is_some() || resolve(self.index, db, "/", true).is_ok() {
                    self.push(db.to_owned(), "/", Reason::UserDatabase { user: user.clone() }, false);
                }
            }
        }
        if workdir != "/" && resolve(self.index, &workdir, "/", true).is_ok() {
            self.push(workdir, "/", Reason::WorkingDir, false);
        }
        for v in config.volumes() {
            if resolve(self.index, &v, "/", true).is_ok() {
                self.push(v, "/", Reason::Volume, false);
            }
        }
        self
    }

    /// Explicit includes: a directory brings its whole subtree.
    pub fn includes(mut self, paths: impl IntoIterator<Item = String>) -> Self {
        for p in paths {
            self.push(p.clone(), "/", Reason::Included { path: p }, true);
        }
        self
    }

    pub fn seeds(mut self, seeds: impl IntoIterator<Item = Seed>) -> Self {
        for s in seeds {
            self.queue.push_back(Work {
                path: s.path,
                cwd: "/".into(),
                reason: s.reason,
                recursive: false,
                optional: s.optional,
            });
        }
        self
    }

    fn push(&mut self, path: String, cwd: &str, reason: Reason, recursive: bool) {
        self.queue.push_back(Work { path, cwd: cwd.to_owned(), reason, recursive, optional: false });
    }

    /// argv[0] as the runtime finds it: a path (relative to the working dir) or a PATH lookup.
    fn find_program(&self, argv0: &str, workdir: &str) -> Option<String> {
        if argv0.contains('/') {
            return resolve(self.index, argv0, workdir, true).ok().map(|_| argv0.to_owned());
        }
        self.path_dirs.iter().map(|d| join(d.trim_end_matches('/'), argv0)).find(|cand| {
            resolve(self.index, cand, "/", true).ok().and_then(|r| self.index.get(&r.path)).is_some_and(|e| !e.is_dir())
        })
    }

    fn excluded(&self, path: &str) -> bool {
        self.excludes.iter().any(|ex| {
            ex == "/" || path == ex || (path.starts_with(ex.as_str()) && path.as_bytes().get(ex.len()) == Some(&b'/'))
        })
    }

    /// Marks a canonical path kept, with its parents. Returns whether it was new.
    fn mark(&mut self, path: &str, reason: Reason) -> bool {
        if path != "/" && self.excluded(path) {
            return false;
        }
        let new = self.out.keep.add(path, reason);
        if new {
            let mut child = path.to_owned();
            let mut p = parent(path).to_owned();
            while p != "/" {
                if !self.out.keep.add(&p, Reason::Parent { of: child.clone() }) {
                    break;
                }
                child = p.clone();
                p = parent(&p).to_owned();
            }
        }
        new
    }

    pub fn build(mut self) -> Closure {
        self.drain();
        if self.runtime_data {
            for (seed, subtree) in self.runtime_data_seeds() {
                self.queue.push_back(Work {
                    path: seed.path,
                    cwd: "/".into(),
                    reason: seed.reason,
                    recursive: subtree,
                    optional: true,
                });
            }
            self.drain();
        }
        self.out
    }

    /// Coverage rule runtime-data: data a kept library or a used data set reads by name at run
    /// time, kept whole when its user is kept: CA certificates and OpenSSL's config with a TLS
    /// library, all of zoneinfo once any zone was read, the locale archive once a locale was,
    /// gconv's module lists with iconv, and the NSS modules nsswitch.conf names with NSS.
    /// Each seed comes with whether to take its whole subtree.
    fn runtime_data_seeds(&self) -> Vec<(Seed, bool)> {
        let keep = &self.out.keep;
        let any = |pred: &dyn Fn(&str) -> bool| keep.paths.keys().find(|p| pred(p)).cloned();
        let name = |p: &str| p.rsplit('/').next().unwrap_or("").to_owned();
        let mut seeds = Vec::new();
        let add = |path: &str, what: &str, because: &str, subtree: bool, seeds: &mut Vec<(Seed, bool)>| {
            // A directory kept as a parent still needs its subtree taken.
            if resolve(self.index, path, "/", true).is_ok() && (subtree || !keep.contains(path)) {
                let reason = Reason::RuntimeData { what: what.to_owned(), because: because.to_owned() };
                seeds.push((Seed { path: path.to_owned(), reason, optional: true }, subtree));
            }
        };
        let tls = any(&|p: &str| {
            let n = name(p);
            n.starts_with("libssl.so")
                || n.starts_with("libgnutls.so")
                || n.starts_with("libmbedtls")
                || n.starts_with("libwolfssl")
                || n.starts_with("_ssl.")
        });
        if let Some(lib) = tls {
            for ca in [
                "/etc/ssl/certs/ca-certificates.crt",
                "/etc/ssl/cert.pem",
                "/etc/pki/tls/certs/ca-bundle.crt",
                "/etc/ssl/certs/ca-bundle.crt",
                "/usr/lib/ssl/cert.pem",
                "/usr/lib/ssl/certs",
                "/etc/ssl/openssl.cnf",
                "/usr/lib/ssl/openssl.cnf",
            ] {
                add(ca, "CA certificates / TLS config", &lib, false, &mut seeds);
            }
        }
        // A zone the app opened itself (not just /etc/localtime's target, which every libc reads).
        let localtime = resolve(self.index, "/etc/localtime", "/", true).ok().map(|r| r.path);
        let zone = keep
            .paths
            .iter()
            .find(|(p, k)| {
                p.starts_with("/usr/share/zoneinfo/")
                    && Some(p.as_str()) != localtime.as_deref()
                    && self.index.get(p).is_some_and(|e| !e.is_dir())
                    && k.reasons.iter().any(|r| matches!(r, Reason::Traced { .. }))
            })
            .map(|(p, _)| p.clone());
        if let Some(zone) = zone {
            add("/usr/share/zoneinfo", "zoneinfo", &zone, true, &mut seeds);
            add("/etc/localtime", "zoneinfo", &zone, false, &mut seeds);
            add("/etc/timezone", "zoneinfo", &zone, false, &mut seeds);
        }
        if let Some(loc) = any(&|p: &str| p.starts_with("/usr/lib/locale/")) {
            add("/usr/lib/locale/locale-archive", "locale archive", &loc, false, &mut seeds);
            add("/usr/lib/locale/C.utf8", "locale archive", &loc, true, &mut seeds);
        }
        if let Some(g) = any(&|p: &str| p.contains("/gconv/")) {
            let dir = &g[..g.find("/gconv/").unwrap() + "/gconv".len()];
            for f in ["gconv-modules", "gconv-modules.cache", "gconv-modules.d"] {
                add(&format!("{dir}/{f}"), "gconv module lists", &g, f.ends_with(".d"), &mut seeds);
            }
        }
        let nss_used = ["/etc/passwd", "/etc/group", "/etc/hosts", "/etc/nsswitch.conf", "/etc/resolv.conf"]
            .iter()
            .find(|p| keep.contains(p))
            .map(|p| p.to_string());
        let libc = any(&|p: &str| name(p).starts_with("libc.so"));
        if let (Some(used), Some(libc)) = (nss_used, libc) {
            add("/etc/nsswitch.conf", "NSS configuration", &used, false, &mut seeds);
            let conf = resolve(self.index, "/etc/nsswitch.conf", "/", true)
                .ok()
                .and_then(|r| self.index.get(&r.path))
                .and_then(|e| e.captured.as_deref())
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .unwrap_or_default();
            let mut services: Vec<&str> = conf
                .lines()
                .filter_map(|l| l.split('#').next())
                .filter_map(|l| l.split_once(':').map(|(_, v)| v))
                .flat_map(|v| v.split_whitespace())
                .filter(|w| !w.starts_with('[') && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
                .collect();
            services.sort();
            services.dedup();
            if let Some(elf) = self.index.get(&libc).and_then(|e| e.elf.as_deref()) {
                for svc in services {
                    if let Some(found) = self.libs.find(self.index, &format!("libnss_{svc}.so.2"), elf, &libc) {
                        add(&found.path, "NSS module", "/etc/nsswitch.conf", false, &mut seeds);
                    }
                }
            }
        }
        seeds
    }

    fn drain(&mut self) {
        while let Some(work) = self.queue.pop_front() {
            let r = match resolve(self.index, &work.path, &work.cwd, true) {
                Ok(r) => r,
                Err(e) => {
                    // The links walked before the miss are still real; keep them for the record.
                    if !matches!(e, ResolveError::Loop { .. }) {
                        for s in e.symlinks().to_vec() {
                            self.mark(&s, Reason::SymlinkOnPath { to: work.path.clone() });
                        }
                    }
                    if work.optional {
                        self.out.skipped += 1;
                    } else {
                        self.out.unresolved.push(Unresolved {
                            path: work.path,
                            wanted_by: work.reason,
                            error: e.to_string(),
                        });
                    }
                    continue;
                }
            };
            if self.excluded(&r.path) {
                continue;
            }
            for s in &r.symlinks {
                self.mark(s, Reason::SymlinkOnPath { to: r.path.clone() });
            }
            self.mark(&r.path, work.reason.clone());
            // A subtree taken by a coverage rule is that rule's, not an --include's.
            self.subtree_reason = matches!(work.reason, Reason::RuntimeData { .. }).then(|| work.reason.clone());
            self.examine(&r.path, work.recursive);
        }
    }

    /// sys.path as the image's interpreters would build it: each `*/lib/pythonX.Y` with its
    /// lib-dynload, site- and dist-packages, Debian's /usr/lib/python3/dist-packages, PYTHONPATH.
    fn python_path(&mut self) -> Vec<String> {
        if let Some(p) = &self.py_path {
            return p.clone();
        }
        let mut dirs: Vec<String> = self.pythonpath.clone();
        for prefix in ["/usr/lib/python3.", "/usr/local/lib/python3.", "/opt/"] {
            let roots: Vec<String> = self
                .index
                .with_prefix(prefix)
                .filter(|(p, e)| {
                    e.is_dir() && {
                        let name = p.rsplit('/').next().unwrap_or("");
                        name.starts_with("python3.")
                            && name[8..].chars().all(|c| c.is_ascii_digit())
                            && p.contains("/lib/")
                    }
                })
                .map(|(p, _)| p.clone())
                .collect();
            for root in roots {
                dirs.push(root.clone());
                for sub in ["lib-dynload", "site-packages", "dist-packages"] {
                    let d = format!("{root}/{sub}");
                    if self.index.get(&d).is_some_and(|e| e.is_dir()) {
                        dirs.push(d);
                    }
                }
                // Debian's local packages: /usr/local/lib/python3.X/dist-packages
                let local = root.replacen("/usr/lib/", "/usr/local/lib/", 1) + "/dist-packages";
                if self.index.get(&local).is_some_and(|e| e.is_dir()) && !dirs.contains(&local) {
                    dirs.push(local);
                }
            }
        }
        if self.index.get("/usr/lib/python3/dist-packages").is_some_and(|e| e.is_dir()) {
            dirs.push("/usr/lib/python3/dist-packages".into());
        }
        self.py_path = Some(dirs.clone());
        dirs
    }

    /// The files that make `module` importable from `dirs`: each package's `__init__.py` on
    /// the way and the module itself (`.py`, a package, or a compiled extension), plus its
    /// cached bytecode when the image has it.
    fn find_python_module(&self, module: &str, dirs: &[String]) -> Option<Vec<String>> {
        let parts: Vec<&str> = module.split('.').collect();
        'dirs: for dir in dirs {
            let mut files = Vec::new();
            let mut cur = dir.clone();
            for (i, part) in parts.iter().enumerate() {
                let next = format!("{cur}/{part}");
                let last = i + 1 == parts.len();
                let init = format!("{next}/__init__.py");
                if !last {
                    if self.index.get(&init).is_some() {
                        files.push(init);
                    } else if !self.index.get(&next).is_some_and(|e| e.is_dir()) {
                        continue 'dirs;
                    }
                    cur = next;
                    continue;
                }
                let py = format!("{next}.py");
                if self.index.get(&py).is_some() {
                    files.push(py);
                } else if self.index.get(&init).is_some() {
                    files.push(init);
                } else {
                    // Compiled extension: NAME.cpython-311-x86_64-linux-gnu.so, NAME.abi3.so, NAME.so
                    let ext_prefix = format!("{next}.");
                    let ext =
                        self.index.with_prefix(&ext_prefix).find(|(p, _)| p.ends_with(".so")).map(|(p, _)| p.clone());
                    match ext {
                        Some(so) => files.push(so),
                        None => continue 'dirs,
                    }
                }
                // bytecode next to it, as the interpreter would find it
                if let Some(src) = files.last().filter(|f| f.ends_with(".py")).cloned() {
                    let (d, name) = src.rsplit_once('/').unwrap_or(("", &src));
                    let stem = name.trim_end_matches(".py");
                    let cache_prefix = format!("{d}/__pycache__/{stem}.cpython-");
                    let pyc: Vec<String> = self
                        .index
                        .with_prefix(&cache_prefix)
                        .filter(|(p, _)| p.ends_with(".pyc") && !p.contains(".opt-"))
                        .map(|(p, _)| p.clone())
                        .collect();
                    files.extend(pyc);
                }
            }
            return Some(files);
        }
        None
    }

    fn follow_python_imports(&mut self, path: &str, imports: &[String], eager_only: bool) {
        let mut dirs = self.python_path();
        let file_dir = parent(path).to_owned();
        // A script outside sys.path (the app's own code) imports its siblings first.
        if !dirs.iter().any(|d| path.starts_with(&format!("{d}/"))) {
            dirs.insert(0, file_dir.clone());
        }
        for raw in imports {
            let imp = crate::pyimports::decode(raw);
            if eager_only && imp.lazy {
                continue;
            }
            let (module, search): (String, Vec<String>) = if imp.module.starts_with('.') {
                let level = imp.module.len() - imp.module.trim_start_matches('.').len();
                let mut pkg = file_dir.clone();
                for _ in 1..level {
                    pkg = parent(&pkg).to_owned();
                }
                (imp.module[level..].to_owned(), vec![pkg])
            } else {
                (imp.module.clone(), dirs.clone())
            };
            if module.is_empty() {
                continue;
            }
            // Optional imports (try/except ImportError) are common: a module not found is not an error.
            if let Some(files) = self.find_python_module(&module, &search) {
                let reason = Reason::PythonImport { of: path.to_owned(), module: imp.module.clone() };
                for f in files {
                    if !self.out.keep.contains(&f) {
                        self.static_python.insert(f.clone());
                    }
                    self.push(f, "/", reason.clone(), false);
                }
            }
        }
    }

    fn is_file(&self, p: &str) -> bool {
        resolve(self.index, p, "/", true).ok().and_then(|r| self.index.get(&r.path)).is_some_and(|e| !e.is_dir())
    }

    fn is_dir(&self, p: &str) -> bool {
        resolve(self.index, p, "/", true).ok().and_then(|r| self.index.get(&r.path)).is_some_and(|e| e.is_dir())
    }

    /// Node's file resolution of X: the file, X.js/.json/.node/.mjs/.cjs, or the directory's
    /// package.json main / index.js. Returns the files to keep (package.json included).
    fn node_file(&self, x: &str, depth: u8) -> Option<Vec<String>> {
        if self.is_file(x) {
            return Some(vec![x.to_owned()]);
        }
        for ext in [".js", ".json", ".node", ".mjs", ".cjs"] {
            let f = format!("{x}{ext}");
            if self.is_file(&f) {
                return Some(vec![f]);
            }
        }
        if !self.is_dir(x) || depth > 3 {
            return None;
        }
        let pkg = format!("{x}/package.json");
        let main = resolve(self.index, &pkg, "/", true)
            .ok()
            .and_then(|r| self.index.get(&r.path))
            .and_then(|e| e.captured.as_deref())
            .and_then(crate::jsimports::package_main);
        let mut files = Vec::new();
        if self.is_file(&pkg) {
            files.push(pkg);
        }
        if let Some(main) = main {
            let target = join(x, main.trim_start_matches("./"));
            if let Some(f) = self.node_file(&target, depth + 1) {
                files.extend(f);
                return Some(files);
            }
        }
        for index in ["index.js", "index.json", "index.node"] {
            let f = format!("{x}/{index}");
            if self.is_file(&f) {
                files.push(f);
                return Some(files);
            }
        }
        None
    }

    fn follow_node_requires(&mut self, path: &str, specs: &[String]) {
        let dir = parent(path).to_owned();
        for spec in specs {
            if crate::jsimports::is_builtin(spec) {
                continue;
            }
            let found = if spec.starts_with("./") || spec.starts_with("../") || spec == "." || spec == ".." {
                // `..` is resolved inside the index by the closure, never lexically
                self.node_file(&join(&dir, spec.trim_end_matches('/')), 0)
            } else if spec.starts_with('/') {
                self.node_file(spec, 0)
            } else {
                // node_modules of every ancestor, then the global and Debian locations.
                let mut candidates = Vec::new();
                let mut d = dir.clone();
                loop {
                    if !d.ends_with("/node_modules") {
                        candidates.push(format!("{}/node_modules/{spec}", d.trim_end_matches('/')));
                    }
                    if d == "/" {
                        break;
                    }
                    d = parent(&d).to_owned();
                }
                for g in
                    ["/usr/local/lib/node_modules", "/usr/lib/node_modules", "/usr/share/nodejs", "/usr/lib/nodejs"]
                {
                    candidates.push(format!("{g}/{spec}"));
                }
                candidates.iter().find_map(|c| self.node_file(c, 0))
            };
            if let Some(files) = found {
                let reason = Reason::NodeRequire { of: path.to_owned(), module: spec.clone() };
                for f in files {
                    self.push(f, "/", reason.clone(), false);
                }
            }
        }
    }

    /// Follows what a kept path needs: its subtree (for a recursive include), its link target,
    /// its ELF interpreter and libraries, its script interpreter.
    fn examine(&mut self, path: &str, recursive: bool) {
        if !self.examined.insert(path.to_owned()) && !recursive {
            return;
        }
        let index = self.index;
        let Some(entry) = index.get(path) else { return };
        if entry.is_dir() {
            if recursive {
                let subtree: Vec<String> = index.subtree(path).map(|(p, _)| p.clone()).collect();
                for sub in subtree {
                    let reason =
                        self.subtree_reason.clone().unwrap_or_else(|| Reason::InIncludedDir { dir: path.to_owned() });
                    if self.mark(&sub, reason) {
                        self.examine(&sub, false);
                    }
                }
            }
            return;
        }
        match &entry.kind {
            Kind::Symlink { target } => {
                let target = target.clone();
                self.push(target, parent(path), Reason::SymlinkTarget { of: path.to_owned() }, false);
            }
            Kind::File | Kind::Hardlink { .. } => {
                if let Some(elf) = entry.elf.as_deref() {
                    if let Some(interp) = &elf.interp {
                        self.push(interp.clone(), "/", Reason::ElfInterpreter { of: path.to_owned() }, false);
                    }
                    for soname in &elf.needed {
                        let reason = Reason::ElfNeeded { of: path.to_owned(), soname: soname.clone() };
                        match self.libs.find(self.index, soname, elf, path) {
                            Some(found) => {
                                for l in &found.symlinks {
                                    self.mark(l, Reason::SymlinkOnPath { to: found.path.clone() });
                                }
                                self.push(found.path, "/", reason, false);
                            }
                            None => self.out.unresolved.push(Unresolved {
                                path: soname.clone(),
                                wanted_by: reason,
                                error: format!("library {soname} not found in the image"),
                            }),
                        }
                    }
                }
                if self.python_imports {
                    if let Some(imports) = entry.py_imports.as_deref() {
                        // Code the app ran may call any of its functions: all its imports. A
                        // module found statically runs its module level on import: those only.
                        let eager_only = self.static_python.contains(path);
                        self.follow_python_imports(path, imports, eager_only);
                    }
                }
                // The kernel honours `#!` only on exec, which needs an execute bit: a library
                // module with a stray `#!` line brings in nothing.
                let executable = entry.mode & 0o111 != 0;
                if self.node_requires {
                    if let Some(specs) = entry.js_imports.as_deref() {
                        self.follow_node_requires(path, specs);
                    }
                }
                if self.shell_commands && executable {
                    if let Some(words) = entry.sh_commands.as_deref() {
                        for w in words {
                            let found = if w.starts_with('/') {
                                resolve(self.index, w, "/", true)
                                    .ok()
                                    .filter(|r| {
                                        self.index.get(&r.path).is_some_and(|e| !e.is_dir() && e.mode & 0o111 != 0)
                                    })
                                    .map(|_| w.clone())
                            } else if w.contains('/') {
                                None
                            } else {
                                self.find_program(w, "/")
                            };
                            if let Some(p) = found {
                                self.push(
                                    p,
                                    "/",
                                    Reason::ShellCommand { of: path.to_owned(), command: w.clone() },
                                    false,
                                );
                            }
                        }
                    }
                }
                if let Some(line) = entry.shebang.as_deref().filter(|_| executable) {
                    let mut words = line.split_whitespace();
                    if let Some(interp) = words.next() {
                        let interp = interp.to_owned();
                        let reason = Reason::ScriptInterpreter { of: path.to_owned() };
                        // `#!/usr/bin/env python3`: env runs the named program from PATH.
                        if interp.ends_with("/env") {
                            if let Some(prog) =
                                words.find(|w| !w.starts_with('-')).and_then(|w| self.find_program(w, "/"))
                            {
                                self.push(prog, "/", reason.clone(), false);
                            }
                        }
                        self.push(interp, "/", reason, false);
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::layer::scan_layer;
    use crate::image::{FileIndex, ImageConfig};

    /// A layer holding real host files at their host paths, plus Debian's merged-/usr links, so the
    /// closure meets genuine ELF headers.
    fn host_layer() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let add_file = |b: &mut tar::Builder<Vec<u8>>, host: &str, at: &str, mode: u32| {
            let data = std::fs::read(std::fs::canonicalize(host).unwrap()).unwrap();
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(mode);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, at, &data[..]).unwrap();
        };
        let link = |b: &mut tar::Builder<Vec<u8>>, at: &str, to: &str| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_mode(0o777);
            h.set_size(0);
            b.append_link(&mut h, at, to).unwrap();
        };
        link(&mut b, "lib", "usr/lib");
        link(&mut b, "lib64", "usr/lib64");
        link(&mut b, "bin", "usr/bin");
        add_file(&mut b, "/bin/dash", "usr/bin/dash", 0o755);
        link(&mut b, "usr/bin/sh", "dash");
        add_file(&mut b, "/lib/x86_64-linux-gnu/libc.so.6", "usr/lib/x86_64-linux-gnu/libc.so.6", 0o755);
        add_file(&mut b, "/lib64/ld-linux-x86-64.so.2", "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", 0o755);
        link(&mut b, "usr/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
        let script = b"#!/bin/sh\necho hi\n";
        for (at, mode) in [("app/run.sh", 0o755), ("app/module.py", 0o644)] {
            let mut h = tar::Header::new_gnu();
            h.set_size(script.len() as u64);
            h.set_mode(mode);
            b.append_data(&mut h, at, &script[..]).unwrap();
        }
        let mut h = tar::Header::new_gnu();
        h.set_size(5);
        h.set_mode(0o644);
        b.append_data(&mut h, "etc/passwd", &b"root\n"[..]).unwrap();
        b.append_data(&mut h, "usr/share/doc/big", &b"doc!\n"[..]).unwrap();
        b.into_inner().unwrap()
    }

    fn index() -> FileIndex {
        let mut idx = FileIndex::new();
        let tar = host_layer();
        idx.apply_layer(scan_layer(&tar[..], 0, "host").unwrap(), None);
        idx
    }

    fn config(entrypoint: &str, user: Option<&str>) -> ImageConfig {
        let user = user.map(|u| format!(r#","User":"{u}""#)).unwrap_or_default();
        ImageConfig::parse(
            format!(r#"{{"architecture":"amd64","os":"linux","config":{{"Entrypoint":["{entrypoint}"]{user}}},"rootfs":{{"type":"layers","diff_ids":[]}}}}"#)
                .as_bytes(),
            "t",
        )
        .unwrap()
    }

    fn reasons(c: &Closure, p: &str) -> Vec<Reason> {
        c.keep
            .paths
            .get(p)
            .unwrap_or_else(|| panic!("{p} not kept: {:?}", c.keep.paths.keys().collect::<Vec<_>>()))
            .reasons
            .clone()
    }

    #[test]
    fn entrypoint_through_path_brings_interpreter_libraries_and_links() {
        let idx = index();
        let cfg = config("sh", None);
        let c = ClosureBuilder::new(&idx, &cfg).config_seeds(&cfg).build();
        assert!(c.unresolved.is_empty(), "{:?}", c.unresolved);
        // PATH lookup of "sh": /usr/local/... miss, /usr/bin/sh found; /bin is a link to usr/bin.
        assert!(matches!(&reasons(&c, "/usr/bin/sh")[0], Reason::SymlinkOnPath { to } if to == "/usr/bin/dash"));
        assert!(matches!(&reasons(&c, "/usr/bin/dash")[0], Reason::Entrypoint { argv0 } if argv0 == "sh"));
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
            .any(|r| matches!(r, Reason::ElfNeeded { soname, .. } if soname == "libc.so.6")));
        assert!(matches!(&reasons(&c, "/usr/lib")[0], Reason::Parent { .. }));
        assert!(!c.keep.contains("/etc/passwd"), "no USER, no passwd");
        assert!(!c.keep.contains("/usr/share/doc/big"));
    }

    #[test]
    fn scripts_bring_their_interpreter_only_when_executable() {
        let idx = index();
        let cfg = config("/app/run.sh", Some("1000"));
        let c = ClosureBuilder::new(&idx, &cfg).config_seeds(&cfg).build();
        assert!(matches!(&reasons(&c, "/usr/bin/dash")[0], Reason::ScriptInterpreter { .. }));
        assert!(c.keep.contains("/usr/lib/x86_64-linux-gnu/libc.so.6"));
        assert!(matches!(&reasons(&c, "/etc/passwd")[0], Reason::UserDatabase { .. }));

        let cfg = config("/app/module.py", None);
        let c = ClosureBuilder::new(&idx, &cfg).config_seeds(&cfg).build();
        assert!(!c.keep.contains("/usr/bin/dash"), "a non-executable file's #! is not followed");
    }

    #[test]
    fn includes_take_subtrees_excludes_win_and_misses_are_reported() {
        let idx = index();
        let cfg = config("/app/run.sh", None);
        let c = ClosureBuilder::new(&idx, &cfg)
            .exclude(["/usr/share/doc/".to_owned()])
            .includes(["/usr/share".to_owned(), "/nope".to_owned()])
            .build();
        assert!(c.keep.contains("/usr/share"));
        assert!(!c.keep.contains("/usr/share/doc/big"));
        assert_eq!(c.unresolved.len(), 1);
        assert_eq!(c.unresolved[0].path, "/nope");
        assert!(matches!(c.unresolved[0].wanted_by, Reason::Included { .. }));

        let c = ClosureBuilder::new(&idx, &cfg).includes(["/app".to_owned()]).build();
        assert!(matches!(&reasons(&c, "/app/module.py")[0], Reason::InIncludedDir { .. }));
        assert!(c.keep.contains("/usr/bin/dash"), "an executable script inside an included dir brings its interpreter");
    }

    /// An index of regular files (path, content) from one in-memory layer.
    fn files_index(files: &[(&str, &str)]) -> FileIndex {
        let items: Vec<(&str, char, &str)> = files.iter().map(|(at, data)| (*at, 'f', *data)).collect();
        let tar = crate::image::layer::tests::layer_tar(&items);
        let mut idx = FileIndex::new();
        idx.apply_layer(scan_layer(&tar[..], 0, "test").unwrap(), None);
        idx
    }

    fn python_index() -> FileIndex {
        let files: &[(&str, &str)] = &[
            ("app/app.py", "import json\nfrom pkg import helpers\n\ndef report():\n    import hashlib\n    return 1\n"),
            ("app/pkg/__init__.py", ""),
            ("app/pkg/helpers.py", "from . import sibling\n"),
            ("app/pkg/sibling.py", ""),
            ("usr/lib/python3.11/json/__init__.py", "from .decoder import JSONDecoder\n"),
            ("usr/lib/python3.11/json/decoder.py", "import re\n"),
            ("usr/lib/python3.11/re.py", ""),
            ("usr/lib/python3.11/hashlib.py", "import _hashlib\n\ndef _test():\n    import doctest\n"),
            ("usr/lib/python3.11/__pycache__/hashlib.cpython-311.pyc", "bytecode"),
            ("usr/lib/python3.11/lib-dynload/_hashlib.cpython-311-x86_64-linux-gnu.so", "not really ELF"),
            ("usr/lib/python3.11/doctest.py", "import unittest\n"),
            ("usr/lib/python3.11/unused.py", ""),
        ];
        files_index(files)
    }

    fn traced(path: &str) -> Seed {
        Seed {
            path: path.into(),
            reason: Reason::Traced { how: "open".into(), by: "python3[1]".into() },
            optional: true,
        }
    }

    #[test]
    fn python_imports_of_run_code_are_kept_with_packages_extensions_and_bytecode() {
        let idx = python_index();
        let cfg = config("/app/app.py", None);
        let c = ClosureBuilder::new(&idx, &cfg).seeds([traced("/app/app.py")]).build();
        for kept in [
            "/usr/lib/python3.11/json/__init__.py",
            "/usr/lib/python3.11/json/decoder.py", // relative import inside the package
            "/usr/lib/python3.11/re.py",           // module level of a statically found module
            "/app/pkg/__init__.py",
            "/app/pkg/helpers.py", // `from pkg import helpers`: a submodule
            "/app/pkg/sibling.py",
            "/usr/lib/python3.11/hashlib.py", // imported inside a function of run code
            "/usr/lib/python3.11/__pycache__/hashlib.cpython-311.pyc",
            "/usr/lib/python3.11/lib-dynload/_hashlib.cpython-311-x86_64-linux-gnu.so",
        ] {
            assert!(c.keep.contains(kept), "{kept} not kept: {:?}", c.keep.paths.keys().collect::<Vec<_>>());
        }
        assert!(
            matches!(&reasons(&c, "/usr/lib/python3.11/hashlib.py")[0], Reason::PythonImport { module, .. } if module == "hashlib")
        );
        // hashlib was found statically: its function-level `import doctest` is not followed.
        assert!(!c.keep.contains("/usr/lib/python3.11/doctest.py"));
        assert!(!c.keep.contains("/usr/lib/python3.11/unused.py"));
        assert!(c.unresolved.is_empty(), "{:?}", c.unresolved);
    }

    #[test]
    fn the_python_rule_can_be_turned_off() {
        let idx = python_index();
        let cfg = config("/app/app.py", None);
        let c = ClosureBuilder::new(&idx, &cfg).python_imports(false).seeds([traced("/app/app.py")]).build();
        assert!(!c.keep.contains("/usr/lib/python3.11/hashlib.py"));
        assert!(!c.keep.contains("/usr/lib/python3.11/json/__init__.py"));
    }

    #[test]
    fn node_requires_follow_relative_files_packages_and_skip_builtins() {
        let files: &[(&str, &str)] = &[
            ("app/server.js", "const http = require('http');\nfunction h() { return require('./lib/report'); }\nrequire('left-pad');\n"),
            ("app/lib/report.js", "const zlib = require('node:zlib');\nconst d = require('../data');\n"),
            ("app/data.json", "{}"),
            ("app/node_modules/left-pad/package.json", r#"{"name":"left-pad","main":"lib/pad.js"}"#),
            ("app/node_modules/left-pad/lib/pad.js", "module.exports = 1;\n"),
            ("app/node_modules/unused/index.js", ""),
        ];
        let idx = files_index(files);
        let cfg = config("node", None);
        let c = ClosureBuilder::new(&idx, &cfg).seeds([traced("/app/server.js")]).build();
        for kept in [
            "/app/lib/report.js",
            "/app/data.json",
            "/app/node_modules/left-pad/package.json",
            "/app/node_modules/left-pad/lib/pad.js",
        ] {
            assert!(c.keep.contains(kept), "{kept} not kept: {:?}", c.keep.paths.keys().collect::<Vec<_>>());
        }
        assert!(!c.keep.contains("/app/node_modules/unused/index.js"));
        let c = ClosureBuilder::new(&idx, &cfg).node_requires(false).seeds([traced("/app/server.js")]).build();
        assert!(!c.keep.contains("/app/lib/report.js"));
    }

    #[test]
    fn runtime_data_follows_its_users() {
        let files: &[(&str, &str)] = &[
            ("usr/lib/x86_64-linux-gnu/libssl.so.3", "x"),
            ("etc/ssl/certs/ca-certificates.crt", "certs"),
            ("usr/share/zoneinfo/Europe/Paris", "tz"),
            ("usr/share/zoneinfo/Asia/Tokyo", "tz"),
            ("usr/lib/locale/locale-archive", "loc"),
            ("usr/share/doc/unrelated", "x"),
        ];
        let idx = files_index(files);
        let cfg = config("app", None);
        let seeds = [traced("/usr/lib/x86_64-linux-gnu/libssl.so.3"), traced("/usr/share/zoneinfo/Europe/Paris")];
        let c = ClosureBuilder::new(&idx, &cfg).seeds(seeds.clone()).build();
        assert!(matches!(&reasons(&c, "/etc/ssl/certs/ca-certificates.crt")[0], Reason::RuntimeData { .. }));
        assert!(c.keep.contains("/usr/share/zoneinfo/Asia/Tokyo"), "every zone once one was read");
        assert!(!c.keep.contains("/usr/lib/locale/locale-archive"), "no locale was read");
        assert!(!c.keep.contains("/usr/share/doc/unrelated"));
        let c = ClosureBuilder::new(&idx, &cfg).runtime_data(false).seeds(seeds).build();
        assert!(!c.keep.contains("/etc/ssl/certs/ca-certificates.crt"));
        assert!(!c.keep.contains("/usr/share/zoneinfo/Asia/Tokyo"));
    }
}
