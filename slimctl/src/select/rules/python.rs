//! Coverage rule python-imports: the modules kept Python code imports, also lazily inside
//! functions, resolved on the image's sys.path (packages' `__init__`, compiled extensions,
//! bytecode), and the module level of those modules in turn.

mod imports;

use super::Rule;
use crate::image::index::entry::parent;
use crate::image::index::facts::ContentReader;
use crate::image::Entry;
use crate::select::closure::Cx;
use crate::select::keep::Reason;
use crate::select::reached::Reached;
use std::collections::HashMap;
use std::sync::Arc;

const NAME: &str = "python-imports";

/// Python sources larger than this are not read for imports (generated tables, vendored blobs).
const READ_LIMIT: u64 = 2 << 20;

#[derive(Default)]
pub struct PythonImports {
    /// Python files kept only because this rule found them (not run by the app), and whether
    /// code the run ran imports them: then their functions may be called too.
    found_statically: HashMap<String, Called>,
    /// sys.path of the image's Python installations, found on first use.
    sys_path: Option<Vec<String>>,
    /// sys.path without the app's own entries, found on first use.
    library: Option<Vec<String>>,
}

struct Reader;

impl ContentReader for Reader {
    fn name(&self) -> &'static str {
        NAME
    }
    fn wants(&self, path: &str, size: u64, _head: &[u8]) -> bool {
        path.ends_with(".py") && size <= READ_LIMIT
    }
    fn lazy(&self) -> bool {
        true
    }
    fn read(&self, path: &str, content: &[u8]) -> Vec<String> {
        let src = String::from_utf8_lossy(content);
        let mut facts = imports::encode(&imports::parse(&src));
        // The codecs the code names (they are imported by name when used), and, in the
        // standard library's table of codec aliases, the aliases.
        facts.extend(codec_names(&src).into_iter().map(|c| format!("{CODEC}{c}")));
        facts.extend(dotted_strings(&src).into_iter().map(|d| format!("{DOTTED}{d}")));
        if path.ends_with("/encodings/aliases.py") {
            facts.extend(codec_aliases(&src).into_iter().map(|(a, m)| format!("{ALIAS}{a} {m}")));
        }
        facts
    }
}

/// Fact prefixes beside the imports (an import's encoding starts with its flags, never these).
const CODEC: &str = "codec ";
const ALIAS: &str = "alias ";
const DOTTED: &str = "dotted ";

/// What a dotted string's last part is when it names a file or a host, not a module's name.
const FILE_SUFFIXES: &[&str] = &[
    "html", "htm", "json", "csv", "txt", "py", "pyc", "png", "jpg", "jpeg", "gif", "svg", "css", "js", "log", "conf",
    "yaml", "yml", "xml", "ini", "cfg", "toml", "gz", "zip", "tar", "md", "rst", "sql", "db", "sqlite", "pem", "crt",
    "key", "so", "com", "org", "net", "io",
];

