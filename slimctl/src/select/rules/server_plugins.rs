//! Coverage rule server-plugins: what a query can make a database server load at any time.
//! PostgreSQL loads an extension on `CREATE EXTENSION name` (or `LOAD`): its control file, its
//! SQL scripts from the extension directory and the shared object the control file names from
//! the server's library directory. Every extension installed beside a kept server stays.

use super::Rule;
use crate::image::index::entry::{join, parent};
use crate::image::index::facts::ContentReader;
use crate::select::closure::Cx;
use crate::select::keep::Reason;
use std::sync::Arc;

const NAME: &str = "server-plugins";

pub struct ServerPlugins;

struct Reader;

impl ContentReader for Reader {
    fn name(&self) -> &'static str {
        NAME
    }
    fn wants(&self, path: &str, size: u64, _head: &[u8]) -> bool {
        path.ends_with(".control") && path.contains("/extension/") && size <= 64 << 10
    }
    fn read(&self, _path: &str, content: &[u8]) -> Vec<String> {
        // module_pathname = '$libdir/hstore': the shared object the extension's SQL loads.
        String::from_utf8_lossy(content)
            .lines()
            .filter_map(|l| l.trim().strip_prefix("module_pathname"))
            .filter_map(|v| {
                let v = v.trim_start().strip_prefix('=')?.trim().trim_matches('\'');
                Some(v.strip_prefix("$libdir/").unwrap_or(v).to_owned())
            })
            .collect()
    }
}

impl Rule for ServerPlugins {
    fn name(&self) -> &'static str {
        NAME
    }
    fn about(&self) -> &'static str {
        "the extensions a query can load into a kept database server (PostgreSQL's control files, SQL \
         scripts and shared objects)"
    }
    fn reader(&self) -> Option<Arc<dyn ContentReader>> {
        Some(Arc::new(Reader))
    }
    fn on_complete(&mut self, cx: &mut Cx<'_>) {
        // A PostgreSQL server: .../lib/postgresql/VER/bin/postgres (Debian, the official image)
        // or a source build's .../bin/postgres next to share/extension.
        let servers: Vec<String> = cx
            .keep()
            .paths
            .keys()
            .filter(|p| p.ends_with("/bin/postgres") && cx.index().get(p).is_some_and(|e| !e.is_dir()))
            .cloned()
            .collect();
        for server in servers {
            let home = parent(parent(&server)).to_owned();
            let version = home.rsplit('/').next().unwrap_or("").to_owned();
            let (ext_dir, lib_dir) = if home.contains("/lib/postgresql/") {
                (format!("/usr/share/postgresql/{version}/extension"), join(&home, "lib"))
            } else {
                (join(&home, "share/extension"), join(&home, "lib"))
            };
            let controls: Vec<(String, Vec<String>)> = cx
                .index()
                .subtree(&ext_dir)
                .filter(|(p, _)| p.ends_with(".control"))
                .map(|(p, e)| (p.to_owned(), e.facts_from(NAME).unwrap_or_default().to_vec()))
                .collect();
            let scripts: Vec<String> =
                cx.index().subtree(&ext_dir).filter(|(p, _)| p.ends_with(".sql")).map(|(p, _)| p.to_owned()).collect();
            for (control, modules) in controls {
                let ext = control.rsplit('/').next().unwrap_or("").trim_end_matches(".control").to_owned();
                let reason =
                    Reason::Rule { rule: NAME, what: format!("extension {ext}").into(), of: server.clone().into() };
                let prefix = format!("{ext_dir}/{ext}--");
                for s in scripts.iter().filter(|s| s.starts_with(&prefix)) {
                    cx.want_if_present(s.clone(), reason.clone(), false);
                }
                for m in modules {
                    cx.want_if_present(join(&lib_dir, &format!("{m}.so")), reason.clone(), false);
                }
                cx.want_if_present(control, reason, false);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{config, files_index, traced};
    use crate::select::closure::ClosureBuilder;
    use crate::select::rules::all_except;

    #[test]
    fn every_installed_extension_stays_beside_a_kept_server() {
        let idx = files_index(&[
            ("usr/lib/postgresql/15/bin/postgres*", "server"),
            ("usr/lib/postgresql/15/lib/hstore.so", "so"),
            ("usr/lib/postgresql/15/lib/unrelated.so", "so"),
            ("usr/share/postgresql/15/extension/hstore.control", "comment = 'x'\nmodule_pathname = '$libdir/hstore'\n"),
            ("usr/share/postgresql/15/extension/hstore--1.8.sql", "CREATE TYPE hstore;"),
            ("usr/share/postgresql/15/extension/hstore--1.7--1.8.sql", "ALTER"),
        ]);
        let cfg = config("postgres");
        let seeds = [traced("/usr/lib/postgresql/15/bin/postgres")];
        let c = ClosureBuilder::new(&idx, &cfg).seeds(seeds.clone()).build();
        for kept in [
            "/usr/share/postgresql/15/extension/hstore.control",
            "/usr/share/postgresql/15/extension/hstore--1.8.sql",
            "/usr/share/postgresql/15/extension/hstore--1.7--1.8.sql",
            "/usr/lib/postgresql/15/lib/hstore.so",
        ] {
            assert!(c.keep.contains(kept), "{kept}: {:?}", c.keep.paths.keys().collect::<Vec<_>>());
        }
        assert!(!c.keep.contains("/usr/lib/postgresql/15/lib/unrelated.so"), "a library no extension names");
        let c = ClosureBuilder::new(&idx, &cfg).rules(all_except(&["server-plugins".into()])).seeds(seeds).build();
        assert!(!c.keep.contains("/usr/lib/postgresql/15/lib/hstore.so"));
    }
}
