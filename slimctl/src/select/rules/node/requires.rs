//! The modules a JavaScript file loads, found statically: `require("literal")`,
//! `import ... from "literal"`, `import "literal"`, `import("literal")`, `export ... from`.
//! Anywhere in the file, so a require inside a handler (loaded on one path only) counts.

/// Node's built-in modules: no file to keep.
const BUILTINS: &[&str] = &[
    "assert",
    "async_hooks",
    "buffer",
    "child_process",
    "cluster",
    "console",
    "constants",
    "crypto",
    "dgram",
    "diagnostics_channel",
    "dns",
    "domain",
    "events",
    "fs",
    "http",
    "http2",
    "https",
    "inspector",
    "module",
    "net",
    "os",
    "path",
    "perf_hooks",
    "process",
    "punycode",
    "querystring",
    "readline",
    "repl",
    "stream",
    "string_decoder",
    "sys",
    "timers",
    "tls",
    "trace_events",
    "tty",
    "url",
    "util",
    "v8",
    "vm",
    "wasi",
    "worker_threads",
    "zlib",
];

pub fn is_builtin(spec: &str) -> bool {
    spec.starts_with("node:") || BUILTINS.contains(&spec.split('/').next().unwrap_or(""))
}

fn string_at(s: &str) -> Option<&str> {
    let s = s.trim_start();
    let q = s.chars().next().filter(|c| matches!(c, '"' | '\'' | '`'))?;
    let end = s[1..].find(q)?;
    let lit = &s[1..1 + end];
    (!lit.is_empty() && !lit.contains("${") && !lit.contains('\n')).then_some(lit)
}

pub fn parse(src: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: &str| {
        if !out.iter().any(|o| o == s) {
            out.push(s.to_owned());
        }
    };
    for pat in ["require(", "import(", "require.resolve("] {
        let mut from = 0;
        while let Some(i) = src[from..].find(pat) {
            let at = from + i;
            from = at + pat.len();
            let before = src[..at].chars().last();
            if before
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$' || (c == '.' && pat != "require.resolve("))
            {
                continue;
            }
            if let Some(lit) = string_at(&src[from..]) {
                push(lit);
            }
        }
    }
    // import/export ... from "x";  import "x";
    for line in src.lines() {
        let t = line.trim_start();
        if t.starts_with("import ") || t.starts_with("export ") || t.starts_with("} from") || t.starts_with("from ") {
            if let Some(i) = t.rfind(" from ") {
                if let Some(lit) = string_at(&t[i + 6..]) {
                    push(lit);
                }
            } else if let Some(rest) = t.strip_prefix("import ") {
                if let Some(lit) = string_at(rest) {
                    push(lit);
                }
            }
        }
    }
    out
}

/// The `main` of a package.json (its exports' "." string too), if any.
pub fn package_main(json: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(json).ok()?;
    if let Some(m) = v.get("main").and_then(|m| m.as_str()) {
        return Some(m.to_owned());
    }
    match v.get("exports") {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(e) => e
            .get(".")
            .and_then(|d| d.as_str().map(str::to_owned).or_else(|| d.get("require")?.as_str().map(str::to_owned))),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requires_and_imports_anywhere() {
        let src = r#"const http = require("http");
function h() { const r = require('./lib/report'); return require(`lodash/fp`); }
import { x } from "../util.mjs";
import "side-effect";
export { y } from './y.js';
const later = await import("./lazy.js");
obj.require("not-this"); myrequire("nor-this");
require(name);
"#;
        assert_eq!(
            parse(src),
            vec!["http", "./lib/report", "lodash/fp", "./lazy.js", "../util.mjs", "side-effect", "./y.js"]
        );
    }

    #[test]
    fn builtins_and_package_mains() {
        assert!(is_builtin("fs") && is_builtin("node:fs/promises") && is_builtin("fs/promises"));
        assert!(!is_builtin("express"));
        assert_eq!(package_main(br#"{"name":"x","main":"lib/index.js"}"#).as_deref(), Some("lib/index.js"));
        assert_eq!(package_main(br#"{"exports":{".":{"require":"./cjs.js"}}}"#).as_deref(), Some("./cjs.js"));
        assert_eq!(package_main(br#"{"name":"x"}"#), None);
    }
}
