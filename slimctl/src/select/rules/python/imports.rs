//! The modules a Python source file imports, found statically: `import a.b`, `from a import b`
//! (b may be a submodule), relative imports, and `importlib.import_module("literal")` /
//! `__import__("literal")` -- at any depth, so imports inside functions (the lazily imported
//! module a probe never reached) are found too. A line-based reader, not a parser: it skips
//! comments and triple-quoted strings, joins continued lines, and errs toward finding more.

/// One import. `module` is dotted; relative imports keep their leading dots. `maybe` marks the
/// `b` of `from a import b`: a submodule if one exists, else just a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PyImport {
    pub module: String,
    pub maybe: bool,
    /// Inside a function body: runs only when the function is called (a lazy import).
    pub lazy: bool,
}

/// Encodes for storage in the index: `~` prefix for lazy, then `?` for maybe.
pub fn encode(imports: &[PyImport]) -> Vec<String> {
    imports
        .iter()
        .map(|i| format!("{}{}{}", if i.lazy { "~" } else { "" }, if i.maybe { "?" } else { "" }, i.module))
        .collect()
}

pub fn decode(s: &str) -> PyImport {
    let (lazy, s) = match s.strip_prefix('~') {
        Some(r) => (true, r),
        None => (false, s),
    };
    match s.strip_prefix('?') {
        Some(m) => PyImport { module: m.to_owned(), maybe: true, lazy },
        None => PyImport { module: s.to_owned(), maybe: false, lazy },
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
                out.push(PyImport { module: name.to_owned(), maybe: false, lazy: false });
            }
        }
    }
}

pub fn parse(src: &str) -> Vec<PyImport> {
    let mut out = Vec::new();
    // Indentations of the enclosing `def`s: a line indented deeper than one is in its body.
    let mut defs: Vec<usize> = Vec::new();
    for (indent, line) in logical_lines(src) {
        while defs.last().is_some_and(|d| indent <= *d) {
            defs.pop();
        }
        let lazy = !defs.is_empty();
        let head = line.trim_start();
        if head.starts_with("def ") || head.starts_with("async def ") {
            defs.push(indent);
        }
        let start = out.len();
        for stmt in line.split(';') {
            let stmt = stmt.trim();
            if let Some(rest) = stmt.strip_prefix("import ") {
                for part in rest.split(',') {
                    let name = part.split_whitespace().next().unwrap_or("");
                    if is_dotted(name) {
                        out.push(PyImport { module: name.to_owned(), maybe: false, lazy: false });
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
                    out.push(PyImport { module: module.to_owned(), maybe: false, lazy: false });
                }
                let names = names.trim().trim_start_matches('(').trim_end_matches(')');
                for n in names.split(',') {
                    let n = n.split_whitespace().next().unwrap_or("");
                    if is_ident(n) {
                        let sep = if bare.is_empty() { "" } else { "." };
                        out.push(PyImport { module: format!("{module}{sep}{n}"), maybe: true, lazy: false });
                    }
                }
            }
            if stmt.contains("import_module(") {
                literal_calls(stmt, "import_module(", &mut out);
            }
            if stmt.contains("__import__(") {
                literal_calls(stmt, "__import__(", &mut out);
            }
        }
        for i in &mut out[start..] {
            i.lazy = lazy;
        }
    }
    out.dedup();
    out
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
        let imports = parse("from a import b\n");
        let enc = encode(&imports);
        let dec: Vec<PyImport> = enc.iter().map(|s| decode(s)).collect();
        assert_eq!(dec, imports);
    }
}
