//! The modules a Python source file imports, found statically: `import a.b`, `from a import b`
//! (b may be a submodule), relative imports, and `importlib.import_module("literal")` /
//! `__import__("literal")` -- at any depth, so imports inside functions (the lazily imported
//! module a probe never reached) are found too. A line-based reader, not a parser: it skips
//! comments and triple-quoted strings, joins continued lines, and errs toward finding more.

/// One import. `module` is dotted; relative imports keep their leading dots. `maybe` marks the
/// `b` of `from a import b`: a submodule if one exists, else just a name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PyImport {
    pub module: String,
    pub maybe: bool,
    /// Inside a function body: runs only when the function is called (a lazy import).
    pub lazy: bool,
    /// Inside `if __name__ == "__main__":`, or a module's command-line entry (`def main():`,
    /// `def _test():`): runs when the file is the program itself, not when it is imported.
    pub main: bool,
    /// Inside an `except` handler at module level: runs only when importing the module failed
    /// in part (an import-time error path).
    pub on_error: bool,
    /// Inside a branch for another platform (`if os.name == "nt":`): never runs on Linux.
    pub other_platform: bool,
    /// Inside `except ImportError:` after a `try:` that imports these: runs only when one of
    /// them cannot be imported.
    pub fallback_for: Vec<String>,
}

/// Encodes for storage in the index: flags (`l` lazy, `m` maybe, `M` main, `p` other
/// platform, `e` import-time error path, or `-`), the fallback's alternatives (comma-separated, or `-`), the module.
pub fn encode(imports: &[PyImport]) -> Vec<String> {
    imports
        .iter()
        .map(|i| {
            let mut flags = String::new();
            for (on, c) in [(i.lazy, 'l'), (i.maybe, 'm'), (i.main, 'M'), (i.other_platform, 'p'), (i.on_error, 'e')] {
                if on {
                    flags.push(c);
                }
            }
            let alts = if i.fallback_for.is_empty() { "-".to_owned() } else { i.fallback_for.join(",") };
            format!("{} {alts} {}", if flags.is_empty() { "-" } else { &flags }, i.module)
        })
        .collect()
}

pub fn decode(s: &str) -> PyImport {
    let mut fields = s.splitn(3, ' ');
    let (flags, alts, module) =
        (fields.next().unwrap_or(""), fields.next().unwrap_or("-"), fields.next().unwrap_or(""));
    PyImport {
        module: module.to_owned(),
        lazy: flags.contains('l'),
        maybe: flags.contains('m'),
        main: flags.contains('M'),
        on_error: flags.contains('e'),
        other_platform: flags.contains('p'),
        fallback_for: if alts == "-" { Vec::new() } else { alts.split(',').map(str::to_owned).collect() },
    }
}

fn is_ident(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch == '_' || ch.is_alphabetic()) && c.all(|ch| ch == '_' || ch.is_alphanumeric())
}

fn is_dotted(s: &str) -> bool {
    !s.is_empty() && s.split('.').all(is_ident)
}

/// Logical lines of code with their indentation: comments and triple-quoted strings removed,
/// continuations joined.
fn logical_lines(src: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut indent = 0;
    let mut cur = String::new();
    let mut in_triple: Option<&str> = None;
    let mut depth: i32 = 0;
    for raw in src.lines() {
        let mut line = raw.to_owned();
        // Remove triple-quoted spans (docstrings hold example code full of "import").
        let mut kept = String::new();
        let mut rest = line.as_str();
        loop {
            match in_triple {
                Some(q) => match rest.find(q) {
                    Some(i) => {
                        rest = &rest[i + 3..];
                        in_triple = None;
                    }
                    None => break,
                },
                None => {
                    let a = rest.find("\"\"\"");
                    let b = rest.find("'''");
                    let (i, q) = match (a, b) {
                        (Some(a), Some(b)) if a <= b => (a, "\"\"\""),
                        (Some(_), Some(b)) => (b, "'''"),
                        (Some(a), None) => (a, "\"\"\""),
                        (None, Some(b)) => (b, "'''"),
                        (None, None) => {
                            kept.push_str(rest);
                            break;
                        }
                    };
                    kept.push_str(&rest[..i]);
                    rest = &rest[i + 3..];
                    in_triple = Some(q);
                }
            }
        }
        line = kept;
        if let Some(i) = line.find('#') {
            // a '#' inside a string literal is cut too: harmless, errs toward less text
            line.truncate(i);
        }
        let trimmed = line.trim_end();
        let continued = trimmed.ends_with('\\');
        let body = trimmed.trim_end_matches('\\');
        for ch in body.chars() {
            match ch {
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => depth -= 1,
                _ => {}
            }
        }
        if cur.is_empty() {
            indent = raw.len() - raw.trim_start().len();
        }
        cur.push(' ');
        cur.push_str(body.trim());
        if !continued && depth <= 0 {
            depth = 0;
            let line = std::mem::take(&mut cur);
            if !line.trim().is_empty() {
                out.push((indent, line));
            }
        }
    }
    if !cur.trim().is_empty() {
        out.push((indent, cur));
    }
    out
}

