//! Coverage rule perl-requires: the modules kept Perl code loads -- `use` and `no` (at compile
//! time, with `parent`/`base` classes), `require Module` and `require "file.pl"` (at run time,
//! also inside subs: an option's code path loads its module on first use) -- found in @INC as
//! the image's perl builds it, with an XS module's shared object (`auto/Mod/Mod.so`).

use super::Rule;
use crate::image::index::entry::{join, parent};
use crate::image::index::facts::ContentReader;
use crate::image::Entry;
use crate::select::closure::Cx;
use crate::select::keep::Reason;
use crate::select::reached::Reached;
use std::sync::Arc;

const NAME: &str = "perl-requires";

/// Perl sources larger than this are not read.
const READ_LIMIT: u64 = 2 << 20;

#[derive(Default)]
pub struct PerlRequires {
    /// @INC, found on first use.
    inc: Option<Vec<String>>,
    /// Files packages own, found on first use.
    owned: Option<std::collections::HashSet<String>>,
}

struct Reader;

fn is_perl(path: &str, head: &[u8]) -> bool {
    [".pl", ".pm", ".cgi"].iter().any(|e| path.ends_with(e))
        || head.strip_prefix(b"#!").is_some_and(|l| {
            let l = l.split(|b| *b == b'\n').next().unwrap_or(b"");
            l.ends_with(b"perl") || l.windows(5).any(|w| w == b"perl ")
        })
}

impl ContentReader for Reader {
    fn name(&self) -> &'static str {
        NAME
    }
    fn wants(&self, path: &str, size: u64, head: &[u8]) -> bool {
        size <= READ_LIMIT && is_perl(path, head)
    }
    fn lazy(&self) -> bool {
        true
    }
    fn read(&self, _path: &str, content: &[u8]) -> Vec<String> {
        modules(&String::from_utf8_lossy(content))
    }
}

/// Pragmas: `use strict` loads strict.pm like any module, but these need no more than that.
fn module_name(word: &str) -> Option<&str> {
    let w = word.trim_end_matches(';');
    let ok = !w.is_empty()
        && w.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && w.split("::").all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    ok.then_some(w)
}

/// `M:Module::Name` for each module loaded, `F:file.pl` for a required file; `~` in front
/// for a run-time `require` in indented code (a sub's body, in Perl's style) -- but not in a
/// `BEGIN` block, which runs while the file compiles. POD skipped.
fn modules(src: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut pod = false;
    // Brace depth, and the depth inside the BEGIN block being read, if any.
    let (mut depth, mut begin): (i32, Option<i32>) = (0, None);
    for line in src.lines() {
        if line.starts_with("=cut") {
            pod = false;
            continue;
        }
        if pod || (line.starts_with('=') && line.len() > 1 && line.as_bytes()[1].is_ascii_alphabetic()) {
            pod = true;
            continue;
        }
        if line.starts_with("__END__") || line.starts_with("__DATA__") {
            break;
        }
        let code = line.split('#').next().unwrap_or("").trim();
        if begin.is_none() && code.starts_with("BEGIN") && code.contains('{') {
            begin = Some(depth + 1);
        }
        let indented = (line.starts_with(' ') || line.starts_with('\t')) && begin.is_none();
        depth += code.matches('{').count() as i32 - code.matches('}').count() as i32;
        for stmt in code.split(';') {
            let words: Vec<&str> = stmt.split_whitespace().collect();
            let mut push = |f: String| {
                if !out.contains(&f) {
                    out.push(f);
                }
            };
            match words.as_slice() {
                ["use" | "no", "parent" | "base", rest @ ..] => {
                    for w in rest.iter().map(|w| w.trim_matches(|c: char| "qw()'\",-".contains(c))) {
                        if let Some(m) = module_name(w).filter(|m| *m != "norequire") {
                            push(format!("M:{m}"));
                        }
                    }
                }
                ["use" | "no", m, ..] => {
                    if let Some(m) = module_name(m).filter(|m| !m.starts_with(|c: char| c.is_ascii_digit())) {
                        push(format!("M:{m}"));
                    }
                }
                ["require", m, ..] => {
                    let lazy = if indented { "~" } else { "" };
                    let lit = m.trim_matches(|c: char| c == '"' || c == '\'' || c == '(' || c == ')');
                    if m.starts_with('"') || m.starts_with('\'') {
                        if !lit.contains('$') {
                            push(format!("{lazy}F:{lit}"));
                        }
                    } else if let Some(m) = module_name(lit) {
                        push(format!("{lazy}M:{m}"));
                    }
                }
                _ => {}
            }
        }
        if begin.is_some_and(|b| depth < b) {
            begin = None;
        }
    }
    out
}

