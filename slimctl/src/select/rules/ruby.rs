//! Coverage rule ruby-requires: what kept Ruby code loads with string literals -- `require`,
//! `require_relative`, `autoload`, `load` -- anywhere, also inside methods and blocks (a
//! library a route loads on first use), found on the image's load path: Ruby's own library
//! directories, Debian's vendor_ruby, and the `lib` of every installed gem; C extensions too.
//!
//! For the sweep it reaches the library features it found that the run did not load, and the
//! constant paths the app's own code names through a constant a kept library autoloads (with
//! the library file that registers it): naming the constant runs the `autoload`.

mod constants;

use super::Rule;
use crate::image::index::entry::{join, parent};
use crate::image::index::facts::ContentReader;
use crate::image::Entry;
use crate::select::closure::Cx;
use crate::select::keep::Reason;
use crate::select::reached::Reached;
use std::collections::BTreeSet;
use std::sync::Arc;

const NAME: &str = "ruby-requires";

/// Ruby sources larger than this are not read.
const READ_LIMIT: u64 = 2 << 20;

#[derive(Default)]
pub struct RubyRequires {
    /// The load path, found on first use.
    load_path: Option<Vec<String>>,
    /// Files packages own (Debian's ruby-* packages), found on first use.
    owned: Option<std::collections::HashSet<String>>,
    /// Constant paths the app's own code names, and the constants it defines itself.
    named: BTreeSet<String>,
    defined: BTreeSet<String>,
    /// Constants an `autoload` registers, with the files that register one of that name.
    autoloads: std::collections::HashMap<String, Vec<String>>,
    /// Files this rule found by reading (the run did not load them), and whether the app's own
    /// code requires them.
    found_statically: std::collections::HashMap<String, Called>,
}

/// Whether the app's own code requires a library file.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Called {
    Yes,
    No,
}

struct Reader;

fn is_ruby(path: &str, head: &[u8]) -> bool {
    path.ends_with(".rb")
        || path.ends_with(".ru")
        || path.ends_with("/Rakefile")
        || head
            .strip_prefix(b"#!")
            .is_some_and(|l| l.split(|b| *b == b'\n').next().is_some_and(|l| l.ends_with(b"ruby")))
}

impl ContentReader for Reader {
    fn name(&self) -> &'static str {
        NAME
    }
    fn wants(&self, path: &str, size: u64, head: &[u8]) -> bool {
        size <= READ_LIMIT && is_ruby(path, head)
    }
    fn lazy(&self) -> bool {
        true
    }
    fn read(&self, path: &str, content: &[u8]) -> Vec<String> {
        let src = String::from_utf8_lossy(content);
        let mut facts = requires(&src);
        // Only the app's own constants go to the sweep: a library's are its own business.
        if !library_path(path) {
            facts.extend(constants::constants(&src));
        }
        facts
    }
}

/// Where Ruby's own library, Debian's and the installed gems live.
fn library_path(path: &str) -> bool {
    path.starts_with("/usr/lib/ruby/") || path.contains("/gems/")
}

/// `r:FEATURE` (require, autoload), `rr:PATH` (require_relative), `l:PATH` (load), for each
/// string literal argument, comments skipped; `~` in front when the load waits for something
/// (indented code, a method or block body in Ruby's style, or an autoload).
fn requires(src: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in src.lines() {
        let indented = line.starts_with(' ') || line.starts_with('\t');
        let code = line.split(" #").next().unwrap_or(line).trim();
        if code.starts_with('#') {
            continue;
        }
        for (call, kind) in [("require_relative", "rr"), ("require", "r"), ("load", "l"), ("autoload", "r")] {
            let mut rest = code;
            while let Some(i) = rest.find(call) {
                let before = rest[..i].chars().last();
                let after = &rest[i + call.len()..];
                rest = after;
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.' || c == ':') {
                    continue;
                }
                // `require_relative` contains `require`: leave it to its own pass.
                if call == "require" && after.starts_with("_relative") {
                    continue;
                }
                let args = after.trim_start().trim_start_matches('(');
                // autoload(:Const, "feature"): the literal after the constant. The constant is
                // noted whatever names the file (`File.expand_path(...)` too): naming it loads one.
                let args = if call == "autoload" {
                    let Some((name, path)) = args.split_once(',') else { continue };
                    let name = name.trim().trim_start_matches(':').trim_matches(|c| c == '"' || c == '\'');
                    let fact = format!("A:{name}");
                    if !name.is_empty()
                        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        && !out.contains(&fact)
                    {
                        out.push(fact);
                    }
                    path.trim_start()
                } else {
                    args
                };
                let q = args.chars().next().filter(|c| *c == '\'' || *c == '"');
                let Some(q) = q else { continue };
                let Some(end) = args[1..].find(q) else { continue };
                let lit = &args[1..1 + end];
                if !lit.is_empty() && !lit.contains("#{") {
                    let lazy = if indented || call == "autoload" { "~" } else { "" };
                    let fact = format!("{lazy}{kind}:{lit}");
                    if !out.contains(&fact) {
                        out.push(fact);
                    }
                }
            }
        }
    }
    out
}

