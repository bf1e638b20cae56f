//! Coverage rule node-requires: `require("literal")` / `import ... from "literal"` of kept
//! JavaScript, resolved as Node does: relative files, node_modules packages (package.json
//! main), the global and Debian locations. Built-in modules need no file.

mod requires;

use super::Rule;
use crate::image::index::entry::{join, parent};
use crate::image::index::facts::ContentReader;
use crate::image::Entry;
use crate::select::closure::Cx;
use crate::select::keep::Reason;
use crate::select::reached::Reached;
use std::sync::Arc;

const NAME: &str = "node-requires";

/// Sources larger than this are not read (bundles, generated code).
const READ_LIMIT: u64 = 2 << 20;

pub struct NodeRequires;

struct Reader;

impl ContentReader for Reader {
    fn name(&self) -> &'static str {
        NAME
    }
    fn wants(&self, path: &str, size: u64, _head: &[u8]) -> bool {
        (path.ends_with(".js") || path.ends_with(".mjs") || path.ends_with(".cjs")) && size <= READ_LIMIT
    }
    fn lazy(&self) -> bool {
        true
    }
    fn read(&self, _path: &str, content: &[u8]) -> Vec<String> {
        requires::parse(&String::from_utf8_lossy(content))
    }
}

impl Rule for NodeRequires {
    fn name(&self) -> &'static str {
        NAME
    }
    fn about(&self) -> &'static str {
        "the modules that kept JavaScript loads with require()/import unless the run used them"
    }
    fn reader(&self) -> Option<Arc<dyn ContentReader>> {
        Some(Arc::new(Reader))
    }
    fn on_file(&mut self, cx: &mut Cx<'_>, path: &str, entry: &Entry) {
        let Some(specs) = cx.facts(path, entry, NAME) else { return };
        let dir = parent(path).to_owned();
        for spec in specs.iter() {
            if requires::is_builtin(spec) {
                continue;
            }
            let found = if spec.starts_with("./") || spec.starts_with("../") || spec == "." || spec == ".." {
                // `..` is resolved inside the index by the closure, never lexically
                node_file(cx, &join(&dir, spec.trim_end_matches('/')), 0)
            } else if spec.starts_with('/') {
                node_file(cx, spec, 0)
            } else {
                package_candidates(&dir, spec).iter().find_map(|c| node_file(cx, c, 0))
            };
            let Some(files) = found else { continue };
            let reason = Reason::Rule { rule: NAME, what: format!("module {spec}").into(), of: path.to_owned().into() };
            for f in files {
                if sweepable(&f) && !cx.keep().contains(&f) && !cx.used_by_run(&f) {
                    cx.reach(Reached::node(f.clone()));
                }
                cx.want(f, reason.clone());
            }
        }
    }
}

/// The sweep requires what this rule found in installed packages (never the app's own files:
/// requiring those may start the app again), and only CommonJS code (`require` of an ES
/// module fails on the Node versions Debian ships).
fn sweepable(file: &str) -> bool {
    let installed = file.contains("/node_modules/") || GLOBAL.iter().any(|g| file.starts_with(&format!("{g}/")));
    installed && (file.ends_with(".js") || file.ends_with(".cjs") || file.ends_with(".node"))
}

/// Node's global and Debian's package locations.
const GLOBAL: [&str; 4] =
    ["/usr/local/lib/node_modules", "/usr/lib/node_modules", "/usr/share/nodejs", "/usr/lib/nodejs"];

/// Where Node looks for a package: node_modules of every ancestor, then the global and Debian
/// locations.
fn package_candidates(dir: &str, spec: &str) -> Vec<String> {
    let mut candidates = Vec::new();
    let mut d = dir.to_owned();
    loop {
        if !d.ends_with("/node_modules") {
            candidates.push(format!("{}/node_modules/{spec}", d.trim_end_matches('/')));
        }
        if d == "/" {
            break;
        }
        d = parent(&d).to_owned();
    }
    for g in GLOBAL {
        candidates.push(format!("{g}/{spec}"));
    }
    candidates
}

/// Node's file resolution of X: the file, X.js/.json/.node/.mjs/.cjs, or the directory's
/// package.json main / index.js. Returns the files to keep (package.json included).
fn node_file(cx: &Cx<'_>, x: &str, depth: u8) -> Option<Vec<String>> {
    if cx.is_file(x) {
        return Some(vec![x.to_owned()]);
    }
    for ext in [".js", ".json", ".node", ".mjs", ".cjs"] {
        let f = format!("{x}{ext}");
        if cx.is_file(&f) {
            return Some(vec![f]);
        }
    }
    if !cx.is_dir(x) || depth > 3 {
        return None;
    }
    let pkg = format!("{x}/package.json");
    // package.json files are captured whole by the index (the package inventory reads them too).
    let main = cx.entry(&pkg).and_then(|e| e.captured()).and_then(requires::package_main);
    let mut files = Vec::new();
    if cx.is_file(&pkg) {
        files.push(pkg);
    }
    if let Some(main) = main {
        let target = join(x, main.trim_start_matches("./"));
        if let Some(f) = node_file(cx, &target, depth + 1) {
            files.extend(f);
            return Some(files);
        }
    }
    for index in ["index.js", "index.json", "index.node"] {
        let f = format!("{x}/{index}");
        if cx.is_file(&f) {
            files.push(f);
            return Some(files);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::tests::{config, files_index, traced};
    use crate::select::closure::ClosureBuilder;
    use crate::select::rules::all_except;

    #[test]
    fn requires_follow_relative_files_packages_and_skip_builtins() {
        let idx = files_index(&[
            (
                "app/server.js",
                "const http = require('http');\nfunction h() { return require('./lib/report'); }\nrequire('left-pad');\n",
            ),
            ("app/lib/report.js", "const zlib = require('node:zlib');\nconst d = require('../data');\n"),
            ("app/data.json", "{}"),
            ("app/node_modules/left-pad/package.json", r#"{"name":"left-pad","main":"lib/pad.js"}"#),
            ("app/node_modules/left-pad/lib/pad.js", "module.exports = 1;\n"),
            ("app/node_modules/unused/index.js", ""),
        ]);
        let cfg = config("node");
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
        let reached: Vec<&str> = c.reached.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(reached, ["/app/node_modules/left-pad/lib/pad.js"], "installed packages only, not the app's files");
        let c = ClosureBuilder::new(&idx, &cfg)
            .rules(all_except(&["node-requires".into(), "app-tree".into()]))
            .seeds([traced("/app/server.js")])
            .build();
        assert!(!c.keep.contains("/app/lib/report.js"));
    }
}
