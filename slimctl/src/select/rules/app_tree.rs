//! Coverage rule app-tree: the application's own files. When the app runs or reads a file that
//! no package owns, in a directory of its own (`/app`, `/srv/site`, `/opt/tool`, `/usr/src/app`,
//! `/var/www/html`...), that directory's whole tree stays: its sources, templates, views,
//! static assets and data, which a probe reaches one at a time if at all. Version-control
//! directories and caches stay out, and so do files a package owns (dependencies installed in
//! the tree, such as node_modules or a virtualenv, are the other rules' business).

use super::Rule;
use crate::select::closure::Cx;
use crate::select::keep::Reason;
use std::collections::{BTreeMap, HashSet};

const NAME: &str = "app-tree";

/// Top-level directories of the system, never an application's own.
const SYSTEM: &[&str] = &[
    "usr", "etc", "var", "lib", "lib32", "lib64", "libx32", "bin", "sbin", "boot", "dev", "proc", "sys", "run", "tmp",
    "mnt", "media",
];

/// Directories that hold applications, one per entry: the application is the entry below.
const HOLDERS: &[&str] =
    &["/opt", "/srv", "/home", "/root", "/usr/src", "/usr/local/src", "/var/www", "/usr/share/nginx"];

/// Directory names that are version control, caches or installed dependencies, not the
/// application's own files.
const NOT_THE_APP: &[&str] = &[
    ".git",
    ".svn",
    ".hg",
    ".bzr",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".tox",
    ".nox",
    ".cache",
    ".npm",
    ".yarn",
    ".gradle",
    ".m2",
    ".idea",
    ".vscode",
    // Dependencies installed in the tree: node-requires and python-imports keep what is used.
    "node_modules",
    "site-packages",
    "dist-packages",
];

pub struct AppTree;

impl Rule for AppTree {
    fn name(&self) -> &'static str {
        NAME
    }
    fn about(&self) -> &'static str {
        "the whole tree of the application's own directory (files no package owns) once the app used a file of it"
    }
    fn on_complete(&mut self, cx: &mut Cx<'_>) {
        let owned: HashSet<&str> = cx.packages().iter().flat_map(|p| p.files.iter().map(String::as_str)).collect();
        // Each application root, with the first file of it the app used.
        let mut roots: BTreeMap<String, String> = BTreeMap::new();
        for (path, kept) in &cx.keep().paths {
            let used = kept.traced("open") || kept.traced("exec");
            let file = cx.index().get(path).is_some_and(|e| !e.is_dir());
            if used && file && !owned.contains(path.as_str()) {
                if let Some(root) = app_root(path) {
                    roots.entry(root).or_insert_with(|| path.clone());
                }
            }
        }
        for (root, because) in roots {
            let index = cx.index();
            let tree: Vec<String> = index
                .subtree(&root)
                .filter(|(p, _)| !p[root.len()..].split('/').any(|c| NOT_THE_APP.contains(&c)))
                .filter(|(p, e)| e.is_dir() || !owned.contains(p))
                .map(|(p, _)| p.to_owned())
                .collect();
            let reason =
                Reason::Rule { rule: NAME, what: format!("application tree {root}").into(), of: because.into() };
            for p in tree {
                cx.want_if_present(p, reason.clone(), false);
            }
        }
    }
}

/// The application directory a file belongs to: the entry below a directory that holds
/// applications (`/opt/tool`, `/srv/site`), or a top-level directory that is not the system's
/// (`/app`). None for the system's own places.
fn app_root(path: &str) -> Option<String> {
    let dir = crate::image::index::entry::parent(path);
    for holder in HOLDERS {
        if dir == *holder {
            return None;
        }
        if let Some(rest) = dir.strip_prefix(holder).and_then(|r| r.strip_prefix('/')) {
            let first = rest.split('/').next().filter(|c| !c.is_empty())?;
            return Some(format!("{holder}/{first}"));
        }
    }
    let top = dir.trim_start_matches('/').split('/').next().filter(|c| !c.is_empty())?;
    (!SYSTEM.contains(&top)).then(|| format!("/{top}"))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{config, files_index, traced};
    use super::app_root;
    use crate::select::closure::ClosureBuilder;
    use crate::select::keep::Reason;
    use crate::select::rules::all_except;

    #[test]
    fn application_roots() {
        assert_eq!(app_root("/app/app.py").as_deref(), Some("/app"));
        assert_eq!(app_root("/app/views/index.html").as_deref(), Some("/app"));
        assert_eq!(app_root("/srv/site/index.html").as_deref(), Some("/srv/site"));
        assert_eq!(app_root("/var/www/html/index.php").as_deref(), Some("/var/www/html"));
        assert_eq!(app_root("/usr/src/app/lib/x.js").as_deref(), Some("/usr/src/app"));
        assert_eq!(app_root("/opt/tool/bin/run").as_deref(), Some("/opt/tool"));
        assert_eq!(app_root("/opt/file-at-the-top"), None, "a file directly in /opt is no application");
        assert_eq!(app_root("/usr/local/bin/script"), None);
        assert_eq!(app_root("/etc/app.conf"), None);
        assert_eq!(app_root("/main.py"), None);
    }

    #[test]
    fn the_apps_tree_stays_but_not_its_caches_vcs_or_packaged_files() {
        let idx = files_index(&[
            ("app/app.py", "import flask\n"),
            ("app/templates/report.html", "<h1>{{ title }}</h1>"),
            ("app/static/site.css", "h1 {}"),
            ("app/data/rates.csv", "a,1"),
            ("app/.git/HEAD", "ref: refs/heads/main"),
            ("app/__pycache__/app.cpython-311.pyc", "bytecode"),
            ("app/.venv/lib/python3.11/site-packages/six-1.0.dist-info/METADATA", "Name: six\nVersion: 1.0\n"),
            ("app/.venv/lib/python3.11/site-packages/six-1.0.dist-info/RECORD", "six.py,,\n"),
            ("app/.venv/lib/python3.11/site-packages/six.py", "# packaged"),
            ("opt/other/tool.sh", "#!/bin/sh\n"),
            ("etc/app.conf", "x=1"),
        ]);
        let cfg = config("python3");
        let inventory = crate::select::packages::inventory(&idx);
        let seeds = [traced("/app/app.py"), traced("/etc/app.conf")];
        let c = ClosureBuilder::new(&idx, &cfg).packages(&inventory).seeds(seeds.clone()).build();
        for kept in ["/app/templates/report.html", "/app/static/site.css", "/app/data/rates.csv"] {
            let why = &c.keep.paths.get(kept).unwrap_or_else(|| panic!("{kept} not kept")).reasons[0];
            assert!(matches!(why, Reason::Rule { rule: "app-tree", .. }), "{why:?}");
        }
        for out in [
            "/app/.git/HEAD",
            "/app/__pycache__/app.cpython-311.pyc",
            "/app/.venv/lib/python3.11/site-packages/six.py",
            "/opt/other/tool.sh",
        ] {
            assert!(!c.keep.contains(out), "{out} kept");
        }
        let c = ClosureBuilder::new(&idx, &cfg)
            .packages(&inventory)
            .rules(all_except(&["app-tree".into()]))
            .seeds(seeds)
            .build();
        assert!(!c.keep.contains("/app/templates/report.html"));
    }
}