impl Rule for RubyRequires {
    fn name(&self) -> &'static str {
        NAME
    }
    fn about(&self) -> &'static str {
        "the libraries kept Ruby code requires (also inside methods and blocks) unless the run loaded them"
    }
    fn reader(&self) -> Option<Arc<dyn ContentReader>> {
        Some(Arc::new(Reader))
    }
    fn on_file(&mut self, cx: &mut Cx<'_>, path: &str, entry: &Entry) {
        let Some(facts) = cx.facts(path, entry, NAME) else { return };
        let dir = parent(path).to_owned();
        let load_path = self.load_path.get_or_insert_with(|| load_path(cx)).clone();
        let owned = self.owned.get_or_insert_with(|| {
            cx.packages().iter().flat_map(|p| p.files.iter().cloned()).collect::<std::collections::HashSet<_>>()
        });
        let library = owned.contains(path) || library_path(path);
        // A library the app's own code requires (on a path the run did not take) may have any
        // of its methods called there: its lazy loads too (`net/http`'s `autoload :OpenSSL`).
        // Other libraries' lazy loads wait for the app to use that part of them (the sweep and
        // the autoloaded constants the app names show it): following those of every library
        // the run loaded takes in RubyGems' installer and every Rack handler.
        // What such a library loads at load time is part of it (psych for yaml), called alike.
        let called = self.found_statically.get(path).copied() == Some(Called::Yes);
        for fact in facts.iter() {
            let (lazy, fact) = match fact.strip_prefix('~') {
                Some(f) => (true, f),
                None => (false, fact.as_str()),
            };
            if lazy && library && !called {
                continue;
            }
            let child = if !library || (called && !lazy) { Called::Yes } else { Called::No };
            let Some((kind, lit)) = fact.split_once(':') else { continue };
            let mut on_load_path = false;
            let found = match kind {
                "K" | "D" => {
                    let into = if kind == "K" { &mut self.named } else { &mut self.defined };
                    if !library {
                        into.insert(lit.to_owned());
                    }
                    continue;
                }
                "A" => {
                    self.autoloads.entry(lit.to_owned()).or_default().push(path.to_owned());
                    continue;
                }
                "rr" => feature_in(cx, std::slice::from_ref(&dir), lit),
                "l" if lit.starts_with('/') => cx.is_file(lit).then(|| lit.to_owned()),
                "l" => feature_in(cx, std::slice::from_ref(&dir), lit),
                _ if lit.starts_with('/') => feature_in(cx, &["/".to_owned()], lit.trim_start_matches('/')),
                // The app's own `lib` next to it comes first, as `$LOAD_PATH.unshift` puts it.
                _ => feature_in(cx, &[join(&dir, "lib"), dir.clone()], lit).or_else(|| {
                    on_load_path = true;
                    feature_in(cx, &load_path, lit)
                }),
            };
            if let Some(f) = found {
                let statically = !cx.keep().contains(&f) && !cx.used_by_run(&f);
                if on_load_path && statically {
                    cx.reach(Reached::ruby(lit));
                }
                if statically {
                    self.found_statically.entry(f.clone()).or_insert(child);
                } else if let Some(c) = self.found_statically.get_mut(&f) {
                    if child == Called::Yes {
                        *c = Called::Yes;
                    }
                }
                cx.want(
                    f,
                    Reason::Rule { rule: NAME, what: format!("library {lit}").into(), of: path.to_owned().into() },
                );
            }
        }
    }

    fn on_complete(&mut self, cx: &mut Cx<'_>) {
        // A constant path the app names through a constant a library autoloads: the sweep
        // requires the library file that registers the autoload (as a feature of the load
        // path), then names the path. Paths from the app's own constants are the app's.
        let load_path = self.load_path.get_or_insert_with(|| load_path(cx)).clone();
        let mut reached = Vec::new();
        for c in &self.named {
            let mut segments = c.split("::");
            if segments.next().is_some_and(|first| self.defined.contains(first)) {
                continue;
            }
            // By Ruby's convention a library's files live under its top constant's name
            // (`Rack` in rack/, `ActiveSupport` in active_support/): an autoload of the same
            // name in another library is not this path's.
            let top = squash(c.split("::").next().unwrap_or(c));
            let registering = c.split("::").filter_map(|s| self.autoloads.get(s)).flatten();
            let Some(feature) = registering
                .filter_map(|file| feature_of(file, &load_path))
                .find(|f| squash(f.split('/').next().unwrap_or(f)) == top)
            else {
                continue;
            };
            reached.push(Reached::ruby(feature));
            reached.push(Reached::ruby(format!("::{c}")));
        }
        for r in reached {
            cx.reach(r);
        }
    }
}