/// Dotted paths in string literals (`"logging.handlers.WatchedFileHandler"`,
/// `"myapp.cache.RedisBackend"`): what settings and configuration hand to an importer, which
/// loads the module when the setting is first used. File names and host names are not.
fn dotted_strings(src: &str) -> Vec<String> {
    let ident = |p: &str| {
        p.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let mut out: Vec<String> = Vec::new();
    for line in src.lines() {
        let mut rest = line;
        while let Some(i) = rest.find(['"', '\'']) {
            let q = rest[i..].chars().next().unwrap_or('"');
            let body = &rest[i + 1..];
            let Some(end) = body.find(q) else { break };
            let lit = &body[..end];
            rest = &body[end + 1..];
            let parts: Vec<&str> = lit.split('.').collect();
            let last = parts.last().copied().unwrap_or("");
            if parts.len() >= 2
                && lit.len() <= 120
                && parts.iter().all(|p| ident(p))
                && !FILE_SUFFIXES.contains(&last.to_ascii_lowercase().as_str())
                && !out.iter().any(|o| o == lit)
            {
                out.push(lit.to_owned());
            }
        }
    }
    out
}

/// Codec names given literally: `.encode("latin-1")`, `.decode('cp1252')`, `encoding="utf-16"`,
/// `codecs.lookup("koi8_r")`.
fn codec_names(src: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for call in ["encode(", "decode(", "encoding=", "encoding =", "lookup("] {
        let mut rest = src;
        while let Some(i) = rest.find(call) {
            rest = &rest[i + call.len()..];
            let arg = rest.trim_start();
            let Some(q) = arg.chars().next().filter(|c| *c == '"' || *c == '\'') else { continue };
            let Some(end) = arg[1..].find(q) else { continue };
            let name = &arg[1..1 + end];
            let ok = !name.is_empty()
                && name.len() < 40
                && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if ok && !out.iter().any(|o| o == name) {
                out.push(name.to_owned());
            }
        }
    }
    out
}

/// `'alias': 'module'` entries of encodings/aliases.py.
fn codec_aliases(src: &str) -> Vec<(String, String)> {
    src.lines()
        .filter_map(|l| {
            let l = l.split('#').next()?.trim().trim_end_matches(',');
            let (a, m) = l.split_once(':')?;
            let unq = |s: &str| {
                let s = s.trim();
                (s.len() > 2 && s.starts_with('\'') && s.ends_with('\'')).then(|| s[1..s.len() - 1].to_owned())
            };
            Some((unq(a)?, unq(m)?))
        })
        .collect()
}

/// Python's `encodings.normalize_encoding`, lowercased as the search function does.
fn normalize_codec(name: &str) -> String {
    let mut out = String::new();
    let mut punct = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '.' {
            if punct && !out.is_empty() {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            punct = false;
        } else {
            punct = true;
        }
    }
    out
}

impl Rule for PythonImports {
    fn name(&self) -> &'static str {
        NAME
    }
    fn about(&self) -> &'static str {
        "the modules that kept Python code imports (also lazily, inside functions) unless the run used them"
    }
    fn reader(&self) -> Option<Arc<dyn ContentReader>> {
        Some(Arc::new(Reader))
    }
    fn on_file(&mut self, cx: &mut Cx<'_>, path: &str, entry: &Entry) {
        let Some(imports) = cx.facts(path, entry, NAME) else { return };
        // Code the app ran may call any of its functions: all its imports. A module found
        // statically runs its module level on import: those only.
        let called = self.found_statically.get(path).copied().unwrap_or(Called::Yes);
        // What a module found by reading imports: the functions of a module that code the run
        // ran imports may be called (tarfile's `import gzip` when it opens an archive); one
        // more step away only its module level runs. Following every lazy edge further takes
        // in test harnesses and build tools (multiprocessing.util → test.support → unittest).
        let found = self.found_statically.contains_key(path);
        let child = if found { Called::No } else { Called::Yes };
        let mut dirs = self.sys_path(cx).to_vec();
        let file_dir = parent(path).to_owned();
        // A script outside sys.path (the app's own code) imports its siblings first.
        if !dirs.iter().any(|d| path.starts_with(&format!("{d}/"))) {
            dirs.insert(0, file_dir.clone());
        }
        // The interpreter's own modules and installed packages, as opposed to the app's code
        // (PYTHONPATH is the app's).
        let pythonpath = pythonpath(cx);
        let library = self.sys_path(cx).iter().any(|d| path.starts_with(&format!("{d}/")) && !pythonpath.contains(d));
        if !library {
            self.codecs(cx, path, &imports);
            for dotted in imports.iter().filter_map(|f| f.strip_prefix(DOTTED)) {
                self.dotted(cx, path, dotted, &dirs);
            }
        }
        if path.ends_with("/sysconfig.py") && library {
            // sysconfig imports its platform's data module by a name it computes.
            let prefix = format!("{}/_sysconfigdata_", parent(path));
            let data: Vec<String> = cx
                .index()
                .with_prefix(&prefix)
                .filter(|(p, _)| p.ends_with(".py"))
                .map(|(p, _)| p.to_owned())
                .collect();
            for d in data {
                cx.want(
                    d,
                    Reason::Rule { rule: NAME, what: "sysconfig's data module".into(), of: path.to_owned().into() },
                );
            }
        }
        for raw in imports.iter().filter(|r| ![CODEC, ALIAS, DOTTED].iter().any(|p| r.starts_with(p))) {
            let imp = imports::decode(raw);
            // Never on Linux; only when a library module runs as a program; only on an error
            // at import time (the import, when it happens, is traced); only where the first
            // choice fails.
            let skip = imp.other_platform
                || imp.on_error
                || (called == Called::No && imp.lazy)
                || (imp.main && (library || found));
            if skip {
                continue;
            }
            if !imp.fallback_for.is_empty() && imp.fallback_for.iter().all(|alt| importable(cx, alt, &file_dir, &dirs))
            {
                continue;
            }
            let Some((module, search)) = target(&imp.module, &file_dir, &dirs) else { continue };
            // Optional imports (try/except ImportError) are common: a module not found is not an error.
            let Some(files) = find_module(cx, &module, &search) else {
                if imp.maybe && !library {
                    self.reach_attribute(cx, &module, &search);
                }
                continue;
            };
            let reason =
                Reason::Rule { rule: NAME, what: format!("module {}", imp.module).into(), of: path.to_owned().into() };
            let module_file = files.iter().rfind(|f| !f.ends_with(".pyc")).cloned();
            for f in files {
                self.found(cx, &f, child);
                cx.want(f, reason.clone());
            }
            if let Some(file) = module_file.filter(|f| self.found_statically.contains_key(f)) {
                self.reach_module(cx, &file);
            }
        }
    }
}