/// The string literal arguments of calls to `func(` in `line`.
fn literal_calls(line: &str, func: &str, out: &mut Vec<PyImport>) {
    let mut from = 0;
    while let Some(i) = line[from..].find(func) {
        let start = from + i + func.len();
        from = start;
        let before = line[..from - func.len()].chars().last();
        if before.is_some_and(|c| c == '_' || c.is_alphanumeric()) && func != "import_module(" {
            continue;
        }
        let rest = line[start..].trim_start();
        let Some(q) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else { continue };
        if let Some(end) = rest[1..].find(q) {
            let name = &rest[1..1 + end];
            if is_dotted(name) {
                out.push(PyImport { module: name.to_owned(), ..Default::default() });
            }
        }
    }
}

/// A block whose body runs only sometimes.
#[derive(Debug, Clone)]
enum Block {
    Def,
    /// `def main():` and the like: a command-line entry, also a function.
    MainFn,
    Main,
    Except,
    OtherPlatform,
    Try(Vec<String>),
    Fallback(Vec<String>),
}

/// Platforms a Linux container never is, as `os.name`/`sys.platform`/`platform.system()` name them.
const OTHER_PLATFORMS: &[&str] =
    &["nt", "win32", "cygwin", "msys", "darwin", "Windows", "Darwin", "java", "os2", "riscos", "ce"];

/// An `if`/`elif` condition that holds only on another platform: it compares against one of
/// their names (==, in, startswith) and names no Linux/POSIX one.
fn other_platform_condition(cond: &str) -> bool {
    let quoted = |name: &str| cond.contains(&format!("'{name}'")) || cond.contains(&format!("\"{name}\""));
    let positive = !cond.contains("!=") && !cond.contains(" not ");
    positive
        && OTHER_PLATFORMS.iter().any(|p| quoted(p))
        && !["posix", "linux", "Linux"].iter().any(|p| quoted(p) || cond.contains(&format!("'{p}")))
}

pub fn parse(src: &str) -> Vec<PyImport> {
    let mut out: Vec<PyImport> = Vec::new();
    // Enclosing blocks that matter, with their header's indentation.
    let mut blocks: Vec<(usize, Block)> = Vec::new();
    // The imports of the `try:` just closed at each indentation, for an `except ImportError:`.
    let mut closed_try: std::collections::HashMap<usize, Vec<String>> = Default::default();
    for (indent, line) in logical_lines(src) {
        while blocks.last().is_some_and(|(d, _)| indent <= *d) {
            if let Some((d, Block::Try(mods))) = blocks.pop() {
                closed_try.insert(d, mods);
            }
        }
        let head = line.trim_start();
        if let Some(block) = header(head, closed_try.get(&indent)) {
            blocks.push((indent, block));
            if !head.starts_with("except") {
                closed_try.remove(&indent);
            }
        }
        let start = out.len();
        statements(&line, &mut out);
        let lazy = blocks.iter().any(|(_, b)| matches!(b, Block::Def | Block::MainFn));
        let main = blocks.iter().any(|(_, b)| matches!(b, Block::Main | Block::MainFn));
        let on_error = !lazy && blocks.iter().any(|(_, b)| matches!(b, Block::Except));
        let other_platform = blocks.iter().any(|(_, b)| matches!(b, Block::OtherPlatform));
        let fallback_for =
            blocks.iter().rev().find_map(|(_, b)| if let Block::Fallback(a) = b { Some(a.clone()) } else { None });
        let new: Vec<String> = out[start..].iter().filter(|i| !i.maybe).map(|i| i.module.clone()).collect();
        if let Some((_, Block::Try(mods))) = blocks.iter_mut().rev().find(|(_, b)| matches!(b, Block::Try(_))) {
            mods.extend(new);
        }
        for i in &mut out[start..] {
            i.lazy = lazy;
            i.main = main;
            i.on_error = on_error;
            i.other_platform = other_platform;
            i.fallback_for = fallback_for.clone().unwrap_or_default();
        }
    }
    out.dedup();
    out
}

