//! Coverage rules: what the app can reach although no probe reached it (a module imported
//! inside a function, a command on a branch of a script, data a library reads by name). Each
//! rule is one module here, implementing [`Rule`], and one line in [`all`]; it names itself in
//! the report (`coverage:NAME`) and is turned off with `--no-NAME`.

use super::closure::Cx;
use crate::image::index::facts::ContentReader;
use crate::image::Entry;
use std::sync::Arc;

mod app_tree;
mod fonts;
mod jvm;
mod message_catalogs;
mod node;
mod perl;
mod php;
mod program_paths;
mod python;
mod ruby;
mod runtime_data;
mod server_plugins;
mod shell;
mod time_zones;
mod web_roots;

/// One coverage rule.
pub trait Rule: Send {
    /// The rule's name: its report category (`coverage:NAME`) and its flag (`--no-NAME`).
    fn name(&self) -> &'static str;
    /// What it keeps, for `--help` (completes "do not keep ...").
    fn about(&self) -> &'static str;
    /// What it reads from file contents while the image is indexed, if anything; its facts
    /// come back as [`Entry::facts_from`] under the rule's name.
    fn reader(&self) -> Option<Arc<dyn ContentReader>> {
        None
    }
    /// A kept regular file, as the closure examines it: want what it leads to.
    fn on_file(&mut self, _cx: &mut Cx<'_>, _path: &str, _entry: &Entry) {}
    /// Once the closure is complete: want what the whole keep-set implies.
    fn on_complete(&mut self, _cx: &mut Cx<'_>) {}
}

/// Every rule, in the order they see each kept file.
pub fn all() -> Vec<Box<dyn Rule>> {
    vec![
        Box::new(python::PythonImports::default()),
        Box::new(node::NodeRequires),
        Box::new(php::PhpIncludes),
        Box::new(ruby::RubyRequires::default()),
        Box::new(perl::PerlRequires::default()),
        Box::new(shell::ShellCommands::default()),
        Box::new(runtime_data::RuntimeData),
        Box::new(time_zones::TimeZones),
        Box::new(program_paths::ProgramPaths),
        Box::new(jvm::JvmNatives),
        Box::new(fonts::Fonts),
        Box::new(server_plugins::ServerPlugins),
        Box::new(web_roots::WebRoots),
        Box::new(app_tree::AppTree),
        Box::new(message_catalogs::MessageCatalogs),
    ]
}

/// Every rule but those named in `off`.
pub fn all_except(off: &[String]) -> Vec<Box<dyn Rule>> {
    all().into_iter().filter(|r| !off.iter().any(|o| o == r.name())).collect()
}

/// The content readers of `rules`, for opening the image.
pub fn readers(rules: &[Box<dyn Rule>]) -> Vec<Arc<dyn ContentReader>> {
    rules.iter().filter_map(|r| r.reader()).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::image::index::tar::scan_layer;
    use crate::image::{FileIndex, ImageConfig};
    use crate::select::keep::{Reason, Seed};

    /// An index of (path, content) files from one in-memory layer, read by every rule's reader.
    /// A path ending in `*` is an executable file, one ending in `@` a symlink to the content
    /// (the mark is dropped).
    pub fn files_index(files: &[(&str, &str)]) -> FileIndex {
        let items: Vec<(&str, char, &str)> = files
            .iter()
            .map(|(at, data)| match (at.strip_suffix('*'), at.strip_suffix('@')) {
                (Some(exe), _) => (exe, 'x', *data),
                (_, Some(link)) => (link, 'l', *data),
                _ => (*at, 'f', *data),
            })
            .collect();
        let tar = crate::image::index::tar::tests::layer_tar(&items);
        let mut idx = FileIndex::new();
        idx.apply_layer(scan_layer(&tar[..], 0, "test", &readers(&all())).unwrap(), None);
        idx
    }

    pub fn config(entrypoint: &str) -> ImageConfig {
        ImageConfig::parse(
            format!(
                r#"{{"architecture":"amd64","os":"linux","config":{{"Entrypoint":["{entrypoint}"],"Env":["PATH=/usr/bin:/bin"]}},"rootfs":{{"type":"layers","diff_ids":[]}}}}"#
            )
            .as_bytes(),
            "t",
        )
        .unwrap()
    }

    pub fn traced(path: &str) -> Seed {
        Seed { path: path.into(), reason: Reason::Traced { how: "open".into(), by: "app[1]".into() }, optional: true }
    }

    #[test]
    fn names_are_unique_flags() {
        let names: Vec<&str> = all().iter().map(|r| r.name()).collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        assert!(names.iter().all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '-')), "{names:?}");
        assert_eq!(all_except(&["shell-commands".into()]).len(), names.len() - 1);
    }
}