/// Whether code the run ran may call the functions of a module.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Called {
    Yes,
    No,
}

impl PythonImports {
    /// Notes a module file this rule found by reading, unless the run loaded it or it is kept
    /// already; a closer importer upgrades it.
    fn found(&mut self, cx: &Cx<'_>, file: &str, called: Called) {
        if let Some(c) = self.found_statically.get_mut(file) {
            if called == Called::Yes {
                *c = Called::Yes;
            }
        } else if !cx.keep().contains(file) && !cx.used_by_run(file) {
            self.found_statically.insert(file.to_owned(), called);
        }
    }

    /// A dotted path in the app's strings that names a module, or a name in one (the class a
    /// setting names): the module is kept, and the sweep imports it and takes the name.
    fn dotted(&mut self, cx: &mut Cx<'_>, path: &str, dotted: &str, dirs: &[String]) {
        let parent_module = dotted.rsplit_once('.').map_or("", |(m, _)| m);
        for (module, is_name) in [(dotted, false), (parent_module, true)] {
            let Some(files) = find_module(cx, module, dirs) else { continue };
            let what = format!("module {module} (named in a string: \"{dotted}\")");
            let reason = Reason::Rule { rule: NAME, what: what.into(), of: path.to_owned().into() };
            let module_file = files.iter().rfind(|f| !f.ends_with(".pyc")).cloned();
            for f in files {
                self.found(cx, &f, Called::Yes);
                cx.want(f, reason.clone());
            }
            if let Some(file) = module_file.filter(|f| self.found_statically.contains_key(f)) {
                if is_name {
                    self.reach_attribute(cx, dotted, dirs);
                } else {
                    self.reach_module(cx, &file);
                }
            }
            return;
        }
    }

    /// The sweep loads what this rule found in the interpreter's library (never the app's own
    /// modules: importing those may start the app again).
    fn reach_module(&mut self, cx: &mut Cx<'_>, file: &str) {
        if let Some(name) = module_name(file, self.library_dirs(cx)) {
            cx.reach(Reached::python(name));
        }
    }

