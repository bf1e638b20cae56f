//! Coverage rule shell-commands: the programs a kept, executable shell script names on any
//! branch, and the programs code in other languages starts with literal commands (Python's
//! subprocess, Node's child_process, Ruby/PHP/Perl system and backticks, with the shell itself
//! when a command line goes through it), found through the image's PATH (or by their absolute
//! path).

mod calls;
mod words;

use super::Rule;
use crate::image::index::facts::ContentReader;
use crate::image::index::layer::first_line;
use crate::image::Entry;
use crate::select::closure::Cx;
use crate::select::keep::Reason;
use std::sync::Arc;

const NAME: &str = "shell-commands";

/// Whether a program's file name is a shell's (`sh`, `bash`, `dash`...).
pub(super) fn is_shell_name(file: &str) -> bool {
    words::is_shell(file)
}

/// Shell scripts larger than this are not read for the commands they name.
const READ_LIMIT: u64 = 256 << 10;

/// Sources in other languages larger than this are not read for commands.
const CODE_READ_LIMIT: u64 = 2 << 20;

#[derive(Default)]
pub struct ShellCommands {
    /// Files a package owns, found on first use: their commands are the library's business.
    owned: Option<std::collections::HashSet<String>>,
}

struct Reader;

impl ContentReader for Reader {
    fn name(&self) -> &'static str {
        NAME
    }
    fn wants(&self, path: &str, size: u64, head: &[u8]) -> bool {
        let script = head.strip_prefix(b"#!").and_then(first_line).is_some_and(|l| words::is_shell(&l));
        (script && size <= READ_LIMIT) || (calls::language(path).is_some() && size <= CODE_READ_LIMIT)
    }
    fn lazy(&self) -> bool {
        true
    }
    fn read(&self, path: &str, content: &[u8]) -> Vec<String> {
        let text = String::from_utf8_lossy(content);
        match calls::language(path) {
            Some(lang)
                if !content.starts_with(b"#!") || !words::is_shell(&first_line(&content[2..]).unwrap_or_default()) =>
            {
                calls::parse(&text, lang).iter().map(calls::encode).collect()
            }
            _ => words::parse(&text),
        }
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
        let Some(facts) = cx.facts(path, entry, NAME) else { return };
        // A shell script runs as one only when executable (its `#!` is honoured on exec); code
        // in another language runs its commands whenever the code that holds them runs.
        let executable = entry.mode & 0o111 != 0;
        // Commands in a library's code (a package's file) run when the app calls that part of
        // the library, which its own code then names: the app's code is where they count.
        let owned = self.owned.get_or_insert_with(|| {
            cx.packages().iter().flat_map(|p| p.files.iter().cloned()).collect::<std::collections::HashSet<_>>()
        });
        let library = owned.contains(path);
        for fact in facts.iter() {
            match calls::decode(fact) {
                Some(_) if library => {}
                Some(calls::Call::Shell(line)) => {
                    let reason = |what: &str| Reason::Rule {
                        rule: NAME,
                        what: what.to_owned().into(),
                        of: path.to_owned().into(),
                    };
                    if let Some(sh) = cx.find_program("sh", "/") {
                        cx.want(sh, reason("the shell of a command line"));
                    }
                    for w in words::parse(&format!("\n{line}")) {
                        want_program(cx, &w, path);
                    }
                }
                Some(calls::Call::Program(p)) => want_program(cx, &p, path),
                None if executable => want_program(cx, fact, path),
                None => {}
            }
        }
    }
}

/// A program named by a command: an absolute path to an executable file, or a name found
/// through the image's PATH. Anything else (a relative path, a word that names no program)
/// keeps nothing.
fn want_program(cx: &mut Cx<'_>, word: &str, of: &str) {
    let found = if word.starts_with('/') {
        cx.entry(word).filter(|e| !e.is_dir() && e.mode & 0o111 != 0).map(|_| word.to_owned())
    } else if word.contains('/') {
        None
    } else {
        cx.find_program(word, "/")
    };
    if let Some(p) = found {
        cx.want(p, Reason::Rule { rule: NAME, what: format!("command {word}").into(), of: of.to_owned().into() });
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{config, files_index, traced};
    use crate::select::closure::ClosureBuilder;
    use crate::select::rules::all_except;

    #[test]
    fn commands_code_starts_are_kept_with_the_shell_for_a_command_line() {
        let idx = files_index(&[
            ("app/thumbs.py", "import subprocess\ndef thumb(p):\n    subprocess.run(['convert', p, 'out.png'])\n"),
            ("app/archive.rb", "def pack\n  system('tar czf /tmp/a.tgz /data')\nend\n"),
            ("usr/bin/convert*", "binary"),
            ("usr/bin/tar*", "binary"),
            ("usr/bin/unused*", "binary"),
            ("bin/sh*", "binary"),
        ]);
        let cfg = config("python3");
        let c = ClosureBuilder::new(&idx, &cfg).seeds([traced("/app/thumbs.py"), traced("/app/archive.rb")]).build();
        for kept in ["/usr/bin/convert", "/usr/bin/tar", "/bin/sh"] {
            assert!(c.keep.contains(kept), "{kept}: {:?}", c.keep.paths.keys().collect::<Vec<_>>());
        }
        assert!(!c.keep.contains("/usr/bin/unused"));
    }

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
