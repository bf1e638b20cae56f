//! Coverage rule shell-commands: the programs a kept, executable shell script names on any
//! branch, found through the image's PATH (or by their absolute path).

mod words;

use super::Rule;
use crate::image::facts::ContentReader;
use crate::image::layer::first_line;
use crate::image::Entry;
use crate::select::closure::Cx;
use crate::select::keep::Reason;
use std::sync::Arc;

const NAME: &str = "shell-commands";

/// Shell scripts larger than this are not read for the commands they name.
const READ_LIMIT: u64 = 256 << 10;

pub struct ShellCommands;

struct Reader;

impl ContentReader for Reader {
    fn name(&self) -> &'static str {
        NAME
    }
    fn wants(&self, _path: &str, size: u64, head: &[u8]) -> bool {
        size <= READ_LIMIT && head.strip_prefix(b"#!").and_then(first_line).is_some_and(|l| words::is_shell(&l))
    }
    fn read(&self, _path: &str, content: &[u8]) -> Vec<String> {
        words::parse(&String::from_utf8_lossy(content))
    }
}

impl Rule for ShellCommands {
    fn name(&self) -> &'static str {
        NAME
    }
    fn about(&self) -> &'static str {
        "the programs that kept shell scripts name (on every branch) unless the run used them"
    }
    fn reader(&self) -> Option<Arc<dyn ContentReader>> {
        Some(Arc::new(Reader))
    }
    fn on_file(&mut self, cx: &mut Cx<'_>, path: &str, entry: &Entry) {
        // Only an executable script runs as one (its `#!` is honoured on exec).
        if entry.mode & 0o111 == 0 {
            return;
        }
        let Some(words) = entry.facts_from(NAME) else { return };
        for w in words {
            let found = if w.starts_with('/') {
                cx.entry(w).filter(|e| !e.is_dir() && e.mode & 0o111 != 0).map(|_| w.clone())
            } else if w.contains('/') {
                None
            } else {
                cx.find_program(w, "/")
            };
            if let Some(p) = found {
                cx.want(p, Reason::Rule { rule: NAME, what: format!("command {w}"), of: path.to_owned() });
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
    fn commands_of_executable_scripts_are_kept_on_every_branch() {
        let idx = files_index(&[
            ("app/run.sh*", "#!/bin/sh\nif [ -n \"$1\" ]; then jq . \"$1\"; else /usr/bin/awk 1 x; fi\n"),
            ("app/lib.sh", "#!/bin/sh\nsort x\n"),
            ("usr/bin/jq*", "binary"),
            ("usr/bin/awk*", "binary"),
            ("usr/bin/sort*", "binary"),
            ("bin/sh*", "binary"),
        ]);
        let cfg = config("/app/run.sh");
        let c = ClosureBuilder::new(&idx, &cfg).seeds([traced("/app/run.sh"), traced("/app/lib.sh")]).build();
        assert!(c.keep.contains("/usr/bin/jq") && c.keep.contains("/usr/bin/awk"), "{:?}", c.keep.paths.keys());
        assert!(!c.keep.contains("/usr/bin/sort"), "a script that is not executable runs nothing");
        let c = ClosureBuilder::new(&idx, &cfg)
            .rules(all_except(&["shell-commands".into()]))
            .seeds([traced("/app/run.sh")])
            .build();
        assert!(!c.keep.contains("/usr/bin/jq"));
    }
}