/// A name lowercased without its separators: `ActiveSupport` and `active_support` meet.
fn squash(name: &str) -> String {
    name.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect()
}

/// The feature that requires `file` from the load path (`rack` for `…/lib/rack.rb`).
fn feature_of(file: &str, load_path: &[String]) -> Option<String> {
    let rel = load_path
        .iter()
        .filter_map(|d| file.strip_prefix(d.as_str())?.strip_prefix('/'))
        .min_by_key(|rel| rel.len())?;
    Some(rel.strip_suffix(".rb").unwrap_or(rel).to_owned())
}

/// The file a feature names in one of `dirs`: `NAME.rb`, `NAME.so` (a C extension), or NAME
/// itself when it has an extension.
fn feature_in(cx: &Cx<'_>, dirs: &[String], feature: &str) -> Option<String> {
    let names: Vec<String> = if feature.ends_with(".rb") || feature.ends_with(".so") {
        vec![feature.to_owned()]
    } else {
        vec![format!("{feature}.rb"), format!("{feature}.so")]
    };
    dirs.iter().flat_map(|d| names.iter().map(move |n| join(d, n))).find(|c| cx.is_file(c))
}

/// Ruby's load path as the image's interpreters build it: the versioned library directories
/// (the interpreter's, Debian's vendor_ruby, site_ruby, their architecture subdirectories) and
/// the `lib` of every installed gem.
fn load_path(cx: &Cx<'_>) -> Vec<String> {
    let versioned = |name: &str| {
        let mut parts = name.split('.');
        parts.clone().count() == 3 && parts.all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
    };
    let mut dirs: Vec<String> = Vec::new();
    for (path, e) in cx.index().iter() {
        if !e.is_dir() || !(path.contains("/ruby") || path.contains("/gems/")) {
            continue;
        }
        let name = path.rsplit('/').next().unwrap_or("");
        let arch = name.ends_with("-linux") || name.ends_with("-linux-gnu");
        let lib_dir = versioned(name) || (arch && versioned(parent(path).rsplit('/').next().unwrap_or("")));
        let vendor = matches!(name, "vendor_ruby" | "site_ruby") && !path.contains("/gems/");
        let gem_lib = name == "lib" && parent(parent(path)).ends_with("/gems");
        if (lib_dir && !path.contains("/gems/")) || vendor || gem_lib {
            dirs.push(path.to_owned());
        }
    }
    dirs
}

#[cfg(test)]
mod tests {
    use super::super::tests::{config, files_index, traced};
    use super::requires;
    use crate::select::closure::ClosureBuilder;
    use crate::select::rules::all_except;

    #[test]
    fn literal_requires_anywhere() {
        let src = "require 'sinatra'\nrequire_relative 'helpers/format'\nautoload :Report, 'app/report'\n\
                   get '/export' do\n  require \"csv\"  # lazily\n  load 'tasks.rb'\nend\n# require 'commented'\nrequire \"#{x}/dyn\"\n";
        assert_eq!(
            requires(src),
            ["r:sinatra", "rr:helpers/format", "A:Report", "~r:app/report", "~r:csv", "~l:tasks.rb"]
        );
    }