impl Rule for PerlRequires {
    fn name(&self) -> &'static str {
        NAME
    }
    fn about(&self) -> &'static str {
        "the modules kept Perl code uses or requires (also inside subs) unless the run loaded them"
    }
    fn reader(&self) -> Option<Arc<dyn ContentReader>> {
        Some(Arc::new(Reader))
    }
    fn on_file(&mut self, cx: &mut Cx<'_>, path: &str, entry: &Entry) {
        let Some(facts) = cx.facts(path, entry, NAME) else { return };
        let inc = self.inc.get_or_insert_with(|| inc(cx)).clone();
        let owned = self.owned.get_or_insert_with(|| {
            cx.packages().iter().flat_map(|p| p.files.iter().cloned()).collect::<std::collections::HashSet<_>>()
        });
        // A library's run-time requires wait for the app to use that part of it.
        let library = owned.contains(path);
        let dir = parent(path).to_owned();
        // The app's own modules: next to it and in its lib/ (`use lib`, FindBin's idiom).
        let mut dirs = vec![join(&dir, "lib"), dir.clone()];
        let app_dirs = dirs.len();
        dirs.extend(inc);
        for fact in facts.iter() {
            let (lazy, fact) = match fact.strip_prefix('~') {
                Some(f) => (true, f),
                None => (false, fact.as_str()),
            };
            if lazy && library {
                continue;
            }
            let Some((kind, name)) = fact.split_once(':') else { continue };
            let rel = if kind == "M" { format!("{}.pm", name.replace("::", "/")) } else { name.to_owned() };
            let Some((at, root, file)) =
                dirs.iter().enumerate().map(|(i, d)| (i, d, join(d, &rel))).find(|(_, _, f)| cx.is_file(f))
            else {
                continue;
            };
            // The sweep requires the library modules found here (never the app's own: loading
            // those may run the app).
            if kind == "M" && at >= app_dirs && !cx.keep().contains(&file) && !cx.used_by_run(&file) {
                cx.reach(Reached::perl(name));
            }
            let reason = Reason::Rule { rule: NAME, what: format!("module {name}").into(), of: path.to_owned().into() };
            if kind == "M" {
                // An XS module's compiled half, which XSLoader finds in @INC by the module's name.
                let last = name.rsplit("::").next().unwrap_or(name);
                let so = join(root, &format!("auto/{}/{last}.so", name.replace("::", "/")));
                if cx.is_file(&so) {
                    cx.want(so, reason.clone());
                }
            }
            cx.want(file, reason);
        }
    }
}

/// @INC as Debian's and the official images' perl build it: /etc/perl, then the versioned
/// local, vendor and core directories, then the unversioned ones.
fn inc(cx: &Cx<'_>) -> Vec<String> {
    let mut dirs: Vec<String> = vec!["/etc/perl".into()];
    let candidate = |p: &str| {
        let name = p.rsplit('/').next().unwrap_or("");
        let versioned = name.starts_with("5.") && name[2..].chars().all(|c| c.is_ascii_digit() || c == '.');
        (versioned && (p.contains("/perl/") || p.contains("/perl5/")))
            || p.ends_with("/perl-base")
            || p.ends_with("/share/perl5")
            || p.ends_with("/site_perl")
            || p.ends_with("-linux-gnu") && p.contains("/perl5/")
    };
    // Directories, and the links to them perl's @INC names (Debian's `5.36 -> 5.36.0`).
    let found: Vec<(String, bool)> = cx
        .index()
        .iter()
        .filter(|(p, e)| candidate(p) && (e.is_dir() || (e.is_symlink() && cx.is_dir(p))))
        .map(|(p, e)| (p.to_owned(), e.is_symlink()))
        .collect();
    let linked: std::collections::HashSet<String> =
        found.iter().filter(|(_, link)| *link).filter_map(|(p, _)| cx.resolve(p).map(|r| r.path)).collect();
    let mut found: Vec<String> =
        found.into_iter().filter(|(p, link)| *link || !linked.contains(p)).map(|(p, _)| p).collect();
    // Local before vendor before core, as perl orders them.
    found.sort_by_key(|p| (!p.starts_with("/usr/local"), p.contains("/share/"), p.clone()));
    dirs.extend(found);
    dirs
}