    /// `from X import Y` in the app's code, where `Y` is no submodule: a name of library module
    /// `X`, which the sweep takes (a PEP 562 `__getattr__` loads modules when a name is first
    /// taken).
    fn reach_attribute(&mut self, cx: &mut Cx<'_>, dotted: &str, search: &[String]) {
        let Some((parent_module, attr)) = dotted.rsplit_once('.') else { return };
        let Some(files) = find_module(cx, parent_module, search) else { return };
        let library = self.library_dirs(cx);
        let named = files.iter().rfind(|f| !f.ends_with(".pyc")).and_then(|f| module_name(f, library));
        if let Some(name) = named {
            cx.reach(Reached::python(format!("{name}.{attr}")));
        }
    }

    /// sys.path without the app's own entries (PYTHONPATH).
    fn library_dirs(&mut self, cx: &Cx<'_>) -> &[String] {
        if self.library.is_none() {
            let app = pythonpath(cx);
            self.library = Some(self.sys_path(cx).iter().filter(|d| !app.contains(d)).cloned().collect());
        }
        self.library.as_deref().unwrap_or_default()
    }
}

/// The dotted name under which `file` (a module's source, package `__init__.py` or compiled
/// extension) is imported from the search path `dirs` (the deepest directory holding it wins:
/// site-packages sits inside the standard library's directory).
fn module_name(file: &str, dirs: &[String]) -> Option<String> {
    let dir = dirs.iter().filter(|d| file.starts_with(&format!("{d}/"))).max_by_key(|d| d.len())?;
    let rel = &file[dir.len() + 1..];
    let rel = if let Some(pkg) = rel.strip_suffix("/__init__.py") {
        pkg.to_owned()
    } else if let Some(m) = rel.strip_suffix(".py") {
        m.to_owned()
    } else if rel.ends_with(".so") {
        // NAME.cpython-311-x86_64-linux-gnu.so, NAME.abi3.so, NAME.so
        let (d, base) = rel.rsplit_once('/').map_or(("", rel), |(d, b)| (d, b));
        let stem = base.split('.').next()?;
        if d.is_empty() {
            stem.to_owned()
        } else {
            format!("{d}/{stem}")
        }
    } else {
        return None;
    };
    let parts: Vec<&str> = rel.split('/').collect();
    let identifier = |p: &&str| {
        p.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
            && p.chars().all(|c| c.is_alphanumeric() || c == '_')
    };
    parts.iter().all(identifier).then(|| parts.join("."))
}

/// The module an import names and where to look for it: a relative import in its package's
/// directory, an absolute one on the search path. None for a bare relative import (`from .`).
fn target(module: &str, file_dir: &str, dirs: &[String]) -> Option<(String, Vec<String>)> {
    let (module, search) = if module.starts_with('.') {
        let level = module.len() - module.trim_start_matches('.').len();
        let mut pkg = file_dir.to_owned();
        for _ in 1..level {
            pkg = parent(&pkg).to_owned();
        }
        (module[level..].to_owned(), vec![pkg])
    } else {
        (module.to_owned(), dirs.to_vec())
    };
    (!module.is_empty()).then_some((module, search))
}

/// Modules CPython (Debian's and the official images' builds) compiles into the interpreter:
/// importable with no file.
const BUILTIN: &[&str] = &[
    "_abc",
    "_ast",
    "_codecs",
    "_collections",
    "_functools",
    "_imp",
    "_io",
    "_locale",
    "_operator",
    "_signal",
    "_sre",
    "_stat",
    "_string",
    "_symtable",
    "_thread",
    "_tracemalloc",
    "_warnings",
    "_weakref",
    "atexit",
    "builtins",
    "errno",
    "faulthandler",
    "gc",
    "itertools",
    "marshal",
    "posix",
    "pwd",
    "sys",
    "time",
    "_tokenize",
    "_typing",
];