    #[test]
    fn requires_resolve_on_the_load_path_and_gems() {
        let idx = files_index(&[
            ("app/app.rb", "require 'sinatra'\nget '/x' do\n  require 'csv'\n  require 'gemlib/thing'\nend\n"),
            ("usr/lib/ruby/vendor_ruby/sinatra.rb", ""),
            (
                "usr/lib/ruby/3.1.0/csv.rb",
                "require 'csv/parser'\nclass CSV\n  def self.x\n    require 'csv/lazy'\n  end\nend\n",
            ),
            ("usr/lib/ruby/3.1.0/csv/lazy.rb", "def y\n  require 'csv/deeper'\nend\n"),
            ("usr/lib/ruby/3.1.0/csv/deeper.rb", ""),
            ("usr/lib/ruby/3.1.0/csv/parser.rb", "def z\n  require 'csv/parser_lazy'\nend\n"),
            ("usr/lib/ruby/3.1.0/csv/parser_lazy.rb", ""),
            ("usr/lib/ruby/3.1.0/runlib.rb", "def w\n  require 'runlib/extra'\nend\n"),
            ("usr/lib/ruby/3.1.0/runlib/extra.rb", ""),
            ("usr/lib/ruby/3.1.0/unused.rb", ""),
            ("var/lib/gems/3.1.0/gems/gemlib-1.0/lib/gemlib/thing.rb", ""),
        ]);
        let cfg = config("ruby");
        let c = ClosureBuilder::new(&idx, &cfg)
            .rules(all_except(&["app-tree".into()]))
            .seeds([traced("/app/app.rb"), traced("/usr/lib/ruby/3.1.0/runlib.rb")])
            .build();
        // The app's route may call any method of csv, and of what csv loads when it loads.
        for kept in [
            "/usr/lib/ruby/vendor_ruby/sinatra.rb",
            "/usr/lib/ruby/3.1.0/csv.rb",
            "/usr/lib/ruby/3.1.0/csv/parser.rb",
            "/usr/lib/ruby/3.1.0/csv/lazy.rb",
            "/usr/lib/ruby/3.1.0/csv/parser_lazy.rb",
            "/var/lib/gems/3.1.0/gems/gemlib-1.0/lib/gemlib/thing.rb",
        ] {
            assert!(c.keep.contains(kept), "{kept}: {:?}", c.keep.paths.keys().collect::<Vec<_>>());
        }
        assert!(!c.keep.contains("/usr/lib/ruby/3.1.0/unused.rb"));
        assert!(!c.keep.contains("/usr/lib/ruby/3.1.0/csv/deeper.rb"), "one lazy step inside libraries, not two");
        assert!(!c.keep.contains("/usr/lib/ruby/3.1.0/runlib/extra.rb"), "a loaded library's lazy load waits");
        let reached: Vec<&str> = c.reached.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(reached, ["csv", "csv/parser_lazy", "gemlib/thing", "sinatra"], "library features, for the sweep");
        let c = ClosureBuilder::new(&idx, &cfg)
            .rules(all_except(&["ruby-requires".into()]))
            .seeds([traced("/app/app.rb")])
            .build();
        assert!(!c.keep.contains("/usr/lib/ruby/3.1.0/csv.rb"));
    }

    /// A constant path the app names through a constant a library autoloads goes to the sweep,
    /// with the library that registers the autoload; other paths and the app's own do not.
    #[test]
    fn named_constants_are_reached_with_what_defines_them() {
        let app = "require 'rack'\nrequire_relative 'helpers'\nclass Shop\n  LIMIT = 3\n  def admin(env)\n    \
                   Rack::Lint.new(env)\n    Rack::Auth::Basic::Request.new(env) if LIMIT > Helpers::MAX\n  end\nend\n";
        let rack = "module Rack\n  autoload :Lint2, 'rack/lint'\n  module Auth\n    \
                    autoload :Basic, 'rack/auth/basic'\n  end\nend\n";
        let idx = files_index(&[
            ("app/app.rb", app),
            ("app/helpers.rb", "module Helpers\n  autoload :Basic, 'helpers/basic'\n  MAX = 2\nend\n"),
            ("usr/lib/ruby/vendor_ruby/rack.rb", rack),
            ("usr/lib/ruby/vendor_ruby/rack/auth/basic.rb", "module Rack::Auth::Basic\nend\n"),
        ]);
        let c = ClosureBuilder::new(&idx, &config("ruby"))
            .rules(all_except(&["app-tree".into()]))
            .seeds([traced("/app/app.rb"), traced("/app/helpers.rb"), traced("/usr/lib/ruby/vendor_ruby/rack.rb")])
            .build();
        let reached: Vec<&str> = c.reached.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(reached, ["::Rack::Auth::Basic::Request", "rack"], "Rack::Lint is no autoload");
        assert!(!c.keep.contains("/usr/lib/ruby/vendor_ruby/rack/auth/basic.rb"), "a library's autoload waits");
    }
}