#[cfg(test)]
mod tests {
    use super::super::tests::{config, files_index, traced};
    use super::modules;
    use crate::select::closure::ClosureBuilder;
    use crate::select::rules::all_except;

    #[test]
    fn uses_and_requires() {
        let src = "#!/usr/bin/perl\nuse strict;\nuse Getopt::Long qw(GetOptions);\nuse parent -norequire, 'Base::Thing';\n\
                   sub to_json {\n    require JSON::PP;\n    require \"helpers.pl\";\n}\n\n=pod\n\nuse Not::Code;\n\n=cut\n\
                   use 5.010;\nrequire $dynamic;\nBEGIN {\n    if ($x) {\n        require B;\n    }\n}\nsub f {\n    require C;\n}\n__END__\nuse After::End;\n";
        assert_eq!(
            modules(src),
            ["M:strict", "M:Getopt::Long", "M:Base::Thing", "~M:JSON::PP", "~F:helpers.pl", "M:B", "~M:C"]
        );
    }

    #[test]
    fn modules_resolve_in_inc_with_their_xs_half() {
        let idx = files_index(&[
            (
                "app/report.pl*",
                "#!/usr/bin/perl\nuse List::Util;\nuse Text::Wrap;\nsub json {\n    require JSON::XS;\n}\n",
            ),
            ("usr/share/perl/5.36@", "5.36.0"),
            ("usr/lib/x86_64-linux-gnu/perl/5.36/List/Util.pm", "package List::Util;\nrequire XSLoader;\n"),
            ("usr/lib/x86_64-linux-gnu/perl/5.36/auto/List/Util/Util.so", "ELF"),
            ("usr/lib/x86_64-linux-gnu/perl5/5.36/JSON/XS.pm", "package JSON::XS;\n"),
            ("usr/share/perl/5.36.0/XSLoader.pm", ""),
            ("usr/share/perl/5.36.0/Unused.pm", ""),
            ("usr/share/perl/5.36.0/Text/Wrap.pm", ""),
        ]);
        let cfg = config("/app/report.pl");
        let c = ClosureBuilder::new(&idx, &cfg)
            .rules(all_except(&["app-tree".into()]))
            .seeds([traced("/app/report.pl")])
            .build();
        for kept in [
            "/usr/lib/x86_64-linux-gnu/perl/5.36/List/Util.pm",
            "/usr/lib/x86_64-linux-gnu/perl/5.36/auto/List/Util/Util.so",
            "/usr/lib/x86_64-linux-gnu/perl5/5.36/JSON/XS.pm",
        ] {
            assert!(c.keep.contains(kept), "{kept}: {:?}", c.keep.paths.keys().collect::<Vec<_>>());
        }
        assert!(!c.keep.contains("/usr/share/perl/5.36.0/Unused.pm"));
        assert!(c.keep.contains("/usr/share/perl/5.36"), "found through the link @INC names, which stays");
        assert!(c.keep.contains("/usr/share/perl/5.36.0/Text/Wrap.pm"));
        let reached: Vec<&str> = c.reached.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(reached, ["JSON::XS", "List::Util", "Text::Wrap", "XSLoader"], "library modules, for the sweep");
        let c = ClosureBuilder::new(&idx, &cfg)
            .rules(all_except(&["perl-requires".into()]))
            .seeds([traced("/app/report.pl")])
            .build();
        assert!(!c.keep.contains("/usr/lib/x86_64-linux-gnu/perl5/5.36/JSON/XS.pm"));
    }
}