/// Whether `module` can be imported from `file_dir`'s context: a file the image has, or a
/// module built into the interpreter.
fn importable(cx: &Cx<'_>, module: &str, file_dir: &str, dirs: &[String]) -> bool {
    BUILTIN.contains(&module)
        || target(module, file_dir, dirs).is_some_and(|(m, search)| find_module(cx, &m, &search).is_some())
}

impl PythonImports {
    /// The codec modules the app's code names: `encodings.NAME` (through the alias table) in
    /// every standard library of the image.
    fn codecs(&mut self, cx: &mut Cx<'_>, path: &str, facts: &[String]) {
        let names: Vec<&str> = facts.iter().filter_map(|f| f.strip_prefix(CODEC)).collect();
        if names.is_empty() {
            return;
        }
        let stdlibs: Vec<String> = self
            .sys_path(cx)
            .iter()
            .filter(|d| cx.index().get(&format!("{d}/encodings/aliases.py")).is_some())
            .cloned()
            .collect();
        for lib in stdlibs {
            let aliases: std::collections::HashMap<String, String> = cx
                .facts_at(&format!("{lib}/encodings/aliases.py"), NAME)
                .unwrap_or_else(|| Arc::from(Vec::new()))
                .iter()
                .filter_map(|f| f.strip_prefix(ALIAS)?.split_once(' ').map(|(a, m)| (a.to_owned(), m.to_owned())))
                .collect();
            for name in &names {
                let norm = normalize_codec(name);
                let module = aliases.get(&norm).cloned().unwrap_or(norm.replace('.', "_"));
                let Some(files) = find_module(cx, &format!("encodings.{module}"), std::slice::from_ref(&lib)) else {
                    continue;
                };
                let reason =
                    Reason::Rule { rule: NAME, what: format!("codec {name}").into(), of: path.to_owned().into() };
                for f in files {
                    cx.want(f, reason.clone());
                }
            }
        }
    }

    /// sys.path as the image's interpreters would build it: each `*/lib/pythonX.Y` with its
    /// lib-dynload, site- and dist-packages, Debian's /usr/lib/python3/dist-packages, PYTHONPATH.
    fn sys_path(&mut self, cx: &Cx<'_>) -> &[String] {
        self.sys_path.get_or_insert_with(|| sys_path(cx))
    }
}

/// The image's PYTHONPATH entries (absolute ones).
fn pythonpath(cx: &Cx<'_>) -> Vec<String> {
    cx.config()
        .env_var("PYTHONPATH")
        .map(|p| p.split(':').filter(|d| d.starts_with('/')).map(|d| d.trim_end_matches('/').to_owned()).collect())
        .unwrap_or_default()
}

fn sys_path(cx: &Cx<'_>) -> Vec<String> {
    let index = cx.index();
    let mut dirs: Vec<String> = pythonpath(cx);
    for prefix in ["/usr/lib/python3.", "/usr/local/lib/python3.", "/opt/"] {
        let roots: Vec<String> = index
            .with_prefix(prefix)
            .filter(|(p, e)| {
                e.is_dir() && {
                    let name = p.rsplit('/').next().unwrap_or("");
                    name.starts_with("python3.") && name[8..].chars().all(|c| c.is_ascii_digit()) && p.contains("/lib/")
                }
            })
            .map(|(p, _)| p.to_owned())
            .collect();
        for root in roots {
            dirs.push(root.clone());
            for sub in ["lib-dynload", "site-packages", "dist-packages"] {
                let d = format!("{root}/{sub}");
                if index.get(&d).is_some_and(|e| e.is_dir()) {
                    dirs.push(d);
                }
            }
            // Debian's local packages: /usr/local/lib/python3.X/dist-packages
            let local = root.replacen("/usr/lib/", "/usr/local/lib/", 1) + "/dist-packages";
            if index.get(&local).is_some_and(|e| e.is_dir()) && !dirs.contains(&local) {
                dirs.push(local);
            }
        }
    }
    if index.get("/usr/lib/python3/dist-packages").is_some_and(|e| e.is_dir()) {
        dirs.push("/usr/lib/python3/dist-packages".into());
    }
    dirs
}

