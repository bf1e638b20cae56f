//! The shape of the crate, checked: data flows one way (image → run → select → sweep → write →
//! verify), each stage imports only the stages before it, `pipeline` strings them together, and
//! the command line talks to `pipeline` alone. A file that breaks this fails here with its line.

use std::path::{Path, PathBuf};

/// The stages in order: each may use only the ones before it.
const STAGES: &[&str] = &["image", "run", "select", "sweep", "write", "verify"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out
}

/// Lines of `file`'s non-test code (everything before its `#[cfg(test)]` module) naming
/// `root::module` for one of `modules`.
fn uses(file: &Path, root: &str, modules: &[&str]) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap();
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    let mut found = Vec::new();
    for (n, line) in code.lines().enumerate() {
        if line.trim_start().starts_with("//") {
            continue;
        }
        // `use crate::{a, b::c}` names each of its first components.
        let grouped: Vec<String> = match line.split_once(&format!("{root}::{{")) {
            Some((_, rest)) => rest
                .split('}')
                .next()
                .unwrap_or("")
                .split(',')
                .map(|p| p.trim().split("::").next().unwrap_or("").to_owned())
                .collect(),
            None => Vec::new(),
        };
        if grouped.iter().any(|g| modules.contains(&g.as_str())) {
            found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            continue;
        }
        for m in modules {
            let needle = format!("{root}::{m}");
            let hit = line.match_indices(&needle).any(|(i, _)| {
                let after = line[i + needle.len()..].chars().next();
                !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
            });
            if hit {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn each_stage_imports_only_the_stages_before_it() {
    let mut wrong = Vec::new();
    for (i, stage) in STAGES.iter().enumerate() {
        let later: Vec<&str> = STAGES[i + 1..].iter().copied().chain(["pipeline"]).collect();
        let dir = src().join(stage);
        let files = if dir.is_dir() { rust_files(&dir) } else { vec![src().join(format!("{stage}.rs"))] };
        for f in files {
            wrong.extend(uses(&f, "crate", &later));
        }
    }
    assert!(wrong.is_empty(), "a stage imports a later one:\n{}", wrong.join("\n"));
}

#[test]
fn the_command_line_talks_to_the_pipeline_alone() {
    let mut wrong = Vec::new();
    for f in rust_files(&src().join("cli")) {
        wrong.extend(uses(&f, "slimctl", STAGES));
    }
    assert!(wrong.is_empty(), "cli/ imports a stage directly (go through slimctl::pipeline):\n{}", wrong.join("\n"));
}

/// The check itself can fail: a file that names a later stage is found.
#[test]
fn a_later_stage_named_in_code_is_found_and_one_in_a_comment_or_test_is_not() {
    let dir = tempfile_dir();
    let f = dir.join("x.rs");
    std::fs::write(
        &f,
        "use crate::select::KeepSet;\n// crate::verify in a comment\nuse crate::selection;\nuse crate::{digest, verify::Round};\n#[cfg(test)]\nmod tests { use crate::verify::x; }\n",
    )
    .unwrap();
    let found = uses(&f, "crate", &["select", "verify"]);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].ends_with("use crate::select::KeepSet;"));
    assert!(found[1].ends_with("use crate::{digest, verify::Round};"));
    std::fs::remove_dir_all(dir).unwrap();
}

fn tempfile_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("slimctl-layering-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}