/// The block a header line opens, if it is one that matters.
fn header(head: &str, try_before: Option<&Vec<String>>) -> Option<Block> {
    if let Some(def) = head.strip_prefix("def ").or_else(|| head.strip_prefix("async def ")) {
        let name = def.split('(').next().unwrap_or("").trim();
        let entry = matches!(name, "main" | "_main" | "test" | "_test" | "demo" | "_demo");
        return Some(if entry { Block::MainFn } else { Block::Def });
    }
    let compact: String = head.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.starts_with("if__name__==") && (compact.contains("'__main__'") || compact.contains("\"__main__\"")) {
        return Some(Block::Main);
    }
    if compact == "try:" {
        return Some(Block::Try(Vec::new()));
    }
    if let Some(rest) = head.strip_prefix("except") {
        let catches_import = rest.contains("ImportError") || rest.contains("ModuleNotFoundError");
        return match try_before {
            Some(alts) if catches_import && !alts.is_empty() => Some(Block::Fallback(alts.clone())),
            _ if catches_import => None,
            _ => Some(Block::Except),
        };
    }
    let cond = head.strip_prefix("if ").or_else(|| head.strip_prefix("elif "))?;
    other_platform_condition(cond).then_some(Block::OtherPlatform)
}

/// The imports of one logical line.
fn statements(line: &str, out: &mut Vec<PyImport>) {
    for stmt in line.split(';') {
        let stmt = stmt.trim();
        // A header's body may follow on the same line: `if x: import y`, `try: import z`.
        let stmt = match stmt.split_once(": ") {
            Some((head, body)) if !head.contains('(') && !body.is_empty() => body.trim(),
            _ => stmt,
        };
        if let Some(rest) = stmt.strip_prefix("import ") {
            for part in rest.split(',') {
                let name = part.split_whitespace().next().unwrap_or("");
                if is_dotted(name) {
                    out.push(PyImport { module: name.to_owned(), ..Default::default() });
                }
            }
        } else if let Some(rest) = stmt.strip_prefix("from ") {
            let mut it = rest.splitn(2, " import ");
            let (Some(module), Some(names)) = (it.next(), it.next()) else { continue };
            let module = module.trim();
            let dots = module.len() - module.trim_start_matches('.').len();
            let bare = &module[dots..];
            if module == "__future__" || (!bare.is_empty() && !is_dotted(bare)) || (dots == 0 && bare.is_empty()) {
                continue;
            }
            if !bare.is_empty() {
                out.push(PyImport { module: module.to_owned(), ..Default::default() });
            }
            let names = names.trim().trim_start_matches('(').trim_end_matches(')');
            for n in names.split(',') {
                let n = n.split_whitespace().next().unwrap_or("");
                if is_ident(n) {
                    let sep = if bare.is_empty() { "" } else { "." };
                    out.push(PyImport { module: format!("{module}{sep}{n}"), maybe: true, ..Default::default() });
                }
            }
        }
        if stmt.contains("import_module(") {
            literal_calls(stmt, "import_module(", out);
        }
        if stmt.contains("__import__(") {
            literal_calls(stmt, "__import__(", out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mods(src: &str) -> Vec<String> {
        parse(src).into_iter().map(|i| if i.maybe { format!("?{}", i.module) } else { i.module }).collect()
    }

    #[test]
    fn imports_in_function_bodies_are_lazy_and_module_level_blocks_are_not() {
        let src = "import os
try:
    import simplejson
except ImportError:
    pass
class C:
    import abc
    def m(self):
        import hashlib
        if x:
            import zlib
    y = 1
def f():
    import csv
import sys
";
        let lazy: Vec<(String, bool)> = parse(src).into_iter().map(|i| (i.module, i.lazy)).collect();
        let want: Vec<(String, bool)> = [
            ("os", false),
            ("simplejson", false),
            ("abc", false),
            ("hashlib", true),
            ("zlib", true),
            ("csv", true),
            ("sys", false),
        ]
        .iter()
        .map(|(m, l)| (m.to_string(), *l))
        .collect();
        assert_eq!(lazy, want);
    }

    #[test]
    fn main_blocks_other_platforms_and_import_fallbacks_are_marked() {
        let src = r#"import os
try:
    from _decimal import *
except ImportError:
    from _pydecimal import *
try:
    import json
except ValueError:
    import logging
if os.name == 'nt':
    import ntpath
elif sys.platform.startswith(("win", "cygwin")):
    import _winapi
elif 'posix' in names:
    import posixpath
if sys.platform != 'win32':
    import pwd
if __name__ == "__main__":
    import doctest
    def main():
        import argparse
"#;
        let got: Vec<(String, &str)> = parse(src)
            .into_iter()
            .filter(|i| !i.maybe)
            .map(|i| {
                let how = match (i.main, i.other_platform, i.fallback_for.is_empty(), i.lazy) {
                    (true, _, _, true) => "main+lazy",
                    (true, _, _, false) => "main",
                    (_, true, _, _) => "other platform",
                    (_, _, false, _) => "fallback",
                    _ => "plain",
                };
                (i.module, how)
            })
            .collect();
        let want = [
            ("os", "plain"),
            ("_decimal", "plain"),
            ("_pydecimal", "fallback"),
            ("json", "plain"),
            ("logging", "plain"),
            ("ntpath", "other platform"),
            ("_winapi", "other platform"),
            ("posixpath", "plain"),
            ("pwd", "plain"),
            ("doctest", "main"),
            ("argparse", "main+lazy"),
        ];
        let want: Vec<(String, &str)> = want.iter().map(|(m, h)| (m.to_string(), *h)).collect();
        assert_eq!(got, want);
        let fallback = parse(src).into_iter().find(|i| i.module == "_pydecimal").unwrap();
        assert_eq!(fallback.fallback_for, ["_decimal"]);
        let logging = parse(src).into_iter().find(|i| i.module == "logging").unwrap();
        assert!(logging.on_error, "module-level except handler: an import-time error path");
        let src = "def main(argv):\n    import argparse\ndef handler():\n    try:\n        x()\n    except OSError:\n        import errno\n";
        let got: Vec<(String, bool, bool, bool)> =
            parse(src).into_iter().map(|i| (i.module, i.lazy, i.main, i.on_error)).collect();
        let want = [("argparse".to_string(), true, true, false), ("errno".to_string(), true, false, false)];
        assert_eq!(got, want, "a function's error path may run any time it is called");
    }

    #[test]
    fn plain_and_from_imports_at_any_depth() {
        let src = "import os, sys as system\nimport xml.dom.minidom\n\ndef handler():\n    import hashlib\n    from json import loads, dumps as d\n";
        assert_eq!(mods(src), vec!["os", "sys", "xml.dom.minidom", "hashlib", "json", "?json.loads", "?json.dumps"]);
    }

    #[test]
    fn relative_and_parenthesized_and_continued() {
        let src = "from . import utils\nfrom ..core.models import (\n    Base,\n    Item,  # the item\n)\nfrom email.mime \\\n    import text\n";
        assert_eq!(
            mods(src),
            vec![
                "?.utils",
                "..core.models",
                "?..core.models.Base",
                "?..core.models.Item",
                "email.mime",
                "?email.mime.text"
            ]
        );
    }

    #[test]
    fn dynamic_imports_with_literals() {
        let src = "mod = importlib.import_module('plugins.csv')\nx = __import__(\"zlib\")\ny = import_module(name)\n";
        assert_eq!(mods(src), vec!["plugins.csv", "zlib"]);
    }

    #[test]
    fn docstrings_comments_and_future_are_skipped() {
        let src = "\"\"\"Example:\n    import not_real\n\"\"\"\n# import commented\nfrom __future__ import annotations\nx = 'import nope'\nimport real  # import comment\n";
        assert_eq!(mods(src), vec!["real"]);
    }

    #[test]
    fn round_trips_through_the_index_encoding() {
        let imports =
            parse("from a import b\ntry:\n    import c\nexcept ImportError:\n    def f():\n        import d\n");
        let enc = encode(&imports);
        let dec: Vec<PyImport> = enc.iter().map(|s| decode(s)).collect();
        assert_eq!(dec, imports);
    }
}