/// The files that make `module` importable from `dirs`: each package's `__init__.py` on the way
/// and the module itself (`.py`, a package, or a compiled extension), plus its cached bytecode
/// when the image has it.
fn find_module(cx: &Cx<'_>, module: &str, dirs: &[String]) -> Option<Vec<String>> {
    let index = cx.index();
    let parts: Vec<&str> = module.split('.').collect();
    'dirs: for dir in dirs {
        let mut files = Vec::new();
        let mut cur = dir.clone();
        for (i, part) in parts.iter().enumerate() {
            let next = format!("{cur}/{part}");
            let last = i + 1 == parts.len();
            let init = format!("{next}/__init__.py");
            if !last {
                if index.get(&init).is_some() {
                    files.push(init);
                } else if !index.get(&next).is_some_and(|e| e.is_dir()) {
                    continue 'dirs;
                }
                cur = next;
                continue;
            }
            let py = format!("{next}.py");
            if index.get(&py).is_some() {
                files.push(py);
            } else if index.get(&init).is_some() {
                files.push(init);
            } else {
                // Compiled extension: NAME.cpython-311-x86_64-linux-gnu.so, NAME.abi3.so, NAME.so
                let ext_prefix = format!("{next}.");
                let ext = index.with_prefix(&ext_prefix).find(|(p, _)| p.ends_with(".so")).map(|(p, _)| p.to_owned());
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
                files.extend(
                    index
                        .with_prefix(&cache_prefix)
                        .filter(|(p, _)| p.ends_with(".pyc") && !p.contains(".opt-"))
                        .map(|(p, _)| p.to_owned()),
                );
            }
        }
        return Some(files);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::tests::{config, files_index, traced};
    use crate::image::FileIndex;
    use crate::select::closure::ClosureBuilder;
    use crate::select::keep::Reason;
    use crate::select::rules::all_except;

    fn python_index() -> FileIndex {
        files_index(&[
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
        ])
    }

    #[test]
    fn imports_of_run_code_are_kept_with_packages_extensions_and_bytecode() {
        let idx = python_index();
        let cfg = config("/app/app.py");
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
        let hashlib = &c.keep.paths["/usr/lib/python3.11/hashlib.py"].reasons[0];
        assert!(
            matches!(hashlib, Reason::Rule { rule: "python-imports", what, of } if &**what == "module hashlib" && &**of == "/app/app.py"),
            "{hashlib:?}"
        );
        // The sweep loads what the rule found in the library, never the app's own modules.
        let reached: Vec<&str> = c.reached.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(reached, ["_hashlib", "hashlib", "json", "json.decoder", "re"]);
        // hashlib was found statically: its function-level `import doctest` is not followed.
        assert!(!c.keep.contains("/usr/lib/python3.11/doctest.py"));
        assert!(!c.keep.contains("/usr/lib/python3.11/unused.py"));
        assert!(c.unresolved.is_empty(), "{:?}", c.unresolved);
    }

    /// Settings name modules and classes in strings that an importer resolves on first use:
    /// those that resolve in the image are kept (and go to the sweep); file names, host names,
    /// strings that name no module and a library's own strings are not.
    #[test]
    fn dotted_paths_in_the_apps_strings() {
        let app = "LOGGING = {'handlers': {'trail': {'class': 'auditkit.handlers.MemoryTrail'}}}\n\
                   CACHE = \"logging.handlers\"\nPAGE = 'index.html'\nHOST = 'shop.example.com'\n\
                   MISSING = 'nosuch.module.Thing'\n";
        let idx = files_index(&[
            ("app/app.py", app),
            ("usr/lib/python3.11/logging/__init__.py", ""),
            ("usr/lib/python3.11/logging/handlers.py", ""),
            ("usr/lib/python3.11/json/__init__.py", "SETTING = 'logging.config'\n"),
            ("usr/lib/python3.11/logging/config.py", ""),
            ("usr/local/lib/python3.11/dist-packages/auditkit/__init__.py", ""),
            ("usr/local/lib/python3.11/dist-packages/auditkit/handlers.py", "class MemoryTrail: pass\n"),
            ("usr/lib/python3.11/index.py", ""),
        ]);
        let cfg = config("/app/app.py");
        let build = |off: &[&str]| {
            let mut off: Vec<String> = off.iter().map(|s| s.to_string()).collect();
            off.push("app-tree".into());
            ClosureBuilder::new(&idx, &cfg)
                .rules(all_except(&off))
                .seeds([traced("/app/app.py"), traced("/usr/lib/python3.11/json/__init__.py")])
                .build()
        };
        let c = build(&[]);
        assert!(c.keep.contains("/usr/local/lib/python3.11/dist-packages/auditkit/handlers.py"));
        assert!(c.keep.contains("/usr/lib/python3.11/logging/handlers.py"));
        assert!(!c.keep.contains("/usr/lib/python3.11/index.py"), "a file name");
        assert!(!c.keep.contains("/usr/lib/python3.11/logging/config.py"), "a library's own string");
        let reached: Vec<&str> = c.reached.iter().map(|r| r.name.as_str()).collect();
        assert!(
            reached.contains(&"auditkit.handlers.MemoryTrail") && reached.contains(&"logging.handlers"),
            "{reached:?}"
        );
        let c = build(&["python-imports"]);
        assert!(!c.keep.contains("/usr/local/lib/python3.11/dist-packages/auditkit/handlers.py"));
    }

    #[test]
    fn codecs_the_app_names_and_sysconfigs_data_module() {
        let idx = files_index(&[
            ("app/app.py", "import sysconfig\ndata = raw.decode('Latin-1')\nopen(p, encoding=\"cp1252\")\n"),
            ("usr/lib/python3.11/sysconfig.py", ""),
            ("usr/lib/python3.11/_sysconfigdata__x86_64-linux-gnu.py", "build_time_vars = {}"),
            ("usr/lib/python3.11/encodings/__init__.py", ""),
            (
                "usr/lib/python3.11/encodings/aliases.py",
                "aliases = {\n    'latin1' : 'latin_1',\n    'l1' : 'latin_1',\n}\n",
            ),
            ("usr/lib/python3.11/encodings/latin_1.py", ""),
            ("usr/lib/python3.11/encodings/cp1252.py", ""),
            ("usr/lib/python3.11/encodings/koi8_r.py", ""),
        ]);
        let cfg = config("/app/app.py");
        let c = ClosureBuilder::new(&idx, &cfg)
            .rules(all_except(&["app-tree".into()]))
            .seeds([traced("/app/app.py")])
            .build();
        for kept in [
            "/usr/lib/python3.11/_sysconfigdata__x86_64-linux-gnu.py",
            "/usr/lib/python3.11/encodings/latin_1.py",
            "/usr/lib/python3.11/encodings/cp1252.py",
        ] {
            assert!(c.keep.contains(kept), "{kept}: {:?}", c.keep.paths.keys().collect::<Vec<_>>());
        }
        assert!(!c.keep.contains("/usr/lib/python3.11/encodings/koi8_r.py"), "a codec nobody names");
        assert_eq!(super::normalize_codec("Latin-1"), "latin_1");
        assert_eq!(super::normalize_codec("  UTF--8 "), "utf_8");
    }

    #[test]
    fn a_name_the_app_takes_from_a_library_module_is_swept_as_an_attribute() {
        let idx = files_index(&[
            ("app/app.py", "from json import loads\nfrom .local import thing\n"),
            ("app/local.py", ""),
            ("usr/lib/python3.11/json/__init__.py", ""),
            ("usr/lib/python3.11/site-packages/ext/__init__.py", "from ._speed import run\n"),
            ("usr/lib/python3.11/site-packages/ext/_speed.cpython-311-x86_64-linux-gnu.so", "not really ELF"),
        ]);
        let cfg = config("/app/app.py");
        let c = ClosureBuilder::new(&idx, &cfg).seeds([traced("/app/app.py")]).build();
        let reached: Vec<&str> = c.reached.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(reached, ["json", "json.loads"], "the app's own module is not swept");
        assert_eq!(
            super::module_name(
                "/usr/lib/python3.11/site-packages/ext/_speed.cpython-311-x86_64-linux-gnu.so",
                &["/usr/lib/python3.11".into(), "/usr/lib/python3.11/site-packages".into()]
            )
            .as_deref(),
            Some("ext._speed")
        );
        assert_eq!(super::module_name("/usr/lib/python3.11/my-tool/x.py", &["/usr/lib/python3.11".into()]), None);
    }

    /// A library module the run loaded may have any of its functions called: its lazy imports
    /// are kept, even when the importer that names it is examined before its own seed.
    #[test]
    fn a_module_the_run_loaded_is_not_taken_for_one_found_by_reading() {
        let idx = files_index(&[
            ("app/app.py", "import errlib\n"),
            ("usr/lib/python3.11/errlib.py", "def describe(e):\n    import errlib_render\n"),
            ("usr/lib/python3.11/errlib_render.py", ""),
        ]);
        let cfg = config("/app/app.py");
        let c = ClosureBuilder::new(&idx, &cfg)
            .seeds([traced("/app/app.py"), traced("/usr/lib/python3.11/errlib.py")])
            .build();
        assert!(c.keep.contains("/usr/lib/python3.11/errlib_render.py"));
        let reached: Vec<&str> = c.reached.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(reached, ["errlib_render"], "the run loaded errlib itself");
    }

    /// The functions of a module that code the run ran imports may be called: its lazy imports
    /// are kept; those of modules one more step away are not (their module level runs).
    #[test]
    fn lazy_imports_are_followed_one_step_from_code_the_run_ran() {
        let idx = files_index(&[
            ("app/app.py", "def export():\n    import tarfile\n"),
            ("usr/lib/python3.11/tarfile.py", "import shutil\ndef gzopen():\n    from gzip import GzipFile\n"),
            ("usr/lib/python3.11/gzip.py", "import zlib_shim\ndef main():\n    import gzip_cli\n"),
            ("usr/lib/python3.11/zlib_shim.py", ""),
            ("usr/lib/python3.11/gzip_cli.py", ""),
            ("usr/lib/python3.11/shutil.py", "def make_archive():\n    import zipfile\n"),
            ("usr/lib/python3.11/zipfile.py", ""),
        ]);
        let cfg = config("/app/app.py");
        let c = ClosureBuilder::new(&idx, &cfg).seeds([traced("/app/app.py")]).build();
        for kept in ["tarfile.py", "gzip.py", "zlib_shim.py", "shutil.py"] {
            assert!(c.keep.contains(&format!("/usr/lib/python3.11/{kept}")), "{kept}");
        }
        for dropped in ["gzip_cli.py", "zipfile.py"] {
            assert!(!c.keep.contains(&format!("/usr/lib/python3.11/{dropped}")), "{dropped}");
        }
    }

    #[test]
    fn the_rule_can_be_turned_off() {
        let idx = python_index();
        let cfg = config("/app/app.py");
        let c = ClosureBuilder::new(&idx, &cfg)
            .rules(all_except(&["python-imports".into()]))
            .seeds([traced("/app/app.py")])
            .build();
        assert!(!c.keep.contains("/usr/lib/python3.11/hashlib.py"));
        assert!(!c.keep.contains("/usr/lib/python3.11/json/__init__.py"));
    }
}
